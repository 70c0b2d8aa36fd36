// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic hooks on kernel functions through BPF trampolines: fentry, fexit, and fmod_ret (Override on
 * error-injectable functions: a non-zero return skips the function and becomes its return value). One loaded
 * instance per hook: the loader sets the target (bpf_program__set_attach_target) and vg_prog_cfg before load,
 * and turns autoload on for the one program it needs.
 */
#include "generic.h"

char LICENSE[] SEC("license") = "GPL";

SEC("fentry")
int BPF_PROG(vg_fentry)
{
	struct vg_src src = { .ctx = ctx, .syscall_nr = -1 };
	__s32 ovr = 0;

	src.user = (vg_prog_cfg.flags & VG_PCFG_USER_ARGS) != 0;
	vg_generic_run(VG_SRC_BTF, &src, vg_prog_cfg.hook_id, 0, &ovr);
	return 0;
}

SEC("fexit")
int BPF_PROG(vg_fexit)
{
	struct vg_src src = { .ctx = ctx, .syscall_nr = -1, .is_return = 1 };
	__u64 ret = 0;
	__s32 ovr = 0;

	bpf_get_func_ret(ctx, &ret);
	src.retval = (__s64)ret;
	src.user = (vg_prog_cfg.flags & VG_PCFG_USER_ARGS) != 0;
	vg_generic_run(VG_SRC_BTF, &src, vg_prog_cfg.hook_id, 0, &ovr);
	return 0;
}

SEC("fmod_ret")
int BPF_PROG(vg_fmod_ret)
{
	struct vg_src src = { .ctx = ctx, .syscall_nr = -1 };
	__s32 ovr = 0;

	src.user = (vg_prog_cfg.flags & VG_PCFG_USER_ARGS) != 0;
	if (vg_generic_run(VG_SRC_BTF, &src, vg_prog_cfg.hook_id, 1, &ovr))
		return ovr;
	return 0;
}
