// NodeProfile: everything node-specific the compiler may depend on. The sensor's capability probe produces it;
// the operator compiles one bundle per distinct profile. Nothing else about a node influences a bundle.
import { DEFAULT_SYSCALL_TABLES, type SyscallTables } from '../data/syscalls.js';
import { PolicyCompileError } from '../errors.js';
import { BUNDLE_GRAMMAR_VERSION } from './grammar.js';

/** Attach mechanisms and helpers the node's probe found working. */
export interface NodeMechanisms {
  kprobe: boolean;
  /** bpf_override_return works on kprobes (CONFIG_BPF_KPROBE_OVERRIDE). */
  kprobeOverride: boolean;
  fentry: boolean;
  lsm: boolean;
  tracepoint: boolean;
  tpBtf: boolean;
  rawTp: boolean;
  uprobe: boolean;
  cgroupSock: boolean;
  fanotify: boolean;
  bpfSendSignal: boolean;
  taskIter: boolean;
}
export const MECHANISM_FLAGS: readonly (keyof NodeMechanisms)[] = [
  'kprobe',
  'kprobeOverride',
  'fentry',
  'lsm',
  'tracepoint',
  'tpBtf',
  'rawTp',
  'uprobe',
  'cgroupSock',
  'fanotify',
  'bpfSendSignal',
  'taskIter',
];

/** One field of a tracepoint's tracefs `format` file, in file order (common_* fields included). */
export interface TracepointField {
  name: string;
  offset: number;
  size: number;
  signed: boolean;
}

export interface NodeProfile {
  /** Bundle grammar the node's BPF objects read; the compiler refuses grammars it cannot write. */
  grammarVersion: number;
  mechanisms: NodeMechanisms;
  /** name → number, x86_64 and ia32 compat tables. */
  syscalls: SyscallTables;
  /** tracefs formats of the tracepoints policies use, keyed `subsystem/event`. */
  tracepoints: Record<string, TracepointField[]>;
}

const RAW_SYSCALLS_ENTER: TracepointField[] = [
  { name: 'common_type', offset: 0, size: 2, signed: false },
  { name: 'common_flags', offset: 2, size: 1, signed: false },
  { name: 'common_preempt_count', offset: 3, size: 1, signed: false },
  { name: 'common_pid', offset: 4, size: 4, signed: true },
  { name: 'id', offset: 8, size: 8, signed: true },
  { name: 'args', offset: 16, size: 48, signed: false },
];
const RAW_SYSCALLS_EXIT: TracepointField[] = [
  { name: 'common_type', offset: 0, size: 2, signed: false },
  { name: 'common_flags', offset: 2, size: 1, signed: false },
  { name: 'common_preempt_count', offset: 3, size: 1, signed: false },
  { name: 'common_pid', offset: 4, size: 4, signed: true },
  { name: 'id', offset: 8, size: 8, signed: true },
  { name: 'ret', offset: 16, size: 8, signed: true },
];

/** Tracefs formats of raw_syscalls/sys_enter and sys_exit as x86_64 kernels 5.x–6.x print them. */
export const COMMON_TRACEPOINT_FORMATS: Readonly<Record<string, TracepointField[]>> = {
  'raw_syscalls/sys_enter': RAW_SYSCALLS_ENTER,
  'raw_syscalls/sys_exit': RAW_SYSCALLS_EXIT,
};

/** A node where every mechanism works (a recent distribution kernel with BTF, kprobes and BPF LSM). */
export function fullNodeProfile(): NodeProfile {
  return {
    grammarVersion: BUNDLE_GRAMMAR_VERSION,
    mechanisms: Object.fromEntries(MECHANISM_FLAGS.map((k) => [k, true])) as unknown as NodeMechanisms,
    syscalls: DEFAULT_SYSCALL_TABLES,
    tracepoints: { ...COMMON_TRACEPOINT_FORMATS },
  };
}

/** The CI machine kind described in KERNEL.md: no kprobes, no trampolines (fentry / LSM), tp_btf and friends work. */
export function tracepointOnlyNodeProfile(): NodeProfile {
  const p = fullNodeProfile();
  p.mechanisms = { ...p.mechanisms, kprobe: false, kprobeOverride: false, fentry: false, lsm: false };
  return p;
}

function fail(path: string, reason: string): never {
  throw new PolicyCompileError('BAD_NODE_PROFILE', path, reason, 'regenerate the profile with the sensor probe (vigil-sensor probe --json)');
}

/** Checks an untrusted profile (e.g. read from a file) and returns it typed. Throws PolicyCompileError. */
export function parseNodeProfile(value: unknown): NodeProfile {
  if (!value || typeof value !== 'object') fail('', 'node profile must be an object');
  const v = value as Record<string, unknown>;
  if (!Number.isInteger(v['grammarVersion'])) fail('grammarVersion', 'must be an integer');
  const m = v['mechanisms'];
  if (!m || typeof m !== 'object') fail('mechanisms', 'must be an object of booleans');
  for (const k of MECHANISM_FLAGS) if (typeof (m as Record<string, unknown>)[k] !== 'boolean') fail(`mechanisms.${k}`, 'must be a boolean');
  const s = (v['syscalls'] ?? DEFAULT_SYSCALL_TABLES) as Record<string, unknown>;
  for (const abi of ['x86_64', 'ia32']) {
    const t = s[abi];
    if (!t || typeof t !== 'object') fail(`syscalls.${abi}`, 'must map syscall names to numbers');
    for (const [name, nr] of Object.entries(t)) if (!Number.isInteger(nr) || (nr as number) < 0) fail(`syscalls.${abi}.${name}`, 'must be a non-negative integer');
  }
  const tps = (v['tracepoints'] ?? {}) as Record<string, unknown>;
  if (typeof tps !== 'object') fail('tracepoints', 'must be an object');
  for (const [key, fields] of Object.entries(tps)) {
    if (!Array.isArray(fields)) fail(`tracepoints.${key}`, 'must be a list of fields');
    fields.forEach((f: unknown, i) => {
      const ff = f as Record<string, unknown>;
      if (typeof ff['name'] !== 'string' || !Number.isInteger(ff['offset']) || !Number.isInteger(ff['size']) || typeof ff['signed'] !== 'boolean')
        fail(`tracepoints.${key}[${i}]`, 'needs name (string), offset, size (integers) and signed (boolean)');
    });
  }
  return {
    grammarVersion: v['grammarVersion'] as number,
    mechanisms: m as NodeMechanisms,
    syscalls: s as unknown as SyscallTables,
    tracepoints: tps as Record<string, TracepointField[]>,
  };
}
