/**
 * The identity-set map's ABI (bpf/include/abi/identity.h): key { u32 set_id, u32 pad, u64 cgroup_id }, value u8.
 */

/** Map schema version: part of the pin name. */
export const IDENTITY_SCHEMA = 1;
/** Pin file name below `<pinRoot>/state/`. */
export const IDENTITY_PIN_NAME = `vg_identity_v${IDENTITY_SCHEMA}`;
/** Name of the map in every BPF object that includes bpf/lib/identity.h. */
export const IDENTITY_MAP_NAME = 'vg_identity';
export const IDENTITY_MAX_ENTRIES = 65536;
/** Set id 0: not restricted. */
export const IDENTITY_NONE = 0;
/** Reserved set: every pod/container cgroup of the node (host processes are in none of them). */
export const IDENTITY_ALL_PODS = 0xffffffff;
export const IDENTITY_KEY_SIZE = 16;

export function identityKey(setId: number, cgroupId: bigint): Buffer {
  const k = Buffer.alloc(IDENTITY_KEY_SIZE);
  k.writeUInt32LE(setId >>> 0, 0);
  k.writeBigUInt64LE(cgroupId, 8);
  return k;
}

export function parseIdentityKey(k: Buffer): { setId: number; cgroupId: bigint } {
  return { setId: k.readUInt32LE(0), cgroupId: k.readBigUInt64LE(8) };
}

export const IDENTITY_PRESENT = Buffer.from([1]);
