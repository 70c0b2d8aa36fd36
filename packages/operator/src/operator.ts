// The operator's composition root: informers (both policy kinds, Nodes), the sensors' NATS state, one work queue,
// and the compile / publish / status controllers. Only the leader runs controllers (leader-election.ts); every
// write is fenced anyway (KV revisions, resourceVersion preconditions).
import { CoreV1Api, CustomObjectsApi, type KubeConfig, type KubernetesListObject, type V1Node } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { connect, type NatsConnection } from 'nats';
import type { PolicyIssue } from '@vigil/policy-schema';
import { ACKS_BUCKET, NODES_BUCKET, type Announce } from '@vigil/sensor';
import { openBundlesBucket, PublishError } from './compile-and-publish/publisher.js';
import type { Plan } from './compile-and-publish/plan.js';
import { CompileController } from './controllers/compile-controller.js';
import { NodeLivenessController } from './controllers/node-liveness-controller.js';
import { CLUSTER_PLURAL, GROUP, NAMESPACED_PLURAL, parseStatusKey, statusKey, VERSION, type PolicyObject } from './controllers/policy-ref.js';
import { PublishController } from './controllers/publish-controller.js';
import { StatusController } from './controllers/status-controller.js';
import { startWatched, type Watched } from './kube/informer.js';
import { SensorState } from './nats-state.js';
import { WorkQueue } from './work-queue.js';
import { PodIdentityPublisher } from './identity/pod-publisher.js';

export interface OperatorOptions {
  kubeconfig: KubeConfig;
  natsServers: string | string[];
  logger: Logger;
  /** Informer resync period (default 5 min). */
  resyncMs?: number;
  /** Give bundles only to announced nodes that also exist as Kubernetes Nodes (default true). */
  requireNodeObject?: boolean;
  /**
   * Whether this replica may act now (LeaderElector.isLeader). Absent: always (a single replica, tests,
   * dev-cluster). Checked before every reconcile; call leadershipChanged() when it flips.
   */
  isLeader?: () => boolean;
  now?: () => Date;
  /** Publish each node's pod identity table to vigil-identity (default true). */
  publishPodIdentity?: boolean;
  /** Acks arriving within this window are rolled into one status write (default 50 ms). */
  ackCoalesceMs?: number;
  /** A node whose sensor has not announced (or whose Node object is gone) for this long is gone (default 120 s). */
  staleAfterMs?: number;
}

const PUBLISH = 'publish';
const LIVENESS = 'liveness';

export class Operator {
  private nc!: NatsConnection;
  private readonly queue: WorkQueue;
  private readonly compile = new CompileController();
  private publish: PublishController | undefined;
  private readonly status: StatusController;
  private sensors!: SensorState;
  private liveness!: NodeLivenessController;
  private livenessTimer: NodeJS.Timeout | undefined;
  /** The nodes the last publish planned for (sorted, newline-joined). */
  private plannedNodes = '';
  /** Per-node identity tables (pods) for the sensors (identity/pod-publisher.ts). */
  pods: PodIdentityPublisher | undefined;
  private clusterPolicies!: Watched<PolicyObject>;
  private namespacedPolicies!: Watched<PolicyObject>;
  private nodes!: Watched<V1Node>;
  private plan: Plan | undefined;
  private issues = new Map<string, PolicyIssue[]>();
  private readonly keyOfUid = new Map<string, string>();
  private readonly generationOfUid = new Map<string, number>();
  private synced = false;
  private readonly log: Logger;
  publishes = 0;

  private constructor(private readonly o: OperatorOptions) {
    this.log = o.logger.child({ component: 'operator' });
    this.status = new StatusController(o.kubeconfig.makeApiClient(CustomObjectsApi), this.log.child({ controller: 'status' }), o.now);
    this.queue = new WorkQueue((key) => this.handle(key), {
      onError: (key, err, attempt) => {
        // 409: the informer's copy is older than the object (or another leader wrote): retry from the newer one.
        if ((err as { code?: number }).code === 409) this.log.debug({ key, attempt }, 'conflict writing status; retrying with the newer object');
        else this.log[err instanceof PublishError && err.code === 'FENCED' ? 'warn' : 'error']({ key, attempt, err }, 'reconcile failed; retrying');
      },
    });
  }

