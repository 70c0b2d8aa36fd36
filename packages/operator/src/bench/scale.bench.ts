/**
 * Operator CPU and RSS with POLICIES policies × NODES nodes (default 1,000 × 100, the size). Every party
 * is its own process, as in a cluster: the operator is `vigil operator run` (its CPU and peak RSS read from
 * /proc), the NODES simulated sensors share one child process (sim-sensors.ts), nats-server 2.9 is real, and
 * the test API server runs here with the polling. Ends when every policy reports Ready with NODES/NODES
 * applied; then measures the idle operator and a restart (which must write nothing). JSON lines for
 * tools/bench/run.js. VIGIL_BENCH_POLICIES / VIGIL_BENCH_NODES change the size.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { connect } from 'nats';
import { ACKS_BUCKET, BUNDLES_BUCKET } from '@vigil/sensor';
import { startNatsServer, startTestApiServer } from '@vigil/testing';
import { loadCrds } from '../dev/crds.js';
import type { PolicyObject } from '../controllers/policy-ref.js';

const POLICIES = Number(process.env['VIGIL_BENCH_POLICIES'] ?? 1000);
const NODES = Number(process.env['VIGIL_BENCH_NODES'] ?? 100);
const G = { group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies' };
const here = fileURLToPath(new URL('.', import.meta.url));
const CLI = join(here, '..', 'cli.js');
const bench = `operator.scale-${POLICIES}x${NODES}`;

function report(metric: string, value: number, note: string, extra: { goal?: string; pass?: boolean } = {}): void {
  process.stdout.write(`${JSON.stringify({ bench, metric, value, baseline: null, ratio: null, note, ...extra })}\n`);
}
/** utime + stime of a process in seconds. */
function cpuS(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(f[11]) + Number(f[12])) / 100;
}
function statusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
}
function waitFor(p: ChildProcess, text: string, out: { log: string }, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`no "${text}" within ${ms} ms:\n${out.log.slice(-2000)}`)), ms);
    const check = (): void => {
      if (out.log.includes(text)) {
        clearTimeout(t);
        resolve();
      }
    };
    p.stdout?.on('data', check);
    p.once('exit', (code) => reject(new Error(`exited ${code}:\n${out.log.slice(-2000)}`)));
    check();
  });
}
function startChild(args: string[]): { p: ChildProcess; out: { log: string } } {
  const out = { log: '' };
  const p = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.stdout?.on('data', (d: Buffer) => (out.log = (out.log + d.toString()).slice(-100_000)));
  p.stderr?.on('data', (d: Buffer) => (out.log = (out.log + d.toString()).slice(-100_000)));
  return { p, out };
}
async function stopChild(p: ChildProcess): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const gone = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await gone;
  clearTimeout(t);
}

