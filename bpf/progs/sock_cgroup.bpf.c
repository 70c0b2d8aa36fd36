/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Real network denial without kprobes or LSM: cgroup sock_addr programs (connect4/6 for every socket type,
 * sendmsg4/6 for unconnected UDP) look the destination up in the deny tries and return 0, which makes the
 * syscall fail with EPERM before any packet leaves. IPv4-mapped IPv6 destinations (::ffff:a.b.c.d) reach only
 * connect6/sendmsg6, so those are checked against the v4 trie. Attached on a cgroup they apply to its whole
 * subtree; tasks of exempt cgroups (the sensor's own) pass.
 *
 * A Sigkill action (VG_NET_KILL) cannot be carried out here (cgroup programs cannot send signals): the hook denies,
 * records the calling thread in vg_conn_kill, and vg_conn_exit (tp_btf/sys_exit, attached only when some rule
 * kills) sends SIGKILL when that thread leaves the connect/send syscall.
 */
#include "enforce.h"
#include <bpf/bpf_endian.h>

#define VG_AF_INET 2
#define VG_AF_INET6 10
#define VG_NET_MAX 16384
#define VG_SIGKILL 9
#define VG_TS_COMPAT 0x0002
/* Whether these cgroup programs can read the calling task (bpf_get_current_task_btf) for matchBinaries. */
#define VG_SOCK_BINARIES 1

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VG_NET_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vg_net_key4);
	__type(value, struct vg_net_rule);
} vg_net_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, VG_NET_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vg_net_key6);
	__type(value, struct vg_net_rule);
} vg_net_v6 SEC(".maps");

/* Socket creation deny set: (family, type, protocol) with 0 as a wildcard for protocol, or type and protocol. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 256);
	__type(key, struct vg_sock_key);
	__type(value, struct vg_file_rule);
} vg_sock_deny SEC(".maps");

/* Threads to kill at the exit of their connect/send syscall: pid_tgid → rule id. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} vg_conn_kill SEC(".maps");

/*
 * Returns the index + 1 of the first match of `rule` for (protocol, port) whose rule applies to the current task,
 * with its verdict in *verdict; 0 when none does. Enforcing matches come before monitor-mode ones (net-rules.ts
 * orders them), so an enforcing rule wins over a monitoring one for the same destination.
 */
static __always_inline __u32 vg_net_match(const struct vg_net_rule *rule, __u32 protocol, __u32 port, const __u8 bind, __u64 cgid,
					  enum vg_verdict *verdict)
{
	__u32 n = rule->count;

#pragma unroll
	for (int i = 0; i < VG_NET_MATCH_MAX; i++) {
		const struct vg_net_match *m = &rule->match[i];
		enum vg_verdict v;

		if (i >= n)
			break;
		if (!!(m->flags & VG_NET_BIND) != bind)
			continue;
		if (m->protocol && m->protocol != protocol)
			continue;
		if (port < m->port_lo || port > m->port_hi)
			continue;
		v = vg_rule_verdict(cgid, m->identity_set_id, m->flags & VG_NET_HOST, m->binary_set_id, m->flags & VG_NET_MONITOR,
				    VG_SOCK_BINARIES);
		if (v == VG_VERDICT_PASS)
			continue;
		*verdict = v;
		return i + 1;
	}
	return 0;
}

/*
 * 1: allow, 0: deny (EPERM). `v4` must be a constant: the v4 hooks may not read user_ip6 (the verifier refuses
 * the context access), so each hook gets only its own branch.
 */
