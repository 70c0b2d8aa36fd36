/**
 * The sensor's identity unit, as the composition root wires it: the node's identity table (from NATS when the
 * sensor joins a cluster), the cgroup resolver, the identity sets in the pinned vg_identity map, pod attribution of
 * events, and (optionally) the vigil-oci-hook socket. IdentityApplier makes every applied bundle's identity sets
 * live before its rules can reference them, and keeps the previous bundle's sets when a new one fails.
 */
import type { Logger } from 'pino';
import type { Bundle } from '@vigil/policy-schema';
import type { SensorEvent } from '../export/model.js';
import type { ApplyOutcome, BundleApplier } from '../transport/applier.js';
import { PodEnricher } from './enrich.js';
import { HookServer } from './hook-server.js';
import { PinnedIdentityMap } from './map.js';
import { CgroupResolver } from './resolver.js';
import { IdentitySets } from './sets.js';
import { IdentityTable, IdentityTableClient } from './table.js';

export interface IdentityRuntimeOptions {
  pinRoot: string;
  nodeName: string;
  /** NATS URL(s), comma-separated: subscribe to this node's identity table */
  nats?: string;
  logger: Logger;
  /** where formatted events go after attribution */
  emit: (ev: SensorEvent) => void;
  /** unix socket for vigil-oci-hook (absent: no hook server) */
  hookSocket?: string;
  holdMs?: number;
}

export class IdentityRuntime {
  readonly table = new IdentityTable();
  readonly resolver = new CgroupResolver();
  readonly enricher: PodEnricher;
  readonly sets: IdentitySets | undefined;
  private readonly map: PinnedIdentityMap | undefined;
  private client: Promise<IdentityTableClient | undefined> | undefined;
  private hooks: Promise<HookServer | undefined> | undefined;

  private constructor(private readonly o: IdentityRuntimeOptions) {
    this.enricher = new PodEnricher({ table: this.table, resolver: this.resolver, emit: o.emit, ...(o.holdMs !== undefined ? { holdMs: o.holdMs } : {}) });
    let map: PinnedIdentityMap | undefined;
    try {
      map = PinnedIdentityMap.open(o.pinRoot);
    } catch (err) {
      o.logger.warn({ err }, 'identity sets unavailable: the vg_identity map could not be opened; pod/container selectors will be refused');
    }
    this.map = map;
    this.sets = map ? new IdentitySets({ table: this.table, resolver: this.resolver, map, logger: o.logger }) : undefined;
    const why = this.sets?.refusal();
    if (why) o.logger.warn({ reason: why }, 'identity selectors are refused on this node');
  }

  static start(o: IdentityRuntimeOptions): IdentityRuntime {
    const r = new IdentityRuntime(o);
    if (o.nats)
      r.client = IdentityTableClient.start({ servers: o.nats.split(','), node: o.nodeName, table: r.table, logger: o.logger }).catch((err: unknown) => {
        o.logger.error({ err }, 'identity table subscription did not start');
        return undefined;
      });
    if (o.hookSocket && r.sets) {
      const sets = r.sets;
      r.hooks = HookServer.start({ path: o.hookSocket, sets, logger: o.logger }).catch((err: unknown) => {
        o.logger.error({ err, socket: o.hookSocket }, 'OCI hook socket did not start');
        return undefined;
      });
    }
    return r;
  }

  /** An event, attributed to its pod (possibly held briefly; see enrich.ts). */
  offer(ev: SensorEvent): void {
    this.enricher.offer(ev);
  }

  stats(): Record<string, unknown> {
    return { enrich: this.enricher.stats(), sets: this.sets?.stats(), pods: this.table.size, resolver: this.resolver.stats };
  }

  async stop(): Promise<void> {
    this.enricher.close();
    this.sets?.close();
    await (await this.hooks)?.close();
    await (await this.client)?.stop();
    this.map?.close();
  }
}

/** Wraps the engines' applier: identity sets of a bundle are live before it applies, released after it goes. */
export class IdentityApplier implements BundleApplier {
  constructor(
    private readonly inner: BundleApplier,
    private readonly sets: IdentitySets | undefined,
  ) {}

  async apply(bundle: Bundle): Promise<ApplyOutcome> {
    const uid = bundle.version.policyUid;
    const refs = bundle.identitySets ?? [];
    const next = `${uid}#next`;
    if (refs.length > 0) {
      if (!this.sets) return { result: 'refused', reason: 'pod/container selectors need the identity-set map (vg_identity), which could not be opened on this node' };
      try {
        this.sets.ensure(next, refs); // beside the current bundle's sets: both stay live until the outcome is known
      } catch (err) {
        return { result: 'refused', reason: (err as Error).message };
      }
    }
    try {
      const out = await this.inner.apply(bundle);
      // Applied: the policy now owns the new bundle's sets (unchanged members are never removed in between).
      if (out.result === 'applied') {
        if (refs.length > 0) this.sets?.ensure(uid, refs);
        else this.sets?.release(uid);
      }
      return out;
    } finally {
      if (refs.length > 0) this.sets?.release(next);
    }
  }

  async remove(policyUid: string): Promise<void> {
    await this.inner.remove(policyUid);
    this.sets?.release(policyUid);
  }
}
