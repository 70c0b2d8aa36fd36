/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * io_uring deny by SIGKILL (policy option deny-io-uring), for kernels without LSM BPF: io_uring operations
 * (IORING_OP_OPENAT, CONNECT, …) never pass sys_exit, so the open kill cannot see them. tp_btf/io_uring_create
 * runs inside io_uring_setup(2) once the ring exists; a process the deny list covers gets SIGKILL there and dies
 * before io_uring_setup returns to user space, so it never submits to the ring. Only the ring's creation pays: no
 * other syscall runs this program. Kill-after-effect, like the open kill: the ring fd is already in the fd table,
 * and another thread of the process could guess it and submit before the kill lands (the signal targets the
 * whole thread group at once). There is no per-process EPERM here: kernel.io_uring_disabled is global and
 * kernel.io_uring_group is an allow-list by group id, not by process.
 */
#include "enforce.h"

#define VG_SIGKILL 9

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_uring_rules);
} vg_uring_deny SEC(".maps");

SEC("tp_btf/io_uring_create")
int BPF_PROG(vg_uring_create, int fd, void *ring, __u32 sq_entries, __u32 cq_entries, __u32 flags)
{
	struct vg_enforce_stats *st = vg_enf_stats_get();
	enum vg_verdict verdict = VG_VERDICT_PASS;
	struct vg_enforce_event *e;
	struct vg_uring_rules *rules;
	__u32 zero = 0, rule_id = 0;
	__u64 cgid;

	rules = bpf_map_lookup_elem(&vg_uring_deny, &zero);
	if (!rules || !rules->count)
		return 0;
	if (st)
		__sync_fetch_and_add(&st->checked, 1);
	cgid = bpf_get_current_cgroup_id();
	if (vg_cgroup_exempt(cgid)) {
		if (st)
			__sync_fetch_and_add(&st->exempt, 1);
		return 0;
	}
	for (int i = 0; i < VG_URING_RULES_MAX; i++) {
		struct vg_file_rule *r = &rules->rule[i];

		if (i >= rules->count)
			break;
		verdict = vg_rule_verdict(cgid, r->identity_set_id, r->flags & VG_RULE_HOST, r->binary_set_id,
					  r->flags & VG_RULE_MONITOR, 1);
		if (verdict != VG_VERDICT_PASS) {
			rule_id = r->rule_id;
			break;
		}
	}
	if (verdict == VG_VERDICT_PASS)
		return 0;
	/* The kill comes first: a full ring buffer must not switch enforcement off. */
	if (verdict == VG_VERDICT_ENFORCE)
		bpf_send_signal(VG_SIGKILL);
	e = vg_enforce_reserve(VG_MECH_URING_KILL, VG_ACTION_KILL, rule_id, cgid, verdict);
	if (e)
		bpf_ringbuf_submit(e, 0);
	return 0;
}
