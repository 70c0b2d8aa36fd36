/**
 * The fanotify answering thread. It runs as its own worker_thread (eval'd from `workerMain.toString()`, so the
 * same code runs compiled and under ts-jest) and does only synchronous read()/write()/poll()/fstat() on fds it
 * was given, through its own koffi binding of libc: it never opens a path (no permission event of its own) and
 * never waits on the main thread (the main thread may itself be blocked in an open this thread must answer).
 * koffi's async calls would run on libuv's thread pool, shared with fs.*: a pool full of blocked opens would then
 * wait for an answer that can never come.
 *
 * Protocol (MessagePort `port`, woken through the eventfd `wakeFd`, read synchronously with receiveMessageOnPort):
 *   main → worker  { type: 'set', seq, keys: string[] }   deny set: `${st_dev}:${st_ino}` (userspace st_dev)
 *                  { type: 'ignore', on: boolean }          add ignore marks for allowed inodes (mount/fs marks)
 *                  { type: 'pause' } | { type: 'stop' }     pause: stop reading events (tests); stop: exit
 *   worker → main  { type: 'ready' } · { type: 'ack', seq, flushed } · { type: 'deny', pid, dev, ino, mask } · { type: 'fatal', message }
 * Counters (BigInt64Array over a SharedArrayBuffer): [events, allowed, denied, exemptAllowed, ignoreMarks, errors].
 */
import type * as WorkerThreads from 'node:worker_threads';
import type { MessagePort } from 'node:worker_threads';
import type Koffi from 'koffi';

export interface WorkerData {
  koffiPath: string;
  fanFd: number;
  wakeFd: number;
  port: MessagePort;
  counters: SharedArrayBuffer;
  exemptPids: number[];
}

export const COUNTER = { events: 0, allowed: 1, denied: 2, exemptAllowed: 3, ignoreMarks: 4, errors: 5 } as const;
export const COUNTERS = 6;

type Msg = { type: 'set'; seq: number; keys: string[] } | { type: 'ignore'; on: boolean } | { type: 'pause' } | { type: 'stop' };

