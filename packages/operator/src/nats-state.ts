// What the sensors said, mirrored from NATS KV: announces (vigil-nodes) and acks (vigil-acks). Watches restart on
// every reconnect, so a NATS restart costs a re-read, never a missed ack.
import type { Logger } from 'pino';
import type { AckSummary, HookPlacement } from './conditions.js';
import { StringCodec, type KvEntry, type NatsConnection, type QueuedIterator } from 'nats';
import { ACKS_BUCKET, NODES_BUCKET, parseNodeKey, parseNodePolicyKey, readKv, type Ack, type Announce } from '@vigil/sensor';

const sc = StringCodec();

export class SensorState {
  readonly announces = new Map<string, Announce>();
  /** node → when this process last heard its announce (performance.now() ms; estimated from the entry's age at start). */
  readonly lastHeard = new Map<string, number>();
  /** policy uid → node → latest ack (what status needs of it; content hashes shared between nodes). */
  readonly acks = new Map<string, Map<string, AckSummary>>();
  /** Identical per-hook placements (most nodes of a profile report the same) are kept once. */
  private readonly hookLists = new Map<string, readonly HookPlacement[]>();
  private readonly hashes = new Map<string, string>();
  private watches: QueuedIterator<KvEntry>[] = [];
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly onAnnounce: (node: string) => void,
    private readonly onAck: (policyUid: string, node: string) => void,
    private readonly onHeartbeat: (node: string) => void = () => undefined,
  ) {}

  async start(): Promise<void> {
    await this.watchAll();
    void (async () => {
      for await (const s of this.nc.status()) {
        if (this.stopped) break;
        if (s.type === 'reconnect') await this.watchAll().catch((err: unknown) => this.log.error({ err }, 'rewatching sensor state failed'));
      }
    })();
  }

  stop(): void {
    this.stopped = true;
    for (const w of this.watches) w.stop();
  }

  private async watchAll(): Promise<void> {
    for (const w of this.watches) w.stop();
    const js = this.nc.jetstream();
    const nodes = await js.views.kv(NODES_BUCKET);
    const acks = await js.views.kv(ACKS_BUCKET);
    // The first publish must see every announced node: planning with a partial view would tombstone the
    // assignments of nodes not yet read. So the current state is read in full (readKv) and applied before this
    // resolves, and the watches start right after it. (A watch's initializedFn can run before the entries it
    // counted have reached the loop that consumes them: at 100 nodes a restarted operator planned for some of
    // them only and rewrote 70,000 assignments.)
    const follow = async (kv: typeof nodes, key: string): Promise<QueuedIterator<KvEntry>> => {
      const before = (await kv.status()).streamInfo.state.last_seq;
      const current = await readKv(kv, key);
      let last = before;
      for (const e of current) {
        this.apply(e, false);
        last = Math.max(last, e.revision);
      }
      // Every write after the state just read has a higher stream sequence.
      const w = await kv.watch({ key, resumeFromRevision: last + 1 });
      void this.consume(w);
      return w;
    };
    this.watches = [await follow(nodes, 'node.>'), await follow(acks, 'ack.>')];
  }

  private async consume(w: QueuedIterator<KvEntry>): Promise<void> {
    try {
      for await (const e of w) this.apply(e, true);
    } catch (err) {
      this.log.error({ err }, 'sensor state watch failed');
    }
  }

  private apply(e: KvEntry, live: boolean): void {
    const node = parseNodeKey(e.key);
    if (node !== undefined) {
      if (e.operation !== 'PUT') {
        this.announces.delete(node);
        this.lastHeard.delete(node);
        this.onAnnounce(node);
        return;
      }
      const a = JSON.parse(sc.decode(e.value)) as Announce;
      const prev = this.announces.get(node);
      this.announces.set(node, a);
      // Live updates count from their arrival (no clock comparison with the server); the initial state from
      // the entry's age as the server stamped it.
      this.lastHeard.set(node, live ? performance.now() : performance.now() - Math.max(0, Date.now() - e.created.getTime()));
      // A heartbeat (same profile and capabilities, new announcedAt) changes no plan: only liveness.
      if (!prev || prev.profileHash !== a.profileHash || JSON.stringify(prev.capabilities) !== JSON.stringify(a.capabilities)) this.onAnnounce(node);
      else this.onHeartbeat(node);
      return;
    }
    const np = parseNodePolicyKey(e.key);
    if (!np || np.kind !== 'ack') return;
    let m = this.acks.get(np.policyUid);
    if (!m) this.acks.set(np.policyUid, (m = new Map()));
    if (e.operation === 'PUT') {
      const a = JSON.parse(sc.decode(e.value)) as Ack;
      const summary: AckSummary = { contentHash: intern(this.hashes, a.contentHash, a.contentHash, 100_000), result: a.result, reason: a.reason };
      if (a.hooks && a.hooks.length > 0) {
        const list = a.hooks.map((h) => ({ path: h.path, hook: h.hook, mechanism: h.mechanism, state: h.state, reason: h.reason }));
        summary.hooks = intern(this.hookLists, JSON.stringify(list), list, 10_000);
      }
      m.set(np.node, summary);
    }
    else m.delete(np.node);
    this.onAck(np.policyUid, np.node);
  }
}

/** The value `pool` already holds for `key`, else `value` (kept for the next caller); a full pool starts over (only sharing is lost). */
function intern<T>(pool: Map<string, T>, key: string, value: T, max: number): T {
  const have = pool.get(key);
  if (have !== undefined) return have;
  if (pool.size >= max) pool.clear();
  pool.set(key, value);
  return value;
}
