/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Open deny by SIGKILL at syscall exit, for kernels without LSM BPF: after a successful open syscall (openat,
 * openat2, open, creat, open_by_handle_at, and their ia32 numbers) the new fd's file is looked up by (inode,
 * kernel dev_t) and a denied open kills the caller before it returns to user space. This is kill-after-open: the
 * file was opened (O_TRUNC has already truncated, O_CREAT created), and another thread of the process could use
 * the fd before the kill lands. The kill is sent before any ring-buffer space is reserved, so a full ring buffer
 * cannot switch it off. io_uring opens never pass sys_exit (docs/enforcement-fallbacks.md).
 */
#include "enforce.h"

#define VG_SIGKILL 9
#define VG_FILE_MAX 16384
#define VG_TS_COMPAT 0x0002 /* arch/x86/include/asm/thread_info.h: ia32 syscall in progress */

/* x86_64 */
#define VG_NR_OPEN 2
#define VG_NR_CREAT 85
#define VG_NR_OPENAT 257
#define VG_NR_OPEN_BY_HANDLE_AT 304
#define VG_NR_OPENAT2 437
/* ia32 */
#define VG_NR32_OPEN 5
#define VG_NR32_CREAT 8
#define VG_NR32_OPENAT 295
#define VG_NR32_OPEN_BY_HANDLE_AT 342
#define VG_NR32_OPENAT2 437

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_FILE_MAX);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct vg_file_key);
	__type(value, struct vg_file_rule);
} vg_open_deny SEC(".maps");

static __always_inline int vg_is_open_nr(long nr, int compat)
{
	if (compat)
		return nr == VG_NR32_OPENAT || nr == VG_NR32_OPEN || nr == VG_NR32_OPENAT2 || nr == VG_NR32_CREAT ||
		       nr == VG_NR32_OPEN_BY_HANDLE_AT;
	return nr == VG_NR_OPENAT || nr == VG_NR_OPEN || nr == VG_NR_OPENAT2 || nr == VG_NR_CREAT ||
	       nr == VG_NR_OPEN_BY_HANDLE_AT;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_open_exit, struct pt_regs *regs, long ret)
{
	struct task_struct *task;
	struct vg_enforce_stats *st;
	struct vg_file_key k = {};
	struct vg_file_rule *rule;
	struct vg_enforce_event *e;
	struct fdtable *fdt;
	struct file **fds;
	struct file *f = NULL;
	struct inode *inode;
	enum vg_verdict verdict;
	__u64 cgid;
	__u32 fd;

	if (ret < 0)
		return 0;
	task = bpf_get_current_task_btf();
	if (!vg_is_open_nr(regs->orig_ax, task->thread_info.status & VG_TS_COMPAT))
		return 0;
	st = vg_enf_stats_get();
	if (st)
		__sync_fetch_and_add(&st->checked, 1);
	fd = ret;
	fdt = task->files->fdt;
	if (fd >= fdt->max_fds)
		return 0;
	fds = fdt->fd;
	if (bpf_probe_read_kernel(&f, sizeof(f), &fds[fd]) || !f)
		return 0;
	inode = BPF_CORE_READ(f, f_inode);
	if (!inode)
		return 0;
	k.ino = BPF_CORE_READ(inode, i_ino);
	k.dev = BPF_CORE_READ(inode, i_sb, s_dev);
	rule = bpf_map_lookup_elem(&vg_open_deny, &k);
	if (!rule)
		return 0;
	cgid = bpf_get_current_cgroup_id();
	verdict = vg_rule_verdict(cgid, rule->identity_set_id, rule->flags & VG_RULE_HOST, rule->binary_set_id,
				  rule->flags & VG_RULE_MONITOR, 1);
	if (verdict == VG_VERDICT_PASS)
		return 0;
	/* The kill comes first: a full ring buffer must not switch enforcement off. */
	if (verdict == VG_VERDICT_ENFORCE)
		bpf_send_signal(VG_SIGKILL);
	e = vg_enforce_reserve(VG_MECH_OPEN_KILL, VG_ACTION_KILL, rule->rule_id, cgid, verdict);
	if (!e)
		return 0;
	e->ino = k.ino;
	e->dev = k.dev;
	bpf_ringbuf_submit(e, 0);
	return 0;
}
