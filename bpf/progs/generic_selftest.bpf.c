// SPDX-License-Identifier: GPL-2.0-only
/*
 * Drives the generic hook body (bpf/lib/generic.h) from BPF_PROG_TEST_RUN, for the interpreter's tests
 * (packages/sensor/src/generic/selftest.test.ts). The raw_tp context is
 *   args[0] hook id, args[1..6] the hook's raw args 0..5, args[7] return value, args[8] syscall number,
 *   args[9] flags: bit0 return hit, bit1 the family can override.
 * The program returns bit31 | (override value & 0x7fffffff) when an Override was applied, 0 otherwise. Pointer args point
 * into the test process's memory (user addresses); fd args are the test process's open files.
 */
#include "generic.h"

char LICENSE[] SEC("license") = "GPL";

SEC("raw_tp")
int vg_selftest(struct bpf_raw_tracepoint_args *ctx)
{
	struct vg_src src = {};
	__u64 fl = ctx->args[9];
	__s32 ovr = 0;

	src.ctx = ctx;
	src.kind = VG_SRC_TEST;
	src.retval = ctx->args[7];
	src.syscall_nr = ctx->args[8];
	src.is_return = fl & 1;
	src.user = 1;
	if (vg_generic_run(VG_SRC_TEST, &src, ctx->args[0], fl & 2, &ovr))
		return 0x80000000U | ((__u32)ovr & 0x7fffffff);
	return 0;
}
