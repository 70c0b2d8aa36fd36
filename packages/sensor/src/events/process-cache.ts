/**
 * The userspace process cache: every running process the sensor knows, by pid, each pointing at its parent, so
 * events can carry their process and its ancestry.
 *
 * Memory is bounded and small, because a node can run 100k processes:
 * - running processes are indexed by pid only, and at most `maxEntries` of them (oldest evicted first, counted);
 * - an exited process stays alive only while a cached child points at it (the garbage collector frees it with
 *   its last child: reference counting without the bookkeeping);
 * - values that repeat across processes (binaries, working directories, argument vectors, credentials, cgroup
 *   ids) are interned, and exec_ids are derived on output instead of stored.
 * A process is identified by (pid, identity ktime): exec_id is base64("<node>:<ktime>:<pid>").
 */
import { execId } from './exec-id.js';
import type { ExecRecord, ForkRecord } from './types.js';
import { ProcFlags } from '../abi/layout.js';

export interface Creds {
  readonly uid: number;
  readonly euid: number;
  readonly gid: number;
  readonly egid: number;
  readonly auid: number;
}

const NO_CREDS: Creds = Object.freeze({ uid: 0, euid: 0, gid: 0, egid: 0, auid: 0xffffffff });

export class ProcessInfo {
  exited = false;
  /** The JSON exporter's memo of this process's serialized form; export/json.ts owns and bounds it. */
  json: string | undefined = undefined;
  constructor(
    readonly pid: number,
    readonly tid: number,
    readonly ppid: number,
    /** identity time (CLOCK_MONOTONIC ns): exec time, or start time for clones and processes seen via /proc */
    readonly ktime: bigint,
    /** the parent's identity time (0 when unknown) */
    readonly parentKtime: bigint,
    /** the parent while it is cached (running, or exited and still referenced by a cached child) */
    public parent: ProcessInfo | undefined,
    readonly binary: string,
    /** argv without argv[0] */
    readonly args: readonly string[],
    readonly cwd: string,
    readonly creds: Creds,
    readonly cgroupId: bigint,
    readonly flags: number,
  ) {}

  get uid(): number {
    return this.creds.uid;
  }
  get euid(): number {
    return this.creds.euid;
  }
  get gid(): number {
    return this.creds.gid;
  }
  get egid(): number {
    return this.creds.egid;
  }
  get auid(): number {
    return this.creds.auid;
  }
}

/** What a producer of processes supplies; the cache links the parent and interns the rest. */
export interface NewProcess {
  pid: number;
  tid: number;
  ppid: number;
  ktime: bigint;
  parentKtime: bigint;
  binary: string;
  args: string[];
  cwd: string;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  auid: number;
  cgroupId: bigint;
  flags: number;
}

export interface ProcessCacheStats {
  /** running processes indexed */
  size: number;
  inserted: number;
  exited: number;
  /** running processes dropped because the cache was full */
  evicted: number;
}

export interface ProcessCacheOptions {
  node: string;
  maxEntries?: number;
}

export const DEFAULT_MAX_ENTRIES = 131072;

/**
 * Bounded interning: one copy of each repeated value instead of one per process. Cleared wholesale when full,
 * which only costs duplicates until the table warms up again.
 */
class Interner<K, V> {
  private readonly table = new Map<K, V>();
  constructor(private readonly capacity: number) {}
  get(key: K, value: V): V {
    const hit = this.table.get(key);
    if (hit !== undefined) return hit;
    if (this.table.size >= this.capacity) this.table.clear();
    this.table.set(key, value);
    return value;
  }
}

export class ProcessCache {
  readonly node: string;
  private readonly maxEntries: number;
  private readonly byPid = new Map<number, ProcessInfo>();
  private inserted = 0;
  private exitedCount = 0;
  private evicted = 0;
  private readonly strings = new Interner<string, string>(16384);
  private readonly argvs = new Interner<string, string[]>(8192);
  private readonly creds = new Interner<string, Creds>(1024);
  private readonly cgroups = new Interner<bigint, bigint>(4096);

