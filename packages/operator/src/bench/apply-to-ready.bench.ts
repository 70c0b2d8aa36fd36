/**
 * Policy apply → Ready on N simulated sensors (BundleAgents with recording appliers, each with its own NATS
 * connection and KV watch), through the real operator, a real nats-server and the test API server. Each round
 * creates or edits a policy and times until status says Ready=True for that generation on all N nodes.
 * Results as JSON lines for tools/bench/run.js.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { fullNodeProfile } from '@vigil/policy-schema';
import { BundleAgent, RecordingApplier } from '@vigil/sensor';
import { startNatsServer, startTestApiServer } from '@vigil/testing';
import { loadCrds } from '../dev/crds.js';
import { Operator } from '../operator.js';
import type { PolicyObject } from '../controllers/policy-ref.js';

const G = { group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies' };
const ROUNDS = Number(process.env['VIGIL_BENCH_ROUNDS'] ?? 20);

function report(r: { bench: string; metric: string; value: number; goal?: string; pass?: boolean; note?: string }): void {
  process.stdout.write(`${JSON.stringify({ baseline: null, ratio: null, ...r })}\n`);
}
function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] as number;
}
function body(name: string, port: number): PolicyObject {
  return {
    apiVersion: 'vigil.dev/v1alpha1',
    kind: 'TracingPolicy',
    metadata: { name },
    spec: { kprobes: [{ call: 'tcp_connect', syscall: false, args: [{ index: 0, type: 'sock' }], selectors: [{ matchArgs: [{ index: 0, operator: 'DPort', values: [String(port)] }] }] }] },
  };
}

async function system(nodes: number) {
  const api = await startTestApiServer({ objects: loadCrds() as never[], historyLimit: 100_000 });
  const nats = await startNatsServer();
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  const log = pino({ level: 'silent' });
  const core = kc.makeApiClient(CoreV1Api);
  const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-'));
  for (let i = 0; i < nodes; i++) await core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}.bench.local` } } });
  const agents: BundleAgent[] = [];
  for (let i = 0; i < nodes; i++)
    agents.push(await BundleAgent.start({ servers: nats.url, node: `node-${i}.bench.local`, profile: fullNodeProfile(), capabilities: [], applier: new RecordingApplier(), stateDir: join(dir, String(i)), logger: log, fsyncState: false }));
  await Promise.all(agents.map((a) => (a.syncCount > 0 ? undefined : a.nextSync())));
  const op = await Operator.start({ kubeconfig: kc, natsServers: nats.url, logger: log });
  return {
    custom: kc.makeApiClient(CustomObjectsApi),
    op,
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      await op.stop();
      await nats.stop();
      await api.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function untilReady(custom: CustomObjectsApi, name: string, generation: number, nodes: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = (await custom.getClusterCustomObject({ ...G, name })) as PolicyObject;
    const ready = p.status?.conditions?.find((c) => c.type === 'Ready');
    if (p.status?.observedGeneration === generation && ready?.status === 'True' && p.status.nodes?.applied === nodes) return;
    if (Date.now() > deadline) throw new Error(`${name} not Ready at generation ${generation} within ${timeoutMs} ms: ${JSON.stringify(p.status)}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

async function applyToReady(nodes: number): Promise<void> {
  const sys = await system(nodes);
  try {
    const times: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const name = `bench-${i % 5}`;
      const t0 = performance.now();
      let generation = 1;
      if (i < 5) await sys.custom.createClusterCustomObject({ ...G, body: body(name, 1000 + i) });
      else {
        const p = (await sys.custom.patchClusterCustomObject({ ...G, name, body: [{ op: 'replace', path: '/spec/kprobes/0/selectors/0/matchArgs/0/values', value: [String(2000 + i)] }] })) as PolicyObject;
        generation = p.metadata?.generation ?? 0;
      }
      await untilReady(sys.custom, name, generation, nodes);
      times.push(performance.now() - t0);
    }
    const note = `${ROUNDS} rounds (5 creates, then edits), ${nodes} sensors in one process, status polled every 2 ms`;
    report({ bench: `operator.apply-to-ready-${nodes}`, metric: 'p50 ms', value: pct(times, 50), note });
    const p99 = pct(times, 99);
    report({ bench: `operator.apply-to-ready-${nodes}`, metric: 'p99 ms', value: p99, goal: nodes >= 100 ? '<= 1000' : '', pass: nodes >= 100 ? p99 <= 1000 : true, note });
  } finally {
    await sys.stop();
  }
}

await applyToReady(10);
await applyToReady(100);
// Operator CPU/RSS at 1,000 policies x 100 nodes: scale.bench.ts (every party in its own process).
