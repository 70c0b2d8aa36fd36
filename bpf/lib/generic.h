/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The shared body of every generic hook program (bpf/progs/generic_*.bpf.c): for one hit of hook `hook_id`,
 * read the args its HOOK_CFG describes, run its selector program (selector.h), take the actions of the deciding
 * selector and post the event. A program family only supplies how raw args are fetched (struct vg_src).
 *
 * Order of work, cheapest first: the syscall number (sys_enter/sys_exit programs, a .rodata constant), the exempt
 * cgroups, the active generation's HOOK_CFG, the policy's identity set; only then args are read.
 * Enforcement (signals, the override value) is decided and done before the event is written: a full ring buffer
 * loses the event (counted), never the decision.
 *
 * Configuration generations (docs/adr/0008-generic-hooks.md): every bundle map is an array-of-maps of two
 * inner maps, indexed by the generation in vg_gen. A hit reads vg_gen once and uses that generation's maps
 * throughout, so one update of vg_gen switches every map of the policy at once.
 */
#ifndef VIGIL_LIB_GENERIC_H
#define VIGIL_LIB_GENERIC_H

#include "common.h"
#include "output.h"
#include "path.h"
#include "process.h"
#include "identity.h"
#include <bpf/bpf_endian.h>
#include "abi/policy_enums.h"
#include "abi/generic.h"

#define VG_EXEMPT_CG_MAX 64
#define VG_RATELIMIT_MAX 8192
#define VG_SIGKILL 9
#define VG_EPERM 1
#define VG_USER_ADDR_END 0x0000800000000000ULL /* x86_64: user addresses are below this */

/* Makes every generic ABI type appear in the including object's BTF, for the layout check. */
struct vg_generic_abi_types {
	struct vg_hook_sock sock;
	struct vg_hook_cred cred;
	struct vg_hook_arg arg;
	struct vg_hook_event event;
	struct vg_prog_cfg cfg;
	struct vg_rate_key rate_key;
	struct vg_rate_val rate_val;
	struct vg_generic_stats stats;
	enum vg_hook_flags hook_flags;
	enum vg_hook_arg_flags arg_flags;
	enum vg_hook_arg_source arg_source;
	enum vg_prog_cfg_flags prog_cfg_flags;
};

/*
 * Always 0, but not a constant to the verifier (.bss): passed as bpf_loop's flags it keeps the verifier from
 * inlining the loop. 6.1 inlines bpf_loop inside subprograms too, and the generic programs' loops there found
 * nothing at run time on 6.1 while the same objects worked on 6.12 and 6.18.
 */
__u64 vg_loop_flags = 0;

/* Set by the loader before load; the only .rodata variable of a generic object. */
const volatile struct vg_prog_cfg vg_prog_cfg = { .hook_id = 0, .syscall_nr = -1 };

/* ---- Bundle grammar records (compiler.ts header), as the kernel reads them ---- */

struct vg_arg_desc {
	__u8 index;
	__u8 arg_type;
	__u8 flags; /* bit0 maxData, bit1 returnCopy, bit2 signed tracefs field */
	__u8 size_arg_index; /* 1-based, 0 none */
	__u16 tp_offset;
	__u16 tp_size;
};

struct vg_hook_cfg {
	__u32 hook_id;
	__u8 hook_kind;
	__u8 mechanism;
	__u8 policy_mode;
	__u8 flags; /* bit0 return probe, bit1 has return_arg, bit2 host included, bit3 generated list */
	__u32 policy_id;
	__u32 identity_set_id;
	__s32 syscall_nr;
	__u32 syscall_set_id;
	__u8 syscall_abi;
	__u8 arg_count;
	__u8 data_count;
	__u8 _pad0;
	__u32 _pad1;
	struct vg_arg_desc args[VG_LIMIT_MAX_ARGS_PER_HOOK];
	struct vg_arg_desc data[VG_LIMIT_MAX_ARGS_PER_HOOK];
	struct vg_arg_desc ret;
};
_Static_assert(sizeof(struct vg_hook_cfg) == VG_SZ_HOOK_CFG, "HOOK_CFG is 136 bytes");

#define VG_HCFG_RETURN (1 << 0)
#define VG_HCFG_RETURN_ARG (1 << 1)
#define VG_HCFG_HOST (1 << 2)

struct vg_sel_prog_val {
	__u8 bytes[VG_SEL_PROG_VALUE_SIZE];
};

struct vg_action_rec {
	__u8 action;
	__u8 flags; /* bit3: monitor mode, the enforcing action (orig_action) was turned into Post */
	__u8 rate_scope;
	__u8 orig_action;
	__s32 arg_error;
	__s32 arg_sig;
	__s32 arg_sock;
	__s32 arg_value;
	__u32 rate_limit_ms;
	__u32 string_id;
	__u32 _pad0;
};
_Static_assert(sizeof(struct vg_action_rec) == VG_SZ_ACTION, "ACTION is 32 bytes");
#define VG_ACTF_MONITOR (1 << 3)

struct vg_action_table {
	__u16 count;
	__u16 _pad0;
	struct vg_action_rec rec[VG_LIMIT_MAX_ACTIONS_PER_SELECTOR];
};
_Static_assert(sizeof(struct vg_action_table) == VG_ACTIONS_VALUE_SIZE, "action table value size");

struct vg_string_key {
	__u32 set_id;
	__u32 len;
	__u8 bytes[VG_SZ_STRING_KEY];
};

/*
 * vg_prefix keys are 4 bytes shorter than the bundle's (264): an LPM trie key holds at most 256 bytes after
 * prefixlen (LPM_DATA_SIZE_MAX), i.e. set_id + 252 bytes. The loader writes the first VG_PREFIX_KEY_BYTES of each
 * bundle key with prefixlen clamped to 32 + 8 * VG_PREFIX_BYTES: prefixes longer than 252 bytes are compared on
 * their first 252 bytes.
 */
#define VG_PREFIX_BYTES 252
#define VG_PREFIX_KEY_BYTES 260
struct vg_prefix_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 bytes[VG_PREFIX_BYTES];
};

struct vg_cidr4_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 addr[4];
};

struct vg_cidr6_key {
	__u32 prefixlen;
	__u32 set_id;
	__u8 addr[16];
};

struct vg_syscall_key {
	__u32 set_id;
	__u16 abi;
	__u16 _pad0;
	__u32 nr;
};

/* ---- Maps ---- */

