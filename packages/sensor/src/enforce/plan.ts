/**
 * Plans the enforcement of one compiled bundle on the fallback mechanisms of kernels without BPF LSM, kprobes or
 * trampolines (docs/enforcement-fallbacks.md): it reads the bundle's selector programs, action tables and value
 * sets (the byte grammar in @vigil/policy-schema's compiler) and turns each hook the compiler assigned to a fallback
 * mechanism into deny rules for that mechanism's unit. Pure: no kernel access.
 *
 * What a fallback can express, per mechanism (anything else is refused, with the reason, never dropped):
 *   cgroup_sock  (socket_connect)      arg clauses DAddr (CIDRs), DPort (port ranges), Protocol (tcp/udp)
 *   tp_btf       (bprm_check_security) arg clause Equal on the file / binprm path: the executable is killed
 *   fanotify     (file_open)           arg clause Equal on the file path: open() fails with EPERM
 * Every selector must end in Override or Sigkill (what these mechanisms do); Post-only and monitor-mode selectors
 * need decision records without a denial, which these units do not offer yet.
 */
import {
  decodeActionTable,
  decodeSelectorProgram,
  type Bundle,
  type CompiledHook,
  type DecodedClause,
} from '@vigil/policy-schema';
import type { NetDenyRule } from '../mechanisms/index.js';

export type FallbackMechanism = 'cgroup_sock' | 'tp_btf' | 'fanotify';

export interface HookPlan {
  hookId: number;
  path: string;
  /** the hook name the policy declared (e.g. file_open) */
  hook: string;
  mechanism: string;
  status: 'enforcing' | 'refused';
  reason: string;
}

export interface EnforcementPlan {
  policyUid: string;
  policyName: string;
  hooks: HookPlan[];
  connect: NetDenyRule[];
  /** executables killed at exec (paths, resolved to inodes by the unit) */
  execPaths: string[];
  /** files whose open fails with EPERM (fanotify) and whose opener is killed while the sensor is down */
  openPaths: string[];
}

const FALLBACKS: ReadonlySet<string> = new Set<FallbackMechanism>(['cgroup_sock', 'tp_btf', 'fanotify']);

class Refusal extends Error {}

function u32(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
}
function u16(b: Uint8Array, at: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(at, true);
}

/** Set id → members, from the bundle's exact-string map (key: u32 set_id, u32 len, u8[256] bytes). */
function stringSets(bundle: Bundle): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const { key } of bundle.maps.vg_strings) {
    const id = u32(key, 0);
    const len = u32(key, 4);
    const list = out.get(id) ?? [];
    list.push(Buffer.from(key.subarray(8, 8 + len)).toString('utf8'));
    out.set(id, list);
  }
  return out;
}

/** Set id → CIDRs, from an LPM map (key: u32 prefixlen = 32 + cidr_len, u32 set_id, address). */
function cidrSets(entries: Bundle['maps']['vg_cidr4'], family: 4 | 6): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const { key } of entries) {
    const bits = u32(key, 0) - 32;
    const id = u32(key, 4);
    const addr = key.subarray(8, 8 + (family === 4 ? 4 : 16));
    const text = family === 4 ? [...addr].join('.') : Array.from({ length: 8 }, (_, i) => ((addr[2 * i] ?? 0) * 256 + (addr[2 * i + 1] ?? 0)).toString(16)).join(':');
    const list = out.get(id) ?? [];
    list.push(`${text}/${bits}`);
    out.set(id, list);
  }
  return out;
}

function operands(c: DecodedClause): Uint8Array {
  return c.payload.subarray(8);
}

interface Ctx {
  strings: Map<number, string[]>;
  cidr4: Map<number, string[]>;
  cidr6: Map<number, string[]>;
}

function pathsOf(c: DecodedClause, ctx: Ctx, what: string): string[] {
  if (c.kind !== 'arg' || c.op !== 'Equal' || c.arg?.valueKind !== 'str_set') {
    throw new Refusal(`${what} can only match file paths with operator Equal here (got ${c.kind} ${c.op})`);
  }
  const paths = ctx.strings.get(u32(operands(c), 0)) ?? [];
  if (paths.length === 0) throw new Refusal(`${what}: the Equal clause has no paths`);
  return paths;
}

function netRules(clauses: readonly DecodedClause[], ctx: Ctx, action: 'deny' | 'kill', nextId: () => number): NetDenyRule[] {
  let cidrs: string[] | undefined;
  let ports: Array<[number, number]> | undefined;
  let protocol: 'tcp' | 'udp' | undefined;
  for (const c of clauses) {
    if (c.kind !== 'arg') throw new Refusal(`socket_connect through cgroup hooks cannot evaluate ${c.kind} selectors`);
    const ops = operands(c);
    if (c.op === 'DAddr' && c.arg?.valueKind === 'cidr') {
      cidrs = [...(ctx.cidr4.get(u32(ops, 0)) ?? []), ...(ctx.cidr6.get(u32(ops, 4)) ?? [])];
    } else if (c.op === 'DPort' && c.arg?.valueKind === 'ports') {
      ports = Array.from({ length: c.arg.valueCount }, (_, i) => [u16(ops, 4 * i), u16(ops, 4 * i + 2)] as [number, number]);
    } else if (c.op === 'Protocol' && c.arg?.valueKind === 'int' && c.arg.valueCount === 1) {
      const p = Number(new DataView(ops.buffer, ops.byteOffset, ops.byteLength).getBigInt64(0, true));
      if (p !== 6 && p !== 17) throw new Refusal(`socket_connect through cgroup hooks distinguishes only TCP (6) and UDP (17), not protocol ${p}`);
      protocol = p === 6 ? 'tcp' : 'udp';
    } else {
      throw new Refusal(`socket_connect through cgroup hooks supports DAddr, DPort and Protocol, not ${c.op} (SAddr/SPort are unknown at connect4)`);
    }
  }
  if (!cidrs || cidrs.length === 0) throw new Refusal('socket_connect through cgroup hooks needs a DAddr clause naming the denied addresses');
  return cidrs.map((cidr) => ({ id: nextId(), cidr, ...(ports ? { ports } : {}), ...(protocol ? { protocol } : {}), action }));
}