  constructor(options: ProcessCacheOptions) {
    this.node = options.node;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  idFor(ktime: bigint, pid: number): string {
    return execId(this.node, ktime, pid);
  }

  execIdOf(p: ProcessInfo): string {
    return execId(this.node, p.ktime, p.pid);
  }

  /** The parent's exec_id, known from the kernel even when the parent itself is not cached. */
  parentExecIdOf(p: ProcessInfo): string | undefined {
    return p.ppid ? execId(this.node, p.parentKtime, p.ppid) : undefined;
  }

  /** The process currently running as `pid`, if known. */
  byPidNow(pid: number): ProcessInfo | undefined {
    return this.byPid.get(pid);
  }

  /** The cached process (pid, ktime), if it is the one running as pid. */
  find(ktime: bigint, pid: number): ProcessInfo | undefined {
    const p = this.byPid.get(pid);
    return p && p.ktime === ktime ? p : undefined;
  }

  /** Up to `depth` ancestors, nearest first, stopping at the first unknown one. */
  ancestors(p: ProcessInfo, depth: number): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    for (let cur = p.parent; cur && out.length < depth; cur = cur.parent) out.push(cur);
    return out;
  }

  /** Adds a running process (from an exec or fork record or the /proc scan); it replaces any image of that pid. */
  insert(n: NewProcess): ProcessInfo {
    const current = this.byPid.get(n.pid);
    if (current && current.ktime === n.ktime) return current; // seen already (scan raced an exec)
    const parent = n.ppid ? this.find(n.parentKtime, n.ppid) : undefined;
    const args = this.argvs.get(n.args.join('\0'), n.args);
    const creds = this.creds.get(`${n.uid}:${n.euid}:${n.gid}:${n.egid}:${n.auid}`, { uid: n.uid, euid: n.euid, gid: n.gid, egid: n.egid, auid: n.auid });
    const p = new ProcessInfo(
      n.pid,
      n.tid,
      n.ppid,
      n.ktime,
      parent ? parent.ktime : n.parentKtime, // the same value: share the parent's BigInt
      parent,
      this.strings.get(n.binary, n.binary),
      args,
      this.strings.get(n.cwd, n.cwd),
      creds,
      this.cgroups.get(n.cgroupId, n.cgroupId),
      n.flags,
    );
    if (current) this.markExited(current); // the image this exec replaced is no longer running
    this.byPid.set(n.pid, p);
    this.inserted++;
    if (this.byPid.size > this.maxEntries) this.evictOldest();
    return p;
  }

  fromExec(rec: ExecRecord): ProcessInfo {
    return this.insert({
      pid: rec.pid,
      tid: rec.tid,
      ppid: rec.ppid,
      ktime: rec.execKtime,
      parentKtime: rec.parentKtime,
      binary: rec.binary,
      args: rec.argv.slice(1),
      cwd: rec.cwd,
      uid: rec.uid,
      euid: rec.euid,
      gid: rec.gid,
      egid: rec.egid,
      auid: rec.auid,
      cgroupId: rec.cgroupId,
      flags: rec.flags,
    });
  }

  /** A forked child inherits its parent's image until it execs. */
  fromFork(rec: ForkRecord): ProcessInfo {
    const parent = this.find(rec.parentKtime, rec.ppid);
    return this.insert({
      pid: rec.pid,
      tid: rec.pid,
      ppid: rec.ppid,
      ktime: rec.execKtime,
      parentKtime: rec.parentKtime,
      binary: parent?.binary ?? '',
      args: (parent?.args as string[] | undefined) ?? [],
      cwd: parent?.cwd ?? '',
      uid: parent?.uid ?? 0,
      euid: parent?.euid ?? 0,
      gid: parent?.gid ?? 0,
      egid: parent?.egid ?? 0,
      auid: parent?.auid ?? 0xffffffff,
      cgroupId: parent?.cgroupId ?? 0n,
      flags: ProcFlags.CLONE | (parent ? 0 : ProcFlags.ERR_BINARY),
    });
  }

  /** A process that was never cached (its exec predates the sensor and the scan missed it, or it was evicted). */
  unknown(pid: number, tid: number, ktime: bigint): ProcessInfo {
    const p = new ProcessInfo(pid, tid, 0, ktime, 0n, undefined, '', [], '', NO_CREDS, 0n, 0);
    p.exited = true;
    return p;
  }

  /** The process exited: it leaves the index and lives on only while a cached child points at it. */
  markExited(p: ProcessInfo): void {
    if (p.exited) return;
    p.exited = true;
    this.exitedCount++;
    if (this.byPid.get(p.pid) === p) this.byPid.delete(p.pid);
  }

  stats(): ProcessCacheStats {
    return { size: this.byPid.size, inserted: this.inserted, exited: this.exitedCount, evicted: this.evicted };
  }

  get size(): number {
    return this.byPid.size;
  }

  private evictOldest(): void {
    for (const [pid, p] of this.byPid) {
      if (this.byPid.size <= this.maxEntries) return;
      this.byPid.delete(pid);
      p.exited = true; // no longer tracked; its exit will be reported as an unknown process
      this.evicted++;
    }
  }
}
