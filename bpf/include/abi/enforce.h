/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The kernel/user ABI of Vigil's enforcement mechanisms for kernels without kprobes or BPF trampolines
 * (docs/enforcement-fallbacks.md): the deny-set map keys and values the sensor writes, and the decision record
 * the programs emit. Same conventions as events.h: fixed-width types, natural alignment, explicit padding, record
 * sizes multiples of 8, enum values appended and never renumbered. The sensor's koffi twin is
 * packages/sensor/src/abi/enforce-layout.ts; packages/sensor/src/abi/layout.test.ts compares both with the BTF.
 */
#ifndef VIGIL_ABI_ENFORCE_H
#define VIGIL_ABI_ENFORCE_H

#include "events.h"

/* Record types 16..31 of the event stream are enforcement records (events.h owns 1..15 and 250). */
enum vg_enforce_event_type {
	VG_EVENT_ENFORCE = 16,
};

/* Which mechanism decided. */
enum vg_enforce_mech {
	VG_MECH_CONNECT4 = 1, /* cgroup/connect4 */
	VG_MECH_CONNECT6 = 2, /* cgroup/connect6 (IPv4-mapped destinations use the v4 rules) */
	VG_MECH_SENDMSG4 = 3, /* cgroup/sendmsg4: unconnected UDP */
	VG_MECH_SENDMSG6 = 4,
	VG_MECH_EXEC_KILL = 5, /* tp_btf/sched_process_exec + bpf_send_signal(SIGKILL) */
	VG_MECH_OPEN_KILL = 6, /* tp_btf/sys_exit of an open syscall + SIGKILL */
	VG_MECH_SOCK_CREATE = 7, /* cgroup/sock_create: socket(2) fails with EPERM */
	VG_MECH_BIND4 = 8, /* cgroup/bind4: bind(2) fails with EPERM */
	VG_MECH_BIND6 = 9,
	VG_MECH_CONNECT_UNIX = 10, /* cgroup/connect_unix (kernel >= 6.7): connect(2) to a unix socket path fails with EPERM */
	VG_MECH_URING_KILL = 11, /* tp_btf/io_uring_create + SIGKILL: the process dies before it can use its new ring */
};

/* What the kernel did. */
enum vg_enforce_action {
	VG_ACTION_DENY = 1, /* the operation failed with EPERM: it did not take effect */
	VG_ACTION_KILL = 2, /* SIGKILL sent; for exec before the new image ran, for open after the fd existed */
	VG_ACTION_DENY_KILL = 3, /* connect: EPERM, and SIGKILL at the exit of the syscall (cgroup programs cannot signal) */
};

/* Up to this many (protocol, port range) matches per CIDR entry of the connect deny tries. */
#define VG_NET_MATCH_MAX 8

/* Key of vg_net_v4 (LPM trie): prefixlen in bits, address in network byte order. */
struct vg_net_key4 {
	__u32 prefixlen;
	__u8 addr[4];
};

/* Key of vg_net_v6 (LPM trie). */
struct vg_net_key6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Flags of a connect match. */
enum vg_net_flags {
	VG_NET_KILL = 1 << 0, /* Sigkill action: deny, and kill the caller at the syscall's exit */
	VG_NET_BIND = 1 << 1, /* a bind rule (local address and port): only bind4/bind6 use it, connect/sendmsg skip it */
	VG_NET_MONITOR = 1 << 2, /* monitor mode: record what would be done, deny and kill nothing */
	VG_NET_HOST = 1 << 3, /* with identity_set_id: host processes (in no pod) match too */
};

/* Flags of a file, socket, unix-path or io_uring rule (vg_file_rule.flags). */
enum vg_rule_flags {
	VG_RULE_MONITOR = 1 << 0, /* monitor mode: record what would be done, deny and kill nothing */
	VG_RULE_HOST = 1 << 1, /* with identity_set_id: host processes (in no pod) match too */
};

/* Flags of a decision record. */
enum vg_decision_flags {
	VG_DECISION_MONITOR = 1 << 0, /* monitor mode: `action` is what would have been done; nothing was done */
};

/* One (protocol, port range) of a CIDR: matches when protocol is 0 or equal and lo <= port <= hi. */
struct vg_net_match {
	__u16 port_lo; /* host byte order; 0..65535 with hi 65535 matches every port */
	__u16 port_hi;
	__u8 protocol; /* IPPROTO_TCP (6), IPPROTO_UDP (17), 0 = any */
	__u8 flags; /* enum vg_net_flags */
	__u16 _pad1;
	__u32 rule_id; /* reported in the decision record */
	__u32 identity_set_id; /* 0: every task; else only tasks in that identity set (bpf/lib/identity.h) */
	__u32 binary_set_id; /* 0: every binary; else only callers whose executable is in vg_bin_set under this id */
};

