/** Reads and writes a map known only by an fd (a pinned map of another build), sized from its fdinfo. */
import { LibbpfError, loadNative, possibleCpus } from '../libbpf/index.js';
import type { PinInfo } from './fdinfo.js';

const ENOENT = 2;
const PERCPU_TYPES = new Set([5 /* PERCPU_HASH */, 6 /* PERCPU_ARRAY */, 10 /* LRU_PERCPU_HASH */]);

export const RINGBUF_TYPE = 27;

/** Bytes one lookup returns for a map of this shape (per-CPU maps: every CPU's value, each padded to 8). */
export function rawValueSize(info: PinInfo): number {
  const v = info.valueSize ?? 0;
  return PERCPU_TYPES.has(info.mapType ?? -1) ? possibleCpus() * Math.ceil(v / 8) * 8 : v;
}

function errnoOf(ret: number): number {
  return ret < 0 ? -ret : 0;
}

export function rawLookup(fd: number, info: PinInfo, key: Buffer): Buffer | undefined {
  const value = Buffer.alloc(rawValueSize(info));
  const ret = loadNative().bpf.bpf_map_lookup_elem(fd, key, value);
  if (ret === 0) return value;
  if (errnoOf(ret) === ENOENT) return undefined;
  throw new LibbpfError('MAP_OP_FAILED', `lookup in pinned map ${info.id} failed`, errnoOf(ret));
}

/** Every entry (get_next_key walk, then lookup; a key deleted meanwhile is skipped). */
export function rawEntries(fd: number, info: PinInfo): Array<[Buffer, Buffer]> {
  const b = loadNative().bpf;
  const keySize = info.keySize ?? 0;
  const out: Array<[Buffer, Buffer]> = [];
  let prev: Buffer | null = null;
  for (;;) {
    const next = Buffer.alloc(keySize);
    const err = errnoOf(b.bpf_map_get_next_key(fd, prev, next));
    if (err === ENOENT) return out;
    if (err) throw new LibbpfError('MAP_OP_FAILED', `iteration of pinned map ${info.id} failed`, err);
    const v = rawLookup(fd, info, next);
    if (v) out.push([next, v]);
    prev = next;
  }
}
