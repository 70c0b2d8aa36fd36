/*
 * Vigil policy compiler: (validated TracingPolicy, NodeProfile) → Bundle.  Pure and deterministic: no clock, no
 * randomness, no I/O; the same inputs give the same bytes and the same content hash.
 *
 * BYTE GRAMMAR, version 1 (BUNDLE_GRAMMAR_VERSION).  All integers little-endian; offsets in bytes; every map is
 * private to one policy's program instances, so ids below are bundle-local.  Codes (VG_*) come from
 * abi/enums.ts, rendered into bpf/include/abi/policy_enums.h.  "pad" bytes are zero.
 *
 * vg_hooks      hash   key u32 hook_id (1-based)                         value HOOK_CFG (136 bytes)
 *   HOOK_CFG  0 u32 hook_id        4 u8 hook_kind (VG_HOOK_*)   5 u8 mechanism (VG_MECH_*)
 *             6 u8 policy_mode (VG_MODE_*)                      7 u8 flags: bit0 return probe, bit1 has return_arg,
 *                                                                  bit2 host processes included, bit3 generated list
 *             8 u32 policy_id (first 4 bytes of sha256(policy uid))
 *            12 u32 identity_set_id (0: not restricted to pods/containers; else filled by the sensor)
 *            16 i32 syscall_nr (-1: not a single syscall)   20 u32 syscall_set_id (vg_syscalls set; 0: none)
 *            24 u8 syscall_abi (VG_ABI_*)  25 u8 arg_count  26 u8 data_count  27 u8 pad  28 u32 pad
 *            32 ARG_DESC args[6]   80 ARG_DESC data[6]   128 ARG_DESC return_arg
 *   ARG_DESC (8 bytes) 0 u8 index  1 u8 arg_type (VG_ARG_*)  2 u8 flags: bit0 maxData, bit1 returnCopy,
 *             bit2 signed tracefs field   3 u8 size_arg_index (1-based, 0 none)   4 u16 tp_offset  6 u16 tp_size
 *             (tp_offset/tp_size: the tracefs field an arg reads, tracepoint hooks only; else 0)
 *
 * vg_sel_prog   hash   key u32 hook_id    value PROGRAM (≤ 4096 bytes; the sensor zero-pads to the value size)
 *   PROGRAM   0 u32 magic 0x50534756 ("VGSP")   4 u16 grammar_version   6 u16 selector_count (0: match all, Post)
 *             8 u32 total_len   12 u32 selector_offset[selector_count] (from PROGRAM start)   then SELECTORs
 *   SELECTOR  0 u32 selector_len   4 u32 action_table_id (vg_actions; 0xffffffff: none, i.e. Post)
 *             8 u32 return_action_table_id (0xffffffff: none)   12 u32 identity_set_id (0: policy-level only)
 *            16 u16 clause_count   18 u16 flags: bit0 host processes included   20 CLAUSEs
 *             Selectors are tried in order; the first whose clauses all match decides. Clauses are ANDed.
 *   CLAUSE    0 u8 kind (VG_CLAUSE_*)   1 u8 op (VG_OP_* for arg/data/return_arg, else VG_SETOP_*)
 *             2 u16 clause_len (header included, multiple of 4)   4 payload
 *     arg | data | return_arg:  4 u8 arg_slot (position in HOOK_CFG args/data; 0 for return_arg)
 *             5 u8 arg_type   6 u8 value_kind (VG_VAL_*)   7 u8 pad   8 u16 value_count   10 u16 pad   12 operands:
 *       int         value_count × u64 (two's complement; CapabilitiesGained: one u64 capability mask)
 *       str_set     u32 set_id in vg_strings          prefix_set | postfix_set  u32 set_id in vg_prefix
 *       substr      value_count × { u16 len, len bytes, pad to 4 } (SubStringIgnCase: lower-cased)
 *       cidr        u32 v4_set_id (vg_cidr4, 0 none)  u32 v6_set_id (vg_cidr6, 0 none)
 *       ports       value_count × { u16 lo, u16 hi }  (inclusive)
 *       ranges      value_count × { i64 lo, i64 hi }  (inclusive)
 *       map_set     u32 syscall_set_id (vg_syscalls, 0 none)  u32 pad  value_count × { i64 lo, i64 hi }
 *       expr        u32 expr_id: the clause is decided in user space (bundle.userspaceExprs[expr_id])
 *       file_types  u32 mask, bit n set for S_IFMT type nibble n (mode >> 12)
 *       none        no operands (SPortPriv and friends: port < 1024)
 *     pids:   4 u8 flags: bit0 followForks, bit1 isNamespacePID   5 u8 pad   6 u16 count   8 count × u32 pid
 *     binaries | parent_binaries:  4 u8 flags: bit0 followChildren   5 u8 match (VG_BIN_*)   6 u16 count
 *             8 u32 set_id (exact: vg_strings; prefix / postfix: vg_prefix)
 *     namespaces:  4 u8 ns_kind (VG_NS_*)  5 u8 flags: bit0 host_ns listed  6 u16 count  8 count × u32 inode
 *     namespace_changes:  4 u32 mask, bit n for VG_NS_* n
 *     capabilities | capability_changes:  4 u8 cap_set (VG_CAPSET_*)  5 u8 flags: bit0 isNamespaceCapability
 *             6 u16 pad   8 u64 capability mask (bit n = capability n)
 *
 * vg_actions    hash   key u32 action_table_id (1-based)   value: 0 u16 count  2 u16 pad  4 count × ACTION
 *   ACTION (32 bytes) 0 u8 action (VG_ACT_*)   1 u8 flags: bit0 kernelStackTrace, bit1 userStackTrace, bit2 imaHash,
 *             bit3 monitor mode: the enforcing action was turned into Post, bit4 string is argNewAddr (0x hex),
 *             bit5 string is argNewOffset (0x hex), bit6 string is argRegs joined by ","
 *             2 u8 rate_limit_scope (VG_RATE_*)   3 u8 original action (VG_ACT_*, when bit3)   4 i32 arg_error
 *             8 i32 arg_sig   12 i32 arg_sock or arg_index   16 i32 arg_value   20 u32 rate_limit_ms (0 none)
 *            24 u32 string_id (bundle.strings: argUrl / argFqdn / argNewSymbol, or per bit4-6; 0xffffffff none)
 *            28 u32 pad
 *
 * vg_strings    hash      key: 0 u32 set_id  4 u32 len  8 u8[256] bytes (zero-padded)          value u8 1
 * vg_prefix     lpm_trie  key: 0 u32 prefixlen = 32 + 8·len  4 u32 set_id  8 u8[256] bytes   value u8 1
 *               (postfix sets store the bytes reversed)
 * vg_cidr4      lpm_trie  key: 0 u32 prefixlen = 32 + cidr_len  4 u32 set_id  8 u8[4] address  value u8 1
 * vg_cidr6      lpm_trie  key: 0 u32 prefixlen = 32 + cidr_len  4 u32 set_id  8 u8[16] address value u8 1
 * vg_syscalls   hash      key: 0 u32 set_id  4 u16 abi (VG_ABI_*)  6 u16 pad  8 u32 nr           value u8 1
 *
 * Set ids (per map) and action table ids start at 1 and are given in order of first use; equal contents share
 * one id. Map entries are listed sorted by key bytes.
 */
