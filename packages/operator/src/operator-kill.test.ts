// An operator process SIGKILLed in the middle of publishing (some assignments written, others not) is restarted
// and converges, and nothing is published twice: every assignment key of vigil-bundles has exactly one revision
// and the stream holds exactly one message per bundle and assignment.
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { connect, type NatsConnection } from 'nats';
import { fullNodeProfile } from '@vigil/policy-schema';
import { BUNDLES_BUCKET, BUNDLES_HISTORY, BundleAgent, readKv, RecordingApplier } from '@vigil/sensor';
import { startNatsServer, startTestApiServer, type NatsServer, type TestApiServer } from '@vigil/testing';
import type { PolicyObject } from './controllers/policy-ref.js';
import { eventually, loadCrds, policyBody } from './test-support.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const cli = join(root, 'packages', 'operator', 'dist', 'cli.js');
const G = { group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies' };
const POLICIES = 300;
const NODES = 4;

describe('operator killed mid-reconcile', () => {
  let api: TestApiServer | undefined;
  let nats: NatsServer | undefined;
  let nc: NatsConnection | undefined;
  let dir: string | undefined;
  const agents: BundleAgent[] = [];
  const procs: ChildProcess[] = [];
  afterAll(async () => {
    for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
    await Promise.all(agents.map((a) => a.stop()));
    await nc?.close();
    await nats?.stop();
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('restarts and converges with no duplicate publish', async () => {
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'packages/policy-schema', 'packages/testing', 'packages/sensor', 'packages/operator'], { cwd: root, encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`build failed:\n${tsc.stdout}${tsc.stderr}`);
    api = await startTestApiServer({ objects: loadCrds() as never[] });
    nats = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), 'vigil-kill-'));
    const kcPath = await api.writeKubeconfig(join(dir, 'kubeconfig'));
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig());
    const custom = kc.makeApiClient(CustomObjectsApi);
    const core = kc.makeApiClient(CoreV1Api);
    const log = pino({ level: 'silent' });
    for (let i = 0; i < NODES; i++) {
      const node = `kill-${i}.example`;
      await core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: node } } });
      agents.push(await BundleAgent.start({ servers: nats.url, node, profile: fullNodeProfile(), capabilities: [], applier: new RecordingApplier(), stateDir: join(dir, node), logger: log, reconnectTimeWaitMs: 50, fsyncState: false }));
    }
    await Promise.all(agents.map((a) => (a.syncCount > 0 ? undefined : a.nextSync())));
    // All policies exist before the operator starts, so its first publish pass writes them all: kill it during it.
    for (let i = 0; i < POLICIES; i += 50) await Promise.all(Array.from({ length: Math.min(50, POLICIES - i) }, (_, j) => custom.createClusterCustomObject({ ...G, body: policyBody(`kill-${i + j}`, 1000 + i + j) })));

    nc = await connect({ servers: nats.url });
    const kv = await nc.jetstream().views.kv(BUNDLES_BUCKET, { history: BUNDLES_HISTORY });
    const lastSeq = async (): Promise<number> => (await kv.status()).streamInfo.state.last_seq;
    const total = POLICIES + POLICIES * NODES; // one bundle per policy (one profile), one assignment per node

    const start = (): ChildProcess => {
      const p = spawn(process.execPath, [cli, 'operator', 'run', '--nats', nats?.url ?? '', '--kubeconfig', kcPath, '--log-level', 'warn'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
      procs.push(p);
      return p;
    };
    const first = start();
    const killedAt = await eventually(async () => {
      const n = await lastSeq();
      return n >= 50 ? n : undefined; // some of the pass is written
    }, 'the first operator writing', 30_000);
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const afterKill = await lastSeq();
    expect(killedAt).toBeLessThan(total);
    expect(afterKill).toBeLessThan(total); // killed mid-pass: not everything was published

    start();
    await eventually(async () => {
      const list = (await custom.listClusterCustomObject(G)) as { items: PolicyObject[] };
      return list.items.length === POLICIES && list.items.every((p) => p.status?.nodes?.applied === NODES && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) ? true : undefined;
    }, 'every policy Ready on every node after the restart', 60_000);

    // No duplicate publish: one message per bundle and assignment in the whole stream, one revision per key.
    expect(await lastSeq()).toBe(total);
    const current = await readKv(kv, '>', true);
    expect(current).toHaveLength(total);
    const history = await kv.history({ key: 'assign.>' });
    const perKey = new Map<string, number>();
    for await (const e of history) perKey.set(e.key, (perKey.get(e.key) ?? 0) + 1);
    expect(perKey.size).toBe(POLICIES * NODES);
    expect([...perKey.values()].every((n) => n === 1)).toBe(true);
    for (const a of agents) await a.idle();
  }, 180_000);
});
