/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/*
 * The object's metadata record (abi/meta.h) in a data section of its own, so libbpf creates it as a separate
 * one-entry map named ".data.vg_meta" whose initial value is this initializer: the sensor reads the version from
 * the .bpf.o before loading and from the pinned map afterwards. No program reads it.
 */
#ifndef VIGIL_LIB_META_H
#define VIGIL_LIB_META_H

#include "common.h"
#include "abi/meta.h"

struct vg_meta vg_meta SEC(".data.vg_meta") = {
	.magic = VG_META_MAGIC,
	.meta_schema = VG_META_SCHEMA,
	.object_version = VG_OBJECT_VERSION,
	.events_abi = VG_ABI_VERSION,
	.procs_schema = VG_PROCS_SCHEMA,
};

#endif
