/* SPDX-License-Identifier: (GPL-2.0-only OR Apache-2.0) */
/* Includes and small definitions every Vigil BPF program uses. */
#ifndef VIGIL_LIB_COMMON_H
#define VIGIL_LIB_COMMON_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_tracing.h>

#include "abi/events.h"

#ifndef NULL
#define NULL ((void *)0)
#endif

#define VG_PF_KTHREAD 0x00200000 /* include/linux/sched.h */
#define VG_SIGNAL_GROUP_EXIT 0x00000004 /* include/linux/sched/signal.h */

#define vg_min(a, b) ((a) < (b) ? (a) : (b))

/*
 * Masks a value in a way the compiler cannot drop, so the verifier sees the bound: clang removes an `&` it can
 * prove redundant, after which the verifier no longer knows the range of a size or offset.
 */
#define vg_bound(v, mask) asm volatile("%0 &= " #mask : "+r"(v))

#endif
