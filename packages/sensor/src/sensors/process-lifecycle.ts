/**
 * The process lifecycle sensor unit: loads bpf/.output/process_lifecycle.bpf.o, keeps its per-process map
 * pinned (so exec_ids survive restarts), seeds that map for running processes, fills the userspace process
 * cache from /proc, and turns ring-buffer records into enriched process_exec / process_exit events.
 *
 * Start-up order closes the gap between "already running" and "seen by the kernel": programs attach first
 * (records queue in the ring buffer), then the map is seeded and /proc scanned, then the ring is consumed.
 */
import { mkdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { OFF, PROCS_SCHEMA, ProcFlags, SIZE } from '../abi/layout.js';
import { decodeRecord } from '../events/decode.js';
import type { KtimeClock } from '../events/exec-id.js';
import { EventPipeline } from '../events/pipeline.js';
import type { NewProcess, ProcessCache } from '../events/process-cache.js';
import { listPids, readProc } from '../events/procfs.js';
import { SequenceTracker } from '../events/sequence.js';
import type { KernelRecord } from '../events/types.js';
import type { SensorEvent } from '../export/model.js';
import { attachUnit, loadUnit } from '../mechanisms/pinning.js';
import type { PersistReport, PinnedObject } from '../persist/pinned-object.js';
import {
  BpfObject,
  LibbpfError,
  MappedRingBuffer,
  UpdateFlags,
  closeFd,
  iterCreate,
  type BpfLink,
  type BpfMap,
  type RingView,
} from '../libbpf/index.js';

export interface ProcessLifecycleOptions {
  objectPath: string;
  /** bpffs directory for Vigil's pins, e.g. /sys/fs/bpf/vigil */
  pinRoot: string;
  node: string;
  /** ring buffer size in bytes (power of two, multiple of the page size) */
  ringBytes: number;
  /** ancestors attached to each event (0: none) */
  ancestors: number;
  maxCachedProcesses?: number;
  /** how to seed vg_procs for running processes: the task iterator where the kernel has one (auto), or /proc */
  seed?: 'auto' | 'procfs';
  logger: Logger;
  clock?: KtimeClock;
  onEvent: (ev: SensorEvent) => void;
  /** every decoded record, before enrichment (benchmarks and tests) */
  onRecord?: (rec: KernelRecord) => void;
  /**
   * Pin the programs' links and the ring under <pinRoot>/lifecycle (docs/adr/0009): exec, fork and exit keep being
   * recorded while no sensor runs (what fits in the ring is delivered on the next start, the rest counted as
   * lost_while_down), and the next start adopts them. Default false: close() detaches.
   */
  persist?: boolean;
  onPersist?: (r: PersistReport) => void;
}

export interface LifecycleStats {
  /** records received since start */
  records: bigint;
  /** records the kernel tried to emit since start (sum of the per-CPU sequence counters' advance) */
  attempts: bigint;
  /** sequence numbers missing below the highest one received on each CPU: every one must be a reserve failure */
  gaps: bigint;
  /** the kernel's own count of failed ring-buffer reserves since start: the exact number of records lost */
  reserveFailures: bigint;
  /** attempts − records − reserveFailures: records still in flight; 0 once the ring is drained and quiet */
  unaccounted: bigint;
  decodeErrors: number;
  exitUntracked: bigint;
  seeded: number;
  seedMethod: 'task_iter' | 'procfs';
  cache: ReturnType<ProcessCache['stats']>;
}

const CLK_TCK = 100;

export class ProcessLifecycleSensor implements Disposable {
  private readonly obj: BpfObject;
  private readonly links: BpfLink[] = [];
  private pins: PinnedObject | undefined;
  private reader: MappedRingBuffer | undefined;
  readonly pipeline: EventPipeline;
  readonly sequence = new SequenceTracker();
  private decodeErrors = 0;
  private seeded = 0;
  private seedMethod: 'task_iter' | 'procfs' = 'task_iter';
  private reserveBase = 0n;
  private exitBase = 0n;

  private constructor(private readonly opts: ProcessLifecycleOptions) {
    this.pipeline = new EventPipeline({
      node: opts.node,
      ancestors: opts.ancestors,
      maxCachedProcesses: opts.maxCachedProcesses,
      clock: opts.clock,
      onEvent: opts.onEvent,
    });
    this.obj = BpfObject.open(opts.objectPath);
  }

  static start(opts: ProcessLifecycleOptions): ProcessLifecycleSensor {
    const s = new ProcessLifecycleSensor(opts);
    try {
      s.startUp();
    } catch (err) {
      s.close();
      throw err;
    }
    return s;
  }

  get cache(): ProcessCache {
    return this.pipeline.cache;
  }

  private get procs(): BpfMap {
    return this.obj.map('vg_procs');
  }

  private startUp(): void {
    const { opts } = this;
    const stateDir = join(opts.pinRoot, 'state');
    mkdirSync(stateDir, { recursive: true });
    this.obj.map('vg_events').setMaxEntries(opts.ringBytes);
    const procsPin = join(stateDir, `vg_procs_v${PROCS_SCHEMA}`);
    this.obj.program('vg_seed_tasks').setAutoload(true);
    const lostCounter = () => this.readStats().reduce((a, st) => a + st.reserveFail, 0n);
    this.pins = loadUnit(this.obj, opts.persist ? join(opts.pinRoot, 'lifecycle') : undefined, { links: ['vg_exec', 'vg_fork', 'vg_exit'], external: { vg_procs: procsPin }, lostCounter, ...(opts.onPersist ? { onPersist: opts.onPersist } : {}) });

    const stats = this.readStats();
    for (const [cpu, st] of stats.entries()) this.sequence.setBase(cpu, st.seq);
    this.reserveBase = stats.reduce((a, s) => a + s.reserveFail, 0n);
    this.exitBase = stats.reduce((a, s) => a + s.exitUntracked, 0n);
    const events = this.obj.map('vg_events');
    this.reader = new MappedRingBuffer(events.fd, events.maxEntries, (view, off, size) => this.onRaw(view, off, size), (err) =>
      opts.logger.warn({ err }, 'event handler failed'),
    );
    for (const name of ['vg_exec', 'vg_fork', 'vg_exit']) this.links.push(attachUnit(this.pins, this.obj, name, (o) => o.program(name).attachTrace()));
    this.pins?.commit();

    // Adopted programs kept vg_procs current while the sensor was down: nothing to seed (the iterator is not loaded).
    if (!this.pins?.adopted) this.seed();
    this.scanProc();
    this.reader.start();
    opts.logger.info({ seeded: this.seeded, seedMethod: this.seedMethod, cached: this.cache.size }, 'process lifecycle sensor attached');
  }

  /** Per-CPU counters from vg_stats. */
  readStats(): Array<{ seq: bigint; reserveFail: bigint; exitUntracked: bigint }> {
    const raw = this.obj.map('vg_stats').lookup(Buffer.alloc(4));
    if (!raw) return [];
    const stride = Math.ceil(SIZE.stats / 8) * 8;
    const out = [];
    for (let off = 0; off + SIZE.stats <= raw.length; off += stride) {
      out.push({
        seq: raw.readBigUInt64LE(off + OFF.stats.seq),
        reserveFail: raw.readBigUInt64LE(off + OFF.stats.reserve_fail),
        exitUntracked: raw.readBigUInt64LE(off + OFF.stats.exit_untracked),
      });
    }
    return out;
  }

  /** Seeds vg_procs for running processes: the task iterator where the kernel has one, /proc otherwise. */
  private seed(): void {
    if (this.opts.seed === 'procfs') {
      this.seedMethod = 'procfs';
      this.seedFromProc();
      return;
    }
    try {
      const link = this.obj.program('vg_seed_tasks').attachIter();
      try {
        const fd = iterCreate(link.fd);
        try {
          const buf = Buffer.alloc(4096);
          let n: number;
          while ((n = readSync(fd, buf, 0, buf.length, null)) > 0) this.seeded += Math.floor(n / 4);
        } finally {
          closeFd(fd);
        }
      } finally {
        link.destroy();
      }
      this.seedMethod = 'task_iter';
    } catch (err) {
      this.opts.logger.warn({ err: err instanceof LibbpfError ? err.message : err }, 'task iterator unavailable; seeding from /proc');
      this.seedMethod = 'procfs';
      this.seedFromProc();
    }
  }

  private seedFromProc(): void {
    const snaps = listPids()
      .map((pid) => readProc(pid))
      .filter((s): s is NonNullable<typeof s> => s !== undefined && !s.kernelThread);
    const startOf = new Map(snaps.map((s) => [s.pid, BigInt(s.startTicks) * (1_000_000_000n / BigInt(CLK_TCK))]));
    for (const s of snaps) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(s.pid);
      const v = Buffer.alloc(SIZE.proc);
      v.writeBigUInt64LE(startOf.get(s.pid) ?? 0n, OFF.proc.exec_ktime);
      v.writeBigUInt64LE(startOf.get(s.ppid) ?? 0n, OFF.proc.parent_ktime);
      v.writeUInt32LE(s.ppid, OFF.proc.ppid);
      v.writeUInt32LE(ProcFlags.PROCFS, OFF.proc.flags);
      const bin = Buffer.from(s.binary).subarray(0, 255);
      v.writeUInt32LE(bin.length, OFF.proc.binary_len);
      bin.copy(v, OFF.proc.binary);
      try {
        this.procs.update(key, v, UpdateFlags.NOEXIST);
        this.seeded++;
      } catch {
        /* already there (an exec raced us) */
      }
    }
  }

  /** Fills the userspace cache with every running process, parents before children. */
  private scanProc(): void {
    const found: NewProcess[] = [];
    for (const pid of listPids()) {
      const key = Buffer.alloc(4);
      key.writeUInt32LE(pid);
      const v = this.procs.lookup(key);
      if (!v) continue; // kernel threads, or exited meanwhile
      const snap = readProc(pid);
      if (!snap) continue;
      const ktime = v.readBigUInt64LE(OFF.proc.exec_ktime);
      const ppid = v.readUInt32LE(OFF.proc.ppid);
      const binLen = Math.min(v.readUInt32LE(OFF.proc.binary_len), 255);
      found.push({
        pid,
        tid: pid,
        ppid,
        parentKtime: v.readBigUInt64LE(OFF.proc.parent_ktime),
        binary: binLen ? v.subarray(OFF.proc.binary, OFF.proc.binary + binLen).toString('utf8') : snap.binary,
        args: snap.argv.slice(1),
        cwd: snap.cwd,
        uid: snap.uid,
        euid: snap.euid,
        gid: snap.gid,
        egid: snap.egid,
        auid: snap.auid,
        cgroupId: 0n,
        ktime,
        flags: v.readUInt32LE(OFF.proc.flags) | ProcFlags.PROCFS,
      });
    }
    found.sort((a, b) => (a.ktime < b.ktime ? -1 : a.ktime > b.ktime ? 1 : 0));
    for (const p of found) this.cache.insert(p);
  }

  private onRaw(view: RingView, offset: number, size: number): void {
    let rec: KernelRecord;
    try {
      rec = decodeRecord(view, offset, size);
    } catch (err) {
      this.decodeErrors++;
      throw err;
    }
    this.sequence.observe(rec.cpu, rec.seq);
    this.opts.onRecord?.(rec);
    this.pipeline.handle(rec);
  }

  /** Consumes what is queued now (tests use it to avoid waiting for the poll). */
  drain(): number {
    return this.reader?.consume() ?? 0;
  }

  stats(): LifecycleStats {
    const st = this.readStats();
    let attempts = 0n;
    st.forEach((cpu, i) => (attempts += cpu.seq - (this.sequence.perCpu().get(i)?.base ?? 0n)));
    const reserveFailures = st.reduce((a, s) => a + s.reserveFail, 0n) - this.reserveBase;
    return {
      records: this.sequence.received,
      attempts,
      gaps: this.sequence.missing,
      reserveFailures,
      unaccounted: attempts - this.sequence.received - reserveFailures,
      decodeErrors: this.decodeErrors,
      exitUntracked: st.reduce((a, s) => a + s.exitUntracked, 0n) - this.exitBase,
      seeded: this.seeded,
      seedMethod: this.seedMethod,
      cache: this.cache.stats(),
    };
  }

  /** Detaches the programs (unless persist pinned them) and frees everything; the per-process map stays. Idempotent. */
  close(): void {
    try {
      this.reader?.consume();
    } catch {
      /* closing anyway */
    }
    this.reader?.close();
    this.reader = undefined;
    for (const l of this.links.splice(0)) l.destroy(); // detaches, unless pinned (persist)
    this.pins?.close();
    this.obj.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
