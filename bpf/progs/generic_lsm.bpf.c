// SPDX-License-Identifier: GPL-2.0-only
/*
 * Generic hooks on BPF LSM hooks. One loaded instance per hook: the loader sets the target
 * (bpf_program__set_attach_target, e.g. "bprm_check_security") and vg_prog_cfg.hook_id before load. Override is
 * the program's return value: the hook fails with it (a policy's argError, -1 = -EPERM; clamped to a negative
 * errno, as the kernel only accepts [-MAX_ERRNO, 0] from BPF LSM programs). At bprm_check_security the
 * process's vg_procs entry still describes the caller's binary (the exec has not happened yet), which is what
 * matchBinaries means there.
 */
#include "generic.h"

char LICENSE[] SEC("license") = "GPL";

#define VG_MAX_ERRNO 4095

SEC("lsm")
int BPF_PROG(vg_lsm)
{
	struct vg_src src = { .ctx = ctx, .syscall_nr = -1 };
	__s32 ovr = 0;
	int ret;

	if (!vg_generic_run(VG_SRC_BTF, &src, vg_prog_cfg.hook_id, 1, &ovr))
		return 0;
	ret = ovr > 0 ? -ovr : ovr;
	if (ret < -VG_MAX_ERRNO || ret >= 0)
		ret = -VG_EPERM;
	return ret;
}
