/**
 * Userspace view of bpf/include/abi/enforce.h (the enforcement mechanisms' maps and decision record): koffi
 * structs with the same layout, the enum values, and the byte offsets the encoders and decoders use. Checked
 * against the BTF of sock_cgroup.bpf.o and exec_kill.bpf.o by abi/layout.test.ts.
 */
import koffi from 'koffi';
import { EventHdr } from './layout.js';

export const NET_MATCH_MAX = 8;

export const EnforceEventType = { ENFORCE: 16 } as const;

export const Mechanism = {
  CONNECT4: 1,
  CONNECT6: 2,
  SENDMSG4: 3,
  SENDMSG6: 4,
  EXEC_KILL: 5,
  OPEN_KILL: 6,
  SOCK_CREATE: 7,
  BIND4: 8,
  BIND6: 9,
  CONNECT_UNIX: 10,
  URING_KILL: 11,
} as const;
export type MechanismValue = (typeof Mechanism)[keyof typeof Mechanism];

export const Action = { DENY: 1, KILL: 2, DENY_KILL: 3 } as const;

export const NetFlags = { KILL: 1 << 0, BIND: 1 << 1, MONITOR: 1 << 2, HOST: 1 << 3 } as const;
export const RuleFlags = { MONITOR: 1 << 0, HOST: 1 << 1 } as const;
export const DecisionFlags = { MONITOR: 1 << 0 } as const;
export const UNIX_PATH_MAX = 108;
export const URING_RULES_MAX = 16;
export type ActionValue = (typeof Action)[keyof typeof Action];

export const enforceEnums: Record<string, Record<string, number>> = {
  vg_enforce_event_type: { VG_EVENT_ENFORCE: EnforceEventType.ENFORCE },
  vg_enforce_mech: {
    VG_MECH_CONNECT4: Mechanism.CONNECT4,
    VG_MECH_CONNECT6: Mechanism.CONNECT6,
    VG_MECH_SENDMSG4: Mechanism.SENDMSG4,
    VG_MECH_SENDMSG6: Mechanism.SENDMSG6,
    VG_MECH_EXEC_KILL: Mechanism.EXEC_KILL,
    VG_MECH_OPEN_KILL: Mechanism.OPEN_KILL,
    VG_MECH_SOCK_CREATE: Mechanism.SOCK_CREATE,
    VG_MECH_BIND4: Mechanism.BIND4,
    VG_MECH_BIND6: Mechanism.BIND6,
    VG_MECH_CONNECT_UNIX: Mechanism.CONNECT_UNIX,
    VG_MECH_URING_KILL: Mechanism.URING_KILL,
  },
  vg_enforce_action: { VG_ACTION_DENY: Action.DENY, VG_ACTION_KILL: Action.KILL, VG_ACTION_DENY_KILL: Action.DENY_KILL },
  vg_net_flags: { VG_NET_KILL: NetFlags.KILL, VG_NET_BIND: NetFlags.BIND, VG_NET_MONITOR: NetFlags.MONITOR, VG_NET_HOST: NetFlags.HOST },
  vg_rule_flags: { VG_RULE_MONITOR: RuleFlags.MONITOR, VG_RULE_HOST: RuleFlags.HOST },
  vg_decision_flags: { VG_DECISION_MONITOR: DecisionFlags.MONITOR },
};

