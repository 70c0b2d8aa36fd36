/**
 * The enforcement engine for kernels without BPF LSM, kprobes or trampolines: a BundleApplier that plans each
 * policy's hooks onto the fallback mechanisms (plan.ts) and keeps one instance of each mechanism unit for the
 * whole node, whose deny set is the union of every applied policy's rules.
 *
 * Atomic per policy: a bundle is planned first; if any hook the compiler assigned to a mechanism cannot be
 * enforced, nothing of it is applied and the previous version of the policy keeps enforcing. Unit deny sets are
 * replaced whole (units write new entries before deleting stale ones), and a failed update is rolled back.
 * Units start on first use and are pinned under `pinRoot/enforce/…`, so kills and connect denials stay armed while
 * the sensor is down (fanotify cannot: the kernel allows everything once its group closes).
 */
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Bundle } from '@vigil/policy-schema';
import {
  ConnectDeny,
  ExecKill,
  FanotifyGuard,
  OpenKill,
  UringKill,
  type EnforcementDecision,
  type FanotifyDecision,
  type FanotifyRule,
  type NetDenyRule,
} from '../mechanisms/index.js';
import { removePins } from '../mechanisms/pinning.js';
import type { PersistReport } from '../persist/pinned-object.js';
import type { ApplyOutcome, BundleApplier } from '../transport/applier.js';
import { planFallbackEnforcement, type EnforcementPlan, type HookPlan, type PathRule } from './plan.js';

/** Pin name of the identity-set map below `<pinRoot>/state` (bpf/include/abi/identity.h: vg_identity_v<schema>). */
const IDENTITY_PIN = 'vg_identity_v1';

/** One enforcement decision, attributed to the policy and hook that asked for it. */
export interface AttributedDecision {
  policyName: string;
  hook: string;
  mechanism: string;
  action: 'deny' | 'kill' | 'deny_kill';
  /** monitor mode: `action` is what the policy would have done; nothing was denied or killed */
  monitor?: boolean;
  pid: number;
  tid: number;
  detail: string;
}

export interface FallbackEngineOptions {
  /** directory of the built .bpf.o files */
  objectsDir: string;
  /** bpffs root for Vigil's pins (e.g. /sys/fs/bpf/vigil); units pin under <pinRoot>/enforce */
  pinRoot: string;
  onDecision?: (d: AttributedDecision) => void;
  onError?: (err: unknown) => void;
  /** cgroups never denied or killed; default: the calling process's cgroup (see own-cgroup.ts) */
  exemptCgroupIds?: readonly bigint[];
  /**
   * bpffs path of the shared identity-set map (`<pinRoot>/state/vg_identity_v1`, filled by the sensor's identity
   * watcher): rules scoped to pods/containers are checked against it. Default: that path under pinRoot.
   */
  identityPinPath?: string;
  /** how each pinned unit started: adopted, upgraded or repaired, and what its ring lost while no sensor ran */
  onPersist?: (r: PersistReport) => void;
}

interface Applied {
  plan: EnforcementPlan;
  firstRuleId: number;
}

const RULE_ID_STRIDE = 1 << 16;

export class FallbackEnforcementEngine implements BundleApplier {
  private readonly applied = new Map<string, Applied>();
  private connect: ConnectDeny | undefined;
  private execKill: ExecKill | undefined;
  private openKill: OpenKill | undefined;
  private fanotify: FanotifyGuard | undefined;
  private uringKill: UringKill | undefined;
  private nextBase = 1;
  /** userspace `dev:ino` of each fanotify-protected file → the policy that protects it */
  private openOwners = new Map<string, string>();
  /** between beginRestore() and reconcile(): bundles are planned and recorded, the kernel is written once */
  private restoring = false;

  constructor(private readonly opts: FallbackEngineOptions) {}

  /** Per-hook outcome of the policy's currently applied bundle (for status and `vigil-sensor status`). */
  report(policyUid: string): readonly HookPlan[] {
    return this.applied.get(policyUid)?.plan.hooks ?? [];
  }