const api = await startTestApiServer({ objects: loadCrds() as never[], historyLimit: 1_000_000 });
const nats = await startNatsServer();
const dir = mkdtempSync(join(tmpdir(), 'vigil-scale-'));
const children: ChildProcess[] = [];
try {
  const kcPath = await api.writeKubeconfig(join(dir, 'kubeconfig'));
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  for (let i = 0; i < NODES; i++) await core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: `node-${i}.bench.local` } } });
  const sensors = startChild([join(here, 'sim-sensors.js'), nats.url, String(NODES), join(dir, 'state')]);
  children.push(sensors.p);
  await waitFor(sensors.p, 'ready', sensors.out, 120_000);
  const startOperator = async (): Promise<{ p: ChildProcess; out: { log: string } }> => {
    // VIGIL_BENCH_PROFILE_DIR=DIR: the operator writes a V8 CPU profile there (open it in Chrome DevTools).
    const prof = process.env['VIGIL_BENCH_PROFILE_DIR'];
    const op = startChild([...(prof ? ['--cpu-prof', `--cpu-prof-dir=${prof}`] : []), CLI, 'operator', 'run', '--nats', nats.url, '--kubeconfig', kcPath, '--log-level', 'info']);
    children.push(op.p);
    await waitFor(op.p, 'operator started', op.out, 60_000);
    return op;
  };
  const op = await startOperator();
  const opPid = op.p.pid as number;
  const natsPid = nats.pid as number;
  const sensorsPid = sensors.p.pid as number;
  const cpu0 = { op: cpuS(opPid), nats: cpuS(natsPid), sensors: cpuS(sensorsPid), bench: process.cpuUsage() };
  const mark = api.requests.length;

  const t0 = performance.now();
  const body = (i: number): PolicyObject => ({
    apiVersion: 'vigil.dev/v1alpha1',
    kind: 'TracingPolicy',
    metadata: { name: `scale-${i}` },
    spec: { kprobes: [{ call: 'tcp_connect', syscall: false, args: [{ index: 0, type: 'sock' }], selectors: [{ matchArgs: [{ index: 0, operator: 'DPort', values: [String(1 + (i % 60000))] }] }] }] },
  });
  for (let i = 0; i < POLICIES; i += 50) await Promise.all(Array.from({ length: Math.min(50, POLICIES - i) }, (_, j) => custom.createClusterCustomObject({ ...G, body: body(i + j) })));
  const createdS = (performance.now() - t0) / 1000;
  let ready = 0;
  let peakRssKb = 0;
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const list = (await custom.listClusterCustomObject(G)) as { items: PolicyObject[] };
    ready = list.items.filter((p) => p.status?.observedGeneration === 1 && p.status.nodes?.applied === NODES && p.status.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
    peakRssKb = Math.max(peakRssKb, statusKb(opPid, 'VmRSS'));
    if (ready === POLICIES) break;
    if (Date.now() > deadline) throw new Error(`only ${ready}/${POLICIES} policies Ready after 30 min`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const wallS = (performance.now() - t0) / 1000;
  const cpu = { op: cpuS(opPid) - cpu0.op, nats: cpuS(natsPid) - cpu0.nats, sensors: cpuS(sensorsPid) - cpu0.sensors };
  const hwmKb = statusKb(opPid, 'VmHWM');
  const statusWrites = api.requests.slice(mark).filter((r) => r.verb === 'update' && r.path.endsWith('/status') && (r.status ?? 500) < 300).length;
  const conflicts = api.requests.slice(mark).filter((r) => r.status === 409).length;
  const nc = await connect({ servers: nats.url });
  const seq = async (bucket: string): Promise<number> => (await (await nc.jetstream().views.kv(bucket)).status()).streamInfo.state.last_seq;
  const kvWrites = await seq(BUNDLES_BUCKET);
  const acks = await seq(ACKS_BUCKET);

  // Idle: nothing changes for 10 s.
  const idle0 = cpuS(opPid);
  await new Promise((r) => setTimeout(r, 10_000));
  const idleCpu = cpuS(opPid) - idle0;

  // Restart: a new operator process over the same cluster publishes nothing and writes no status.
  await stopChild(op.p);
  const markRestart = api.requests.length;
  const t1 = performance.now();
  const op2 = await startOperator();
  await new Promise((r) => setTimeout(r, 15_000));
  const restartWrites = (await seq(BUNDLES_BUCKET)) - kvWrites;
  const restartStatusWrites = api.requests.slice(markRestart).filter((r) => r.verb === 'update' && (r.status ?? 500) < 300).length;
  const restartCpu = cpuS(op2.p.pid as number);
  const restartS = (performance.now() - t1) / 1000;
  await nc.close();

  const note = `${POLICIES} policies x ${NODES} nodes; operator = vigil operator run (own process), ${NODES} BundleAgents in one other process, nats-server 2.9.10, test API server in the bench process; 2-core VM`;
  report('seconds to all Ready', wallS, `${note}; policies created in ${createdS.toFixed(1)} s (50 concurrent creates)`);
  report('operator CPU s', cpu.op, note);
  report('operator peak RSS MiB', Math.max(hwmKb, peakRssKb) / 1024, note);
  report('nats-server CPU s', cpu.nats, note);
  report('sensors CPU s (all simulated sensors)', cpu.sensors, note);
  report('KV writes (vigil-bundles)', kvWrites, `${acks} acks; ${statusWrites} status writes, ${conflicts} 409 conflicts (retried)`);
  report('operator idle CPU s per 10 s', idleCpu, 'after everything is Ready, nothing changing');
  report('KV writes after a restart', restartWrites, `a new operator process, ${restartS.toFixed(0)} s observed; ${restartStatusWrites} API writes; its CPU ${restartCpu.toFixed(1)} s to re-read cluster and bucket`, { goal: '0', pass: restartWrites === 0 });
} finally {
  for (const c of children) await stopChild(c);
  await nats.stop();
  await api.stop();
  rmSync(dir, { recursive: true, force: true });
}
