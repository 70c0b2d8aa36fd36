/**
 * The sensor's BundleApplier: routes each hook of a bundle, by the mechanism the compiler chose for this node, to
 * the engine that runs it, and applies a policy all-or-nothing across them.
 *
 *   fallback engine (engine.ts)   fanotify, cgroup_sock, and tp_btf for an LSM hook (bprm_check_security kill)
 *   generic engine (generic/)     kprobe, kretprobe, fentry, fexit, lsm, tracepoint, raw_tp, tp_btf,
 *                                 tp_btf_syscall, uprobe, uretprobe: in-kernel selector programs
 *   nobody                        mechanism none (the compiler's refusal), enforcers
 *
 * A policy is applied only when every hook has a runner (a hook nobody can run refuses the whole policy, with one
 * reason per hook: never silently ignored). The generic part is applied first; if the fallback part then fails,
 * the generic part's previous bundle is restored (or the policy removed from it), so after `refused` / `failed`
 * the previously applied version of the policy still enforces, on both engines.
 *
 * Status: per policy, one HookStatus per hook (and per enforcer), acked to the operator (Ack.hooks) and printed
 * by `vigil-sensor run --policy-dir`.
 */
import { decodeActionTable, decodeSelectorProgram, type Bundle, type CompiledHook } from '@vigil/policy-schema';
import type { ApplyOutcome, BundleApplier } from '../transport/applier.js';
import type { HookStatus } from '../transport/protocol.js';
import { planFallbackEnforcement } from './plan.js';
import { enforcerStatus } from '../generic/enforcer.js';

/** What the composite needs from the in-kernel selector engine (GenericHookEngine implements it). */
export interface GenericApplier extends BundleApplier {
  /** Per-hook status of the policy's currently applied bundle. */
  report(policyUid: string): readonly HookStatus[];
}

/** What the composite needs from the fallback engine (FallbackEnforcementEngine implements it). */
export type FallbackApplier = BundleApplier;

export type Runner = 'fallback' | 'generic' | 'none';

const GENERIC_MECHANISMS: ReadonlySet<string> = new Set([
  'kprobe',
  'kretprobe',
  'fentry',
  'fexit',
  'lsm',
  'tracepoint',
  'raw_tp',
  'tp_btf',
  'tp_btf_syscall',
  'uprobe',
  'uretprobe',
]);

/** The hook name a policy declared, as status lines and events show it. */
export function declaredHookName(h: CompiledHook): string {
  if (h.kind === 'tracepoint') return h.targets[0] ?? String(h.attach['event'] ?? 'tracepoint');
  if (h.kind === 'uprobe' || h.kind === 'usdt') return h.targets.join(', ') || String(h.attach['path'] ?? h.kind);
  return String(h.attach['hook'] ?? h.attach['call'] ?? h.targets[0] ?? h.kind);
}

/** Which engine runs a hook, from the mechanism in its bundle entry; `none` with the reason otherwise. Pure. */
export function routeHook(h: CompiledHook): { runner: Runner; reason: string } {
  if (h.mechanism === 'none') return { runner: 'none', reason: h.refusal ?? 'refused by the compiler for this node' };
  if (h.mechanism === 'fanotify' || h.mechanism === 'cgroup_sock') return { runner: 'fallback', reason: '' };
  if (h.mechanism === 'tp_btf' && h.kind === 'lsm') return { runner: 'fallback', reason: '' };
  if (GENERIC_MECHANISMS.has(h.mechanism)) return { runner: 'generic', reason: '' };
  return { runner: 'none', reason: `no engine of this sensor runs mechanism ${h.mechanism}` };
}

const ENFORCING = new Set(['Sigkill', 'Override', 'Signal', 'NotifyEnforcer', 'Set']);

/**
 * Whether a hook's selectors deny/kill/signal (`enforcing`) or only report (`observing`), and, in monitor mode,
 * what it would have done. Reads the selector program and action tables of the bundle.
 */
