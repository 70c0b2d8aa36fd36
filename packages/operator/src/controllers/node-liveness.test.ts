// Stale node clean-up through the real operator, a real nats-server and the test API server: a sensor that stops
// announcing, and a node whose Node object is deleted, stop counting in status.nodes.desired; after the grace
// period their announce and acks are gone from NATS, and a sensor that comes back is counted again.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { connect, type KV, type NatsConnection } from 'nats';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACKS_BUCKET, BUNDLES_BUCKET, keys, NODES_BUCKET, readKv, RecordingApplier } from '@vigil/sensor';
import type { PolicyObject } from './policy-ref.js';
import { eventually, policyBody, startSystem, type System } from '../test-support.js';

const G = { group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies' };
const STALE_MS = 1500;
const BEAT_MS = 200;

describe('stale nodes (operator + nats-server + test API server)', () => {
  let sys: System;
  let nc: NatsConnection;
  let nodesKv: KV;
  let acksKv: KV;
  let bundlesKv: KV;
  const dirs: string[] = [];
  beforeAll(async () => {
    sys = await startSystem();
    for (const n of ['live.example', 'quiet.example', 'deleted.example']) await sys.addNode(n);
    await sys.startOperator({ staleAfterMs: STALE_MS });
    nc = await connect({ servers: sys.nats.url });
    const js = nc.jetstream();
    nodesKv = await js.views.kv(NODES_BUCKET);
    acksKv = await js.views.kv(ACKS_BUCKET);
    bundlesKv = await js.views.kv(BUNDLES_BUCKET);
  });
  afterAll(async () => {
    await nc.close();
    await sys.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
  const get = async (): Promise<PolicyObject> => (await sys.custom.getClusterCustomObject({ ...G, name: 'stale' })) as PolicyObject;
  const nodesStatus = (want: { desired: number; applied: number }, what: string): Promise<PolicyObject> =>
    eventually(async () => {
      const p = await get();
      return p.status?.nodes?.desired === want.desired && p.status.nodes.applied === want.applied && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? p : undefined;
    }, what, 20_000);
  const present = async (kv: KV, key: string): Promise<boolean> => (await kv.get(key))?.operation === 'PUT';

  it('a silent sensor and a deleted Node stop counting; their announce and acks go after the grace period; a returning sensor counts again', async () => {
    const beat = { announceIntervalMs: BEAT_MS };
    await sys.startSensor('live.example', undefined, beat);
    const quietState = mkdtempSync(join(tmpdir(), 'vigil-quiet-'));
    dirs.push(quietState);
    const quiet = await sys.startSensor('quiet.example', undefined, { ...beat, stateDir: quietState });
    const deleted = await sys.startSensor('deleted.example', undefined, beat);
    await sys.custom.createClusterCustomObject({ ...G, body: policyBody('stale', 22) });
    const uid = (await nodesStatus({ desired: 3, applied: 3 }, '3/3 Ready')).metadata?.uid ?? '';
    expect(await present(acksKv, keys.ack('quiet.example', uid))).toBe(true);

    // The Node object of one node goes: it stops counting at once (its sensor still runs and announces).
    const deletedAt = Date.now();
    await sys.core.deleteNode({ name: 'deleted.example' });
    await nodesStatus({ desired: 2, applied: 2 }, 'the deleted Node no longer counted');
    expect(Date.now() - deletedAt).toBeLessThan(STALE_MS);
    // Both sensors stop (machines gone): the silent one stops counting once it is stale.
    await quiet.agent.stop();
    await deleted.agent.stop();
    const stoppedAt = Date.now();
    await nodesStatus({ desired: 1, applied: 1 }, 'the silent node no longer counted');
    expect(Date.now() - stoppedAt).toBeGreaterThanOrEqual(STALE_MS - 2 * BEAT_MS);
    // Their assignments are tombstoned, their announce and acks deleted; the live node keeps everything.
    await eventually(async () => ((await present(nodesKv, keys.node('quiet.example'))) || (await present(nodesKv, keys.node('deleted.example'))) ? undefined : true), 'announces deleted', 20_000);
    expect(await present(acksKv, keys.ack('quiet.example', uid))).toBe(false);
    expect(await present(acksKv, keys.ack('deleted.example', uid))).toBe(false);
    expect(await present(bundlesKv, keys.assignment('quiet.example', uid))).toBe(false);
    expect(await present(bundlesKv, keys.assignment('deleted.example', uid))).toBe(false);
    expect(await present(nodesKv, keys.node('live.example'))).toBe(true);
    expect(await present(acksKv, keys.ack('live.example', uid))).toBe(true);
    expect((await readKv(nodesKv, 'node.>', true)).map((e) => e.key)).toEqual([keys.node('live.example')]);

    // The quiet sensor comes back (same node and state directory, new process): it enforces its stored bundle at
    // once, is announced, re-planned and counted again, and never removes the policy in between although its
    // assignment had been tombstoned.
    const applier = new RecordingApplier();
    const back = await sys.startSensor('quiet.example', applier, { ...beat, stateDir: quietState });
    const ready = await nodesStatus({ desired: 2, applied: 2 }, 'the returning node counted again');
    expect(ready.status?.nodes?.summary).toBe('2/2');
    await back.agent.idle();
    expect(applier.calls).toEqual([{ op: 'apply', policyUid: uid, generation: 1, contentHash: expect.any(String) }]);
    expect(applier.active.has(uid)).toBe(true);
  }, 60_000);
});