  static async start(o: OperatorOptions): Promise<Operator> {
    const op = new Operator(o);
    await op.run();
    return op;
  }

  private async run(): Promise<void> {
    const o = this.o;
    this.nc = await connect({ servers: o.natsServers, name: 'vigil-operator', maxReconnectAttempts: -1, reconnectTimeWait: 500 });
    this.publish = new PublishController(await openBundlesBucket(this.nc), this.log);
    this.sensors = new SensorState(
      this.nc,
      this.log,
      () => this.queue.add(PUBLISH),
      (uid) => {
        // Acks of a rollout arrive in bursts (one per node): coalesce them into one status write per window.
        const key = this.keyOfUid.get(uid);
        if (key) this.queue.addAfter(key, o.ackCoalesceMs ?? 50);
      },
      () => this.queue.add(LIVENESS),
    );
    const js = this.nc.jetstream();
    this.liveness = new NodeLivenessController(await js.views.kv(NODES_BUCKET), await js.views.kv(ACKS_BUCKET), this.log.child({ controller: 'liveness' }), o.staleAfterMs);
    await this.sensors.start();
    this.livenessTimer = setInterval(() => this.queue.add(LIVENESS), Math.min(5000, this.liveness.staleAfterMs / 4));
    this.livenessTimer.unref();
    if (o.publishPodIdentity !== false) this.pods = await PodIdentityPublisher.start({ nc: this.nc, kubeconfig: o.kubeconfig, logger: this.log.child({ controller: 'pod-identity' }), ...(o.resyncMs !== undefined ? { resyncMs: o.resyncMs } : {}), isLeader: () => this.isLeader });
    const custom = o.kubeconfig.makeApiClient(CustomObjectsApi);
    const core = o.kubeconfig.makeApiClient(CoreV1Api);
    const onPolicy = (obj: PolicyObject, deleted: boolean): void => {
      const key = statusKey(obj);
      const uid = obj.metadata?.uid;
      if (!uid) return;
      // Status writes come back as updates: only a new generation (or add/delete) needs a compile and publish.
      const generation = obj.metadata?.generation ?? 1;
      const known = this.generationOfUid.get(uid);
      if (deleted) {
        this.keyOfUid.delete(uid);
        this.generationOfUid.delete(uid);
        this.status.forget(uid);
      } else {
        this.keyOfUid.set(uid, key);
        this.generationOfUid.set(uid, generation);
      }
      if (deleted || known !== generation || obj.metadata?.deletionTimestamp) this.queue.add(PUBLISH);
      if (!deleted) this.queue.add(key);
    };
    const common = { kc: o.kubeconfig, log: this.log };
    if (o.resyncMs !== undefined) Object.assign(common, { resyncMs: o.resyncMs });
    this.clusterPolicies = startWatched<PolicyObject>({
      ...common,
      path: `/apis/${GROUP}/${VERSION}/${CLUSTER_PLURAL}`,
      list: () => custom.listClusterCustomObject({ group: GROUP, version: VERSION, plural: CLUSTER_PLURAL }) as Promise<KubernetesListObject<PolicyObject>>,
      onChange: onPolicy,
    });
    this.namespacedPolicies = startWatched<PolicyObject>({
      ...common,
      path: `/apis/${GROUP}/${VERSION}/${NAMESPACED_PLURAL}`,
      list: () => custom.listCustomObjectForAllNamespaces({ group: GROUP, version: VERSION, resourcePlural: NAMESPACED_PLURAL }) as Promise<KubernetesListObject<PolicyObject>>,
      onChange: onPolicy,
    });
    this.nodes = startWatched<V1Node>({ ...common, path: '/api/v1/nodes', list: () => core.listNode(), onChange: () => this.queue.add(PUBLISH) });
    await Promise.all([this.clusterPolicies.synced, this.namespacedPolicies.synced, this.nodes.synced]);
    // Nothing is reconciled from a partial view (a publish missing policies or nodes would tombstone them).
    this.synced = true;
    this.queue.add(PUBLISH);
  }