import { createHash } from 'node:crypto';
import {
  ACTION,
  ARG_OPERATOR,
  ARG_TYPE,
  BINARY_MATCH,
  CAP_SET,
  CLAUSE_KIND,
  HOOK_KIND,
  MECHANISM,
  NAMESPACE_KIND,
  POLICY_MODE,
  RATE_LIMIT_SCOPE,
  SET_OPERATOR,
  SYSCALL_ABI,
  VALUE_KIND,
  type ActionName,
  type ArgOperator,
  type ArgType,
  type ClauseKind,
  type HookKind,
  type Mechanism,
  type PolicyMode,
  type RateLimitScope,
  type ValueKind,
} from '../abi/enums.js';
import { capabilityBit } from '../data/capabilities.js';
import { FILE_TYPES } from '../data/net.js';
import { resolveSyscall, type ResolvedSyscall } from '../data/syscalls.js';
import { PolicyCompileError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { expandSelector, type ExpandedSelector } from '../selectors.js';
import {
  HOOK_LISTS,
  type ActionSelector,
  type ArgFilter,
  type ArgSpec,
  type HookListName,
  type LabelSelector,
  type ListSpec,
  type Selector,
  type TracingPolicy,
} from '../types.js';
import {
  INT_ARG_TYPES,
  parseCidr,
  parseFamily,
  parseInteger,
  parsePortRange,
  parseProtocol,
  parseRange,
  parseRateLimit,
  parseTcpState,
} from '../values.js';
import {
  MAP_NAMES,
  type Bundle,
  type CompiledArg,
  type CompiledEnforcer,
  type CompiledHook,
  type IdentitySetRef,
  type MapEntry,
  type MapName,
  type UserspaceExpr,
} from './bundle.js';
import { ByteWriter } from './byte-writer.js';
import {
  ACTION_RECORD_BYTES,
  ARG_DESC_BYTES,
  BUNDLE_GRAMMAR_VERSION,
  HOOK_CONFIG_BYTES,
  NO_ID,
  SELECTOR_PROGRAM_MAGIC,
  STRING_KEY_BYTES,
} from './grammar.js';
import type { NodeMechanisms, NodeProfile, TracepointField } from './node-profile.js';

const ATTACH_FIELDS: ReadonlySet<string> = new Set([
  'call',
  'syscall',
  'subsystem',
  'event',
  'raw',
  'path',
  'symbols',
  'addrs',
  'offsets',
  'refCtrOffsets',
  'binaryDigests',
  'btfPath',
  'provider',
  'name',
  'hook',
]);
const ENFORCING_ACTIONS: ReadonlySet<ActionName> = new Set<ActionName>(['Sigkill', 'Override', 'Signal', 'NotifyEnforcer', 'Set']);
const SIGNAL_ACTIONS: ReadonlySet<ActionName> = new Set<ActionName>(['Sigkill', 'Signal', 'NotifyEnforcer']);

function sha256(data: string | Uint8Array): Buffer {
  return createHash('sha256').update(data).digest();
}
function u32Id(text: string): number {
  const id = sha256(text).readUInt32LE(0);
  return id === 0 ? 1 : id;
}
function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}
function utf8(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'utf8'));
}
/** JSON with sorted object keys, for content-derived ids. */
function canonical(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (v && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .filter((k) => (v as Record<string, unknown>)[k] !== undefined)
      .map((k) => `${JSON.stringify(k)}:${canonical((v as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** Mutable state of one compilation: set ids, map entries, strings. */
class Emitter {
  readonly maps: Record<MapName, Map<string, MapEntry>> = Object.fromEntries(MAP_NAMES.map((m) => [m, new Map()])) as Record<MapName, Map<string, MapEntry>>;
  private readonly setIds = new Map<string, number>();
  private readonly nextSet: Partial<Record<MapName, number>> = {};
  readonly strings: string[] = [];
  private readonly stringIds = new Map<string, number>();
  readonly identitySets = new Map<number, IdentitySetRef>();
  readonly exprs: UserspaceExpr[] = [];

  put(map: MapName, key: Uint8Array, value: Uint8Array): void {
    this.maps[map].set(Buffer.from(key).toString('hex'), { key, value });
  }

  /** Returns the id of a set with this content in `map`, creating it (with `fill`) on first use. */
  set(map: MapName, content: string, fill: (id: number) => void): number {
    const k = `${map}\0${content}`;
    const known = this.setIds.get(k);
    if (known !== undefined) return known;
    const id = (this.nextSet[map] ?? 0) + 1;
    this.nextSet[map] = id;
    this.setIds.set(k, id);
    fill(id);
    return id;
  }

  stringId(s: string): number {
    let id = this.stringIds.get(s);
    if (id === undefined) {
      id = this.strings.length;
      this.strings.push(s);
      this.stringIds.set(s, id);
    }
    return id;
  }

  stringSet(values: string[]): number {
    const uniq = [...new Set(values)].sort();
    return this.set('vg_strings', canonical(uniq), (id) => {
      for (const v of uniq) {
        const bytes = utf8(v).subarray(0, STRING_KEY_BYTES);
        const key = new ByteWriter(8 + STRING_KEY_BYTES).u32(id).u32(bytes.length).raw(bytes).zeros(STRING_KEY_BYTES - bytes.length).bytes();
        this.put('vg_strings', key, Uint8Array.of(1));
      }
    });
  }

  prefixSet(values: string[], reversed: boolean): number {
    const uniq = [...new Set(values)].sort();
    return this.set('vg_prefix', canonical({ reversed, uniq }), (id) => {
      for (const v of uniq) {
        let bytes = utf8(v).subarray(0, STRING_KEY_BYTES);
        if (reversed) bytes = bytes.slice().reverse();
        const key = new ByteWriter(8 + STRING_KEY_BYTES)
          .u32(32 + 8 * bytes.length)
          .u32(id)
          .raw(bytes)
          .zeros(STRING_KEY_BYTES - bytes.length)
          .bytes();
        this.put('vg_prefix', key, Uint8Array.of(1));
      }
    });
  }

  cidrSets(values: string[]): { v4: number; v6: number } {
    const cidrs = values.map((v) => parseCidr(v)).filter((c) => c !== undefined);
    const fam = (f: 4 | 6): number => {
      const list = cidrs.filter((c) => c.family === f);
      if (list.length === 0) return 0;
      const map: MapName = f === 4 ? 'vg_cidr4' : 'vg_cidr6';
      const content = canonical(list.map((c) => `${Buffer.from(c.addr).toString('hex')}/${c.prefixLen}`).sort());
      return this.set(map, content, (id) => {
        for (const c of list) this.put(map, new ByteWriter(24).u32(32 + c.prefixLen).u32(id).raw(c.addr).bytes(), Uint8Array.of(1));
      });
    };
    return { v4: fam(4), v6: fam(6) };
  }

  syscallSet(calls: ResolvedSyscall[]): number {
    if (calls.length === 0) return 0;
    const content = canonical(calls.map((c) => `${c.abi}:${c.nr}`).sort());
    return this.set('vg_syscalls', content, (id) => {
      for (const c of calls) this.put('vg_syscalls', new ByteWriter(12).u32(id).u16(SYSCALL_ABI.values[c.abi]).u16(0).u32(c.nr).bytes(), Uint8Array.of(1));
    });
  }

  actionTable(actions: ActionSelector[], mode: PolicyMode): number {
    if (actions.length === 0) return NO_ID;
    const w = new ByteWriter(4 + actions.length * ACTION_RECORD_BYTES).u16(actions.length).u16(0);
    for (const a of actions) {
      const downgrade = mode === 'monitor' && ENFORCING_ACTIONS.has(a.action);
      let flags = (a.kernelStackTrace ? 1 : 0) | (a.userStackTrace ? 2 : 0) | (a.imaHash ? 4 : 0) | (downgrade ? 8 : 0);
      const scope = (a.rateLimitScope ?? 'thread') as RateLimitScope;
      let str = a.argUrl ?? a.argFqdn ?? a.argNewSymbol;
      if (str === undefined && a.argNewAddr !== undefined) [str, flags] = [`0x${a.argNewAddr.toString(16)}`, flags | 16];
      else if (str === undefined && a.argNewOffset !== undefined) [str, flags] = [`0x${a.argNewOffset.toString(16)}`, flags | 32];
      else if (str === undefined && a.argRegs !== undefined) [str, flags] = [a.argRegs.join(','), flags | 64];
      w.u8(downgrade ? ACTION.values.Post : ACTION.values[a.action])
        .u8(flags)
        .u8(RATE_LIMIT_SCOPE.values[scope] ?? 0)
        .u8(downgrade ? ACTION.values[a.action] : 0)
        .i32(a.argError ?? 0)
        .i32(a.argSig ?? 0)
        .i32(a.action === 'Set' ? (a.argIndex ?? 0) : (a.argSock ?? 0))
        .i32(a.argValue ?? 0)
        .u32(a.rateLimit !== undefined ? (parseRateLimit(a.rateLimit) ?? 0) : 0)
        .u32(str !== undefined ? this.stringId(str) : NO_ID)
        .u32(0);
    }
    const bytes = w.bytes();
    return this.set('vg_actions', Buffer.from(bytes).toString('hex'), (id) => this.put('vg_actions', new ByteWriter(4).u32(id).bytes(), bytes));
  }

  identity(namespace: string | undefined, pods: LabelSelector[], containers: LabelSelector[]): number {
    // A TracingPolicyNamespaced is restricted to its namespace's pods even without selectors (never host processes)
    if (pods.length === 0 && containers.length === 0 && namespace === undefined) return 0;
    const ref: Omit<IdentitySetRef, 'id'> = { ...(namespace !== undefined ? { namespace } : {}), podSelectors: pods, containerSelectors: containers };
    const id = u32Id(`identity:${canonical(ref)}`);
    this.identitySets.set(id, { id, ...ref });
    return id;
  }

  entries(map: MapName): MapEntry[] {
    return [...this.maps[map].values()].sort((a, b) => compareBytes(a.key, b.key));
  }
}

interface HookContext {
  kind: HookKind;
  list: HookListName;
  path: string;
  args: ArgSpec[];
  data: ArgSpec[];
  returnArg: ArgSpec | undefined;
  /** Resolves matchArgs.index to the arg slot. */
  argSlot: (index: number) => number | undefined;
}

const LIST_KIND: Record<HookListName, HookKind> = {
  kprobes: 'kprobe',
  tracepoints: 'tracepoint',
  uprobes: 'uprobe',
  usdts: 'usdt',
  lsmhooks: 'lsm',
  fentries: 'fentry',
};

function valueKindFor(op: ArgOperator, argType: ArgType | undefined, values: string[]): ValueKind {
  switch (op) {
    case 'Equal':
    case 'NotEqual':
      if (argType && INT_ARG_TYPES.has(argType)) return 'int';
      if ((argType === undefined || argType === 'auto') && values.every((v) => parseInteger(v) !== undefined)) return 'int';
      return 'str_set';
    case 'Prefix':
    case 'NotPrefix':
      return 'prefix_set';
    case 'Postfix':
    case 'NotPostfix':
      return 'postfix_set';
    case 'SubString':
    case 'SubStringIgnCase':
      return 'substr';
    case 'SAddr':
    case 'NotSAddr':
    case 'DAddr':
    case 'NotDAddr':
      return 'cidr';
    case 'SPort':
    case 'NotSPort':
    case 'DPort':
    case 'NotDPort':
      return 'ports';
    case 'SPortPriv':
    case 'NotSportPriv':
    case 'DPortPriv':
    case 'NotDPortPriv':
      return 'none';
    case 'InRange':
    case 'NotInRange':
      return 'ranges';
    case 'InMap':
    case 'NotInMap':
      return 'map_set';
    case 'CelExpr':
      return 'expr';
    case 'FileType':
    case 'NotFileType':
      return 'file_types';
    default:
      return 'int';
  }
}

function intOperand(op: ArgOperator, v: string): bigint {
  switch (op) {
    case 'Protocol':
      return BigInt(parseProtocol(v) ?? 0);
    case 'Family':
      return BigInt(parseFamily(v) ?? 0);
    case 'State':
      return BigInt(parseTcpState(v) ?? 0);
    default:
      return parseInteger(v) ?? 0n;
  }
}

class Compiler {
  private readonly em = new Emitter();
  private readonly mode: PolicyMode;
  private readonly lists: Map<string, ListSpec>;
  private readonly policyIdentity: number;
  private readonly hostIncluded: boolean;
  private readonly policyUid: string;

  constructor(
    private readonly policy: TracingPolicy,
    private readonly profile: NodeProfile,
  ) {
    const spec = policy.spec;
    const modeOpt = spec.options?.find((o) => o.name === 'policy-mode')?.value;
    this.mode = modeOpt === 'monitor' ? 'monitor' : 'enforce';
    this.lists = new Map((spec.lists ?? []).map((l) => [l.name, l]));
    this.policyUid = policyUidOf(policy);
    const ns = policy.kind === 'TracingPolicyNamespaced' ? (policy.metadata.namespace ?? '') : undefined;
    this.policyIdentity = this.em.identity(ns, spec.podSelector ? [spec.podSelector] : [], spec.containerSelector ? [spec.containerSelector] : []);
    this.hostIncluded = spec.hostSelector !== undefined && policy.kind !== 'TracingPolicyNamespaced';
  }

  private resolveCalls(calls: string[]): { resolved: ResolvedSyscall[]; unresolved: string[] } {
    const resolved: ResolvedSyscall[] = [];
    const unresolved: string[] = [];
    for (const c of calls) {
      if (c.startsWith('list:')) {
        const l = this.lists.get(c.slice(5));
        const r = this.resolveCalls(l?.type === 'syscalls' ? (l.values ?? []) : []);
        resolved.push(...r.resolved);
        unresolved.push(...r.unresolved);
        if (l && l.type !== 'syscalls') unresolved.push(c);
      } else {
        const r = resolveSyscall(c, this.profile.syscalls);
        if (r) resolved.push(r);
        else unresolved.push(c);
      }
    }
    return { resolved, unresolved };
  }

  compile(): Bundle {
    const hooks: CompiledHook[] = [];
    const spec = this.policy.spec;
    for (const list of HOOK_LISTS) {
      (spec[list] ?? []).forEach((h, i) => {
        hooks.push(this.compileHook(list, h as unknown as Record<string, unknown>, i, hooks.length + 1));
      });
    }
    const enforcers: CompiledEnforcer[] = (spec.enforcers ?? []).map((e, i) => this.compileEnforcer(e.calls, `spec.enforcers[${i}]`));
    const meta = this.policy.metadata;
    const content: Omit<Bundle, 'version'> = {
      policy: {
        name: meta.name,
        ...(meta.namespace !== undefined ? { namespace: meta.namespace } : {}),
        kind: this.policy.kind,
        mode: this.mode,
        loader: spec.loader === true,
        ...(spec.options?.find((o) => o.name === 'deny-io-uring')?.value === 'true' ? { denyIoUring: { identitySetId: this.policyIdentity, hostIncluded: this.hostIncluded } } : {}),
      },
      hooks,
      enforcers,
      identitySets: [...this.em.identitySets.values()].sort((a, b) => a.id - b.id),
      maps: Object.fromEntries(MAP_NAMES.map((m) => [m, this.em.entries(m)])) as Bundle['maps'],
      strings: this.em.strings,
      userspaceExprs: this.em.exprs,
    };
    const version = { policyUid: this.policyUid, generation: meta.generation ?? 0, grammarVersion: BUNDLE_GRAMMAR_VERSION, contentHash: '' };
    const bundle: Bundle = { version, ...content };
    version.contentHash = bundleContentHash(bundle);
    return bundle;
  }

  private compileEnforcer(calls: string[], path: string): CompiledEnforcer {
    const { resolved } = this.resolveCalls(calls);
    const syscallSetId = this.em.syscallSet(resolved);
    const m = this.profile.mechanisms;
    const pick = (): { mechanism: Mechanism; refusal?: string } => {
      if (resolved.length === 0) return { mechanism: 'none', refusal: `none of its calls is a syscall of this node's tables (${calls.join(', ')})` };
      // fmod_ret first: the syscall does not run and returns argError; then kprobe override; then a signal at
      // sys_exit (the syscall's effect stays)
      if (m.fentry) return { mechanism: 'fentry' };
      if (m.kprobe && m.kprobeOverride) return { mechanism: 'kprobe' };
      if (m.tpBtf && m.bpfSendSignal) return { mechanism: 'tp_btf_syscall' };
      return { mechanism: 'none', refusal: 'an enforcer needs fmod_ret (fentry), kprobe override or tp_btf with bpf_send_signal; this node has none' };
    };
    const fns = resolved.map((r) => `${r.abi === 'ia32' ? '__ia32_sys_' : '__x64_sys_'}${r.name}`);
    return { path, syscallSetId, calls: [...new Set(fns)], ...pick() };
  }

  private compileHook(list: HookListName, h: Record<string, unknown>, index: number, id: number): CompiledHook {
    const kind = LIST_KIND[list];
    const path = `spec.${list}[${index}]`;
    const args = (h['args'] as ArgSpec[] | undefined) ?? [];
    const data = (h['data'] as ArgSpec[] | undefined) ?? [];
    const returnArg = h['returnArg'] as ArgSpec | undefined;
    const isReturn = h['return'] === true;
    const selectors = (h['selectors'] as Selector[] | undefined) ?? [];
    const ctx: HookContext = {
      kind,
      list,
      path,
      args,
      data,
      returnArg,
      argSlot: (idx) => {
        if (list === 'tracepoints') return idx < args.length ? idx : undefined;
        const slot = args.findIndex((a) => a.index === idx);
        return slot < 0 ? undefined : slot;
      },
    };
    const expanded = selectors.map((s, i) => expandSelector(s, `${path}.selectors[${i}]`, this.policy.spec.selectorsMacros));
    const allActions = expanded.flatMap((s) => [...s.matchActions, ...s.matchReturnActions].map((a) => a.value.action));
    const needsOverride = this.mode === 'enforce' && allActions.includes('Override');
    const needsSignal = this.mode === 'enforce' && allActions.some((a) => SIGNAL_ACTIONS.has(a));
    const notes: string[] = [];

    // Targets and syscall resolution.
    let targets: string[] = [];
    let generatedList: CompiledHook['generatedList'];
    let syscall: ResolvedSyscall | undefined;
    let syscallSetId = 0;
    if (list === 'kprobes' || list === 'fentries') {
      const call = String(h['call']);
      if (call.startsWith('list:')) {
        const l = this.lists.get(call.slice(5));
        if (l?.type === 'generated_syscalls' || l?.type === 'generated_ftrace') {
          generatedList = { type: l.type, ...(l.pattern !== undefined ? { pattern: l.pattern } : {}) };
        } else {
          targets = [...(l?.values ?? [])];
          if (h['syscall'] !== false || l?.type === 'syscalls') {
            const { resolved, unresolved } = this.resolveCalls([call]);
            syscallSetId = this.em.syscallSet(resolved);
            if (unresolved.length) notes.push(`not in this node's syscall tables: ${unresolved.join(', ')}`);
          }
        }
      } else {
        targets = [call];
        if (h['syscall'] !== false) syscall = resolveSyscall(call, this.profile.syscalls);
      }
    } else if (list === 'tracepoints') targets = [`${String(h['subsystem'])}/${String(h['event'])}`];
    else if (list === 'uprobes') {
      const p = String(h['path']);
      const points = (h['symbols'] as string[] | undefined) ?? ((h['addrs'] ?? h['offsets']) as number[] | undefined)?.map((n) => `0x${n.toString(16)}`) ?? [];
      targets = points.map((s) => `${p}:${s}`);
    } else if (list === 'usdts') targets = [`${String(h['path'])}:${String(h['provider'])}:${String(h['name'])}`];
    else targets = [String(h['hook'])];

    // Arg descriptors (tracepoints read tracefs fields).
    let refusal: string | undefined;
    let fields: TracepointField[] | undefined;
    if (list === 'tracepoints' && h['raw'] !== true && args.length > 0) {
      fields = this.profile.tracepoints[targets[0] ?? ''];
      if (!fields) refusal = `the tracefs format of ${targets[0] ?? ''} is not in the NodeProfile`;
      else {
        const missing = args.find((a) => fields?.[a.index] === undefined);
        if (missing) refusal = `${targets[0] ?? ''} has no tracefs field ${missing.index} on this node (${fields.length} fields)`;
      }
    }
    const compiledArgs: CompiledArg[] = args.map((a, slot) => {
      const f = fields?.[a.index];
      return { slot, index: a.index, type: a.type, ...(f ? { tpOffset: f.offset, tpSize: f.size } : {}) };
    });

    const choice = refusal ? { mechanism: 'none' as Mechanism, refusal } : chooseMechanism(kind, { h, isReturn, needsOverride, needsSignal, syscall, syscallSetId, generated: generatedList !== undefined }, this.profile.mechanisms);
    notes.push(...(choice.notes ?? []));

    const hookIdentity = this.policyIdentity;
    const flags = (isReturn ? 1 : 0) | (returnArg ? 2 : 0) | (this.hostIncluded ? 4 : 0) | (generatedList ? 8 : 0);
    const cfg = new ByteWriter(HOOK_CONFIG_BYTES)
      .u32(id)
      .u8(HOOK_KIND.values[kind])
      .u8(MECHANISM.values[choice.mechanism])
      .u8(POLICY_MODE.values[this.mode])
      .u8(flags)
      .u32(u32Id(`policy:${this.policyUid}`))
      .u32(hookIdentity)
      .i32(syscall ? syscall.nr : -1)
      .u32(syscallSetId)
      .u8(SYSCALL_ABI.values[syscall?.abi ?? 'x86_64'])
      .u8(args.length)
      .u8(data.length)
      .u8(0)
      .u32(0);
    const desc = (a: ArgSpec | undefined, f?: TracepointField): void => {
      if (!a) {
        cfg.zeros(ARG_DESC_BYTES);
        return;
      }
      cfg
        .u8(a.index & 0xff)
        .u8(ARG_TYPE.values[a.type])
        .u8((a.maxData ? 1 : 0) | (a.returnCopy ? 2 : 0) | (f?.signed ? 4 : 0))
        .u8((a.sizeArgIndex ?? 0) & 0xff)
        .u16(f?.offset ?? 0)
        .u16(f?.size ?? 0);
    };
    for (let i = 0; i < LIMITS.MAX_ARGS_PER_HOOK; i++) desc(args[i], args[i] ? fields?.[args[i]?.index ?? 0] : undefined);
    for (let i = 0; i < LIMITS.MAX_ARGS_PER_HOOK; i++) desc(data[i]);
    desc(returnArg);
    this.em.put('vg_hooks', new ByteWriter(4).u32(id).bytes(), cfg.bytes());

    const prog = this.selectorProgram(ctx, id, expanded);
    this.em.put('vg_sel_prog', new ByteWriter(4).u32(id).bytes(), prog);

    return {
      id,
      kind,
      path,
      targets,
      ...(generatedList ? { generatedList } : {}),
      mechanism: choice.mechanism,
      ...(choice.refusal ? { refusal: choice.refusal } : {}),
      notes,
      ...(syscall ? { syscall: { abi: syscall.abi, nr: syscall.nr } } : {}),
      returnProbe: isReturn,
      args: compiledArgs,
      attach: Object.fromEntries(Object.entries(h).filter(([k]) => ATTACH_FIELDS.has(k))),
      ignoreMissing: Object.values((h['ignore'] as Record<string, boolean> | undefined) ?? {}).some((v) => v === true),
      ...(typeof h['returnArgAction'] === 'string' ? { returnArgAction: h['returnArgAction'] } : {}),
      ...(typeof h['message'] === 'string' ? { message: h['message'] } : {}),
      ...(Array.isArray(h['tags']) ? { tags: h['tags'] as string[] } : {}),
    };
  }

  private selectorProgram(ctx: HookContext, hookId: number, selectors: ExpandedSelector[]): Uint8Array {
    const w = new ByteWriter(512);
    w.u32(SELECTOR_PROGRAM_MAGIC).u16(BUNDLE_GRAMMAR_VERSION).u16(selectors.length).u32(0);
    const offsetsAt = w.length;
    w.zeros(4 * selectors.length);
    selectors.forEach((sel, i) => {
      w.patchU32(offsetsAt + 4 * i, w.length);
      this.selector(w, ctx, hookId, sel);
    });
    w.patchU32(8, w.length);
    if (w.length > LIMITS.MAX_SELECTOR_PROGRAM_BYTES)
      throw new PolicyCompileError(
        'PROGRAM_TOO_LARGE',
        `${ctx.path}.selectors`,
        `compiled selectors take ${w.length} bytes, over MAX_SELECTOR_PROGRAM_BYTES = ${LIMITS.MAX_SELECTOR_PROGRAM_BYTES}`,
        'move values into spec.lists (InMap) or split the hook into several hooks',
      );
    return w.bytes();
  }

  private selector(w: ByteWriter, ctx: HookContext, hookId: number, sel: ExpandedSelector): void {
    const start = w.length;
    const wl = sel.matchWorkloads;
    const spec = this.policy.spec;
    const ns = this.policy.kind === 'TracingPolicyNamespaced' ? (this.policy.metadata.namespace ?? '') : undefined;
    const identity =
      wl && (wl.podSelector || wl.containerSelector)
        ? this.em.identity(
            ns,
            [spec.podSelector, wl.podSelector].filter((s) => s !== undefined),
            [spec.containerSelector, wl.containerSelector].filter((s) => s !== undefined),
          )
        : 0;
    w.u32(0)
      .u32(this.em.actionTable(sel.matchActions.map((a) => a.value), this.mode))
      .u32(this.em.actionTable(sel.matchReturnActions.map((a) => a.value), this.mode))
      .u32(identity);
    const countAt = w.length;
    w.u16(0).u16(wl?.hostSelector !== undefined ? 1 : 0);
    let clauses = 0;
    const clause = (kind: ClauseKind, op: number, body: (cw: ByteWriter) => void): void => {
      const at = w.length;
      w.u8(CLAUSE_KIND.values[kind]).u8(op).u16(0);
      body(w);
      w.align(4);
      w.patchU16(at + 2, w.length - at);
      clauses++;
    };
    const argClause = (kind: 'arg' | 'data' | 'return_arg', f: ArgFilter): void => {
      const idx = f.args?.[0] ?? f.index ?? 0;
      let slot = 0;
      let type: ArgType | undefined;
      if (kind === 'arg') {
        slot = ctx.argSlot(idx) ?? 0;
        type = ctx.args[slot]?.type;
      } else if (kind === 'data') {
        const s = ctx.data.findIndex((d) => d.index === idx);
        slot = s >= 0 ? s : idx;
        type = ctx.data[slot]?.type;
      } else type = ctx.returnArg?.type;
      const values = f.values ?? [];
      const vk = valueKindFor(f.operator, type, values);
      clause(kind, ARG_OPERATOR.values[f.operator], (cw) => {
        const countAt2 = cw.length + 4;
        cw.u8(slot).u8(type ? ARG_TYPE.values[type] : 0).u8(VALUE_KIND.values[vk]).u8(0).u16(values.length).u16(0);
        switch (vk) {
          case 'int':
            if (f.operator === 'CapabilitiesGained') {
              cw.u64(values.reduce((m, v) => m | (1n << BigInt(capabilityBit(v) ?? 0)), 0n));
              cw.patchU16(countAt2, 1);
            } else for (const v of values) cw.i64(intOperand(f.operator, v));
            break;
          case 'str_set':
            cw.u32(this.em.stringSet(values));
            break;
          case 'prefix_set':
            cw.u32(this.em.prefixSet(values, false));
            break;
          case 'postfix_set':
            cw.u32(this.em.prefixSet(values, true));
            break;
          case 'substr':
            for (const v of values) {
              const b = utf8(f.operator === 'SubStringIgnCase' ? v.toLowerCase() : v);
              cw.u16(b.length).raw(b).align(4);
            }
            break;
          case 'cidr': {
            const s = this.em.cidrSets(values);
            cw.u32(s.v4).u32(s.v6);
            break;
          }
          case 'ports':
            for (const v of values) {
              const r = parsePortRange(v) ?? { lo: 0, hi: 0 };
              cw.u16(r.lo).u16(r.hi);
            }
            break;
          case 'ranges':
            for (const v of values) {
              const r = parseRange(v) ?? { lo: 0n, hi: 0n };
              cw.i64(r.lo).i64(r.hi);
            }
            break;
          case 'map_set': {
            const listRefs = values.filter((v) => v.startsWith('list:'));
            const ranges = values.filter((v) => !v.startsWith('list:')).map((v) => parseRange(v) ?? { lo: 0n, hi: 0n });
            cw.u32(this.em.syscallSet(this.resolveCalls(listRefs).resolved)).u32(0);
            cw.patchU16(countAt2, ranges.length);
            for (const r of ranges) cw.i64(r.lo).i64(r.hi);
            break;
          }
          case 'expr': {
            const id = this.em.exprs.length;
            const argSlots = (f.args ?? [f.index ?? 0]).map((i) => ctx.argSlot(i) ?? 0);
            this.em.exprs.push({ id, hookId, argSlots, language: 'cel', expr: values[0] ?? '' });
            cw.u32(id);
            break;
          }
          case 'file_types':
            cw.u32(values.reduce((m, v) => m | (1 << (FILE_TYPES[v] ?? 0)), 0));
            break;
          case 'none':
            break;
        }
      });
    };
    for (const f of sel.matchArgs) argClause('arg', f.value);
    for (const f of sel.matchData) argClause('data', f.value);
    for (const f of sel.matchReturnArgs) argClause('return_arg', f.value);
    for (const p of sel.matchPIDs) {
      clause('pids', SET_OPERATOR.values[p.value.operator], (cw) => {
        cw.u8((p.value.followForks ? 1 : 0) | (p.value.isNamespacePID ? 2 : 0)).u8(0).u16(p.value.values.length);
        for (const pid of p.value.values) cw.u32(pid);
      });
    }
    for (const [kind, list] of [
      ['binaries', sel.matchBinaries],
      ['parent_binaries', sel.matchParentBinaries],
    ] as const) {
      for (const b of list) {
        const op = b.value.operator;
        const match = op === 'In' || op === 'NotIn' ? 'exact' : op === 'Prefix' || op === 'NotPrefix' ? 'prefix' : 'postfix';
        const setId = match === 'exact' ? this.em.stringSet(b.value.values) : this.em.prefixSet(b.value.values, match === 'postfix');
        clause(kind, SET_OPERATOR.values[op], (cw) => {
          cw.u8(b.value.followChildren ? 1 : 0).u8(BINARY_MATCH.values[match]).u16(b.value.values.length).u32(setId);
        });
      }
    }
    for (const n of sel.matchNamespaces) {
      const inums = n.value.values.filter((v) => v !== 'host_ns');
      clause('namespaces', SET_OPERATOR.values[n.value.operator], (cw) => {
        cw.u8(NAMESPACE_KIND.values[n.value.namespace]).u8(n.value.values.includes('host_ns') ? 1 : 0).u16(inums.length);
        for (const v of inums) cw.u32(Number(parseInteger(v) ?? 0n));
      });
    }
    for (const n of sel.matchNamespaceChanges) {
      clause('namespace_changes', SET_OPERATOR.values[n.value.operator], (cw) => {
        cw.u32(n.value.values.reduce((m, v) => m | (1 << (NAMESPACE_KIND.values[v as keyof typeof NAMESPACE_KIND.values] ?? 0)), 0));
      });
    }
    for (const [kind, list] of [
      ['capabilities', sel.matchCapabilities],
      ['capability_changes', sel.matchCapabilityChanges],
    ] as const) {
      for (const c of list) {
        clause(kind, SET_OPERATOR.values[c.value.operator], (cw) => {
          cw.u8(CAP_SET.values[c.value.type ?? 'Effective'])
            .u8(c.value.isNamespaceCapability ? 1 : 0)
            .u16(0)
            .u64(c.value.values.reduce((m, v) => m | (1n << BigInt(capabilityBit(v) ?? 0)), 0n));
        });
      }
    }
    w.patchU16(countAt, clauses);
    w.patchU32(start, w.length - start);
  }
}

