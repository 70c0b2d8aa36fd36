// SPDX-License-Identifier: GPL-2.0-only
/*
 * Synthetic ring-buffer producer for `pnpm bench`: run with BPF_PROG_TEST_RUN, it emits args[0] records through
 * the same vg_events/vg_stats path as the real programs (sequence numbers and loss counting included),
 * alternating an exec record and the matching exit record, so userspace decodes, caches and serializes a
 * realistic mix at full speed.
 */
#include "common.h"
#include "output.h"

char LICENSE[] SEC("license") = "GPL";

struct bench_ctx {
	__u32 base_pid;
};

static const char bench_binary[] = "/usr/bin/vigil-bench";
static const char bench_args[] = "vigil-bench\0--iteration\0synthetic";
static const char bench_cwd[] = "/var/lib/vigil";

static long emit_one(__u32 i, void *data)
{
	struct bench_ctx *c = data;
	__u32 pid = c->base_pid + i / 2;

	if (i % 2 == 0) {
		struct vg_exec_event *e = vg_event_reserve(VG_EVENT_EXEC, sizeof(*e));

		if (!e)
			return 0;
		e->pid = pid;
		e->tid = pid;
		e->ppid = 1;
		e->flags = VG_PROC_EXECVE;
		e->exec_ktime = pid; /* synthetic identity time: the exit below names the same process */
		e->parent_ktime = 1;
		e->cgroup_id = 1;
		e->uid = e->euid = e->gid = e->egid = 0;
		e->auid = (__u32)-1;
		e->binary_len = sizeof(bench_binary) - 1;
		e->args_len = sizeof(bench_args);
		e->cwd_len = sizeof(bench_cwd) - 1;
		e->_pad1 = 0;
		e->_pad2 = 0;
		__builtin_memcpy(e->binary, bench_binary, sizeof(bench_binary));
		__builtin_memcpy(e->args, bench_args, sizeof(bench_args));
		__builtin_memcpy(e->cwd, bench_cwd, sizeof(bench_cwd));
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	} else {
		struct vg_exit_event *e = vg_event_reserve(VG_EVENT_EXIT, sizeof(*e));

		if (!e)
			return 0;
		e->pid = pid;
		e->tid = pid;
		e->exec_ktime = pid;
		e->exit_code = 0;
		e->flags = 0;
		bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP);
	}
	return 0;
}

SEC("raw_tp")
int vg_bench_produce(struct bpf_raw_tracepoint_args *ctx)
{
	struct bench_ctx c = { .base_pid = (__u32)ctx->args[1] };

	bpf_loop((__u32)ctx->args[0], emit_one, &c, 0);
	return 0;
}