/* Complete types for the map definitions' BTF (a type only used through a pointer is emitted as a forward). */
struct vg_grammar_types {
	struct vg_hook_cfg hook_cfg;
	struct vg_sel_prog_val sel_prog;
	struct vg_action_table actions;
	struct vg_string_key string_key;
	struct vg_prefix_key prefix_key;
	struct vg_cidr4_key cidr4_key;
	struct vg_cidr6_key cidr6_key;
	struct vg_syscall_key syscall_key;
};
struct vg_generic_abi_types vg_generic_abi_anchor SEC(".data.abi");
struct vg_grammar_types vg_grammar_anchor SEC(".data.abi");

/*
 * Inner maps: same type, key and value sizes as bundle.ts MAP_SPECS; max_entries of a real inner map may differ.
 * The template is declared by sizes, not BTF types: 6.1 compares the inner map's timer_off with the template's,
 * and a map created with BTF has -ENOENT there while the engine's inner maps (created without BTF) have -EINVAL,
 * so a BTF-typed template made every outer-map update fail with EINVAL on 6.1.
 */
#define VG_OUTER(name, ty, ksz, vty, maxe, fl)                                                                     \
	struct {                                                                                                   \
		__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);                                                          \
		__uint(max_entries, 2);                                                                            \
		__type(key, __u32);                                                                                \
		__array(values, struct {                                                                           \
			__uint(type, ty);                                                                          \
			__uint(max_entries, maxe);                                                                 \
			__uint(map_flags, fl);                                                                     \
			__uint(key_size, sizeof(ksz));                                                             \
			__uint(value_size, sizeof(vty));                                                           \
		});                                                                                                \
	} name SEC(".maps")

VG_OUTER(vg_hooks_o, BPF_MAP_TYPE_HASH, __u32, struct vg_hook_cfg, VG_HOOKS_MAX_ENTRIES, BPF_F_NO_PREALLOC);
VG_OUTER(vg_sel_prog_o, BPF_MAP_TYPE_HASH, __u32, struct vg_sel_prog_val, VG_SEL_PROG_MAX_ENTRIES, BPF_F_NO_PREALLOC);
VG_OUTER(vg_actions_o, BPF_MAP_TYPE_HASH, __u32, struct vg_action_table, VG_ACTIONS_MAX_ENTRIES, BPF_F_NO_PREALLOC);
VG_OUTER(vg_strings_o, BPF_MAP_TYPE_HASH, struct vg_string_key, __u8, VG_STRINGS_MAX_ENTRIES, BPF_F_NO_PREALLOC);
VG_OUTER(vg_prefix_o, BPF_MAP_TYPE_LPM_TRIE, struct vg_prefix_key, __u8, VG_PREFIX_MAX_ENTRIES, BPF_F_NO_PREALLOC);
VG_OUTER(vg_cidr4_o, BPF_MAP_TYPE_LPM_TRIE, struct vg_cidr4_key, __u8, VG_CIDR4_MAX_ENTRIES, BPF_F_NO_PREALLOC);
VG_OUTER(vg_cidr6_o, BPF_MAP_TYPE_LPM_TRIE, struct vg_cidr6_key, __u8, VG_CIDR6_MAX_ENTRIES, BPF_F_NO_PREALLOC);
VG_OUTER(vg_syscalls_o, BPF_MAP_TYPE_HASH, struct vg_syscall_key, __u8, VG_SYSCALLS_MAX_ENTRIES, BPF_F_NO_PREALLOC);

_Static_assert(sizeof(struct vg_string_key) == VG_STRINGS_KEY_SIZE, "vg_strings key");
_Static_assert(sizeof(struct vg_prefix_key) == VG_PREFIX_KEY_BYTES, "vg_prefix key (kernel)");
_Static_assert(sizeof(struct vg_cidr4_key) == VG_CIDR4_KEY_SIZE, "vg_cidr4 key");
_Static_assert(sizeof(struct vg_cidr6_key) == VG_CIDR6_KEY_SIZE, "vg_cidr6 key");
_Static_assert(sizeof(struct vg_syscall_key) == VG_SYSCALLS_KEY_SIZE, "vg_syscalls key");

/* The active generation (0 or 1), key 0. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} vg_gen SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_EXEMPT_CG_MAX);
	__type(key, __u64);
	__type(value, __u8);
} vg_exempt SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, VG_NS_COUNT);
	__type(key, __u32);
	__type(value, __u32);
} vg_host_ns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VG_RATELIMIT_MAX);
	__type(key, struct vg_rate_key);
	__type(value, struct vg_rate_val);
} vg_ratelimit SEC(".maps");

/*
 * NotifyEnforcer: a hook's decision for the thread's next enforced syscall, taken by the policy's enforcer program
 * (generic_enforcer.bpf.c) on the syscalls of its `calls` list. Key: pid_tgid. Per policy (pinned with its maps).
 */
struct vg_enf_note {
	__s32 err; /* argError: the syscall's return value (fmod_ret); 0: none */
	__u32 sig; /* argSig: signal sent to the thread's process; 0: none */
};

#define VG_ENF_NOTES_MAX 16384

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, VG_ENF_NOTES_MAX);
	__type(key, __u64);
	__type(value, struct vg_enf_note);
} vg_enf_notes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_generic_stats);
} vg_gen_stats SEC(".maps");

#define VG_ACTG_OVERRIDE (1 << 8) /* vg_act_g: the family can override */
#define VG_ACTG_EXPR (1 << 9) /* vg_act_g: the selector is decided in user space */

/* The decision of one hit, filled by vg_act. */
struct vg_decision {
	__u32 flags;
	__u32 actions;
	__u32 suppressed;
	__s32 signal;
	__s32 ovr;
	__s32 err;
	__u8 decided;
	__u8 post;
	__u8 override;
	__u8 _pad0;
};

/* State of a SubString search (selector.h vg_substr_step). */
struct vg_substr_state {
	__u32 slot; /* the arg slot searched */
	__u32 hay_len;
	__u32 clen; /* the clause's length: needles are {u16 len, bytes, pad 4} from offset `at` */
	__u32 count; /* needles */
	__u32 k; /* current needle */
	__u32 at; /* its offset in the clause */
	__u32 needle_len; /* its length, once loaded */
	__u32 loaded;
	__u32 pos; /* candidate start in the value */
	__u32 i; /* bytes of the needle matched at pos */
	__u32 icase;
	__u32 found;
};

