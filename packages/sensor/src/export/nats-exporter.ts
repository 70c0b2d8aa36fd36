// The sensor's event stream on NATS (`vigil-sensor run --nats URL`): events go through a bounded in-memory queue
// to NatsEventPublisher (subjects and schema in docs/events.md "NATS"). The ring-buffer drain only ever calls
// offer(), which never waits and never throws: while NATS is unreachable, or slower than the event rate so the
// queue is full, events are dropped and counted (stats()). Encoding and publishing happen off the drain, in
// batches; after each batch the exporter waits for the server's PONG (nc.flush()), so at most one batch is in
// flight and nats.js's own (unbounded) outbound buffer never grows with a stalled server.
// It has its own NATS connection, independent of the bundle transport's: events never wait behind KV traffic.
import type { Logger } from 'pino';
import { connect, type NatsConnection } from 'nats';
import type { KtimeClock } from '../events/exec-id.js';
import type { SensorEvent } from './model.js';
import { NatsEventPublisher } from './nats-events.js';
import type { PodSource } from './json.js';

export interface NatsEventExporterOptions {
  servers: string | string[];
  node: string;
  clock: KtimeClock;
  logger: Logger;
  /** Also publish the JSON twin on `<subject>.json` (default false). */
  json?: boolean;
  /** Pod attribution for Process.pod (identity/enrich.ts). */
  pods?: PodSource;
  /** Events held while publishing is behind (default 8192); beyond it events are dropped and counted. */
  maxQueue?: number;
  /** Events published per batch before waiting for the server's PONG (default 512). */
  batch?: number;
  /** Wait between connection attempts (default 1000 ms). */
  reconnectTimeWaitMs?: number;
}

export interface NatsExportStats {
  published: number;
  /** Dropped because NATS was not connected when the event came. */
  droppedDisconnected: number;
  /** Dropped because maxQueue events were already waiting (NATS slower than the event rate). */
  droppedQueueFull: number;
  queued: number;
  connected: boolean;
}

/** What the composition root talks to; DisabledEventExport when events do not go to NATS. */
export interface EventExport {
  offer(ev: SensorEvent): void;
  stats(): NatsExportStats | undefined;
  close(): Promise<void>;
}

export const DisabledEventExport: EventExport = {
  offer: () => undefined,
  stats: () => undefined,
  close: () => Promise.resolve(),
};

export class NatsEventExporter implements EventExport {
  private nc: NatsConnection | undefined;
  private publisher: NatsEventPublisher | undefined;
  private connected = false;
  private queue: SensorEvent[] = [];
  private draining = false;
  private stopped = false;
  private published = 0;
  private droppedDisconnected = 0;
  private droppedQueueFull = 0;
  private readonly maxQueue: number;
  private readonly batch: number;
  private readonly log: Logger;
  private readonly connectedWaiters: (() => void)[] = [];
  private loop: Promise<void> = Promise.resolve();

  private constructor(private readonly o: NatsEventExporterOptions) {
    this.maxQueue = o.maxQueue ?? 8192;
    this.batch = o.batch ?? 512;
    this.log = o.logger.child({ component: 'nats-events' });
  }

  /** Starts connecting in the background; events offered before the first connection are dropped (counted). */
  static start(o: NatsEventExporterOptions): NatsEventExporter {
    const x = new NatsEventExporter(o);
    x.loop = x.connectLoop();
    return x;
  }

  /** Resolves once connected (tests, start-up logs). */
  whenConnected(): Promise<void> {
    if (this.connected) return Promise.resolve();
    return new Promise((resolve) => this.connectedWaiters.push(resolve));
  }

