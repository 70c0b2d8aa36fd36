/**
 * Decodes hook-hit records (struct vg_hook_event, bpf/include/abi/generic.h; offsets from abi/generic-layout.ts)
 * and turns them into HookEvents: typed args named as Tetragon names them, the policy and hook the kernel's
 * policy_id / hook_id refer to, the action taken (or, in monitor mode, the one that would have been).
 */
import { ACTION, ARG_TYPE, CAP_SET, DEFAULT_SYSCALL_TABLES, MECHANISM } from '@vigil/policy-schema';
import koffi from 'koffi';
import { HOOK_OFF, HOOK_SIZE, HookArgFlags, HookArgSource, HookFlags, HookEventType, HookSock } from '../abi/generic-layout.js';
import { OFF } from '../abi/layout.js';
import type { ProcessInfo } from '../events/process-cache.js';
import type { HookArg, HookEvent } from '../export/model.js';
import type { RingView } from '../libbpf/index.js';

export class HookDecodeError extends Error {
  override readonly name = 'HookDecodeError';
  readonly code = 'BAD_HOOK_RECORD';
}

export interface RawHookArg {
  source: number;
  index: number;
  /** VG_ARG_* name */
  type: string;
  flags: number;
  data: Buffer;
}

export interface HookRecord {
  kind: 'hook';
  cpu: number;
  seq: bigint;
  ktime: bigint;
  pid: number;
  tid: number;
  execKtime: bigint;
  cgroupId: bigint;
  policyId: number;
  hookId: number;
  selector: number;
  /** VG_ACT_* name */
  action: string;
  mechanism: string;
  flags: number;
  /** every action of the deciding table */
  actions: string[];
  suppressed: number;
  retval: bigint;
  overrideRet: number;
  signal: number;
  actionErr: number;
  syscallNr: number;
  uid: number;
  euid: number;
  generation: number;
  comm: string;
  args: RawHookArg[];
}

function nameOf(values: Readonly<Record<string, number>>, code: number): string {
  for (const [k, v] of Object.entries(values)) if (v === code) return k;
  return `#${code}`;
}

/** True when the record at `offset` is a hook hit. */
export function isHookRecord(view: RingView, offset: number, size: number): boolean {
  return size >= HOOK_SIZE.argsOffset && view.dv.getUint32(offset + OFF.hdr.type, true) === HookEventType.HOOK;
}