/* State of the selector walk (selector.h vg_walk_step): in map memory, see there why. */
struct vg_walk_state {
	__u32 total; /* PROGRAM total_len */
	__u32 count; /* selector_count */
	__u32 sel; /* 0-based selector being tried */
	__u32 at; /* its offset */
	__u32 off; /* offset of its next clause */
	__u32 end; /* its end */
	__u32 left; /* its clauses not evaluated yet */
	__u32 started;
	__u32 selector; /* result: 1-based deciding selector, 0 none */
	__u32 t_len, t_identity, t_clen; /* probe-read targets */
	__u16 t_nclauses, t_flags;
	__u32 _pad0;
};

/* Per-CPU work area: the event being built (arg values live in it), lookup keys, per-slot side values. */
#define VG_CLAUSE_BUF 4096
struct vg_gen_scratch {
	struct vg_hook_event ev;
	struct vg_hook_cfg cfg; /* copy of this hit's HOOK_CFG */
	__u64 args[8]; /* the function / syscall args 0..5 */
	__u64 ctx; /* tracepoints: address of the trace record */
	__s64 retval;
	__u32 kind; /* enum vg_src_kind */
	__u32 is_return;
	__u32 user;
	__u32 tgid;
	__u32 expr; /* vg_arg_clause_g met a CelExpr clause */
	__u32 sel_at; /* offset of the deciding selector */
	__u32 sel_expr; /* the deciding selector has a CelExpr clause */
	__u32 _pad0;
	struct vg_decision dec; /* written by vg_act_g */
	struct vg_substr_state sub;
	struct vg_walk_state walk;
	__u64 raw[VG_HOOK_ARG_SLOTS]; /* the raw value of each slot (int value, pointer) */
	__u64 aux[VG_HOOK_ARG_SLOTS]; /* file-like args: i_mode of the inode */
	union {
		struct vg_string_key skey;
		struct vg_prefix_key pkey;
		struct vg_cidr4_key k4;
		struct vg_cidr6_key k6;
		struct vg_syscall_key sykey;
	};
	__u8 clause[VG_CLAUSE_BUF]; /* the clause being evaluated */
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_gen_scratch);
} vg_gen_scratch SEC(".maps");

static __always_inline struct vg_generic_stats *vg_gstats(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_gen_stats, &zero);
}

#define vg_count(st, field)                                                                                        \
	do {                                                                                                       \
		if (st)                                                                                            \
			__sync_fetch_and_add(&(st)->field, 1);                                                     \
	} while (0)

/* The maps of one generation, looked up once per hit. */
struct vg_genmaps {
	void *hooks;
	void *sel_prog;
	void *actions;
	void *strings;
	void *prefix;
	void *cidr4;
	void *cidr6;
	void *syscalls;
};

/* ---- Raw arg sources, per program family ---- */

enum vg_src_kind {
	VG_SRC_SYSCALL = 1, /* raw_tp / tp_btf sys_enter, sys_exit: ctx->args[0] is the user struct pt_regs */
	VG_SRC_KPROBE = 2, /* kprobe / kretprobe / uprobe / uretprobe: ctx is struct pt_regs */
	VG_SRC_BTF = 3, /* fentry / fexit / fmod_ret / lsm: bpf_get_func_arg */
	VG_SRC_TP = 4, /* classic tracepoint: ctx is the trace record, fields at ARG_DESC tp_offset / tp_size */
	VG_SRC_TEST = 5, /* generic_selftest: raw_tp whose args are (hook id, a0..a5, retval, syscall nr) */
	VG_SRC_RAW = 6, /* raw tracepoint (not sys_enter/exit): ctx points to the u64 args copied by the family */
};

struct vg_src {
	void *ctx;
	struct pt_regs *regs; /* SYSCALL: the user regs; KPROBE: ctx, or the inner regs of a syscall wrapper */
	__s64 retval;
	__s32 syscall_nr;
	__u8 kind;
	__u8 is_return;
	__u8 user; /* pointer args are user memory */
	__u8 _pad0;
};

static __always_inline __u64 vg_regs_arg(struct pt_regs *regs, __u32 i, int syscall)
{
	switch (i) {
	case 0:
		return BPF_CORE_READ(regs, di);
	case 1:
		return BPF_CORE_READ(regs, si);
	case 2:
		return BPF_CORE_READ(regs, dx);
	case 3:
		return syscall ? BPF_CORE_READ(regs, r10) : BPF_CORE_READ(regs, cx);
	case 4:
		return BPF_CORE_READ(regs, r8);
	case 5:
		return BPF_CORE_READ(regs, r9);
	}
	return 0;
}

/* s->args[i] = a[base + i] for i = 0..5 (`base` constant: ctx reads need constant offsets). */
static __always_inline void vg_fetch_u64s(struct vg_gen_scratch *s, const __u64 *a, const int base)
{
	s->args[0] = a[base + 0];
	s->args[1] = a[base + 1];
	s->args[2] = a[base + 2];
	s->args[3] = a[base + 3];
	s->args[4] = a[base + 4];
	s->args[5] = a[base + 5];
}

/* Fetches args 0..5 into s->args (constant offsets: ctx and BTF arg reads need them). */
static __always_inline void vg_src_fetch(struct vg_src *src, const int kind, struct vg_gen_scratch *s)
{
	switch (kind) {
	case VG_SRC_SYSCALL:
	case VG_SRC_KPROBE: {
		int sys = kind == VG_SRC_SYSCALL || (vg_prog_cfg.flags & VG_PCFG_SYSCALL_WRAPPER);

		s->args[0] = vg_regs_arg(src->regs, 0, sys);
		s->args[1] = vg_regs_arg(src->regs, 1, sys);
		s->args[2] = vg_regs_arg(src->regs, 2, sys);
		s->args[3] = vg_regs_arg(src->regs, 3, sys);
		s->args[4] = vg_regs_arg(src->regs, 4, sys);
		s->args[5] = vg_regs_arg(src->regs, 5, sys);
		return;
	}
	case VG_SRC_BTF:
		bpf_get_func_arg(src->ctx, 0, &s->args[0]);
		bpf_get_func_arg(src->ctx, 1, &s->args[1]);
		bpf_get_func_arg(src->ctx, 2, &s->args[2]);
		bpf_get_func_arg(src->ctx, 3, &s->args[3]);
		bpf_get_func_arg(src->ctx, 4, &s->args[4]);
		bpf_get_func_arg(src->ctx, 5, &s->args[5]);
		return;
	case VG_SRC_RAW: /* the family's stack copy of the args */
		vg_fetch_u64s(s, src->ctx, 0);
		return;
	case VG_SRC_TEST: /* the selftest's raw_tp args: hook id first */
		vg_fetch_u64s(s, src->ctx, 1);
		return;
	}
}

