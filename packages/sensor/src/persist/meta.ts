/**
 * struct vg_meta (bpf/include/abi/meta.h): the metadata record every Vigil object carries in its `.data.vg_meta`
 * section and the sensor pins as a one-entry map beside the object's other maps.
 *
 *   off size field
 *     0    4 magic           VG_META_MAGIC ("VIGL")
 *     4    4 meta_schema     1
 *     8    4 object_version  VG_OBJECT_VERSION of the build
 *    12    4 events_abi      VG_ABI_VERSION
 *    16    4 procs_schema    VG_PROCS_SCHEMA
 *    20    4 _pad0
 *    24    8 checkpoint_ns   written by the sensor: CLOCK_REALTIME ns of its last checkpoint
 *    32    8 lost_seen       written by the sensor: ring losses it had accounted for at that checkpoint
 */
import { PersistError } from './errors.js';

export const META_MAGIC = 0x4c474956;
export const META_SCHEMA = 1;
export const META_SIZE = 40;
/** libbpf's name of the map made from the `.data.vg_meta` section. */
export const META_MAP = '.data.vg_meta';

export interface ObjectMeta {
  objectVersion: number;
  eventsAbi: number;
  procsSchema: number;
  checkpointNs: bigint;
  lostSeen: bigint;
}

export function decodeMeta(raw: Buffer, where: string): ObjectMeta {
  if (raw.length < META_SIZE) throw new PersistError('BAD_META', `${where}: metadata record is ${raw.length} bytes, expected ${META_SIZE}; remove the pin tree with: vigil-sensor uninstall`);
  const magic = raw.readUInt32LE(0);
  if (magic !== META_MAGIC) throw new PersistError('BAD_META', `${where}: metadata magic is 0x${magic.toString(16)}, expected 0x${META_MAGIC.toString(16)} (not a Vigil record)`);
  const schema = raw.readUInt32LE(4);
  if (schema !== META_SCHEMA) throw new PersistError('BAD_META', `${where}: metadata schema ${schema} is unknown to this sensor (knows ${META_SCHEMA})`);
  return {
    objectVersion: raw.readUInt32LE(8),
    eventsAbi: raw.readUInt32LE(12),
    procsSchema: raw.readUInt32LE(16),
    checkpointNs: raw.readBigUInt64LE(24),
    lostSeen: raw.readBigUInt64LE(32),
  };
}

/** The record with its checkpoint fields replaced (the rest is what the object was built with). */
export function withCheckpoint(raw: Buffer, checkpointNs: bigint, lostSeen: bigint): Buffer {
  const out = Buffer.from(raw);
  out.writeBigUInt64LE(checkpointNs, 24);
  out.writeBigUInt64LE(lostSeen, 32);
  return out;
}
