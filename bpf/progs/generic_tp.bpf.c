// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic hooks on tracepoints: syscall hooks on raw_tp / tp_btf sys_enter and sys_exit (kernel-function hooks
 * with `syscall: true` on kernels without kprobes or fentry: observe, and kill after the syscall's effect), and
 * classic tracepoints with tracefs-format args (HOOK_CFG arg descs carry each field's offset and size).
 * One loaded instance per hook: vg_prog_cfg.hook_id and .syscall_nr are set before load, so the syscall-number
 * test is the first instruction of the hot path (a constant compare). Tracepoint programs may instead share an
 * instance and take the hook id from the attach cookie (vg_prog_cfg.hook_id 0). Nothing here can override a
 * return value: the compiler refuses Override on these mechanisms, and a policy that still asks gets
 * VG_HOOKF_OVERRIDE_REFUSED.
 */
#include "generic.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int vg_sys_hit(struct pt_regs *regs, long nr, long ret, int is_return, void *ctx)
{
	struct vg_src src = {};
	__s32 ovr = 0;

	if (vg_prog_cfg.syscall_nr >= 0 && nr != vg_prog_cfg.syscall_nr)
		return 0;
	src.ctx = ctx;
	src.regs = regs;
	src.kind = VG_SRC_SYSCALL;
	src.user = 1;
	src.syscall_nr = nr;
	src.retval = ret;
	src.is_return = is_return;
	vg_generic_run(VG_SRC_SYSCALL, &src, vg_prog_cfg.hook_id, 0, &ovr);
	return 0;
}

SEC("raw_tp/sys_enter")
int vg_raw_sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	return vg_sys_hit((struct pt_regs *)ctx->args[0], (long)ctx->args[1], 0, 0, ctx);
}

SEC("raw_tp/sys_exit")
int vg_raw_sys_exit(struct bpf_raw_tracepoint_args *ctx)
{
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];

	if (vg_prog_cfg.syscall_nr >= 0 && BPF_CORE_READ(regs, orig_ax) != vg_prog_cfg.syscall_nr)
		return 0;
	return vg_sys_hit(regs, BPF_CORE_READ(regs, orig_ax), (long)ctx->args[1], 1, ctx);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(vg_btf_sys_enter, struct pt_regs *regs, long id)
{
	return vg_sys_hit(regs, id, 0, 0, ctx);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_btf_sys_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;

	if (vg_prog_cfg.syscall_nr >= 0 && nr != vg_prog_cfg.syscall_nr)
		return 0;
	return vg_sys_hit(regs, nr, ret, 1, ctx);
}

/*
 * Raw tracepoints other than sys_enter/sys_exit (Tetragon's `raw: true`): the args are the tracepoint's TP_PROTO
 * values. A raw_tp program may only read as many args as the tracepoint has (the kernel compares the highest ctx
 * offset the program reads at attach), so there is one program per arg count: vg_raw_tp_N reads args 0..N-1 and
 * the sensor picks N from the highest arg index the hook uses.
 */
static __always_inline int vg_raw_hit(struct bpf_raw_tracepoint_args *ctx, const int n)
{
	__u64 a[6] = {};

	if (n > 0)
		a[0] = ctx->args[0];
	if (n > 1)
		a[1] = ctx->args[1];
	if (n > 2)
		a[2] = ctx->args[2];
	if (n > 3)
		a[3] = ctx->args[3];
	if (n > 4)
		a[4] = ctx->args[4];
	if (n > 5)
		a[5] = ctx->args[5];
	return vg_run_u64_args(a, 0); /* kernel values and pointers */
}

#define VG_RAW_TP_PROG(n)                                                \
	SEC("raw_tp")                                                    \
	int vg_raw_tp_##n(struct bpf_raw_tracepoint_args *ctx)           \
	{                                                                \
		return vg_raw_hit(ctx, n);                               \
	}

VG_RAW_TP_PROG(0)
VG_RAW_TP_PROG(1)
VG_RAW_TP_PROG(2)
VG_RAW_TP_PROG(3)
VG_RAW_TP_PROG(4)
VG_RAW_TP_PROG(5)
VG_RAW_TP_PROG(6)

SEC("tracepoint")
int vg_tracepoint(void *ctx)
{
	struct vg_src src = {};
	__u32 hook_id = vg_prog_cfg.hook_id;
	__s32 ovr = 0;

	if (!hook_id)
		hook_id = bpf_get_attach_cookie(ctx);
	src.ctx = ctx;
	src.kind = VG_SRC_TP;
	src.syscall_nr = -1;
	vg_generic_run(VG_SRC_TP, &src, hook_id, 0, &ovr);
	return 0;
}