/* ---- Typed arg readers: write into an event slot ---- */

static __always_inline int vg_is_user(const struct vg_src *src, __u64 ptr)
{
	return src->user || ptr < VG_USER_ADDR_END;
}

static __always_inline int vg_int_width(__u8 t)
{
	switch (t) {
	case VG_ARG_SINT8:
	case VG_ARG_INT8:
	case VG_ARG_UINT8:
		return 1;
	case VG_ARG_SINT16:
	case VG_ARG_INT16:
	case VG_ARG_UINT16:
		return 2;
	case VG_ARG_INT:
	case VG_ARG_UINT32:
	case VG_ARG_SINT32:
	case VG_ARG_INT32:
		return 4;
	case VG_ARG_ULONG:
	case VG_ARG_UINT64:
	case VG_ARG_SIZE_T:
	case VG_ARG_LONG:
	case VG_ARG_SINT64:
	case VG_ARG_INT64:
	case VG_ARG_CAPABILITY:
	case VG_ARG_SYSCALL64:
	case VG_ARG_BPF_CMD:
	case VG_ARG_AUTO:
		return 8;
	}
	return 0;
}

static __always_inline int vg_int_signed(__u8 t)
{
	return t == VG_ARG_SINT8 || t == VG_ARG_INT8 || t == VG_ARG_SINT16 || t == VG_ARG_INT16 || t == VG_ARG_INT ||
	       t == VG_ARG_SINT32 || t == VG_ARG_INT32 || t == VG_ARG_LONG || t == VG_ARG_SINT64 || t == VG_ARG_INT64;
}

/* Truncates / sign-extends a raw value to the arg type's width. */
static __always_inline __s64 vg_int_norm(__u64 v, __u8 t, int width, int sign)
{
	switch (width) {
	case 1:
		return sign ? (__s64)(__s8)v : (__s64)(__u8)v;
	case 2:
		return sign ? (__s64)(__s16)v : (__s64)(__u16)v;
	case 4:
		return sign ? (__s64)(__s32)v : (__s64)(__u32)v;
	}
	return (__s64)v;
}

static __always_inline void vg_put_int(struct vg_hook_arg *a, __s64 v)
{
	*(__s64 *)a->data = v;
	a->len = 8;
}

static __always_inline void vg_read_str(const struct vg_src *src, struct vg_hook_arg *a, __u64 ptr)
{
	long n;

	if (!ptr) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	if (vg_is_user(src, ptr)) {
		a->flags |= VG_HARGF_USER;
		n = bpf_probe_read_user_str(a->data, VG_HOOK_ARG_BYTES, (void *)ptr);
	} else
		n = bpf_probe_read_kernel_str(a->data, VG_HOOK_ARG_BYTES, (void *)ptr);
	if (n <= 0) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	if (n == VG_HOOK_ARG_BYTES)
		a->flags |= VG_HARGF_TRUNC; /* may also be exactly 255 bytes: reported as truncated */
	a->len = n - 1;
}

static __always_inline void vg_read_buf(const struct vg_src *src, struct vg_hook_arg *a, __u64 ptr, __u64 size)
{
	__u32 n;
	long err;

	if (!ptr) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	if (size > VG_HOOK_ARG_BYTES) {
		size = VG_HOOK_ARG_BYTES;
		a->flags |= VG_HARGF_TRUNC;
	}
	n = size;
	vg_bound(n, 511);
	if (n > VG_HOOK_ARG_BYTES)
		return;
	if (vg_is_user(src, ptr)) {
		a->flags |= VG_HARGF_USER;
		err = bpf_probe_read_user(a->data, n, (void *)ptr);
	} else
		err = bpf_probe_read_kernel(a->data, n, (void *)ptr);
	if (err) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	a->len = n;
}

/* Path of a struct path into the slot (tail kept when too long); sets *mode from the inode. */
static __always_inline void vg_read_path(struct vg_hook_arg *a, const struct path *p, __u64 *mode)
{
	struct vg_scratch *s = vg_scratch_get();
	struct vg_path_result pr = {};
	struct dentry *d;
	__u32 flags = 0;

	if (!s || !p || vg_path_walk(p, s, &pr)) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	a->len = vg_path_copy((char *)a->data, s, &pr, &flags, VG_HARGF_TRUNC);
	a->flags |= flags;
	d = BPF_CORE_READ(p, dentry);
	*mode = BPF_CORE_READ(d, d_inode, i_mode);
}

static __always_inline void vg_read_file(struct vg_hook_arg *a, struct file *f, __u64 *mode)
{
	if (!f) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	vg_read_path(a, &f->f_path, mode);
}

/* The current task's open file `fd`. */
static __always_inline struct file *vg_fd_file(__s64 fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	unsigned int max = BPF_CORE_READ(fdt, max_fds);
	struct file *f = NULL;

	if (fd < 0 || fd >= max)
		return NULL;
	bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]);
	return f;
}

