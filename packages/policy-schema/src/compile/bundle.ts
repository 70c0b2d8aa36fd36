// The per-node bundle: what a sensor needs to run one policy on one node. Pure data; JSON-serialisable through
// bundleToJson (bytes as hex). See compiler.ts for the byte grammar of every map value.
import type { HookKind, Mechanism, PolicyMode, SyscallAbi } from '../abi/enums.js';
import { BundleError } from '../errors.js';
import type { LabelSelector, PolicyKind } from '../types.js';
import { fromHex, toHex } from './byte-writer.js';
import { ACTION_RECORD_BYTES, HOOK_CONFIG_BYTES, STRING_KEY_BYTES } from './grammar.js';
import { LIMITS } from '../limits.js';

/** Which of two bundles is newer is decided by this, in order: same policy uid, generation, grammar, hash. */
export interface BundleVersion {
  policyUid: string;
  generation: number;
  grammarVersion: number;
  /** sha256 (hex) of the bundle content (everything but `version`). */
  contentHash: string;
}

export type MapName = 'vg_hooks' | 'vg_sel_prog' | 'vg_actions' | 'vg_strings' | 'vg_prefix' | 'vg_cidr4' | 'vg_cidr6' | 'vg_syscalls';
export const MAP_NAMES: readonly MapName[] = ['vg_hooks', 'vg_sel_prog', 'vg_actions', 'vg_strings', 'vg_prefix', 'vg_cidr4', 'vg_cidr6', 'vg_syscalls'];

export interface MapSpec {
  name: MapName;
  type: 'hash' | 'lpm_trie';
  keySize: number;
  /** Values in the bundle may be shorter (selector programs, action tables): the sensor zero-pads to valueSize. */
  valueSize: number;
  maxEntries: number;
}

/** Kernel map definitions matching the grammar; the BPF side declares the same (see policy_enums.h sizes). */
export const MAP_SPECS: Readonly<Record<MapName, MapSpec>> = {
  vg_hooks: { name: 'vg_hooks', type: 'hash', keySize: 4, valueSize: HOOK_CONFIG_BYTES, maxEntries: LIMITS.MAX_HOOKS_PER_POLICY },
  vg_sel_prog: { name: 'vg_sel_prog', type: 'hash', keySize: 4, valueSize: LIMITS.MAX_SELECTOR_PROGRAM_BYTES, maxEntries: LIMITS.MAX_HOOKS_PER_POLICY },
  vg_actions: { name: 'vg_actions', type: 'hash', keySize: 4, valueSize: 4 + LIMITS.MAX_ACTIONS_PER_SELECTOR * ACTION_RECORD_BYTES, maxEntries: 4096 },
  vg_strings: { name: 'vg_strings', type: 'hash', keySize: 8 + STRING_KEY_BYTES, valueSize: 1, maxEntries: 65536 },
  vg_prefix: { name: 'vg_prefix', type: 'lpm_trie', keySize: 8 + STRING_KEY_BYTES, valueSize: 1, maxEntries: 65536 },
  vg_cidr4: { name: 'vg_cidr4', type: 'lpm_trie', keySize: 12, valueSize: 1, maxEntries: 16384 },
  vg_cidr6: { name: 'vg_cidr6', type: 'lpm_trie', keySize: 24, valueSize: 1, maxEntries: 16384 },
  vg_syscalls: { name: 'vg_syscalls', type: 'hash', keySize: 12, valueSize: 1, maxEntries: 8192 },
};

export interface MapEntry {
  key: Uint8Array;
  value: Uint8Array;
}

export interface CompiledArg {
  /** Position in the hook's arg table (what clauses call arg_slot). */
  slot: number;
  index: number;
  type: string;
  /** Tracepoints: byte offset and size of the tracefs field this arg reads. */
  tpOffset?: number;
  tpSize?: number;
}

export interface CompiledHook {
  /** Key of this hook in vg_hooks and vg_sel_prog (1-based, bundle-local). */
  id: number;
  kind: HookKind;
  /** JSON path of the hook in the policy, e.g. spec.kprobes[0]. */
  path: string;
  /** Functions / tracepoints / binaries:symbols to attach to; several when the hook names a list. */
  targets: string[];
  /** Set when targets come from a generated list the sensor expands from the running kernel. */
  generatedList?: { type: 'generated_syscalls' | 'generated_ftrace'; pattern?: string };
  /** Chosen mechanism, or 'none' with the refusal reason: the hook does not attach on this node. */
  mechanism: Mechanism;
  refusal?: string;
  /** Non-fatal notes (e.g. a cheaper mechanism replaced the one named by the policy). */
  notes: string[];
  syscall?: { abi: SyscallAbi; nr: number };
  returnProbe: boolean;
  args: CompiledArg[];
  /** The hook's attach fields as written (call/syscall, subsystem/event/raw, path/symbols/addrs/offsets/
   *  refCtrOffsets/binaryDigests/btfPath, provider/name, hook): what the sensor needs to attach. */
  attach: Record<string, unknown>;
  /** Keep the policy running when the target is missing on this kernel / binary (ignore.* in the policy). */
  ignoreMissing: boolean;
  /** kprobes: action applied to the return value (e.g. TrackSock). */
  returnArgAction?: string;
  /** Copied into every event of this hook. */
  message?: string;
  tags?: string[];
}

