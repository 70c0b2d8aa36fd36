/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Exec deny by SIGKILL, for kernels without LSM BPF: at sched_process_exec the new image is mapped but has not
 * run a single user instruction, so bpf_send_signal(SIGKILL) makes the exec end in a kill (wait status: signal
 * 9, shell exit 137). Files are matched by (inode, kernel dev_t), never by name: symlinks, hard links, relative
 * paths, /dev/fd/N and execveat(fd) all reach the same inode. For a `#!` script bprm->file is the interpreter
 * (checked here); the script's own file is released before this tracepoint (bprm->executable stays set only for
 * binfmt_misc's open-binary flag, also checked), so a denied script is caught where the interpreter opens it
 * (open kill) or by fanotify FAN_OPEN_EXEC_PERM. Credentials (setuid) are already committed here: the process
 * dies with them, before it can use them.
 *
 * matchBinaries (the binary that calls execve) cannot be read here: the caller's image is already replaced. On
 * kernels with sched_prepare_exec (>= 6.10), vg_exec_prepare records the caller's executable per exec'ing thread
 * just before the point of no return, and vg_exec_kill judges binary-scoped rules by that record; without it the
 * sensor leaves vg_exec_prepare unloaded and refuses binary-scoped exec rules. A rule whose caller is unknown is
 * never widened: it does not apply.
 */
#include "enforce.h"

#define VG_SIGKILL 9
#define VG_FILE_MAX 16384

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_FILE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vg_file_key);
	__type(value, struct vg_file_rule);
} vg_exec_deny SEC(".maps");

/* The executable of the thread that is exec'ing, by its pid before exec (old_pid at sched_process_exec). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct vg_bin_key);
} vg_exec_caller SEC(".maps");

SEC("tp_btf/sched_prepare_exec")
int BPF_PROG(vg_exec_prepare, struct task_struct *task, struct linux_binprm *bprm)
{
	struct mm_struct *mm = task->mm;
	struct vg_bin_key k = {};
	struct file *exe;
	__u32 tid = task->pid;

	if (!mm)
		return 0;
	exe = mm->exe_file;
	if (!exe)
		return 0;
	k.ino = exe->f_inode->i_ino;
	k.dev = exe->f_inode->i_sb->s_dev;
	bpf_map_update_elem(&vg_exec_caller, &tid, &k, BPF_ANY);
	return 0;
}

/* Whether the exec'ing thread's previous executable is in binary set `set_id` (0: every binary). */
static __always_inline int vg_exec_caller_in(__u32 old_pid, __u32 set_id)
{
	struct vg_bin_key *caller, k;

	if (!set_id)
		return 1;
	caller = bpf_map_lookup_elem(&vg_exec_caller, &old_pid);
	if (!caller)
		return 0;
	k = *caller;
	k.set_id = set_id;
	return bpf_map_lookup_elem(&vg_bin_set, &k) != NULL;
}

static __always_inline struct vg_file_rule *vg_file_lookup(struct file *f, struct vg_file_key *k)
{
	struct inode *inode;

	if (!f)
		return NULL;
	inode = f->f_inode;
	if (!inode)
		return NULL;
	k->ino = inode->i_ino;
	k->dev = inode->i_sb->s_dev;
	k->_pad0 = 0;
	return bpf_map_lookup_elem(&vg_exec_deny, k);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_exec_kill, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	struct vg_enforce_stats *st = vg_enf_stats_get();
	struct vg_file_key k = {};
	struct vg_file_rule *rule;
	struct vg_enforce_event *e;
	enum vg_verdict verdict;
	int in_set;
	__u64 cgid;

	if (st)
		__sync_fetch_and_add(&st->checked, 1);
	rule = vg_file_lookup(bprm->file, &k);
	if (!rule && bprm->executable && bprm->executable != bprm->file)
		rule = vg_file_lookup(bprm->executable, &k);
	if (!rule) {
		bpf_map_delete_elem(&vg_exec_caller, &old_pid);
		return 0;
	}
	/* exe_file is already the new image here: binary sets are judged by the caller recorded at prepare_exec */
	in_set = vg_exec_caller_in(old_pid, rule->binary_set_id);
	bpf_map_delete_elem(&vg_exec_caller, &old_pid);
	if (!in_set)
		return 0;
	cgid = bpf_get_current_cgroup_id();
	verdict = vg_rule_verdict(cgid, rule->identity_set_id, rule->flags & VG_RULE_HOST, 0, rule->flags & VG_RULE_MONITOR, 0);
	if (verdict == VG_VERDICT_PASS)
		return 0;
	/* The kill comes first: a full ring buffer must not switch enforcement off. */
	if (verdict == VG_VERDICT_ENFORCE)
		bpf_send_signal(VG_SIGKILL);
	e = vg_enforce_reserve(VG_MECH_EXEC_KILL, VG_ACTION_KILL, rule->rule_id, cgid, verdict);
	if (!e)
		return 0;
	e->ino = k.ino;
	e->dev = k.dev;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
