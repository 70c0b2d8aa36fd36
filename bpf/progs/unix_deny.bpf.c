/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Unix-socket connect deny, for kernels without LSM BPF: cgroup/connect_unix (kernel >= 6.7) runs before
 * connect(2) to an AF_UNIX address resolves it; returning 0 makes the syscall fail with EPERM. The address is
 * judged as the caller passed it (struct vg_unix_key): a filesystem path up to its first NUL, an abstract name
 * (leading NUL) by its exact length. The path has not been resolved yet, so a relative path or a symlink that
 * reaches a denied socket is NOT denied (docs/enforcement-fallbacks.md); rules name absolute paths and abstract
 * names. Its own object: libbpf 1.1 does not know the section (the sensor sets the program type and attach type
 * before load) and older kernels have neither the attach type nor bpf_cast_to_kern_ctx.
 */
#include "enforce.h"

#define VG_AF_UNIX 1
#define VG_UNIX_MAX 4096
#define VG_SUN_PATH_OFF 2 /* offsetof(struct sockaddr_un, sun_path) */

char LICENSE[] SEC("license") = "Dual BSD/GPL";

extern void *bpf_cast_to_kern_ctx(void *obj) __ksym __weak;

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_UNIX_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vg_unix_key);
	__type(value, struct vg_file_rule);
} vg_unix_deny SEC(".maps");

/* The key under construction (112 bytes: off the stack budget of the helpers below). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_unix_key);
} vg_unix_tmp SEC(".maps");

SEC("cgroup/connect_unix")
int vg_connect_unix(struct bpf_sock_addr *ctx)
{
	struct bpf_sock_addr_kern *sa = bpf_cast_to_kern_ctx(ctx);
	struct vg_enforce_stats *st = vg_enf_stats_get();
	struct vg_file_rule *rule;
	struct vg_enforce_event *e;
	struct vg_unix_key *k;
	enum vg_verdict verdict;
	__u32 zero = 0, len, i;
	__u64 cgid;

	if (st)
		__sync_fetch_and_add(&st->checked, 1);
	k = bpf_map_lookup_elem(&vg_unix_tmp, &zero);
	if (!k)
		return 1;
	len = sa->uaddrlen;
	if (len <= VG_SUN_PATH_OFF)
		return 1;
	len -= VG_SUN_PATH_OFF;
	if (len > VG_UNIX_PATH_MAX)
		len = VG_UNIX_PATH_MAX;
	__builtin_memset(k, 0, sizeof(*k));
	if (bpf_probe_read_kernel(k->path, sizeof(k->path), (char *)sa->uaddr + VG_SUN_PATH_OFF))
		return 1;
	if (k->path[0]) {
		/* a filesystem path: up to its first NUL */
		for (i = 0; i < VG_UNIX_PATH_MAX; i++) {
			if (i >= len || !k->path[i])
				break;
		}
		len = i;
	}
	for (i = 0; i < VG_UNIX_PATH_MAX; i++) {
		if (i >= len)
			k->path[i] = 0;
	}
	k->len = len;
	rule = bpf_map_lookup_elem(&vg_unix_deny, k);
	if (!rule)
		return 1;
	cgid = bpf_get_current_cgroup_id();
	verdict = vg_rule_verdict(cgid, rule->identity_set_id, rule->flags & VG_RULE_HOST, rule->binary_set_id,
				  rule->flags & VG_RULE_MONITOR, 1);
	if (verdict == VG_VERDICT_PASS)
		return 1;
	e = vg_enforce_reserve(VG_MECH_CONNECT_UNIX, VG_ACTION_DENY, rule->rule_id, cgid, verdict);
	if (e) {
		e->family = VG_AF_UNIX;
		bpf_ringbuf_submit(e, 0);
	}
	return verdict == VG_VERDICT_MONITOR;
}
