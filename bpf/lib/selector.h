/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The in-kernel interpreter of compiled selector programs (byte grammar version 1, documented at the top of
 * packages/policy-schema/src/compile/compiler.ts; decode.ts is the user-space reader of the same bytes).
 * Included by generic.h after the maps and arg readers; not usable on its own.
 *
 *   vg_select(): tries the selectors of PROGRAM in order; the first whose clauses all match decides (clauses are
 *   ANDed). Returns the 1-based index of that selector, 0 when none matched.
 *
 * Semantics the kernel side fixes (docs/adr/0008-generic-hooks.md has the full list):
 *   - a clause on an arg slot that was not read at this hit (a return_arg clause on an entry hit) never matches;
 *   - binaries / parent_binaries compare the exec path kept in vg_procs (at bprm_check_security that is still the
 *     caller's binary); followChildren / followForks also accept any of VG_FOLLOW_DEPTH ancestors found through
 *     the vg_procs parent links (an ancestor that already exited ends the walk);
 *   - namespace_changes, capability_changes and CapabilitiesGained need state across hits the kernel side does not
 *     keep: such a clause never matches and is counted in vg_generic_stats.unsupported;
 *   - a CelExpr clause counts as matching here and marks the decision as user space's (VG_HOOKF_EXPR): no action
 *     is taken in the kernel.
 *   - matchCapabilities with isNamespaceCapability only matches tasks outside the initial user namespace.
 */
#ifndef VIGIL_LIB_SELECTOR_H
#define VIGIL_LIB_SELECTOR_H

#define VG_FOLLOW_DEPTH 8 /* ancestors visited for followChildren / followForks */
#define VG_MAX_CLAUSES 64 /* clauses per selector the interpreter walks (4096-byte programs hold fewer) */
#define VG_MAX_VALUES 64 /* VG_LIMIT_MAX_VALUES_PER_MATCH_ARG */
#define VG_PROG_HDR 12
/* Steps of the substring search: every needle (≤ 64) at every start (≤ 256) compared byte by byte (≤ 255). */
#define VG_SUBSTR_STEPS (1U << 22)

#define VG_INIT_IPC_INO 0xEFFFFFFFU
#define VG_INIT_UTS_INO 0xEFFFFFFEU
#define VG_INIT_USER_INO 0xEFFFFFFDU
#define VG_INIT_PID_INO 0xEFFFFFFCU
#define VG_INIT_CGROUP_INO 0xEFFFFFFBU
#define VG_INIT_TIME_INO 0xEFFFFFFAU



struct vg_rev_ctx {
	__u8 *dst;
	const __u8 *src;
	__u32 len;
};


struct vg_vals_ctx {
	const __u8 *c;
	__u64 uv;
	__u32 base; /* offset of operand 0 in the clause */
	__u32 count;
	__u32 mode;
	__u32 any;
};

union vg_loop_ctx {
	struct vg_rev_ctx rev;
	struct vg_vals_ctx vals;
};

struct vg_eval {
	struct vg_gen_scratch *s;
	struct vg_proc *proc; /* the acting process's vg_procs entry, NULL when unknown */
	__u32 tgid;
	__u32 gen; /* configuration generation: inner maps are looked up on use */
	__u32 expr; /* a CelExpr clause was met */
	union vg_loop_ctx lc; /* the bpf_loop context of whichever list is being walked (one stack slot for all) */
};

static __always_inline void vg_unsupported(void)
{
	struct vg_generic_stats *st = vg_gstats();

	vg_count(st, unsupported);
}

static __always_inline __u16 vg_c16(const __u8 *c, __u32 at)
{
	return *(const __u16 *)(c + at);
}

static __always_inline __u32 vg_c32(const __u8 *c, __u32 at)
{
	return *(const __u32 *)(c + at);
}

/* ---- string sets ---- */

/* Looks `len` bytes at `src` (kernel memory) up in a vg_strings set. */
static __always_inline int vg_str_in(struct vg_eval *e, __u32 set_id, const void *src, __u32 len)
{
	struct vg_string_key *k = &e->s->skey;

	void *map = bpf_map_lookup_elem(&vg_strings_o, &e->gen);

	if (!map || len > VG_SZ_STRING_KEY)
		return 0;
	__builtin_memset(k->bytes, 0, sizeof(k->bytes));
	k->set_id = set_id;
	k->len = len;
	vg_bound(len, 511);
	if (len && len <= VG_SZ_STRING_KEY)
		bpf_probe_read_kernel(k->bytes, len, src);
	return bpf_map_lookup_elem(map, k) != NULL;
}



/* dst[i] = src[len - 1 - i]: postfix sets store their strings reversed. */
static long vg_rev_step(__u32 i, void *data)
{
	struct vg_rev_ctx *r = data;
	__u32 j;
	__u8 ch = 0;

	if (i >= r->len || i >= VG_PREFIX_BYTES)
		return 1;
	j = r->len - 1 - i;
	vg_bound(j, 255);
	bpf_probe_read_kernel(&ch, 1, r->src + j);
	vg_bound(i, 255);
	r->dst[i] = ch;
	return 0;
}

/* Longest-prefix lookup in a vg_prefix set; `reversed` for postfix sets (the set stores the bytes reversed). */
static __always_inline int vg_prefix_in(struct vg_eval *e, __u32 set_id, const __u8 *src, __u32 len, int reversed)
{
	struct vg_prefix_key *k = &e->s->pkey;

	void *map = bpf_map_lookup_elem(&vg_prefix_o, &e->gen);

	if (!map || len > VG_SZ_STRING_KEY)
		return 0;
	if (len > VG_PREFIX_BYTES)
		len = VG_PREFIX_BYTES; /* stored prefixes are at most this long (see struct vg_prefix_key) */
	k->set_id = set_id;
	k->prefixlen = 32 + 8 * len;
	if (!reversed) {
		vg_bound(len, 255);
		if (len && len <= VG_PREFIX_BYTES)
			bpf_probe_read_kernel(k->bytes, len, src);
	} else {
		struct vg_rev_ctx *r = &e->lc.rev;

		r->dst = k->bytes;
		r->src = src;
		r->len = len;
		bpf_loop(VG_PREFIX_BYTES, vg_rev_step, r, vg_loop_flags);
	}
	return bpf_map_lookup_elem(map, k) != NULL;
}

/* ---- arg clauses ---- */



static __always_inline __u8 vg_lower(__u8 c)
{
	return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/*
 * One step of the substring search: load a needle, compare one byte, move on. One flat callback (no nested
 * bpf_loop, for 6.1's combined stack limit) whose state lives in the per-CPU scratch, not on the stack: the
 * verifier does not track map memory, so it checks the step once instead of once per counter value.
 */
static long vg_substr_step(__u32 j, void *data)
{
	struct vg_gen_scratch *s;
	struct vg_substr_state *x;
	__u32 zero = 0, slot;
	__u8 a = 0, b = 0;
	__u16 n = 0;

	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s)
		return 1;
	x = &s->sub;
	if (x->k >= x->count || x->at + 2 > x->clen)
		return 1;
	if (!x->loaded) {
		bpf_probe_read_kernel(&n, 2, s->clause + (x->at & 4095));
		if (n == 0) {
			x->found = 1;
			return 1;
		}
		x->needle_len = n;
		x->pos = 0;
		x->i = 0;
		x->loaded = 1;
		return 0;
	}
	if (x->i >= x->needle_len) {
		x->found = 1;
		return 1;
	}
	if (x->pos + x->needle_len > x->hay_len) { /* this needle is not in the value: next needle */
		x->at += (2 + x->needle_len + 3) & ~3U;
		x->k++;
		x->loaded = 0;
		return 0;
	}
	slot = x->slot;
	if (slot >= VG_HOOK_ARG_SLOTS)
		return 1;
	bpf_probe_read_kernel(&a, 1, s->ev.args[slot].data + ((x->pos + x->i) & 255));
	bpf_probe_read_kernel(&b, 1, s->clause + ((x->at + 2 + x->i) & 4095));
	if (x->icase)
		a = vg_lower(a);
	if (a == b) {
		x->i++;
	} else {
		x->pos++;
		x->i = 0;
	}
	return 0;
}

/* SubString / SubStringIgnCase: any needle (value_count × {u16 len, bytes, pad 4}) inside the value of `slot`. */
static __always_inline int vg_substr_any(struct vg_eval *e, __u32 clen, __u32 count, __u32 slot, __u32 hay_len, int icase)
{
	struct vg_substr_state *x = &e->s->sub;

	__builtin_memset(x, 0, sizeof(*x));
	x->slot = slot;
	x->hay_len = hay_len;
	x->icase = icase;
	x->clen = clen;
	x->count = count;
	x->at = VG_PROG_HDR;
	bpf_loop(VG_SUBSTR_STEPS, vg_substr_step, NULL, vg_loop_flags);
	return e->s->sub.found;
}

enum vg_vals_mode {
	VG_VALS_EQ64 = 1, /* any u64 operand == uv */
	VG_VALS_MASK64 = 2, /* any u64 operand & uv */
	VG_VALS_PORTS = 3, /* any {u16 lo, u16 hi} holds uv */
	VG_VALS_RANGES_S = 4, /* any {i64 lo, i64 hi} holds v (signed) */
	VG_VALS_RANGES_U = 5, /* unsigned */
	VG_VALS_EQ32 = 6, /* any u32 operand == uv */
};



/* One operand of a list: bpf_loop keeps the verifier from walking every list length. */
static long vg_vals_step(__u32 k, void *data)
{
	struct vg_vals_ctx *x = data;
	const __u8 *c = x->c;
	__u64 uv = x->uv;
	__u32 at;

	if (k >= x->count)
		return 1;
	switch (x->mode) {
	case VG_VALS_EQ64:
	case VG_VALS_MASK64: {
		__u64 o;

		at = (x->base + 8 * k) & 2047;
		o = *(const __u64 *)(c + at);
		x->any = x->mode == VG_VALS_MASK64 ? (uv & o) != 0 : uv == o;
		break;
	}
	case VG_VALS_PORTS:
		at = (x->base + 4 * k) & 2047;
		x->any = uv >= *(const __u16 *)(c + at) && uv <= *(const __u16 *)(c + at + 2);
		break;
	case VG_VALS_RANGES_S:
	case VG_VALS_RANGES_U: {
		__s64 lo, hi;

		at = (x->base + 16 * k) & 2047;
		lo = *(const __s64 *)(c + at);
		hi = *(const __s64 *)(c + at + 8);
		if (x->mode == VG_VALS_RANGES_S)
			x->any = (__s64)uv >= lo && (__s64)uv <= hi;
		else
			x->any = uv >= (__u64)lo && uv <= (__u64)hi;
		break;
	}
	case VG_VALS_EQ32:
		at = (x->base + 4 * k) & 2047;
		x->any = *(const __u32 *)(c + at) == (__u32)uv;
		break;
	default:
		return 1;
	}
	return x->any ? 1 : 0;
}

static __always_inline int vg_vals_any(struct vg_eval *e, const __u8 *c, __u32 base, __u32 count, __u32 mode, __u64 uv)
{
	struct vg_vals_ctx *x = &e->lc.vals;

	x->c = c;
	x->uv = uv;
	x->base = base;
	x->count = count > VG_MAX_VALUES ? VG_MAX_VALUES : count;
	x->mode = mode;
	x->any = 0;
	bpf_loop(VG_MAX_VALUES, vg_vals_step, x, vg_loop_flags);
	return x->any;
}

static __always_inline int vg_syscall_in(struct vg_eval *e, __u32 set_id, __u16 abi, __u32 nr)
{
	struct vg_syscall_key *k = &e->s->sykey;
	void *map;

	if (!set_id)
		return 0;
	map = bpf_map_lookup_elem(&vg_syscalls_o, &e->gen);
	if (!map)
		return 0;
	k->set_id = set_id;
	k->abi = abi;
	k->_pad0 = 0;
	k->nr = nr;
	return bpf_map_lookup_elem(map, k) != NULL;
}

static __always_inline int vg_cidr_in(struct vg_eval *e, const __u8 *c, const struct vg_hook_sock *sk, int dst)
{
	const __u8 *addr = dst ? sk->daddr : sk->saddr;
	void *map;

	if (sk->family == 2) {
		struct vg_cidr4_key *k = &e->s->k4;

		k->prefixlen = 64;
		k->set_id = vg_c32(c, 12);
		map = bpf_map_lookup_elem(&vg_cidr4_o, &e->gen);
		if (!k->set_id || !map)
			return 0;
		__builtin_memcpy(k->addr, addr, 4);
		return bpf_map_lookup_elem(map, k) != NULL;
	}
	if (sk->family == 10) {
		struct vg_cidr6_key *k = &e->s->k6;

		k->prefixlen = 160;
		k->set_id = vg_c32(c, 16);
		map = bpf_map_lookup_elem(&vg_cidr6_o, &e->gen);
		if (!k->set_id || !map)
			return 0;
		__builtin_memcpy(k->addr, addr, 16);
		return bpf_map_lookup_elem(map, k) != NULL;
	}
	return 0;
}

static __always_inline int vg_is_sock_type(__u8 t)
{
	return t == VG_ARG_SOCK || t == VG_ARG_SOCKET || t == VG_ARG_SOCKADDR || t == VG_ARG_SKB;
}

/* Evaluates one arg / data / return_arg clause (copied into s->clause). Returns 1 when it matches. */
static __always_inline int vg_arg_clause(struct vg_eval *e, const __u8 *c, __u32 clen)
{
	struct vg_gen_scratch *s = e->s;
	__u8 kind = c[0], op = c[1], vk = c[6];
	__u32 count = vg_c16(c, 8);
	__u32 slot = c[4];
	struct vg_hook_arg *a;
	__s64 v;
	__u64 uv;
	int sign, any = 0;
	const struct vg_hook_sock *sk;

	if (kind == VG_CLAUSE_RETURN_ARG)
		slot = VG_HOOK_RET_SLOT;
	else if (kind == VG_CLAUSE_DATA)
		slot += VG_HOOK_DATA_SLOT0;
	if (slot >= VG_HOOK_ARG_SLOTS)
		return 0;
	a = &s->ev.args[slot];
	if (!a->source || (a->flags & (VG_HARGF_ERR | VG_HARGF_UNSUPPORTED)))
		return vk == VG_VAL_EXPR ? (e->expr = 1) : 0;
	sk = (const struct vg_hook_sock *)a->data;
	sign = vg_int_signed(a->type) || a->type == VG_ARG_AUTO;
	if (a->len == 8 && vg_int_width(a->type))
		v = *(__s64 *)a->data;
	else
		v = s->raw[slot];
	uv = v;

	switch (vk) {
	case VG_VAL_INT: {
		if (op == VG_OP_CAPABILITIES_GAINED) {
			vg_unsupported();
			return 0;
		}
		if (vg_is_sock_type(a->type)) {
			if (op == VG_OP_PROTOCOL)
				uv = v = sk->protocol;
			else if (op == VG_OP_FAMILY)
				uv = v = sk->family;
			else if (op == VG_OP_STATE)
				uv = v = sk->state;
		}
		if (count < 1)
			return 0;
		if (op == VG_OP_GREATER_THAN || op == VG_OP_GT || op == VG_OP_LESS_THAN || op == VG_OP_LT) {
			__s64 o = *(const __s64 *)(c + VG_PROG_HDR);
			int gt = op == VG_OP_GREATER_THAN || op == VG_OP_GT;

			if (sign)
				return gt ? v > o : v < o;
			return gt ? uv > (__u64)o : uv < (__u64)o;
		}
		any = vg_vals_any(e, c, VG_PROG_HDR, count, op == VG_OP_MASK ? VG_VALS_MASK64 : VG_VALS_EQ64, uv);
		return op == VG_OP_NOT_EQUAL ? !any : any;
	}
	case VG_VAL_STR_SET:
		any = vg_str_in(e, vg_c32(c, VG_PROG_HDR), a->data, a->len);
		return op == VG_OP_NOT_EQUAL ? !any : any;
	case VG_VAL_PREFIX_SET:
	case VG_VAL_POSTFIX_SET:
		any = vg_prefix_in(e, vg_c32(c, VG_PROG_HDR), a->data, a->len, vk == VG_VAL_POSTFIX_SET);
		return (op == VG_OP_NOT_PREFIX || op == VG_OP_NOT_POSTFIX) ? !any : any;
	case VG_VAL_SUBSTR:
		return vg_substr_any(e, clen, count, slot, a->len, op == VG_OP_SUB_STRING_IGN_CASE);
	case VG_VAL_CIDR:
		if (!vg_is_sock_type(a->type))
			return 0;
		any = vg_cidr_in(e, c, sk, op == VG_OP_DADDR || op == VG_OP_NOT_DADDR);
		return (op == VG_OP_NOT_SADDR || op == VG_OP_NOT_DADDR) ? !any : any;
	case VG_VAL_PORTS: {
		__u16 port;

		if (!vg_is_sock_type(a->type))
			return 0;
		port = (op == VG_OP_SPORT || op == VG_OP_NOT_SPORT) ? sk->sport : sk->dport;
		any = vg_vals_any(e, c, VG_PROG_HDR, count, VG_VALS_PORTS, port);
		return (op == VG_OP_NOT_SPORT || op == VG_OP_NOT_DPORT) ? !any : any;
	}
	case VG_VAL_NONE:
		if (!vg_is_sock_type(a->type))
			return 0;
		switch (op) {
		case VG_OP_SPORT_PRIV:
			return sk->sport < 1024;
		case VG_OP_NOT_SPORT_PRIV:
			return sk->sport >= 1024;
		case VG_OP_DPORT_PRIV:
			return sk->dport < 1024;
		case VG_OP_NOT_DPORT_PRIV:
			return sk->dport >= 1024;
		}
		return 0;
	case VG_VAL_RANGES:
	case VG_VAL_MAP_SET: {
		__u32 base = VG_PROG_HDR;

		if (vk == VG_VAL_MAP_SET) {
			any = vg_syscall_in(e, vg_c32(c, VG_PROG_HDR), e->s->cfg.syscall_abi, (__u32)uv);
			base += 8;
		}
		if (!any)
			any = vg_vals_any(e, c, base, count, sign ? VG_VALS_RANGES_S : VG_VALS_RANGES_U, uv);
		return (op == VG_OP_NOT_IN_RANGE || op == VG_OP_NOT_IN_MAP) ? !any : any;
	}
	case VG_VAL_EXPR:
		e->expr = 1;
		return 1;
	case VG_VAL_FILE_TYPES: {
		__u64 mode = s->aux[slot];
		__u32 mask = vg_c32(c, VG_PROG_HDR);

		if (!mode)
			return 0;
		any = (mask >> ((mode >> 12) & 15)) & 1;
		return op == VG_OP_NOT_FILE_TYPE ? !any : any;
	}
	}
	vg_unsupported();
	return 0;
}

/* ---- process clauses ---- */

static __always_inline __u32 vg_ns_pid(struct task_struct *task)
{
	struct pid *p = BPF_CORE_READ(task, thread_pid);
	unsigned int level = BPF_CORE_READ(p, level);
	struct upid up = {};

	if (level > 31)
		return 0;
	bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[level]);
	return up.nr;
}

