import { LibbpfError } from './errors.js';
import { loadNative, negErrno, type NativePtr } from './native.js';

/** An attached program. Destroying it detaches, unless it was pinned (a pinned link outlives the process). */
export class BpfLink implements Disposable {
  private ptr: NativePtr | null;
  readonly description: string;

  constructor(ptr: NativePtr, description: string) {
    this.ptr = ptr;
    this.description = description;
  }

  /** Opens a link pinned at `path` by this or an earlier process. */
  static open(path: string): BpfLink {
    const n = loadNative();
    const mark = n.log.begin();
    const ptr = n.bpf.bpf_link__open(path);
    if (!ptr) throw new LibbpfError('PIN_FAILED', `cannot open pinned link ${path}`, n.errno(), n.log.since(mark));
    return new BpfLink(ptr, path);
  }

  get fd(): number {
    return loadNative().bpf.bpf_link__fd(this.handle());
  }

  pin(path: string): void {
    const n = loadNative();
    const err = negErrno(n.bpf.bpf_link__pin(this.handle(), path));
    if (err) throw new LibbpfError('PIN_FAILED', `cannot pin link ${this.description} at ${path}`, err);
  }

  unpin(): void {
    const err = negErrno(loadNative().bpf.bpf_link__unpin(this.handle()));
    if (err) throw new LibbpfError('PIN_FAILED', `cannot unpin link ${this.description}`, err);
  }

  /** Closes this process's handle but leaves the attachment in place (for pinned links). */
  disconnect(): void {
    if (!this.ptr) return;
    loadNative().bpf.bpf_link__disconnect(this.ptr);
    this.destroy();
  }

  /** Detaches (unless pinned or disconnected) and frees the handle. Idempotent. */
  destroy(): void {
    if (!this.ptr) return;
    const ptr = this.ptr;
    this.ptr = null;
    loadNative().bpf.bpf_link__destroy(ptr);
  }

  get closed(): boolean {
    return this.ptr === null;
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  private handle(): NativePtr {
    if (!this.ptr) throw new LibbpfError('CLOSED', `link ${this.description} is closed`);
    return this.ptr;
  }
}
