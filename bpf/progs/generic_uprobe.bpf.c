// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic hooks on user-space functions: uprobe and uretprobe. Args are the function's register args (x86_64
 * calling convention: rdi, rsi, rdx, rcx, r8, r9); pointer args are the traced process's memory. Hook id:
 * vg_prog_cfg.hook_id, or the attach cookie when that is 0. Nothing can be overridden; Sigkill and Signal work.
 */
#include "generic.h"

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
