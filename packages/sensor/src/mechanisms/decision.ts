/**
 * Decision records of the enforcement programs (struct vg_enforce_event, bpf/include/abi/enforce.h), decoded
 * from their ring buffer, and the reader every BPF mechanism shares.
 */
import { OFF } from '../abi/layout.js';
import { Action, DecisionFlags, ENF_OFF, ENF_SIZE, EnforceEventType, Mechanism } from '../abi/enforce-layout.js';
import { EnforceError } from './errors.js';
import { formatV6 } from './net-rules.js';
import { MappedRingBuffer, type BpfObject, type RingView } from '../libbpf/index.js';

export type MechanismName =
  | 'connect4'
  | 'connect6'
  | 'sendmsg4'
  | 'sendmsg6'
  | 'exec_kill'
  | 'open_kill'
  | 'sock_create'
  | 'bind4'
  | 'bind6'
  | 'connect_unix'
  | 'uring_kill';

const MECH_NAMES: Record<number, MechanismName> = {
  [Mechanism.CONNECT4]: 'connect4',
  [Mechanism.CONNECT6]: 'connect6',
  [Mechanism.SENDMSG4]: 'sendmsg4',
  [Mechanism.SENDMSG6]: 'sendmsg6',
  [Mechanism.EXEC_KILL]: 'exec_kill',
  [Mechanism.OPEN_KILL]: 'open_kill',
  [Mechanism.SOCK_CREATE]: 'sock_create',
  [Mechanism.BIND4]: 'bind4',
  [Mechanism.BIND6]: 'bind6',
  [Mechanism.CONNECT_UNIX]: 'connect_unix',
  [Mechanism.URING_KILL]: 'uring_kill',
};

export interface EnforcementDecision {
  mechanism: MechanismName;
  /** deny: the operation failed with EPERM; kill: SIGKILL was sent; deny_kill: EPERM, then SIGKILL at syscall exit */
  action: 'deny' | 'kill' | 'deny_kill';
  /** monitor mode: `action` is what the rule would have done; nothing was denied or killed */
  monitor: boolean;
  ruleId: number;
  pid: number;
  tid: number;
  cgroupId: bigint;
  comm: string;
  /** bpf_ktime_get_ns() of the decision */
  ktime: bigint;
  /** network decisions: the destination */
  net?: { family: 4 | 6; protocol: number; address: string; port: number };
  /** file decisions: the file by inode and kernel dev_t */
  file?: { ino: bigint; dev: number };
}

const ACTION_NAMES: Record<number, EnforcementDecision['action']> = { [Action.DENY]: 'deny', [Action.KILL]: 'kill', [Action.DENY_KILL]: 'deny_kill' };

function ipString(bytes: Buffer, family: 4 | 6): string {
  return family === 4 ? [...bytes.subarray(0, 4)].join('.') : formatV6(bytes);
}

/** Decodes one vg_enforce_event at `offset`; undefined for a record of another type. */
export function decodeDecision(view: RingView, offset: number, size: number): EnforcementDecision | undefined {
  const { dv, bytes } = view;
  if (size < ENF_SIZE.event || dv.getUint32(offset + OFF.hdr.type, true) !== EnforceEventType.ENFORCE) return undefined;
  const o = ENF_OFF.event;
  const mech = MECH_NAMES[dv.getUint32(offset + o.mechanism, true)];
  if (!mech) return undefined;
  const commRaw = bytes.subarray(offset + o.comm, offset + o.comm + 16);
  const nul = commRaw.indexOf(0);
  const d: EnforcementDecision = {
    mechanism: mech,
    action: ACTION_NAMES[dv.getUint32(offset + o.action, true)] ?? 'deny',
    monitor: (dv.getUint32(offset + o.flags, true) & DecisionFlags.MONITOR) !== 0,
    ruleId: dv.getUint32(offset + o.rule_id, true),
    pid: dv.getUint32(offset + o.pid, true),
    tid: dv.getUint32(offset + o.tid, true),
    cgroupId: dv.getBigUint64(offset + o.cgroup_id, true),
    comm: commRaw.subarray(0, nul < 0 ? 16 : nul).toString('utf8'),
    ktime: dv.getBigUint64(offset + OFF.hdr.ktime, true),
  };
  const family = dv.getUint16(offset + o.family, true);
  if (family === 2 || family === 10) {
    const f = family === 2 ? 4 : 6;
    d.net = {
      family: f,
      protocol: dv.getUint16(offset + o.protocol, true),
      port: dv.getUint16(offset + o.port, true),
      address: ipString(Buffer.from(bytes.subarray(offset + o.addr, offset + o.addr + 16)), f),
    };
  } else if (family === 0) {
    d.file = { ino: dv.getBigUint64(offset + o.ino, true), dev: dv.getUint32(offset + o.dev, true) };
  }
  return d;
}

