/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The pinned metadata record of a Vigil BPF object (docs/adr/0009-persistent-enforcement.md). Every object that
 * includes bpf/lib/meta.h carries one `struct vg_meta` in its own data section `.data.vg_meta`; libbpf turns that
 * section into a one-entry array map, which the sensor pins beside the object's other maps. The record says which
 * build of the object the pinned programs and maps belong to, so a restarted sensor can adopt them (same version)
 * or migrate them (another version) without guessing. The sensor reads the same record from the .bpf.o file
 * before loading anything (bpf_map__initial_value), and writes the checkpoint fields while it runs.
 *
 * Conventions as in events.h: fixed-width types, explicit padding, append fields, never reorder.
 */
#ifndef VIGIL_ABI_META_H
#define VIGIL_ABI_META_H

/* Bumped whenever a program's behaviour or a map's layout changes; a build may override it (-DVG_OBJECT_VERSION=N). */
#ifndef VG_OBJECT_VERSION
#define VG_OBJECT_VERSION 1
#endif

#define VG_META_MAGIC 0x4c474956 /* "VIGL" little-endian */
#define VG_META_SCHEMA 1 /* layout of struct vg_meta itself */

struct vg_meta {
	__u32 magic; /* VG_META_MAGIC */
	__u32 meta_schema; /* VG_META_SCHEMA */
	__u32 object_version; /* VG_OBJECT_VERSION of the build */
	__u32 events_abi; /* VG_ABI_VERSION (events.h) */
	__u32 procs_schema; /* VG_PROCS_SCHEMA (events.h): layout of vg_procs values */
	__u32 _pad0;
	/* Written by the sensor, never by programs: */
	__u64 checkpoint_ns; /* CLOCK_REALTIME ns of the sensor's last checkpoint (0: never) */
	__u64 lost_seen; /* ring-buffer losses (reserve/emit failures) the sensor had accounted for at that checkpoint */
};

#endif
