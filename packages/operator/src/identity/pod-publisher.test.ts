// The identity table end to end without a kernel: Pods in the test API server → operator (PodIdentityPublisher)
// → vigil-identity on a real nats-server → the sensor's IdentityTableClient. Node names with dots stay apart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { connect, type NatsConnection } from 'nats';
import { IDENTITY_BUCKET, IdentityTable, IdentityTableClient, identityKeys, readKv } from '@vigil/sensor';
import { eventually, startSystem, type System } from '../test-support.js';
import { podIdentity, workloadOf } from './pod-identity.js';
import { must } from '../../../sensor/src/identity/test-pods.js';

const C1 = 'a'.repeat(64);
const C2 = 'b'.repeat(64);
const NODE = 'node-1.example.com';

let sys: System;
let nc: NatsConnection;

beforeAll(async () => {
  sys = await startSystem();
  nc = await connect({ servers: sys.nats.url });
});

afterAll(async () => {
  await nc.close();
  await sys.stop();
});

function pod(name: string, node: string, labels: Record<string, string>, owner?: { kind: string; name: string }): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'default', labels, ...(owner ? { ownerReferences: [{ apiVersion: 'apps/v1', kind: owner.kind, name: owner.name, uid: '00000000-0000-0000-0000-000000000001', controller: true }] } : {}) },
    spec: { nodeName: node, containers: [{ name: 'app', image: 'nginx:1.27' }, { name: 'sidecar', image: 'envoy:1.30' }] },
  };
}

async function setRunning(name: string): Promise<void> {
  const cur = await sys.core.readNamespacedPod({ name, namespace: 'default' });
  cur.status = {
    phase: 'Running',
    containerStatuses: [
      { name: 'app', image: 'docker.io/library/nginx:1.27', imageID: `docker.io/library/nginx@sha256:${'1'.repeat(64)}`, containerID: `containerd://${C1}`, ready: true, restartCount: 0 },
      { name: 'sidecar', image: 'docker.io/envoyproxy/envoy:1.30', imageID: `docker.io/envoyproxy/envoy@sha256:${'2'.repeat(64)}`, containerID: `containerd://${C2}`, ready: true, restartCount: 0 },
    ],
  };
  await sys.core.replaceNamespacedPodStatus({ name, namespace: 'default', body: cur });
}