  async apply(bundle: Bundle): Promise<ApplyOutcome> {
    const uid = bundle.version.policyUid;
    const firstRuleId = this.applied.get(uid)?.firstRuleId ?? this.allocateRuleIds();
    let plan: EnforcementPlan;
    try {
      plan = planFallbackEnforcement(bundle, firstRuleId, { execCallerBinaries: ExecKill.callerBinaries() });
    } catch (err) {
      return { result: 'failed', reason: `bundle could not be read: ${(err as Error).message}` };
    }
    const refused = plan.hooks.filter((h) => h.status === 'refused');
    if (refused.length > 0) {
      return { result: 'refused', reason: refused.map((h) => `${h.path} (${h.hook}): ${h.reason}`).join('; ') };
    }
    const previous = this.applied.get(uid);
    this.applied.set(uid, { plan, firstRuleId });
    if (this.restoring) return { result: 'applied', reason: '' }; // written by reconcile(), with every other restored policy
    try {
      await this.sync();
    } catch (err) {
      if (previous) this.applied.set(uid, previous);
      else this.applied.delete(uid);
      await this.sync().catch((e: unknown) => this.opts.onError?.(e));
      return { result: 'failed', reason: `applying the deny sets failed: ${(err as Error).message}` };
    }
    return { result: 'applied', reason: '' };
  }

  async remove(policyUid: string): Promise<void> {
    if (!this.applied.delete(policyUid)) return;
    await this.sync();
  }

  /**
   * Start-up (docs/adr/0009): until reconcile(), apply() only plans and records, so the deny sets a restarted
   * sensor adopts from the pins are replaced once by the union of every restored policy, never by the first
   * restored policy alone (which would open a gap for the others).
   */
  beginRestore(): void {
    this.restoring = true;
  }

  /**
   * Ends the restore: writes the union of the restored policies, then removes the pinned units none of them needs
   * (their policy was removed while the sensor was down). Returns the unit directories removed.
   */
  async reconcile(): Promise<string[]> {
    this.restoring = false;
    await this.sync();
    const removed: string[] = [];
    for (const [unit, live] of [['connect', this.connect], ['exec-kill', this.execKill], ['open-kill', this.openKill], ['uring-kill', this.uringKill]] as const) {
      if (live || !existsSync(this.pinDir(unit))) continue;
      removePins(this.pinDir(unit));
      removed.push(this.pinDir(unit));
    }
    return removed;
  }

  /** Stops every unit this engine started. Pinned kill and connect units stay armed in the kernel. */
  async close(): Promise<void> {
    this.connect?.close();
    this.execKill?.close();
    this.openKill?.close();
    this.uringKill?.close();
    await this.fanotify?.close();
    this.connect = this.execKill = this.openKill = this.fanotify = this.uringKill = undefined;
  }

  /** Detaches and unpins every unit (uninstall). */
  async uninstall(): Promise<void> {
    this.applied.clear();
    this.connect?.remove();
    this.execKill?.remove();
    this.openKill?.remove();
    this.uringKill?.remove();
    await this.fanotify?.close();
    this.connect = this.execKill = this.openKill = this.fanotify = this.uringKill = undefined;
  }

  private allocateRuleIds(): number {
    const base = this.nextBase;
    this.nextBase += RULE_ID_STRIDE;
    return base;
  }

  private owner(ruleId: number): { plan: EnforcementPlan } | undefined {
    for (const a of this.applied.values()) if (ruleId >= a.firstRuleId && ruleId < a.firstRuleId + RULE_ID_STRIDE) return a;
    return undefined;
  }

  private decision(mechanism: string, hook: string, d: EnforcementDecision): void {
    const owner = this.owner(d.ruleId);
    const detail = d.net ? `${d.net.address}:${d.net.port}` : d.file ? `inode ${d.file.ino} dev ${d.file.dev}` : '';
    this.opts.onDecision?.({ policyName: owner?.plan.policyName ?? '(removed policy)', hook, mechanism, action: d.action, ...(d.monitor ? { monitor: true } : {}), pid: d.pid, tid: d.tid, detail });
  }

  private pinDir(unit: string): string {
    return join(this.opts.pinRoot, 'enforce', unit);
  }

