// The sensor's half of the bundle protocol (docs/adr/0006-nats-kv-key-design.md): announce this node, follow its
// assignments (a core NATS subscription to the bucket's subjects as a change notice, plus reads of the bucket:
// see resync()), fetch and apply bundles through a BundleApplier, keep the last applied
// bundles on disk, ack each outcome. While NATS or the operator is down nothing is removed: the applied bundles
// keep enforcing, and a (re)connect resyncs from the bucket's current state.
import type { Logger } from 'pino';
import { connect, StringCodec, type KV, type KvEntry, type Msg, type NatsConnection, type Subscription } from 'nats';
import { BUNDLE_GRAMMAR_VERSION, bundleFromJson, bundleToJson, type Bundle, type BundleJson, type NodeProfile } from '@vigil/policy-schema';
import type { ApplyOutcome, BundleApplier } from './applier.js';
import { readKv } from './kv-read.js';
import {
  ACKS_BUCKET,
  BUNDLES_BUCKET,
  BUNDLES_HISTORY,
  keys,
  NODES_BUCKET,
  nodeProfileHash,
  parseNodePolicyKey,
  type Ack,
  type Announce,
  type Assignment,
  type CapabilityEntry,
} from './protocol.js';
import { StateStore } from './state-store.js';

const sc = StringCodec();

export interface BundleAgentOptions {
  /** NATS URL(s). */
  servers: string | string[];
  node: string;
  profile: NodeProfile;
  capabilities: readonly CapabilityEntry[];
  applier: BundleApplier;
  /** Local directory for the last applied bundles (created 0700). */
  stateDir: string;
  /** fsync state files (default true; benchmarks co-locating many sensors turn it off). */
  fsyncState?: boolean;
  logger: Logger;
  sensorVersion?: string;
  /** Wait between reconnect attempts (default 1000 ms). */
  reconnectTimeWaitMs?: number;
  /**
   * Re-announce this often while connected (default 30 s): the operator treats a node it has not heard from for
   * its stale-after period (default 120 s) as gone (docs/adr/0006-nats-kv-key-design.md, "Stale nodes").
   */
  announceIntervalMs?: number;
  now?: () => Date;
}

interface Current {
  assignment: Assignment;
  /** Outcome of the last apply of assignment.contentHash. */
  outcome: ApplyOutcome;
  refusals: string[];
}

type AckBody = Omit<Ack, 'at'>;

export class BundleAgent {
  private readonly store: StateStore;
  /** What enforces now, per policy uid (applied bundles only). */
  private readonly applied = new Map<string, Current>();
  /** Last outcome per policy uid for the assignment last seen (also refused/failed ones). */
  private readonly lastSeen = new Map<string, Current>();
  private readonly acked = new Map<string, string>();
  private nc: NatsConnection | undefined;
  private bundlesKv: KV | undefined;
  private acksKv: KV | undefined;
  private notices: Subscription | undefined;
  private nodesKv: KV | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  /**
   * The operator had declared this node gone (its announce was deleted) when this resync began: it tombstoned the
   * node's assignments and will re-plan it now that it announced again. Until REPLAN_WAIT_MS have passed, removals
   * wait (deferredRemovals) so the bundles this node enforces do not go and come back.
   */
  private replanTimer: NodeJS.Timeout | undefined;
  private readonly deferredRemovals = new Set<string>();
  /** Revision of the entry last handled per assignment key (since the last resync). */
  private readonly handledRevision = new Map<string, number>();
  /** Keys with a change notice waiting in the chain: key → the latest notice (coalesced). */
  private readonly pendingNotice = new Map<string, Msg>();
  /** Policies that changed by notice since the current resync began (its snapshot may predate them). */
  private readonly noticedThisSync = new Set<string>();
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private syncs = 0;
  private readonly syncWaiters: (() => void)[] = [];
  private readonly log: Logger;
  private readonly now: () => Date;