interface MechanismInput {
  h: Record<string, unknown>;
  isReturn: boolean;
  needsOverride: boolean;
  needsSignal: boolean;
  syscall: ResolvedSyscall | undefined;
  syscallSetId: number;
  generated: boolean;
}
interface MechanismChoice {
  mechanism: Mechanism;
  refusal?: string;
  notes?: string[];
}

const LSM_FALLBACKS: Readonly<Record<string, { needs: (keyof NodeMechanisms)[]; mechanism: Mechanism; note: string }>> = {
  bprm_check_security: { needs: ['tpBtf', 'bpfSendSignal'], mechanism: 'tp_btf', note: 'no BPF LSM: enforced at sched_process_exec with SIGKILL before the new image runs; Override becomes SIGKILL' },
  file_open: { needs: ['fanotify'], mechanism: 'fanotify', note: 'no BPF LSM: enforced through fanotify permission events (FAN_OPEN_PERM) while the sensor runs' },
  socket_connect: { needs: ['cgroupSock'], mechanism: 'cgroup_sock', note: 'no BPF LSM: enforced by cgroup/connect4 and connect6 programs' },
};

/** Picks the attach mechanism for one hook on a node, or refuses with the reason. Pure. */
export function chooseMechanism(kind: HookKind, input: MechanismInput, m: NodeMechanisms): MechanismChoice {
  const refuse = (refusal: string): MechanismChoice => ({ mechanism: 'none', refusal });
  if (input.needsSignal && !m.bpfSendSignal) return refuse('the policy sends signals but bpf_send_signal is not available on this node');
  switch (kind) {
    case 'kprobe':
    case 'fentry': {
      if (m.fentry && !(input.needsOverride && kind === 'kprobe' && m.kprobe && m.kprobeOverride))
        return { mechanism: input.isReturn ? 'fexit' : 'fentry', ...(input.needsOverride ? { notes: ['Override through fmod_ret'] } : {}) };
      if (m.kprobe) {
        if (input.needsOverride && !m.kprobeOverride) return refuse('Override needs bpf_override_return (kprobe override) or fmod_ret (fentry); this node has neither');
        return { mechanism: input.isReturn ? 'kretprobe' : 'kprobe', ...(kind === 'fentry' ? { notes: ['no fentry on this node: attached as kprobe'] } : {}) };
      }
      if ((input.syscall || input.syscallSetId) && m.tpBtf && !input.generated) {
        if (input.needsOverride) return refuse('Override of a syscall needs kprobe override or fmod_ret; this node only offers tp_btf sys_enter/sys_exit');
        return { mechanism: 'tp_btf_syscall', notes: ['no kprobes or fentry: attached at tp_btf sys_enter/sys_exit, filtered by syscall number'] };
      }
      return refuse(`kernel function hooks need kprobes or fentry, which this node lacks${input.syscall || input.syscallSetId ? ' (and tp_btf is unavailable)' : ''}`);
    }
    case 'tracepoint':
      if (input.needsOverride) return refuse('Override cannot change a tracepoint\'s outcome');
      if (input.h['raw'] === true) {
        // raw_tp first: the in-kernel engine runs raw tracepoints as raw_tp programs (one per arg count); tp_btf
        // only where raw_tp is missing
        if (m.rawTp) return { mechanism: 'raw_tp' };
        if (m.tpBtf) return { mechanism: 'tp_btf' };
        return refuse('raw tracepoints need raw_tp or tp_btf, which this node lacks');
      }
      return m.tracepoint ? { mechanism: 'tracepoint' } : refuse('tracepoints are not available on this node');
    case 'uprobe':
    case 'usdt':
      return m.uprobe ? { mechanism: input.isReturn ? 'uretprobe' : 'uprobe' } : refuse('uprobes are not available on this node');
    case 'lsm': {
      if (m.lsm) return { mechanism: 'lsm' };
      const fb = LSM_FALLBACKS[String(input.h['hook'])];
      if (fb && fb.needs.every((k) => m[k])) return { mechanism: fb.mechanism, notes: [fb.note] };
      return refuse(`BPF LSM is not available on this node and ${String(input.h['hook'])} has no fallback mechanism`);
    }
  }
}

