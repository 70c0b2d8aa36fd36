/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The pinned per-process map: tgid -> identity (exec ktime, parent, binary). Written at exec and fork, removed at
 * the exit of a process's last thread, seeded at start for processes that were already running. Enforcement
 * programs read it for matchBinaries; the sensor reads it to keep exec_id stable across its own restarts.
 */
#ifndef VIGIL_LIB_PROCESS_H
#define VIGIL_LIB_PROCESS_H

#include "common.h"

#define VG_PROCS_MAX 65536

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_PROCS_MAX);
	__type(key, __u32);
	__type(value, struct vg_proc);
} vg_procs SEC(".maps");

/* Scratch for building a vg_proc value off the 512-byte stack. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_proc);
} vg_proc_tmp SEC(".maps");

static __always_inline struct vg_proc *vg_proc_tmp_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_proc_tmp, &zero);
}

/* Identity time of a process: its vg_procs entry when it has one, else its start time as the kernel records it. */
static __always_inline __u64 vg_proc_ktime(struct task_struct *task, __u32 tgid)
{
	struct vg_proc *p = bpf_map_lookup_elem(&vg_procs, &tgid);

	if (p)
		return p->exec_ktime;
	return BPF_CORE_READ(task, group_leader, start_time);
}

#endif
