/**
 * Identity sets at pod churn: 1,000 pods created and then deleted on one node. Each pod is a real cgroup v2
 * directory (with its containers' cgroups below); its metadata is published to vigil-identity on a real
 * nats-server the way the operator publishes it (one KV put / delete per pod); the sensor side is the production
 * IdentityTableClient → IdentityTable → IdentitySets → pinned vg_identity map. Measured: time from the KV write of
 * a pod change to the vg_identity update it causes (a podSelector set that selects every pod: each change adds
 * or removes one entry of it, besides the reserved all-pods set), p50 / p99, for creates and deletes; then the sensor's RSS holding 1,000 pods × 10
 * containers (baseline: the same process before the table was filled).
 * The operator's own informer → KV latency is not included (see the relabel timing of identity-e2e.test.ts).
 */
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { connect, StringCodec } from 'nats';
import { startNatsServer } from '@vigil/testing';
import { IDENTITY_ALL_PODS } from '../identity/abi.js';
import { PinnedIdentityMap } from '../identity/map.js';
import { IDENTITY_BUCKET, identityKeys, type PodIdentity } from '../identity/protocol.js';
import { CgroupResolver } from '../identity/resolver.js';
import { IdentitySets } from '../identity/sets.js';
import { IdentityTable, IdentityTableClient } from '../identity/table.js';
import { FakeNode, must, type FakePod } from '../identity/test-pods.js';
import { report } from './report.js';

const PODS = Number(process.env.VIGIL_BENCH_PODS ?? 1000);
const CONTAINERS = 10;
const NODE = 'bench-node-1.cluster.local';
const SET = 0xbe;
const pinRoot = `/sys/fs/bpf/vigil-bench-${process.pid}-identity`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rssMiB = () => process.memoryUsage().rss / (1024 * 1024);
const sc = StringCodec();
const log = pino({ level: 'silent' });

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

const nats = await startNatsServer();
const nc = await connect({ servers: nats.url });
const kv = await nc.jetstream().views.kv(IDENTITY_BUCKET, { history: 1 });
const node = new FakeNode();
const map = PinnedIdentityMap.open(pinRoot);
try {
  const pods: FakePod[] = [];
  for (let i = 0; i < PODS; i++) pods.push(node.addPod(Array.from({ length: CONTAINERS }, (_, c) => `c${c}`)));
  const byCg = new Map(pods.map((p, i) => [p.cgroupId, i]));
  const table = new IdentityTable();
  const resolver = new CgroupResolver({ kubepodsRoots: [node.kubepods] });
  // Timestamps of the KV write per pod and of the map write it caused.
  const sent = new Map<number, number>();
  const lat: { create: number[]; delete: number[] } = { create: [], delete: [] };
  let phase: 'create' | 'delete' = 'create';
  const sets = new IdentitySets({
    table,
    resolver,
    map,
    rescanMs: 0,
    adoptGraceMs: 0,
    onWrite: (op, setId, cgroupId) => {
      // creates: the podSelector set gains the pod's cgroup; deletes: it loses it.
      if (setId !== SET) return;
      const i = byCg.get(cgroupId);
      const t = i === undefined ? undefined : sent.get(i);
      if (t === undefined || (op === 'add') !== (phase === 'create')) return;
      lat[phase].push(performance.now() - t);
      sent.delete(must(i));
    },
  });
  sets.ensure('bench-policy', [{ id: SET, podSelectors: [{ matchLabels: { parity: 'even' } }], containerSelectors: [] }]);
  const client = await IdentityTableClient.start({ servers: nats.url, node: NODE, table, logger: log, nc });
  await client.ready;
  gc();
  const rssBefore = rssMiB();

  const meta = (p: FakePod, i: number): PodIdentity => ({
    uid: p.uid,
    namespace: `team-${i % 20}`,
    name: `web-${i.toString(36)}-7d9f8c6b5-x${i}`,
    node: NODE,
    labels: { app: `web-${i % 50}`, parity: 'even', 'pod-template-hash': '7d9f8c6b5', tier: 'frontend' },
    workload: `web-${i % 50}`,
    workloadKind: 'Deployment',
    containers: p.containers.map((c) => ({ id: c.id, runtime: 'containerd', name: c.name, image: `registry.example.com/team/${c.name}:1.2.3`, imageId: `registry.example.com/team/${c.name}@sha256:${'ab'.repeat(32)}` })),
  });

  // Creates: 20 in flight at a time (a node starting many pods at once).
  const IN_FLIGHT = 20;
  const run = async (op: (i: number) => Promise<unknown>) => {
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < PODS) {
          const i = next++;
          sent.set(i, performance.now());
          await op(i);
        }
      }),
    );
    const end = Date.now() + 10_000;
    while (sent.size > 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  };
  await run((i) => kv.put(identityKeys.pod(NODE, must(pods[i]).uid), sc.encode(JSON.stringify(meta(must(pods[i]), i)))));
  const createsLost = sent.size;
  gc();
  const rssAfter = rssMiB();
  report({ bench: 'sensor.identity', metric: `pod create → vg_identity p50 ms (${PODS} pods, ${IN_FLIGHT} in flight)`, value: +pct(lat.create, 50).toFixed(2) });
  report({ bench: 'sensor.identity', metric: 'pod create → vg_identity p99 ms', value: +pct(lat.create, 99).toFixed(2), goal: '<= 200', pass: pct(lat.create, 99) <= 200 && createsLost === 0, note: `${lat.create.length} measured, ${createsLost} not seen` });
  report({ bench: 'sensor.identity', metric: `RSS MiB with ${PODS} pods x ${CONTAINERS} containers`, value: +rssAfter.toFixed(1), baseline: +rssBefore.toFixed(1), ratio: +(rssAfter / rssBefore).toFixed(3), note: `+${(rssAfter - rssBefore).toFixed(1)} MiB for the table, resolver caches and sets; ${sets.stats().entries} map entries` });

  sent.clear();
  phase = 'delete';
  await run((i) => kv.delete(identityKeys.pod(NODE, must(pods[i]).uid)));
  const deletesLost = sent.size;
  report({ bench: 'sensor.identity', metric: 'pod delete → vg_identity p50 ms', value: +pct(lat.delete, 50).toFixed(2) });
  report({ bench: 'sensor.identity', metric: 'pod delete → vg_identity p99 ms', value: +pct(lat.delete, 99).toFixed(2), goal: '<= 200', pass: pct(lat.delete, 99) <= 200 && deletesLost === 0, note: `${lat.delete.length} measured, ${deletesLost} not seen` });
  if (sets.members(SET).length !== 0) throw new Error(`set not empty after deleting every pod: ${sets.members(SET).length}`);
  for (const p of pods) node.removePod(p);
  const t0 = performance.now();
  sets.fullRefresh();
  report({ bench: 'sensor.identity', metric: `full refresh after ${PODS} pod cgroups removed, ms`, value: +(performance.now() - t0).toFixed(1), note: `all-pods entries left: ${sets.members(IDENTITY_ALL_PODS).length}` });
  sets.close();
  await client.stop();
} finally {
  map.close();
  node.close();
  rmSync(pinRoot, { recursive: true, force: true });
  await nc.close();
  await nats.stop();
}
