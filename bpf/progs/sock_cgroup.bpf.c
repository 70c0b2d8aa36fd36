/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Real network denial without kprobes or LSM: cgroup sock_addr programs (connect4/6 for every socket type,
 * sendmsg4/6 for unconnected UDP) look the destination up in the deny tries and return 0, which makes the
 * syscall fail with EPERM before any packet leaves. IPv4-mapped IPv6 destinations (::ffff:a.b.c.d) reach only
 * connect6/sendmsg6, so those are checked against the v4 trie. Attached on a cgroup they apply to its whole
 * subtree; tasks of exempt cgroups (the sensor's own) pass.
 */
#include "enforce.h"
#include <bpf/bpf_endian.h>

#define VG_AF_INET 2
#define VG_AF_INET6 10
#define VG_NET_MAX 16384

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

/* Returns the rule id + 1 of the first match of `rule` for (protocol, port), 0 when none matches. */
static __always_inline __u64 vg_net_match(const struct vg_net_rule *rule, __u32 protocol, __u32 port)
{
	__u32 n = rule->count;

#pragma unroll
	for (int i = 0; i < VG_NET_MATCH_MAX; i++) {
		const struct vg_net_match *m = &rule->match[i];

		if (i >= n)
			break;
		if (m->protocol && m->protocol != protocol)
			continue;
		if (port < m->port_lo || port > m->port_hi)
			continue;
		return (__u64)m->rule_id + 1;
	}
	return 0;
}

/*
 * 1: allow, 0: deny (EPERM). `v4` must be a constant: the v4 hooks may not read user_ip6 (the verifier refuses
 * the context access), so each hook gets only its own branch.
 */
static __always_inline int vg_sock_check(struct bpf_sock_addr *ctx, __u32 mech, const int v4)
{
	struct vg_enforce_stats *st = vg_enf_stats_get();
	struct vg_net_rule *rule;
	struct vg_enforce_event *e;
	__u32 protocol = ctx->protocol;
	__u32 port = bpf_ntohs((__u16)ctx->user_port);
	__u32 a[4] = {};
	__u64 hit, cgid;

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
	hit = vg_net_match(rule, protocol, port);
	if (!hit)
		return 1;
	cgid = bpf_get_current_cgroup_id();
	if (vg_cgroup_exempt(cgid)) {
		if (st)
			__sync_fetch_and_add(&st->exempt, 1);
		return 1;
	}
	if (st)
		__sync_fetch_and_add(&st->denied, 1);
	e = vg_enforce_reserve(mech, VG_ACTION_DENY, (__u32)(hit - 1), cgid);
	if (e) {
		e->family = v4 ? VG_AF_INET : VG_AF_INET6;
		e->protocol = protocol;
		e->port = port;
		__builtin_memcpy(e->addr, a, 16); /* a[1..3] are 0 for AF_INET */
		bpf_ringbuf_submit(e, 0);
	}
	return 0;
}

SEC("cgroup/connect4")
int vg_connect4(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_CONNECT4, 1);
}

SEC("cgroup/connect6")
int vg_connect6(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_CONNECT6, 0);
}

SEC("cgroup/sendmsg4")
int vg_sendmsg4(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_SENDMSG4, 1);
}

SEC("cgroup/sendmsg6")
int vg_sendmsg6(struct bpf_sock_addr *ctx)
{
	return vg_sock_check(ctx, VG_MECH_SENDMSG6, 0);
}