export interface CompiledEnforcer {
  path: string;
  /** vg_syscalls set id holding the syscalls this enforcer guards. */
  syscallSetId: number;
  /** The syscall functions it guards (__x64_sys_dup, __ia32_sys_dup, …): fmod_ret attaches to each. */
  calls: string[];
  mechanism: Mechanism;
  refusal?: string;
}

/** Identity stays out of bundles: the sensor fills the members of each set from the pods/containers it sees. */
export interface IdentitySetRef {
  /** Stable id (derived from the selector content), referenced from vg_hooks / selector program bytes. */
  id: number;
  namespace?: string;
  /** All must match (policy-level selector AND selector-level matchWorkloads). */
  podSelectors: LabelSelector[];
  containerSelectors: LabelSelector[];
}

export interface UserspaceExpr {
  id: number;
  hookId: number;
  /** Arg slots the expression reads. */
  argSlots: number[];
  language: 'cel';
  expr: string;
}

export interface Bundle {
  version: BundleVersion;
  policy: {
    name: string;
    namespace?: string;
    kind: PolicyKind;
    mode: PolicyMode;
    /** spec.loader: report shared-object loads. */
    loader: boolean;
    /** spec.options deny-io-uring: the policy's processes may not create io_uring rings (its scope: identity set, hosts). */
    denyIoUring?: { identitySetId: number; hostIncluded: boolean };
  };
  hooks: CompiledHook[];
  enforcers: CompiledEnforcer[];
  identitySets: IdentitySetRef[];
  /** Entries per map, sorted by key bytes. Every map is private to this policy's program instances. */
  maps: Record<MapName, MapEntry[]>;
  /** Strings actions refer to by string_id (URLs, FQDNs, symbols). */
  strings: string[];
  userspaceExprs: UserspaceExpr[];
}

/**
 * Orders two bundles of the same policy: negative if `a` is older than `b`, 0 if they are the same bundle,
 * positive if `a` is newer. Generation decides, then grammar version. Two bundles with the same generation and
 * grammar but different content were compiled for different node profiles: neither is newer in policy terms,
 * and the content hash orders them so every sensor makes the same, stable choice.
 * Throws BundleError(DIFFERENT_POLICY) when the policy uids differ.
 */
export function compareBundleVersions(a: BundleVersion, b: BundleVersion): number {
  if (a.policyUid !== b.policyUid) throw new BundleError('DIFFERENT_POLICY', `bundles belong to different policies (${a.policyUid} vs ${b.policyUid})`);
  if (a.generation !== b.generation) return a.generation < b.generation ? -1 : 1;
  if (a.grammarVersion !== b.grammarVersion) return a.grammarVersion < b.grammarVersion ? -1 : 1;
  if (a.contentHash === b.contentHash) return 0;
  return a.contentHash < b.contentHash ? -1 : 1;
}

/** True when `candidate` should replace `current` (current may be absent). */
export function isNewerBundle(candidate: BundleVersion, current: BundleVersion | undefined): boolean {
  return current === undefined || compareBundleVersions(candidate, current) > 0;
}

export type BundleJson = Omit<Bundle, 'maps'> & { maps: Record<MapName, { key: string; value: string }[]> };

export function bundleToJson(b: Bundle): BundleJson {
  const maps = Object.fromEntries(MAP_NAMES.map((m) => [m, b.maps[m].map((e) => ({ key: toHex(e.key), value: toHex(e.value) }))])) as BundleJson['maps'];
  return { ...b, maps };
}

export function bundleFromJson(j: BundleJson): Bundle {
  try {
    const maps = Object.fromEntries(MAP_NAMES.map((m) => [m, (j.maps[m] ?? []).map((e) => ({ key: fromHex(e.key), value: fromHex(e.value) }))])) as Bundle['maps'];
    return { ...j, maps };
  } catch (e) {
    throw new BundleError('BAD_BUNDLE', `bundle JSON has malformed map bytes: ${(e as Error).message}`);
  }
}

/** Text form for golden files and `vigil policy compile --format hex`: one `map key value` line per entry. */
export function bundleToHex(b: Bundle): string {
  const v = b.version;
  const lines = [`# vigil bundle grammar=${v.grammarVersion} policy=${v.policyUid} generation=${v.generation} hash=${v.contentHash}`];
  for (const h of b.hooks) lines.push(`# hook ${h.id} ${h.kind} ${h.targets.join(',') || '-'} mechanism=${h.mechanism}${h.refusal ? ` refused: ${h.refusal}` : ''}`);
  for (const m of MAP_NAMES) for (const e of b.maps[m]) lines.push(`${m} ${toHex(e.key)} ${toHex(e.value)}`);
  return `${lines.join('\n')}\n`;
}
