/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The kernel/user ABI of Vigil's event stream and per-process state: every struct and enum that both the BPF
 * programs and the sensor read, and nothing else. The sensor's koffi definitions
 * (packages/sensor/src/abi/layout.ts) must match these byte for byte; bpf/tests/layout.test.ts compares them with
 * the BTF of the built objects, so a change here without a change there fails the tests.
 *
 * Conventions: fixed-width types only, every field naturally aligned, padding explicit (named _padN), sizes of
 * records multiples of 8. Enum values are part of the ABI: append, never renumber.
 */
#ifndef VIGIL_ABI_EVENTS_H
#define VIGIL_ABI_EVENTS_H

#define VG_ABI_VERSION 1

/* Bounds (bytes, including the terminating NUL where a string is stored). */
#define VG_PATH_MAX 256 /* binary and cwd paths */
#define VG_ARGS_MAX 1024 /* argv, NUL-separated, argv[0] included */
#define VG_PATH_DEPTH 32 /* dentry components walked before a path is marked truncated */

enum vg_event_type {
	VG_EVENT_EXEC = 1,
	VG_EVENT_EXIT = 2,
	VG_EVENT_FORK = 3,
	VG_EVENT_HOOK = 4, /* struct vg_hook_event (abi/generic.h) */
	VG_EVENT_TEST = 250, /* synthetic records written by the benchmark producer */
};

/* Flags on exec events and per-process state. */
enum vg_proc_flags {
	VG_PROC_EXECVE = 1 << 0, /* identity created by an exec seen in the kernel */
	VG_PROC_CLONE = 1 << 1, /* forked, not (yet) exec'd: inherits the parent's binary */
	VG_PROC_PROCFS = 1 << 2, /* seeded for a process already running at start */
	VG_PROC_TRUNC_BINARY = 1 << 3,
	VG_PROC_TRUNC_ARGS = 1 << 4,
	VG_PROC_TRUNC_CWD = 1 << 5,
	VG_PROC_ERR_CWD = 1 << 6,
	VG_PROC_ERR_ARGS = 1 << 7,
	VG_PROC_ERR_BINARY = 1 << 8,
};

/* Every ring-buffer record starts with this header. */
struct vg_event_hdr {
	__u32 type; /* enum vg_event_type */
	__u32 size; /* bytes of the whole record */
	__u32 cpu; /* CPU that produced it; seq is per CPU */
	__u32 _pad0;
	__u64 seq; /* per-CPU sequence, incremented for every attempt, failed reserves included */
	__u64 ktime; /* bpf_ktime_get_ns() when produced (CLOCK_MONOTONIC) */
};

struct vg_exec_event {
	struct vg_event_hdr hdr;
	__u32 pid; /* tgid */
	__u32 tid;
	__u32 ppid; /* tgid of the real parent */
	__u32 flags; /* enum vg_proc_flags */
	__u64 exec_ktime; /* identity time of this exec: part of exec_id */
	__u64 parent_ktime; /* identity time of the parent: part of parent_exec_id */
	__u64 cgroup_id; /* cgroup v2 id */
	__u32 uid;
	__u32 euid;
	__u32 gid;
	__u32 egid;
	__u32 auid;
	__u16 binary_len; /* bytes in binary[], no NUL */
	__u16 args_len; /* bytes in args[] */
	__u16 cwd_len; /* bytes in cwd[], no NUL */
	__u16 _pad1;
	__u32 _pad2;
	char binary[VG_PATH_MAX];
	char args[VG_ARGS_MAX];
	char cwd[VG_PATH_MAX];
};

struct vg_exit_event {
	struct vg_event_hdr hdr;
	__u32 pid;
	__u32 tid; /* the last thread out */
	__u64 exec_ktime;
	__u32 exit_code; /* wait status: (code << 8) | signal */
	__u32 flags;
};

struct vg_fork_event {
	struct vg_event_hdr hdr;
	__u32 pid; /* child tgid */
	__u32 ppid;
	__u64 exec_ktime; /* child's identity time: its start time */
	__u64 parent_ktime;
};

/* Value of the pinned per-process map vg_procs, keyed by tgid (__u32). Map schema version VG_PROCS_SCHEMA. */
#define VG_PROCS_SCHEMA 1
struct vg_proc {
	__u64 exec_ktime;
	__u64 parent_ktime;
	__u32 ppid;
	__u32 flags;
	__u32 binary_len;
	__u32 _pad0;
	char binary[VG_PATH_MAX];
};

/* Per-CPU counters (percpu array vg_stats, key 0). */
struct vg_stats {
	__u64 seq; /* next sequence number on this CPU */
	__u64 reserve_fail; /* ring-buffer reserves that failed: the exact count of lost records */
	__u64 exit_untracked; /* last-thread exits of processes with no vg_procs entry */
	__u64 proc_update_fail; /* vg_procs inserts that failed (map full) */
};

#endif
