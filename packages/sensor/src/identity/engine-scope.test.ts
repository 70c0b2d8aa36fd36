/**
 * A podSelector deny policy through the production path: compiled bundle → IdentityApplier (identity sets made
 * live) → FallbackEnforcementEngine (cgroup connect4 deny, scoped by vg_identity_match) → real connects from
 * processes in fake pod cgroups. Denied in the matching pod, allowed in the other pod and on the host; a relabel
 * moves it, without re-applying the bundle; removing the policy releases its set.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy, parsePolicy } from '@vigil/policy-schema';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { FallbackEnforcementEngine } from '../enforce/engine.js';
import { BPF_OUT, capability, vgTry } from '../mechanisms/test-kernel.js';
import { probeKernel } from '../probe/probe.js';
import { nodeProfileFromCapabilities } from '../transport/node-profile.js';
import { PinnedIdentityMap } from './map.js';
import type { PodIdentity } from './protocol.js';
import { CgroupResolver } from './resolver.js';
import { IdentityApplier } from './runtime.js';
import { IdentitySets } from './sets.js';
import { IdentityTable } from './table.js';
import { FakeNode, must, type FakePod } from './test-pods.js';

const PIN_ROOT = `/sys/fs/bpf/vigil-test-${process.pid}-engine-scope`;
let dir = '';

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-engine-scope-'));
  if ((parseInt(readFileSync('/sys/class/net/lo/flags', 'utf8'), 16) & 1) === 0) spawnSync('ip', ['link', 'set', 'lo', 'up']);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(PIN_ROOT, { recursive: true, force: true });
});

const policy = `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: web-no-egress-77
spec:
  podSelector:
    matchLabels: { app: web }
  lsmhooks:
  - hook: socket_connect
    args:
    - index: 0
      type: sock
    - index: 1
      type: sockaddr
    selectors:
    - matchArgs:
      - index: 1
        operator: DAddr
        values: ["127.0.0.77/32"]
      matchActions:
      - action: Override
        argError: -1
`;

function meta(p: FakePod, labels: Record<string, string>): PodIdentity {
  return { uid: p.uid, namespace: 'default', name: p.uid.slice(0, 8), node: 'n', labels, workload: 'w', workloadKind: 'Pod', containers: p.containers.map((c) => ({ id: c.id, runtime: 'containerd', name: c.name, image: 'i', imageId: 'i@sha256:0' })) };
}

describe('podSelector deny on the fallback engine (real kernel)', () => {
  it('denies connect in the matching pod only; relabel moves it live; removal releases the set', async () => {
    for (const cap of ['cgroup_v2', 'cgroup_sock', 'bpffs'] as const) {
      const c = capability(cap);
      if (!c.available) {
        skipMissing(expect.getState().currentTestName, cap, c.reason);
        return;
      }
    }
    const profile = nodeProfileFromCapabilities(probeKernel({ probeObject: join(BPF_OUT, 'probe.bpf.o') }));
    profile.mechanisms = { ...profile.mechanisms, lsm: false, kprobe: false, kprobeOverride: false, fentry: false };
    const bundle = compilePolicy(parsePolicy(policy), profile);
    expect(bundle.identitySets).toHaveLength(1);
    expect(bundle.hooks[0]?.mechanism).toBe('cgroup_sock');

    using node = new FakeNode();
    const web = node.addPod(['app']);
    const db = node.addPod(['app']);
    const table = new IdentityTable();
    table.set(web.uid, meta(web, { app: 'web' }));
    table.set(db.uid, meta(db, { app: 'db' }));
    const map = PinnedIdentityMap.open(PIN_ROOT);
    const sets = new IdentitySets({ table, resolver: new CgroupResolver({ kubepodsRoots: [node.kubepods] }), map, rescanMs: 0, adoptGraceMs: 0 });
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
    const applier = new IdentityApplier(engine, sets);
    const connect = (cg: string) => vgTry(['connect', '127.0.0.77', '9050'], cg).out;
    try {
      expect(await applier.apply(bundle)).toMatchObject({ result: 'applied' });
      const setId = must(bundle.identitySets[0]).id;
      expect(sets.members(setId)).toEqual([web.cgroupId]);
      const webCtr = must(web.containers[0]).dir;
      const dbCtr = must(db.containers[0]).dir;
      expect(connect(webCtr)).toBe('EPERM');
      expect(connect(dbCtr)).not.toBe('EPERM');
      expect(connect(node.host)).not.toBe('EPERM'); // a podSelector policy does not touch host processes

      table.set(web.uid, meta(web, { app: 'old' }));
      table.set(db.uid, meta(db, { app: 'web' }));
      expect(connect(webCtr)).not.toBe('EPERM');
      expect(connect(dbCtr)).toBe('EPERM');

      await applier.remove(bundle.version.policyUid);
      expect(sets.members(setId)).toEqual([]);
      expect(connect(dbCtr)).not.toBe('EPERM');
    } finally {
      await engine.uninstall();
      sets.close();
      map.close();
    }
  });
});
