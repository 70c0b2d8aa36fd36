import koffi from 'koffi';
import { LibbpfError } from './errors.js';
import { loadNative, negErrno, type NativePtr } from './native.js';

/** Called synchronously for each record; `data` is only valid during the call (it aliases the ring). */
export type RecordHandler = (data: ArrayBuffer, size: number) => void;

/**
 * Consumes a BPF ring buffer without ever blocking the event loop: libuv watches libbpf's epoll fd for
 * readability and the records are consumed on the main thread with ring_buffer__consume (non-blocking), each
 * handed to the handler as a zero-copy view. A handler that throws does not stop consumption: the error goes to
 * onError and the record counts as failed.
 */
export class RingBufferReader implements Disposable {
  private rb: NativePtr | null;
  private readonly callback: unknown;
  private poller: { stop(): void; close(): void } | null = null;
  private failed = 0;
  private consumedRecords = 0;

  constructor(mapFd: number, handler: RecordHandler, private readonly onError: (err: unknown) => void = () => {}) {
    const n = loadNative();
    this.callback = koffi.register((_ctx: unknown, data: NativePtr, size: number) => {
      this.consumedRecords++;
      try {
        handler(koffi.view(data, size), size);
      } catch (err) {
        this.failed++;
        this.onError(err);
      }
      return 0;
    }, koffi.pointer(n.RingBufferSampleFn));
    const mark = n.log.begin();
    const rb = n.bpf.ring_buffer__new(mapFd, this.callback, null, null);
    if (!rb) {
      koffi.unregister(this.callback as bigint);
      throw new LibbpfError('RINGBUF_FAILED', 'cannot create ring buffer reader', n.errno(), n.log.since(mark));
    }
    this.rb = rb;
  }

  /** Starts consuming whenever the kernel signals data. */
  start(): void {
    if (this.poller) return;
    const fd = loadNative().bpf.ring_buffer__epoll_fd(this.handle());
    const handle = koffi.node.poll(fd, { readable: true }, () => {
      this.consume();
    });
    this.poller = handle;
  }

  /** Consumes everything available now; returns the number of records handled. */
  consume(): number {
    if (!this.rb) return 0;
    const ret = loadNative().bpf.ring_buffer__consume(this.rb);
    const err = negErrno(ret);
    if (err) throw new LibbpfError('RINGBUF_FAILED', 'ring buffer consume failed', err);
    return ret;
  }

  /** Records handed to the handler so far, and those whose handler threw. */
  get stats(): { records: number; handlerErrors: number } {
    return { records: this.consumedRecords, handlerErrors: this.failed };
  }

  stop(): void {
    if (this.poller) {
      this.poller.stop();
      this.poller.close();
      this.poller = null;
    }
  }

  close(): void {
    this.stop();
    if (!this.rb) return;
    loadNative().bpf.ring_buffer__free(this.rb);
    this.rb = null;
    koffi.unregister(this.callback as bigint);
  }

  [Symbol.dispose](): void {
    this.close();
  }

  private handle(): NativePtr {
    if (!this.rb) throw new LibbpfError('CLOSED', 'ring buffer reader is closed');
    return this.rb;
  }
}