  private constructor(private readonly opts: BundleAgentOptions) {
    this.store = new StateStore(opts.stateDir, opts.fsyncState ?? true);
    this.log = opts.logger.child({ component: 'bundle-agent', node: opts.node });
    this.now = opts.now ?? (() => new Date());
  }

  /** Re-applies the stored bundles (no NATS needed), then connects in the background. */
  static async start(opts: BundleAgentOptions): Promise<BundleAgent> {
    const agent = new BundleAgent(opts);
    await agent.restoreLocal();
    agent.connectLoop();
    return agent;
  }

  /** Policies currently applied on this node: uid → generation. */
  appliedPolicies(): Map<string, number> {
    return new Map([...this.applied].map(([uid, c]) => [uid, c.assignment.generation]));
  }

  /** Resolves after the next complete resync (initial state of the node's keys processed). */
  nextSync(): Promise<void> {
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Number of completed resyncs (1 after the first connect, +1 per reconnect). */
  get syncCount(): number {
    return this.syncs;
  }

  /** Resolves once everything received so far has been applied and acked. */
  idle(): Promise<void> {
    return this.chain;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.notices?.unsubscribe();
    if (this.heartbeat) clearInterval(this.heartbeat);
    if (this.replanTimer) clearTimeout(this.replanTimer);
    await this.chain;
    await this.nc?.close();
  }

  private async restoreLocal(): Promise<void> {
    for (const s of this.store.list()) {
      const bundle = bundleFromJson(s.bundle);
      const outcome = await this.safeApply(bundle);
      const cur = { assignment: s.assignment, outcome, refusals: refusalsOf(bundle) };
      this.lastSeen.set(s.assignment.policyUid, cur);
      if (outcome.result === 'applied') this.applied.set(s.assignment.policyUid, cur);
      this.log.info({ policy: s.assignment.policyName, generation: s.assignment.generation, result: outcome.result }, 'restored bundle from local state');
    }
  }

  private connectLoop(): void {
    void (async () => {
      // The first connection is retried here rather than with nats.js's waitOnFirstConnect, which cannot be
      // cancelled: a sensor stopped while NATS is unreachable must not leave a connect attempt running.
      const wait = this.opts.reconnectTimeWaitMs ?? 1000;
      for (let attempt = 0; !this.nc; attempt++) {
        if (this.stopped) return;
        try {
          this.nc = await connect({
            servers: this.opts.servers,
            name: `vigil-sensor ${this.opts.node}`,
            maxReconnectAttempts: -1,
            reconnectTimeWait: wait,
          });
        } catch (e) {
          if (attempt === 0) this.log.warn({ err: e }, 'cannot connect to NATS yet; retrying (applied bundles keep enforcing)');
          await new Promise((r) => setTimeout(r, wait));
        }
      }
      if (this.stopped) {
        await this.nc.close();
        return;
      }
      this.log.info({ server: this.nc.getServer() }, 'connected to NATS');
      await this.resync();
      const every = this.opts.announceIntervalMs ?? 30_000;
      this.heartbeat = setInterval(() => {
        const kv = this.nodesKv;
        if (kv && !this.stopped && !this.nc?.isClosed()) void this.announce(kv).catch((err: unknown) => this.log.debug({ err }, 're-announce failed; retried on the next beat'));
      }, every);
      this.heartbeat.unref();
      for await (const s of this.nc.status()) {
        if (this.stopped) break;
        if (s.type === 'reconnect') {
          this.log.info({}, 'reconnected to NATS; resyncing');
          await this.resync();
        } else if (s.type === 'disconnect') this.log.warn({}, 'disconnected from NATS; applied bundles keep enforcing');
      }
    })().catch((e: unknown) => this.log.error({ err: e }, 'NATS transport loop failed'));
  }

  private async resync(): Promise<void> {
    const nc = this.nc;
    if (!nc || this.stopped) return;
    try {
      const js = nc.jetstream();
      this.bundlesKv = await js.views.kv(BUNDLES_BUCKET, { history: BUNDLES_HISTORY });
      this.acksKv = await js.views.kv(ACKS_BUCKET);
      this.nodesKv = await js.views.kv(NODES_BUCKET);
      const before = await this.nodesKv.get(keys.node(this.opts.node));
      if (this.lastSeen.size > 0 && (!before || before.operation !== 'PUT')) this.awaitReplan();
      await this.announce(this.nodesKv);
      // Acks the operator removed while this node was away (it was judged stale) must be written again.
      if (this.syncs > 0) this.acked.clear();
      for (const e of await readKv(this.acksKv, keys.acksOfNode(this.opts.node), true)) {
        const parsed = parseNodePolicyKey(e.key);
        // On the first sync of this process every policy is acked again (fresh `at`: the node is alive and
        // enforcing); on reconnects only what changed.
        if (parsed) this.acked.set(parsed.policyUid, this.syncs === 0 ? '' : ackIdentity(JSON.parse(sc.decode(e.value)) as Ack));
      }
      // Change notices: a core subscription to the subjects the bucket stores this node's assignments under.
      // nats-server 2.9 pays ~1 ms of CPU per stored message for each filtered JetStream consumer on the
      // stream (measured with 100 sensors: docs/benchmarks.md), so sensors hold no consumer on vigil-bundles.
      // A notice carries the value as published, which may be a write the stream refused (a fenced former
      // leader): it is only a cue to read the key from the bucket, the one source of truth.
      this.notices?.unsubscribe();
      const prefix = `$KV.${BUNDLES_BUCKET}.`;
      this.notices = nc.subscribe(prefix + keys.assignmentsOfNode(this.opts.node), {
        callback: (err, m) => {
          if (!err) this.notice(m.subject.slice(prefix.length), m);
        },
      });
      await nc.flush(); // subscribed before the snapshot is read: no change falls in between
      this.handledRevision.clear();
      this.noticedThisSync.clear();
      const seen = new Set<string>();
      for (const e of await readKv(this.bundlesKv, keys.assignmentsOfNode(this.opts.node))) {
        const parsed = parseNodePolicyKey(e.key);
        if (!parsed) continue;
        if (e.operation === 'PUT') seen.add(parsed.policyUid);
        this.enqueue(() => this.handleEntry(e, parsed.policyUid));
      }
      this.enqueue(() => this.finishSync(seen));
    } catch (e) {
      this.log.error({ err: e }, 'resync failed; will retry on the next reconnect');
    }
  }

  /** A change notice for `key`: read the bucket (coalescing notices that pile up for the same key). */
  private notice(key: string, m: Msg): void {
    const parsed = parseNodePolicyKey(key);
    if (!parsed || parsed.kind !== 'assign') return;
    const waiting = this.pendingNotice.has(key);
    this.pendingNotice.set(key, m);
    if (waiting) return;
    this.enqueue(async () => {
      const latest = this.pendingNotice.get(key) as Msg;
      this.pendingNotice.delete(key);
      this.noticedThisSync.add(parsed.policyUid);
      const e = await this.readNoticed(key, latest);
      if (e) await this.handleEntry(e, parsed.policyUid);
    });
  }

  /**
   * Reads `key` until the bucket holds what the notice announced: a notice can overtake the stream's write of
   * the same message. After a few tries the bucket's value wins (the write was refused or already superseded).
   */
  private async readNoticed(key: string, m: Msg): Promise<KvEntry | undefined> {
    const op = m.headers?.get('KV-Operation') || 'PUT';
    let e: KvEntry | null = null;
    for (let attempt = 0; attempt < NOTICE_READ_TRIES; attempt++) {
      if (this.stopped || !this.bundlesKv) return undefined;
      e = await this.bundlesKv.get(key);
      if (e && (op === 'PUT' ? e.operation === 'PUT' && sameBytes(e.value, m.data) : e.operation !== 'PUT')) break;
      if (attempt < NOTICE_READ_TRIES - 1) await new Promise((r) => setTimeout(r, 5 * 2 ** attempt));
    }
    return e ?? undefined;
  }

  private async handleEntry(e: KvEntry, uid: string): Promise<void> {
    if (e.revision <= (this.handledRevision.get(e.key) ?? 0)) return; // already handled this or a newer one
    this.handledRevision.set(e.key, e.revision);
    await this.handle(e, uid);
  }

  private finishSync(seen: ReadonlySet<string>): Promise<void> {
    return (async () => {
      // Policies the operator removed while we were away and whose tombstones are gone from history.
      for (const uid of [...this.lastSeen.keys()]) if (!seen.has(uid) && !this.noticedThisSync.has(uid)) await this.removeOrDefer(uid);
      this.syncs++;
      for (const w of this.syncWaiters.splice(0)) w();
    })();
  }

  private enqueue(fn: () => Promise<void>): void {
    this.chain = this.chain.then(fn).catch((err: unknown) => this.log.error({ err }, 'handling an assignment failed'));
  }

  private async announce(nodesKv: KV): Promise<void> {
    const a: Announce = {
      node: this.opts.node,
      sensorVersion: this.opts.sensorVersion ?? '0.1.0',
      profileHash: nodeProfileHash(this.opts.profile),
      profile: this.opts.profile,
      capabilities: this.opts.capabilities.map((c) => ({ id: c.id, available: c.available, detail: c.detail })),
      announcedAt: this.now().toISOString(),
    };
    await nodesKv.put(keys.node(this.opts.node), sc.encode(JSON.stringify(a)));
  }

  private async handle(e: KvEntry, uid: string): Promise<void> {
    if (this.stopped) return;
    if (e.operation !== 'PUT') {
      await this.removeOrDefer(uid);
      return;
    }
    this.deferredRemovals.delete(uid);
    const a = JSON.parse(sc.decode(e.value)) as Assignment;
    const prev = this.lastSeen.get(uid);
    if (prev && prev.assignment.contentHash === a.contentHash && prev.outcome.result === 'applied') {
      // Same bytes (maybe a new generation with identical content): nothing to apply, ack the new generation.
      const cur = { ...prev, assignment: a };
      this.lastSeen.set(uid, cur);
      this.applied.set(uid, cur);
      if (prev.assignment.generation !== a.generation) this.saveApplied(cur);
      await this.ack(cur);
      return;
    }
    const entry = await this.bundlesKv?.get(a.bundleKey);
    if (!entry || entry.operation !== 'PUT') {
      this.log.info({ policy: a.policyName, generation: a.generation }, 'bundle already superseded; waiting for the newer assignment');
      return;
    }
    let bundle: Bundle;
    let outcome: ApplyOutcome;
    try {
      bundle = bundleFromJson(JSON.parse(sc.decode(entry.value)) as BundleJson);
    } catch (err) {
      await this.recordOutcome(a, { result: 'failed', reason: `bundle does not decode: ${(err as Error).message}` }, []);
      return;
    }
    if (bundle.version.grammarVersion !== BUNDLE_GRAMMAR_VERSION)
      outcome = { result: 'refused', reason: `bundle grammar ${bundle.version.grammarVersion}, this sensor reads ${BUNDLE_GRAMMAR_VERSION}` };
    else outcome = await this.safeApply(bundle);
    await this.recordOutcome(a, outcome, refusalsOf(bundle), bundle);
  }

  private async recordOutcome(a: Assignment, outcome: ApplyOutcome, refusals: string[], bundle?: Bundle): Promise<void> {
    const cur: Current = { assignment: a, outcome, refusals };
    this.lastSeen.set(a.policyUid, cur);
    if (outcome.result === 'applied' && bundle) {
      this.applied.set(a.policyUid, cur);
      this.store.save({ assignment: a, bundle: bundleToJson(bundle) });
    }
    this.log.info({ policy: a.policyName, generation: a.generation, result: outcome.result, reason: outcome.reason }, 'bundle handled');
    await this.ack(cur);
  }

  private saveApplied(cur: Current): void {
    const stored = this.store.list().find((s) => s.assignment.policyUid === cur.assignment.policyUid);
    if (stored) this.store.save({ assignment: cur.assignment, bundle: stored.bundle });
  }

  private async safeApply(bundle: Bundle): Promise<ApplyOutcome> {
    try {
      return await this.opts.applier.apply(bundle);
    } catch (err) {
      return { result: 'failed', reason: `applier threw: ${(err as Error).message}` };
    }
  }

  private awaitReplan(): void {
    if (this.replanTimer) clearTimeout(this.replanTimer);
    this.log.info({ waitMs: REPLAN_WAIT_MS }, 'the operator had removed this node; removals wait for it to re-plan the node');
    this.replanTimer = setTimeout(() => {
      this.replanTimer = undefined;
      this.enqueue(async () => {
        // Whatever the operator did not assign again by now is really gone.
        for (const uid of [...this.deferredRemovals]) {
          this.deferredRemovals.delete(uid);
          const e = await this.bundlesKv?.get(keys.assignment(this.opts.node, uid));
          if (e && e.operation === 'PUT') await this.handleEntry(e, uid);
          else await this.removePolicy(uid);
        }
      });
    }, REPLAN_WAIT_MS);
    this.replanTimer.unref();
  }

  private async removeOrDefer(uid: string): Promise<void> {
    if (this.replanTimer && this.lastSeen.has(uid)) this.deferredRemovals.add(uid);
    else await this.removePolicy(uid);
  }

  private async removePolicy(uid: string): Promise<void> {
    if (!this.lastSeen.has(uid) && !this.acked.has(uid)) return;
    await this.opts.applier.remove(uid);
    this.store.remove(uid);
    this.applied.delete(uid);
    this.lastSeen.delete(uid);
    if (this.acked.has(uid)) {
      this.acked.delete(uid);
      await this.acksKv?.delete(keys.ack(this.opts.node, uid)).catch((err: unknown) => this.log.warn({ err }, 'could not delete ack'));
    }
    this.log.info({ policy: uid }, 'policy removed from this node');
  }

  private async ack(cur: Current): Promise<void> {
    const body: AckBody = {
      node: this.opts.node,
      policyUid: cur.assignment.policyUid,
      generation: cur.assignment.generation,
      contentHash: cur.assignment.contentHash,
      result: cur.outcome.result,
      reason: cur.outcome.reason,
      refusals: cur.refusals,
      ...(cur.outcome.hooks ? { hooks: cur.outcome.hooks } : {}),
    };
    const identity = ackIdentity(body);
    if (this.acked.get(body.policyUid) === identity || !this.acksKv) return;
    const ack: Ack = { ...body, at: this.now().toISOString() };
    await this.acksKv.put(keys.ack(this.opts.node, body.policyUid), sc.encode(JSON.stringify(ack)));
    this.acked.set(body.policyUid, identity);
    this.log.debug({ policy: body.policyUid, generation: body.generation, result: body.result }, 'acked');
  }
}

/** How long a node the operator had removed waits for new assignments before removing what it enforces. */
const REPLAN_WAIT_MS = 30_000;

/** Reads of a noticed key before the bucket's current value is taken as it is (5, 10, 20, 40 ms apart). */
const NOTICE_READ_TRIES = 5;

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.from(a.buffer, a.byteOffset, a.length).equals(Buffer.from(b.buffer, b.byteOffset, b.length));
}

function ackIdentity(a: AckBody): string {
  return JSON.stringify([a.policyUid, a.generation, a.contentHash, a.result, a.reason, a.refusals, a.hooks ?? []]);
}

function refusalsOf(bundle: Bundle): string[] {
  return bundle.hooks.filter((h) => h.mechanism === 'none').map((h) => `hook ${h.id}: ${h.refusal ?? 'refused'}`);
}
