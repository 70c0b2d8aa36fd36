/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The kernel/user ABI of identity sets: which cgroup v2 cgroups belong to which identity set. An identity set is
 * the set of pod/container cgroups one IdentitySetRef of a bundle selects (podSelector, containerSelector, the
 * namespace of a TracingPolicyNamespaced); its id is the content-derived u32 the policy compiler puts in
 * HOOK_CFG.identity_set_id and SELECTOR.identity_set_id. The sensor fills the map; the BPF programs only read it
 * (bpf/lib/identity.h). Layout is fixed: 16 bytes, no implicit padding. Append, never renumber.
 */
#ifndef VIGIL_ABI_IDENTITY_H
#define VIGIL_ABI_IDENTITY_H

/* Map schema version: part of the pin name (vg_identity_v1); a change of key/value layout bumps it. */
#define VG_IDENTITY_SCHEMA 1

/* Maximum entries of vg_identity: (set, cgroup) pairs over all sets of all policies on one node. */
#define VG_IDENTITY_MAX 65536

/* Set id 0: not restricted (matches every process). */
#define VG_IDENTITY_NONE 0u
/*
 * Reserved set: every pod and container cgroup on the node. A process whose cgroup (or an ancestor) is in it runs
 * in a pod; every other process is a host process. Policy compilers never hand out this id.
 */
#define VG_IDENTITY_ALL_PODS 0xffffffffu

/* Key of vg_identity. Value: __u8, 1 (presence is what counts). */
struct vg_identity_key {
	__u32 set_id;
	__u32 pad; /* zero */
	__u64 cgroup_id; /* cgroup v2 id: the inode number of the cgroup's directory */
};

#endif
