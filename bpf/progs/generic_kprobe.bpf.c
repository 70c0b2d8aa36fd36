// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic hooks on kernel functions through kprobes: kprobe, kretprobe and, where the kernel has
 * CONFIG_BPF_KPROBE_OVERRIDE, a kprobe that can Override (bpf_override_return, error-injectable functions only).
 * vg_kprobe_override calls a helper that kernels without that option do not know, so the loader turns its
 * autoload off there (Debian kernels: Override on a kprobe is refused, the hook still observes).
 * Hook id: vg_prog_cfg.hook_id, or the attach cookie when that is 0 (one instance serving several hooks).
 * Syscall wrappers (__x64_sys_*, VG_PCFG_SYSCALL_WRAPPER): the args are read from the wrapper's struct pt_regs
 * argument and pointer args are user memory. kretprobe hits carry the return value only (args read at return
 * are the registers' values then, which the hook's args no longer describe: a kretprobe reads no args).
 */
#include "generic.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline __u32 vg_hook_of(void *ctx)
{
	__u32 id = vg_prog_cfg.hook_id;

	return id ? id : (__u32)bpf_get_attach_cookie(ctx);
}

static __always_inline struct pt_regs *vg_arg_regs(struct pt_regs *ctx)
{
	if (vg_prog_cfg.flags & VG_PCFG_SYSCALL_WRAPPER)
		return (struct pt_regs *)PT_REGS_PARM1(ctx);
	return ctx;
}

SEC("kprobe")
int vg_kprobe(struct pt_regs *ctx)
{
	struct vg_src src = { .ctx = ctx, .syscall_nr = -1 };
	__s32 ovr = 0;

	src.regs = vg_arg_regs(ctx);
	src.user = (vg_prog_cfg.flags & (VG_PCFG_SYSCALL_WRAPPER | VG_PCFG_USER_ARGS)) != 0;
	vg_generic_run(VG_SRC_KPROBE, &src, vg_hook_of(ctx), 0, &ovr);
	return 0;
}

SEC("kretprobe")
int vg_kretprobe(struct pt_regs *ctx)
{
	struct vg_src src = { .ctx = ctx, .syscall_nr = -1, .is_return = 1 };
	__s32 ovr = 0;

	src.regs = ctx;
	src.retval = PT_REGS_RC(ctx);
	src.user = (vg_prog_cfg.flags & (VG_PCFG_SYSCALL_WRAPPER | VG_PCFG_USER_ARGS)) != 0;
	vg_generic_run(VG_SRC_KPROBE, &src, vg_hook_of(ctx), 0, &ovr);
	return 0;
}

SEC("kprobe")
int vg_kprobe_override(struct pt_regs *ctx)
{
	struct vg_src src = { .ctx = ctx, .syscall_nr = -1 };
	__s32 ovr = 0;

	src.regs = vg_arg_regs(ctx);
	src.user = (vg_prog_cfg.flags & (VG_PCFG_SYSCALL_WRAPPER | VG_PCFG_USER_ARGS)) != 0;
	if (vg_generic_run(VG_SRC_KPROBE, &src, vg_hook_of(ctx), 1, &ovr))
		bpf_override_return(ctx, (long)ovr);
	return 0;
}