  /** Makes every unit's deny set the union of the applied plans, starting units on first use. */
  private async sync(): Promise<void> {
    const plans = [...this.applied.values()].map((a) => a.plan);
    const connect: NetDenyRule[] = plans.flatMap((p) => p.connect);
    // Rule ids: each policy's ids start at its base (connect rules were numbered by the planner from the same base;
    // file and io_uring rules take ids after them).
    const fileRules = (p: EnforcementPlan, rules: readonly PathRule[], offset: number) => {
      const base = (this.applied.get(p.policyUid)?.firstRuleId ?? 0) + p.connect.length + offset;
      return rules.map((r, i) => ({ ...r, id: base + i }));
    };
    const exec = plans.flatMap((p) => fileRules(p, p.exec, 0));
    const open = plans.flatMap((p) => fileRules(p, p.open, p.exec.length));
    const uring = plans.flatMap((p) => p.uring.map((scope, i) => ({ ...scope, id: (this.applied.get(p.policyUid)?.firstRuleId ?? 0) + p.connect.length + p.exec.length + p.open.length + i })));
    // fanotify gives EPERM only for unscoped enforcing rules: it sees neither pods, binaries nor monitor mode.
    // Exec rules get an exec-only mark (FAN_OPEN_EXEC_PERM: the binary can still be read); exec kill stays armed
    // beside it for when the sensor is down.
    const unscoped = (r: PathRule) => !r.monitor && !r.identitySetId && !(r.binaries && r.binaries.length);
    const fanRules: FanotifyRule[] = [
      ...open.filter(unscoped).map((r) => ({ path: r.path })),
      ...exec.filter(unscoped).map((r) => ({ path: r.path, only: 'exec' as const })),
    ];
    this.openOwners = new Map();
    for (const p of plans) {
      for (const r of [...p.open, ...p.exec]) {
        try {
          const st = statSync(r.path, { bigint: true });
          this.openOwners.set(`${st.dev}:${st.ino}`, p.policyName);
        } catch {
          /* a missing file cannot be opened either; fanotify reports the error when marking */
        }
      }
    }
    const { objectsDir } = this.opts;
    const exempt = {
      ...(this.opts.exemptCgroupIds ? { exemptCgroupIds: this.opts.exemptCgroupIds } : {}),
      identityPinPath: this.opts.identityPinPath ?? join(this.opts.pinRoot, 'state', IDENTITY_PIN),
    };
    mkdirSync(dirname(exempt.identityPinPath), { recursive: true });
    if (connect.length > 0 || this.connect) {
      this.connect ??= ConnectDeny.start({ objectPath: join(objectsDir, 'sock_cgroup.bpf.o'), ...exempt, pinDir: this.pinDir('connect'), onDecision: (d) => this.decision('cgroup_sock', 'socket_connect', d), onError: this.opts.onError, onPersist: this.opts.onPersist });
      this.connect.setDenySet(connect);
    }
    if (exec.length > 0 || this.execKill) {
      this.execKill ??= ExecKill.start({ objectPath: join(objectsDir, 'exec_kill.bpf.o'), ...exempt, pinDir: this.pinDir('exec-kill'), onDecision: (d) => this.decision('tp_btf', 'bprm_check_security', d), onError: this.opts.onError, onPersist: this.opts.onPersist });
      this.execKill.setDenySet(exec);
    }
    if (open.length > 0 || this.openKill) {
      this.openKill ??= OpenKill.start({ objectPath: join(objectsDir, 'open_kill.bpf.o'), ...exempt, pinDir: this.pinDir('open-kill'), onDecision: (d) => this.decision('tp_btf', 'file_open', d), onError: this.opts.onError, onPersist: this.opts.onPersist });
      this.openKill.setDenySet(open);
    }
    if (uring.length > 0 || this.uringKill) {
      this.uringKill ??= UringKill.start({ objectPath: join(objectsDir, 'uring_deny.bpf.o'), ...exempt, pinDir: this.pinDir('uring-kill'), onDecision: (d) => this.decision('tp_btf', 'io_uring_setup', d), onError: this.opts.onError, onPersist: this.opts.onPersist });
      this.uringKill.setDenySet(uring);
    }
    if (fanRules.length > 0 || this.fanotify) {
      this.fanotify ??= await FanotifyGuard.start({ onDeny: (d: FanotifyDecision) => this.fanotifyDecision(d), onFatal: (m) => this.opts.onError?.(new Error(m)) });
      await this.fanotify.setDenySet(fanRules);
    }
  }

  private fanotifyDecision(d: FanotifyDecision): void {
    this.opts.onDecision?.({ policyName: this.openOwners.get(`${d.dev}:${d.ino}`) ?? '(removed policy)', hook: d.kind === 'exec' ? 'bprm_check_security' : 'file_open', mechanism: 'fanotify', action: 'deny', pid: d.pid, tid: d.pid, detail: `inode ${d.ino} dev ${d.dev}` });
  }
}