/** The rule ids a plan uses start at `firstRuleId`, so plans of several policies can share one unit. */
export function planFallbackEnforcement(bundle: Bundle, firstRuleId = 1): EnforcementPlan {
  const ctx: Ctx = { strings: stringSets(bundle), cidr4: cidrSets(bundle.maps.vg_cidr4, 4), cidr6: cidrSets(bundle.maps.vg_cidr6, 6) };
  const progs = new Map(bundle.maps.vg_sel_prog.map((e) => [u32(e.key, 0), e.value]));
  const actions = new Map(bundle.maps.vg_actions.map((e) => [u32(e.key, 0), e.value]));
  let ruleId = firstRuleId;
  const plan: EnforcementPlan = { policyUid: bundle.version.policyUid, policyName: bundle.policy.name, hooks: [], connect: [], execPaths: [], openPaths: [] };

  for (const hook of bundle.hooks) {
    const name = String(hook.attach['hook'] ?? hook.attach['call'] ?? hook.targets[0] ?? hook.kind);
    const report = (status: HookPlan['status'], reason: string) =>
      plan.hooks.push({ hookId: hook.id, path: hook.path, hook: name, mechanism: hook.mechanism, status, reason });
    if (hook.mechanism === 'none') {
      report('refused', hook.refusal ?? 'refused by the compiler');
      continue;
    }
    if (!FALLBACKS.has(hook.mechanism)) {
      report('refused', `mechanism ${hook.mechanism} is run by the in-kernel selector engine, which this sensor build does not have yet`);
      continue;
    }
    try {
      planHook(hook, name, ctx, progs, actions, bundle.policy.mode, plan, () => ruleId++);
      report('enforcing', hook.notes.join('; '));
    } catch (err) {
      if (!(err instanceof Refusal)) throw err;
      report('refused', err.message);
    }
  }
  return plan;
}

function planHook(
  hook: CompiledHook,
  name: string,
  ctx: Ctx,
  progs: Map<number, Uint8Array>,
  actions: Map<number, Uint8Array>,
  mode: string,
  plan: EnforcementPlan,
  nextId: () => number,
): void {
  if (mode === 'monitor') throw new Refusal(`monitor mode on ${name} needs decision records without a denial, which the ${hook.mechanism} fallback does not offer yet`);
  const prog = progs.get(hook.id);
  if (!prog) throw new Refusal(`${name} has no selector program`);
  const { selectors } = decodeSelectorProgram(prog);
  if (selectors.length === 0) throw new Refusal(`${name} without selectors would act on every call; the ${hook.mechanism} fallback only denies what selectors name`);
  for (const [i, sel] of selectors.entries()) {
    const where = `${name} selector ${i}`;
    if (sel.identitySetId !== 0) throw new Refusal(`${where}: pod/container selectors are not supported by the ${hook.mechanism} fallback yet`);
    const table = sel.actionTableId === null ? undefined : actions.get(sel.actionTableId);
    const acts = table ? decodeActionTable(table).map((a) => a.action) : ['Post'];
    const kill = acts.includes('Sigkill');
    const override = acts.includes('Override');
    if (!kill && !override) throw new Refusal(`${where}: actions ${acts.join(', ')} observe only; the ${hook.mechanism} fallback can only deny (Override) or kill (Sigkill)`);
    const other = acts.filter((a) => !['Sigkill', 'Override', 'Post', 'NoPost'].includes(a));
    if (other.length > 0) throw new Refusal(`${where}: action ${other.join(', ')} is not supported by the ${hook.mechanism} fallback`);
    switch (hook.mechanism) {
      case 'cgroup_sock':
        plan.connect.push(...netRules(sel.clauses, ctx, kill ? 'kill' : 'deny', nextId));
        break;
      case 'tp_btf': {
        if (sel.clauses.length !== 1) throw new Refusal(`${where}: exec kill matches one Equal clause on the executable's path`);
        plan.execPaths.push(...pathsOf(sel.clauses[0] as DecodedClause, ctx, where));
        break;
      }
      case 'fanotify': {
        if (sel.clauses.length !== 1) throw new Refusal(`${where}: fanotify denial matches one Equal clause on the file's path`);
        if (kill) throw new Refusal(`${where}: Sigkill on file_open has no mechanism here (fanotify denies with EPERM); use Override`);
        plan.openPaths.push(...pathsOf(sel.clauses[0] as DecodedClause, ctx, where));
        break;
      }
    }
  }
}