static __always_inline void vg_read_sock(struct vg_hook_arg *a, struct sock *sk)
{
	struct vg_hook_sock *o = (struct vg_hook_sock *)a->data;

	__builtin_memset(o, 0, sizeof(*o));
	if (!sk) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	o->family = BPF_CORE_READ(sk, __sk_common.skc_family);
	o->type = BPF_CORE_READ(sk, sk_type);
	o->protocol = BPF_CORE_READ(sk, sk_protocol);
	o->state = BPF_CORE_READ(sk, __sk_common.skc_state);
	o->sport = BPF_CORE_READ(sk, __sk_common.skc_num);
	o->dport = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	if (o->family == 2 /* AF_INET */) {
		bpf_core_read(o->saddr, 4, &sk->__sk_common.skc_rcv_saddr);
		bpf_core_read(o->daddr, 4, &sk->__sk_common.skc_daddr);
	} else if (o->family == 10 /* AF_INET6 */) {
		bpf_core_read(o->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_core_read(o->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	a->len = sizeof(*o);
}

/* A struct sockaddr (user or kernel): its address and port fill both the source and destination fields. */
static __always_inline void vg_read_sockaddr(const struct vg_src *src, struct vg_hook_arg *a, __u64 ptr)
{
	struct vg_hook_sock *o = (struct vg_hook_sock *)a->data;
	__u8 buf[24] = {};
	long err;
	__u16 port;

	__builtin_memset(o, 0, sizeof(*o));
	if (!ptr) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	if (vg_is_user(src, ptr)) {
		a->flags |= VG_HARGF_USER;
		err = bpf_probe_read_user(buf, sizeof(buf), (void *)ptr);
	} else
		err = bpf_probe_read_kernel(buf, sizeof(buf), (void *)ptr);
	if (err) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	o->family = *(__u16 *)&buf[0];
	port = bpf_ntohs(*(__u16 *)&buf[2]);
	if (o->family == 2) {
		__builtin_memcpy(o->daddr, &buf[4], 4);
		__builtin_memcpy(o->saddr, &buf[4], 4);
		o->sport = o->dport = port;
	} else if (o->family == 10) {
		__builtin_memcpy(o->daddr, &buf[8], 16);
		__builtin_memcpy(o->saddr, &buf[8], 16);
		o->sport = o->dport = port;
	}
	a->len = sizeof(*o);
}

static __always_inline __u64 vg_cap_read(const kernel_cap_t *cap)
{
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), cap); /* kernel_cap_t is 64 bits (u32[2] before 6.3, u64 after) */
	return v;
}

static __always_inline void vg_read_cred(struct vg_hook_arg *a, const struct cred *c)
{
	struct vg_hook_cred *o = (struct vg_hook_cred *)a->data;

	__builtin_memset(o, 0, sizeof(*o));
	if (!c) {
		a->flags |= VG_HARGF_ERR;
		return;
	}
	o->uid = BPF_CORE_READ(c, uid.val);
	o->gid = BPF_CORE_READ(c, gid.val);
	o->suid = BPF_CORE_READ(c, suid.val);
	o->sgid = BPF_CORE_READ(c, sgid.val);
	o->euid = BPF_CORE_READ(c, euid.val);
	o->egid = BPF_CORE_READ(c, egid.val);
	o->fsuid = BPF_CORE_READ(c, fsuid.val);
	o->fsgid = BPF_CORE_READ(c, fsgid.val);
	o->cap_permitted = vg_cap_read(&c->cap_permitted);
	o->cap_effective = vg_cap_read(&c->cap_effective);
	o->cap_inheritable = vg_cap_read(&c->cap_inheritable);
	o->user_ns = BPF_CORE_READ(c, user_ns, ns.inum);
	a->len = sizeof(*o);
}

/*
 * Reads one arg into slot `a` from its raw value `raw` (a register / function arg, or for tracepoints the
 * field's value or address). `size` is the char_buf size when known (else ~0).
 */
static __always_inline void vg_read_typed(const struct vg_src *src, struct vg_hook_arg *a, __u8 type, __u64 raw,
					  __u64 size, __u64 *aux)
{
	int width = vg_int_width(type);

	if (width) {
		vg_put_int(a, vg_int_norm(raw, type, width, vg_int_signed(type)));
		return;
	}
	switch (type) {
	case VG_ARG_STRING:
	case VG_ARG_FILENAME:
	case VG_ARG_DATA_LOC:
		vg_read_str(src, a, raw);
		return;
	case VG_ARG_CHAR_BUF:
	case VG_ARG_CONST_BUF:
		if (size == (__u64)-1)
			vg_read_str(src, a, raw);
		else
			vg_read_buf(src, a, raw, size);
		return;
	case VG_ARG_FD: {
		vg_read_file(a, vg_fd_file((__s64)(__s32)raw), aux);
		return;
	}
	case VG_ARG_FILE:
		vg_read_file(a, (struct file *)raw, aux);
		return;
	case VG_ARG_PATH:
		if (!raw) {
			a->flags |= VG_HARGF_ERR;
			return;
		}
		vg_read_path(a, (const struct path *)raw, aux);
		return;
	case VG_ARG_LINUX_BINPRM: {
		struct file *f = raw ? BPF_CORE_READ((struct linux_binprm *)raw, file) : NULL;

		vg_read_file(a, f, aux);
		return;
	}
	case VG_ARG_SOCK:
	case VG_ARG_SKB: /* not read: only sock-level fields */
		if (type == VG_ARG_SKB)
			break;
		vg_read_sock(a, (struct sock *)raw);
		return;
	case VG_ARG_SOCKET:
		vg_read_sock(a, raw ? BPF_CORE_READ((struct socket *)raw, sk) : NULL);
		return;
	case VG_ARG_SOCKADDR:
		vg_read_sockaddr(src, a, raw);
		return;
	case VG_ARG_CRED:
		vg_read_cred(a, (const struct cred *)raw);
		return;
	case VG_ARG_KERNEL_CAP_T:
		vg_put_int(a, raw ? (__s64)vg_cap_read((const kernel_cap_t *)raw) : 0);
		return;
	}
	a->flags |= VG_HARGF_UNSUPPORTED;
}

/* Raw value of a tracepoint field: the integer (sign-extended when the field is signed), or the string's address. */
static __always_inline __u64 vg_tp_field(const struct vg_src *src, const struct vg_arg_desc *d)
{
	__u8 *rec = src->ctx;
	__u64 v = 0;
	__u16 off = d->tp_offset;
	__u16 sz = d->tp_size;

	if (d->arg_type == VG_ARG_STRING || d->arg_type == VG_ARG_DATA_LOC || d->arg_type == VG_ARG_FILENAME ||
	    d->arg_type == VG_ARG_CHAR_BUF) {
		if (sz == 4) { /* __data_loc: u16 offset, u16 length */
			__u32 loc = 0;

			bpf_probe_read_kernel(&loc, 4, rec + off);
			return (__u64)(rec + (loc & 0xffff));
		}
		if (sz != 8) /* char name[N] inline */
			return (__u64)(rec + off);
	}
	switch (sz) {
	case 1:
		bpf_probe_read_kernel(&v, 1, rec + off);
		return (d->flags & 4) ? (__u64)(__s64)(__s8)v : v;
	case 2:
		bpf_probe_read_kernel(&v, 2, rec + off);
		return (d->flags & 4) ? (__u64)(__s64)(__s16)v : v;
	case 4:
		bpf_probe_read_kernel(&v, 4, rec + off);
		return (d->flags & 4) ? (__u64)(__s64)(__s32)v : v;
	default:
		bpf_probe_read_kernel(&v, 8, rec + off);
		return v;
	}
}

/* Fills slot `slot` of the event from arg desc `d`. */
static __always_inline void vg_read_slot(const struct vg_src *src, struct vg_gen_scratch *s, __u32 slot,
					 const struct vg_arg_desc *d, __u8 source)
{
	struct vg_hook_arg *a;
	__u64 raw, size = (__u64)-1;
	__u8 type = d->arg_type;

	vg_bound(slot, 15);
	if (slot >= VG_HOOK_ARG_SLOTS)
		return;
	a = &s->ev.args[slot];
	a->source = source;
	a->index = d->index;
	a->type = type;
	a->flags = 0;
	a->len = 0;
	a->_pad0 = 0;
	s->aux[slot] = 0;
	if (source == VG_HSRC_RETURN)
		raw = src->retval;
	else if (src->kind == VG_SRC_TP)
		raw = vg_tp_field(src, d);
	else
		raw = s->args[d->index & 7];
	s->raw[slot] = raw;
	if (d->size_arg_index && src->kind != VG_SRC_TP)
		size = s->args[(d->size_arg_index - 1) & 7];
	if ((d->flags & 2) && src->is_return) /* returnCopy: the return value is the size */
		size = src->retval < 0 ? 0 : src->retval;
	vg_read_typed(src, a, type, raw, size, &s->aux[slot]);
}

/*
 * Reads slot i of this hit (0..5 args, 6 the return arg on return hits, 7..12 data args) from the scratch copy
 * of HOOK_CFG and the fetched args. A global function: the verifier checks it once, whatever the caller's state.
 * Returns 1 when the slot was read.
 */
__attribute__((noinline)) int vg_read_slot_g(__u32 i)
{
	struct vg_gen_scratch *s;
	const struct vg_arg_desc *d = NULL;
	struct vg_src src = {};
	__u8 source = VG_HSRC_ARG;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s || i >= VG_HOOK_ARG_SLOTS)
		return 0;
	if (i < VG_HOOK_RET_SLOT) {
		__u32 k = i;

		vg_bound(k, 7);
		if (i < s->cfg.arg_count && k < VG_LIMIT_MAX_ARGS_PER_HOOK)
			d = &s->cfg.args[k];
	} else if (i == VG_HOOK_RET_SLOT) {
		if (s->is_return && (s->cfg.flags & VG_HCFG_RETURN_ARG))
			d = &s->cfg.ret;
		source = VG_HSRC_RETURN;
	} else {
		__u32 k = i - VG_HOOK_DATA_SLOT0;

		vg_bound(k, 7);
		if (k < s->cfg.data_count && k < VG_LIMIT_MAX_ARGS_PER_HOOK)
			d = &s->cfg.data[k];
		source = VG_HSRC_DATA;
	}
	if (!d) {
		vg_bound(i, 15);
		if (i < VG_HOOK_ARG_SLOTS)
			s->ev.args[i].source = 0;
		return 0;
	}
	src.ctx = (void *)s->ctx;
	src.retval = s->retval;
	src.kind = s->kind;
	src.is_return = s->is_return;
	src.user = s->user;
	vg_read_slot(&src, s, i, d, source);
	return 1;
}

