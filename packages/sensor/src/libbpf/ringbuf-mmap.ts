/**
 * A BPF ring buffer consumed directly from its memory mapping, without a native call per record: the ring's
 * consumer page (read-write), producer page and data area (read-only, mapped twice back to back by the kernel so
 * a record that wraps is contiguous) are mapped once and read through one ArrayBuffer. Atomics give the loads
 * and the store the ordering the kernel's protocol needs (acquire on producer position and record length,
 * release on the consumer position). Same protocol as libbpf's ring_buffer__consume; ~2–4× faster here
 * (see docs/benchmarks.md). libuv watches the map fd, which is readable while data is available.
 *
 * Record layout in the data area: u32 len (bit 31 busy, bit 30 discarded), u32 page offset, then len bytes,
 * the whole rounded up to 8 bytes.
 */
import koffi from 'koffi';
import { LibbpfError } from './errors.js';
import { loadNative, type NativePtr } from './native.js';

/** Everything a handler needs to read one record without copying: views over the whole mapped data area. */
export interface RingView {
  readonly dv: DataView;
  readonly bytes: Buffer;
}

/** Called synchronously per record: the record is `size` bytes at `offset` in `view` (valid during the call). */
export type MappedRecordHandler = (view: RingView, offset: number, size: number) => void;

const PROT_READ = 1;
const PROT_WRITE = 2;
const MAP_SHARED = 1;
const SC_PAGESIZE = 30;
const BUSY = 0x80000000;
const DISCARD = 0x40000000;
const HDR = 8;
const RELEASE_EVERY = 256;
/** Records per event-loop turn (about 10–40 ms of handler work for the sensor's decoders). */
const POLL_BUDGET = 8192;

export class MappedRingBuffer implements Disposable {
  private consumerPtr: NativePtr | null;
  private producerPtr: NativePtr | null;
  private readonly pageSize: number;
  private readonly size: number;
  private readonly mask: number;
  private readonly consumerPos: BigUint64Array;
  private readonly producerPos: BigUint64Array;
  private readonly lens: Int32Array;
  private readonly view: RingView;
  private poller: { stop(): void; close(): void } | null = null;
  private pumpScheduled = false;
  private records = 0;
  private handlerErrors = 0;

  /** `size` is the map's max_entries (a power of two). */
  constructor(
    private readonly mapFd: number,
    size: number,
    private readonly handler: MappedRecordHandler,
    private readonly onError: (err: unknown) => void = () => {},
  ) {
    const n = loadNative();
    this.pageSize = n.libc.sysconf(SC_PAGESIZE);
    this.size = size;
    this.mask = size - 1;
    this.consumerPtr = n.libc.mmap(null, this.pageSize, PROT_READ | PROT_WRITE, MAP_SHARED, mapFd, 0);
    if (!this.consumerPtr || koffi.address(this.consumerPtr) === 0xffffffffffffffffn) {
      throw new LibbpfError('RINGBUF_FAILED', 'cannot map the ring buffer consumer page', n.errno());
    }
    const prodLen = this.pageSize + 2 * size;
    this.producerPtr = n.libc.mmap(null, prodLen, PROT_READ, MAP_SHARED, mapFd, this.pageSize);
    if (!this.producerPtr || koffi.address(this.producerPtr) === 0xffffffffffffffffn) {
      const errno = n.errno();
      n.libc.munmap(this.consumerPtr, this.pageSize);
      this.consumerPtr = null;
      throw new LibbpfError('RINGBUF_FAILED', 'cannot map the ring buffer data area', errno);
    }
    this.consumerPos = new BigUint64Array(koffi.view(this.consumerPtr, this.pageSize), 0, 1);
    const prod = koffi.view(this.producerPtr, prodLen);
    this.producerPos = new BigUint64Array(prod, 0, 1);
    this.lens = new Int32Array(prod, this.pageSize, (2 * size) / 4);
    this.view = { dv: new DataView(prod, this.pageSize, 2 * size), bytes: Buffer.from(prod, this.pageSize, 2 * size) };
  }

  start(): void {
    if (this.poller) return;
    this.poller = koffi.node.poll(this.mapFd, { readable: true }, () => this.pump());
  }

  /**
   * One turn of the event loop's worth of records. A producer faster than the handler (a flood of denials) would
   * otherwise keep one consume() going forever and starve timers, I/O and the rest of the sensor: at most
   * POLL_BUDGET records per turn, and the rest on the next turn (setImmediate), after everything else had its go.
   */
  private pump(): void {
    if (this.pumpScheduled) return;
    if (this.consume(POLL_BUDGET) < POLL_BUDGET) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      if (this.poller) this.pump();
    });
  }

  /** Consumes the committed records available now, at most `maxRecords`; returns how many were handed to the handler. */
  consume(maxRecords = Number.POSITIVE_INFINITY): number {
    if (!this.consumerPtr) return 0;
    let handled = 0;
    let cons = Atomics.load(this.consumerPos, 0);
    for (;;) {
      const prod = Atomics.load(this.producerPos, 0);
      if (prod <= cons || handled >= maxRecords) break;
      const avail = Number(prod - cons);
      const start = Number(cons & BigInt(this.mask));
      let done = 0;
      let sinceRelease = 0;
      let busy = false;
      while (done < avail && handled < maxRecords) {
        const off = (start + done) & this.mask;
        const len = Atomics.load(this.lens, off >> 2) >>> 0;
        if (len & BUSY) {
          busy = true;
          break;
        }
        const size = len & ~(BUSY | DISCARD);
        if (!(len & DISCARD)) {
          this.records++;
          handled++;
          try {
            this.handler(this.view, off + HDR, size);
          } catch (err) {
            this.handlerErrors++;
            this.onError(err);
          }
        }
        done += (size + HDR + 7) & ~7;
        if (++sinceRelease === RELEASE_EVERY) {
          Atomics.store(this.consumerPos, 0, cons + BigInt(done));
          sinceRelease = 0;
        }
      }
      cons += BigInt(done);
      Atomics.store(this.consumerPos, 0, cons);
      if (busy || done === 0) break;
    }
    return handled;
  }

  get stats(): { records: number; handlerErrors: number } {
    return { records: this.records, handlerErrors: this.handlerErrors };
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
    const n = loadNative();
    if (this.producerPtr) n.libc.munmap(this.producerPtr, this.pageSize + 2 * this.size);
    if (this.consumerPtr) n.libc.munmap(this.consumerPtr, this.pageSize);
    this.producerPtr = null;
    this.consumerPtr = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