export interface DecisionCounters {
  /** operations looked up in the deny set */
  checked: bigint;
  /** denied or killed */
  denied: bigint;
  /** matched a rule but came from an exempt cgroup */
  exempt: bigint;
  /** decisions taken but not recorded (ring buffer full) */
  emitFail: bigint;
  /** matched a monitor-mode rule: recorded, nothing denied or killed */
  monitored: bigint;
}

/** Sums the per-CPU vg_enf_stats of a loaded enforcement object. */
export function readCounters(obj: BpfObject): DecisionCounters {
  const raw = obj.map('vg_enf_stats').lookup(Buffer.alloc(4));
  const out: DecisionCounters = { checked: 0n, denied: 0n, exempt: 0n, emitFail: 0n, monitored: 0n };
  if (!raw) return out;
  const stride = Math.ceil(ENF_SIZE.stats / 8) * 8;
  const s = ENF_OFF.stats;
  for (let off = 0; off + ENF_SIZE.stats <= raw.length; off += stride) {
    out.checked += raw.readBigUInt64LE(off + s.checked);
    out.denied += raw.readBigUInt64LE(off + s.denied);
    out.exempt += raw.readBigUInt64LE(off + s.exempt);
    out.emitFail += raw.readBigUInt64LE(off + s.emit_fail);
    out.monitored += raw.readBigUInt64LE(off + s.monitored);
  }
  return out;
}

/** Writes the exempt cgroup ids into vg_exempt_cg (replacing what was there). */
export function setExemptCgroups(obj: BpfObject, ids: readonly bigint[]): void {
  const map = obj.map('vg_exempt_cg');
  if (ids.length > map.maxEntries) throw new EnforceError('LIMIT', `${ids.length} exempt cgroups; the limit is ${map.maxEntries}`);
  const want = new Set(ids.map((i) => i.toString()));
  for (const k of [...map.keys()]) if (!want.has(k.readBigUInt64LE().toString())) map.delete(k);
  for (const id of ids) {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(id);
    map.update(k, Buffer.alloc(1));
  }
}

/**
 * Scopes the rules of `obj` to tasks under the given cgroups (a cgroup or any of its first 16 ancestors listed),
 * or to every task when `ids` is null. Entries are written before targeting is switched on, and targeting is
 * switched off before entries are removed, so a change never briefly narrows the scope to nothing.
 */
export function setTargetCgroups(obj: BpfObject, ids: readonly bigint[] | null): void {
  const map = obj.map('vg_target_cg');
  const cfg = obj.map('vg_enf_cfg');
  const zero = Buffer.alloc(4);
  const value = Buffer.alloc(ENF_SIZE.cfg);
  if (ids === null) {
    cfg.update(zero, value);
    for (const k of [...map.keys()]) map.delete(k);
    return;
  }
  if (ids.length > map.maxEntries) throw new EnforceError('LIMIT', `${ids.length} target cgroups; the limit is ${map.maxEntries}`);
  const want = new Set(ids.map((i) => i.toString()));
  for (const id of ids) {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(id);
    map.update(k, Buffer.alloc(1));
  }
  value.writeUInt32LE(1, ENF_OFF.cfg.targeted);
  cfg.update(zero, value);
  for (const k of [...map.keys()]) if (!want.has(k.readBigUInt64LE().toString())) map.delete(k);
}

/** Reads decision records of `obj`'s vg_events ring buffer (started on the event loop; drain() for tests). */
export class DecisionReader implements Disposable {
  private readonly ring: MappedRingBuffer;
  decodeErrors = 0;

  constructor(obj: BpfObject, onDecision: (d: EnforcementDecision) => void, onError: (err: unknown) => void) {
    const events = obj.map('vg_events');
    this.ring = new MappedRingBuffer(
      events.fd,
      events.maxEntries,
      (view, off, size) => {
        const d = decodeDecision(view, off, size);
        if (d) onDecision(d);
        else this.decodeErrors++;
      },
      onError,
    );
  }

  start(): void {
    this.ring.start();
  }

  /** Consumes every record available now; returns how many. */
  drain(): number {
    return this.ring.consume();
  }

  close(): void {
    this.ring.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
