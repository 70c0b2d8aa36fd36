/**
 * What the sensor last applied, per policy, in `<stateDir>/persist/applied.json` (written atomically: temporary
 * file, fsync, rename, fsync of the directory), for `vigil-sensor status` to show beside the pins: bundle version
 * and content hash, and per hook its mechanism and whether it keeps enforcing while no sensor runs.
 *
 * PersistingApplier wraps the enforcement engine (any BundleApplier) and keeps the file in step with it.
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Bundle } from '@vigil/policy-schema';
import type { ApplyOutcome, BundleApplier } from '../transport/applier.js';
import { PersistError } from './errors.js';

/**
 * persistent: enforced in the kernel, whether or not the sensor runs. degrades: the sensor's process gives the
 * stronger form (fanotify's EPERM); while it is down the in-kernel fallback (kill after open) enforces.
 */
export type Persistence = 'persistent' | 'degrades' | 'refused';

export interface AppliedHook {
  path: string;
  hook: string;
  mechanism: string;
  persistence: Persistence;
  /** while the sensor is down, for `degrades` */
  whileDown?: string;
}

export interface AppliedPolicy {
  policyUid: string;
  policyName: string;
  generation: number;
  contentHash: string;
  appliedAt: string;
  hooks: AppliedHook[];
}

export interface AppliedState {
  schema: 1;
  policies: AppliedPolicy[];
}

/** Whether a hook enforced by `mechanism` survives the sensor (docs/persistence.md). */
export function persistenceOf(hook: string, mechanism: string, status: 'enforcing' | 'refused' = 'enforcing'): Pick<AppliedHook, 'persistence' | 'whileDown'> {
  if (status === 'refused') return { persistence: 'refused' };
  if (mechanism === 'fanotify') {
    return { persistence: 'degrades', whileDown: hook === 'bprm_check_security' ? 'exec kill: the process is killed at exec (exit 137)' : 'open kill: the opener is killed before it reads or writes (an O_TRUNC open still truncates)' };
  }
  return { persistence: 'persistent' };
}

export function appliedFile(stateDir: string): string {
  return join(stateDir, 'persist', 'applied.json');
}

export function readApplied(stateDir: string): AppliedState | undefined {
  const file = appliedFile(stateDir);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const v = JSON.parse(text) as AppliedState;
    if (v.schema !== 1 || !Array.isArray(v.policies)) throw new Error(`schema ${String(v.schema)}`);
    return v;
  } catch (err) {
    throw new PersistError('BAD_STATE', `${file} does not parse (${(err as Error).message}); it is rewritten on the next apply, or remove it`);
  }
}

export function writeApplied(stateDir: string, state: AppliedState): void {
  const file = appliedFile(stateDir);
  const dir = join(stateDir, 'persist');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  const dfd = openSync(dir, 'r');
  try {
    fsyncSync(dfd);
  } finally {
    closeSync(dfd);
  }
}

export interface HookReport {
  path: string;
  hook: string;
  mechanism: string;
  status: 'enforcing' | 'refused';
}

/** Wraps an applier: every applied bundle and every removal is recorded in the state directory. */
export class PersistingApplier implements BundleApplier {
  private readonly policies = new Map<string, AppliedPolicy>();
  /** every policy uid offered since start, applied or not (a failed re-apply is not a removal) */
  readonly offered = new Set<string>();

  constructor(
    private readonly inner: BundleApplier,
    private readonly stateDir: string,
    /** per-hook outcome of the policy's applied bundle (the engine's report) */
    private readonly report: (policyUid: string) => readonly HookReport[],
    private readonly now: () => Date = () => new Date(),
  ) {}

  async apply(bundle: Bundle): Promise<ApplyOutcome> {
    this.offered.add(bundle.version.policyUid);
    const outcome = await this.inner.apply(bundle);
    if (outcome.result !== 'applied') return outcome;
    const v = bundle.version;
    const hooks = this.report(v.policyUid).map((h) => ({ path: h.path, hook: h.hook, mechanism: h.mechanism, ...persistenceOf(h.hook, h.mechanism, h.status) }));
    this.policies.set(v.policyUid, { policyUid: v.policyUid, policyName: bundle.policy.name, generation: v.generation, contentHash: v.contentHash, appliedAt: this.now().toISOString(), hooks });
    this.flush();
    return outcome;
  }

  async remove(policyUid: string): Promise<void> {
    await this.inner.remove(policyUid);
    if (this.policies.delete(policyUid)) this.flush();
  }

  /** Writes the file now (also when nothing was applied: a start with no policy records that). */
  flush(): void {
    writeApplied(this.stateDir, { schema: 1, policies: [...this.policies.values()].sort((a, b) => a.policyName.localeCompare(b.policyName)) });
  }
}
