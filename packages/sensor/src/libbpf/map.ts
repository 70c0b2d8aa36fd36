import koffi from 'koffi';
import { LibbpfError } from './errors.js';
import { loadNative, negErrno, type NativePtr } from './native.js';

/** Kernel map types the sensor cares about (uapi enum bpf_map_type). */
export const MapType = {
  HASH: 1,
  ARRAY: 2,
  PERCPU_HASH: 5,
  PERCPU_ARRAY: 6,
  LRU_HASH: 9,
  LPM_TRIE: 11,
  RINGBUF: 27,
} as const;

export const UpdateFlags = { ANY: 0n, NOEXIST: 1n, EXIST: 2n } as const;

const ENOENT = 2;

function isPerCpu(type: number): boolean {
  return type === MapType.PERCPU_ARRAY || type === MapType.PERCPU_HASH || type === 10; /* LRU_PERCPU_HASH */
}

/**
 * A BPF map of a BpfObject (usable before load for sizing and pinning, after load for data). Keys and values
 * are Buffers of exactly keySize / valueSize bytes; per-CPU maps take and return nCpus values, each padded to 8.
 */
export class BpfMap {
  private readonly ptr: NativePtr | null;
  readonly name: string;
  private meta: { type: number; keySize: number; valueSize: number; maxEntries: number } | undefined;

  /** Wraps an object's map (owned by the object). */
  constructor(ptr: NativePtr) {
    this.ptr = ptr;
    this.name = loadNative().bpf.bpf_map__name(ptr);
  }

  get fd(): number {
    if (!this.ptr) throw new LibbpfError('CLOSED', `map ${this.name} is closed`);
    return loadNative().bpf.bpf_map__fd(this.ptr);
  }

  private info() {
    if (!this.meta) {
      if (!this.ptr) throw new LibbpfError('CLOSED', `map ${this.name} has no metadata`);
      const b = loadNative().bpf;
      this.meta = {
        type: b.bpf_map__type(this.ptr),
        keySize: b.bpf_map__key_size(this.ptr),
        valueSize: b.bpf_map__value_size(this.ptr),
        maxEntries: b.bpf_map__max_entries(this.ptr),
      };
    }
    return this.meta;
  }

  get type(): number {
    return this.info().type;
  }
  get keySize(): number {
    return this.info().keySize;
  }
  get valueSize(): number {
    return this.info().valueSize;
  }
  get maxEntries(): number {
    return this.info().maxEntries;
  }
  get perCpu(): boolean {
    return isPerCpu(this.type);
  }
  /** Bytes one lookup returns: valueSize, or nCpus × roundup(valueSize, 8) for per-CPU maps. */
  get lookupSize(): number {
    if (!this.perCpu) return this.valueSize;
    return loadNative().bpf.libbpf_num_possible_cpus() * Math.ceil(this.valueSize / 8) * 8;
  }

  /** Before load: resizes the map (ring buffers: a power of two multiple of the page size). */
  setMaxEntries(n: number): void {
    this.requireObjectMap();
    const err = negErrno(loadNative().bpf.bpf_map__set_max_entries(this.ptr as NativePtr, n));
    if (err) throw new LibbpfError('MAP_OP_FAILED', `cannot resize map ${this.name} to ${n}`, err);
    this.meta = undefined;
  }

  /** Before load: pin at `path`, reusing a compatible map already pinned there. */
  setPinPath(path: string | null): void {
    this.requireObjectMap();
    const err = negErrno(loadNative().bpf.bpf_map__set_pin_path(this.ptr as NativePtr, path));
    if (err) throw new LibbpfError('PIN_FAILED', `cannot set pin path of map ${this.name}`, err);
  }

  /** Before load: the initial contents of a data-section map (.data, .rodata, .data.*) as the object file has them. */
  initialValue(): Buffer | undefined {
    this.requireObjectMap();
    const size = Buffer.alloc(8);
    const ptr = loadNative().bpf.bpf_map__initial_value(this.ptr as NativePtr, size);
    if (!ptr) return undefined;
    return Buffer.from(new Uint8Array(koffi.view(ptr, Number(size.readBigUInt64LE())))); // a copy: the view is libbpf memory
  }

  /** Before load: replaces the contents of a data-section map (.rodata: the object's `const volatile` settings). */
  setInitialValue(data: Buffer): void {
    this.requireObjectMap();
    const err = negErrno(loadNative().bpf.bpf_map__set_initial_value(this.ptr as NativePtr, data, data.length));
    if (err) throw new LibbpfError('MAP_OP_FAILED', `cannot set the initial value of map ${this.name} (${data.length} bytes)`, err);
  }

  get pinned(): boolean {
    return this.ptr ? loadNative().bpf.bpf_map__is_pinned(this.ptr) : false;
  }

