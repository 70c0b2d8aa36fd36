// podSelector enforcement end to end on the real kernel: a Pod in the test API server → operator → vigil-identity
// (nats-server) → the sensor's table → IdentitySets → the pinned vg_identity map → a cgroup/connect4 program that
// calls vg_identity_match (bpf/progs/test_identity.bpf.o). The pod's "containers" are real cgroup v2 directories.
// Relabelling the pod moves enforcement within 1 s; deleting it removes its entries.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { PatchStrategy, setHeaderOptions, type V1Pod } from '@kubernetes/client-node';
import { CgroupResolver, IdentitySets, IdentityTable, IdentityTableClient, PinnedIdentityMap } from '@vigil/sensor';
import { BpfObject } from '../../../sensor/src/libbpf/index.js';
import { BPF_OUT, VG_TRY, capability } from '../../../sensor/src/mechanisms/test-kernel.js';
import { FakeNode, must, type FakePod } from '../../../sensor/src/identity/test-pods.js';
import { eventually, startSystem, type System } from '../test-support.js';

const OBJECT = join(BPF_OUT, 'test_identity.bpf.o');
const PIN_ROOT = `/sys/fs/bpf/vigil-test-${process.pid}-e2e`;
const NODE = 'worker-1.cluster.local';
const SET = 0x5e7;
let sys: System;
let server: Server;
let port: number;

beforeAll(async () => {
  sys = await startSystem();
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  rmSync(PIN_ROOT, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await sys.stop();
});

function podBody(name: string, labels: Record<string, string>): V1Pod {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: 'default', labels }, spec: { nodeName: NODE, containers: [{ name: 'app', image: 'app:1' }] } };
}

async function start(name: string, fake: FakePod): Promise<void> {
  const cur = await sys.core.readNamespacedPod({ name, namespace: 'default' });
  const c = must(fake.containers[0]);
  cur.status = { phase: 'Running', containerStatuses: [{ name: 'app', image: 'app:1', imageID: `app@sha256:${'3'.repeat(64)}`, containerID: `containerd://${c.id}`, ready: true, restartCount: 0 }] };
  await sys.core.replaceNamespacedPodStatus({ name, namespace: 'default', body: cur });
}

const connectFrom = (dir: string): string => spawnSync(VG_TRY, ['--cgroup', dir, 'connect', '127.0.0.1', String(port)], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();

async function until(what: string, pred: () => boolean, ms = 1000): Promise<number> {
  const t0 = Date.now();
  for (;;) {
    if (pred()) return Date.now() - t0;
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('podSelector enforcement through the operator (real kernel)', () => {
  it('denies in the matching pod only; relabel moves it within 1 s; delete removes the entries', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test loads BPF programs: run it as root');
    for (const f of [OBJECT, VG_TRY]) if (!existsSync(f)) throw new Error(`${f} is missing: run make -C bpf`);
    for (const cap of ['cgroup_v2', 'cgroup_sock', 'bpffs'] as const) if (!capability(cap).available) throw new Error(`this host lacks ${cap}: ${capability(cap).reason}`);
    if ((parseInt(readFileSync('/sys/class/net/lo/flags', 'utf8'), 16) & 1) === 0) spawnSync('ip', ['link', 'set', 'lo', 'up']);

    const op = await sys.startOperator({ requireNodeObject: false });
    using node = new FakeNode();
    const webCg = node.addPod(['app']);
    const dbCg = node.addPod(['app']);
    const table = new IdentityTable();
    const client = await IdentityTableClient.start({ servers: sys.nats.url, node: NODE, table, logger: sys.log });
    const map = PinnedIdentityMap.open(PIN_ROOT);
    const sets = new IdentitySets({ table, resolver: new CgroupResolver({ kubepodsRoots: [node.kubepods] }), map, rescanMs: 0, adoptGraceMs: 0 });
    using obj = BpfObject.open(OBJECT);
    for (const p of ['vg_idtest_tp_btf', 'vg_idtest_raw_tp', 'vg_idtest_kprobe', 'vg_idtest_fentry', 'vg_idtest_lsm']) obj.program(p).setAutoload(false);
    obj.map('vg_identity').setPinPath(map.path);
    obj.load();
    const fd = openSync(node.root, constants.O_RDONLY | constants.O_DIRECTORY);
    const link = obj.program('vg_idtest_connect4').attachCgroup(fd);
    closeSync(fd);
    try {
      const cfg = Buffer.alloc(24);
      cfg.writeUInt32LE(1, 0);
      cfg.writeUInt32LE(SET, 4);
      cfg.writeUInt32LE(port, 12);
      obj.map('vg_idtest_cfg').update(Buffer.alloc(4), cfg);
      // The policy's podSelector (what an engine passes from bundle.identitySets).
      sets.ensure('policy-uid-1', [{ id: SET, podSelectors: [{ matchLabels: { app: 'web' } }], containerSelectors: [] }]);

      // The pod uid in the API server must be the one in the cgroup path: create, then name the cgroups after it.
      const web = await sys.core.createNamespacedPod({ namespace: 'default', body: podBody('web', { app: 'web' }) });
      const db = await sys.core.createNamespacedPod({ namespace: 'default', body: podBody('db', { app: 'db' }) });
      node.removePod(webCg);
      node.removePod(dbCg);
      const webPod = node.addPod(['app'], must(web.metadata?.uid));
      const dbPod = node.addPod(['app'], must(db.metadata?.uid));
      await start('web', webPod);
      await start('db', dbPod);
      await until('web pod in the set', () => sets.members(SET).includes(webPod.cgroupId), 5000);
      expect({ web: connectFrom(must(webPod.containers[0]).dir), db: connectFrom(must(dbPod.containers[0]).dir), host: connectFrom(node.host) }).toEqual({ web: 'EPERM', db: 'ok', host: 'ok' });

      // Relabel in the API server: enforcement follows within 1 s, no program reloaded.
      const t0 = Date.now();
      await sys.core.patchNamespacedPod({ name: 'web', namespace: 'default', body: { metadata: { labels: { app: 'old' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await sys.core.patchNamespacedPod({ name: 'db', namespace: 'default', body: { metadata: { labels: { app: 'web' } } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      await until('relabel reflected in vg_identity', () => sets.members(SET).length === 1 && sets.members(SET)[0] === dbPod.cgroupId);
      const elapsed = Date.now() - t0;
      expect({ web: connectFrom(must(webPod.containers[0]).dir), db: connectFrom(must(dbPod.containers[0]).dir) }).toEqual({ web: 'ok', db: 'EPERM' });
      expect(elapsed).toBeLessThan(1000);

      // Delete: the set entry goes with the pod's metadata.
      await sys.core.deleteNamespacedPod({ name: 'db', namespace: 'default' });
      await until('db pod gone from the set', () => sets.members(SET).length === 0);
      expect(map.keys().some((k) => k.startsWith(Buffer.from(new Uint32Array([SET]).buffer).toString('hex')))).toBe(false);
      expect(connectFrom(must(dbPod.containers[0]).dir)).toBe('ok');
      await eventually(() => (table.size === 1 ? true : undefined), 'table has only web');
    } finally {
      link.destroy();
      sets.close();
      map.close();
      await client.stop();
      await op.stop();
    }
  });
});