/*
 * Value of the connect deny tries. The trie returns the longest prefix containing the destination, so userspace
 * stores in every CIDR's value the matches of every rule whose CIDR contains it (the rules that contain the
 * destination are exactly those that contain its longest matching prefix).
 */
struct vg_net_rule {
	__u32 count; /* valid entries in match[] */
	__u32 _pad0;
	struct vg_net_match match[VG_NET_MATCH_MAX];
};

/*
 * Key of vg_sock_deny (socket creation): family, type (SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, … without flags) and
 * protocol; the program looks up (f, t, p), then (f, t, 0), then (f, 0, 0), so 0 in a key is a wildcard.
 */
struct vg_sock_key {
	__u32 family;
	__u32 type;
	__u32 protocol;
	__u32 _pad0;
};

/* Key of vg_exec_deny / vg_open_deny: a file by inode number and the kernel's dev_t (MKDEV: major << 20 | minor). */
struct vg_file_key {
	__u64 ino;
	__u32 dev;
	__u32 _pad0;
};

/* Value of the file, socket and unix-path deny maps; also one entry of the io_uring deny list. */
struct vg_file_rule {
	__u32 rule_id;
	__u32 flags; /* enum vg_rule_flags */
	__u32 identity_set_id; /* 0: every task; else only tasks in that identity set (bpf/lib/identity.h) */
	__u32 binary_set_id; /* 0: every binary; else only callers whose executable is in vg_bin_set under this id */
};

/* Key of vg_bin_set (matchBinaries by identity): the caller's executable (mm->exe_file) and a set id; value u8. */
struct vg_bin_key {
	__u64 ino;
	__u32 dev; /* kernel dev_t */
	__u32 set_id;
};

/* Key of vg_unix_deny: a unix socket address as connect(2) passed it (sun_path bytes, zero padded; abstract
 * addresses start with a NUL byte and keep their length in len). */
#define VG_UNIX_PATH_MAX 108
struct vg_unix_key {
	__u32 len; /* bytes of path used (sun_path length as passed, trailing NULs of a filesystem path dropped) */
	char path[VG_UNIX_PATH_MAX];
};

/* The io_uring deny list (vg_uring_deny, array, key 0): the first rule that applies to the caller decides;
 * userspace lists enforcing rules before monitor-mode ones. */
#define VG_URING_RULES_MAX 16
struct vg_uring_rules {
	__u32 count;
	__u32 _pad0;
	struct vg_file_rule rule[VG_URING_RULES_MAX];
};

/* The decision record (ring buffer vg_events), one per denied or killed operation. */
struct vg_enforce_event {
	struct vg_event_hdr hdr;
	__u32 pid; /* tgid */
	__u32 tid;
	__u64 cgroup_id; /* cgroup v2 id of the acting task */
	__u32 mechanism; /* enum vg_enforce_mech */
	__u32 action; /* enum vg_enforce_action */
	__u32 rule_id;
	__u16 family; /* AF_INET / AF_INET6 for network decisions, 0 otherwise */
	__u16 protocol; /* IPPROTO_* for network decisions */
	__u16 port; /* destination port, host byte order */
	__u16 _pad0;
	__u32 flags; /* enum vg_decision_flags */
	__u8 addr[16]; /* destination: 4 bytes for AF_INET, 16 for AF_INET6 (network byte order) */
	__u64 ino; /* file decisions: the file's inode and kernel dev_t */
	__u32 dev;
	__u32 _pad2;
	char comm[16];
};

/* Value of vg_enf_cfg (array, key 0): settings of one enforcement object. */
struct vg_enforce_cfg {
	__u32 targeted; /* 0: rules apply to every task; 1: only to tasks under a cgroup in vg_target_cg */
	__u32 _pad0;
};

/* Per-CPU counters of each enforcement object (percpu array vg_enf_stats, key 0). */
struct vg_enforce_stats {
	__u64 checked; /* operations looked up in the deny set */
	__u64 denied; /* denied or killed */
	__u64 exempt; /* matched a rule but came from an exempt cgroup */
	__u64 emit_fail; /* decisions taken but not recorded (ring buffer full): the decision still stands */
	__u64 monitored; /* matched a monitor-mode rule: recorded, nothing denied or killed */
};

#endif
