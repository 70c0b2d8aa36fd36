// Two real operator processes (`vigil operator run --leader-elect`), one sensor, a real nats-server and the test
// API server with a token per replica so every request is attributed. The leader is frozen with SIGSTOP, the
// other takes over, and the old one is thawed with SIGCONT: it must not write anything afterwards.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { connect, StringCodec } from 'nats';
import { fullNodeProfile } from '@vigil/policy-schema';
import { BUNDLES_BUCKET, BundleAgent, keys, RecordingApplier, type Assignment } from '@vigil/sensor';
import { startNatsServer, startTestApiServer, type NatsServer, type TestApiServer } from '@vigil/testing';
import type { PolicyObject } from './controllers/policy-ref.js';
import { eventually, loadCrds, policyBody } from './test-support.js';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const cli = join(root, 'packages', 'operator', 'dist', 'cli.js');
const G = { group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies' };
const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection']);

describe('leader election with fencing (SIGSTOP / SIGCONT of the leader)', () => {
  let api: TestApiServer;
  let nats: NatsServer;
  let dir: string;
  let agent: BundleAgent;
  const procs: ChildProcess[] = [];
  const logs: Record<string, string> = { a: '', b: '' };

  beforeAll(() => {
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'packages/policy-schema', 'packages/testing', 'packages/sensor', 'packages/operator'], { cwd: root, encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`build failed:\n${tsc.stdout}${tsc.stderr}`);
  }, 120_000);
  afterAll(async () => {
    for (const p of procs) {
      if (p.exitCode === null && p.signalCode === null) {
        p.kill('SIGCONT');
        p.kill('SIGKILL');
      }
    }
    await agent?.stop();
    await nats?.stop();
    await api?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('only the leader writes; a thawed former leader writes nothing, and the new leader carries on', async () => {
    api = await startTestApiServer({
      objects: loadCrds() as never[],
      auth: { tokens: { 'tok-a': { user: 'operator-a', rules: 'cluster-admin' }, 'tok-b': { user: 'operator-b', rules: 'cluster-admin' }, 'tok-t': { user: 'test', rules: 'cluster-admin' } } },
    });
    nats = await startNatsServer();
    dir = mkdtempSync(join(tmpdir(), 'vigil-le-'));
    const kc = new KubeConfig();
    kc.loadFromString(api.kubeconfig({ token: 'tok-t' }));
    const custom = kc.makeApiClient(CustomObjectsApi);
    const leases = kc.makeApiClient(CoordinationV1Api);
    await kc.makeApiClient(CoreV1Api).createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1.example' } } });
    agent = await BundleAgent.start({ servers: nats.url, node: 'n1.example', profile: fullNodeProfile(), capabilities: [], applier: new RecordingApplier(), stateDir: join(dir, 'state'), logger: pino({ level: 'silent' }), reconnectTimeWaitMs: 50 });

    const startOperator = async (id: 'a' | 'b'): Promise<ChildProcess> => {
      const kcPath = await api.writeKubeconfig(join(dir, `kc-${id}`), { token: `tok-${id}` });
      const p = spawn(process.execPath, [cli, 'operator', 'run', '--nats', nats.url, '--kubeconfig', kcPath, '--leader-elect', '--identity', `op-${id}`, '--lease-duration-ms', '2000', '--renew-deadline-ms', '1500', '--retry-period-ms', '200'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
      p.stdout?.on('data', (d: Buffer) => (logs[id] += d.toString()));
      p.stderr?.on('data', (d: Buffer) => (logs[id] += d.toString()));
      procs.push(p);
      return p;
    };
    const holder = async (): Promise<string | undefined> => (await leases.readNamespacedLease({ name: 'vigil-operator', namespace: 'default' })).spec?.holderIdentity;
    const get = async (): Promise<PolicyObject> => (await custom.getClusterCustomObject({ ...G, name: 'p' })) as PolicyObject;
    const readyAt = (gen: number): Promise<PolicyObject> =>
      eventually(async () => {
        const p = await get();
        return p.status?.observedGeneration === gen && p.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True' ? p : undefined;
      }, `Ready at generation ${gen}`, 15_000);
    const writesBy = (user: string, from = 0): string[] =>
      api.requests
        .slice(from)
        .filter((r) => r.user === user && WRITE_VERBS.has(r.verb) && (r.status ?? 500) < 300)
        .map((r) => `${r.verb} ${r.path}`);

    const a = await startOperator('a');
    await eventually(async () => ((await holder()) === 'op-a' ? true : undefined), 'op-a leads', 15_000);
    await startOperator('b');
    await custom.createClusterCustomObject({ ...G, body: policyBody('p', 22) });
    await readyAt(1);
    expect(writesBy('operator-b')).toEqual([]); // the follower wrote nothing

    a.kill('SIGSTOP');
    const frozenAt = Date.now();
    await eventually(async () => ((await holder()) === 'op-b' ? true : undefined), 'op-b takes over', 15_000);
    expect(Date.now() - frozenAt).toBeGreaterThanOrEqual(1500);
    await custom.patchClusterCustomObject({ ...G, name: 'p', body: [{ op: 'replace', path: '/spec/kprobes/0/selectors/0/matchArgs/0/values', value: ['2222'] }] });
    await readyAt(2);

    const mark = api.requests.length;
    a.kill('SIGCONT');
    // Give the thawed process work to be tempted by: another generation.
    await custom.patchClusterCustomObject({ ...G, name: 'p', body: [{ op: 'replace', path: '/spec/kprobes/0/selectors/0/matchArgs/0/values', value: ['2223'] }] });
    const p3 = await readyAt(3);
    await new Promise((r) => setTimeout(r, 1000));
    expect(writesBy('operator-a', mark)).toEqual([]);
    expect(await holder()).toBe('op-b');
    expect(logs['a']).toContain('lost the lease');

    const nc = await connect({ servers: nats.url });
    try {
      const e = await (await nc.jetstream().views.kv(BUNDLES_BUCKET)).get(keys.assignment('n1.example', p3.metadata?.uid ?? ''));
      expect((JSON.parse(StringCodec().decode(e?.value ?? new Uint8Array())) as Assignment).generation).toBe(3);
    } finally {
      await nc.close();
    }
    for (const p of procs) p.kill('SIGTERM');
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : p.once('exit', r)))));
  }, 60_000);
});
