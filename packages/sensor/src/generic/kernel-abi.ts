/**
 * How bundle map bytes (packages/policy-schema MAP_SPECS) become the generic programs' kernel maps
 * (bpf/lib/generic.h, docs/adr/0008-generic-hooks.md). Every bundle map is, per generation, an inner map of the
 * outer array-of-maps `<name>_o`; inner maps are created with BPF_F_NO_PREALLOC, with the bundle's key and value
 * sizes, except vg_prefix: an LPM trie key holds at most 256 bytes after its prefixlen (LPM_DATA_SIZE_MAX), so
 * the kernel key is the bundle key's first 260 bytes (set_id + 252 string bytes) with prefixlen clamped to match.
 */
import { MAP_SPECS, type MapName } from '@vigil/policy-schema';

/** Bytes of a vg_prefix key in the kernel: u32 prefixlen, u32 set_id, 252 bytes. */
export const KERNEL_PREFIX_KEY_BYTES = 260;
/** Longest prefix / postfix string the kernel compares (longer ones are compared on their first 252 bytes). */
export const KERNEL_PREFIX_BYTES = KERNEL_PREFIX_KEY_BYTES - 8;
/** bpf map type numbers (uapi enum bpf_map_type). */
const MAP_TYPE = { hash: 1, lpm_trie: 11 } as const;
/** BPF_F_NO_PREALLOC: the flags every inner map is created with (they must equal the template's). */
export const INNER_MAP_FLAGS = 1;

export interface KernelMapSpec {
  name: MapName;
  /** Name of the outer array-of-maps in the objects (pinned with the _v1 suffix). */
  outer: string;
  type: number;
  keySize: number;
  valueSize: number;
  flags: number;
}

export function kernelMapSpec(name: MapName): KernelMapSpec {
  const s = MAP_SPECS[name];
  return {
    name,
    outer: `${name}_o`,
    type: MAP_TYPE[s.type],
    keySize: name === 'vg_prefix' ? KERNEL_PREFIX_KEY_BYTES : s.keySize,
    valueSize: s.valueSize,
    flags: INNER_MAP_FLAGS,
  };
}

/** The kernel key for a bundle key of `map` (only vg_prefix keys change: truncated, prefixlen clamped). */
export function kernelKey(map: MapName, key: Uint8Array): Buffer {
  if (map !== 'vg_prefix') return Buffer.from(key);
  const k = Buffer.from(key.subarray(0, KERNEL_PREFIX_KEY_BYTES));
  const maxBits = 32 + 8 * KERNEL_PREFIX_BYTES;
  if (k.readUInt32LE(0) > maxBits) k.writeUInt32LE(maxBits, 0);
  return k;
}

/** The kernel value: the bundle value zero-padded to the map's value size. */
export function kernelValue(map: MapName, value: Uint8Array): Buffer {
  const v = Buffer.alloc(MAP_SPECS[map].valueSize);
  Buffer.from(value).copy(v);
  return v;
}
