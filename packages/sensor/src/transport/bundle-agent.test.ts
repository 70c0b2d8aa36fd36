import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { connect, StringCodec, type KV, type NatsConnection } from 'nats';
import { bundleToJson, compilePolicy, fullNodeProfile, validatePolicy, type TracingPolicy } from '@vigil/policy-schema';
import { startNatsServer, type NatsServer } from '@vigil/testing';
import { NO_ENGINE_REASON, RecordingApplier, RefusingApplier, type BundleApplier } from './applier.js';
import { BundleAgent } from './bundle-agent.js';
import { nodeProfileFromCapabilities } from './node-profile.js';
import { ACKS_BUCKET, BUNDLES_BUCKET, BUNDLES_HISTORY, keys, NODES_BUCKET, nodeProfileHash, type Ack, type Announce, type Assignment, type HookStatus } from './protocol.js';

const sc = StringCodec();
const log = pino({ level: process.env['AGENT_LOG'] ?? 'silent' });
const profile = fullNodeProfile();

function policy(uid: string, generation: number, port: number): TracingPolicy {
  const r = validatePolicy({
    apiVersion: 'vigil.dev/v1alpha1',
    kind: 'TracingPolicy',
    metadata: { name: `p-${uid}`, uid, generation },
    spec: { kprobes: [{ call: 'tcp_connect', syscall: false, args: [{ index: 0, type: 'sock' }], selectors: [{ matchArgs: [{ index: 0, operator: 'DPort', values: [String(port)] }] }] }] },
  });
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return r.policy;
}

