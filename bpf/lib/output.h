/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The event ring buffer and its exact loss accounting. The ring buffer keeps no drop count of its own, so every
 * attempt to emit takes a per-CPU sequence number first; a failed reserve is counted in vg_stats.reserve_fail.
 * Userspace sees a gap in a CPU's sequence exactly where a record was lost.
 */
#ifndef VIGIL_LIB_OUTPUT_H
#define VIGIL_LIB_OUTPUT_H

#include "common.h"
#include "meta.h" /* every object with an event ring carries its metadata record (abi/meta.h) */

#define VG_RINGBUF_DEFAULT_SIZE (8 * 1024 * 1024) /* the sensor resizes it before load */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, VG_RINGBUF_DEFAULT_SIZE);
} vg_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vg_stats);
} vg_stats SEC(".maps");

static __always_inline struct vg_stats *vg_stats_get(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&vg_stats, &zero);
}

/*
 * Reserves `size` bytes for a record of `type` and fills its header. Returns NULL (and counts the loss) when the
 * ring buffer is full. `size` must be a compile-time constant.
 */
static __always_inline void *vg_event_reserve(__u32 type, __u32 size)
{
	struct vg_stats *st = vg_stats_get();
	struct vg_event_hdr *hdr;
	__u64 seq;

	if (!st)
		return NULL;
	seq = __sync_fetch_and_add(&st->seq, 1);
	hdr = bpf_ringbuf_reserve(&vg_events, size, 0);
	if (!hdr) {
		__sync_fetch_and_add(&st->reserve_fail, 1);
		return NULL;
	}
	hdr->type = type;
	hdr->size = size;
	hdr->cpu = bpf_get_smp_processor_id();
	hdr->_pad0 = 0;
	hdr->seq = seq;
	hdr->ktime = bpf_ktime_get_ns();
	return hdr;
}

#endif
