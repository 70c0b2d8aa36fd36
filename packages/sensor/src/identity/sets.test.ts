/**
 * Identity sets on a real kernel: pods are real cgroup v2 directories (FakeNode), the table is fed directly, the
 * sets are written to a real pinned vg_identity map, and test_identity.bpf.o's connect4 program (which calls
 * vg_identity_match) proves what the kernel decides: a podSelector deny applies in the matching pod only, follows a
 * relabel, and leaves with the pod.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import type { IdentitySetRef } from '@vigil/policy-schema';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { BPF_OUT, VG_TRY, capability } from '../mechanisms/test-kernel.js';
import { IDENTITY_ALL_PODS, identityKey } from './abi.js';
import { PinnedIdentityMap } from './map.js';
import type { PodIdentity } from './protocol.js';
import { CgroupResolver } from './resolver.js';
import { IdentitySets } from './sets.js';
import { IdentityTable } from './table.js';
import { FakeNode, attachIdentityConnectProbe, must, type FakePod } from './test-pods.js';

const OBJECT = join(BPF_OUT, 'test_identity.bpf.o');
const PIN_ROOT = `/sys/fs/bpf/vigil-test-${process.pid}-sets`;
let server: Server;
let port: number;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('these tests load BPF programs: run them as root');
  for (const f of [OBJECT, VG_TRY]) if (!existsSync(f)) throw new Error(`${f} is missing: run make -C bpf`);
  if ((parseInt(readFileSync('/sys/class/net/lo/flags', 'utf8'), 16) & 1) === 0) spawnSync('ip', ['link', 'set', 'lo', 'up']);
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  rmSync(PIN_ROOT, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function podMeta(p: FakePod, name: string, labels: Record<string, string>, namespace = 'default'): PodIdentity {
  return {
    uid: p.uid,
    namespace,
    name,
    node: 'n1',
    labels,
    workload: name,
    workloadKind: 'Pod',
    containers: p.containers.map((c) => ({ id: c.id, runtime: 'containerd', name: c.name, image: `${c.name}:1`, imageId: `docker.io/library/${c.name}@sha256:${'0'.repeat(64)}` })),
  };
}

function cfg(setId: number, hostIncluded: boolean): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(1, 0);
  b.writeUInt32LE(setId >>> 0, 4);
  b.writeUInt32LE(hostIncluded ? 1 : 0, 8);
  b.writeUInt32LE(port, 12);
  return b;
}

const connectFrom = (dir: string): string => {
  const r = spawnSync(VG_TRY, ['--cgroup', dir, 'connect', '127.0.0.1', String(port)], { encoding: 'utf8', timeout: 10_000 });
  return r.stdout.trim();
};

describe('identity sets: table → vg_identity → kernel decision (real kernel)', () => {
  it('a podSelector set denies in the matching pod only, follows relabels and deletes; container and namespace selectors; host semantics', () => {
    for (const cap of ['cgroup_v2', 'cgroup_sock', 'bpffs'] as const) {
      const c = capability(cap);
      if (!c.available) {
        skipMissing(expect.getState().currentTestName, cap, c.reason);
        return;
      }
    }
    using node = new FakeNode();
    const web = node.addPod(['nginx', 'sidecar']);
    const db = node.addPod(['pg']);
    const table = new IdentityTable();
    const resolver = new CgroupResolver({ kubepodsRoots: [node.kubepods] });
    const map = PinnedIdentityMap.open(PIN_ROOT);
    const sets = new IdentitySets({ table, resolver, map, rescanMs: 0 });
    using probe = attachIdentityConnectProbe(OBJECT, map.path, node.root);
    const obj = probe.obj;
    try {
      const WEB: IdentitySetRef = { id: 101, podSelectors: [{ matchLabels: { app: 'web' } }], containerSelectors: [] };
      const SIDECAR: IdentitySetRef = { id: 102, podSelectors: [], containerSelectors: [{ matchExpressions: [{ key: 'name', operator: 'In', values: ['sidecar'] }] }] };
      const PROD: IdentitySetRef = { id: 103, namespace: 'prod', podSelectors: [], containerSelectors: [] };
      obj.map('vg_idtest_cfg').update(Buffer.alloc(4), cfg(WEB.id, false));

      // Pod cgroups count as pods (not host) from the hierarchy itself, before any metadata.
      expect(sets.members(IDENTITY_ALL_PODS)).toEqual([web.cgroupId, db.cgroupId].sort((a, b) => (a < b ? -1 : 1)));
      sets.ensure('policy-a', [WEB]);
      expect(sets.members(WEB.id)).toEqual([]); // labels unknown yet
      expect(connectFrom(must(web.containers[0]).dir)).toBe('ok');

      table.set(web.uid, podMeta(web, 'web-1', { app: 'web' }));
      table.set(db.uid, podMeta(db, 'db-1', { app: 'db' }, 'prod'));
      expect(sets.members(WEB.id)).toEqual([web.cgroupId]);
      expect({ nginx: connectFrom(must(web.containers[0]).dir), sidecar: connectFrom(must(web.containers[1]).dir), pg: connectFrom(must(db.containers[0]).dir), host: connectFrom(node.host) }).toEqual({
        nginx: 'EPERM',
        sidecar: 'EPERM',
        pg: 'ok',
        host: 'ok',
      });
      // hostSelector: the same set with host_included also covers processes in no pod, still not the db pod.
      obj.map('vg_idtest_cfg').update(Buffer.alloc(4), cfg(WEB.id, true));
      expect({ pg: connectFrom(must(db.containers[0]).dir), host: connectFrom(node.host) }).toEqual({ pg: 'ok', host: 'EPERM' });
      obj.map('vg_idtest_cfg').update(Buffer.alloc(4), cfg(WEB.id, false));

      // Relabel: enforcement moves with the label, no reload; the web pod's entry is removed, the db pod's added.
      const before = sets.stats();
      table.set(web.uid, podMeta(web, 'web-1', { app: 'other' }));
      table.set(db.uid, podMeta(db, 'db-1', { app: 'web' }, 'prod'));
      expect(sets.members(WEB.id)).toEqual([db.cgroupId]);
      expect(sets.stats().adds - before.adds).toBe(1);
      expect(sets.stats().removes - before.removes).toBe(1);
      expect({ nginx: connectFrom(must(web.containers[0]).dir), pg: connectFrom(must(db.containers[0]).dir) }).toEqual({ nginx: 'ok', pg: 'EPERM' });

      // containerSelector (by container name) and namespace sets.
      sets.ensure('policy-b', [SIDECAR, PROD]);
      expect(sets.members(SIDECAR.id)).toEqual([must(web.containers[1]).cgroupId]);
      expect(sets.members(PROD.id)).toEqual([db.cgroupId]);
      obj.map('vg_idtest_cfg').update(Buffer.alloc(4), cfg(SIDECAR.id, false));
      expect({ nginx: connectFrom(must(web.containers[0]).dir), sidecar: connectFrom(must(web.containers[1]).dir) }).toEqual({ nginx: 'ok', sidecar: 'EPERM' });

      // Delete: the pod's metadata goes first (its set entries go), then its cgroup (the all-pods entry goes).
      table.set(db.uid, undefined);
      expect(sets.members(WEB.id)).toEqual([]);
      expect(sets.members(PROD.id)).toEqual([]);
      expect(map.keys()).toContain(identityKey(IDENTITY_ALL_PODS, db.cgroupId).toString('hex'));
      node.removePod(db);
      sets.fullRefresh();
      expect(map.keys()).not.toContain(identityKey(IDENTITY_ALL_PODS, db.cgroupId).toString('hex'));

      // A restarted sensor adopts the map: same content, nothing removed that is still wanted.
      const snapshot = map.keys().sort();
      sets.close();
      const again = new IdentitySets({ table, resolver, map, rescanMs: 0, adoptGraceMs: 0 });
      expect(map.keys().sort()).toEqual(snapshot); // nothing ensured yet, nothing removed
      again.ensure('policy-a', [WEB]);
      again.ensure('policy-b', [SIDECAR, PROD]);
      again.settle();
      expect(map.keys().sort()).toEqual(snapshot);
      expect(again.stats()).toMatchObject({ adds: 0, removes: 0 });
      // Releasing the last owner of a set removes its entries; other sets stay.
      again.release('policy-b');
      expect(again.members(SIDECAR.id)).toEqual([]);
      expect(map.keys()).not.toContain(identityKey(SIDECAR.id, must(web.containers[1]).cgroupId).toString('hex'));
      expect(map.keys()).toContain(identityKey(IDENTITY_ALL_PODS, web.cgroupId).toString('hex'));
      again.close();
    } finally {
      map.close();
    }
  });

  it('a map write that fails is retried until it lands: an add (the pod becomes enforced) and a remove (it stops)', () => {
    for (const cap of ['cgroup_v2', 'cgroup_sock', 'bpffs'] as const) {
      const c = capability(cap);
      if (!c.available) return skipMissing(expect.getState().currentTestName, cap, c.reason);
    }
    using node = new FakeNode();
    const web = node.addPod(['nginx']);
    const table = new IdentityTable();
    const real = PinnedIdentityMap.open(`${PIN_ROOT}-retry`);
    // The real pinned map, with writes failing while `broken` (as ENOMEM or a full map would make them fail).
    let broken = false;
    const fail = () => {
      if (broken) throw Object.assign(new Error('bpf_map_update_elem: Cannot allocate memory'), { code: 'ENOMEM' });
    };
    const map = {
      add: (s: number, c: bigint) => (fail(), real.add(s, c)),
      remove: (s: number, c: bigint) => (fail(), real.remove(s, c)),
      keys: () => real.keys(),
      close: () => real.close(),
    };
    const sets = new IdentitySets({ table, resolver: new CgroupResolver({ kubepodsRoots: [node.kubepods] }), map, rescanMs: 0, adoptGraceMs: 0 });
    using probe = attachIdentityConnectProbe(OBJECT, real.path, node.root);
    const obj = probe.obj;
    try {
      const WEB: IdentitySetRef = { id: 201, podSelectors: [{ matchLabels: { app: 'web' } }], containerSelectors: [] };
      obj.map('vg_idtest_cfg').update(Buffer.alloc(4), cfg(WEB.id, false));
      sets.ensure('policy', [WEB]);
      const nginx = must(web.containers[0]).dir;

      broken = true;
      table.set(web.uid, podMeta(web, 'web-1', { app: 'web' }));
      expect(sets.stats().pendingWrites).toBe(1);
      expect(connectFrom(nginx)).toBe('ok'); // what the failure costs until the retry
      expect(sets.retryFailedWrites()).toBe(1); // still failing: kept
      broken = false;
      sets.fullRefresh(); // the periodic rescan retries first
      expect(sets.stats().pendingWrites).toBe(0);
      expect(connectFrom(nginx)).toBe('EPERM');

      broken = true;
      table.set(web.uid, podMeta(web, 'web-1', { app: 'other' }));
      expect(connectFrom(nginx)).toBe('EPERM'); // the remove failed: still enforced
      // Relabelled back before the retry: the retry re-derives what is wanted (present), nothing is removed.
      table.set(web.uid, podMeta(web, 'web-1', { app: 'web' }));
      broken = false;
      expect(sets.retryFailedWrites()).toBe(0);
      expect(connectFrom(nginx)).toBe('EPERM');
      broken = true;
      table.set(web.uid, podMeta(web, 'web-1', { app: 'other' }));
      broken = false;
      expect(sets.retryFailedWrites()).toBe(0);
      expect(connectFrom(nginx)).toBe('ok');
      expect(real.keys()).not.toContain(identityKey(WEB.id, web.cgroupId).toString('hex'));
      sets.close();
    } finally {
      map.close();
      rmSync(`${PIN_ROOT}-retry`, { recursive: true, force: true });
    }
  });
});
