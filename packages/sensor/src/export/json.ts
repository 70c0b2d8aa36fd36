/**
 * Tetragon-compatible JSON lines (one object per event): `{"process_exec":{…},"node_name":…,"time":…}`, with
 * protobuf's JSON mapping conventions as Tetragon emits them: scalar fields with zero values omitted, wrapper
 * fields (pid, uid, auid, tid, credentials) kept even when zero, 64-bit integers as strings, timestamps RFC 3339.
 * Fields Vigil adds beyond Tetragon's: `process.cgroup_id` (cgroup v2 id, string). `process.pod` is Tetragon's
 * pod object when a pod lookup is given (identity/enrich.ts).
 */
import { constants } from 'node:os';
import { ProcFlags } from '../abi/layout.js';
import { execId, rfc3339, type KtimeClock } from '../events/exec-id.js';
import type { ProcessInfo } from '../events/process-cache.js';
import { hookEventBodyJson } from '../generic/format.js';
import type { EventFormatter, SensorEvent } from './model.js';

/** Pod attribution for process objects (identity/enrich.ts PodEnricher). */
export interface PodSource {
  lookup(p: ProcessInfo): { pod: object | undefined; final: boolean };
}

const signalNames = new Map<number, string>(
  Object.entries(constants.signals).map(([name, value]) => [value, name] as [number, string]),
);

export function signalName(sig: number): string {
  return signalNames.get(sig) ?? `SIG${sig}`;
}

/** Tetragon's `arguments`: one string, arguments that contain spaces wrapped in double quotes. */
export function formatArguments(args: readonly string[]): string {
  return args
    .map((a) => (a.includes(' ') || a === '' ? `"${a.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"` : a))
    .join(' ');
}

/** Tetragon's space-separated process flags. */
export function formatFlags(p: ProcessInfo): string {
  const out: string[] = [];
  if (p.flags & ProcFlags.EXECVE) out.push('execve');
  if (p.flags & ProcFlags.PROCFS) out.push('procFS');
  if (p.flags & ProcFlags.CLONE) out.push('clone');
  if (p.flags & ProcFlags.TRUNC_BINARY) out.push('truncFilename');
  if (p.flags & ProcFlags.TRUNC_ARGS) out.push('truncArgs');
  if (p.flags & ProcFlags.TRUNC_CWD) out.push('truncCWD');
  if (p.flags & ProcFlags.ERR_BINARY) out.push('errorFilename');
  if (p.flags & ProcFlags.ERR_ARGS) out.push('errorArgs');
  if (p.flags & ProcFlags.ERR_CWD) out.push('errorCWD');
  if (p.cwd === '/') out.push('rootcwd');
  return out.join(' ');
}

type Json = Record<string, unknown>;

export class TetragonJsonFormatter implements EventFormatter {
  private readonly nodeJson: string;
  /**
   * A cached process never changes, and it appears in many events (as process, parent, ancestor): its JSON is
   * memoized on the process, for the most recent MEMO_CAPACITY processes only (a ring of them; the memo of the
   * one that falls out is dropped), so memory stays bounded with 100k processes cached.
   */
  static readonly MEMO_CAPACITY = 4096;
  private readonly memoRing: Array<ProcessInfo | undefined> = new Array<ProcessInfo | undefined>(TetragonJsonFormatter.MEMO_CAPACITY).fill(undefined);
  private memoNext = 0;

  constructor(
    private readonly node: string,
    private readonly clock: KtimeClock,
    private readonly pods?: PodSource,
  ) {
    this.nodeJson = JSON.stringify(node);
  }

  process(p: ProcessInfo): Json {
    const o: Json = {};
    o.exec_id = execId(this.node, p.ktime, p.pid);
    o.pid = p.pid;
    o.uid = p.uid;
    if (p.cwd) o.cwd = p.cwd;
    if (p.binary) o.binary = p.binary;
    const args = formatArguments(p.args);
    if (args) o.arguments = args;
    const flags = formatFlags(p);
    if (flags) o.flags = flags;
    o.start_time = rfc3339(this.clock.wallNs(p.ktime));
    o.auid = p.auid;
    const pod = this.pods?.lookup(p).pod;
    if (pod) o.pod = pod;
    if (p.ppid) o.parent_exec_id = execId(this.node, p.parentKtime, p.ppid);
    o.tid = p.tid;
    o.process_credentials = { uid: p.uid, gid: p.gid, euid: p.euid, egid: p.egid };
    if (p.cgroupId !== 0n) o.cgroup_id = p.cgroupId.toString();
    return o;
  }

  private fragment(p: ProcessInfo): string {
    if (p.json !== undefined) return p.json;
    const f = JSON.stringify(this.process(p));
    if (this.pods && !this.pods.lookup(p).final) return f; // pod metadata still expected: not memoized
    const old = this.memoRing[this.memoNext];
    if (old) old.json = undefined;
    this.memoRing[this.memoNext] = p;
    this.memoNext = (this.memoNext + 1) % TetragonJsonFormatter.MEMO_CAPACITY;
    p.json = f;
    return f;
  }

  format(ev: SensorEvent): string {
    const time = rfc3339(ev.timeNs);
    let body = `{"process":${this.fragment(ev.process)}`;
    if (ev.parent) body += `,"parent":${this.fragment(ev.parent)}`;
    if (ev.type === 'enforcement') {
      // Tetragon's action names; `mechanism` (and `target`) are Vigil's additions: how the node enforced it.
      const action = ev.action === 'deny' ? 'KPROBE_ACTION_OVERRIDE' : 'KPROBE_ACTION_SIGKILL';
      body += `,"function_name":${JSON.stringify(ev.functionName)},"policy_name":${JSON.stringify(ev.policyName)},"action":"${action}","mechanism":${JSON.stringify(ev.mechanism)}`;
      if (ev.detail) body += `,"target":${JSON.stringify(ev.detail)}`;
      return `{"${ev.eventKind}":${body}},"node_name":${this.nodeJson},"time":"${time}"}`;
    }
    if (ev.ancestors && ev.ancestors.length > 0) body += `,"ancestors":[${ev.ancestors.map((a) => this.fragment(a)).join(',')}]`;
    if (ev.type === 'hook') return `{"${ev.eventKind}":${body}${hookEventBodyJson(ev)}},"node_name":${this.nodeJson},"time":"${time}"}`;
    if (ev.type === 'process_exit') {
      if (ev.signal) body += `,"signal":"${signalName(ev.signal)}"`;
      if (ev.status) body += `,"status":${ev.status}`;
      body += `,"time":"${time}"`;
    }
    return `{"${ev.type}":${body}},"node_name":${this.nodeJson},"time":"${time}"}`;
  }
}