export function decodeHookRecord(view: RingView, offset: number, size: number): HookRecord {
  const { dv, bytes } = view;
  if (size < HOOK_SIZE.argsOffset) throw new HookDecodeError(`hook record of ${size} bytes is shorter than its fixed part (${HOOK_SIZE.argsOffset})`);
  const o = HOOK_OFF.event as Record<string, number>;
  const at = (f: string): number => offset + (o[f] ?? 0);
  const slots = dv.getUint8(at('slot_count'));
  if (HOOK_SIZE.argsOffset + slots * HOOK_SIZE.arg > size) throw new HookDecodeError(`hook record says ${slots} arg slots but has ${size} bytes`);
  const actionsMask = dv.getUint32(at('actions'), true);
  const commRaw = bytes.subarray(at('comm'), at('comm') + 16);
  const nul = commRaw.indexOf(0);
  const a = HOOK_OFF.arg as Record<string, number>;
  const args: RawHookArg[] = [];
  for (let i = 0; i < slots; i++) {
    const b = offset + HOOK_SIZE.argsOffset + i * HOOK_SIZE.arg;
    const source = dv.getUint8(b + (a['source'] ?? 0));
    if (source === 0) continue;
    const len = Math.min(dv.getUint16(b + (a['len'] ?? 4), true), HOOK_SIZE.arg - (a['data'] ?? 8));
    const d = b + (a['data'] ?? 8);
    args.push({
      source,
      index: dv.getUint8(b + (a['index'] ?? 1)),
      type: nameOf(ARG_TYPE.values, dv.getUint8(b + (a['type'] ?? 2))),
      flags: dv.getUint8(b + (a['flags'] ?? 3)),
      data: Buffer.from(bytes.subarray(d, d + len)),
    });
  }
  return {
    kind: 'hook',
    cpu: dv.getUint32(offset + OFF.hdr.cpu, true),
    seq: dv.getBigUint64(offset + OFF.hdr.seq, true),
    ktime: dv.getBigUint64(offset + OFF.hdr.ktime, true),
    pid: dv.getUint32(at('pid'), true),
    tid: dv.getUint32(at('tid'), true),
    execKtime: dv.getBigUint64(at('exec_ktime'), true),
    cgroupId: dv.getBigUint64(at('cgroup_id'), true),
    policyId: dv.getUint32(at('policy_id'), true),
    hookId: dv.getUint32(at('hook_id'), true),
    selector: dv.getUint8(at('selector')),
    action: nameOf(ACTION.values, dv.getUint8(at('action'))),
    mechanism: nameOf(MECHANISM.values, dv.getUint8(at('mechanism'))),
    flags: dv.getUint32(at('flags'), true),
    actions: Object.entries(ACTION.values)
      .filter(([, v]) => (actionsMask & (1 << v)) !== 0)
      .map(([k]) => k),
    suppressed: dv.getUint32(at('suppressed'), true),
    retval: dv.getBigInt64(at('retval'), true),
    overrideRet: dv.getInt32(at('override_ret'), true),
    signal: dv.getInt32(at('signal'), true),
    actionErr: dv.getInt32(at('action_err'), true),
    syscallNr: dv.getInt32(at('syscall_nr'), true),
    uid: dv.getUint32(at('uid'), true),
    euid: dv.getUint32(at('euid'), true),
    generation: dv.getUint8(at('generation')),
    comm: commRaw.subarray(0, nul < 0 ? 16 : nul).toString('utf8'),
    args,
  };
}

const SIGNED = new Set(['int', 'sint8', 'int8', 'sint16', 'int16', 'sint32', 'int32', 'long', 'sint64', 'int64']);
const INT_KINDS: Readonly<Record<string, 'int_arg' | 'uint_arg' | 'long_arg' | 'size_arg'>> = {
  int: 'int_arg',
  sint8: 'int_arg',
  int8: 'int_arg',
  sint16: 'int_arg',
  int16: 'int_arg',
  sint32: 'int_arg',
  int32: 'int_arg',
  uint8: 'uint_arg',
  uint16: 'uint_arg',
  uint32: 'uint_arg',
  long: 'long_arg',
  sint64: 'long_arg',
  int64: 'long_arg',
  ulong: 'size_arg',
  uint64: 'size_arg',
  size_t: 'size_arg',
  bpf_cmd: 'int_arg',
  auto: 'long_arg',
};
const FAMILIES: Readonly<Record<number, string>> = { 1: 'AF_UNIX', 2: 'AF_INET', 10: 'AF_INET6', 16: 'AF_NETLINK', 17: 'AF_PACKET' };
const SOCK_TYPES: Readonly<Record<number, string>> = { 1: 'SOCK_STREAM', 2: 'SOCK_DGRAM', 3: 'SOCK_RAW', 5: 'SOCK_SEQPACKET' };
const PROTOCOLS: Readonly<Record<number, string>> = { 0: 'IPPROTO_IP', 1: 'IPPROTO_ICMP', 6: 'IPPROTO_TCP', 17: 'IPPROTO_UDP', 58: 'IPPROTO_ICMPV6', 132: 'IPPROTO_SCTP' };
const TCP_STATES = ['', 'TCP_ESTABLISHED', 'TCP_SYN_SENT', 'TCP_SYN_RECV', 'TCP_FIN_WAIT1', 'TCP_FIN_WAIT2', 'TCP_TIME_WAIT', 'TCP_CLOSE', 'TCP_CLOSE_WAIT', 'TCP_LAST_ACK', 'TCP_LISTEN', 'TCP_CLOSING', 'TCP_NEW_SYN_RECV'];
const CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID', 'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW', 'CAP_IPC_LOCK', 'CAP_IPC_OWNER',
  'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT', 'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD', 'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG', 'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];