  offer(ev: SensorEvent): void {
    if (this.stopped) return;
    if (!this.connected) {
      this.droppedDisconnected++;
      return;
    }
    if (this.queue.length >= this.maxQueue) {
      this.droppedQueueFull++;
      return;
    }
    this.queue.push(ev);
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drain());
    }
  }

  stats(): NatsExportStats {
    return {
      published: this.published,
      droppedDisconnected: this.droppedDisconnected,
      droppedQueueFull: this.droppedQueueFull,
      queued: this.queue.length,
      connected: this.connected,
    };
  }

  /** Publishes what is queued (if connected, for at most 2 s) and closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    const nc = this.nc;
    if (nc && this.connected && this.publisher) {
      const pub = this.publisher;
      for (const ev of this.queue.splice(0)) this.publishOne(pub, ev);
      await Promise.race([nc.flush().catch(() => undefined), new Promise((r) => setTimeout(r, 2000).unref())]);
    }
    this.queue = [];
    // The status iterator does not end on close: wait for the loop only while it is still connecting.
    if (nc) await nc.close().catch(() => undefined);
    else await this.loop;
  }

  private publishOne(pub: NatsEventPublisher, ev: SensorEvent): void {
    try {
      pub.publish(ev);
      this.published++;
    } catch (err) {
      // A closed or draining connection: count it as not connected, never throw into the caller.
      this.droppedDisconnected++;
      this.log.debug({ err }, 'publishing an event failed');
    }
  }

  private async drain(): Promise<void> {
    try {
      while (!this.stopped && this.connected && this.queue.length > 0) {
        const pub = this.publisher;
        const nc = this.nc;
        if (!pub || !nc) break;
        const n = Math.min(this.batch, this.queue.length);
        for (const ev of this.queue.splice(0, n)) this.publishOne(pub, ev);
        // One batch in flight: the server has read everything before its PONG. A stalled server makes this wait,
        // and offer() drops once the queue is full meanwhile.
        await nc.flush().catch(() => undefined);
      }
    } finally {
      this.draining = false;
      if (!this.stopped && this.connected && this.queue.length > 0) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    }
  }

  private setConnected(v: boolean): void {
    this.connected = v;
    if (v) {
      for (const w of this.connectedWaiters.splice(0)) w();
      if (this.queue.length > 0 && !this.draining) {
        this.draining = true;
        setImmediate(() => void this.drain());
      }
    }
  }

  private async connectLoop(): Promise<void> {
    const wait = this.o.reconnectTimeWaitMs ?? 1000;
    for (let attempt = 0; !this.nc; attempt++) {
      if (this.stopped) return;
      try {
        this.nc = await connect({ servers: this.o.servers, name: `vigil-sensor events ${this.o.node}`, maxReconnectAttempts: -1, reconnectTimeWait: wait });
      } catch (err) {
        if (attempt === 0) this.log.warn({ err }, 'cannot connect to NATS yet; events are dropped (and counted) until it is reachable');
        await new Promise((r) => setTimeout(r, wait));
      }
    }
    const nc = this.nc;
    if (this.stopped) {
      await nc.close();
      return;
    }
    this.publisher = new NatsEventPublisher({ nc, node: this.o.node, clock: this.o.clock, json: this.o.json ?? false, ...(this.o.pods ? { pods: this.o.pods } : {}) });
    this.setConnected(true);
    this.log.info({ server: nc.getServer(), json: this.o.json ?? false }, 'publishing events to NATS');
    try {
      for await (const s of nc.status()) {
        if (this.stopped) break;
        if (s.type === 'disconnect') {
          this.setConnected(false);
          this.log.warn({ dropped: this.droppedDisconnected }, 'disconnected from NATS; dropping events until reconnected');
        } else if (s.type === 'reconnect') {
          this.setConnected(true);
          this.log.info({ droppedDisconnected: this.droppedDisconnected, droppedQueueFull: this.droppedQueueFull }, 'reconnected to NATS; publishing events again');
        }
      }
    } catch (err) {
      if (!this.stopped) this.log.error({ err }, 'NATS event export loop failed');
    }
    this.setConnected(false);
  }
}
