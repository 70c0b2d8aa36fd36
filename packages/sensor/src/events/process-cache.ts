/**
 * The userspace process cache: every process the sensor knows, by exec_id, with the pid → current exec_id index,
 * so events can carry their process and its ancestry. Memory is bounded: an entry lives while its process runs or
 * while a cached child still points at it (reference counts), and the whole cache never exceeds `maxEntries`;
 * past that the oldest entries are evicted (exited ones first) and counted.
 */
import { ProcFlags } from '../abi/layout.js';
import { execId } from './exec-id.js';
import type { ExecRecord, ForkRecord } from './types.js';

export interface ProcessInfo {
  execId: string;
  pid: number;
  tid: number;
  ppid: number;
  parentExecId: string | undefined;
  binary: string;
  /** argv without argv[0] */
  args: string[];
  cwd: string;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  auid: number;
  cgroupId: bigint;
  /** identity ktime (CLOCK_MONOTONIC ns) */
  ktime: bigint;
  flags: number;
  /** 1 while running, +1 per cached child that names it as parent */
  refs: number;
  exited: boolean;
  /**
   * The JSON exporter's memo of this process's serialized form (a cached process never changes, and the same
   * process appears in many events as process, parent or ancestor). Owned by export/json.ts.
   */
  json: string | undefined;
}

/** What a producer of processes supplies; the cache owns the rest. */
export type NewProcess = Omit<ProcessInfo, 'refs' | 'exited' | 'json'>;

export interface ProcessCacheStats {
  size: number;
  inserted: number;
  evicted: number;
  released: number;
}

export interface ProcessCacheOptions {
  node: string;
  maxEntries?: number;
}

export const DEFAULT_MAX_ENTRIES = 131072;

export class ProcessCache {
  private readonly node: string;
  private readonly maxEntries: number;
  private readonly byId = new Map<string, ProcessInfo>();
  private readonly byPid = new Map<number, string>();
  private inserted = 0;
  private evicted = 0;
  private released = 0;

  constructor(options: ProcessCacheOptions) {
    this.node = options.node;
    this.maxEntries = options.maxEntries ?? DEFAULT_MAX_ENTRIES;
  }

  idFor(ktime: bigint, pid: number): string {
    return execId(this.node, ktime, pid);
  }

  get(id: string | undefined): ProcessInfo | undefined {
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** The process currently running as `pid`, if known. */
  byPidNow(pid: number): ProcessInfo | undefined {
    const id = this.byPid.get(pid);
    return id === undefined ? undefined : this.byId.get(id);
  }

  /** Up to `depth` ancestors, nearest first, stopping at the first unknown one. */
  ancestors(p: ProcessInfo, depth: number): ProcessInfo[] {
    const out: ProcessInfo[] = [];
    let cur = this.get(p.parentExecId);
    while (cur && out.length < depth) {
      out.push(cur);
      cur = this.get(cur.parentExecId);
    }
    return out;
  }

  /** Adds a process (from an exec record, a fork record or the /proc scan) and makes it current for its pid. */
  insert(info: NewProcess): ProcessInfo {
    const existing = this.byId.get(info.execId);
    if (existing) return existing;
    const entry = info as ProcessInfo; // takes ownership of the object: no copy on the hot path
    entry.refs = 1;
    entry.exited = false;
    entry.json = undefined;
    const parent = this.get(info.parentExecId);
    if (parent) parent.refs++;
    const previous = this.byPidNow(info.pid);
    this.byId.set(entry.execId, entry);
    this.byPid.set(entry.pid, entry.execId);
    this.inserted++;
    // The image this exec replaced (same pid) is no longer running.
    if (previous && previous !== entry && !previous.exited) this.markExited(previous);
    this.enforceBound();
    return entry;
  }

  fromExec(rec: ExecRecord): ProcessInfo {
    return this.insert({
      execId: this.idFor(rec.execKtime, rec.pid),
      pid: rec.pid,
      tid: rec.tid,
      ppid: rec.ppid,
      parentExecId: rec.ppid ? this.idFor(rec.parentKtime, rec.ppid) : undefined,
      binary: rec.binary,
      args: rec.argv.slice(1),
      cwd: rec.cwd,
      uid: rec.uid,
      euid: rec.euid,
      gid: rec.gid,
      egid: rec.egid,
      auid: rec.auid,
      cgroupId: rec.cgroupId,
      ktime: rec.execKtime,
      flags: rec.flags,
    });
  }

  /** A forked child inherits its parent's image until it execs. */
  fromFork(rec: ForkRecord): ProcessInfo {
    const parentId = this.idFor(rec.parentKtime, rec.ppid);
    const parent = this.get(parentId);
    return this.insert({
      execId: this.idFor(rec.execKtime, rec.pid),
      pid: rec.pid,
      tid: rec.pid,
      ppid: rec.ppid,
      parentExecId: parentId,
      binary: parent?.binary ?? '',
      args: parent?.args ?? [],
      cwd: parent?.cwd ?? '',
      uid: parent?.uid ?? 0,
      euid: parent?.euid ?? 0,
      gid: parent?.gid ?? 0,
      egid: parent?.egid ?? 0,
      auid: parent?.auid ?? 0xffffffff,
      cgroupId: parent?.cgroupId ?? 0n,
      ktime: rec.execKtime,
      flags: ProcFlags.CLONE,
    });
  }

  /** The process exited: it stays cached while children reference it. */
  markExited(p: ProcessInfo): void {
    if (p.exited) return;
    p.exited = true;
    if (this.byPid.get(p.pid) === p.execId) this.byPid.delete(p.pid);
    this.unref(p);
  }

  stats(): ProcessCacheStats {
    return { size: this.byId.size, inserted: this.inserted, evicted: this.evicted, released: this.released };
  }

  get size(): number {
    return this.byId.size;
  }

  private unref(p: ProcessInfo): void {
    p.refs--;
    if (p.refs > 0) return;
    this.remove(p);
    this.released++;
  }

  private remove(p: ProcessInfo): void {
    if (!this.byId.delete(p.execId)) return;
    if (this.byPid.get(p.pid) === p.execId) this.byPid.delete(p.pid);
    const parent = this.get(p.parentExecId);
    if (parent) this.unref(parent);
  }

  /** Evicts from the oldest end: exited entries first, then any. */
  private enforceBound(): void {
    if (this.byId.size <= this.maxEntries) return;
    for (const p of this.byId.values()) {
      if (this.byId.size <= this.maxEntries) return;
      if (p.exited) {
        this.remove(p);
        this.evicted++;
      }
    }
    for (const p of this.byId.values()) {
      if (this.byId.size <= this.maxEntries) return;
      this.remove(p);
      this.evicted++;
    }
  }
}