describe('pod identity: operator → NATS KV → sensor table', () => {
  it('workloads as Tetragon names them', () => {
    expect(workloadOf(pod('web-7d9f8-abcde', 'n', { 'pod-template-hash': '7d9f8' }, { kind: 'ReplicaSet', name: 'web-7d9f8' }))).toEqual({ workload: 'web', workloadKind: 'Deployment' });
    expect(workloadOf(pod('db-0', 'n', {}, { kind: 'StatefulSet', name: 'db' }))).toEqual({ workload: 'db', workloadKind: 'StatefulSet' });
    expect(workloadOf(pod('x-abc', 'n', {}, { kind: 'ReplicaSet', name: 'x' }))).toEqual({ workload: 'x', workloadKind: 'ReplicaSet' });
    expect(workloadOf(pod('lonely', 'n', {}))).toEqual({ workload: 'lonely', workloadKind: 'Pod' });
    expect(podIdentity({ ...pod('u', 'n', {}), spec: { containers: [] } })).toBeUndefined(); // not scheduled
  });

  it('publishes pods per node as they are scheduled, start, are relabelled and deleted; unchanged status writes nothing', async () => {
    const op = await sys.startOperator({ requireNodeObject: false });
    const table = new IdentityTable();
    const other = new IdentityTable();
    const client = await IdentityTableClient.start({ servers: sys.nats.url, node: NODE, table, logger: sys.log });
    const otherClient = await IdentityTableClient.start({ servers: sys.nats.url, node: 'node-1', table: other, logger: sys.log });
    try {
      const created = await sys.core.createNamespacedPod({ namespace: 'default', body: pod('web-7d9f8-abcde', NODE, { app: 'web', 'pod-template-hash': '7d9f8' }, { kind: 'ReplicaSet', name: 'web-7d9f8' }) });
      const uid = must(created.metadata?.uid);
      // Scheduled, no container started: listed with its labels (selectors can be decided before the first process).
      const early = await eventually(() => table.pod(uid), 'scheduled pod in the table');
      expect(early).toMatchObject({ name: 'web-7d9f8-abcde', namespace: 'default', node: NODE, labels: { app: 'web' }, workload: 'web', workloadKind: 'Deployment', containers: [] });

      await setRunning('web-7d9f8-abcde');
      const running = await eventually(() => (table.pod(uid)?.containers.length === 2 ? table.pod(uid) : undefined), 'containers in the table');
      expect(running.containers).toEqual([
        { id: C1, runtime: 'containerd', name: 'app', image: 'docker.io/library/nginx:1.27', imageId: `docker.io/library/nginx@sha256:${'1'.repeat(64)}`, kind: 'regular' },
        { id: C2, runtime: 'containerd', name: 'sidecar', image: 'docker.io/envoyproxy/envoy:1.30', imageId: `docker.io/envoyproxy/envoy@sha256:${'2'.repeat(64)}`, kind: 'regular' },
      ]);
      expect(table.container(C2)?.pod.uid).toBe(uid);

      // A status change that does not touch identity (a condition) writes nothing.
      const puts = must(op.pods).stats.puts;
      const cur = await sys.core.readNamespacedPod({ name: 'web-7d9f8-abcde', namespace: 'default' });
      must(cur.status).conditions = [{ type: 'Ready', status: 'True' }];
      await sys.core.replaceNamespacedPodStatus({ name: 'web-7d9f8-abcde', namespace: 'default', body: cur });
      await eventually(() => (must(op.pods).stats.unchanged > 0 ? true : undefined), 'the status update seen');
      expect(must(op.pods).stats.puts).toBe(puts);

      const t0 = Date.now();
      await sys.core.patchNamespacedPod({ name: 'web-7d9f8-abcde', namespace: 'default', body: { metadata: { labels: { app: 'api' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await eventually(() => (table.pod(uid)?.labels['app'] === 'api' ? true : undefined), 'relabel in the table');
      expect(Date.now() - t0).toBeLessThan(1000);

      await sys.core.deleteNamespacedPod({ name: 'web-7d9f8-abcde', namespace: 'default' });
      await eventually(() => (table.pod(uid) === undefined ? true : undefined), 'pod gone from the table');
      expect(table.container(C1)).toBeUndefined();
      // The node whose name is a prefix of the other's never saw any of it.
      expect(other.size).toBe(0);
      expect(otherClient.updates).toBe(0);
    } finally {
      await client.stop();
      await otherClient.stop();
      await op.stop();
    }
  });

  it('a restarted operator deletes the keys of pods deleted while it was down, and a restarted sensor re-reads the table', async () => {
    const op = await sys.startOperator({ requireNodeObject: false });
    const a = await sys.core.createNamespacedPod({ namespace: 'default', body: pod('keep', 'n2', { app: 'k' }) });
    const b = await sys.core.createNamespacedPod({ namespace: 'default', body: pod('gone', 'n2', { app: 'g' }) });
    const kv = await nc.jetstream().views.kv(IDENTITY_BUCKET);
    await eventually(async () => ((await readKv(kv, identityKeys.podsOfNode('n2'))).filter((e) => e.operation === 'PUT').length === 2 ? true : undefined), 'both pods published');
    await op.stop();
    await sys.core.deleteNamespacedPod({ name: 'gone', namespace: 'default' });
    const op2 = await sys.startOperator({ requireNodeObject: false });
    try {
      const keys = (await readKv(kv, identityKeys.podsOfNode('n2'))).filter((e) => e.operation === 'PUT').map((e) => e.key);
      expect(keys).toEqual([identityKeys.pod('n2', must(a.metadata?.uid))]);
      const table = new IdentityTable();
      const client = await IdentityTableClient.start({ servers: sys.nats.url, node: 'n2', table, logger: sys.log });
      await client.ready;
      expect([...table.allPods()].map((p) => p.name)).toEqual(['keep']);
      expect(table.pod(must(b.metadata?.uid))).toBeUndefined();
      await client.stop();
    } finally {
      await op2.stop();
      await sys.core.deleteNamespacedPod({ name: 'keep', namespace: 'default' });
    }
  });
});