void CAP_SET;

/** Offsets inside struct vg_hook_sock. */
const SOCK = Object.fromEntries(['family', 'type', 'protocol', 'sport', 'dport', 'state', 'saddr', 'daddr'].map((f) => [f, koffi.offsetof(HookSock, f)])) as Record<
  'family' | 'type' | 'protocol' | 'sport' | 'dport' | 'state' | 'saddr' | 'daddr',
  number
>;

function ip(bytes: Buffer, family: number): string {
  if (family === 2) return [...bytes.subarray(0, 4)].join('.');
  if (family === 10) {
    const groups = Array.from({ length: 8 }, (_, i) => bytes.readUInt16BE(2 * i).toString(16));
    return groups.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
  }
  return '';
}

/** One raw arg as a typed HookArg (Tetragon's names). */
export function typedArg(r: RawHookArg, label?: string): HookArg {
  const lab = label ? { label } : {};
  if (r.flags & HookArgFlags.UNSUPPORTED) return { kind: 'unsupported', type: r.type, ...lab };
  const d = r.data;
  const intKind = INT_KINDS[r.type];
  if (intKind) {
    const v = d.length >= 8 ? (SIGNED.has(r.type) ? d.readBigInt64LE(0) : d.readBigUInt64LE(0)) : 0n;
    return { kind: intKind, value: v, ...lab };
  }
  switch (r.type) {
    case 'syscall64':
      return { kind: 'syscall_id', value: d.length >= 8 ? d.readBigInt64LE(0) : 0n, ...lab };
    case 'capability': {
      const v = d.length >= 8 ? Number(d.readBigInt64LE(0)) : 0;
      return { kind: 'capability_arg', value: v, name: CAPS[v] ?? `CAP_${v}`, ...lab };
    }
    case 'string':
    case 'filename':
    case 'data_loc':
      return { kind: 'string_arg', value: d.toString('utf8'), ...lab };
    case 'char_buf':
    case 'char_iovec':
    case 'const_buf':
      return { kind: 'bytes_arg', value: new Uint8Array(d), ...(r.flags & HookArgFlags.TRUNC ? { truncated: true } : {}), ...lab };
    case 'fd':
    case 'file':
      return { kind: 'file_arg', path: d.toString('utf8'), ...lab };
    case 'path':
    case 'dentry':
      return { kind: 'path_arg', path: d.toString('utf8'), ...lab };
    case 'linux_binprm':
      return { kind: 'linux_binprm_arg', path: d.toString('utf8'), ...lab };
    case 'sock':
    case 'socket':
    case 'skb': {
      if (d.length < HOOK_SIZE.sock) return { kind: 'unsupported', type: r.type, ...lab };
      const family = d.readUInt16LE(SOCK.family);
      const state = d.readUInt8(SOCK.state);
      return {
        kind: 'sock_arg',
        family: FAMILIES[family] ?? `AF_${family}`,
        type: SOCK_TYPES[d.readUInt16LE(SOCK.type)] ?? String(d.readUInt16LE(SOCK.type)),
        protocol: PROTOCOLS[d.readUInt16LE(SOCK.protocol)] ?? String(d.readUInt16LE(SOCK.protocol)),
        sport: d.readUInt16LE(SOCK.sport),
        dport: d.readUInt16LE(SOCK.dport),
        ...(state ? { state: TCP_STATES[state] ?? String(state) } : {}),
        saddr: ip(d.subarray(SOCK.saddr, SOCK.saddr + 16), family),
        daddr: ip(d.subarray(SOCK.daddr, SOCK.daddr + 16), family),
        ...lab,
      };
    }
    case 'sockaddr': {
      if (d.length < HOOK_SIZE.sock) return { kind: 'unsupported', type: r.type, ...lab };
      const family = d.readUInt16LE(SOCK.family);
      return { kind: 'sockaddr_arg', family: FAMILIES[family] ?? `AF_${family}`, addr: ip(d.subarray(SOCK.daddr, SOCK.daddr + 16), family), port: d.readUInt16LE(SOCK.dport), ...lab };
    }
    case 'cred':
      if (d.length < 24) return { kind: 'unsupported', type: r.type, ...lab };
      return { kind: 'process_credentials_arg', uid: d.readUInt32LE(0), gid: d.readUInt32LE(4), euid: d.readUInt32LE(16), egid: d.readUInt32LE(20), ...lab };
    default:
      return { kind: 'unsupported', type: r.type, ...lab };
  }
}