async function eventually<T>(fn: () => Promise<T | undefined>, what: string, ms = 5000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    // The test's own connection may still be reconnecting after a server restart: retry on errors too.
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('BundleAgent on a real nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection | undefined;
  let bundles: KV;
  let acks: KV;
  const dirs: string[] = [];
  const stateDir = (): string => {
    const d = mkdtempSync(join(tmpdir(), 'vigil-agent-'));
    dirs.push(d);
    return d;
  };
  /** The test's own client; after a server restart it makes a fresh connection rather than wait on the old one. */
  async function openReader(): Promise<void> {
    await nc?.close();
    nc = await connect({ servers: server.url });
    bundles = await nc.jetstream().views.kv(BUNDLES_BUCKET, { history: BUNDLES_HISTORY });
    acks = await nc.jetstream().views.kv(ACKS_BUCKET);
  }
  beforeAll(async () => {
    server = await startNatsServer();
    await openReader();
  });
  afterAll(async () => {
    await nc?.close();
    await server.stop();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  /** What the operator's publisher writes for one node (the operator package tests the publisher itself). */
  async function assign(node: string, uid: string, generation: number, port: number): Promise<Assignment> {
    const b = compilePolicy(policy(uid, generation, port), profile);
    const bundleKey = keys.bundle(uid, b.version.contentHash);
    await bundles.put(bundleKey, sc.encode(JSON.stringify(bundleToJson(b))));
    const a: Assignment = { policyUid: uid, policyName: `p-${uid}`, generation, contentHash: b.version.contentHash, bundleKey, profileHash: nodeProfileHash(profile) };
    await bundles.put(keys.assignment(node, uid), sc.encode(JSON.stringify(a)));
    return a;
  }
  const ackOf = async (node: string, uid: string, pred: (a: Ack) => boolean = () => true): Promise<Ack | undefined> => {
    const e = await acks.get(keys.ack(node, uid), undefined);
    if (!e || e.operation !== 'PUT') return undefined;
    const a = JSON.parse(sc.decode(e.value)) as Ack;
    return pred(a) ? a : undefined;
  };
  const start = (node: string, applier: BundleApplier, dir: string): Promise<BundleAgent> =>
    BundleAgent.start({ servers: server.url, node, profile, capabilities: [{ id: 'tp_btf', available: true, detail: '' }], applier, stateDir: dir, logger: log, reconnectTimeWaitMs: 50 });

  it('announces, applies only its own (dot-safe) keys, stores and acks; updates and tombstones follow', async () => {
    await assign('a.b', 'u-other', 1, 1);
    const mine = await assign('a', 'u-1', 1, 22);
    const applier = new RecordingApplier();
    const dir = stateDir();
    const agent = await start('a', applier, dir);
    try {
      await agent.nextSync();
      await agent.idle();
      expect(applier.calls).toEqual([{ op: 'apply', policyUid: 'u-1', generation: 1, contentHash: mine.contentHash }]);
      const ack = await eventually(() => ackOf('a', 'u-1'), 'ack');
      expect(ack).toMatchObject({ node: 'a', policyUid: 'u-1', generation: 1, contentHash: mine.contentHash, result: 'applied', reason: '' });
      const ann = (await (await (nc as NatsConnection).jetstream().views.kv(NODES_BUCKET)).get(keys.node('a')))?.value;
      expect((JSON.parse(sc.decode(ann ?? new Uint8Array())) as Announce).profileHash).toBe(nodeProfileHash(profile));
      expect(readdirSync(join(dir, 'bundles'))).toEqual(['u-1.json']);

      const g2 = await assign('a', 'u-1', 2, 443);
      await eventually(() => ackOf('a', 'u-1', (x) => x.generation === 2), 'generation 2 ack');
      expect(applier.active.get('u-1')?.version.contentHash).toBe(g2.contentHash);

      await bundles.delete(keys.assignment('a', 'u-1'));
      await eventually(async () => ((await ackOf('a', 'u-1')) ? undefined : true), 'ack deleted');
      expect(applier.calls.at(-1)).toEqual({ op: 'remove', policyUid: 'u-1' });
      expect(readdirSync(join(dir, 'bundles'))).toEqual([]);
    } finally {
      await agent.stop();
    }
  });

  it('acks carry the per-hook status the applier reports (mechanism, or refusal with the reason)', async () => {
    const mine = await assign('hk', 'u-hooks', 1, 22);
    const applier = new RecordingApplier();
    const hooks: HookStatus[] = [{ hookId: 1, path: 'spec.kprobes[0]', hook: 'tcp_connect', mechanism: 'none', state: 'refused', reason: 'kernel function hooks need kprobes or fentry, which this node lacks' }];
    applier.decide = () => ({ result: 'refused', reason: 'spec.kprobes[0] (tcp_connect): kernel function hooks need kprobes or fentry', hooks });
    const agent = await start('hk', applier, stateDir());
    try {
      await agent.nextSync();
      const ack = await eventually(() => ackOf('hk', 'u-hooks'), 'ack with hooks');
      expect(ack).toMatchObject({ contentHash: mine.contentHash, result: 'refused', hooks });
    } finally {
      await agent.stop();
    }
  });

  it('keeps enforcing while NATS is down, resyncs on reconnect, and a restarted sensor restores from disk and acks again', async () => {
    await assign('r1', 'u-r', 1, 22);
    const dir = stateDir();
    const applier = new RecordingApplier();
    const agent = await start('r1', applier, dir);
    try {
      await agent.nextSync();
      const first = await eventually(() => ackOf('r1', 'u-r'), 'first ack');
      const synced = agent.nextSync();
      await server.halt();
      await new Promise((r) => setTimeout(r, 200));
      expect(applier.active.has('u-r')).toBe(true); // nothing removed while disconnected
      await server.start();
      await openReader();
      await synced; // resync after reconnect
      const g2 = await assign('r1', 'u-r', 2, 8443);
      await eventually(() => ackOf('r1', 'u-r', (x) => x.contentHash === g2.contentHash), 'ack after reconnect');
      expect(agent.syncCount).toBeGreaterThanOrEqual(2);
      await agent.stop();

      // Restart with the same state dir: the stored bundle is applied before NATS is even reachable…
      await nc?.close();
      await server.halt();
      const again = new RecordingApplier();
      const agent2 = await start('r1', again, dir);
      try {
        expect(again.calls).toEqual([{ op: 'apply', policyUid: 'u-r', generation: 2, contentHash: g2.contentHash }]);
        // …and once NATS is back it acks again, without applying a second time.
        await server.start();
        await openReader();
        await eventually(() => ackOf('r1', 'u-r', (x) => x.at > first.at && x.generation === 2), 'fresh ack');
        await agent2.idle();
        expect(again.calls).toHaveLength(1);
      } finally {
        await agent2.stop();
      }
    } finally {
      await agent.stop();
    }
  });

  it('a write the bucket refused (a fenced former leader) reaches the sensor as a notice and is never applied', async () => {
    const mine = await assign('fz', 'u-f', 1, 22);
    const applier = new RecordingApplier();
    const agent = await start('fz', applier, stateDir());
    try {
      await agent.nextSync();
      await eventually(() => ackOf('fz', 'u-f'), 'ack');
      // What a stale leader would write: a valid bundle, and an assignment update fenced by an old revision.
      const b2 = compilePolicy(policy('u-f', 2, 443), profile);
      const bundleKey = keys.bundle('u-f', b2.version.contentHash);
      await bundles.put(bundleKey, sc.encode(JSON.stringify(bundleToJson(b2))));
      const stale: Assignment = { ...mine, generation: 2, contentHash: b2.version.contentHash, bundleKey };
      const seenByCore: string[] = [];
      const sub = (nc as NatsConnection).subscribe(`$KV.${BUNDLES_BUCKET}.${keys.assignment('fz', 'u-f')}`, { callback: (_e, m) => seenByCore.push(sc.decode(m.data)) });
      await (nc as NatsConnection).flush();
      await expect(bundles.update(keys.assignment('fz', 'u-f'), sc.encode(JSON.stringify(stale)), 1)).rejects.toThrow(/wrong last sequence/);
      await eventually(async () => (seenByCore.length > 0 ? true : undefined), 'the refused write on the core subject');
      expect(JSON.parse(seenByCore[0] as string)).toMatchObject({ generation: 2 }); // the notice carried it…
      await new Promise((r) => setTimeout(r, 300));
      await agent.idle();
      // …and the sensor read the bucket instead: still generation 1, applied once.
      expect(applier.calls).toEqual([{ op: 'apply', policyUid: 'u-f', generation: 1, contentHash: mine.contentHash }]);
      expect((await ackOf('fz', 'u-f'))?.generation).toBe(1);
      sub.unsubscribe();
    } finally {
      await agent.stop();
    }
  });

  it('the production applier refuses honestly and stores nothing', async () => {
    await assign('prod', 'u-p', 1, 22);
    const dir = stateDir();
    const agent = await start('prod', new RefusingApplier(), dir);
    try {
      const ack = await eventually(() => ackOf('prod', 'u-p'), 'refusal ack');
      expect(ack).toMatchObject({ result: 'refused', reason: NO_ENGINE_REASON });
      expect(existsSync(join(dir, 'bundles', 'u-p.json'))).toBe(false);
    } finally {
      await agent.stop();
    }
  });

  it('derives the NodeProfile from the probe table', () => {
    const p = nodeProfileFromCapabilities([
      { id: 'tp_btf', available: true },
      { id: 'kprobe', available: false },
      { id: 'send_signal', available: true },
    ]);
    expect(p.mechanisms).toMatchObject({ tpBtf: true, kprobe: false, bpfSendSignal: true, lsm: false });
  });
});
