/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Test object of the persistence tests: one state map whose value layout depends on VG_TEST_SCHEMA (1: { a },
 * 2: { a, b }), so two builds differ in one map schema and the upgrade must migrate it. Built by the test with
 * -DVG_OBJECT_VERSION=N -DVG_TEST_SCHEMA=M; not part of the shipped objects.
 */
#include "common.h"
#include "output.h"

#ifndef VG_TEST_SCHEMA
#define VG_TEST_SCHEMA 1
#endif

char LICENSE[] SEC("license") = "GPL";

struct vg_test_v1 {
	__u64 a;
};

struct vg_test_v2 {
	__u64 a;
	__u64 b;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
#if VG_TEST_SCHEMA == 1
	__type(value, struct vg_test_v1);
#else
	__type(value, struct vg_test_v2);
#endif
} vg_test_state SEC(".maps");

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_test_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	__u32 k = p->tgid;
#if VG_TEST_SCHEMA == 1
	struct vg_test_v1 *v = bpf_map_lookup_elem(&vg_test_state, &k);
#else
	struct vg_test_v2 *v = bpf_map_lookup_elem(&vg_test_state, &k);
#endif

	if (v)
		__sync_fetch_and_add(&v->a, 1);
	return 0;
}
