/**
 * CgroupResolver on real cgroup v2 directories (FakeNode) and real processes: cgroup id → container and pod (by
 * the process's /proc path, then cached), pod and container cgroups found by name, the kubepods scan, hook
 * registrations, and the per-node refusal of identity selectors when pods live only in cgroup v1 controllers.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { capability } from '../mechanisms/test-kernel.js';
import { cgroupIdOfPid } from '../mechanisms/cgroup.js';
import { CgroupResolver } from './resolver.js';
import { FakeNode, must } from './test-pods.js';

describe('cgroup resolver (real kernel)', () => {
  it('resolves processes in pod containers, host processes, pod and container cgroups, registrations', async () => {
    const cap = capability('cgroup_v2');
    if (!cap.available) {
      skipMissing(expect.getState().currentTestName, 'cgroup_v2', cap.reason);
      return;
    }
    using node = new FakeNode();
    const pod = node.addPod(['app', 'sidecar']);
    const app = must(pod.containers[0]);
    const r = new CgroupResolver({ kubepodsRoots: [node.kubepods] });
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      writeFileSync(join(app.dir, 'cgroup.procs'), String(child.pid));
      const pid = must(child.pid);
      expect(cgroupIdOfPid(pid)).toBe(app.cgroupId);
      expect(r.identityOf(app.cgroupId, pid)).toMatchObject({ kind: 'container', containerId: app.id, runtime: 'containerd', podUid: pod.uid });
      const misses = r.stats.misses;
      expect(r.identityOf(app.cgroupId).kind).toBe('container'); // cached by id, no pid needed
      expect(r.stats.misses).toBe(misses);
      // A wrong pid (in another cgroup) is not trusted for an id it does not belong to.
      expect(r.identityOf(node.hostId + 1_000_000n, pid)).toEqual({ kind: 'host' });
      expect(r.identityOf(1n, process.pid).kind).toBe('host');
      // Seen through /proc only (id 0): the pid's path decides.
      expect(r.identityOf(0n, pid)).toMatchObject({ kind: 'container', containerId: app.id });

      expect(r.podCgroup(pod.uid)).toEqual({ id: pod.cgroupId, dir: pod.dir });
      expect(r.containerCgroup(must(pod.containers[1]).id, pod.uid)?.id).toBe(must(pod.containers[1]).cgroupId);
      expect(r.podCgroup('00000000-0000-0000-0000-000000000000')).toBeUndefined();
      expect([...r.scanPods().entries()]).toEqual([[pod.uid, { id: pod.cgroupId, dir: pod.dir }]]);
      // A hook registration is found without the pod (its cgroup may sit anywhere).
      const reg = r.register('e'.repeat(64), app.dir);
      expect(reg.id).toBe(app.cgroupId);
      expect(r.containerCgroup('e'.repeat(64))).toEqual(reg);
      expect(() => r.register('f'.repeat(64), join(node.root, 'missing'))).toThrow(/does not exist/);
      expect(r.support()).toEqual({ ok: true });
    } finally {
      child.kill('SIGKILL');
      await new Promise((res) => child.once('exit', res));
    }
  });

  it('refuses identity selectors on nodes whose pods are only in cgroup v1 controllers, or without cgroup2', () => {
    const d = mkdtempSync(join(tmpdir(), 'vigil-v1-'));
    try {
      const v2 = join(d, 'unified');
      mkdirSync(join(v2, 'system.slice'), { recursive: true });
      mkdirSync(join(d, 'memory', 'kubepods.slice'), { recursive: true });
      const r = new CgroupResolver({ mount: v2, v1Root: d });
      const s = r.support();
      expect(s.ok).toBe(false);
      expect(s.ok ? '' : s.reason).toMatch(/pods run in cgroup v1 controllers only .*memory\/kubepods\.slice exists/);
      // No pods anywhere yet: supported (sets stay empty until pods appear).
      rmSync(join(d, 'memory'), { recursive: true });
      expect(new CgroupResolver({ mount: v2, v1Root: d }).support()).toEqual({ ok: true });
      const none = new CgroupResolver({ mount: '', v1Root: d }).support();
      expect(none.ok ? '' : none.reason).toMatch(/no cgroup2 mount/);
    } finally {
      rmSync(d, { recursive: true, force: true });
    }
  });
});