static __always_inline int vg_pid_listed(struct vg_eval *e, const __u8 *c, __u32 count, __u32 pid)
{
	return vg_vals_any(e, c, 8, count > VG_LIMIT_MAX_PIDS_PER_SELECTOR ? VG_LIMIT_MAX_PIDS_PER_SELECTOR : count, VG_VALS_EQ32, pid);
}

static __always_inline int vg_pids_clause(struct vg_eval *e, const __u8 *c)
{
	__u8 op = c[1], flags = c[4];
	__u32 count = vg_c16(c, 6);
	__u32 pid = e->tgid;
	int any;

	if (flags & 2)
		pid = vg_ns_pid((struct task_struct *)bpf_get_current_task());
	any = vg_pid_listed(e, c, count, pid);
	if (!any && (flags & 1) && !(flags & 2)) { /* followForks: a listed ancestor */
		__u32 p = e->proc ? e->proc->ppid : 0;

#pragma clang loop unroll(disable)
		for (int d = 0; d < VG_FOLLOW_DEPTH; d++) {
			struct vg_proc *pp;

			if (!p || p == 1)
				break;
			if (vg_pid_listed(e, c, count, p)) {
				any = 1;
				break;
			}
			pp = bpf_map_lookup_elem(&vg_procs, &p);
			if (!pp)
				break;
			p = pp->ppid;
		}
	}
	return op == VG_SETOP_NOT_IN ? !any : any;
}

