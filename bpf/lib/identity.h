/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Identity sets in the kernel: "is the current task inside one of the pods/containers this policy selects?".
 *
 * The map vg_identity holds (set_id, cgroup_id) pairs; the sensor pins it at <pinRoot>/state/vg_identity_v1 and
 * every object that includes this header shares that one map (set the pin path, or bpf_map__reuse_fd, before
 * load). Membership is by cgroup v2 cgroup AND ANCESTORS: a pod's cgroup is in the set and the container cgroups
 * nested below it (and anything a container creates below its own cgroup) match too.
 *
 *   vg_identity_match(set_id, host_included)
 *     set_id 0                      -> true (the policy is not restricted to pods/containers)
 *     cgroup or an ancestor in set  -> true
 *     host_included and the task is in no pod (no ancestor in VG_IDENTITY_ALL_PODS) -> true
 *     otherwise                     -> false
 *
 * Cost: one bpf_get_current_ancestor_cgroup_id + one hash lookup per level of the task's cgroup path (levels 0..
 * depth), twice that with host_included. The walk is bounded by VG_IDENTITY_MAX_DEPTH levels below the root:
 * Kubernetes pods sit at depth 3-4 (kubepods.slice/kubepods-burstable.slice/...-pod<uid>.slice/cri-...scope),
 * nested set-ups (kind, a kubelet in a container) at 6-8; cgroups deeper than the bound are matched on their
 * first VG_IDENTITY_MAX_DEPTH + 1 levels (root included) only, which still contain every pod cgroup a kubelet
 * creates.
 *
 * The helper is available to tracing programs (tp_btf, raw_tp, kprobe, fentry, lsm) and to cgroup sock_addr and
 * sock programs on every kernel Vigil supports (5.7+ for cgroup hooks, checked by loading on 6.1, 6.12, 6.18).
 */
#ifndef VIGIL_LIB_IDENTITY_H
#define VIGIL_LIB_IDENTITY_H

#include "common.h"
#include "abi/identity.h"

/* Levels below the root the ancestor walk visits (root is level 0, so VG_IDENTITY_MAX_DEPTH + 1 lookups). */
#define VG_IDENTITY_MAX_DEPTH 15

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, VG_IDENTITY_MAX);
	__type(key, struct vg_identity_key);
	__type(value, __u8);
} vg_identity SEC(".maps");

static __always_inline bool vg_identity_has(__u32 set_id, __u64 cgroup_id)
{
	struct vg_identity_key k = { .set_id = set_id, .pad = 0, .cgroup_id = cgroup_id };

	return bpf_map_lookup_elem(&vg_identity, &k) != NULL;
}

/* True if the current task's cgroup v2 cgroup, or one of its ancestors, is a member of set `set_id`. */
static __always_inline bool vg_identity_in_set(__u32 set_id)
{
	for (int level = 0; level <= VG_IDENTITY_MAX_DEPTH; level++) {
		__u64 id = bpf_get_current_ancestor_cgroup_id(level);

		if (id == 0) /* deeper than the task's own cgroup */
			break;
		if (vg_identity_has(set_id, id))
			return true;
	}
	return false;
}

/* True if the current task runs in no pod/container the sensor knows of (a host process). */
static __always_inline bool vg_identity_is_host(void)
{
	return !vg_identity_in_set(VG_IDENTITY_ALL_PODS);
}

/*
 * Does a policy (or selector) restricted to identity set `set_id` apply to the current task?
 * `host_included`: the policy also applies to host processes (hostSelector / flags bit2 in HOOK_CFG, bit0 in
 * SELECTOR flags).
 */
static __always_inline bool vg_identity_match(__u32 set_id, bool host_included)
{
	if (set_id == VG_IDENTITY_NONE)
		return true;
	if (vg_identity_in_set(set_id))
		return true;
	return host_included && vg_identity_is_host();
}

#endif
