// SPDX-License-Identifier: GPL-2.0
// Capability probe for the kernel matrix: one tiny program per attach type Vigil's enforcement tiers use.
// Each program acts only for the process whose tgid is in km_target[0] (the test itself), so loading it
// never disturbs anything else on the machine. km_counts[KM_*] counts hits per program; the LSM program
// also denies opens of the inode in km_target[1] with -EPERM.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

char LICENSE[] SEC("license") = "GPL";

#define EPERM 1

enum { KM_TGID = 0, KM_INO = 1, KM_TARGET_SLOTS = 2 };
enum { KM_TP_BTF = 0, KM_KPROBE = 1, KM_FENTRY = 2, KM_LSM = 3, KM_LSM_DENY = 4, KM_COUNT_SLOTS = 5 };

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KM_TARGET_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} km_target SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, KM_COUNT_SLOTS);
	__type(key, __u32);
	__type(value, __u64);
} km_counts SEC(".maps");

static __always_inline __u64 target(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&km_target, &slot);

	return v ? *v : 0;
}

static __always_inline int is_target(void)
{
	__u64 tgid = target(KM_TGID);

	return tgid && (bpf_get_current_pid_tgid() >> 32) == tgid;
}

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&km_counts, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

SEC("tp_btf/sys_enter")
int BPF_PROG(km_tp_btf, struct pt_regs *regs, long id)
{
	if (is_target())
		count(KM_TP_BTF);
	return 0;
}

SEC("kprobe/do_sys_openat2")
int km_kprobe(struct pt_regs *ctx)
{
	if (is_target())
		count(KM_KPROBE);
	return 0;
}

SEC("fentry/vfs_open")
int BPF_PROG(km_fentry, const struct path *path, struct file *file)
{
	if (is_target())
		count(KM_FENTRY);
	return 0;
}

SEC("lsm/file_open")
int BPF_PROG(km_lsm, struct file *file, int ret)
{
	__u64 ino;

	if (ret)
		return ret;
	if (!is_target())
		return 0;
	count(KM_LSM);
	ino = BPF_CORE_READ(file, f_inode, i_ino);
	if (ino && ino == target(KM_INO)) {
		count(KM_LSM_DENY);
		return -EPERM;
	}
	return 0;
}
