// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic hooks on user-space functions: uprobe and uretprobe. Args are the function's register args (x86_64
 * calling convention: rdi, rsi, rdx, rcx, r8, r9); pointer args are the traced process's memory. Hook id:
 * vg_prog_cfg.hook_id, or the attach cookie when that is 0. Nothing can be overridden; Sigkill and Signal work.
 * USDT probes: the args are what the probe's ELF note says (register, stack slot or constant, with its size),
 * decoded by libbpf's usdt.bpf.h from the spec libbpf wrote at attach; the hook id comes from vg_prog_cfg only
 * (libbpf keeps the attach cookie for the spec id).
 */
#include "generic.h"
#include <bpf/usdt.bpf.h>

char LICENSE[] SEC("license") = "GPL";

static __always_inline __u32 vg_hook_of(void *ctx)
{
	__u32 id = vg_prog_cfg.hook_id;

	return id ? id : (__u32)bpf_get_attach_cookie(ctx);
}

SEC("uprobe")
int vg_uprobe(struct pt_regs *ctx)
{
	struct vg_src src = { .ctx = ctx, .regs = ctx, .syscall_nr = -1, .user = 1 };
	__s32 ovr = 0;

	vg_generic_run(VG_SRC_KPROBE, &src, vg_hook_of(ctx), 0, &ovr);
	return 0;
}

SEC("uretprobe")
int vg_uretprobe(struct pt_regs *ctx)
{
	struct vg_src src = { .ctx = ctx, .regs = ctx, .syscall_nr = -1, .user = 1, .is_return = 1 };
	__s32 ovr = 0;

	src.retval = PT_REGS_RC(ctx);
	vg_generic_run(VG_SRC_KPROBE, &src, vg_hook_of(ctx), 0, &ovr);
	return 0;
}

SEC("usdt")
int vg_usdt(struct pt_regs *ctx)
{
	__u64 a[6] = {};
	int n = bpf_usdt_arg_cnt(ctx);
	long v;

	if (n > 0 && !bpf_usdt_arg(ctx, 0, &v))
		a[0] = v;
	if (n > 1 && !bpf_usdt_arg(ctx, 1, &v))
		a[1] = v;
	if (n > 2 && !bpf_usdt_arg(ctx, 2, &v))
		a[2] = v;
	if (n > 3 && !bpf_usdt_arg(ctx, 3, &v))
		a[3] = v;
	if (n > 4 && !bpf_usdt_arg(ctx, 4, &v))
		a[4] = v;
	if (n > 5 && !bpf_usdt_arg(ctx, 5, &v))
		a[5] = v;
	return vg_run_u64_args(a, 1); /* pointers into the traced process */
}