let syscallNames: Map<number, string> | undefined;
function syscallName(nr: number): string {
  syscallNames ??= new Map(Object.entries(DEFAULT_SYSCALL_TABLES.x86_64).map(([name, n]) => [n, name]));
  return syscallNames.get(nr) ?? String(nr);
}

/** What the engine knows about a policy's hook, to name it in events. */
export interface HookInfo {
  policyName: string;
  /** the hook kind: kprobe, tracepoint, uprobe, usdt, lsm, fentry */
  kind: string;
  /** what the policy declared: function / LSM hook, subsystem/event, binary:symbol */
  name: string;
  /** Tetragon's `label` of each arg, by the policy's arg index */
  labels?: Readonly<Record<number, string>>;
  message?: string;
  tags?: string[];
  /** tracepoint fields of the args: arg slot → field name (unused in JSON, kept for compact) */
}

const EVENT_KIND: Readonly<Record<string, HookEvent['eventKind']>> = {
  kprobe: 'process_kprobe',
  fentry: 'process_kprobe',
  tracepoint: 'process_tracepoint',
  uprobe: 'process_uprobe',
  usdt: 'process_uprobe',
  lsm: 'process_lsm',
};

/** A HookEvent from a decoded record, the hook it belongs to, and the process that hit it. */
export function hookEventOf(rec: HookRecord, info: HookInfo, process: ProcessInfo, parent: ProcessInfo | undefined, timeNs: bigint): HookEvent {
  const eventKind = EVENT_KIND[info.kind] ?? 'process_kprobe';
  const monitor = (rec.flags & HookFlags.MONITOR) !== 0;
  const args = rec.args.filter((a) => a.source === HookArgSource.ARG || a.source === HookArgSource.DATA).map((a) => typedArg(a, info.labels?.[a.index]));
  const ret = rec.args.find((a) => a.source === HookArgSource.RETURN);
  const ev: HookEvent = {
    type: 'hook',
    timeNs,
    process,
    parent,
    eventKind,
    // a hook on a list of syscalls names the one that was hit, as Tetragon does (its kernel symbol)
    functionName: info.name.startsWith('list:') && rec.syscallNr >= 0 ? `__x64_sys_${syscallName(rec.syscallNr)}` : info.name,
    args,
    action: monitor ? 'Post' : rec.action,
    policyName: info.policyName,
    mechanism: rec.mechanism,
  };
  if (eventKind === 'process_tracepoint') {
    const [subsys, event] = info.name.split('/');
    ev.subsys = subsys ?? '';
    ev.event = event ?? '';
  } else if (eventKind === 'process_uprobe') {
    const i = info.name.lastIndexOf(':');
    ev.path = i < 0 ? info.name : info.name.slice(0, i);
    ev.symbol = i < 0 ? '' : info.name.slice(i + 1);
  }
  if (ret) ev.returnValue = typedArg(ret);
  else if (rec.flags & HookFlags.RETURN) ev.returnValue = { kind: 'int_arg', value: rec.retval };
  if (monitor && rec.action !== 'Post') ev.monitorAction = rec.action;
  if (rec.flags & HookFlags.OVERRIDE || (monitor && rec.action === 'Override')) ev.errorValue = rec.overrideRet;
  if (rec.suppressed) ev.suppressed = rec.suppressed;
  if (info.message) ev.message = info.message;
  if (info.tags && info.tags.length > 0) ev.tags = info.tags;
  return ev;
}
