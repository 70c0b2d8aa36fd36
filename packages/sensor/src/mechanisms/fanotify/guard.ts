/**
 * fanotify permission events as a real-deny mechanism (EPERM) for open and exec on kernels without LSM BPF:
 * FAN_OPEN_PERM and FAN_OPEN_EXEC_PERM marks on the protected files (inode marks; or on whole filesystems or
 * mounts, with ignore marks added for every allowed inode to keep the cost down), answered by a dedicated
 * worker thread (./worker.ts) from a deny set of (st_dev, st_ino). Only while the sensor runs: when the group's
 * fd closes (the sensor exits or dies) the kernel allows every pending and later event, which is why the
 * in-kernel kill mechanisms (exec kill, open kill) stay armed as well.
 *
 *   const g = await FanotifyGuard.start({ onDeny });
 *   await g.setDenySet([{ path: '/etc/shadow' }]);   // marks the inode, the worker answers FAN_DENY
 *   await g.close();
 *
 * The deny set is keyed by the userspace st_dev (Node's stat().dev), not the kernel dev_t the BPF maps use.
 */
import { statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { MessageChannel, Worker } from 'node:worker_threads';
import koffi from 'koffi';
import { EnforceError } from '../errors.js';
import { COUNTER, COUNTERS, workerMain, type WorkerData } from './worker.js';

const FAN_CLOEXEC = 0x1;
const FAN_CLASS_CONTENT = 0x4;
const FAN_UNLIMITED_QUEUE = 0x10;
const FAN_MARK_ADD = 0x1;
const FAN_MARK_REMOVE = 0x2;
const FAN_MARK_MOUNT = 0x10;
const FAN_MARK_FILESYSTEM = 0x100;
export const FAN_OPEN_PERM = 0x10000;
export const FAN_OPEN_EXEC_PERM = 0x40000;
const O_RDONLY = 0;
const O_CLOEXEC = 0o2000000;
const O_LARGEFILE = 0o100000;
const EFD_CLOEXEC = 0o2000000;
const EFD_NONBLOCK = 0o4000;
const AT_FDCWD = -100;
const MARK_MASK = BigInt(FAN_OPEN_PERM | FAN_OPEN_EXEC_PERM);
const EXEC_MASK = BigInt(FAN_OPEN_EXEC_PERM);

function libc() {
  const lib = koffi.load('libc.so.6');
  return {
    fanotify_init: lib.func('int fanotify_init(unsigned int flags, unsigned int event_f_flags)') as (flags: number, ev: number) => number,
    fanotify_mark: lib.func('int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, str path)') as (
      fd: number,
      flags: number,
      mask: bigint,
      dirfd: number,
      path: string,
    ) => number,
    eventfd: lib.func('int eventfd(unsigned int initval, int flags)') as (init: number, flags: number) => number,
    write: lib.func('long write(int fd, const uint8_t *buf, size_t n)') as (fd: number, b: Buffer, n: number) => number,
    close: lib.func('int close(int fd)') as (fd: number) => number,
  };
}
let native: ReturnType<typeof libc> | undefined;

/**
 * A file to deny: by path (its inode is marked) or by identity (needs a mount/fs mark). `only: 'exec'` denies
 * executing it (FAN_OPEN_EXEC_PERM: execve, execveat, uselib) and still lets it be opened and read; without it,
 * every open is denied, executing included.
 */
export type FanotifyRule = ({ path: string } | { dev: bigint; ino: bigint }) & { only?: 'exec' };

/** Worker deny-set key of a file: `dev:ino`, prefixed `x:` when only executing it is denied. */
export function denyKey(dev: bigint, ino: bigint, only: 'exec' | undefined): string {
  return `${only === 'exec' ? 'x:' : ''}${dev}:${ino}`;
}

export interface FanotifyDecision {
  pid: number;
  /** userspace st_dev and st_ino of the denied file */
  dev: bigint;
  ino: bigint;
  /** 'open' (FAN_OPEN_PERM) or 'exec' (FAN_OPEN_EXEC_PERM) */
  kind: 'open' | 'exec';
}

export interface FanotifyGuardOptions {
  /** pids whose opens are always allowed (still answered); default: this process */
  exemptPids?: readonly number[];
  onDeny?: (d: FanotifyDecision) => void;
  /** the worker stopped on an unrecoverable error (the group stays open: events then wait); default: ignored */
  onFatal?: (message: string) => void;
}

export interface FanotifyCounters {
  events: bigint;
  allowed: bigint;
  denied: bigint;
  exemptAllowed: bigint;
  ignoreMarks: bigint;
  errors: bigint;
}

export class FanotifyGuard {
  private readonly n = (native ??= libc());
  private fanFd = -1;
  private wakeFd = -1;
  private worker: Worker | undefined;
  private readonly channel = new MessageChannel();
  private readonly counterBuf = new SharedArrayBuffer(COUNTERS * 8);
  private readonly counterView = new BigInt64Array(this.counterBuf);
  private seq = 0;
  private readonly acks = new Map<number, (flushed: boolean) => void>();
  /** paths with an inode mark */
  private readonly inodeMarks = new Map<string, bigint>();
  private readonly wholeMarks: Array<{ path: string; flags: number }> = [];
  private closed = false;

  private constructor(private readonly opts: FanotifyGuardOptions) {}

  /** Creates the fanotify group (FAN_CLASS_CONTENT) and starts the answering worker. */
  static async start(opts: FanotifyGuardOptions = {}): Promise<FanotifyGuard> {
    const g = new FanotifyGuard(opts);
    try {
      await g.startUp();
    } catch (err) {
      await g.close();
      throw err;
    }
    return g;
  }

  private async startUp(): Promise<void> {
    const { n } = this;
    this.fanFd = n.fanotify_init(FAN_CLOEXEC | FAN_CLASS_CONTENT | FAN_UNLIMITED_QUEUE, O_RDONLY | O_CLOEXEC | O_LARGEFILE);
    if (this.fanFd < 0) throw new EnforceError('SYSCALL_FAILED', `fanotify_init failed (errno ${koffi.errno()}): needs CAP_SYS_ADMIN and CONFIG_FANOTIFY_ACCESS_PERMISSIONS`, koffi.errno());
    this.wakeFd = n.eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.wakeFd < 0) throw new EnforceError('SYSCALL_FAILED', `eventfd failed (errno ${koffi.errno()})`, koffi.errno());
    const data: WorkerData = {
      koffiPath: createRequire(import.meta.url).resolve('koffi'),
      fanFd: this.fanFd,
      wakeFd: this.wakeFd,
      port: this.channel.port2,
      counters: this.counterBuf,
      exemptPids: [...(this.opts.exemptPids ?? [process.pid])],
    };
    const code = `(${workerMain.toString()})(require('node:worker_threads'), require)`;
    this.worker = new Worker(code, { eval: true, workerData: data, transferList: [this.channel.port2] });
    const ready = new Promise<void>((resolve, reject) => {
      this.worker?.once('error', reject);
      this.worker?.once('exit', (code) => reject(new EnforceError('SYSCALL_FAILED', `fanotify worker exited (${code}) before it was ready`)));
      this.channel.port1.on('message', (m: { type: string; seq?: number; flushed?: boolean; pid?: number; dev?: string; ino?: string; mask?: number; message?: string }) => {
        if (m.type === 'ready') resolve();
        else if (m.type === 'ack') this.acks.get(m.seq ?? -1)?.(m.flushed === true);
        else if (m.type === 'deny') {
          this.opts.onDeny?.({ pid: m.pid ?? 0, dev: BigInt(m.dev ?? 0), ino: BigInt(m.ino ?? 0), kind: (m.mask ?? 0) & FAN_OPEN_EXEC_PERM ? 'exec' : 'open' });
        } else if (m.type === 'fatal') this.opts.onFatal?.(m.message ?? 'fanotify worker failed');
      });
    });
    this.channel.port1.unref();
    await ready;
    this.worker.removeAllListeners('exit');
    this.worker.removeAllListeners('error');
    this.worker.on('error', (err) => this.opts.onFatal?.(String(err)));
    this.worker.unref(); // a forgotten close() must not keep the process alive (the kernel then allows all)
  }

  private post(msg: object): void {
    this.channel.port1.postMessage(msg);
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    this.n.write(this.wakeFd, one, 8);
  }

  private mark(flags: number, path: string, what: string, mask = MARK_MASK): void {
    if (this.n.fanotify_mark(this.fanFd, flags, mask, AT_FDCWD, path) < 0) {
      throw new EnforceError('SYSCALL_FAILED', `fanotify_mark (${what}) of ${path} failed (errno ${koffi.errno()})`, koffi.errno());
    }
  }

  /**
   * Replaces the deny set. Resolves once the worker uses it: new keys reach the worker before new inode marks
   * are added, and marks are removed before their keys go, so no protected file is ever marked but unknown.
   */
  async setDenySet(rules: readonly FanotifyRule[]): Promise<void> {
    if (this.closed) throw new EnforceError('CLOSED', 'fanotify guard is closed');
    const keys: string[] = [];
    /** path → the permission events its inode mark needs (exec only, or every open) */
    const paths = new Map<string, bigint>();
    for (const r of rules) {
      if ('path' in r) {
        let st;
        try {
          st = statSync(r.path, { bigint: true });
        } catch (err) {
          throw new EnforceError('BAD_RULE', `cannot stat ${r.path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
        }
        keys.push(denyKey(st.dev, st.ino, r.only));
        paths.set(r.path, (paths.get(r.path) ?? 0n) | (r.only === 'exec' ? EXEC_MASK : MARK_MASK));
      } else keys.push(denyKey(r.dev, r.ino, r.only));
    }
    // Marks are only narrowed before the worker knows the new keys (removing bits, never the whole mark while a
    // bit is still wanted), and widened after it does.
    for (const [p, mask] of [...this.inodeMarks]) {
      const want = paths.get(p) ?? 0n;
      const drop = mask & ~want;
      if (drop === 0n) continue;
      this.n.fanotify_mark(this.fanFd, FAN_MARK_REMOVE, drop, AT_FDCWD, p); // ENOENT after a flush: fine
      if (want === 0n) this.inodeMarks.delete(p);
      else this.inodeMarks.set(p, mask & want);
    }
    const flushed = await this.send(keys);
    if (flushed) this.inodeMarks.clear();
    for (const [p, want] of paths) {
      const have = this.inodeMarks.get(p) ?? 0n;
      if ((have & want) === want) continue;
      this.mark(FAN_MARK_ADD, p, 'inode', want);
      this.inodeMarks.set(p, have | want);
    }
  }

  private send(keys: string[]): Promise<boolean> {
    const seq = ++this.seq;
    return new Promise<boolean>((resolve) => {
      this.acks.set(seq, (flushed) => {
        this.acks.delete(seq);
        resolve(flushed);
      });
      this.channel.port1.ref();
      this.post({ type: 'set', seq, keys });
    }).finally(() => {
      if (this.acks.size === 0) this.channel.port1.unref();
    });
  }

  /**
   * Marks a whole filesystem (`kind: 'filesystem'`, the superblock of `path`) or mount: every open and exec on it
   * raises an event. The worker then adds an ignore mark on each inode it allows, so each allowed file costs one
   * event until the deny set next grows (which flushes the ignore marks).
   */
  markWhole(path: string, kind: 'filesystem' | 'mount'): void {
    if (this.closed) throw new EnforceError('CLOSED', 'fanotify guard is closed');
    const flags = FAN_MARK_ADD | (kind === 'filesystem' ? FAN_MARK_FILESYSTEM : FAN_MARK_MOUNT);
    this.post({ type: 'ignore', on: true });
    this.mark(flags, path, kind);
    this.wholeMarks.push({ path, flags });
  }

  counters(): FanotifyCounters {
    const c = this.counterView;
    return {
      events: Atomics.load(c, COUNTER.events),
      allowed: Atomics.load(c, COUNTER.allowed),
      denied: Atomics.load(c, COUNTER.denied),
      exemptAllowed: Atomics.load(c, COUNTER.exemptAllowed),
      ignoreMarks: Atomics.load(c, COUNTER.ignoreMarks),
      errors: Atomics.load(c, COUNTER.errors),
    };
  }

  /** Test hook: the worker stops reading events (they wait in the kernel), as if the sensor hung. */
  pauseForTest(): void {
    this.post({ type: 'pause' });
  }

  /**
   * Stops the worker and closes the group. The kernel allows every event still pending and raises no more:
   * the protected files are accessible again. Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const w = this.worker;
    if (w) {
      const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()));
      if (this.wakeFd >= 0) this.post({ type: 'stop' });
      const timer = setTimeout(() => void w.terminate(), 2000);
      await exited;
      clearTimeout(timer);
    }
    this.channel.port1.close();
    if (this.fanFd >= 0) this.n.close(this.fanFd);
    if (this.wakeFd >= 0) this.n.close(this.wakeFd);
    this.fanFd = this.wakeFd = -1;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
