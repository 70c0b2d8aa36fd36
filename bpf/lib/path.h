/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * Bounded path reconstruction from a struct path (dentry + vfsmount), crossing mount points, for program types
 * where bpf_d_path is not allowed (tp_btf, iterators). Components are written backwards into a per-CPU scratch
 * buffer; the caller copies the result out. At most VG_PATH_DEPTH components are walked; deeper paths are
 * marked truncated (the leading components are then missing).
 */
#ifndef VIGIL_LIB_PATH_H
#define VIGIL_LIB_PATH_H

#include "common.h"

#define VG_SCRATCH_SIZE 1024 /* power of two: offsets are masked with VG_SCRATCH_SIZE - 1 */
#define VG_PATH_BUF 512 /* the path is assembled in [0, VG_PATH_BUF); a component of up to 255 bytes fits past it */
#define VG_NAME_MAX 255

struct vg_scratch {
	char buf[VG_SCRATCH_SIZE];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_scratch);
} vg_scratch SEC(".maps");

struct vg_path_result {
	__u32 off; /* the path starts at buf[off] */
	__u32 len; /* bytes, no NUL */
	__u32 truncated;
};

static __always_inline struct vg_scratch *vg_scratch_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_scratch, &zero);
}

struct vg_walk_ctx {
	struct dentry *dentry;
	struct mount *mnt;
	struct vg_scratch *s;
	__u32 off;
	__u32 done; /* 1: reached the root; 2: out of room; 3: read error */
};

/* One step of the walk: one component, or one mount crossing. Returns 1 to stop (bpf_loop's convention). */
static long vg_path_step(__u32 i, void *data)
{
	struct vg_walk_ctx *c = data;
	struct dentry *dentry = c->dentry;
	struct mount *mnt = c->mnt;
	struct dentry *parent = BPF_CORE_READ(dentry, d_parent);
	struct dentry *mnt_root = BPF_CORE_READ(mnt, mnt.mnt_root);
	struct vg_scratch *s = c->s;
	struct qstr name;
	__u32 off = c->off;
	__u32 len;

	if (!s)
		return 1;
	if (dentry == mnt_root) {
		struct mount *mnt_parent = BPF_CORE_READ(mnt, mnt_parent);

		if (mnt_parent == mnt) {
			c->done = 1;
			return 1;
		}
		c->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		c->mnt = mnt_parent;
		return 0;
	}
	if (dentry == parent) {
		c->done = 1;
		return 1;
	}
	if (bpf_core_read(&name, sizeof(name), &dentry->d_name)) {
		c->done = 3;
		return 1;
	}
	len = name.len;
	vg_bound(len, 255);
	if (len + 1 > off) {
		c->done = 2;
		return 1;
	}
	off -= len;
	vg_bound(off, 511);
	if (bpf_probe_read_kernel(&s->buf[off], len, name.name)) {
		c->done = 3;
		return 1;
	}
	off -= 1;
	vg_bound(off, 511);
	s->buf[off] = '/';
	c->off = off;
	c->dentry = parent;
	return 0;
}

/* Walks `path` into `s->buf`; returns 0 on success (a truncated path is a success with res->truncated set). */
static __always_inline int vg_path_walk(const struct path *path, struct vg_scratch *s, struct vg_path_result *res)
{
	struct vfsmount *vfsmnt = BPF_CORE_READ(path, mnt);
	struct vg_walk_ctx c = {
		.dentry = BPF_CORE_READ(path, dentry),
		.mnt = container_of(vfsmnt, struct mount, mnt),
		.s = s,
		.off = VG_PATH_BUF - 1,
	};
	__u32 off;

	res->truncated = 1;
	if (!c.dentry || !vfsmnt)
		return -1;
	s->buf[VG_PATH_BUF - 1] = 0;
	bpf_loop(VG_PATH_DEPTH, vg_path_step, &c, 0);
	if (c.done == 3)
		return -1;
	res->truncated = c.done != 1;
	off = c.off;
	if (off == VG_PATH_BUF - 1) { /* the root itself */
		off -= 1;
		s->buf[VG_PATH_BUF - 2] = '/';
	}
	vg_bound(off, 511);
	res->off = off;
	res->len = VG_PATH_BUF - 1 - off;
	return 0;
}

/*
 * Copies the walked path into dst (capacity VG_PATH_MAX), keeping its tail when it does not fit.
 * Returns the number of bytes copied (no NUL written).
 */
static __always_inline __u32 vg_path_copy(char *dst, const struct vg_scratch *s, const struct vg_path_result *res,
					  __u32 *flags, __u32 trunc_flag)
{
	__u32 len = res->len;
	__u32 off = res->off;

	if (res->truncated)
		*flags |= trunc_flag;
	if (len > VG_PATH_MAX - 1) {
		off += len - (VG_PATH_MAX - 1);
		len = VG_PATH_MAX - 1;
		*flags |= trunc_flag;
	}
	vg_bound(len, 255);
	vg_bound(off, 511);
	bpf_probe_read_kernel(dst, len, &s->buf[off]);
	return len;
}

#endif
