/**
 * Plans the enforcement of one compiled bundle on the fallback mechanisms of kernels without BPF LSM, kprobes or
 * trampolines (docs/enforcement-fallbacks.md): it reads the bundle's hook configs, selector programs, action tables
 * and value sets (the byte grammar in @vigil/policy-schema's compiler) and turns each hook the compiler assigned to
 * a fallback mechanism into deny rules for that mechanism's unit. Pure: no kernel access.
 *
 * What a fallback can express, per mechanism (anything else is refused, with the reason, never dropped):
 *   cgroup_sock  (socket_connect)      DAddr (CIDRs), DPort (port ranges) on the sockaddr (arg 1), Protocol
 *                                       (tcp/udp) on the socket (arg 0)
 *   tp_btf       (bprm_check_security) Equal on the linux_binprm's path (arg 0): the executable is killed
 *   fanotify     (file_open)           Equal on the file's path (arg 0): open() fails with EPERM (+ open kill)
 * Each matchArgs clause must name the argument the mechanism actually sees (checked against the hook's arg table
 * and the LSM hook's signature). Scope: a selector's or the policy's pod/container identity set (bpf/lib/
 * identity.h) and matchBinaries In (the caller's executable, by inode; for bprm_check_security the binary that
 * calls execve, recorded at sched_prepare_exec: kernels >= 6.10 only). Every selector must end in Override or Sigkill; in monitor mode
 * (policy-mode: monitor) the compiler turned those into Post and the rules only record what they would have done.
 * The policy option deny-io-uring adds an io_uring rule (kill inside io_uring_setup) with the policy's scope.
 */
import {
  decodeActionTable,
  decodeHookConfig,
  decodeSelectorProgram,
  type Bundle,
  type CompiledHook,
  type DecodedClause,
} from '@vigil/policy-schema';
import type { NetDenyRule, RuleScope } from '../mechanisms/index.js';

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
  /** policy-mode: monitor: every rule only records what it would have done */
  monitor: boolean;
  hooks: HookPlan[];
  connect: NetDenyRule[];
  /** executables killed at exec (paths, resolved to inodes by the unit), with their scope */
  exec: PathRule[];
  /**
   * files whose open fails with EPERM (fanotify, unscoped enforcing rules only: fanotify sees neither pods nor
   * binaries) and whose opener is killed by open kill (always armed; scoped and monitor rules use only it)
   */
  open: PathRule[];
  /** deny-io-uring: who may not create io_uring rings (empty: the option is off) */
  uring: RuleScope[];
  /** the paths of exec (kept for callers that only list them) */
  execPaths: string[];
  openPaths: string[];
}

/** A path rule of a plan: the path and its scope (the engine gives it a rule id). */
export type PathRule = { path: string } & RuleScope;

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

/**
 * What each fallback mechanism sees of its LSM hook's arguments (the kernel signatures): the clause's arg slot must
 * name one of these, by index and type, or the mechanism would be judging another argument than the policy means.
 */
const HOOK_ARGS: Readonly<Record<string, ReadonlyArray<{ index: number; types: readonly string[]; what: string; ops: readonly string[] }>>> = {
  file_open: [{ index: 0, types: ['file'], what: 'the opened file', ops: ['Equal'] }],
  bprm_check_security: [{ index: 0, types: ['linux_binprm'], what: 'the executable (linux_binprm)', ops: ['Equal'] }],
  socket_connect: [
    { index: 0, types: ['sock', 'socket'], what: 'the socket', ops: ['Protocol'] },
    { index: 1, types: ['sockaddr'], what: 'the destination sockaddr', ops: ['DAddr', 'DPort'] },
  ],
};

/** Refuses an arg clause whose slot is not the argument the hook's mechanism reads. */
function checkArgSlot(c: DecodedClause, hook: CompiledHook, name: string, where: string): void {
  if (c.kind !== 'arg' || !c.arg) return;
  const table = HOOK_ARGS[name];
  const arg = hook.args[c.arg.slot];
  if (!table) throw new Refusal(`${where}: ${name} has no fallback argument table`);
  if (!arg) throw new Refusal(`${where}: matchArgs refers to arg slot ${c.arg.slot}, which ${hook.path}.args does not declare`);
  const fits = table.filter((t) => t.ops.includes(c.op));
  if (fits.length === 0) return; // the operator itself is refused, with its own reason, by the mechanism's planner
  if (!fits.some((t) => t.index === arg.index && t.types.includes(arg.type))) {
    const want = fits.map((t) => `index ${t.index} (${t.types.join(' or ')}: ${t.what})`).join(' or ');
    throw new Refusal(`${where}: ${c.op} on arg index ${arg.index} (${arg.type}) is not what the ${hook.mechanism} fallback sees for ${name}; it reads ${want}`);
  }
}

