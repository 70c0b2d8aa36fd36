// The publish step: makes the vigil-bundles bucket equal to a Plan with the fewest writes. Every write is fenced
// by the revision this publisher last saw (create = "must not exist", update/delete = "must still be at revision
// r"), so a paused former leader that wakes up fails with PublishError(FENCED) instead of overwriting the new
// leader's work. Writes nothing for keys whose value is already the planned one, so a restarted operator
// republishes nothing that did not change.
import type { Logger } from 'pino';
import { StringCodec, type KV, type NatsConnection } from 'nats';
import { BUNDLES_BUCKET, BUNDLES_HISTORY, parseNodePolicyKey, readKv, type Assignment } from '@vigil/sensor';
import type { Plan } from './plan.js';

const sc = StringCodec();
const WRITE_BATCH = 64;

export type PublishErrorCode = 'FENCED' | 'NATS';
export class PublishError extends Error {
  constructor(
    readonly code: PublishErrorCode,
    message: string,
    readonly key?: string,
  ) {
    super(message);
    this.name = 'PublishError';
  }
}

export interface PublishStats {
  created: number;
  updated: number;
  deleted: number;
  unchanged: number;
}

interface Seen {
  revision: number;
  value: string;
  /** The parsed value of an assignment key (shared between keys with the same value). */
  assignment?: Assignment;
}

function isWrongLastSequence(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string };
  return err.api_error?.err_code === 10071 || /wrong last sequence/i.test(err.message ?? '');
}

/** Opens (creating if needed) the bundles bucket. nats-server 2.9: no per-key TTL, so garbage is deleted explicitly. */
export async function openBundlesBucket(nc: NatsConnection): Promise<KV> {
  return nc.jetstream().views.kv(BUNDLES_BUCKET, { history: BUNDLES_HISTORY });
}

export class BundlePublisher {
  /** The bucket as this publisher last saw it: key → revision and value (deleted keys absent). */
  private readonly seen = new Map<string, Seen>();
  private loaded = false;

  constructor(
    private readonly kv: KV,
    private readonly log: Logger,
  ) {}

  /** The next publish re-reads the bucket first. */
  reset(): void {
    this.loaded = false;
  }

  /** Re-reads the whole bucket (start, and after a fencing conflict). */
  async load(): Promise<void> {
    this.seen.clear();
    // Nodes with one profile hold identical assignment values: keep one string and one parsed object for each.
    const shared = new Map<string, { value: string; assignment: Assignment }>();
    for (const e of await readKv(this.kv, '>', true)) {
      if (e.operation !== 'PUT') continue;
      const value = sc.decode(e.value);
      if (!e.key.startsWith('assign.')) {
        this.seen.set(e.key, { revision: e.revision, value });
        continue;
      }
      let one = shared.get(value);
      if (!one) shared.set(value, (one = { value, assignment: JSON.parse(value) as Assignment }));
      this.seen.set(e.key, { revision: e.revision, value: one.value, assignment: one.assignment });
    }
    this.loaded = true;
  }

  /** Assignments as last written or read, per policy uid and node (what the nodes are told to run). */
  assignmentsByPolicy(): Map<string, Map<string, Assignment>> {
    const out = new Map<string, Map<string, Assignment>>();
    for (const [k, s] of this.seen) {
      const parsed = parseNodePolicyKey(k);
      if (!parsed || parsed.kind !== 'assign') continue;
      let m = out.get(parsed.policyUid);
      if (!m) out.set(parsed.policyUid, (m = new Map()));
      m.set(parsed.node, s.assignment ?? (JSON.parse(s.value) as Assignment));
    }
    return out;
  }

  /** Current assignment keys this publisher knows about (for tests and status). */
  assignmentKeys(): string[] {
    return [...this.seen.keys()].filter((k) => k.startsWith('assign.'));
  }

  async publish(plan: Plan): Promise<PublishStats> {
    if (!this.loaded) await this.load();
    const stats: PublishStats = { created: 0, updated: 0, deleted: 0, unchanged: 0 };
    try {
      // 1. bundles first (write-once, content-addressed), so an assignment never points at a missing bundle.
      await this.batch([...plan.bundles], ([k, v]) => this.write(k, v, stats));
      // 2. assignments (the plan shares one object per policy and profile: serialize each once).
      const json = new Map<Assignment, string>();
      const text = (a: Assignment): string => {
        let t = json.get(a);
        if (t === undefined) json.set(a, (t = JSON.stringify(a)));
        return t;
      };
      await this.batch([...plan.assignments], ([k, a]) => this.write(k, text(a), stats, a));
      // 3. tombstones for assignments no longer planned (policy deleted, node gone), unless the plan keeps them.
      const stale = this.assignmentKeys().filter((k) => {
        if (plan.assignments.has(k) || plan.keep.has(k)) return false;
        const parsed = parseNodePolicyKey(k);
        return !(parsed && plan.keepPolicies.has(parsed.policyUid));
      });
      await this.batch(stale, (k) => this.remove(k, stats));
      // 4. bundles nothing points at any more.
      const referenced = new Set<string>();
      for (const [k, s] of this.seen) if (k.startsWith('assign.')) referenced.add((s.assignment ?? (JSON.parse(s.value) as Assignment)).bundleKey);
      const unused = [...this.seen.keys()].filter((k) => k.startsWith('bundle.') && !referenced.has(k));
      await this.batch(unused, (k) => this.remove(k, stats));
    } catch (e) {
      if (e instanceof PublishError && e.code === 'FENCED') this.loaded = false;
      throw e;
    }
    if (stats.created + stats.updated + stats.deleted > 0) this.log.info({ ...stats }, 'published bundles');
    return stats;
  }

  private async batch<T>(items: readonly T[], fn: (item: T) => Promise<void>): Promise<void> {
    for (let i = 0; i < items.length; i += WRITE_BATCH) await Promise.all(items.slice(i, i + WRITE_BATCH).map(fn));
  }

  private async write(key: string, value: string, stats: PublishStats, assignment?: Assignment): Promise<void> {
    const prev = this.seen.get(key);
    if (prev?.value === value) {
      stats.unchanged++;
      return;
    }
    try {
      const revision = prev ? await this.kv.update(key, sc.encode(value), prev.revision) : await this.kv.create(key, sc.encode(value));
      this.seen.set(key, assignment ? { revision, value, assignment } : { revision, value });
      if (prev) stats.updated++;
      else stats.created++;
    } catch (e) {
      throw this.wrap(e, key);
    }
  }

  private async remove(key: string, stats: PublishStats): Promise<void> {
    const prev = this.seen.get(key);
    if (!prev) return;
    try {
      if (key.startsWith('bundle.')) await this.kv.purge(key, { previousSeq: prev.revision });
      else await this.kv.delete(key, { previousSeq: prev.revision });
      this.seen.delete(key);
      stats.deleted++;
    } catch (e) {
      throw this.wrap(e, key);
    }
  }

  private wrap(e: unknown, key: string): PublishError {
    if (isWrongLastSequence(e) || /key exists/i.test((e as Error).message))
      return new PublishError('FENCED', `${key} changed since this operator last read it (another leader wrote it); re-reading the bucket`, key);
    return new PublishError('NATS', `writing ${key}: ${(e as Error).message}`, key);
  }
}
