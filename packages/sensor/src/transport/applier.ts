// What the transport hands bundles to. The enforcement engine (issue #7) implements BundleApplier; until it lands
// the production sensor wires RefusingApplier, so status shows honestly that nothing is enforced.
import type { Bundle } from '@vigil/policy-schema';
import type { ApplyResult, HookStatus } from './protocol.js';

export interface ApplyOutcome {
  result: ApplyResult;
  /** Empty when applied; otherwise why not (goes to status.nodes.failures[].message). */
  reason: string;
  /** Per hook of the bundle: mechanism or refusal (acked as Ack.hooks). */
  hooks?: HookStatus[];
}

/**
 * Applies one policy's bundle on this node, atomically: after `applied` the new bundle enforces; after `refused`
 * or `failed` the previously applied bundle of the same policy (if any) must still enforce. Called serially, once
 * per bundle change, and again for every stored bundle when the sensor starts (must then be cheap when the pinned
 * state already matches: reuse pins, do not re-attach). Must not throw for bundle problems: return `failed`.
 */
export interface BundleApplier {
  apply(bundle: Bundle): Promise<ApplyOutcome>;
  /** Stops enforcing the policy and releases its maps and links. Idempotent. */
  remove(policyUid: string): Promise<void>;
}

export const NO_ENGINE_REASON = 'enforcement engine not available in this build';

/** The production applier until the enforcement engine lands: refuses everything and says why. */
export class RefusingApplier implements BundleApplier {
  apply(): Promise<ApplyOutcome> {
    return Promise.resolve({ result: 'refused', reason: NO_ENGINE_REASON });
  }
  remove(): Promise<void> {
    return Promise.resolve();
  }
}

/** Applies nothing to the kernel and records every call: drives the operator ↔ sensor protocol in tests and benches. */
export class RecordingApplier implements BundleApplier {
  readonly calls: ({ op: 'apply'; policyUid: string; generation: number; contentHash: string } | { op: 'remove'; policyUid: string })[] = [];
  readonly active = new Map<string, Bundle>();
  /** Decides the outcome per bundle (default: applied). */
  decide: (bundle: Bundle) => ApplyOutcome = () => ({ result: 'applied', reason: '' });

  apply(bundle: Bundle): Promise<ApplyOutcome> {
    const v = bundle.version;
    this.calls.push({ op: 'apply', policyUid: v.policyUid, generation: v.generation, contentHash: v.contentHash });
    const outcome = this.decide(bundle);
    if (outcome.result === 'applied') this.active.set(v.policyUid, bundle);
    return Promise.resolve(outcome);
  }
  remove(policyUid: string): Promise<void> {
    this.calls.push({ op: 'remove', policyUid });
    this.active.delete(policyUid);
    return Promise.resolve();
  }
}