function pathsOf(c: DecodedClause, ctx: Ctx, what: string): string[] {
  if (c.kind !== 'arg' || c.op !== 'Equal' || c.arg?.valueKind !== 'str_set') {
    throw new Refusal(`${what} can only match file paths with operator Equal here (got ${c.kind} ${c.op})`);
  }
  const paths = ctx.strings.get(u32(operands(c), 0)) ?? [];
  if (paths.length === 0) throw new Refusal(`${what}: the Equal clause has no paths`);
  return paths;
}

function netRules(clauses: readonly DecodedClause[], ctx: Ctx, action: 'deny' | 'kill', scope: RuleScope, nextId: () => number): NetDenyRule[] {
  let cidrs: string[] | undefined;
  let ports: Array<[number, number]> | undefined;
  let protocol: 'tcp' | 'udp' | undefined;
  for (const c of clauses) {
    if (c.kind === 'binaries') continue; // scope, handled by the caller
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
  return cidrs.map((cidr) => ({ id: nextId(), cidr, ...(ports ? { ports } : {}), ...(protocol ? { protocol } : {}), action, ...scope }));
}

/** What the node's fallback mechanisms can do beyond the bundle's mechanism choice. */
export interface FallbackPlanOptions {
  /**
   * exec kill can judge matchBinaries (the calling binary) on bprm_check_security: the kernel has
   * sched_prepare_exec (>= 6.10; ExecKill.callerBinaries()). Default true; the engine passes the node's answer.
   */
  execCallerBinaries?: boolean;
}

/** The rule ids a plan uses start at `firstRuleId`, so plans of several policies can share one unit. */
export function planFallbackEnforcement(bundle: Bundle, firstRuleId = 1, options: FallbackPlanOptions = {}): EnforcementPlan {
  const ctx: Ctx = { strings: stringSets(bundle), cidr4: cidrSets(bundle.maps.vg_cidr4, 4), cidr6: cidrSets(bundle.maps.vg_cidr6, 6) };
  const progs = new Map(bundle.maps.vg_sel_prog.map((e) => [u32(e.key, 0), e.value]));
  const actions = new Map(bundle.maps.vg_actions.map((e) => [u32(e.key, 0), e.value]));
  const configs = new Map(bundle.maps.vg_hooks.map((e) => [u32(e.key, 0), decodeHookConfig(e.value)]));
  let ruleId = firstRuleId;
  const monitor = bundle.policy.mode === 'monitor';
  const plan: EnforcementPlan = {
    policyUid: bundle.version.policyUid,
    policyName: bundle.policy.name,
    monitor,
    hooks: [],
    connect: [],
    exec: [],
    open: [],
    uring: [],
    execPaths: [],
    openPaths: [],
  };
  const uring = bundle.policy.denyIoUring;
  if (uring) {
    plan.hooks.push({
      hookId: 0,
      path: 'spec.options[deny-io-uring]',
      hook: 'io_uring_setup',
      mechanism: 'tp_btf',
      status: 'enforcing',
      reason: `${monitor ? 'monitor mode: records' : 'SIGKILL inside io_uring_setup (kill-after-effect: the ring exists, the process never submits)'}${uring.identitySetId ? '; scoped to the policy\'s pods/containers' : '; every process of the node but the sensor'}`,
    });
    plan.uring.push({
      ...(monitor ? { monitor: true } : {}),
      ...(uring.identitySetId ? { identitySetId: uring.identitySetId } : {}),
      ...(uring.identitySetId && uring.hostIncluded ? { hostIncluded: true } : {}),
    });
  }

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
      const cfg = configs.get(hook.id);
      const policyScope = { identitySetId: cfg?.identitySetId ?? 0, hostIncluded: ((cfg?.flags ?? 0) & 4) !== 0 };
      const how = planHook(hook, name, ctx, progs, actions, monitor, policyScope, options.execCallerBinaries ?? true, plan, () => ruleId++);
      report('enforcing', [...hook.notes, ...how].join('; '));
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
  monitor: boolean,
  policyScope: { identitySetId: number; hostIncluded: boolean },
  execCallerBinaries: boolean,
  plan: EnforcementPlan,
  nextId: () => number,
): string[] {
  const prog = progs.get(hook.id);
  if (!prog) throw new Refusal(`${name} has no selector program`);
  const { selectors } = decodeSelectorProgram(prog);
  if (selectors.length === 0) throw new Refusal(`${name} without selectors would act on every call; the ${hook.mechanism} fallback only denies what selectors name`);
  const notes = new Set<string>();
  if (monitor) notes.add('monitor mode: records the decision it would take, denies and kills nothing');
  const rules = { connect: [] as NetDenyRule[], exec: [] as PathRule[], open: [] as PathRule[] };
  for (const [i, sel] of selectors.entries()) {
    const where = `${name} selector ${i}`;
    const table = sel.actionTableId === null ? undefined : actions.get(sel.actionTableId);
    const decoded = table ? decodeActionTable(table) : [];
    // monitor mode: the compiler turned enforcing actions into Post and kept the original (flags bit3)
    const acts = decoded.length ? decoded.map((a) => (a.flags & 8 && a.originalAction ? a.originalAction : a.action)) : ['Post'];
    const kill = acts.includes('Sigkill');
    const override = acts.includes('Override');
    if (!kill && !override) throw new Refusal(`${where}: actions ${acts.join(', ')} observe only; the ${hook.mechanism} fallback can only deny (Override) or kill (Sigkill)`);
    const other = acts.filter((a) => !['Sigkill', 'Override', 'Post', 'NoPost'].includes(a));
    if (other.length > 0) throw new Refusal(`${where}: action ${other.join(', ')} is not supported by the ${hook.mechanism} fallback`);
    for (const c of sel.clauses) checkArgSlot(c, hook, name, where);
    const scope = selectorScope(sel, policyScope, ctx, hook, name, where, monitor, execCallerBinaries);
    if (scope.identitySetId) notes.add('scoped to the pods/containers of its identity set');
    if (scope.binaries) notes.add('scoped to the calling binaries of matchBinaries (by inode)');
    const args = sel.clauses.filter((c) => c.kind !== 'binaries');
    switch (hook.mechanism) {
      case 'cgroup_sock':
        rules.connect.push(...netRules(args, ctx, kill ? 'kill' : 'deny', scope, nextId));
        break;
      case 'tp_btf': {
        if (args.length !== 1) throw new Refusal(`${where}: exec kill matches one Equal clause on the executable's path`);
        for (const path of pathsOf(args[0] as DecodedClause, ctx, where)) rules.exec.push({ path, ...scope });
        break;
      }
      case 'fanotify': {
        if (args.length !== 1) throw new Refusal(`${where}: fanotify denial matches one Equal clause on the file's path`);
        if (kill) throw new Refusal(`${where}: Sigkill on file_open has no mechanism here (fanotify denies with EPERM); use Override`);
        for (const path of pathsOf(args[0] as DecodedClause, ctx, where)) rules.open.push({ path, ...scope });
        if (scope.identitySetId || scope.binaries || scope.monitor) {
          notes.add('open kill only (kill-after-open): fanotify cannot scope by pod or binary, and monitor mode needs no EPERM');
        }
        break;
      }
    }
  }
  plan.connect.push(...rules.connect);
  plan.exec.push(...rules.exec);
  plan.open.push(...rules.open);
  plan.execPaths.push(...rules.exec.map((r) => r.path));
  plan.openPaths.push(...rules.open.map((r) => r.path));
  return [...notes];
}

/** The scope of one selector: its (or the policy's) identity set, matchBinaries In, monitor mode. */
function selectorScope(
  sel: ReturnType<typeof decodeSelectorProgram>['selectors'][number],
  policyScope: { identitySetId: number; hostIncluded: boolean },
  ctx: Ctx,
  hook: CompiledHook,
  name: string,
  where: string,
  monitor: boolean,
  execCallerBinaries: boolean,
): RuleScope {
  const scope: RuleScope = {};
  if (monitor) scope.monitor = true;
  const identitySetId = sel.identitySetId || policyScope.identitySetId;
  if (identitySetId) {
    scope.identitySetId = identitySetId;
    if (sel.identitySetId ? (sel.flags & 1) !== 0 : policyScope.hostIncluded) scope.hostIncluded = true;
  }
  const bins = sel.clauses.filter((c) => c.kind === 'binaries');
  if (bins.length > 1) throw new Refusal(`${where}: one matchBinaries clause per selector on the ${hook.mechanism} fallback`);
  const b = bins[0];
  if (b) {
    if (hook.mechanism === 'tp_btf' && !execCallerBinaries) {
      throw new Refusal(`${where}: matchBinaries on ${name} names the calling binary, which is already replaced when sched_process_exec runs; exec kill reads it at sched_prepare_exec, which this kernel lacks (>= 6.10)`);
    }
    const ops = b.payload;
    const flags = ops[0] ?? 0;
    const match = ops[1] ?? 0;
    if (b.op !== 'In' || match !== 1) throw new Refusal(`${where}: matchBinaries ${b.op}${match !== 1 ? ' (prefix/postfix)' : ''} is not supported by the ${hook.mechanism} fallback (only In with exact paths, matched by inode)`);
    if (flags & 1) throw new Refusal(`${where}: matchBinaries followChildren is not supported by the ${hook.mechanism} fallback`);
    const paths = ctx.strings.get(u32(ops, 4)) ?? [];
    if (paths.length === 0) throw new Refusal(`${where}: matchBinaries has no paths`);
    scope.binaries = paths;
  }
  return scope;
}