static __always_inline int vg_binary_in(struct vg_eval *e, __u8 match, __u32 set_id, const struct vg_proc *p)
{
	__u32 len = p ? p->binary_len : 0;
	const __u8 *bin = p ? (const __u8 *)p->binary : (const __u8 *)e->s->skey.bytes;

	if (len > VG_PATH_MAX - 1)
		len = VG_PATH_MAX - 1;
	if (match == VG_BIN_EXACT)
		return vg_str_in(e, set_id, bin, len);
	return vg_prefix_in(e, set_id, bin, len, match == VG_BIN_POSTFIX);
}

static __always_inline int vg_binaries_clause(struct vg_eval *e, const __u8 *c, int parent)
{
	__u8 op = c[1], flags = c[4], match = c[5];
	__u32 set_id = vg_c32(c, 8);
	struct vg_proc *p = e->proc;
	int any;

	if (parent) {
		__u32 ppid = p ? p->ppid : 0;

		p = ppid ? bpf_map_lookup_elem(&vg_procs, &ppid) : NULL;
	}
	if (!p)
		e->s->ev.flags |= VG_HOOKF_BINARY_UNKNOWN;
	any = vg_binary_in(e, match, set_id, p);
	if (!any && (flags & 1) && p) { /* followChildren: a matching ancestor */
		__u32 pp = p->ppid;

#pragma clang loop unroll(disable)
		for (int d = 0; d < VG_FOLLOW_DEPTH; d++) {
			struct vg_proc *q;

			if (!pp)
				break;
			q = bpf_map_lookup_elem(&vg_procs, &pp);
			if (!q)
				break;
			if (vg_binary_in(e, match, set_id, q)) {
				any = 1;
				break;
			}
			pp = q->ppid;
		}
	}
	return (op == VG_SETOP_NOT_IN || op == VG_SETOP_NOT_PREFIX || op == VG_SETOP_NOT_POSTFIX) ? !any : any;
}

