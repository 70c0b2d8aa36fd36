/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The kernel/user ABI of the generic hook programs (bpf/progs/generic_*.bpf.c), which run compiled policies
 * (packages/policy-schema/src/compile/compiler.ts, byte grammar version 1) in the kernel: the hook-hit event,
 * the per-policy state maps, and the stats. Same conventions as events.h: fixed-width types, natural alignment,
 * explicit padding, record sizes multiples of 8, enum values appended and never renumbered. The sensor's koffi
 * twin is packages/sensor/src/abi/generic-layout.ts; packages/sensor/src/abi/generic-layout.test.ts compares
 * both with the BTF of generic_tp.bpf.o. docs/adr/0008-generic-hooks.md has the map and pin layout.
 *
 * Map schema names (bpffs names cannot hold '.', so versions are a _vN suffix on the pin name):
 *   per policy, pinned under <pinRoot>/generic/<policy>/ :
 *     vg_gen          array[1] u32: the active generation, 0 or 1 (VG_GEN_SCHEMA)
 *     vg_hooks_o, vg_sel_prog_o, vg_actions_o, vg_strings_o, vg_prefix_o, vg_cidr4_o, vg_cidr6_o, vg_syscalls_o
 *                     array-of-maps[2], index = generation; each inner map has exactly the key/value sizes and
 *                     type of the bundle map of the same name (bundle.ts MAP_SPECS), created with
 *                     BPF_F_NO_PREALLOC | BPF_F_INNER_MAP (any max_entries), filled with the bundle bytes as they
 *                     are (values zero-padded to the value size)
 *     vg_ratelimit    LRU hash struct vg_rate_key -> struct vg_rate_val (rateLimit state of Post actions)
 *     vg_gen_stats    per-CPU array[1] struct vg_generic_stats
 *   per node, pinned under <pinRoot>/generic/ :
 *     vg_exempt       hash u64 cgroup id -> u8: tasks in these cgroups are never matched (the sensor's own cgroup)
 *     vg_host_ns      array[VG_NS_COUNT] u32: inode of each namespace of the host (pid 1), by VG_NS_*; 0 unknown
 *   and the event stream's vg_events / vg_stats (events.h) of the sensor.
 */
#ifndef VIGIL_ABI_GENERIC_H
#define VIGIL_ABI_GENERIC_H

#include "events.h"

#define VG_GEN_SCHEMA 1 /* pin names carry _v1: vg_gen_v1, vg_hooks_o_v1, ... */

/* Slots of vg_hook_event.args: 0..5 the hook's args (HOOK_CFG args[i]), 6 the return arg, 7..12 data args. */
#define VG_HOOK_ARG_SLOTS 13
#define VG_HOOK_RET_SLOT 6
#define VG_HOOK_DATA_SLOT0 7
#define VG_HOOK_ARG_BYTES 256 /* bytes of one arg value; strings and paths longer than this are truncated */
#define VG_NS_COUNT 10

/* vg_hook_event.flags */
enum vg_hook_flags {
	VG_HOOKF_MONITOR = 1 << 0, /* policy-mode monitor: `action` is what enforce mode would have done; nothing done */
	VG_HOOKF_RETURN = 1 << 1, /* hit of a return probe (kretprobe, fexit, uretprobe, sys_exit) */
	VG_HOOKF_ACTION_FAILED = 1 << 2, /* a signal or override helper returned an error (action_err holds it) */
	VG_HOOKF_OVERRIDE = 1 << 3, /* the hooked operation's return value was replaced by override_ret */
	VG_HOOKF_EXPR = 1 << 4, /* the deciding selector has a clause user space decides (CelExpr): no action taken */
	VG_HOOKF_NO_SELECTOR = 1 << 5, /* the hook has no selectors: every hit posts */
	VG_HOOKF_KILLED = 1 << 6, /* SIGKILL was sent to the acting thread's process */
	VG_HOOKF_SIGNALED = 1 << 7, /* `signal` was sent (Signal, NotifyEnforcer) */
	VG_HOOKF_OVERRIDE_REFUSED = 1 << 8, /* Override asked on a mechanism that cannot override (raw_tp, tracepoint,
					      kprobe without bpf_override_return): nothing overridden */
	VG_HOOKF_BINARY_UNKNOWN = 1 << 9, /* the process had no vg_procs entry: binaries clauses saw an empty path */
	VG_HOOKF_NOTIFIED = 1 << 10, /* NotifyEnforcer: the note for the policy's enforcer was written */
};

/* vg_hook_arg.flags */
enum vg_hook_arg_flags {
	VG_HARGF_TRUNC = 1 << 0, /* the value was longer than VG_HOOK_ARG_BYTES (strings: the head is kept; paths:
				    the tail) or the path walk stopped at VG_PATH_DEPTH */
	VG_HARGF_ERR = 1 << 1, /* the value could not be read (bad pointer, fd not open ...): len is 0 */
	VG_HARGF_USER = 1 << 2, /* read from user memory */
	VG_HARGF_UNSUPPORTED = 1 << 3, /* the kernel side does not read this arg type: len is 0 */
};

/* vg_hook_arg.source (0: the slot is unused) */
enum vg_hook_arg_source {
	VG_HSRC_ARG = 1,
	VG_HSRC_RETURN = 2,
	VG_HSRC_DATA = 3,
};

/*
 * Value bytes of one arg, by arg type:
 *   int, uint*, sint*, size_t, long, ulong, capability, syscall64, bpf_cmd, kernel_cap_t, cap_*: 8 bytes,
 *     little-endian, sign-extended for signed types (the tracefs field size or the register width is read)
 *   string, char_buf, filename, data_loc: the bytes, no NUL (char_buf: size from size_arg_index, else up to
 *     VG_HOOK_ARG_BYTES; a char_buf with returnCopy is read at return)
 *   fd, file, path, dentry, linux_binprm: the absolute path, no NUL (bounded walk, bpf/lib/path.h)
 *   sock, socket, sockaddr, skb: struct vg_hook_sock
 *   cred: struct vg_hook_cred
 *   anything else: VG_HARGF_UNSUPPORTED, len 0
 */
struct vg_hook_sock {
	__u16 family; /* AF_INET 2, AF_INET6 10, AF_UNIX 1 ... */
	__u16 type; /* SOCK_STREAM ... (sock, socket) */
	__u16 protocol; /* IPPROTO_* (sock, socket) */
	__u16 sport; /* host byte order */
	__u16 dport; /* host byte order (sockaddr: the address's port) */
	__u8 state; /* TCP state (sock) */
	__u8 _pad0;
	__u16 _pad1;
	__u8 saddr[16]; /* network byte order; 4 bytes used for AF_INET */
	__u8 daddr[16]; /* sockaddr: the address */
	__u32 _pad2;
};

struct vg_hook_cred {
	__u32 uid;
	__u32 gid;
	__u32 suid;
	__u32 sgid;
	__u32 euid;
	__u32 egid;
	__u32 fsuid;
	__u32 fsgid;
	__u64 cap_permitted;
	__u64 cap_effective;
	__u64 cap_inheritable;
	__u32 user_ns; /* inode of the cred's user namespace */
	__u32 _pad0;
};

/* One arg of a hook hit: 8 bytes of header, then VG_HOOK_ARG_BYTES of value (len used). */
struct vg_hook_arg {
	__u8 source; /* enum vg_hook_arg_source; 0: unused slot */
	__u8 index; /* the policy's arg index (ARG_DESC.index) */
	__u8 type; /* VG_ARG_* */
	__u8 flags; /* enum vg_hook_arg_flags */
	__u16 len; /* valid bytes in data */
	__u16 _pad0;
	__u8 data[VG_HOOK_ARG_BYTES];
};

/*
 * A hook hit that a selector matched (or every hit of a hook without selectors), with the decision taken.
 * Variable length: hdr.size = offsetof(args) + slot_count * sizeof(struct vg_hook_arg); the slots past
 * slot_count are not sent (user space must not read them). Record type VG_EVENT_HOOK.
 */
struct vg_hook_event {
	struct vg_event_hdr hdr; /* 0 */
	__u32 pid; /* 32: tgid */
	__u32 tid; /* 36 */
	__u64 exec_ktime; /* 40: identity time of the process (vg_procs), 0 when unknown: part of exec_id */
	__u64 cgroup_id; /* 48: cgroup v2 id */
	__u32 policy_id; /* 56: HOOK_CFG.policy_id */
	__u32 hook_id; /* 60: HOOK_CFG.hook_id (bundle-local, 1-based) */
	__u8 selector; /* 64: 1-based index of the deciding selector; 0 for a hook with no selectors */
	__u8 action; /* 65: VG_ACT_* of the decision (enforcing action first: Sigkill, Override, Signal,
			 NotifyEnforcer; else Post). Monitor mode: the action enforce mode would have taken */
	__u8 mechanism; /* 66: VG_MECH_* that ran */
	__u8 slot_count; /* 67: args[0..slot_count) were sent */
	__u32 flags; /* 68: enum vg_hook_flags */
	__u32 actions; /* 72: bit n set for every VG_ACT_* n of the deciding action table (1 << VG_ACT_POST ...) */
	__u32 suppressed; /* 76: hits of this (hook, selector, scope) that rateLimit suppressed since the last post */
	__s64 retval; /* 80: return value (return probes; sys_exit: the syscall's return), else 0 */
	__s32 override_ret; /* 88: value the operation returned instead (VG_HOOKF_OVERRIDE), or would have (monitor) */
	__s32 signal; /* 92: signal sent (9 for Sigkill), or that would have been sent (monitor); 0 none */
	__s32 action_err; /* 96: negative errno of the failed helper (VG_HOOKF_ACTION_FAILED) */
	__s32 syscall_nr; /* 100: syscall number (syscall mechanisms), else -1 */
	__u32 uid; /* 104: real uid */
	__u32 euid; /* 108 */
	__u8 generation; /* 112: configuration generation (vg_gen) the decision used */
	__u8 _pad0[7]; /* 113 */
	char comm[16]; /* 120 */
	struct vg_hook_arg args[VG_HOOK_ARG_SLOTS]; /* 136 */
};

/*
 * Load-time configuration of one generic program instance: the only variable in the object's .rodata (so it
 * sits at offset 0 of the "<obj>.rodata" map); the loader writes it before load (bpf_map__set_initial_value).
 * One instance serves one hook (hook_id), except for kprobe/uprobe/tracepoint attachments, which may share an
 * instance and pass the hook id as the attach cookie (hook_id 0 here: the cookie is read).
 */
struct vg_prog_cfg {
	__u32 hook_id; /* HOOK_CFG key; 0: bpf_get_attach_cookie() */
	__s32 syscall_nr; /* sys_enter/sys_exit programs: the syscall to react to, -1: any (then HOOK_CFG's
			     syscall_set_id filters) */
	__u8 mechanism; /* VG_MECH_* reported in events */
	__u8 flags; /* enum vg_prog_cfg_flags */
	__u16 _pad0;
	__u32 _pad1;
};

enum vg_prog_cfg_flags {
	VG_PCFG_SYSCALL_WRAPPER = 1 << 0, /* kprobe/fentry on __x64_sys_*: the args are in the inner struct pt_regs */
	VG_PCFG_USER_ARGS = 1 << 1, /* pointer args are user memory (syscalls, uprobes); else decided by address */
};

/* Key of vg_ratelimit. */
struct vg_rate_key {
	__u32 policy_id;
	__u32 hook_id;
	__u32 selector; /* 1-based */
	__u32 scope; /* VG_RATE_* */
	__u64 scope_key; /* tid (thread), tgid (process), 0 (global) */
};

struct vg_rate_val {
	__u64 last_ns; /* bpf_ktime_get_ns() of the last post */
	__u64 suppressed; /* posts suppressed since then */
};

/* Per-CPU counters of one policy's generic programs (vg_gen_stats, key 0). */
struct vg_generic_stats {
	__u64 hits; /* program runs that passed the syscall / exempt filters */
	__u64 exempt; /* runs skipped because the task's cgroup is in vg_exempt */
	__u64 no_config; /* runs with no HOOK_CFG or PROGRAM in the active generation */
	__u64 matched; /* a selector matched (or no selectors) */
	__u64 posted; /* hook events written */
	__u64 emit_fail; /* hook events lost to a full ring buffer (the decision was still enforced) */
	__u64 rate_limited; /* posts suppressed by rateLimit */
	__u64 monitor; /* decisions not enforced because of policy-mode monitor */
	__u64 kills; /* SIGKILLs sent */
	__u64 signals; /* other signals sent */
	__u64 overrides; /* return values overridden */
	__u64 action_fail; /* signal / override helpers that failed */
	__u64 expr_pending; /* selectors left to user space (CelExpr) */
	__u64 unsupported; /* clauses the kernel side cannot decide (namespace_changes, capability_changes,
			      InMap/NotInMap without a syscall set ...): such a clause never matches */
	__u64 identity_skip; /* hooks or selectors skipped for an identity set (see docs/adr/0008) */
	__u64 _reserved;
};

#endif
