// Shared by the operator's tests and benchmarks: the CRDs, a valid policy and a running system (API server, NATS,
// operator, sensors with recording appliers). Not exported from the package.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { fullNodeProfile } from '@vigil/policy-schema';
import { BundleAgent, RecordingApplier, type BundleAgentOptions, type BundleApplier } from '@vigil/sensor';
import { startNatsServer, startTestApiServer, type NatsServer, type TestApiServer } from '@vigil/testing';
import { loadCrds } from './dev/crds.js';
import { Operator, type OperatorOptions } from './operator.js';
import type { PolicyObject } from './controllers/policy-ref.js';

export { loadCrds };

export function policyBody(name: string, port: number, extra: { mode?: 'monitor'; argIndex?: number } = {}): PolicyObject {
  const spec: Record<string, unknown> = {
    kprobes: [
      {
        call: 'tcp_connect',
        syscall: false,
        args: [{ index: 0, type: 'sock' }],
        selectors: [{ matchArgs: [{ index: extra.argIndex ?? 0, operator: 'DPort', values: [String(port)] }] }],
      },
    ],
  };
  if (extra.mode) spec['options'] = [{ name: 'policy-mode', value: 'monitor' }];
  return { apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name }, spec };
}

export interface System {
  api: TestApiServer;
  nats: NatsServer;
  kc: KubeConfig;
  custom: CustomObjectsApi;
  core: CoreV1Api;
  log: Logger;
  startOperator(o?: Partial<OperatorOptions>): Promise<Operator>;
  startSensor(node: string, applier?: BundleApplier, extra?: Partial<BundleAgentOptions>): Promise<{ agent: BundleAgent; applier: BundleApplier }>;
  addNode(name: string): Promise<void>;
  stop(): Promise<void>;
}

export async function startSystem(opts: { logLevel?: string } = {}): Promise<System> {
  const api = await startTestApiServer({ objects: loadCrds() as never[] });
  const nats = await startNatsServer();
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  const log = pino({ level: opts.logLevel ?? process.env['VIGIL_TEST_LOG'] ?? 'silent' });
  const operators: Operator[] = [];
  const agents: BundleAgent[] = [];
  const dirs: string[] = [];
  const core = kc.makeApiClient(CoreV1Api);
  return {
    api,
    nats,
    kc,
    custom: kc.makeApiClient(CustomObjectsApi),
    core,
    log,
    async startOperator(o = {}) {
      const op = await Operator.start({ kubeconfig: kc, natsServers: nats.url, logger: log, ...o });
      operators.push(op);
      return op;
    },
    async startSensor(node, applier = new RecordingApplier(), extra = {}) {
      const dir = mkdtempSync(join(tmpdir(), 'vigil-sensor-state-'));
      dirs.push(dir);
      const agent = await BundleAgent.start({ servers: nats.url, node, profile: fullNodeProfile(), capabilities: [], applier, stateDir: dir, logger: log, reconnectTimeWaitMs: 50, ...extra });
      agents.push(agent);
      return { agent, applier };
    },
    async addNode(name) {
      await core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name } } });
    },
    async stop() {
      await Promise.all(agents.map((a) => a.stop()));
      await Promise.all(operators.map((o) => o.stop().catch(() => undefined)));
      await nats.stop();
      await api.stop();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

export async function eventually<T>(fn: () => Promise<T | undefined> | T | undefined, what: string, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Reads a cluster-scoped TracingPolicy, and waits until one satisfies `pred` (the operator tests' view of status). */
export function clusterPolicies(sys: Pick<System, 'custom'>): {
  get(name: string): Promise<PolicyObject>;
  until(name: string, pred: (p: PolicyObject) => boolean, what: string): Promise<PolicyObject>;
} {
  const get = async (name: string): Promise<PolicyObject> => (await sys.custom.getClusterCustomObject({ group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies', name })) as PolicyObject;
  return {
    get,
    until: (name, pred, what) =>
      eventually(async () => {
        const p = await get(name);
        return pred(p) ? p : undefined;
      }, what),
  };
}