export function hookEffect(bundle: Bundle, hookId: number): { state: 'enforcing' | 'observing'; note: string } {
  const prog = bundle.maps.vg_sel_prog.find((e) => new DataView(e.key.buffer, e.key.byteOffset, 4).getUint32(0, true) === hookId)?.value;
  if (!prog) return { state: 'observing', note: '' };
  const tables = new Map(bundle.maps.vg_actions.map((e) => [new DataView(e.key.buffer, e.key.byteOffset, 4).getUint32(0, true), e.value]));
  const acts: string[] = [];
  const would: string[] = [];
  for (const sel of decodeSelectorProgram(prog).selectors) {
    for (const id of [sel.actionTableId, sel.returnActionTableId]) {
      const t = id === null ? undefined : tables.get(id);
      if (!t) continue;
      for (const a of decodeActionTable(t)) {
        acts.push(a.action);
        if (a.originalAction) would.push(a.originalAction);
      }
    }
  }
  if (acts.some((a) => ENFORCING.has(a))) return { state: 'enforcing', note: '' };
  if (would.length > 0) return { state: 'observing', note: `monitor mode: reports the ${[...new Set(would)].join('/')} it would take` };
  return { state: 'observing', note: '' };
}

/** The part of a bundle one engine runs: some hooks, and (for the generic engine) the enforcers. */
function subBundle(bundle: Bundle, hooks: CompiledHook[], withEnforcers = false): Bundle {
  return { ...bundle, hooks, enforcers: withEnforcers ? bundle.enforcers : [] };
}

function summary(hooks: readonly HookStatus[]): string {
  return hooks
    .filter((h) => h.state === 'refused')
    .map((h) => `${h.path} (${h.hook}): ${h.reason}`)
    .join('; ');
}

interface AppliedPolicy {
  bundle: Bundle;
  hasFallback: boolean;
  hasGeneric: boolean;
  hooks: HookStatus[];
}

export class CompositeApplier implements BundleApplier {
  private readonly applied = new Map<string, AppliedPolicy>();

  constructor(
    private readonly fallback: FallbackApplier,
    private readonly generic: GenericApplier,
  ) {}

  /** Per-hook status of the policy's applied bundle (empty when the policy is not applied). */
  status(policyUid: string): readonly HookStatus[] {
    return this.applied.get(policyUid)?.hooks ?? [];
  }

  /** Every applied policy: name → per-hook status. */
  policies(): Array<{ policyUid: string; policyName: string; hooks: readonly HookStatus[] }> {
    return [...this.applied.entries()].map(([policyUid, a]) => ({ policyUid, policyName: a.bundle.policy.name, hooks: a.hooks }));
  }

  /** Status per hook before anything is attached: routes, compiler refusals and fallback-plan refusals. */
  plan(bundle: Bundle): { statuses: HookStatus[]; fallbackHooks: CompiledHook[]; genericHooks: CompiledHook[] } {
    const statuses: HookStatus[] = [];
    const fallbackHooks: CompiledHook[] = [];
    const genericHooks: CompiledHook[] = [];
    for (const h of bundle.hooks) {
      const route = routeHook(h);
      const base = { hookId: h.id, path: h.path, hook: declaredHookName(h), mechanism: h.mechanism };
      if (route.runner === 'none') {
        statuses.push({ ...base, state: h.ignoreMissing && h.mechanism !== 'none' ? 'not_attached' : 'refused', reason: route.reason });
        continue;
      }
      (route.runner === 'fallback' ? fallbackHooks : genericHooks).push(h);
      const effect = hookEffect(bundle, h.id);
      statuses.push({ ...base, state: route.runner === 'fallback' ? 'enforcing' : effect.state, reason: [...h.notes, effect.note].filter(Boolean).join('; ') });
    }
    // Enforcers run in the generic engine (fmod_ret on the guarded syscalls, or a signal at sys_exit).
    for (const e of bundle.enforcers) statuses.push(enforcerStatus(e, bundle));
    if (fallbackHooks.length > 0) {
      const fb = planFallbackEnforcement(subBundle(bundle, fallbackHooks));
      for (const hp of fb.hooks) {
        if (hp.status !== 'refused') continue;
        const s = statuses.find((x) => x.hookId === hp.hookId);
        if (s) Object.assign(s, { state: 'refused', reason: hp.reason });
      }
    }
    return { statuses, fallbackHooks, genericHooks };
  }

