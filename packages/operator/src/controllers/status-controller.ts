// Status: rolls compile results, assignments and sensor acks up into status.conditions / status.nodes, and writes
// them through the status subresource only when they differ, with the object's resourceVersion as precondition
// (a 409 means a newer object exists or another leader wrote: the work queue retries from the informer's copy).
import type { CustomObjectsApi } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { PolicyIssue } from '@vigil/policy-schema';
import type { Assignment } from '@vigil/sensor';
import { nextStatus, sameJson, type AckSummary, type PolicyFacts } from '../conditions.js';
import type { Plan } from '../compile-and-publish/plan.js';
import { CLUSTER_PLURAL, GROUP, NAMESPACED_PLURAL, VERSION, type PolicyObject } from './policy-ref.js';

export interface StatusInputs {
  plan: Plan | undefined;
  issues: ReadonlyMap<string, PolicyIssue[]>;
  assignments(policyUid: string): ReadonlyMap<string, Assignment>;
  acks(policyUid: string): ReadonlyMap<string, AckSummary> | undefined;
}

/** What reconcile did: wrote, found nothing to write, or held back a progress update until `retryAfterMs`. */
export type StatusResult = { written: boolean; retryAfterMs?: number };

/**
 * A rollout's progress (applied 1/100, 2/100 …) is written at most once per this many ms per policy; the first
 * status of a generation and every settled status (Ready, failed, invalid) are written at once.
 */
export const PROGRESS_WRITE_INTERVAL_MS = 1000;

export class StatusController {
  writes = 0;
  /** policy uid → monotonic ms of its last status write. */
  private readonly lastWrite = new Map<string, number>();

  constructor(
    private readonly api: CustomObjectsApi,
    private readonly log: Logger,
    private readonly now: () => Date = () => new Date(),
    private readonly progressIntervalMs = PROGRESS_WRITE_INTERVAL_MS,
  ) {}

  /** Forget policies that are gone. */
  forget(uid: string): void {
    this.lastWrite.delete(uid);
  }

  /** Throws on API errors (the queue retries). */
  async reconcile(obj: PolicyObject, inputs: StatusInputs): Promise<StatusResult> {
    const m = obj.metadata;
    if (!m?.uid || !m.name || m.deletionTimestamp || !inputs.plan) return { written: false };
    const generation = m.generation ?? 1;
    const outcome = inputs.plan.outcomes.get(m.uid);
    if (!outcome || outcome.generation !== generation) return { written: false }; // not compiled yet: the publish pass requeues us
    const issues = inputs.issues.get(m.uid) ?? [];
    const targets: PolicyFacts['targets'] = new Map<string, { contentHash: string } | { compileFailure: { reason: string; message: string } }>([
      ...[...inputs.assignments(m.uid)].map(([node, a]) => [node, { contentHash: a.contentHash }] as const),
      ...outcome.failures.map((f) => [f.node, { compileFailure: { reason: f.reason, message: f.message } }] as const),
    ]);
    const spec = obj.spec as { options?: { name: string; value: string }[] } | undefined;
    const mode = spec?.options?.find((o) => o.name === 'policy-mode')?.value === 'monitor' ? 'monitor' : 'enforce';
    const facts: PolicyFacts = { generation, mode, issues, targets, acks: inputs.acks(m.uid) ?? new Map() };
    if (outcome.nodeSelection) facts.nodeSelection = outcome.nodeSelection;
    const status = nextStatus(obj.status, facts, this.now());
    if (sameJson(status, obj.status)) return { written: false };
    const reconciling = (s: typeof status | undefined): boolean => s?.conditions?.find((c) => c.type === 'Reconciling')?.status === 'True';
    const stillProgressing = reconciling(status) && reconciling(obj.status) && obj.status?.observedGeneration === generation;
    const since = performance.now() - (this.lastWrite.get(m.uid) ?? -Infinity);
    if (stillProgressing && since < this.progressIntervalMs) return { written: false, retryAfterMs: Math.ceil(this.progressIntervalMs - since) };
    const body = { ...obj, status };
    if (m.namespace)
      await this.api.replaceNamespacedCustomObjectStatus({ group: GROUP, version: VERSION, plural: NAMESPACED_PLURAL, namespace: m.namespace, name: m.name, body });
    else await this.api.replaceClusterCustomObjectStatus({ group: GROUP, version: VERSION, plural: CLUSTER_PLURAL, name: m.name, body });
    this.writes++;
    this.lastWrite.set(m.uid, performance.now());
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    this.log.info({ policy: m.name, namespace: m.namespace, generation, ready: ready?.status, reason: ready?.reason, nodes: status.nodes?.summary }, 'status written');
    return { written: true };
  }
}
