// SPDX-License-Identifier: GPL-2.0-only
/*
 * No-op programs, one per program type or helper the sensor may depend on. `vigil-sensor probe` loads each one
 * alone (autoload off for the rest) and attaches it: a kernel can list an LSM or load a kprobe program and still
 * refuse to attach it, so only load + attach counts as available.
 */
#include "common.h"

char LICENSE[] SEC("license") = "GPL";

SEC("kprobe/do_sys_openat2")
int vg_probe_kprobe(struct pt_regs *ctx)
{
	return 0;
}

/* Override needs CONFIG_BPF_KPROBE_OVERRIDE and a function on the error-injection list (syscalls are). */
SEC("kprobe/__x64_sys_getppid")
int vg_probe_kprobe_override(struct pt_regs *ctx)
{
	if (bpf_get_current_pid_tgid() == 0) /* never true: keeps the helper call without changing behaviour */
		bpf_override_return(ctx, 0);
	return 0;
}

SEC("fentry/vfs_read")
int BPF_PROG(vg_probe_fentry)
{
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(vg_probe_lsm, struct file *file)
{
	return 0;
}

SEC("tp_btf/sched_process_free")
int BPF_PROG(vg_probe_tp_btf)
{
	return 0;
}

SEC("raw_tp/sys_enter")
int vg_probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("tracepoint/syscalls/sys_enter_getppid")
int vg_probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("cgroup/connect4")
int vg_probe_cgroup_connect4(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sock_create")
int vg_probe_cgroup_sock_create(struct bpf_sock *ctx)
{
	return 1;
}

SEC("iter/task")
int vg_probe_task_iter(struct bpf_iter__task *ctx)
{
	return 0;
}

SEC("uprobe")
int vg_probe_uprobe(struct pt_regs *ctx)
{
	return 0;
}

/* bpf_send_signal from a BTF tracepoint (the kill mechanism); attached to an event that never fires for us. */
SEC("tp_btf/sched_process_free")
int BPF_PROG(vg_probe_send_signal, struct task_struct *task)
{
	if (task == (void *)1)
		bpf_send_signal(9);
	return 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} vg_probe_rb SEC(".maps");

SEC("raw_tp/sys_exit")
int vg_probe_ringbuf(void *ctx)
{
	void *p = bpf_ringbuf_reserve(&vg_probe_rb, 8, 0);

	if (p)
		bpf_ringbuf_discard(p, 0);
	return 0;
}
