/** Whole-map replacement shared by the mechanism units: new and changed entries first, then stale ones deleted. */
import type { BpfMap } from '../libbpf/index.js';
import { EnforceError } from './errors.js';

export function replaceEntries(map: BpfMap, entries: ReadonlyArray<{ key: Buffer; value: Buffer }>, what: string): void {
  if (entries.length > map.maxEntries) throw new EnforceError('LIMIT', `${entries.length} ${what}; the limit is ${map.maxEntries}`);
  const want = new Set(entries.map((e) => e.key.toString('hex')));
  for (const e of entries) map.update(e.key, e.value);
  for (const k of [...map.keys()]) if (!want.has(k.toString('hex'))) map.delete(k);
}

/** Deletes the entries of `map` not in `keep` (after the maps that refer to them were rewritten). */
export function dropStale(map: BpfMap, keep: ReadonlyArray<{ key: Buffer }>): void {
  const want = new Set(keep.map((e) => e.key.toString('hex')));
  for (const k of [...map.keys()]) if (!want.has(k.toString('hex'))) map.delete(k);
}

/** Adds or updates `entries` in `map` without deleting anything. */
export function addEntries(map: BpfMap, entries: ReadonlyArray<{ key: Buffer; value: Buffer }>, what: string): void {
  if (entries.length > map.maxEntries) throw new EnforceError('LIMIT', `${entries.length} ${what}; the limit is ${map.maxEntries}`);
  for (const e of entries) map.update(e.key, e.value);
}
