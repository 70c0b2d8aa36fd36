/**
 * Userspace view of bpf/include/abi/generic.h (the generic hook programs' event and state maps): koffi structs
 * with the same layout, the enum values, and byte offsets for decoders. Checked against the BTF of
 * generic_tp.bpf.o by abi/generic-layout.test.ts.
 */
import koffi from 'koffi';
import { EventHdr } from './layout.js';

export const GEN_SCHEMA = 1;
export const HOOK_ARG_SLOTS = 13;
export const HOOK_RET_SLOT = 6;
export const HOOK_DATA_SLOT0 = 7;
export const HOOK_ARG_BYTES = 256;
export const NS_COUNT = 10;

export const HookEventType = { HOOK: 4 } as const;

export const HookFlags = {
  MONITOR: 1 << 0,
  RETURN: 1 << 1,
  ACTION_FAILED: 1 << 2,
  OVERRIDE: 1 << 3,
  EXPR: 1 << 4,
  NO_SELECTOR: 1 << 5,
  KILLED: 1 << 6,
  SIGNALED: 1 << 7,
  OVERRIDE_REFUSED: 1 << 8,
  BINARY_UNKNOWN: 1 << 9,
  NOTIFIED: 1 << 10,
} as const;

export const HookArgFlags = { TRUNC: 1 << 0, ERR: 1 << 1, USER: 1 << 2, UNSUPPORTED: 1 << 3 } as const;
export const HookArgSource = { ARG: 1, RETURN: 2, DATA: 3 } as const;

export const genericEnums: Record<string, Record<string, number>> = {
  vg_hook_flags: {
    VG_HOOKF_MONITOR: HookFlags.MONITOR,
    VG_HOOKF_RETURN: HookFlags.RETURN,
    VG_HOOKF_ACTION_FAILED: HookFlags.ACTION_FAILED,
    VG_HOOKF_OVERRIDE: HookFlags.OVERRIDE,
    VG_HOOKF_EXPR: HookFlags.EXPR,
    VG_HOOKF_NO_SELECTOR: HookFlags.NO_SELECTOR,
    VG_HOOKF_KILLED: HookFlags.KILLED,
    VG_HOOKF_SIGNALED: HookFlags.SIGNALED,
    VG_HOOKF_OVERRIDE_REFUSED: HookFlags.OVERRIDE_REFUSED,
    VG_HOOKF_BINARY_UNKNOWN: HookFlags.BINARY_UNKNOWN,
    VG_HOOKF_NOTIFIED: HookFlags.NOTIFIED,
  },
  vg_hook_arg_flags: {
    VG_HARGF_TRUNC: HookArgFlags.TRUNC,
    VG_HARGF_ERR: HookArgFlags.ERR,
    VG_HARGF_USER: HookArgFlags.USER,
    VG_HARGF_UNSUPPORTED: HookArgFlags.UNSUPPORTED,
  },
  vg_hook_arg_source: { VG_HSRC_ARG: HookArgSource.ARG, VG_HSRC_RETURN: HookArgSource.RETURN, VG_HSRC_DATA: HookArgSource.DATA },
};

export const HookSock = koffi.struct({
  family: 'uint16_t',
  type: 'uint16_t',
  protocol: 'uint16_t',
  sport: 'uint16_t',
  dport: 'uint16_t',
  state: 'uint8_t',
  _pad0: 'uint8_t',
  _pad1: 'uint16_t',
  saddr: koffi.array('uint8_t', 16),
  daddr: koffi.array('uint8_t', 16),
  _pad2: 'uint32_t',
});

export const HookCred = koffi.struct({
  uid: 'uint32_t',
  gid: 'uint32_t',
  suid: 'uint32_t',
  sgid: 'uint32_t',
  euid: 'uint32_t',
  egid: 'uint32_t',
  fsuid: 'uint32_t',
  fsgid: 'uint32_t',
  cap_permitted: 'uint64_t',
  cap_effective: 'uint64_t',
  cap_inheritable: 'uint64_t',
  user_ns: 'uint32_t',
  _pad0: 'uint32_t',
});

