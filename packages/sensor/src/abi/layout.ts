/**
 * Userspace view of bpf/include/abi/events.h: koffi struct definitions with the same layout, the enum values, and
 * the byte offsets the decoders use (taken from these definitions, so there is one userspace source). The structs
 * are anonymous: koffi's type registry is process-wide, and named types could not be declared twice. The test
 * bpf/tests/layout.test.ts reads the BTF of the built objects and fails when any size, offset or enum value
 * here differs from the C side.
 */
import koffi from 'koffi';

export const ABI_VERSION = 1;
export const PATH_MAX = 256;
export const ARGS_MAX = 1024;
export const PROCS_SCHEMA = 1;

export const EventType = {
  EXEC: 1,
  EXIT: 2,
  FORK: 3,
  HOOK: 4,
  TEST: 250,
} as const;
export type EventTypeValue = (typeof EventType)[keyof typeof EventType];

export const ProcFlags = {
  EXECVE: 1 << 0,
  CLONE: 1 << 1,
  PROCFS: 1 << 2,
  TRUNC_BINARY: 1 << 3,
  TRUNC_ARGS: 1 << 4,
  TRUNC_CWD: 1 << 5,
  ERR_CWD: 1 << 6,
  ERR_ARGS: 1 << 7,
  ERR_BINARY: 1 << 8,
} as const;

/** C enum name → (C enumerator → value), as the BTF check expects them. */
export const abiEnums: Record<string, Record<string, number>> = {
  vg_event_type: { VG_EVENT_EXEC: EventType.EXEC, VG_EVENT_EXIT: EventType.EXIT, VG_EVENT_FORK: EventType.FORK, VG_EVENT_HOOK: EventType.HOOK, VG_EVENT_TEST: EventType.TEST },
  vg_proc_flags: {
    VG_PROC_EXECVE: ProcFlags.EXECVE,
    VG_PROC_CLONE: ProcFlags.CLONE,
    VG_PROC_PROCFS: ProcFlags.PROCFS,
    VG_PROC_TRUNC_BINARY: ProcFlags.TRUNC_BINARY,
    VG_PROC_TRUNC_ARGS: ProcFlags.TRUNC_ARGS,
    VG_PROC_TRUNC_CWD: ProcFlags.TRUNC_CWD,
    VG_PROC_ERR_CWD: ProcFlags.ERR_CWD,
    VG_PROC_ERR_ARGS: ProcFlags.ERR_ARGS,
    VG_PROC_ERR_BINARY: ProcFlags.ERR_BINARY,
  },
};

export const EventHdr = koffi.struct({
  type: 'uint32_t',
  size: 'uint32_t',
  cpu: 'uint32_t',
  _pad0: 'uint32_t',
  seq: 'uint64_t',
  ktime: 'uint64_t',
});

export const ExecEvent = koffi.struct({
  hdr: EventHdr,
  pid: 'uint32_t',
  tid: 'uint32_t',
  ppid: 'uint32_t',
  flags: 'uint32_t',
  exec_ktime: 'uint64_t',
  parent_ktime: 'uint64_t',
  cgroup_id: 'uint64_t',
  uid: 'uint32_t',
  euid: 'uint32_t',
  gid: 'uint32_t',
  egid: 'uint32_t',
  auid: 'uint32_t',
  binary_len: 'uint16_t',
  args_len: 'uint16_t',
  cwd_len: 'uint16_t',
  _pad1: 'uint16_t',
  _pad2: 'uint32_t',
  binary: koffi.array('char', PATH_MAX),
  args: koffi.array('char', ARGS_MAX),
  cwd: koffi.array('char', PATH_MAX),
});

export const ExitEvent = koffi.struct({
  hdr: EventHdr,
  pid: 'uint32_t',
  tid: 'uint32_t',
  exec_ktime: 'uint64_t',
  exit_code: 'uint32_t',
  flags: 'uint32_t',
});

export const ForkEvent = koffi.struct({
  hdr: EventHdr,
  pid: 'uint32_t',
  ppid: 'uint32_t',
  exec_ktime: 'uint64_t',
  parent_ktime: 'uint64_t',
});

export const Proc = koffi.struct({
  exec_ktime: 'uint64_t',
  parent_ktime: 'uint64_t',
  ppid: 'uint32_t',
  flags: 'uint32_t',
  binary_len: 'uint32_t',
  _pad0: 'uint32_t',
  binary: koffi.array('char', PATH_MAX),
});

export const Stats = koffi.struct({
  seq: 'uint64_t',
  reserve_fail: 'uint64_t',
  exit_untracked: 'uint64_t',
  proc_update_fail: 'uint64_t',
});

/** Every ABI struct by its C name, for the layout check. */
export const abiStructs: Record<string, ReturnType<typeof koffi.struct>> = {
  vg_event_hdr: EventHdr,
  vg_exec_event: ExecEvent,
  vg_exit_event: ExitEvent,
  vg_fork_event: ForkEvent,
  vg_proc: Proc,
  vg_stats: Stats,
};

function offsets<T extends string>(type: ReturnType<typeof koffi.struct>, fields: readonly T[]): Record<T, number> {
  const out = {} as Record<T, number>;
  for (const f of fields) out[f] = koffi.offsetof(type, f);
  return out;
}

/** Byte offsets used by the hand-written decoders (hot path: no koffi.decode per field). */
export const OFF = {
  hdr: offsets(EventHdr, ['type', 'size', 'cpu', 'seq', 'ktime'] as const),
  exec: offsets(ExecEvent, ['pid', 'tid', 'ppid', 'flags', 'exec_ktime', 'parent_ktime', 'cgroup_id', 'uid', 'euid', 'gid', 'egid', 'auid', 'binary_len', 'args_len', 'cwd_len', 'binary', 'args', 'cwd'] as const),
  exit: offsets(ExitEvent, ['pid', 'tid', 'exec_ktime', 'exit_code', 'flags'] as const),
  fork: offsets(ForkEvent, ['pid', 'ppid', 'exec_ktime', 'parent_ktime'] as const),
  proc: offsets(Proc, ['exec_ktime', 'parent_ktime', 'ppid', 'flags', 'binary_len', 'binary'] as const),
  stats: offsets(Stats, ['seq', 'reserve_fail', 'exit_untracked', 'proc_update_fail'] as const),
};

export const SIZE = {
  hdr: koffi.sizeof(EventHdr),
  exec: koffi.sizeof(ExecEvent),
  exit: koffi.sizeof(ExitEvent),
  fork: koffi.sizeof(ForkEvent),
  proc: koffi.sizeof(Proc),
  stats: koffi.sizeof(Stats),
};
