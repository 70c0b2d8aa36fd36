/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Test-only object for bpf/lib/identity.h: the same vg_identity_match call from every program type that
 * includes the header (tp_btf, raw_tp, kprobe, fentry, lsm, cgroup connect4, cgroup sock_create), so the
 * real-kernel tests prove the verifier accepts it on each kernel and that it decides membership correctly.
 * The sensor never loads it.
 *
 * vg_idtest_cfg[0] says which set to test; exec programs record their verdict per tgid in vg_idtest_res
 * (bit 2k: program k saw the exec, bit 2k+1: it matched) for tasks below the cgroups of cfg.scope_set_id (so the
 * exec of the helper itself, before it moves into its test cgroup, is not recorded); connect4 denies connects to cfg.port of matching tasks
 * and sock_create denies UDP sockets of matching tasks when cfg.deny_udp is set (attach both to a test cgroup only).
 */
#include "identity.h"
#include <bpf/bpf_endian.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

struct vg_idtest_cfg {
	__u32 armed;
	__u32 set_id;
	__u32 host_included;
	__u32 port; /* connect4: host byte order */
	__u32 deny_udp; /* sock_create */
	__u32 scope_set_id; /* exec programs record only tasks below a cgroup of this set (the test's "node") */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_idtest_cfg);
} vg_idtest_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u32);
} vg_idtest_res SEC(".maps");

enum { VG_IDT_TP_BTF = 0, VG_IDT_RAW_TP = 1, VG_IDT_KPROBE = 2, VG_IDT_FENTRY = 3, VG_IDT_LSM = 4 };

static __always_inline struct vg_idtest_cfg *vg_idtest_get(void)
{
	__u32 zero = 0;
	struct vg_idtest_cfg *c = bpf_map_lookup_elem(&vg_idtest_cfg, &zero);

	return c && c->armed ? c : NULL;
}

static __always_inline void vg_idtest_record(int prog)
{
	struct vg_idtest_cfg *c = vg_idtest_get();
	__u32 tgid, bits, *v;

	if (!c || !vg_identity_in_set(c->scope_set_id))
		return;
	tgid = bpf_get_current_pid_tgid() >> 32;
	bits = 1u << (2 * prog);
	if (vg_identity_match(c->set_id, c->host_included))
		bits |= 1u << (2 * prog + 1);
	/* The exec programs of one exec run one after the other on the same task: a plain read-modify-write is enough. */
	v = bpf_map_lookup_elem(&vg_idtest_res, &tgid);
	if (v) {
		*v |= bits;
		return;
	}
	bpf_map_update_elem(&vg_idtest_res, &tgid, &bits, BPF_NOEXIST);
}

SEC("tp_btf/sched_process_exec")
int BPF_PROG(vg_idtest_tp_btf, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	vg_idtest_record(VG_IDT_TP_BTF);
	return 0;
}

SEC("raw_tp/sched_process_exec")
int vg_idtest_raw_tp(void *ctx)
{
	vg_idtest_record(VG_IDT_RAW_TP);
	return 0;
}

SEC("kprobe/security_bprm_check")
int vg_idtest_kprobe(void *ctx)
{
	vg_idtest_record(VG_IDT_KPROBE);
	return 0;
}

SEC("fentry/security_bprm_check")
int BPF_PROG(vg_idtest_fentry, struct linux_binprm *bprm)
{
	vg_idtest_record(VG_IDT_FENTRY);
	return 0;
}

SEC("lsm/bprm_check_security")
int BPF_PROG(vg_idtest_lsm, struct linux_binprm *bprm)
{
	vg_idtest_record(VG_IDT_LSM);
	return 0;
}

SEC("cgroup/connect4")
int vg_idtest_connect4(struct bpf_sock_addr *ctx)
{
	struct vg_idtest_cfg *c = vg_idtest_get();

	if (!c || ctx->user_port != bpf_htons((__u16)c->port))
		return 1;
	return vg_identity_match(c->set_id, c->host_included) ? 0 : 1;
}

SEC("cgroup/sock_create")
int vg_idtest_sock_create(struct bpf_sock *sk)
{
	struct vg_idtest_cfg *c = vg_idtest_get();

	if (!c || !c->deny_udp || sk->type != 2 /* SOCK_DGRAM */ || sk->protocol != 17 /* IPPROTO_UDP */)
		return 1;
	return vg_identity_match(c->set_id, c->host_included) ? 0 : 1;
}
