// Node liveness: which announced sensors get assignments, and the clean-up of nodes that are gone
// (docs/adr/0006-nats-kv-key-design.md, "Stale nodes"). nats-server 2.9 has no per-key TTL, so nothing expires
// by itself: a sensor re-announces every 30 s while connected, and a node is gone when
//   - its sensor has not announced for staleAfterMs (default 120 s: four missed beats), or
//   - it needs a Kubernetes Node object and that object has been missing for staleAfterMs.
// A gone node gets no assignments (the next publish tombstones them, so status.nodes.desired stops counting it);
// its announce and acks are then deleted, each fenced by the revision read just before, so a sensor that came
// back in the meantime keeps what it wrote. A Node object that is missing takes the node out of the plan at once
// (as before); only the clean-up of its announce and acks waits for the grace period.
import type { Logger } from 'pino';
import type { KV } from 'nats';
import { keys, readKv, type Announce } from '@vigil/sensor';
import type { SensorState } from '../nats-state.js';

export const DEFAULT_STALE_AFTER_MS = 120_000;

export class NodeLivenessController {
  /** node → performance.now() when its Node object was first seen missing. */
  private readonly missingSince = new Map<string, number>();
  /** Nodes whose announce and acks this controller deleted (tests, logs). */
  removed = 0;

  constructor(
    private readonly nodesKv: KV,
    private readonly acksKv: KV,
    private readonly log: Logger,
    readonly staleAfterMs = DEFAULT_STALE_AFTER_MS,
    private readonly now: () => number = () => performance.now(),
  ) {}

  private stale(sensors: SensorState, node: string): boolean {
    return this.now() - (sensors.lastHeard.get(node) ?? -Infinity) > this.staleAfterMs;
  }

  /** Announced nodes that get assignments: heard within staleAfterMs and, when nodeNames is given, with a Node object. */
  live(sensors: SensorState, nodeNames: ReadonlySet<string> | undefined): Announce[] {
    const out: Announce[] = [];
    for (const [node, a] of sensors.announces) {
      if (this.stale(sensors, node)) continue;
      if (nodeNames && !nodeNames.has(node)) continue;
      out.push(a);
    }
    return out;
  }

  /** Deletes announce and acks of nodes gone for longer than staleAfterMs. Returns the nodes cleaned up. */
  async cleanup(sensors: SensorState, nodeNames: ReadonlySet<string> | undefined): Promise<string[]> {
    const t = this.now();
    for (const n of [...this.missingSince.keys()]) if (!sensors.announces.has(n) || nodeNames?.has(n)) this.missingSince.delete(n);
    const gone: string[] = [];
    for (const node of sensors.announces.keys()) {
      if (nodeNames && !nodeNames.has(node)) {
        const since = this.missingSince.get(node) ?? t;
        this.missingSince.set(node, since);
        if (t - since > this.staleAfterMs) gone.push(node);
      } else if (this.stale(sensors, node)) gone.push(node);
    }
    const done: string[] = [];
    for (const node of gone) if (await this.remove(node)) done.push(node);
    return done;
  }

  private async remove(node: string): Promise<boolean> {
    const ann = await this.nodesKv.get(keys.node(node));
    let conflicts = 0;
    const fenced = async (op: () => Promise<unknown>): Promise<void> => {
      try {
        await op();
      } catch (err) {
        if (!isWrongLastSequence(err)) throw err;
        conflicts++; // the sensor wrote again since we read it: it is back, leave its key alone
      }
    };
    for (const e of await readKv(this.acksKv, keys.acksOfNode(node), true)) await fenced(() => this.acksKv.delete(e.key, { previousSeq: e.revision }));
    if (ann && ann.operation === 'PUT') await fenced(() => this.nodesKv.delete(ann.key, { previousSeq: ann.revision }));
    this.missingSince.delete(node);
    this.removed++;
    this.log.info({ node, staleAfterMs: this.staleAfterMs, conflicts }, 'node gone: removed its announce and acks');
    return true;
  }
}

function isWrongLastSequence(e: unknown): boolean {
  const err = e as { api_error?: { err_code?: number }; message?: string };
  return err.api_error?.err_code === 10071 || /wrong last sequence/i.test(err.message ?? '');
}