static __always_inline __u32 vg_task_ns(struct task_struct *task, __u8 kind)
{
	struct nsproxy *ns = BPF_CORE_READ(task, nsproxy);

	switch (kind) {
	case VG_NS_UTS:
		return BPF_CORE_READ(ns, uts_ns, ns.inum);
	case VG_NS_IPC:
		return BPF_CORE_READ(ns, ipc_ns, ns.inum);
	case VG_NS_MNT:
		return BPF_CORE_READ(ns, mnt_ns, ns.inum);
	case VG_NS_PID: {
		struct pid *p = BPF_CORE_READ(task, thread_pid);
		unsigned int level = BPF_CORE_READ(p, level);
		struct upid up = {};

		if (level > 31)
			return 0;
		bpf_probe_read_kernel(&up, sizeof(up), &p->numbers[level]);
		return BPF_CORE_READ(up.ns, ns.inum);
	}
	case VG_NS_PID_FOR_CHILDREN:
		return BPF_CORE_READ(ns, pid_ns_for_children, ns.inum);
	case VG_NS_NET:
		return BPF_CORE_READ(ns, net_ns, ns.inum);
	case VG_NS_TIME:
		return BPF_CORE_READ(ns, time_ns, ns.inum);
	case VG_NS_TIME_FOR_CHILDREN:
		return BPF_CORE_READ(ns, time_ns_for_children, ns.inum);
	case VG_NS_CGROUP:
		return BPF_CORE_READ(ns, cgroup_ns, ns.inum);
	case VG_NS_USER:
		return BPF_CORE_READ(task, cred, user_ns, ns.inum);
	}
	return 0;
}