  unpin(path: string | null = null): void {
    this.requireObjectMap();
    const err = negErrno(loadNative().bpf.bpf_map__unpin(this.ptr as NativePtr, path));
    if (err) throw new LibbpfError('PIN_FAILED', `cannot unpin map ${this.name}`, err);
  }

  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.lookupSize);
    const ret = loadNative().bpf.bpf_map_lookup_elem(this.fd, this.checkKey(key), value);
    if (ret === 0) return value;
    const err = negErrno(ret);
    if (err === ENOENT) return undefined;
    throw new LibbpfError('MAP_OP_FAILED', `lookup in map ${this.name} failed`, err);
  }

  update(key: Buffer, value: Buffer, flags: bigint = UpdateFlags.ANY): void {
    if (value.length !== this.lookupSize) {
      throw new LibbpfError('MAP_OP_FAILED', `map ${this.name}: value must be ${this.lookupSize} bytes, got ${value.length}`);
    }
    const err = negErrno(loadNative().bpf.bpf_map_update_elem(this.fd, this.checkKey(key), value, flags));
    if (err) throw new LibbpfError('MAP_OP_FAILED', `update of map ${this.name} failed`, err);
  }

  /** Deletes `key`; returns false when it was not there. */
  delete(key: Buffer): boolean {
    const err = negErrno(loadNative().bpf.bpf_map_delete_elem(this.fd, this.checkKey(key)));
    if (err === ENOENT) return false;
    if (err) throw new LibbpfError('MAP_OP_FAILED', `delete from map ${this.name} failed`, err);
    return true;
  }

  /** All keys (get_next_key walk; a concurrently changing hash map may repeat or skip keys, as in the kernel). */
  *keys(): Generator<Buffer> {
    const b = loadNative().bpf;
    let prev: Buffer | null = null;
    for (;;) {
      const next = Buffer.alloc(this.keySize);
      const err = negErrno(b.bpf_map_get_next_key(this.fd, prev, next));
      if (err === ENOENT) return;
      if (err) throw new LibbpfError('MAP_OP_FAILED', `iteration of map ${this.name} failed`, err);
      yield next;
      prev = next;
    }
  }

  /** Every entry, read in batches (BPF_MAP_LOOKUP_BATCH) where the map type supports it. */
  entries(batchSize = 256): Array<[Buffer, Buffer]> {
    const b = loadNative().bpf;
    const out: Array<[Buffer, Buffer]> = [];
    const vsize = this.lookupSize;
    const keys = Buffer.alloc(this.keySize * batchSize);
    const values = Buffer.alloc(vsize * batchSize);
    const count = Buffer.alloc(4);
    const token = Buffer.alloc(Math.max(8, this.keySize));
    const nextToken = Buffer.alloc(Math.max(8, this.keySize));
    let first = true;
    for (;;) {
      count.writeUInt32LE(batchSize);
      const ret = b.bpf_map_lookup_batch(this.fd, first ? null : token, nextToken, keys, values, count, null);
      const err = negErrno(ret);
      const n = count.readUInt32LE();
      for (let i = 0; i < n; i++) {
        out.push([
          Buffer.from(keys.subarray(i * this.keySize, (i + 1) * this.keySize)),
          Buffer.from(values.subarray(i * vsize, (i + 1) * vsize)),
        ]);
      }
      if (err === ENOENT) return out;
      if (err === 22 /* EINVAL: not supported for this map type */ && first) return this.entriesByKeys();
      if (err) throw new LibbpfError('MAP_OP_FAILED', `batch lookup in map ${this.name} failed`, err);
      nextToken.copy(token);
      first = false;
    }
  }

  /** Writes many entries with one syscall (BPF_MAP_UPDATE_BATCH). */
  updateBatch(entries: ReadonlyArray<readonly [Buffer, Buffer]>): void {
    if (entries.length === 0) return;
    const vsize = this.lookupSize;
    const keys = Buffer.alloc(this.keySize * entries.length);
    const values = Buffer.alloc(vsize * entries.length);
    entries.forEach(([k, v], i) => {
      this.checkKey(k).copy(keys, i * this.keySize);
      if (v.length !== vsize) throw new LibbpfError('MAP_OP_FAILED', `map ${this.name}: value must be ${vsize} bytes`);
      v.copy(values, i * vsize);
    });
    const count = Buffer.alloc(4);
    count.writeUInt32LE(entries.length);
    const err = negErrno(loadNative().bpf.bpf_map_update_batch(this.fd, keys, values, count, null));
    if (err) throw new LibbpfError('MAP_OP_FAILED', `batch update of map ${this.name} failed after ${count.readUInt32LE()} entries`, err);
  }

  /** Deletes many keys with one syscall (BPF_MAP_DELETE_BATCH). */
  deleteBatch(keyList: readonly Buffer[]): void {
    if (keyList.length === 0) return;
    const keys = Buffer.concat(keyList.map((k) => this.checkKey(k)));
    const count = Buffer.alloc(4);
    count.writeUInt32LE(keyList.length);
    const err = negErrno(loadNative().bpf.bpf_map_delete_batch(this.fd, keys, count, null));
    if (err) throw new LibbpfError('MAP_OP_FAILED', `batch delete from map ${this.name} failed after ${count.readUInt32LE()} keys`, err);
  }

  private entriesByKeys(): Array<[Buffer, Buffer]> {
    const out: Array<[Buffer, Buffer]> = [];
    for (const k of this.keys()) {
      const v = this.lookup(k);
      if (v) out.push([k, v]);
    }
    return out;
  }

  private checkKey(key: Buffer): Buffer {
    if (key.length !== this.keySize) {
      throw new LibbpfError('MAP_OP_FAILED', `map ${this.name}: key must be ${this.keySize} bytes, got ${key.length}`);
    }
    return key;
  }

  private requireObjectMap(): void {
    if (!this.ptr) throw new LibbpfError('MAP_OP_FAILED', `map ${this.name} is not part of an object`);
  }
}