#include "selector.h"

/* ---- The hook body ---- */

struct vg_read_ctx {
	__u32 top;    /* 1 + highest slot read */
	__u32 nargs;  /* arg slots 0..nargs-1 have a desc */
	__u32 ret;    /* the return slot has one (return hook with a returnArg) */
	__u32 ndata;  /* data slots DATA_SLOT0.. */
};

/*
 * Step j of the read loop: only slots that have a desc are visited (args, then the return slot, then data
 * slots), so a hook with one arg pays one global call instead of VG_HOOK_ARG_SLOTS.
 */
static long vg_read_step(__u32 j, void *data)
{
	struct vg_read_ctx *r = data;
	__u32 i;

	if (j < r->nargs)
		i = j;
	else if (j < r->nargs + r->ret)
		i = VG_HOOK_RET_SLOT;
	else
		i = VG_HOOK_DATA_SLOT0 + (j - r->nargs - r->ret);
	if (vg_read_slot_g(i))
		r->top = i + 1;
	return 0;
}

/* Marks the slots the compact read loop skipped as empty (the per-CPU scratch holds another hit's args). */
static __always_inline void vg_clear_unread(struct vg_gen_scratch *s, const struct vg_read_ctx *r)
{
#pragma unroll
	for (int k = 0; k < VG_HOOK_ARG_SLOTS; k++) {
		int unread = k < VG_HOOK_RET_SLOT ? k >= (int)r->nargs : k == VG_HOOK_RET_SLOT ? !r->ret : k >= VG_HOOK_DATA_SLOT0 + (int)r->ndata;

		if (unread && k < (int)r->top)
			s->ev.args[k].source = 0;
	}
}

static __always_inline void vg_emit(struct vg_gen_scratch *s, __u32 top, struct vg_generic_stats *st)
{
	struct vg_stats *os = vg_stats_get();
	__u64 size = sizeof(struct vg_hook_event) - sizeof(s->ev.args) + (__u64)top * sizeof(struct vg_hook_arg);

	if (!os)
		return;
	if (size > sizeof(struct vg_hook_event))
		size = sizeof(struct vg_hook_event);
	s->ev.hdr.type = VG_EVENT_HOOK;
	s->ev.hdr.size = size;
	s->ev.hdr.cpu = bpf_get_smp_processor_id();
	s->ev.hdr._pad0 = 0;
	s->ev.hdr.seq = __sync_fetch_and_add(&os->seq, 1);
	s->ev.hdr.ktime = bpf_ktime_get_ns();
	s->ev.slot_count = top;
	if (bpf_ringbuf_output(&vg_events, &s->ev, size, 0)) {
		__sync_fetch_and_add(&os->reserve_fail, 1);
		vg_count(st, emit_fail);
		return;
	}
	vg_count(st, posted);
}