  async apply(bundle: Bundle): Promise<ApplyOutcome> {
    const uid = bundle.version.policyUid;
    let planned: ReturnType<CompositeApplier['plan']>;
    try {
      planned = this.plan(bundle);
    } catch (err) {
      return { result: 'failed', reason: `bundle could not be read: ${(err as Error).message}` };
    }
    const { statuses, fallbackHooks, genericHooks } = planned;
    if (statuses.some((s) => s.state === 'refused')) return { result: 'refused', reason: summary(statuses), hooks: statuses };

    const previous = this.applied.get(uid);
    // 1. the generic part (in-kernel selectors): its engine swaps generations atomically or keeps the old one.
    let genericHooks2: readonly HookStatus[] = [];
    const runsGeneric = genericHooks.length > 0 || bundle.enforcers.length > 0;
    if (runsGeneric) {
      const out = await this.generic.apply(subBundle(bundle, genericHooks, true));
      if (out.result !== 'applied') return { result: out.result, reason: out.reason, hooks: merge(statuses, out.hooks ?? []) };
      genericHooks2 = out.hooks ?? this.generic.report(uid);
    } else if (previous?.hasGeneric) {
      await this.generic.remove(uid);
    }
    // 2. the fallback part; on failure, put the generic part back as it was. The deny-io-uring option is run by
    // the fallback engine (io_uring kill) even when no hook is.
    const wantsFallback = fallbackHooks.length > 0 || bundle.policy.denyIoUring !== undefined;
    if (wantsFallback) {
      const out = await this.fallback.apply(subBundle(bundle, fallbackHooks));
      if (out.result !== 'applied') {
        await this.restoreGeneric(uid, previous, runsGeneric || previous?.hasGeneric === true);
        return { result: out.result, reason: out.reason, hooks: statuses };
      }
    } else if (previous?.hasFallback) {
      try {
        await this.fallback.remove(uid);
      } catch (err) {
        await this.restoreGeneric(uid, previous, runsGeneric || previous?.hasGeneric === true);
        return { result: 'failed', reason: `removing the previous fallback rules failed: ${(err as Error).message}`, hooks: statuses };
      }
    }
    const hooks = merge(statuses, genericHooks2);
    this.applied.set(uid, { bundle, hasFallback: wantsFallback, hasGeneric: runsGeneric, hooks });
    return { result: 'applied', reason: '', hooks };
  }

  async remove(policyUid: string): Promise<void> {
    const a = this.applied.get(policyUid);
    this.applied.delete(policyUid);
    // Both engines' remove() are idempotent: call them even for a policy this process never applied, so pins a
    // previous sensor left for it go too.
    const errors: unknown[] = [];
    await this.generic.remove(policyUid).catch((e: unknown) => errors.push(e));
    if (!a || a.hasFallback) await this.fallback.remove(policyUid).catch((e: unknown) => errors.push(e));
    if (errors.length > 0) throw errors[0];
  }

  private async restoreGeneric(uid: string, previous: AppliedPolicy | undefined, touched: boolean): Promise<void> {
    if (!touched) return;
    if (previous?.hasGeneric) {
      const hooks = previous.bundle.hooks.filter((h) => routeHook(h).runner === 'generic');
      await this.generic.apply(subBundle(previous.bundle, hooks, true)).catch(() => undefined);
    } else {
      await this.generic.remove(uid).catch(() => undefined);
    }
  }
}

/** The planned statuses, with what the generic engine found when attaching (e.g. not_attached targets). */
function merge(planned: HookStatus[], fromEngine: readonly HookStatus[]): HookStatus[] {
  return planned.map((p) => {
    const e = fromEngine.find((x) => x.hookId === p.hookId && x.path === p.path);
    return e ? { ...p, mechanism: e.mechanism, state: e.state === 'enforcing' || e.state === 'observing' ? p.state : e.state, reason: e.reason || p.reason } : p;
  });
}

/** A policy's overall state on this node from its hooks: what the conformance table records. */
export function policyState(outcome: ApplyOutcome): { state: 'enforcing' | 'observing' | 'refused'; reason: string } {
  if (outcome.result !== 'applied') return { state: 'refused', reason: outcome.reason };
  const hooks = outcome.hooks ?? [];
  if (hooks.some((h) => h.state === 'enforcing')) return { state: 'enforcing', reason: '' };
  return { state: 'observing', reason: hooks.map((h) => h.reason).filter(Boolean)[0] ?? '' };
}

/** One line per hook, for the CLI: `spec.kprobes[0] sys_write → tp_btf_syscall (observing)` or the refusal. */
export function formatHookStatus(h: HookStatus): string {
  const where = `${h.path} ${h.hook}`;
  if (h.state === 'refused') return `${where}: refused: ${h.reason}`;
  if (h.state === 'not_attached') return `${where}: not attached (ignore set): ${h.reason}`;
  return `${where} → ${h.mechanism} (${h.state})${h.reason ? `: ${h.reason}` : ''}`;
}