static __always_inline __u32 vg_host_ns_inum(__u8 kind)
{
	__u32 k = kind;
	__u32 *v = bpf_map_lookup_elem(&vg_host_ns, &k);

	if (v && *v)
		return *v;
	switch (kind) {
	case VG_NS_UTS:
		return VG_INIT_UTS_INO;
	case VG_NS_IPC:
		return VG_INIT_IPC_INO;
	case VG_NS_PID:
	case VG_NS_PID_FOR_CHILDREN:
		return VG_INIT_PID_INO;
	case VG_NS_TIME:
	case VG_NS_TIME_FOR_CHILDREN:
		return VG_INIT_TIME_INO;
	case VG_NS_CGROUP:
		return VG_INIT_CGROUP_INO;
	case VG_NS_USER:
		return VG_INIT_USER_INO;
	}
	return 0; /* mnt, net: only known when the sensor filled vg_host_ns */
}

static __always_inline int vg_namespaces_clause(struct vg_eval *e, const __u8 *c)
{
	__u8 op = c[1], kind = c[4], host = c[5];
	__u32 count = vg_c16(c, 6);
	__u32 inum = vg_task_ns((struct task_struct *)bpf_get_current_task(), kind);
	int any = 0;

	if (host) {
		__u32 h = vg_host_ns_inum(kind);

		any = h && inum == h;
	}
	if (!any)
		any = vg_vals_any(e, c, 8, count > VG_LIMIT_MAX_NAMESPACE_VALUES ? VG_LIMIT_MAX_NAMESPACE_VALUES : count, VG_VALS_EQ32, inum);
	return op == VG_SETOP_NOT_IN ? !any : any;
}