/* rateLimit of a Post action: 1 when this hit may post (and *suppressed gets the count since the last post). */
static __always_inline int vg_rate_ok(const struct vg_hook_cfg *cfg, __u32 selector, const struct vg_action_rec *a,
				      __u64 pid_tgid, __u32 *suppressed)
{
	struct vg_rate_key k = {
		.policy_id = cfg->policy_id,
		.hook_id = cfg->hook_id,
		.selector = selector,
		.scope = a->rate_scope,
	};
	struct vg_rate_val nv = {}, *v;
	__u64 now = bpf_ktime_get_ns();

	if (a->rate_scope == VG_RATE_THREAD)
		k.scope_key = (__u32)pid_tgid;
	else if (a->rate_scope == VG_RATE_PROCESS)
		k.scope_key = pid_tgid >> 32;
	v = bpf_map_lookup_elem(&vg_ratelimit, &k);
	if (v && now - v->last_ns < (__u64)a->rate_limit_ms * 1000000ULL) {
		__sync_fetch_and_add(&v->suppressed, 1);
		return 0;
	}
	if (v)
		*suppressed = v->suppressed;
	nv.last_ns = now;
	bpf_map_update_elem(&vg_ratelimit, &k, &nv, BPF_ANY);
	return 1;
}

static __always_inline int vg_is_enforcing(__u8 act)
{
	return act == VG_ACT_SIGKILL || act == VG_ACT_OVERRIDE || act == VG_ACT_SIGNAL || act == VG_ACT_NOTIFY_ENFORCER;
}

/*
 * Takes the actions of action table `table_id` for deciding selector `sel` (enforcing ones first in effect:
 * signals are sent here, before any event is written). A global function, checked once.
 */
__attribute__((noinline)) int vg_act_g(__u32 gen, __u32 table_id, __u32 sel_flags)
{
	struct vg_decision *dec;
	__u32 sel = sel_flags & 0xff, can_override = sel_flags & VG_ACTG_OVERRIDE, expr = sel_flags & VG_ACTG_EXPR;
	struct vg_generic_stats *st = vg_gstats();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct vg_action_table *tbl = NULL;
	struct vg_gen_scratch *s;
	void *actions_map;
	__u32 zero = 0;

	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	actions_map = bpf_map_lookup_elem(&vg_actions_o, &gen);
	if (!s || !actions_map)
		return 0;
	dec = &s->dec;
	if (table_id != VG_NO_ID)
		tbl = bpf_map_lookup_elem(actions_map, &table_id);
	if (!tbl) {
		dec->actions = 1U << VG_ACT_POST;
		return 0;
	}
	for (__u32 i = 0; i < VG_LIMIT_MAX_ACTIONS_PER_SELECTOR; i++) {
		struct vg_action_rec *a;
		__s32 sig = 0;
		__u8 act;
		int monitor;

		if (i >= tbl->count)
			break;
		a = &tbl->rec[i];
		act = a->action;
		monitor = (a->flags & VG_ACTF_MONITOR) && a->orig_action;
		if (monitor)
			act = a->orig_action;
		if (act < 32)
			dec->actions |= 1U << act;
		if (act == VG_ACT_NO_POST) {
			dec->post = 0;
			continue;
		}
		if (act == VG_ACT_POST) {
			if (a->rate_limit_ms && !vg_rate_ok(&s->cfg, sel, a, pid_tgid, &dec->suppressed)) {
				dec->post = 0;
				vg_count(st, rate_limited);
			}
			continue;
		}
		if (!vg_is_enforcing(act))
			continue; /* GetUrl, DnsLookup, TrackSock ...: user space acts on the event */
		if (!vg_is_enforcing(dec->decided))
			dec->decided = act;
		if (act == VG_ACT_SIGKILL)
			sig = VG_SIGKILL;
		else if (act == VG_ACT_SIGNAL || act == VG_ACT_NOTIFY_ENFORCER)
			sig = a->arg_sig;
		if (sig)
			dec->signal = sig;
		if (act == VG_ACT_OVERRIDE || act == VG_ACT_NOTIFY_ENFORCER)
			dec->ovr = a->arg_error;
		if (monitor) {
			dec->flags |= VG_HOOKF_MONITOR;
			vg_count(st, monitor);
		} else if (expr) {
			/* user space decides this selector (CelExpr): nothing enforced in the kernel */
		} else if (act == VG_ACT_NOTIFY_ENFORCER) {
			/* the enforcer acts when the thread enters (fmod_ret) or leaves (sys_exit) an enforced syscall */
			struct vg_enf_note n = { .err = a->arg_error, .sig = (__u32)a->arg_sig };
			long r = bpf_map_update_elem(&vg_enf_notes, &pid_tgid, &n, BPF_ANY);

			if (r) {
				dec->flags |= VG_HOOKF_ACTION_FAILED;
				dec->err = r;
				vg_count(st, action_fail);
			} else
				dec->flags |= VG_HOOKF_NOTIFIED;
		} else if (act == VG_ACT_OVERRIDE) {
			if (can_override) {
				dec->flags |= VG_HOOKF_OVERRIDE;
				dec->override = 1;
				vg_count(st, overrides);
			} else
				dec->flags |= VG_HOOKF_OVERRIDE_REFUSED;
		} else if (sig) {
			long r = bpf_send_signal(sig);

			if (r) {
				dec->flags |= VG_HOOKF_ACTION_FAILED;
				dec->err = r;
				vg_count(st, action_fail);
			} else if (sig == VG_SIGKILL) {
				dec->flags |= VG_HOOKF_KILLED;
				vg_count(st, kills);
			} else {
				dec->flags |= VG_HOOKF_SIGNALED;
				vg_count(st, signals);
			}
		}
	}
	return 0;
}

/* The policy's active generation (vg_gen bit 0): which inner map of every vg_*_o array is live. */
static __always_inline __u32 vg_active_gen(void)
{
	__u32 zero = 0, *genp = bpf_map_lookup_elem(&vg_gen, &zero);

	return genp ? *genp & 1 : 0;
}

/* Whether syscall (abi, nr) is in syscall set `set_id` of generation `gen` (vg_syscalls). */
static __always_inline int vg_syscall_in_set(__u32 gen, __u32 set_id, __u16 abi, __u32 nr)
{
	struct vg_syscall_key k = { .set_id = set_id, .abi = abi, .nr = nr };
	void *syscalls = bpf_map_lookup_elem(&vg_syscalls_o, &gen);

	return syscalls && bpf_map_lookup_elem(syscalls, &k);
}

/*
 * Runs hook `hook_id` for one hit. The family fills `src` (kind, regs or ctx, return value). `can_override`: the
 * family can replace the operation's return value (LSM, fmod_ret, kprobe with bpf_override_return).
 * Returns 1 and sets *override_ret when the caller must override.
 */
