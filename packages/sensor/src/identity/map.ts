/**
 * The node's identity-set map, pinned at <pinRoot>/state/vg_identity_v1 (bpf/include/abi/identity.h): created by
 * the sensor when absent (or by the first mechanism that loads with that pin path, which libbpf creates the same
 * way), opened by path otherwise. Every object that includes bpf/lib/identity.h reuses it by pin path.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadNative, negErrno } from '../libbpf/native.js';
import { MapType } from '../libbpf/map.js';
import { RawMap } from '../libbpf/raw-map.js';
import { IDENTITY_KEY_SIZE, IDENTITY_MAX_ENTRIES, IDENTITY_MAP_NAME, IDENTITY_PIN_NAME, IDENTITY_PRESENT, identityKey } from './abi.js';

export function identityPinPath(pinRoot: string): string {
  return join(pinRoot, 'state', IDENTITY_PIN_NAME);
}

/** What IdentitySets writes to: the pinned map, or anything with the same three operations. */
export interface IdentityMapWriter {
  add(setId: number, cgroupId: bigint): void;
  remove(setId: number, cgroupId: bigint): void;
  /** every key now in the map, as hex strings of identityKey() */
  keys(): string[];
  close(): void;
}

export class PinnedIdentityMap implements IdentityMapWriter {
  private constructor(
    readonly map: RawMap,
    readonly path: string,
  ) {}

  /** Opens the pinned map of `pinRoot`, creating and pinning it when it does not exist yet. */
  static open(pinRoot: string): PinnedIdentityMap {
    const path = identityPinPath(pinRoot);
    if (existsSync(path)) return new PinnedIdentityMap(RawMap.open(path, IDENTITY_KEY_SIZE, 1), path);
    mkdirSync(join(pinRoot, 'state'), { recursive: true });
    const m = RawMap.create({ type: MapType.HASH, name: IDENTITY_MAP_NAME, keySize: IDENTITY_KEY_SIZE, valueSize: 1, maxEntries: IDENTITY_MAX_ENTRIES });
    try {
      m.pin(path);
    } catch (err) {
      m.close();
      if (existsSync(path)) return new PinnedIdentityMap(RawMap.open(path, IDENTITY_KEY_SIZE, 1), path); // lost a race
      throw err;
    }
    return new PinnedIdentityMap(m, path);
  }

  add(setId: number, cgroupId: bigint): void {
    this.map.update(identityKey(setId, cgroupId), IDENTITY_PRESENT);
  }

  remove(setId: number, cgroupId: bigint): void {
    this.map.delete(identityKey(setId, cgroupId));
  }

  keys(): string[] {
    const b = loadNative().bpf;
    const out: string[] = [];
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(IDENTITY_KEY_SIZE);
      const err = negErrno(b.bpf_map_get_next_key(this.map.fd, prev, next));
      if (err) break; // ENOENT: end
      out.push(next.toString('hex'));
      prev = next;
    }
    return out;
  }

  close(): void {
    this.map.close();
  }
}
