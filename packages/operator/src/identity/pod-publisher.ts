// Publishes each node's identity table (one KV key per pod, `pod.<node>.<podUid>` in vigil-identity; docs/identity.md)
// from a Pod informer. Values are written only when they change (status-only churn such as probe timestamps
// writes nothing), in order per pod, by the leader only; a new leader and a restarted operator re-read the
// bucket and put it in line with the informer's view (stale pods deleted) once the informer has synced.
import { CoreV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { StringCodec, type KV, type NatsConnection } from 'nats';
import { IDENTITY_BUCKET, identityKeys, parsePodKey, readKv } from '@vigil/sensor';
import { startWatched, type Watched } from '../kube/informer.js';
import { podIdentity } from './pod-identity.js';

const sc = StringCodec();

export interface PodPublisherOptions {
  nc: NatsConnection;
  kubeconfig: KubeConfig;
  logger: Logger;
  resyncMs?: number;
  isLeader?: () => boolean;
}

export class PodIdentityPublisher {
  private kv!: KV;
  private pods!: Watched<V1Pod>;
  /** key → JSON last written (or read back) */
  private readonly published = new Map<string, string>();
  /** per key: the chain of writes, so puts and deletes of one pod land in order */
  private readonly chains = new Map<string, Promise<void>>();
  private synced = false;
  private stopped = false;
  stats = { puts: 0, deletes: 0, unchanged: 0, errors: 0 };
  /** Called after each write lands (benchmarks, tests). */
  onWritten: ((key: string, op: 'put' | 'delete') => void) | undefined;

  private constructor(private readonly o: PodPublisherOptions) {}

  static async start(o: PodPublisherOptions): Promise<PodIdentityPublisher> {
    const p = new PodIdentityPublisher(o);
    p.kv = await o.nc.jetstream().views.kv(IDENTITY_BUCKET, { history: 1 });
    const core = o.kubeconfig.makeApiClient(CoreV1Api);
    p.pods = startWatched<V1Pod>({
      kc: o.kubeconfig,
      log: o.logger,
      path: '/api/v1/pods',
      list: () => core.listPodForAllNamespaces(),
      onChange: (pod, deleted) => p.onPod(pod, deleted),
      ...(o.resyncMs !== undefined ? { resyncMs: o.resyncMs } : {}),
    });
    await p.pods.synced;
    await p.resync();
    return p;
  }

  private get leading(): boolean {
    return this.o.isLeader?.() ?? true;
  }

  /** Re-reads the bucket and writes what differs from the informer's view (start, leadership gained). */
  async resync(): Promise<void> {
    if (this.stopped) return;
    this.published.clear();
    // Deletes are filtered here, not by readKv's ignoreDeletes: nats.js never signals the end of the initial
    // values when the last of them is a delete marker it skips, and the read would hang.
    for (const e of await readKv(this.kv, 'pod.>')) if (e.operation === 'PUT' && parsePodKey(e.key)) this.published.set(e.key, sc.decode(e.value));
    this.synced = true;
    const want = new Map<string, string>();
    for (const pod of this.pods.list()) {
      const id = podIdentity(pod);
      if (id) want.set(identityKeys.pod(id.node, id.uid), JSON.stringify(id));
    }
    for (const [key, json] of want) this.write(key, json);
    for (const key of [...this.published.keys()]) if (!want.has(key)) this.write(key, undefined);
    await Promise.all([...this.chains.values()]);
  }

  private onPod(pod: V1Pod, deleted: boolean): void {
    if (!this.synced) return; // resync() writes the synced view in one pass
    const id = podIdentity(pod);
    if (!id) return;
    const key = identityKeys.pod(id.node, id.uid);
    this.write(key, deleted ? undefined : JSON.stringify(id));
  }

  private write(key: string, json: string | undefined): void {
    if (this.stopped || !this.leading) return;
    if (this.published.get(key) === json || (json === undefined && !this.published.has(key))) {
      this.stats.unchanged++;
      return;
    }
    if (json === undefined) this.published.delete(key);
    else this.published.set(key, json);
    const prev = this.chains.get(key) ?? Promise.resolve();
    const next = prev.then(async () => {
      try {
        if (json === undefined) {
          await this.kv.delete(key);
          this.stats.deletes++;
        } else {
          await this.kv.put(key, sc.encode(json));
          this.stats.puts++;
        }
        this.onWritten?.(key, json === undefined ? 'delete' : 'put');
      } catch (err) {
        this.stats.errors++;
        if (this.published.get(key) === json) this.published.delete(key); // unknown state: rewrite on the next change or resync
        if (!this.stopped) this.o.logger.warn({ err, key }, 'publishing a pod identity failed');
      }
    });
    this.chains.set(key, next);
    void next.then(() => {
      if (this.chains.get(key) === next) this.chains.delete(key);
    });
  }

  /** Resolves once every queued write landed. */
  async flushed(): Promise<void> {
    while (this.chains.size > 0) await Promise.all([...this.chains.values()]);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.pods.stop();
    await Promise.all([...this.chains.values()]);
  }
}