static __always_inline int vg_generic_run(const int kind, struct vg_src *src, __u32 hook_id, int can_override,
					  __s32 *override_ret)
{
	struct vg_generic_stats *st = vg_gstats();
	__u64 cgid = bpf_get_current_cgroup_id();
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	struct vg_decision *dec;
	struct vg_read_ctx rc = {};
	struct vg_hook_cfg *cfg;
	struct vg_gen_scratch *s;
	struct vg_proc *proc;
	void *hooks;
	__u32 zero = 0, gen, table_id = VG_NO_ID, tgid = pid_tgid >> 32;
	int sel;

	if (bpf_map_lookup_elem(&vg_exempt, &cgid)) {
		vg_count(st, exempt);
		return 0;
	}
	gen = vg_active_gen();
	hooks = bpf_map_lookup_elem(&vg_hooks_o, &gen);
	cfg = hooks ? bpf_map_lookup_elem(hooks, &hook_id) : NULL;
	if (!cfg) {
		vg_count(st, no_config);
		return 0;
	}
	if (kind == VG_SRC_SYSCALL && vg_prog_cfg.syscall_nr < 0 && cfg->syscall_set_id &&
	    !vg_syscall_in_set(gen, cfg->syscall_set_id, cfg->syscall_abi, src->syscall_nr))
		return 0;
	if (cfg->identity_set_id && !vg_identity_match(cfg->identity_set_id, cfg->flags & VG_HCFG_HOST)) {
		vg_count(st, identity_skip);
		return 0;
	}
	vg_count(st, hits);
	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s)
		return 0;

	src->kind = kind;
	vg_src_fetch(src, kind, s);
	__builtin_memcpy(&s->cfg, cfg, sizeof(s->cfg));
	s->ctx = kind == VG_SRC_TP ? (__u64)src->ctx : 0;
	s->retval = src->retval;
	s->kind = src->kind;
	s->is_return = src->is_return;
	s->user = src->user;
	s->tgid = tgid;
	s->ev.flags = 0;
	rc.nargs = s->cfg.arg_count < VG_LIMIT_MAX_ARGS_PER_HOOK ? s->cfg.arg_count : VG_LIMIT_MAX_ARGS_PER_HOOK;
	rc.ret = s->is_return && (s->cfg.flags & VG_HCFG_RETURN_ARG) ? 1 : 0;
	rc.ndata = s->cfg.data_count < VG_LIMIT_MAX_ARGS_PER_HOOK ? s->cfg.data_count : VG_LIMIT_MAX_ARGS_PER_HOOK;
	bpf_loop(rc.nargs + rc.ret + rc.ndata, vg_read_step, &rc, vg_loop_flags);

	sel = vg_select_g(gen, hook_id);
	if (sel == 0)
		return 0;
	vg_count(st, matched);
	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero); /* a global call loses the pointer's range */
	if (!s)
		return 0;
	dec = &s->dec;
	__builtin_memset(dec, 0, sizeof(*dec));
	dec->decided = VG_ACT_POST;
	dec->post = 1;
	dec->flags = s->ev.flags;
	if (sel < 0) {
		dec->flags |= VG_HOOKF_NO_SELECTOR;
		sel = 0;
	} else {
		void *progs = bpf_map_lookup_elem(&vg_sel_prog_o, &gen);
		__u8 *prog = progs ? bpf_map_lookup_elem(progs, &hook_id) : NULL;
		__u32 ids[2] = { VG_NO_ID, VG_NO_ID };

		if (prog)
			bpf_probe_read_kernel(ids, sizeof(ids), prog + (s->sel_at & 4095) + 4);
		table_id = ids[0];
		if (src->is_return && ids[1] != VG_NO_ID)
			table_id = ids[1];
		if (s->sel_expr) {
			dec->flags |= VG_HOOKF_EXPR;
			vg_count(st, expr_pending);
		}
	}
	vg_act_g(gen, table_id, sel | (can_override ? VG_ACTG_OVERRIDE : 0) | (sel > 0 && s->sel_expr ? VG_ACTG_EXPR : 0));
	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s)
		return 0;
	dec = &s->dec;
	if (dec->override)
		*override_ret = dec->ovr;
	if (!dec->post)
		return dec->override;

	proc = bpf_map_lookup_elem(&vg_procs, &tgid);
	s->ev.pid = tgid;
	s->ev.tid = (__u32)pid_tgid;
	s->ev.exec_ktime = proc ? proc->exec_ktime : 0;
	s->ev.cgroup_id = cgid;
	s->ev.policy_id = s->cfg.policy_id;
	s->ev.hook_id = hook_id;
	s->ev.selector = sel;
	s->ev.action = dec->decided;
	s->ev.mechanism = vg_prog_cfg.mechanism ? vg_prog_cfg.mechanism : s->cfg.mechanism;
	s->ev.flags = dec->flags | (src->is_return ? VG_HOOKF_RETURN : 0);
	s->ev.actions = dec->actions;
	s->ev.suppressed = dec->suppressed;
	s->ev.retval = src->is_return ? src->retval : 0;
	s->ev.override_ret = dec->ovr;
	s->ev.signal = dec->signal;
	s->ev.action_err = dec->err;
	s->ev.syscall_nr = src->syscall_nr;
	{
		__u64 ug = bpf_get_current_uid_gid();
		struct task_struct *task = (struct task_struct *)bpf_get_current_task();

		s->ev.uid = (__u32)ug;
		s->ev.euid = BPF_CORE_READ(task, cred, euid.val);
	}
	s->ev.generation = gen;
	__builtin_memset(s->ev._pad0, 0, sizeof(s->ev._pad0));
	bpf_get_current_comm(s->ev.comm, sizeof(s->ev.comm));
	vg_clear_unread(s, &rc);
	vg_emit(s, rc.top, st);
	return dec->override;
}

/* Runs the hook of vg_prog_cfg on args the family copied to `a` (raw tracepoints, USDT): no override possible. */
static __always_inline int vg_run_u64_args(__u64 *a, __u8 user)
{
	struct vg_src src = { .ctx = a, .kind = VG_SRC_RAW, .syscall_nr = -1, .user = user };
	__s32 ovr = 0;

	vg_generic_run(VG_SRC_RAW, &src, vg_prog_cfg.hook_id, 0, &ovr);
	return 0;
}

#endif
