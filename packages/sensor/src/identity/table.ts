/**
 * The sensor's copy of its node's identity table: pods by uid and containers by runtime id, kept from the
 * operator's vigil-identity KV bucket (IdentityTableClient) or fed directly (tests, a standalone sensor).
 */
import type { Logger } from 'pino';
import { connect, KvWatchInclude, StringCodec, type KV, type KvEntry, type NatsConnection, type QueuedIterator } from 'nats';
import { readKv } from '../transport/kv-read.js';
import { IDENTITY_BUCKET, identityKeys, parsePodKey, type ContainerIdentity, type PodIdentity } from './protocol.js';

export interface ContainerRef {
  pod: PodIdentity;
  container: ContainerIdentity;
}

export type TableListener = (podUid: string, before: PodIdentity | undefined, after: PodIdentity | undefined) => void;

export class IdentityTable {
  private readonly pods = new Map<string, PodIdentity>();
  private readonly containers = new Map<string, ContainerRef>();
  private readonly listeners = new Set<TableListener>();

  get size(): number {
    return this.pods.size;
  }

  pod(uid: string): PodIdentity | undefined {
    return this.pods.get(uid);
  }

  container(id: string): ContainerRef | undefined {
    return this.containers.get(id);
  }

  allPods(): IterableIterator<PodIdentity> {
    return this.pods.values();
  }

  onChange(l: TableListener): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  /** Sets (or, with undefined, removes) one pod; listeners run synchronously after the table changed. */
  set(uid: string, pod: PodIdentity | undefined): void {
    const before = this.pods.get(uid);
    if (before) for (const c of before.containers) if (this.containers.get(c.id)?.pod === before) this.containers.delete(c.id);
    if (pod) {
      this.pods.set(uid, pod);
      for (const c of pod.containers) this.containers.set(c.id, { pod, container: c });
    } else this.pods.delete(uid);
    if (!before && !pod) return;
    for (const l of this.listeners) l(uid, before, pod);
  }

  /** Replaces the whole table (after a re-read): pods absent from `pods` are removed. */
  replaceAll(pods: readonly PodIdentity[]): void {
    const keep = new Set(pods.map((p) => p.uid));
    for (const uid of [...this.pods.keys()]) if (!keep.has(uid)) this.set(uid, undefined);
    for (const p of pods) this.set(p.uid, p);
  }
}

const sc = StringCodec();

export interface IdentityTableClientOptions {
  servers: string | string[];
  node: string;
  table: IdentityTable;
  logger: Logger;
  /** an existing connection to use instead of opening one */
  nc?: NatsConnection;
}

/**
 * Keeps an IdentityTable equal to the node's keys in vigil-identity: one KV watch on `pod.<node>.>` (current
 * values first, then changes), restarted on every reconnect. The bucket is created if the operator has not yet.
 */
export class IdentityTableClient {
  private nc: NatsConnection | undefined;
  private watch: QueuedIterator<KvEntry> | undefined;
  private stopped = false;
  private readonly ownsConnection: boolean;
  /** Resolves once the first watch delivered the bucket's current state. */
  readonly ready: Promise<void>;
  private markReady: () => void = () => undefined;
  updates = 0;

  private constructor(private readonly o: IdentityTableClientOptions) {
    this.ownsConnection = !o.nc;
    this.ready = new Promise((r) => (this.markReady = r));
  }

  static async start(o: IdentityTableClientOptions): Promise<IdentityTableClient> {
    const c = new IdentityTableClient(o);
    const nc = o.nc ?? (await connect({ servers: o.servers, name: `vigil-sensor-identity-${o.node}`, maxReconnectAttempts: -1, reconnectTimeWait: 250 }));
    c.nc = nc;
    await c.rewatch();
    void (async () => {
      for await (const s of nc.status()) {
        if (c.stopped) break;
        if (s.type === 'reconnect') await c.rewatch().catch((err: unknown) => o.logger.warn({ err }, 'identity table: rewatch failed'));
      }
    })();
    return c;
  }

  /**
   * An updates-only watch is opened first (its changes buffer), then the current values are read and replace the
   * table, then the buffered changes apply, skipping any a key's read value already includes (by revision): no
   * change is lost between the read and the watch, and no pod is removed and re-added on a re-read.
   */
  private async rewatch(): Promise<void> {
    this.watch?.stop();
    if (!this.nc) throw new Error('identity table client is not connected');
    const kv: KV = await this.nc.jetstream().views.kv(IDENTITY_BUCKET, { history: 1 });
    const filter = identityKeys.podsOfNode(this.o.node);
    const w = await kv.watch({ key: filter, include: KvWatchInclude.UpdatesOnly });
    this.watch = w;
    const read = new Map<string, number>();
    const pods: PodIdentity[] = [];
    for (const e of await readKv(kv, filter)) {
      const k = parsePodKey(e.key);
      if (!k) continue;
      read.set(e.key, e.revision);
      const pod = e.operation === 'PUT' ? this.parse(e) : undefined;
      if (pod) pods.push(pod);
    }
    this.o.table.replaceAll(pods);
    this.updates += pods.length;
    this.markReady();
    void (async () => {
      try {
        for await (const e of w) {
          const k = parsePodKey(e.key);
          if (!k) continue;
          const seen = read.get(e.key);
          if (seen !== undefined && e.revision <= seen) continue;
          this.updates++;
          this.o.table.set(k.podUid, e.operation === 'PUT' ? this.parse(e) : undefined);
        }
      } catch (err) {
        if (!this.stopped) this.o.logger.warn({ err }, 'identity table: watch ended');
      }
    })();
  }

  private parse(e: KvEntry): PodIdentity | undefined {
    try {
      return JSON.parse(sc.decode(e.value)) as PodIdentity;
    } catch (err) {
      this.o.logger.warn({ err, key: e.key }, 'identity table: unreadable pod value ignored');
      return undefined;
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watch?.stop();
    if (this.ownsConnection) await this.nc?.close();
  }
}
