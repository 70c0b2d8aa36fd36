// SPDX-License-Identifier: GPL-2.0-only
/*
 * Process lifecycle: exec, fork and exit, on BTF tracepoints (no kprobes needed), plus a task iterator that seeds
 * vg_procs for processes already running when the sensor starts.
 *
 * exec_id stability: a process's identity time is bpf_ktime_get_ns() at its exec (kept in the pinned vg_procs),
 * or its task start_time for processes that were forked but not exec'd or were running before Vigil. Both come
 * from the kernel, so a restarted sensor derives the same exec_id for the same process.
 *
 * Exactly one exit per process: sched_process_exit fires for every thread, and the group leader can exit before
 * the others. Only a thread that sees signal->live at zero may be the last one; several can see that at once, so
 * the one whose delete of the vg_procs entry succeeds emits the exit.
 */
#include "common.h"
#include "output.h"
#include "path.h"
#include "process.h"

char LICENSE[] SEC("license") = "GPL";

/* Makes every ABI type appear in this object's BTF, for the layout check against the sensor's definitions. */
struct vg_abi_types {
	struct vg_event_hdr hdr;
	struct vg_exec_event exec;
	struct vg_exit_event exit;
	struct vg_fork_event fork;
	struct vg_proc proc;
	struct vg_stats stats;
	enum vg_event_type type;
	enum vg_proc_flags flags;
};
struct vg_abi_types vg_abi_types_anchor SEC(".data.abi");

static __always_inline void vg_fill_creds(struct vg_exec_event *e, struct task_struct *task)
{
	const struct cred *cred = BPF_CORE_READ(task, real_cred);

	e->uid = BPF_CORE_READ(cred, uid.val);
	e->euid = BPF_CORE_READ(cred, euid.val);
	e->gid = BPF_CORE_READ(cred, gid.val);
	e->egid = BPF_CORE_READ(cred, egid.val);
	e->auid = BPF_CORE_READ(task, loginuid.val);
}

static __always_inline void vg_fill_args(struct vg_exec_event *e, struct task_struct *task)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	unsigned long start = BPF_CORE_READ(mm, arg_start);
	unsigned long end = BPF_CORE_READ(mm, arg_end);
	__u64 len = end - start;

	if (end <= start) {
		e->args_len = 0;
		return;
	}
	if (len > VG_ARGS_MAX - 1) {
		len = VG_ARGS_MAX - 1;
		e->flags |= VG_PROC_TRUNC_ARGS;
	}
	vg_bound(len, 1023);
	if (bpf_probe_read_user(e->args, len, (void *)start)) {
		e->flags |= VG_PROC_ERR_ARGS;
		e->args_len = 0;
		return;
	}
	e->args_len = len;
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_exec, struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vg_scratch *s = vg_scratch_get();
	struct vg_path_result pr = {};
	struct vg_exec_event *e;
	struct vg_stats *st;
	struct vg_proc *p;
	struct file *file;
	struct fs_struct *fs;
	__u32 tgid, ppid;
	__u64 now;

	p = vg_proc_tmp_get();
	if (!s || !p)
		return 0;
	now = bpf_ktime_get_ns();
	tgid = BPF_CORE_READ(task, tgid);
	ppid = BPF_CORE_READ(task, real_parent, tgid);

	/* The per-process entry first: enforcement must not depend on the ring buffer having room. */
	p->exec_ktime = now;
	p->ppid = ppid;
	p->parent_ktime = vg_proc_ktime(BPF_CORE_READ(task, real_parent), ppid);
	p->flags = VG_PROC_EXECVE;
	p->_pad0 = 0;
	file = BPF_CORE_READ(bprm, file);
	if (!vg_path_walk(&file->f_path, s, &pr))
		p->binary_len = vg_path_copy(p->binary, s, &pr, &p->flags, VG_PROC_TRUNC_BINARY);
	else {
		p->flags |= VG_PROC_ERR_BINARY;
		p->binary_len = 0;
	}
	if (bpf_map_update_elem(&vg_procs, &tgid, p, BPF_ANY)) {
		st = vg_stats_get();
		if (st)
			__sync_fetch_and_add(&st->proc_update_fail, 1);
	}

	/*
	 * Reserved only now, with no early return until submit: older verifiers (6.1) lose track of a reservation
	 * held across a NULL check of another pointer and reject the program.
	 */
	e = vg_event_reserve(VG_EVENT_EXEC, sizeof(*e));
	if (!e)
		return 0;
	e->hdr.ktime = now; /* the exec's time: the event's time and its identity time are one */
	e->pid = tgid;
	e->tid = BPF_CORE_READ(task, pid);
	e->ppid = ppid;
	e->flags = p->flags;
	e->exec_ktime = now;
	e->parent_ktime = p->parent_ktime;
	e->cgroup_id = bpf_get_current_cgroup_id();
	vg_fill_creds(e, task);
	e->binary_len = p->binary_len;
	e->_pad1 = 0;
	e->_pad2 = 0;
	bpf_probe_read_kernel(e->binary, sizeof(e->binary), p->binary);
	vg_fill_args(e, task);

	fs = BPF_CORE_READ(task, fs);
	if (!vg_path_walk(&fs->pwd, s, &pr)) {
		__u32 f = 0;

		e->cwd_len = vg_path_copy(e->cwd, s, &pr, &f, VG_PROC_TRUNC_CWD);
		e->flags |= f;
	} else {
		e->flags |= VG_PROC_ERR_CWD;
		e->cwd_len = 0;
	}
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * Fork and exit run for every process on the node, so they read task fields directly (tp_btf arguments are
 * BTF pointers: plain loads, CO-RE relocated) instead of through bpf_probe_read_kernel calls.
 */