static __always_inline int vg_capabilities_clause(struct vg_eval *e, const __u8 *c)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	const struct cred *cred = BPF_CORE_READ(task, cred);
	__u8 op = c[1], set = c[4], flags = c[5];
	__u64 mask = *(const __u64 *)(c + 8);
	__u64 caps;
	int any;

	if ((flags & 1) && BPF_CORE_READ(cred, user_ns, ns.inum) == VG_INIT_USER_INO)
		return 0;
	if (set == VG_CAPSET_PERMITTED)
		caps = vg_cap_read(&cred->cap_permitted);
	else if (set == VG_CAPSET_INHERITABLE)
		caps = vg_cap_read(&cred->cap_inheritable);
	else
		caps = vg_cap_read(&cred->cap_effective);
	any = (caps & mask) != 0;
	return op == VG_SETOP_NOT_IN ? !any : any;
}

/* ---- the walk ---- */

/*
 * Evaluate the clause copied into s->clause (clen bytes): vg_arg_clause_g for arg / data / return_arg clauses,
 * vg_proc_clause_g for the process clauses. Global functions: each is checked once by the verifier, whatever the
 * state of its callers, and each keeps a small stack frame (6.1 limits the whole call chain to 512 bytes).
 * Return 1 when the clause matches.
 */
