// What the sensors said, mirrored from NATS KV: announces (vigil-nodes) and acks (vigil-acks). Watches restart on
// every reconnect, so a NATS restart costs a re-read, never a missed ack.
import type { Logger } from 'pino';
import { StringCodec, type KvEntry, type NatsConnection, type QueuedIterator } from 'nats';
import { ACKS_BUCKET, NODES_BUCKET, parseNodeKey, parseNodePolicyKey, type Ack, type Announce } from '@vigil/sensor';

const sc = StringCodec();

export class SensorState {
  readonly announces = new Map<string, Announce>();
  /** policy uid → node → latest ack. */
  readonly acks = new Map<string, Map<string, Ack>>();
  private watches: QueuedIterator<KvEntry>[] = [];
  private stopped = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: Logger,
    private readonly onAnnounce: (node: string) => void,
    private readonly onAck: (policyUid: string, node: string) => void,
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
    // assignments of nodes not yet read. Wait until both watches delivered the buckets' current state.
    const initial: Promise<void>[] = [];
    const watchFrom = async (kv: typeof nodes, key: string): Promise<QueuedIterator<KvEntry>> => {
      let done: () => void = () => undefined;
      initial.push(new Promise<void>((r) => (done = r)));
      const w = await kv.watch({ key, initializedFn: () => done() });
      void this.consume(w);
      return w;
    };
    this.watches = [await watchFrom(nodes, 'node.>'), await watchFrom(acks, 'ack.>')];
    await Promise.all(initial);
  }

  private async consume(w: QueuedIterator<KvEntry>): Promise<void> {
    try {
      for await (const e of w) this.apply(e);
    } catch (err) {
      this.log.error({ err }, 'sensor state watch failed');
    }
  }

  private apply(e: KvEntry): void {
    const node = parseNodeKey(e.key);
    if (node !== undefined) {
      if (e.operation === 'PUT') this.announces.set(node, JSON.parse(sc.decode(e.value)) as Announce);
      else this.announces.delete(node);
      this.onAnnounce(node);
      return;
    }
    const np = parseNodePolicyKey(e.key);
    if (!np || np.kind !== 'ack') return;
    let m = this.acks.get(np.policyUid);
    if (!m) this.acks.set(np.policyUid, (m = new Map()));
    if (e.operation === 'PUT') m.set(np.node, JSON.parse(sc.decode(e.value)) as Ack);
    else m.delete(np.node);
    this.onAck(np.policyUid, np.node);
  }
}
