/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Shared pieces of the enforcement programs: the exempt-cgroup set (the sensor's own cgroup, so a rule can never
 * deny or kill the sensor), per-CPU decision counters, and the decision record. The decision is taken before any
 * ring-buffer space is reserved: a full ring buffer loses the record (counted in emit_fail), never the decision.
 */
#ifndef VIGIL_LIB_ENFORCE_H
#define VIGIL_LIB_ENFORCE_H

#include "common.h"
#include "output.h"
#include "abi/enforce.h"
#include "identity.h"

#define VG_EXEMPT_MAX 64
#define VG_TARGET_MAX 1024
#define VG_CG_DEPTH 16 /* cgroup levels searched for a target ancestor */
#define VG_BIN_MAX 16384 /* (set, executable) pairs of matchBinaries */

/* Makes every enforcement ABI type appear in the including object's BTF, for the layout check. */
struct vg_enforce_abi_types {
	struct vg_net_key4 key4;
	struct vg_net_key6 key6;
	struct vg_net_rule rule;
	struct vg_sock_key sock_key;
	struct vg_file_key file_key;
	struct vg_file_rule file_rule;
	struct vg_bin_key bin_key;
	struct vg_unix_key unix_key;
	struct vg_uring_rules uring_rules;
	struct vg_enforce_event event;
	struct vg_enforce_stats stats;
	struct vg_enforce_cfg cfg;
	enum vg_enforce_event_type type;
	enum vg_enforce_mech mech;
	enum vg_enforce_action action;
	enum vg_net_flags net_flags;
	enum vg_rule_flags rule_flags;
	enum vg_decision_flags decision_flags;
};
struct vg_enforce_abi_types vg_enforce_abi_anchor SEC(".data.abi");

/* cgroup v2 ids whose tasks no rule applies to (key: cgroup id, value: unused). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_EXEMPT_MAX);
	__type(key, __u64);
	__type(value, __u8);
} vg_exempt_cg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_enforce_stats);
} vg_enf_stats SEC(".maps");

/* Scope: when vg_enf_cfg.targeted, rules apply only to tasks whose cgroup or an ancestor is in vg_target_cg. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_TARGET_MAX);
	__type(key, __u64);
	__type(value, __u8);
} vg_target_cg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_enforce_cfg);
} vg_enf_cfg SEC(".maps");

/* matchBinaries by identity: (executable inode, kernel dev_t, set id) of every binary a rule's set names. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_BIN_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vg_bin_key);
	__type(value, __u8);
} vg_bin_set SEC(".maps");

static __always_inline struct vg_enforce_stats *vg_enf_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_enf_stats, &zero);
}

static __always_inline int vg_cgroup_exempt(__u64 cgid)
{
	return bpf_map_lookup_elem(&vg_exempt_cg, &cgid) != NULL;
}

/*
 * Whether the current task is in scope: always when targeting is off; otherwise when its cgroup or one of its
 * first VG_CG_DEPTH ancestors is a target (a pod's cgroup covers its containers' cgroups below it).
 */
static __always_inline int vg_cgroup_targeted(void)
{
	__u32 zero = 0;
	struct vg_enforce_cfg *cfg = bpf_map_lookup_elem(&vg_enf_cfg, &zero);

	if (!cfg || !cfg->targeted)
		return 1;
	for (int level = 0; level < VG_CG_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (!id)
			break;
		if (bpf_map_lookup_elem(&vg_target_cg, &id))
			return 1;
	}
	return 0;
}

/*
 * Whether the current task's executable (mm->exe_file: for a `#!` script, its interpreter) is in binary set
 * `set_id`; set 0 matches every task. Kernel threads (no mm) match no set. Tracing programs only
 * (bpf_get_current_task_btf).
 */
static __always_inline int vg_binary_match(__u32 set_id)
{
	struct task_struct *task;
	struct mm_struct *mm;
	struct file *exe;
	struct vg_bin_key k = {};

	if (!set_id)
		return 1;
	task = bpf_get_current_task_btf();
	mm = task->mm;
	if (!mm)
		return 0;
	exe = mm->exe_file;
	if (!exe)
		return 0;
	k.ino = exe->f_inode->i_ino;
	k.dev = exe->f_inode->i_sb->s_dev;
	k.set_id = set_id;
	return bpf_map_lookup_elem(&vg_bin_set, &k) != NULL;
}

/* Outcome of a matched rule for the current task. */
enum vg_verdict {
	VG_VERDICT_PASS = 0, /* exempt or out of the rule's scope: nothing happens */
	VG_VERDICT_ENFORCE = 1, /* deny / kill */
	VG_VERDICT_MONITOR = 2, /* monitor mode: record what would be done, do nothing */
};

/*
 * Scope checks of a matched rule, cheapest first: the exempt cgroups (the sensor), the unit's target cgroups, the
 * rule's identity set (pods/containers), its binary set (matchBinaries; `binaries_ok` is 0 in program types that
 * cannot read the current task, whose rules never carry a binary set), then the rule's mode. Counts exempt,
 * denied and monitored.
 */
static __always_inline enum vg_verdict vg_rule_verdict(__u64 cgid, __u32 identity_set, int host, __u32 binary_set, int monitor,
						       const int binaries_ok)
{
	struct vg_enforce_stats *st = vg_enf_stats_get();

	if (vg_cgroup_exempt(cgid)) {
		if (st)
			__sync_fetch_and_add(&st->exempt, 1);
		return VG_VERDICT_PASS;
	}
	if (!vg_cgroup_targeted())
		return VG_VERDICT_PASS;
	if (!vg_identity_match(identity_set, host))
		return VG_VERDICT_PASS;
	if (binary_set && (!binaries_ok || !vg_binary_match(binary_set)))
		return VG_VERDICT_PASS; /* a rule this program cannot scope by binary is never widened to every binary */
	if (monitor) {
		if (st)
			__sync_fetch_and_add(&st->monitored, 1);
		return VG_VERDICT_MONITOR;
	}
	if (st)
		__sync_fetch_and_add(&st->denied, 1);
	return VG_VERDICT_ENFORCE;
}

/* Reserves a decision record with the task fields filled, or counts the loss and returns NULL. */
static __always_inline struct vg_enforce_event *vg_enforce_reserve(__u32 mech, __u32 action, __u32 rule_id, __u64 cgid,
								  enum vg_verdict verdict)
{
	struct vg_enforce_stats *st = vg_enf_stats_get();
	struct vg_enforce_event *e;
	__u64 id = bpf_get_current_pid_tgid();

	e = vg_event_reserve(VG_EVENT_ENFORCE, sizeof(*e));
	if (!e) {
		if (st)
			__sync_fetch_and_add(&st->emit_fail, 1);
		return NULL;
	}
	__builtin_memset(&e->pid, 0, sizeof(*e) - sizeof(e->hdr));
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->cgroup_id = cgid;
	e->mechanism = mech;
	e->action = action;
	e->rule_id = rule_id;
	e->flags = verdict == VG_VERDICT_MONITOR ? VG_DECISION_MONITOR : 0;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	return e;
}

#endif
