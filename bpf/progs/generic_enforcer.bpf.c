// SPDX-License-Identifier: GPL-2.0-only
/*
 * Enforcers (Tetragon's `spec.enforcers`): a hook whose selector takes NotifyEnforcer leaves a note for its thread
 * in the policy's vg_enf_notes (argError, argSig); the enforcer program on the syscalls of the enforcer's `calls`
 * takes the note when the thread runs one of them:
 *   vg_enforcer_fmod_ret   fmod_ret on the syscall function (__x64_sys_*): the syscall does not run and returns
 *                          argError; argSig is sent. One instance per function (a trampoline per target).
 *   vg_enforcer_sys_exit   tp_btf sys_exit, where the kernel has no trampolines: the syscall has run (its effect
 *                          stays), argSig is sent as it returns; filtered by the enforcer's syscall set.
 * The note must be written before the enforced call is entered: by a hook at sys_enter, or at the entry of the same
 * syscall (fentry runs before fmod_ret on one trampoline). A note no enforced syscall takes stays until the thread
 * takes one (LRU-bounded).
 * vg_prog_cfg.hook_id holds the enforcer's syscall set id (vg_syscalls), .mechanism the mechanism for counting.
 */
#include "generic.h"

char LICENSE[] SEC("license") = "GPL";

static __always_inline int vg_enf_take(struct vg_enf_note *out)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct vg_enf_note *n = bpf_map_lookup_elem(&vg_enf_notes, &id);

	if (!n)
		return 0;
	*out = *n;
	bpf_map_delete_elem(&vg_enf_notes, &id);
	return 1;
}

static __always_inline void vg_enf_signal(struct vg_enf_note *n)
{
	struct vg_generic_stats *st = vg_gstats();

	if (!n->sig)
		return;
	if (bpf_send_signal(n->sig))
		vg_count(st, action_fail);
	else if (n->sig == VG_SIGKILL)
		vg_count(st, kills);
	else
		vg_count(st, signals);
}

SEC("fmod_ret")
int BPF_PROG(vg_enforcer_fmod_ret)
{
	struct vg_enf_note n;

	if (!vg_enf_take(&n))
		return 0;
	vg_enf_signal(&n);
	if (n.err) {
		struct vg_generic_stats *st = vg_gstats();

		vg_count(st, overrides);
	}
	return n.err;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(vg_enforcer_sys_exit, struct pt_regs *regs, long ret)
{
	struct vg_enf_note n;

	if (!vg_syscall_in_set(vg_active_gen(), vg_prog_cfg.hook_id, VG_ABI_X86_64, (__u32)regs->orig_ax))
		return 0;
	if (!vg_enf_take(&n))
		return 0;
	vg_enf_signal(&n);
	return 0;
}