export const HookArg = koffi.struct({
  source: 'uint8_t',
  index: 'uint8_t',
  type: 'uint8_t',
  flags: 'uint8_t',
  len: 'uint16_t',
  _pad0: 'uint16_t',
  data: koffi.array('uint8_t', HOOK_ARG_BYTES),
});

export const HookEvent = koffi.struct({
  hdr: EventHdr,
  pid: 'uint32_t',
  tid: 'uint32_t',
  exec_ktime: 'uint64_t',
  cgroup_id: 'uint64_t',
  policy_id: 'uint32_t',
  hook_id: 'uint32_t',
  selector: 'uint8_t',
  action: 'uint8_t',
  mechanism: 'uint8_t',
  slot_count: 'uint8_t',
  flags: 'uint32_t',
  actions: 'uint32_t',
  suppressed: 'uint32_t',
  retval: 'int64_t',
  override_ret: 'int32_t',
  signal: 'int32_t',
  action_err: 'int32_t',
  syscall_nr: 'int32_t',
  uid: 'uint32_t',
  euid: 'uint32_t',
  generation: 'uint8_t',
  _pad0: koffi.array('uint8_t', 7),
  comm: koffi.array('char', 16),
  args: koffi.array(HookArg, HOOK_ARG_SLOTS),
});

export const RateKey = koffi.struct({
  policy_id: 'uint32_t',
  hook_id: 'uint32_t',
  selector: 'uint32_t',
  scope: 'uint32_t',
  scope_key: 'uint64_t',
});

export const RateVal = koffi.struct({ last_ns: 'uint64_t', suppressed: 'uint64_t' });

export const GenericStats = koffi.struct({
  hits: 'uint64_t',
  exempt: 'uint64_t',
  no_config: 'uint64_t',
  matched: 'uint64_t',
  posted: 'uint64_t',
  emit_fail: 'uint64_t',
  rate_limited: 'uint64_t',
  monitor: 'uint64_t',
  kills: 'uint64_t',
  signals: 'uint64_t',
  overrides: 'uint64_t',
  action_fail: 'uint64_t',
  expr_pending: 'uint64_t',
  unsupported: 'uint64_t',
  identity_skip: 'uint64_t',
  _reserved: 'uint64_t',
});

/** C struct name → koffi definition, for the BTF layout check. */
export const genericStructs: Record<string, ReturnType<typeof koffi.struct>> = {
  vg_hook_sock: HookSock,
  vg_hook_cred: HookCred,
  vg_hook_arg: HookArg,
  vg_hook_event: HookEvent,
  vg_rate_key: RateKey,
  vg_rate_val: RateVal,
  vg_generic_stats: GenericStats,
};

/** Byte offsets and sizes decoders use, from the definitions above. */
export const HOOK_OFF = {
  event: Object.fromEntries(Object.keys(koffi.type(HookEvent).members ?? {}).map((f) => [f, koffi.offsetof(HookEvent, f)])) as Record<string, number>,
  arg: Object.fromEntries(Object.keys(koffi.type(HookArg).members ?? {}).map((f) => [f, koffi.offsetof(HookArg, f)])) as Record<string, number>,
} as const;
export const HOOK_SIZE = {
  event: koffi.sizeof(HookEvent),
  arg: koffi.sizeof(HookArg),
  argsOffset: koffi.offsetof(HookEvent, 'args'),
  sock: koffi.sizeof(HookSock),
  cred: koffi.sizeof(HookCred),
  stats: koffi.sizeof(GenericStats),
} as const;

export const ProgCfgFlags = { SYSCALL_WRAPPER: 1 << 0, USER_ARGS: 1 << 1 } as const;
export const ProgCfg = koffi.struct({ hook_id: 'uint32_t', syscall_nr: 'int32_t', mechanism: 'uint8_t', flags: 'uint8_t', _pad0: 'uint16_t', _pad1: 'uint32_t' });
genericStructs['vg_prog_cfg'] = ProgCfg;
genericEnums['vg_prog_cfg_flags'] = { VG_PCFG_SYSCALL_WRAPPER: ProgCfgFlags.SYSCALL_WRAPPER, VG_PCFG_USER_ARGS: ProgCfgFlags.USER_ARGS };