SEC("tp_btf/sched_process_fork")
int BPF_PROG(vg_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 tgid = child->tgid;
	__u32 ptgid = parent->tgid;
	struct vg_fork_event *e;
	struct vg_proc *pp, *p;

	if (tgid != child->pid)
		return 0; /* a new thread, not a new process */
	p = vg_proc_tmp_get();
	if (!p)
		return 0;
	pp = bpf_map_lookup_elem(&vg_procs, &ptgid);
	p->exec_ktime = child->start_time;
	p->ppid = ptgid;
	p->_pad0 = 0;
	if (pp) {
		p->parent_ktime = pp->exec_ktime;
		p->binary_len = pp->binary_len;
		p->flags = VG_PROC_CLONE | (pp->flags & VG_PROC_TRUNC_BINARY);
		bpf_probe_read_kernel(p->binary, sizeof(p->binary), pp->binary);
	} else {
		p->parent_ktime = parent->group_leader->start_time;
		p->binary_len = 0;
		p->flags = VG_PROC_CLONE | VG_PROC_ERR_BINARY;
		p->binary[0] = 0;
	}
	if (bpf_map_update_elem(&vg_procs, &tgid, p, BPF_ANY)) {
		struct vg_stats *st = vg_stats_get();

		if (st)
			__sync_fetch_and_add(&st->proc_update_fail, 1);
	}
	e = vg_event_reserve(VG_EVENT_FORK, sizeof(*e));
	if (!e)
		return 0;
	e->pid = tgid;
	e->ppid = ptgid;
	e->exec_ktime = p->exec_ktime;
	e->parent_ktime = p->parent_ktime;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(vg_exit, struct task_struct *task)
{
	struct signal_struct *sig = task->signal;
	__u32 tgid = task->tgid;
	struct vg_exit_event *e;
	struct vg_proc *p;
	__u64 ktime;
	__u32 code;

	if (task->flags & VG_PF_KTHREAD)
		return 0;
	if (sig->live.counter != 0)
		return 0; /* other threads of this process are still running */
	p = bpf_map_lookup_elem(&vg_procs, &tgid);
	if (!p) {
		struct vg_stats *st = vg_stats_get();

		if (st)
			__sync_fetch_and_add(&st->exit_untracked, 1);
		return 0;
	}
	ktime = p->exec_ktime;
	if (bpf_map_delete_elem(&vg_procs, &tgid))
		return 0; /* another thread of this process won the race and reports the exit */
	if (sig->flags & VG_SIGNAL_GROUP_EXIT)
		code = sig->group_exit_code;
	else
		code = task->exit_code;
	e = vg_event_reserve(VG_EVENT_EXIT, sizeof(*e));
	if (!e)
		return 0;
	e->pid = tgid;
	e->tid = task->pid;
	e->exec_ktime = ktime;
	e->exit_code = code;
	e->flags = 0;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

/*
 * Seeds vg_procs for processes running before the sensor: one entry per thread-group leader that has none yet
 * (entries left by an earlier sensor run are kept, so exec_ids stay the same). Writes each seeded tgid to the
 * iterator's output so the sensor can tell how many were added.
 */
SEC("iter/task")
int vg_seed_tasks(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	struct vg_scratch *s;
	struct vg_path_result pr = {};
	struct vg_proc *p;
	struct mm_struct *mm;
	struct file *exe;
	__u32 tgid, ppid;

	if (!task)
		return 0;
	tgid = task->tgid;
	if (tgid != task->pid || (task->flags & VG_PF_KTHREAD))
		return 0;
	if (bpf_map_lookup_elem(&vg_procs, &tgid))
		return 0;
	p = vg_proc_tmp_get();
	s = vg_scratch_get();
	if (!p || !s)
		return 0;
	ppid = BPF_CORE_READ(task, real_parent, tgid);
	p->exec_ktime = task->start_time;
	p->ppid = ppid;
	p->parent_ktime = vg_proc_ktime(BPF_CORE_READ(task, real_parent), ppid);
	p->flags = VG_PROC_PROCFS;
	p->_pad0 = 0;
	p->binary_len = 0;
	mm = task->mm;
	exe = BPF_CORE_READ(mm, exe_file);
	if (exe && !vg_path_walk(&exe->f_path, s, &pr))
		p->binary_len = vg_path_copy(p->binary, s, &pr, &p->flags, VG_PROC_TRUNC_BINARY);
	else
		p->flags |= VG_PROC_ERR_BINARY;
	if (bpf_map_update_elem(&vg_procs, &tgid, p, BPF_NOEXIST) == 0)
		bpf_seq_write(seq, &tgid, sizeof(tgid));
	return 0;
}
