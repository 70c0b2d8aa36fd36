/**
 * A BPF map by fd, outside any BpfObject: maps created from user space (inner maps of array-of-maps, created per
 * generation by the generic hook engine) and pinned maps opened by path. Close it to drop this process's
 * reference; a map held by an outer map or a pin stays alive.
 */
import { LibbpfError } from './errors.js';
import { loadNative, negErrno } from './native.js';
import { closeFd, objGet, objPin } from './syscalls.js';

export const MapFlags = { NO_PREALLOC: 1, INNER_MAP: 1 << 12 } as const;

const ENOENT = 2;

export class RawMap implements Disposable {
  private fdValue: number;

  private constructor(
    fd: number,
    readonly name: string,
    readonly keySize: number,
    readonly valueSize: number,
  ) {
    this.fdValue = fd;
  }

  /** bpf_map_create: a new map of `type` (MapType) with these sizes and flags (MapFlags). */
  static create(o: { type: number; name: string; keySize: number; valueSize: number; maxEntries: number; flags?: number; innerMapFd?: number }): RawMap {
    // struct bpf_map_create_opts { size_t sz; u32 btf_fd, btf_key_type_id, btf_value_type_id, btf_vmlinux_value_type_id;
    //   u32 inner_map_fd; u32 map_flags; u64 map_extra; u32 numa_node; u32 map_ifindex; }  (48 bytes)
    const opts = Buffer.alloc(48);
    opts.writeBigUInt64LE(48n, 0);
    opts.writeUInt32LE(o.innerMapFd ?? 0, 24);
    opts.writeUInt32LE(o.flags ?? 0, 28);
    const n = loadNative();
    const fd = n.bpf.bpf_map_create(o.type, o.name.slice(0, 15), o.keySize, o.valueSize, o.maxEntries, opts);
    if (fd < 0) throw new LibbpfError('MAP_OP_FAILED', `cannot create map ${o.name} (type ${o.type}, key ${o.keySize}, value ${o.valueSize}, ${o.maxEntries} entries)`, negErrno(fd) || n.errno());
    return new RawMap(fd, o.name, o.keySize, o.valueSize);
  }

  /** A pinned map; sizes must be what the caller expects (they are checked on every access by the kernel). */
  static open(path: string, keySize: number, valueSize: number): RawMap {
    return new RawMap(objGet(path), path, keySize, valueSize);
  }

  get fd(): number {
    if (this.fdValue < 0) throw new LibbpfError('CLOSED', `map ${this.name} is closed`);
    return this.fdValue;
  }

  update(key: Buffer, value: Buffer, flags = 0n): void {
    if (key.length !== this.keySize || value.length !== this.valueSize)
      throw new LibbpfError('MAP_OP_FAILED', `map ${this.name}: key must be ${this.keySize} and value ${this.valueSize} bytes, got ${key.length} and ${value.length}`);
    const err = negErrno(loadNative().bpf.bpf_map_update_elem(this.fd, key, value, flags));
    if (err) throw new LibbpfError('MAP_OP_FAILED', `update of map ${this.name} failed`, err);
  }

  lookup(key: Buffer): Buffer | undefined {
    const value = Buffer.alloc(this.valueSize);
    const err = negErrno(loadNative().bpf.bpf_map_lookup_elem(this.fd, key, value));
    if (err === ENOENT) return undefined;
    if (err) throw new LibbpfError('MAP_OP_FAILED', `lookup in map ${this.name} failed`, err);
    return value;
  }

  delete(key: Buffer): boolean {
    const err = negErrno(loadNative().bpf.bpf_map_delete_elem(this.fd, key));
    if (err === ENOENT) return false;
    if (err) throw new LibbpfError('MAP_OP_FAILED', `delete from map ${this.name} failed`, err);
    return true;
  }

  pin(path: string): void {
    objPin(this.fd, path);
  }

  close(): void {
    if (this.fdValue < 0) return;
    closeFd(this.fdValue);
    this.fdValue = -1;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