static __always_inline int vg_sock_check(struct bpf_sock_addr *ctx, __u32 mech, const int v4, const __u8 bind)
{
	struct vg_enforce_stats *st = vg_enf_stats_get();
	struct vg_net_rule *rule;
	struct vg_enforce_event *e;
	__u32 protocol = ctx->protocol;
	__u32 port = bpf_ntohs((__u16)ctx->user_port);
	const struct vg_net_match *m;
	enum vg_verdict verdict = VG_VERDICT_PASS;
	__u32 a[4] = {};
	__u64 cgid, id;
	__u32 hit, rule_id, action;

	if (st)
		__sync_fetch_and_add(&st->checked, 1);
	if (v4) {
		struct vg_net_key4 k = { .prefixlen = 32 };

		a[0] = ctx->user_ip4;
		__builtin_memcpy(k.addr, &a[0], 4);
		rule = bpf_map_lookup_elem(&vg_net_v4, &k);
	} else {
		a[0] = ctx->user_ip6[0];
		a[1] = ctx->user_ip6[1];
		a[2] = ctx->user_ip6[2];
		a[3] = ctx->user_ip6[3];
		if (a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0x0000ffff)) {
			struct vg_net_key4 k = { .prefixlen = 32 };

			__builtin_memcpy(k.addr, &a[3], 4);
			rule = bpf_map_lookup_elem(&vg_net_v4, &k);
		} else {
			struct vg_net_key6 k = { .prefixlen = 128 };

			__builtin_memcpy(k.addr, a, 16);
			rule = bpf_map_lookup_elem(&vg_net_v6, &k);
		}
	}
	if (!rule)
		return 1;
	cgid = bpf_get_current_cgroup_id();
	hit = vg_net_match(rule, protocol, port, bind, cgid, &verdict);
	if (!hit || hit > VG_NET_MATCH_MAX)
		return 1;
	m = &rule->match[hit - 1];
	rule_id = m->rule_id;
	action = VG_ACTION_DENY;
	if (m->flags & VG_NET_KILL) {
		action = VG_ACTION_DENY_KILL;
		if (verdict == VG_VERDICT_ENFORCE) {
			id = bpf_get_current_pid_tgid();
			bpf_map_update_elem(&vg_conn_kill, &id, &rule_id, BPF_ANY);
		}
	}
	e = vg_enforce_reserve(mech, action, rule_id, cgid, verdict);
	if (e) {
		e->family = v4 ? VG_AF_INET : VG_AF_INET6;
		e->protocol = protocol;
		e->port = port;
		__builtin_memcpy(e->addr, a, 16); /* a[1..3] are 0 for AF_INET */
		bpf_ringbuf_submit(e, 0);
	}
	return verdict == VG_VERDICT_MONITOR;
}

SEC("cgroup/connect4")
int vg_connect4(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_CONNECT4, 1, 0);
}

SEC("cgroup/connect6")
int vg_connect6(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_CONNECT6, 0, 0);
}

SEC("cgroup/sendmsg4")
int vg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_SENDMSG4, 1, 0);
}

SEC("cgroup/sendmsg6")
int vg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_SENDMSG6, 0, 0);
}

/* bind(2): the local address and port; rules flagged VG_NET_BIND only. */
SEC("cgroup/bind4")
int vg_bind4(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_BIND4, 1, 1);
}

SEC("cgroup/bind6")
int vg_bind6(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_BIND6, 0, 1);
}

/* socket(2) in a scoped cgroup: 1 allow, 0 deny (EPERM). sock_create sees only the family, type and protocol. */
SEC("cgroup/sock_create")
int vg_sock_create(struct bpf_sock *sk)
{
	struct vg_enforce_stats *st = vg_enf_stats_get();
	struct vg_sock_key k = { .family = sk->family, .type = sk->type, .protocol = sk->protocol };
	struct vg_file_rule *rule;
	struct vg_enforce_event *e;
	enum vg_verdict verdict;
	__u64 cgid;

	if (st)
		__sync_fetch_and_add(&st->checked, 1);
	rule = bpf_map_lookup_elem(&vg_sock_deny, &k);
	if (!rule) {
		k.protocol = 0;
		rule = bpf_map_lookup_elem(&vg_sock_deny, &k);
	}
	if (!rule) {
		k.type = 0;
		rule = bpf_map_lookup_elem(&vg_sock_deny, &k);
	}
	if (!rule)
		return 1;
	cgid = bpf_get_current_cgroup_id();
	verdict = vg_rule_verdict(cgid, rule->identity_set_id, rule->flags & VG_RULE_HOST, rule->binary_set_id,
				  rule->flags & VG_RULE_MONITOR, VG_SOCK_BINARIES);
	if (verdict == VG_VERDICT_PASS)
		return 1;
	e = vg_enforce_reserve(VG_MECH_SOCK_CREATE, VG_ACTION_DENY, rule->rule_id, cgid, verdict);
	if (e) {
		e->family = sk->family;
		e->protocol = sk->protocol;
		bpf_ringbuf_submit(e, 0);
	}
	return verdict == VG_VERDICT_MONITOR;
}

/* connect, sendto, sendmsg, sendmmsg, bind (x86_64); socketcall, connect, sendto, sendmsg, sendmmsg, bind (ia32). */
static __always_inline int vg_is_net_nr(long nr, int compat)
{
	if (compat)
		return nr == 102 || nr == 362 || nr == 369 || nr == 370 || nr == 345 || nr == 361;
	return nr == 42 || nr == 44 || nr == 46 || nr == 307 || nr == 49;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_conn_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 id;

	if (!vg_is_net_nr(regs->orig_ax, task->thread_info.status & VG_TS_COMPAT))
		return 0;
	id = bpf_get_current_pid_tgid();
	if (!bpf_map_lookup_elem(&vg_conn_kill, &id))
		return 0;
	bpf_map_delete_elem(&vg_conn_kill, &id);
	bpf_send_signal(VG_SIGKILL);
	return 0;
}