/** Uid a bundle's version carries: metadata.uid, or `name` / `namespace/name` for policies not from an API server. */
export function policyUidOf(policy: TracingPolicy): string {
  const m = policy.metadata;
  return m.uid ?? (m.namespace ? `${m.namespace}/${m.name}` : m.name);
}

/** sha256 over everything but `version`: the JSON of the plan, then every map entry's raw bytes in map order. */
export function bundleContentHash(bundle: Bundle): string {
  const { version: _version, maps, ...plan } = bundle;
  const h = createHash('sha256').update(JSON.stringify(plan));
  for (const m of MAP_NAMES) {
    h.update(`\n${m}:${maps[m].length}\n`);
    for (const e of maps[m]) h.update(e.key).update(e.value);
  }
  return h.digest('hex');
}

/**
 * Compiles a validated policy for one node. Throws only PolicyCompileError (bad node profile, unsupported grammar,
 * a selector program over MAX_SELECTOR_PROGRAM_BYTES). A hook the node cannot run is not an error: it appears
 * in the bundle with mechanism 'none' and the reason.
 */
export function compilePolicy(policy: TracingPolicy, profile: NodeProfile): Bundle {
  if (!policy || typeof policy !== 'object' || !policy.spec || !policy.metadata)
    throw new PolicyCompileError('NOT_VALIDATED', '', 'input is not a validated policy', 'run validatePolicy first and compile its result');
  if (profile.grammarVersion !== BUNDLE_GRAMMAR_VERSION)
    throw new PolicyCompileError(
      'GRAMMAR_UNSUPPORTED',
      'nodeProfile.grammarVersion',
      `node reads bundle grammar ${profile.grammarVersion}, this compiler writes ${BUNDLE_GRAMMAR_VERSION}`,
      'upgrade the operator or the sensor so both speak the same grammar',
    );
  return new Compiler(policy, profile).compile();
}
