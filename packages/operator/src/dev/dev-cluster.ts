// `vigil dev-cluster`: the whole system on one machine, without a cluster — the test API server (with the CRDs
// and a Node for this machine), a nats-server with JetStream, the operator, and one sensor. The sensor is the
// real `vigil-sensor run --nats` when running as root (it probes the kernel and announces the real NodeProfile);
// otherwise, or with --sensor simulated, an in-process sensor transport with the same applier production uses.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import { parseAllDocuments } from 'yaml';
import { fullNodeProfile, type CommandIo } from '@vigil/policy-schema';
import { BundleAgent, RefusingApplier } from '@vigil/sensor';
import { startNatsServer, startTestApiServer, type NatsServer, type TestApiServer } from '@vigil/testing';
import { Operator } from '../operator.js';
import { loadCrds, REPO_ROOT } from './crds.js';

export const DEV_CLUSTER_HELP = `vigil dev-cluster — API server, NATS, operator and a sensor on this machine

Options:
  --kubeconfig PATH     write the kubeconfig here (default: a temporary file, printed)
  --policy-dir DIR      apply every TracingPolicy YAML in DIR at start
  --node-name NAME      the node this machine plays (default: the hostname)
  --sensor real|simulated
                        real: vigil-sensor run --nats (root, built BPF objects); simulated: in-process sensor
                        transport, no BPF (default: real as root, else simulated)
  -h, --help
`;

export interface DevClusterOptions {
  kubeconfigPath?: string;
  policyDir?: string;
  nodeName?: string;
  sensor?: 'real' | 'simulated';
  logger?: Logger;
}

export interface DevCluster {
  api: TestApiServer;
  nats: NatsServer;
  operator: Operator;
  kubeconfigPath: string;
  nodeName: string;
  sensor: 'real' | 'simulated';
  /** Names of the policies applied from --policy-dir. */
  applied: string[];
  instructions(): string;
  stop(): Promise<void>;
}

const G = { group: 'vigil.dev', version: 'v1alpha1' };

export async function startDevCluster(o: DevClusterOptions = {}): Promise<DevCluster> {
  const log = o.logger ?? pino({ level: 'info' }, pino.destination(2));
  const work = mkdtempSync(join(tmpdir(), 'vigil-dev-'));
  const nodeName = o.nodeName ?? hostname();
  const sensorKind = o.sensor ?? ((process.getuid?.() ?? 1) === 0 ? 'real' : 'simulated');
  const api = await startTestApiServer({ objects: loadCrds() as never[] });
  const nats = await startNatsServer({ storeDir: join(work, 'nats') });
  const kubeconfigPath = await api.writeKubeconfig(o.kubeconfigPath ?? join(work, 'kubeconfig'));
  const kc = new KubeConfig();
  kc.loadFromString(api.kubeconfig());
  await kc.makeApiClient(CoreV1Api).createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName, labels: { 'kubernetes.io/hostname': nodeName } } } });
  const operator = await Operator.start({ kubeconfig: kc, natsServers: nats.url, logger: log.child({ part: 'operator' }) });

  let child: ChildProcess | undefined;
  let agent: BundleAgent | undefined;
  const stateDir = join(work, 'sensor-state');
  mkdirSync(stateDir, { recursive: true });
  if (sensorKind === 'real') {
    const bin = join(REPO_ROOT, 'packages', 'sensor', 'bin', 'vigil-sensor.js');
    child = spawn(process.execPath, [bin, 'run', '--nats', nats.url, '--node-name', nodeName, '--state-dir', stateDir, '--output', 'compact', '--export-file', join(work, 'events.log')], { stdio: ['ignore', 'ignore', 'inherit'] });
  } else {
    agent = await BundleAgent.start({ servers: nats.url, node: nodeName, profile: fullNodeProfile(), capabilities: [], applier: new RefusingApplier(), stateDir, logger: log.child({ part: 'sensor' }) });
  }

  const applied: string[] = [];
  if (o.policyDir) {
    const custom = kc.makeApiClient(CustomObjectsApi);
    for (const f of readdirSync(o.policyDir).filter((x) => /\.ya?ml$/.test(x)).sort()) {
      for (const d of parseAllDocuments(readFileSync(join(o.policyDir, f), 'utf8'))) {
        const body = d.toJS() as { kind?: string; metadata?: { name?: string; namespace?: string } } | null;
        if (!body || (body.kind !== 'TracingPolicy' && body.kind !== 'TracingPolicyNamespaced')) continue;
        (body as { apiVersion: string }).apiVersion = 'vigil.dev/v1alpha1';
        if (body.kind === 'TracingPolicy') await custom.createClusterCustomObject({ ...G, plural: 'tracingpolicies', body });
        else await custom.createNamespacedCustomObject({ ...G, plural: 'tracingpoliciesnamespaced', namespace: body.metadata?.namespace ?? 'default', body });
        applied.push(body.metadata?.name ?? f);
      }
    }
  }

  return {
    api,
    nats,
    operator,
    kubeconfigPath,
    nodeName,
    sensor: sensorKind,
    applied,
    instructions: () =>
      [
        `Vigil dev cluster is up: API server ${api.url}, NATS ${nats.url}, node ${nodeName} (${sensorKind} sensor).`,
        applied.length ? `Applied from --policy-dir: ${applied.join(', ')}` : '',
        '',
        `  export KUBECONFIG=${kubeconfigPath}`,
        '  kubectl apply -f examples/policies/outbound-connect.yaml',
        '  kubectl get tracingpolicies            # READY  MODE  NODES  AGE',
        '  kubectl get tracingpolicy outbound-connect -o jsonpath="{.status}"',
        '  kubectl get tracingpolicies -w         # watch status change',
        sensorKind === 'real' ? `  tail -f ${join(work, 'events.log')}     # the sensor's events` : '',
        '',
        'Until the enforcement engine is in this build the sensor refuses bundles honestly: READY False, the reason in',
        'status.nodes.failures. Ctrl-C stops everything.',
      ]
        .filter((l, i, a) => l !== '' || a[i - 1] !== '')
        .join('\n'),
    async stop() {
      await agent?.stop();
      if (child && child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child?.once('exit', r));
      }
      await operator.stop();
      await nats.stop();
      await api.stop();
      rmSync(work, { recursive: true, force: true });
    },
  };
}

export async function runDevClusterCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  let values;
  try {
    values = parseArgs({
      args: [...argv],
      strict: true,
      options: { kubeconfig: { type: 'string' }, 'policy-dir': { type: 'string' }, 'node-name': { type: 'string' }, sensor: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    }).values;
  } catch (e) {
    io.err(`vigil dev-cluster: ${(e as Error).message}`);
    return 2;
  }
  if (values.help) {
    io.out(DEV_CLUSTER_HELP);
    return 0;
  }
  if (values.sensor !== undefined && values.sensor !== 'real' && values.sensor !== 'simulated') {
    io.err(`vigil dev-cluster: --sensor must be real or simulated, got "${values.sensor}"`);
    return 2;
  }
  const opts: DevClusterOptions = {};
  if (values.kubeconfig) opts.kubeconfigPath = values.kubeconfig;
  if (values['policy-dir']) opts.policyDir = values['policy-dir'];
  if (values['node-name']) opts.nodeName = values['node-name'];
  if (values.sensor) opts.sensor = values.sensor as 'real' | 'simulated';
  const dev = await startDevCluster(opts);
  io.out(dev.instructions());
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  await dev.stop();
  return 0;
}
