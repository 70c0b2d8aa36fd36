/**
 * Pod attribution of events with real processes in real cgroup v2 directories (FakeNode): Tetragon's pod object in
 * the JSON, the hold / re-emit rule, the unattributed counter, host processes, and processes seen through /proc
 * (no cgroup id from the kernel: started before the sensor).
 */
import { describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { KtimeClock } from '../events/exec-id.js';
import { ProcessInfo } from '../events/process-cache.js';
import { TetragonJsonFormatter } from '../export/json.js';
import type { SensorEvent } from '../export/model.js';
import { NatsEventPublisher } from '../export/nats-events.js';
import type { NatsConnection } from 'nats';
import { capability } from '../mechanisms/test-kernel.js';
import { PodEnricher } from './enrich.js';
import type { PodIdentity } from './protocol.js';
import { CgroupResolver } from './resolver.js';
import { IdentityTable } from './table.js';
import { FakeNode, must, type FakePod } from './test-pods.js';

const creds = { uid: 0, euid: 0, gid: 0, egid: 0, auid: 0xffffffff };

function sleeper(dir: string): ChildProcess {
  const c = spawn('sleep', ['30'], { stdio: 'ignore' });
  writeFileSync(join(dir, 'cgroup.procs'), String(c.pid));
  return c;
}

function exec(child: ChildProcess, cgroupId: bigint): SensorEvent {
  const p = new ProcessInfo(must(child.pid), must(child.pid), process.pid, 1000n + BigInt(must(child.pid)), 0n, undefined, '/usr/bin/sleep', ['30'], '/', creds, cgroupId, 1);
  return { type: 'process_exec', timeNs: BigInt(Date.now()) * 1_000_000n, process: p, parent: undefined, ancestors: undefined };
}

function meta(p: FakePod, name: string): PodIdentity {
  return {
    uid: p.uid,
    namespace: 'shop',
    name,
    node: 'n1',
    labels: { app: name },
    workload: name,
    workloadKind: 'Deployment',
    containers: p.containers.map((c) => ({ id: c.id, runtime: 'containerd', name: c.name, image: `registry.local/${c.name}:2`, imageId: `registry.local/${c.name}@sha256:${'9'.repeat(64)}` })),
  };
}

const until = async (pred: () => boolean, ms = 3000): Promise<void> => {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('pod attribution of events (real kernel)', () => {
  it('holds events of pods without metadata, re-emits them enriched, counts the ones that time out; host events pass', async () => {
    const cap = capability('cgroup_v2');
    if (!cap.available) {
      skipMissing(expect.getState().currentTestName, 'cgroup_v2', cap.reason);
      return;
    }
    using node = new FakeNode();
    const cart = node.addPod(['api']);
    const late = node.addPod(['worker']);
    const table = new IdentityTable();
    const resolver = new CgroupResolver({ kubepodsRoots: [node.kubepods] });
    const out: string[] = [];
    const enricher = new PodEnricher({ table, resolver, holdMs: 300, emit: (ev) => out.push(fmt.format(ev)) });
    const fmt = new TetragonJsonFormatter('n1', new KtimeClock(), enricher);
    const procs = [sleeper(must(cart.containers[0]).dir), sleeper(must(late.containers[0]).dir), sleeper(node.host)];
    try {
      const [inCart, inLate, onHost] = procs as [ChildProcess, ChildProcess, ChildProcess];
      enricher.offer(exec(onHost, node.hostId));
      enricher.offer(exec(inCart, must(cart.containers[0]).cgroupId));
      // Seen through /proc (started before the sensor): no cgroup id, found by pid.
      enricher.offer(exec(inCart, 0n));
      enricher.offer(exec(inLate, must(late.containers[0]).cgroupId));
      expect(out).toHaveLength(1); // the host event; the pod events wait
      expect(JSON.parse(must(out[0])).process_exec.process.pod).toBeUndefined();
      expect(enricher.stats()).toMatchObject({ host: 1, held: 3, holding: 3 });

      table.set(cart.uid, meta(cart, 'cart'));
      expect(out).toHaveLength(3);
      // The protobuf export carries the same object (Process.pod).
      const pub = new NatsEventPublisher({ nc: {} as NatsConnection, node: 'n1', clock: new KtimeClock(), pods: enricher });
      const decoded = JSON.parse(pub.toJson(pub.encode(exec(inCart, cart.containers[0]?.cgroupId ?? 0n)))) as { process_exec: { process: { pod: unknown } } };
      expect(decoded.process_exec.process.pod).toEqual({
        namespace: 'shop',
        name: 'cart',
        container: { id: cart.containers[0]?.id, name: 'api', image: { id: `registry.local/api@sha256:${'9'.repeat(64)}`, name: 'registry.local/api:2' } },
        pod_labels: { app: 'cart' },
        workload: 'cart',
        workload_kind: 'Deployment',
      });
      for (const line of out.slice(1)) {
        expect(JSON.parse(line).process_exec.process.pod).toEqual({
          namespace: 'shop',
          name: 'cart',
          container: { id: must(cart.containers[0]).id, name: 'api', image: { id: `registry.local/api@sha256:${'9'.repeat(64)}`, name: 'registry.local/api:2' } },
          pod_labels: { app: 'cart' },
          workload: 'cart',
          workload_kind: 'Deployment',
        });
      }
      // The late pod's metadata never comes: its event leaves after the hold, without pod, and is counted.
      await until(() => out.length === 4);
      expect(JSON.parse(must(out[3])).process_exec.process.pod).toBeUndefined();
      expect(enricher.stats()).toMatchObject({ attributed: 2, host: 1, unattributed: 1, holding: 0 });
      // Its metadata arriving later: the next event of the same process is enriched (the pending JSON was not memoized).
      table.set(late.uid, meta(late, 'late'));
      const again = exec(inLate, must(late.containers[0]).cgroupId);
      enricher.offer(again);
      expect(JSON.parse(must(out[4])).process_exec.process.pod.name).toBe('late');
      enricher.close();
    } finally {
      for (const p of procs) p.kill('SIGKILL');
      await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null || p.signalCode !== null ? r(undefined) : p.once('exit', r)))));
    }
  });
});