export const NetKey4 = koffi.struct({ prefixlen: 'uint32_t', addr: koffi.array('uint8_t', 4) });
export const NetKey6 = koffi.struct({ prefixlen: 'uint32_t', addr: koffi.array('uint8_t', 16) });
export const NetMatch = koffi.struct({
  port_lo: 'uint16_t',
  port_hi: 'uint16_t',
  protocol: 'uint8_t',
  flags: 'uint8_t',
  _pad1: 'uint16_t',
  rule_id: 'uint32_t',
  identity_set_id: 'uint32_t',
  binary_set_id: 'uint32_t',
});
export const NetRule = koffi.struct({ count: 'uint32_t', _pad0: 'uint32_t', match: koffi.array(NetMatch, NET_MATCH_MAX) });
export const SockKey = koffi.struct({ family: 'uint32_t', type: 'uint32_t', protocol: 'uint32_t', _pad0: 'uint32_t' });
export const FileKey = koffi.struct({ ino: 'uint64_t', dev: 'uint32_t', _pad0: 'uint32_t' });
export const FileRule = koffi.struct({ rule_id: 'uint32_t', flags: 'uint32_t', identity_set_id: 'uint32_t', binary_set_id: 'uint32_t' });
export const BinKey = koffi.struct({ ino: 'uint64_t', dev: 'uint32_t', set_id: 'uint32_t' });
export const UringRules = koffi.struct({ count: 'uint32_t', _pad0: 'uint32_t', rule: koffi.array(FileRule, URING_RULES_MAX) });
export const UnixKey = koffi.struct({ len: 'uint32_t', path: koffi.array('char', UNIX_PATH_MAX) });
export const EnforceEvent = koffi.struct({
  hdr: EventHdr,
  pid: 'uint32_t',
  tid: 'uint32_t',
  cgroup_id: 'uint64_t',
  mechanism: 'uint32_t',
  action: 'uint32_t',
  rule_id: 'uint32_t',
  family: 'uint16_t',
  protocol: 'uint16_t',
  port: 'uint16_t',
  _pad0: 'uint16_t',
  flags: 'uint32_t',
  addr: koffi.array('uint8_t', 16),
  ino: 'uint64_t',
  dev: 'uint32_t',
  _pad2: 'uint32_t',
  comm: koffi.array('char', 16),
});
export const EnforceCfg = koffi.struct({ targeted: 'uint32_t', _pad0: 'uint32_t' });
export const EnforceStats = koffi.struct({ checked: 'uint64_t', denied: 'uint64_t', exempt: 'uint64_t', emit_fail: 'uint64_t', monitored: 'uint64_t' });

/** Every struct of enforce.h by its C name, for the layout check. */
export const enforceStructs: Record<string, ReturnType<typeof koffi.struct>> = {
  vg_net_key4: NetKey4,
  vg_net_key6: NetKey6,
  vg_net_match: NetMatch,
  vg_net_rule: NetRule,
  vg_sock_key: SockKey,
  vg_file_key: FileKey,
  vg_file_rule: FileRule,
  vg_bin_key: BinKey,
  vg_unix_key: UnixKey,
  vg_uring_rules: UringRules,
  vg_enforce_event: EnforceEvent,
  vg_enforce_stats: EnforceStats,
  vg_enforce_cfg: EnforceCfg,
};

function offsets<T extends string>(type: ReturnType<typeof koffi.struct>, fields: readonly T[]): Record<T, number> {
  const out = {} as Record<T, number>;
  for (const f of fields) out[f] = koffi.offsetof(type, f);
  return out;
}

export const ENF_OFF = {
  match: offsets(NetMatch, ['port_lo', 'port_hi', 'protocol', 'flags', 'rule_id', 'identity_set_id', 'binary_set_id'] as const),
  rule: offsets(NetRule, ['count', 'match'] as const),
  fileKey: offsets(FileKey, ['ino', 'dev'] as const),
  fileRule: offsets(FileRule, ['rule_id', 'flags', 'identity_set_id', 'binary_set_id'] as const),
  binKey: offsets(BinKey, ['ino', 'dev', 'set_id'] as const),
  unixKey: offsets(UnixKey, ['len', 'path'] as const),
  uringRules: offsets(UringRules, ['count', 'rule'] as const),
  event: offsets(EnforceEvent, ['pid', 'tid', 'cgroup_id', 'mechanism', 'action', 'rule_id', 'family', 'protocol', 'port', 'flags', 'addr', 'ino', 'dev', 'comm'] as const),
  stats: offsets(EnforceStats, ['checked', 'denied', 'exempt', 'emit_fail', 'monitored'] as const),
  cfg: offsets(EnforceCfg, ['targeted'] as const),
};

export const ENF_SIZE = {
  key4: koffi.sizeof(NetKey4),
  key6: koffi.sizeof(NetKey6),
  match: koffi.sizeof(NetMatch),
  rule: koffi.sizeof(NetRule),
  sockKey: koffi.sizeof(SockKey),
  fileKey: koffi.sizeof(FileKey),
  fileRule: koffi.sizeof(FileRule),
  binKey: koffi.sizeof(BinKey),
  unixKey: koffi.sizeof(UnixKey),
  uringRules: koffi.sizeof(UringRules),
  event: koffi.sizeof(EnforceEvent),
  stats: koffi.sizeof(EnforceStats),
  cfg: koffi.sizeof(EnforceCfg),
};
