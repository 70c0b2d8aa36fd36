import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { pino } from 'pino';
import { connect, StringCodec, type KV, type KvEntry, type NatsConnection } from 'nats';
import { fullNodeProfile, tracepointOnlyNodeProfile, validatePolicy, type TracingPolicy } from '@vigil/policy-schema';
import { keys, nodeProfileHash, readKv, type Assignment } from '@vigil/sensor';
import { startNatsServer, type NatsServer } from '@vigil/testing';
import { CompileCache, compilePlan, type DesiredPolicy, type KnownNode } from './plan.js';
import { BundlePublisher, openBundlesBucket, PublishError } from './publisher.js';

const sc = StringCodec();
const log = pino({ level: 'silent' });

export function testPolicy(name: string, uid: string, generation: number, port = 22): DesiredPolicy {
  const doc = {
    apiVersion: 'vigil.dev/v1alpha1',
    kind: 'TracingPolicy',
    metadata: { name, uid, generation },
    spec: {
      kprobes: [
        {
          call: 'tcp_connect',
          syscall: false,
          args: [{ index: 0, type: 'sock' }],
          selectors: [{ matchArgs: [{ index: 0, operator: 'DPort', values: [String(port)] }], matchActions: [{ action: 'Post' }] }],
        },
      ],
    },
  };
  const r = validatePolicy(doc);
  if (!r.ok) throw new Error(JSON.stringify(r.issues));
  return { uid, name, generation, policy: r.policy as TracingPolicy };
}

const full = fullNodeProfile();
const tpOnly = tracepointOnlyNodeProfile();
const node = (name: string, profile = full): KnownNode => ({ name, profile, profileHash: nodeProfileHash(profile) });

const entries = (kv: KV, filter: string): Promise<KvEntry[]> => readKv(kv, filter);
async function assignment(kv: KV, key: string): Promise<Assignment> {
  const e = await kv.get(key);
  if (!e || e.operation !== 'PUT') throw new Error(`${key} has no value`);
  return JSON.parse(sc.decode(e.value)) as Assignment;
}
function only<T>(xs: readonly T[]): T {
  expect(xs).toHaveLength(1);
  return xs[0] as T;
}

describe('BundlePublisher on a real nats-server', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc.close();
    await server.stop();
  });

  it('shares one bundle per profile, keeps dotted nodes apart, republishes nothing after a restart', async () => {
    const kv = await openBundlesBucket(nc);
    const nodes = [node('a'), node('a.b'), node('c.d.e', tpOnly)];
    const cache = new CompileCache();
    const plan = compilePlan([testPolicy('p1', 'uid-1', 1)], nodes, cache);
    expect(cache.compiles).toBe(2); // two distinct profiles
    expect(plan.bundles.size).toBe(2);
    const stats = await new BundlePublisher(kv, log).publish(plan);
    expect(stats).toEqual({ created: 5, updated: 0, deleted: 0, unchanged: 0 });

    const forA = await entries(kv, keys.assignmentsOfNode('a'));
    expect(forA.map((e) => e.key)).toEqual(['assign.a.uid-1']);
    const forAB = await entries(kv, keys.assignmentsOfNode('a.b'));
    expect(forAB.map((e) => e.key)).toEqual(['assign.a_2eb.uid-1']);
    const aa = JSON.parse(sc.decode(only(forA).value)) as Assignment;
    const ab = JSON.parse(sc.decode(only(forAB).value)) as Assignment;
    expect(aa.bundleKey).toBe(ab.bundleKey); // same profile, same bundle
    expect(await kv.get(aa.bundleKey)).not.toBeNull();

    // An operator restart: a fresh publisher and cache, same desired state → no write at all.
    const again = await new BundlePublisher(kv, log).publish(compilePlan([testPolicy('p1', 'uid-1', 1)], nodes, new CompileCache()));
    expect(again).toEqual({ created: 0, updated: 0, deleted: 0, unchanged: 5 });
  });

  it('updates on a new generation, keeps the old one for an invalid generation, tombstones deletions', async () => {
    const kv = await openBundlesBucket(nc);
    const pub = new BundlePublisher(kv, log);
    const nodes = [node('n1'), node('n2')];
    const cache = new CompileCache();
    await pub.publish(compilePlan([testPolicy('p2', 'uid-2', 1)], nodes, cache));
    const g1 = await assignment(kv, keys.assignment('n1', 'uid-2'));

    const s2 = await pub.publish(compilePlan([testPolicy('p2', 'uid-2', 2, 443)], nodes, cache));
    expect(s2).toMatchObject({ created: 1, updated: 2, deleted: 1 }); // new bundle, 2 assignments, old bundle purged
    const g2 = await assignment(kv, keys.assignment('n1', 'uid-2'));
    expect(g2.generation).toBe(2);
    expect((await kv.get(g1.bundleKey))?.operation).toBe('PURGE');

    // generation 3 is invalid: nothing changes on the nodes.
    const s3 = await pub.publish(compilePlan([{ uid: 'uid-2', name: 'p2', generation: 3, policy: undefined }], nodes, cache));
    expect(s3).toMatchObject({ created: 0, updated: 0, deleted: 0 });
    expect((await assignment(kv, keys.assignment('n2', 'uid-2'))).generation).toBe(2);

    // deleted: each node sees a tombstone (KV DEL) for its key, and the bundle goes.
    const watcher = await kv.watch({ key: keys.assignmentsOfNode('n1'), include: 'updates' as never });
    const s4 = await pub.publish(compilePlan([], nodes, cache));
    expect(s4).toMatchObject({ deleted: 3 });
    for await (const e of watcher) {
      expect(e.operation).toBe('DEL');
      expect(e.key).toBe(keys.assignment('n1', 'uid-2'));
      break;
    }
    expect((await kv.get(g2.bundleKey))?.operation).toBe('PURGE');
  });

  it('fences a stale publisher: its write fails instead of overwriting the newer leader', async () => {
    const kv = await openBundlesBucket(nc);
    const old = new BundlePublisher(kv, log);
    const nodes = [node('f1')];
    await old.publish(compilePlan([testPolicy('p3', 'uid-3', 1)], nodes, new CompileCache()));
    // A new leader takes over and publishes generation 2.
    const leader = new BundlePublisher(kv, log);
    await leader.publish(compilePlan([testPolicy('p3', 'uid-3', 2, 80)], nodes, new CompileCache()));
    // The old one wakes up and tries to publish what it believes (generation 1 with other content).
    const stale = compilePlan([testPolicy('p3', 'uid-3', 1, 8080)], nodes, new CompileCache());
    const err = await old.publish(stale).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PublishError);
    expect((err as PublishError).code).toBe('FENCED');
    expect((await assignment(kv, keys.assignment('f1', 'uid-3'))).generation).toBe(2);
  });
});
