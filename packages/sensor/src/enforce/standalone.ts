/**
 * The standalone sensor's policy source: every valid policy in --policy-dir is compiled for this node (its
 * NodeProfile comes from the capability probe) and applied through the enforcement engine; each policy's outcome
 * (enforcing, or refused with the reason) is logged, never silently dropped.
 */
import type { Logger } from 'pino';
import { compilePolicy, formatLabelSelector, matchLabelSelector, type NodeProfile, type TracingPolicy } from '@vigil/policy-schema';
import type { PolicyDirResult } from '../policy/policy-dir.js';
import { probeKernel } from '../probe/probe.js';
import type { ApplyOutcome, BundleApplier } from '../transport/applier.js';
import { withTracepointFormats } from '../generic/tracefs.js';
import { formatHookStatus, policyState } from './composite.js';
import { nodeProfileFromCapabilities } from '../transport/node-profile.js';

export interface PolicyDirOptions {
  engine: BundleApplier;
  objectsDir: string;
  mechanisms: 'auto' | 'fallback';
  logger: Logger;
  /** This node's labels (--node-labels) for spec.nodeSelector; undefined: none given. */
  nodeLabels?: Readonly<Record<string, string>>;
}

/**
 * spec.nodeSelector on a standalone node: matched against --node-labels. Without labels a policy that asks for
 * particular nodes is not loaded (loading it everywhere would enforce where its author said not to), and the log
 * says how to load it. Returns why it is skipped, or undefined to load it.
 */
export function nodeSelectorSkip(policy: TracingPolicy, labels: Readonly<Record<string, string>> | undefined): { level: 'info' | 'warn'; message: string } | undefined {
  const sel = policy.spec.nodeSelector;
  if (!sel) return undefined;
  const text = formatLabelSelector(sel);
  if (!labels) return { level: 'warn', message: `policy not loaded: spec.nodeSelector (${text}) needs this node's labels; pass them with --node-labels (e.g. --node-labels vigil.dev/tier=edge) or remove spec.nodeSelector` };
  if (!matchLabelSelector(sel, labels)) return { level: 'info', message: `policy not loaded on this node: spec.nodeSelector (${text}) does not match --node-labels` };
  return undefined;
}

/** The node's profile; 'fallback' turns LSM BPF, kprobes and fentry off (as on kernels booted without them). */
export function localNodeProfile(objectsDir: string, mechanisms: 'auto' | 'fallback'): NodeProfile {
  const profile = nodeProfileFromCapabilities(probeKernel({ probeObject: `${objectsDir}/probe.bpf.o` }));
  if (mechanisms === 'fallback') profile.mechanisms = { ...profile.mechanisms, lsm: false, kprobe: false, kprobeOverride: false, fentry: false };
  return profile;
}

/** Applies the policies read from the directory (readPolicyDir, which reports unreadable directories itself). */
export async function applyPolicies({ policies, warnings }: PolicyDirResult, o: PolicyDirOptions): Promise<void> {
  for (const w of warnings) o.logger.warn({ file: w.file }, w.message);
  const selected = policies.filter((p) => {
    const skip = nodeSelectorSkip(p.policy, o.nodeLabels);
    if (skip) o.logger[skip.level]({ policy: p.name, file: p.file }, skip.message);
    return !skip;
  });
  if (selected.length === 0) return;
  const profile = withTracepointFormats(localNodeProfile(o.objectsDir, o.mechanisms), selected.map((p) => p.policy));
  for (const p of selected) {
    const bundle = compilePolicy(p.policy, profile);
    const outcome: ApplyOutcome = await o.engine.apply(bundle).catch((err: unknown) => ({ result: 'failed' as const, reason: (err as Error).message }));
    const hooks = bundle.hooks.map((h) => `${h.path}→${h.mechanism}`).join(', ');
    if (outcome.result === 'applied') o.logger.info({ policy: p.name, file: p.file, hooks, state: policyState(outcome).state }, 'policy enforcing');
    else o.logger.warn({ policy: p.name, file: p.file, result: outcome.result, reason: outcome.reason }, `policy not applied: ${outcome.reason}`);
    // One line per hook: the mechanism that runs it on this node, or why it is refused.
    for (const h of outcome.hooks ?? []) o.logger[h.state === 'refused' ? 'warn' : 'info']({ policy: p.name, hook: h.path, mechanism: h.mechanism, state: h.state }, formatHookStatus(h));
  }
}