__attribute__((noinline)) int vg_arg_clause_g(__u32 gen, __u32 clen)
{
	struct vg_gen_scratch *s;
	struct vg_eval e = {};
	__u32 zero = 0;
	int ok;

	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s || clen < 4 || clen > VG_CLAUSE_BUF)
		return 0;
	e.s = s;
	e.gen = gen;
	ok = vg_arg_clause(&e, s->clause, clen);
	if (e.expr)
		s->expr = 1;
	return ok;
}

__attribute__((noinline)) int vg_proc_clause_g(__u32 gen)
{
	struct vg_gen_scratch *s;
	struct vg_eval e = {};
	__u32 zero = 0;
	__u8 *c;

	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s)
		return 0;
	e.s = s;
	e.gen = gen;
	e.tgid = s->tgid;
	e.proc = bpf_map_lookup_elem(&vg_procs, &e.tgid);
	c = s->clause;
	switch (c[0]) {
	case VG_CLAUSE_PIDS:
		return vg_pids_clause(&e, c);
	case VG_CLAUSE_BINARIES:
		return vg_binaries_clause(&e, c, 0);
	case VG_CLAUSE_PARENT_BINARIES:
		return vg_binaries_clause(&e, c, 1);
	case VG_CLAUSE_NAMESPACES:
		return vg_namespaces_clause(&e, c);
	case VG_CLAUSE_CAPABILITIES:
		return vg_capabilities_clause(&e, c);
	}
	/* namespace_changes, capability_changes, unknown kinds */
	vg_unsupported();
	return 0;
}

/* The bpf_loop context of the walk: only what cannot live in map memory (a pointer) and the generation. */
struct vg_walk {
	__u8 *prog;
	__u32 gen;
	__u32 _pad0;
};

/*
 * One step of the walk: starts the next selector, or evaluates one clause of the current one, or decides.
 * A single bpf_loop (not one per selector) keeps the call chain, and so the combined stack, short for 6.1.
 * The walk's counters live in the per-CPU scratch (s->walk), not in the loop context on the stack: 6.1 checks
 * a bpf_loop callback once, with the context's values as they are before the first call, and removes the
 * branches that this single pass did not reach as dead code — with the counters on the stack, "evaluate a
 * clause" and "decide" were never reached there and the walk found nothing at run time. The verifier does not
 * track map memory, so every branch stays.
 */
