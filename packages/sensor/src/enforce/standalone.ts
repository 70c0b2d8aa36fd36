/**
 * The standalone sensor's policy source: every valid policy in --policy-dir is compiled for this node (its
 * NodeProfile comes from the capability probe) and applied through the enforcement engine; each policy's outcome
 * (enforcing, or refused with the reason) is logged, never silently dropped.
 */
import type { Logger } from 'pino';
import { compilePolicy, type NodeProfile } from '@vigil/policy-schema';
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
  if (policies.length === 0) return;
  const profile = withTracepointFormats(localNodeProfile(o.objectsDir, o.mechanisms), policies.map((p) => p.policy));
  for (const p of policies) {
    const bundle = compilePolicy(p.policy, profile);
    const outcome: ApplyOutcome = await o.engine.apply(bundle).catch((err: unknown) => ({ result: 'failed' as const, reason: (err as Error).message }));
    const hooks = bundle.hooks.map((h) => `${h.path}→${h.mechanism}`).join(', ');
    if (outcome.result === 'applied') o.logger.info({ policy: p.name, file: p.file, hooks, state: policyState(outcome).state }, 'policy enforcing');
    else o.logger.warn({ policy: p.name, file: p.file, result: outcome.result, reason: outcome.reason }, `policy not applied: ${outcome.reason}`);
    // One line per hook: the mechanism that runs it on this node, or why it is refused.
    for (const h of outcome.hooks ?? []) o.logger[h.state === 'refused' ? 'warn' : 'info']({ policy: p.name, hook: h.path, mechanism: h.mechanism, state: h.state }, formatHookStatus(h));
  }
}
