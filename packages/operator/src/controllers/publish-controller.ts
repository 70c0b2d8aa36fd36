// Publish: makes vigil-bundles equal to the compile controller's plan (fenced, idempotent; see publisher.ts).
import type { Logger } from 'pino';
import type { KV } from 'nats';
import type { Assignment } from '@vigil/sensor';
import type { Plan } from '../compile-and-publish/plan.js';
import { BundlePublisher, type PublishStats } from '../compile-and-publish/publisher.js';

export class PublishController {
  private readonly publisher: BundlePublisher;
  private index = new Map<string, Map<string, Assignment>>();
  readonly totals: PublishStats = { created: 0, updated: 0, deleted: 0, unchanged: 0 };

  constructor(kv: KV, log: Logger) {
    this.publisher = new BundlePublisher(kv, log.child({ controller: 'publish' }));
  }

  /** Forget the mirrored bucket: the next sync re-reads it (after gaining leadership). */
  reset(): void {
    this.publisher.reset();
  }

  async sync(plan: Plan): Promise<PublishStats> {
    const stats = await this.publisher.publish(plan);
    this.totals.created += stats.created;
    this.totals.updated += stats.updated;
    this.totals.deleted += stats.deleted;
    this.totals.unchanged += stats.unchanged;
    this.index = this.publisher.assignmentsByPolicy();
    return stats;
  }

  /** node → assignment of the policy, as the nodes have been told. */
  assignments(policyUid: string): ReadonlyMap<string, Assignment> {
    return this.index.get(policyUid) ?? new Map();
  }
}
