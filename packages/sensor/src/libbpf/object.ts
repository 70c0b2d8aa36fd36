import { existsSync } from 'node:fs';
import { LibbpfError } from './errors.js';
import { BpfMap } from './map.js';
import { BpfProgram } from './program.js';
import { loadNative, negErrno, type NativePtr } from './native.js';

/**
 * A BPF object file (one program family), opened, configured, then loaded. Close it (or `using` it) to free the
 * programs and maps this process holds; pinned maps and pinned links stay in the kernel.
 */
export class BpfObject implements Disposable {
  private ptr: NativePtr | null;
  readonly path: string;
  private readonly programsByName = new Map<string, BpfProgram>();
  private readonly mapsByName = new Map<string, BpfMap>();
  private loaded = false;

  private constructor(ptr: NativePtr, path: string) {
    this.ptr = ptr;
    this.path = path;
    const b = loadNative().bpf;
    for (let p = b.bpf_object__next_program(ptr, null); p; p = b.bpf_object__next_program(ptr, p)) {
      const prog = new BpfProgram(p);
      this.programsByName.set(prog.name, prog);
    }
    for (let m = b.bpf_object__next_map(ptr, null); m; m = b.bpf_object__next_map(ptr, m)) {
      const map = new BpfMap(m);
      this.mapsByName.set(map.name, map);
    }
  }

  static open(path: string): BpfObject {
    if (!existsSync(path)) {
      throw new LibbpfError('OBJECT_OPEN_FAILED', `BPF object ${path} does not exist; build it with: make -C bpf`, 2);
    }
    const n = loadNative();
    const mark = n.log.begin();
    const ptr = n.bpf.bpf_object__open_file(path, null);
    if (!ptr) throw new LibbpfError('OBJECT_OPEN_FAILED', `cannot open BPF object ${path}`, n.errno(), n.log.since(mark));
    return new BpfObject(ptr, path);
  }

  /** Verifies and loads every program with autoload on, creating (or reusing pinned) maps. */
  load(): void {
    const n = loadNative();
    const mark = n.log.begin();
    const err = negErrno(n.bpf.bpf_object__load(this.handle()));
    if (err) {
      throw new LibbpfError('OBJECT_LOAD_FAILED', `cannot load BPF object ${this.path}`, err, n.log.since(mark));
    }
    this.loaded = true;
  }

  get isLoaded(): boolean {
    return this.loaded;
  }

  programs(): BpfProgram[] {
    return [...this.programsByName.values()];
  }

  maps(): BpfMap[] {
    return [...this.mapsByName.values()];
  }

  program(name: string): BpfProgram {
    const p = this.programsByName.get(name);
    if (!p) throw new LibbpfError('PROGRAM_NOT_FOUND', `program ${name} not found in ${this.path}`);
    return p;
  }

  map(name: string): BpfMap {
    const m = this.mapsByName.get(name);
    if (!m) throw new LibbpfError('MAP_NOT_FOUND', `map ${name} not found in ${this.path}`);
    return m;
  }

  close(): void {
    if (!this.ptr) return;
    const ptr = this.ptr;
    this.ptr = null;
    loadNative().bpf.bpf_object__close(ptr);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private handle(): NativePtr {
    if (!this.ptr) throw new LibbpfError('CLOSED', `BPF object ${this.path} is closed`);
    return this.ptr;
  }
}