  /** Resolves once no reconcile is queued, running or waiting for a retry. */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  get isLeader(): boolean {
    return this.o.isLeader?.() ?? true;
  }

  /** Gaining leadership re-reads the bucket (another leader wrote it) and reconciles everything. */
  leadershipChanged(leading: boolean): void {
    this.log.info({ leading }, leading ? 'leading: controllers run' : 'not leading: controllers paused');
    if (!leading || !this.publish) return;
    this.publish.reset();
    void this.pods?.resync().catch((err: unknown) => this.log.warn({ err }, 'pod identity resync failed'));
    this.queue.add(PUBLISH);
    for (const p of this.policies()) this.queue.add(statusKey(p));
  }

  stats(): { publishes: number; statusWrites: number; compiles: number; kv: { created: number; updated: number; deleted: number; unchanged: number } } {
    return { publishes: this.publishes, statusWrites: this.status.writes, compiles: this.compile.compiles, kv: { ...(this.publish?.totals ?? { created: 0, updated: 0, deleted: 0, unchanged: 0 }) } };
  }

  async stop(): Promise<void> {
    this.queue.stop();
    if (this.livenessTimer) clearInterval(this.livenessTimer);
    this.sensors.stop();
    await Promise.all([this.clusterPolicies.stop(), this.namespacedPolicies.stop(), this.nodes.stop()]);
    await this.pods?.stop();
    await this.nc.close();
  }

  private policies(): readonly PolicyObject[] {
    return [...this.clusterPolicies.list(), ...this.namespacedPolicies.list()];
  }

  private nodeNames(): ReadonlySet<string> | undefined {
    if (this.o.requireNodeObject === false) return undefined;
    return new Set(this.nodes.list().flatMap((n) => (n.metadata?.name ? [n.metadata.name] : [])));
  }

  private targetNodes(): Announce[] {
    return this.liveness.live(this.sensors, this.nodeNames());
  }

  private liveNodes(targets: readonly Announce[]): string {
    return targets
      .map((a) => a.node)
      .sort()
      .join('\n');
  }

  private async handle(key: string): Promise<void> {
    if (!this.synced || !this.isLeader) return; // run() queues a full pass once synced
    if (key === LIVENESS) {
      // A node went stale or came back: publish for the new set. Then clean up nodes gone past the grace period.
      if (this.liveNodes(this.targetNodes()) !== this.plannedNodes) this.queue.add(PUBLISH);
      await this.liveness.cleanup(this.sensors, this.nodeNames());
      return;
    }
    if (key === PUBLISH) {
      const policies = this.policies();
      const targets = this.targetNodes();
      this.plannedNodes = this.liveNodes(targets);
      const { plan, issues } = this.compile.compile(policies, targets, (node) => this.nodes.get(node)?.metadata?.labels);
      if (!this.publish) return;
      await this.publish.sync(plan);
      this.plan = plan;
      this.issues = issues;
      this.publishes++;
      for (const p of policies) this.queue.add(statusKey(p));
      return;
    }
    const ref = parseStatusKey(key);
    if (!ref) return;
    const obj = ref.namespace === undefined ? this.clusterPolicies.get(ref.name) : this.namespacedPolicies.get(ref.name, ref.namespace);
    if (!obj) return;
    const r = await this.status.reconcile(obj, {
      plan: this.plan,
      issues: this.issues,
      assignments: (uid) => this.publish?.assignments(uid) ?? new Map(),
      acks: (uid) => this.sensors.acks.get(uid),
    });
    if (r.retryAfterMs !== undefined) this.queue.addAfter(key, r.retryAfterMs); // progress held back: write it later
  }
}