/** Entry point of the worker. Self-contained: it may use only its argument and `require`. */
export function workerMain(wt: typeof WorkerThreads, req: (id: string) => unknown): void {
  const data = wt.workerData as WorkerData;
  const koffi = req(data.koffiPath) as typeof Koffi;
  const libc = koffi.load('libc.so.6');
  const poll = libc.func('int poll(_Inout_ uint8_t *fds, unsigned long nfds, int timeout)') as (fds: Buffer, n: number, t: number) => number;
  const read = libc.func('long read(int fd, _Out_ uint8_t *buf, size_t n)') as (fd: number, b: Buffer, n: number) => number;
  const write = libc.func('long write(int fd, const uint8_t *buf, size_t n)') as (fd: number, b: Buffer, n: number) => number;
  const close = libc.func('int close(int fd)') as (fd: number) => number;
  const fstat = libc.func('int fstat(int fd, _Out_ uint8_t *st)') as (fd: number, st: Buffer) => number;
  const mark = libc.func('int fanotify_mark(int fd, unsigned int flags, uint64_t mask, int dirfd, const char *path)') as (
    fd: number,
    flags: number,
    mask: bigint,
    dirfd: number,
    path: null,
  ) => number;

  const FAN_OPEN_PERM = 0x10000n;
  const FAN_ACCESS_PERM = 0x20000n;
  const FAN_OPEN_EXEC_PERM = 0x40000n;
  const PERM = FAN_OPEN_PERM | FAN_ACCESS_PERM | FAN_OPEN_EXEC_PERM;
  const FAN_ALLOW = 1;
  const FAN_DENY = 2;
  const FAN_MARK_ADD = 0x1;
  const FAN_MARK_IGNORED_MASK = 0x20;
  const FAN_MARK_IGNORED_SURV_MODIFY = 0x40;
  const FAN_MARK_FLUSH = 0x80;
  const POLLIN = 0x1;
  const EINTR = 4;
  const EAGAIN = 11;
  const META = 24;

  const counters = new BigInt64Array(data.counters);
  const exempt = new Set(data.exemptPids);
  let deny = new Set<string>();
  let ignore = false;
  let paused = false;
  const buf = Buffer.alloc(64 * 1024);
  const st = Buffer.alloc(256);
  const resp = Buffer.alloc(8);
  const fds = Buffer.alloc(16);
  const eight = Buffer.alloc(8);

  const answer = (fd: number, verdict: number) => {
    resp.writeInt32LE(fd, 0);
    resp.writeUInt32LE(verdict, 4);
    if (write(data.fanFd, resp, 8) !== 8) Atomics.add(counters, 5, 1n);
  };

  const handle = (n: number) => {
    for (let off = 0; off + META <= n; ) {
      const len = buf.readUInt32LE(off);
      if (len < META) break;
      const mask = buf.readBigUInt64LE(off + 8);
      const fd = buf.readInt32LE(off + 16);
      const pid = buf.readInt32LE(off + 20);
      off += len;
      if (fd < 0) continue; // FAN_NOFD: queue overflow notice
      Atomics.add(counters, 0, 1n);
      if ((mask & PERM) !== 0n) {
        let verdict = FAN_ALLOW;
        let key = '';
        if (fstat(fd, st) === 0) key = `${st.readBigUInt64LE(0)}:${st.readBigUInt64LE(8)}`;
        else Atomics.add(counters, 5, 1n);
        // `x:dev:ino`: only executing the file is denied (guard.ts denyKey)
        const denied = key !== '' && (deny.has(key) || ((mask & FAN_OPEN_EXEC_PERM) !== 0n && deny.has(`x:${key}`)));
        if (denied) {
          if (exempt.has(pid)) Atomics.add(counters, 3, 1n);
          else verdict = FAN_DENY;
        }
        answer(fd, verdict);
        if (verdict === FAN_DENY) {
          Atomics.add(counters, 2, 1n);
          const [dev = '0', ino = '0'] = key.split(':');
          data.port.postMessage({ type: 'deny', pid, dev, ino, mask: Number(mask) });
        } else {
          Atomics.add(counters, 1, 1n);
          if (ignore && key && !deny.has(key) && !deny.has(`x:${key}`)) {
            // An ignore mark on this inode: later opens of it raise no event for this group.
            if (mark(data.fanFd, FAN_MARK_ADD | FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY, PERM, fd, null) === 0) Atomics.add(counters, 4, 1n);
          }
        }
      }
      close(fd);
    }
  };

  const onMessage = (m: Msg): boolean => {
    if (m.type === 'stop') return false;
    if (m.type === 'pause') paused = true;
    if (m.type === 'ignore') ignore = m.on;
    if (m.type === 'set') {
      const next = new Set(m.keys);
      // Ignore marks were added for inodes allowed under the old set: drop them all when one may now be denied
      // (FAN_MARK_FLUSH drops every inode mark of the group; the main thread re-adds its file marks).
      let flushed = false;
      if (ignore && counters[4] !== 0n && m.keys.some((k) => !deny.has(k))) {
        deny = next;
        mark(data.fanFd, FAN_MARK_FLUSH, 0n, -1, null);
        counters[4] = 0n;
        flushed = true;
      }
      deny = next;
      data.port.postMessage({ type: 'ack', seq: m.seq, flushed });
    }
    return true;
  };

  data.port.postMessage({ type: 'ready' });
  for (;;) {
    fds.fill(0);
    fds.writeInt32LE(paused ? -1 : data.fanFd, 0);
    fds.writeInt16LE(POLLIN, 4);
    fds.writeInt32LE(data.wakeFd, 8);
    fds.writeInt16LE(POLLIN, 12);
    // A finite timeout keeps worker.terminate() effective even if no wake-up ever comes.
    const r = poll(fds, 2, 500);
    if (r < 0) {
      if (koffi.errno() === EINTR) continue;
      data.port.postMessage({ type: 'fatal', message: `poll failed: errno ${koffi.errno()}` });
      return;
    }
    if (fds.readInt16LE(6) & POLLIN) {
      const n = read(data.fanFd, buf, buf.length);
      if (n > 0) handle(n);
      else if (n < 0 && koffi.errno() !== EAGAIN && koffi.errno() !== EINTR) {
        data.port.postMessage({ type: 'fatal', message: `read failed: errno ${koffi.errno()}` });
        return;
      }
    } else if (fds.readInt16LE(6) !== 0 && !paused) {
      data.port.postMessage({ type: 'fatal', message: `fanotify fd poll revents ${fds.readInt16LE(6)}` });
      return;
    }
    if (fds.readInt16LE(14) & POLLIN) read(data.wakeFd, eight, 8);
    for (let m = wt.receiveMessageOnPort(data.port); m; m = wt.receiveMessageOnPort(data.port)) {
      if (!onMessage(m.message as Msg)) return;
    }
  }
}