static long vg_walk_step(__u32 i, void *data)
{
	struct vg_walk *ctx = data;
	struct vg_walk_state *w;
	struct vg_gen_scratch *s;
	__u32 zero = 0, at, off, clen;
	__u8 *prog = ctx->prog;

	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s)
		return 1;
	w = &s->walk;
	if (!w->started) {
		if (w->sel >= w->count || w->sel >= VG_LIMIT_MAX_SELECTORS_PER_HOOK)
			return 1;
		w->at = 0;
		bpf_probe_read_kernel(&w->at, 4, prog + VG_PROG_HDR + 4 * (w->sel & 7));
		at = w->at;
		if (at + 20 > w->total)
			return 1;
		vg_bound(at, 4095);
		bpf_probe_read_kernel(&w->t_len, 4, prog + at);
		bpf_probe_read_kernel(&w->t_identity, 4, prog + at + 12);
		bpf_probe_read_kernel(&w->t_nclauses, 2, prog + at + 16);
		bpf_probe_read_kernel(&w->t_flags, 2, prog + at + 18);
		if (at + w->t_len > w->total || w->t_len < 20)
			return 1;
		if (w->t_identity && !vg_identity_match(w->t_identity, w->t_flags & 1)) {
			struct vg_generic_stats *st = vg_gstats();

			vg_count(st, identity_skip);
			w->sel++;
			return 0;
		}
		w->off = at + 20;
		w->end = at + w->t_len;
		w->left = w->t_nclauses;
		w->started = 1;
		s->expr = 0;
		return 0;
	}
	if (w->left == 0) {
		if (w->off == w->end) { /* every clause matched */
			w->selector = w->sel + 1;
			return 1;
		}
		w->sel++; /* more bytes than clauses: malformed, never matches */
		w->started = 0;
		return 0;
	}
	off = w->off;
	if (off + 4 > w->end)
		goto miss;
	vg_bound(off, 4095);
	w->t_clen = 0;
	bpf_probe_read_kernel(&w->t_clen, 2, prog + off + 2);
	clen = w->t_clen;
	if (clen < 4 || (clen & 3) || off + clen > w->end || clen > VG_CLAUSE_BUF)
		goto miss;
	vg_bound(clen, 4095);
	if (clen < 4)
		goto miss;
	bpf_probe_read_kernel(s->clause, clen, prog + off);
	w->off = off + clen;
	w->left--;
	if (s->clause[0] == VG_CLAUSE_ARG || s->clause[0] == VG_CLAUSE_DATA || s->clause[0] == VG_CLAUSE_RETURN_ARG) {
		if (vg_arg_clause_g(ctx->gen, clen))
			return 0;
	} else if (vg_proc_clause_g(ctx->gen)) {
		return 0;
	}
	/* the global call clobbered nothing of the walk: its state is in map memory */
miss:
	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s)
		return 1;
	s->walk.sel++;
	s->walk.started = 0;
	return 0;
}

/*
 * Runs hook_id's selector program of generation gen. Returns the 1-based deciding selector (0: none; -1: the
 * program has no selectors, i.e. every hit matches); s->sel_at and s->sel_expr describe the decision.
 */
__attribute__((noinline)) int vg_select_g(__u32 gen, __u32 hook_id)
{
	struct vg_walk ctx = { .gen = gen };
	struct vg_walk_state *w;
	struct vg_gen_scratch *s;
	__u32 zero = 0, key = hook_id;
	void *progs;

	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	progs = bpf_map_lookup_elem(&vg_sel_prog_o, &ctx.gen);
	if (!s || !progs)
		return 0;
	ctx.prog = bpf_map_lookup_elem(progs, &key);
	if (!ctx.prog)
		return 0;
	w = &s->walk;
	__builtin_memset(w, 0, sizeof(*w));
	bpf_probe_read_kernel(&w->t_identity, 4, ctx.prog); /* magic */
	bpf_probe_read_kernel(&w->t_clen, 4, ctx.prog + 4); /* grammar version, selector count */
	bpf_probe_read_kernel(&w->total, 4, ctx.prog + 8);
	s->sel_at = 0;
	s->sel_expr = 0;
	if (w->t_identity != VG_SEL_PROG_MAGIC || (w->t_clen & 0xffff) != VG_BUNDLE_GRAMMAR_VERSION)
		return 0;
	w->count = w->t_clen >> 16;
	if (w->total > VG_SEL_PROG_VALUE_SIZE)
		return 0;
	if (w->count == 0)
		return -1;
	bpf_loop(VG_LIMIT_MAX_SELECTORS_PER_HOOK * (VG_MAX_CLAUSES + 2), vg_walk_step, &ctx, vg_loop_flags);
	s = bpf_map_lookup_elem(&vg_gen_scratch, &zero);
	if (!s || !s->walk.selector)
		return 0;
	s->sel_at = s->walk.at;
	s->sel_expr = s->expr;
	return s->walk.selector;
}

#endif
