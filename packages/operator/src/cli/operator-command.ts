// `vigil operator run`: the operator process (Deployment in charts/vigil, child process in tests and dev-cluster).
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import type { CommandIo } from '@vigil/policy-schema';
import { LeaderElector } from '../leader-election.js';
import { Operator } from '../operator.js';

export const OPERATOR_HELP = `vigil operator run — watch TracingPolicies, publish bundles over NATS, write status

Options:
  --nats URL                 NATS server(s), comma-separated (required)
  --kubeconfig PATH          kubeconfig (default: in-cluster, else $KUBECONFIG / ~/.kube/config)
  --leader-elect             elect a leader through a coordination.k8s.io Lease (run 2+ replicas with it)
  --lease-namespace NS       namespace of the Lease (default: $POD_NAMESPACE or default)
  --lease-name NAME          Lease name (default: vigil-operator)
  --identity ID              this replica's identity (default: <hostname>_<pid>)
  --lease-duration-ms N      default 15000
  --renew-deadline-ms N      default 10000
  --retry-period-ms N        default 2000
  --all-announced-nodes      give bundles to every announced sensor, even without a Node object
  --node-stale-after-ms N    a node whose sensor has not announced (or whose Node object is gone) for N ms is
                             gone: no more assignments, its announce and acks deleted (default 120000)
  --log-level LEVEL          pino level (default: info)
  -h, --help
`;

function num(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new RangeError(`--${name} must be a positive whole number, got "${v}"`);
  return n;
}

/** Runs until SIGTERM/SIGINT; resolves with the exit code. */
export async function runOperatorCommand(argv: readonly string[], io: CommandIo): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === undefined || sub === '--help' || sub === '-h') {
    io.out(OPERATOR_HELP);
    return sub === undefined ? 2 : 0;
  }
  if (sub !== 'run') {
    io.err(`vigil operator: unknown command ${JSON.stringify(sub)}\n\n${OPERATOR_HELP}`);
    return 2;
  }
  let values;
  try {
    values = parseArgs({
      args: [...rest],
      strict: true,
      options: {
        nats: { type: 'string' },
        kubeconfig: { type: 'string' },
        'leader-elect': { type: 'boolean' },
        'lease-namespace': { type: 'string' },
        'lease-name': { type: 'string' },
        identity: { type: 'string' },
        'lease-duration-ms': { type: 'string' },
        'renew-deadline-ms': { type: 'string' },
        'retry-period-ms': { type: 'string' },
        'all-announced-nodes': { type: 'boolean' },
        'node-stale-after-ms': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }).values;
  } catch (e) {
    io.err(`vigil operator run: ${(e as Error).message}`);
    return 2;
  }
  if (values.help) {
    io.out(OPERATOR_HELP);
    return 0;
  }
  if (!values.nats) {
    io.err('vigil operator run: --nats URL is required');
    return 2;
  }
  let staleAfterMs: number | undefined;
  try {
    staleAfterMs = num(values['node-stale-after-ms'], 'node-stale-after-ms');
  } catch (e) {
    io.err(`vigil operator run: ${(e as Error).message}`);
    return 2;
  }
  const log = pino({ level: values['log-level'] ?? 'info' });
  const kc = new KubeConfig();
  if (values.kubeconfig) kc.loadFromFile(values.kubeconfig);
  else kc.loadFromDefault();
  const identity = values.identity ?? `${hostname()}_${process.pid}`;
  let elector: LeaderElector | undefined;
  const ref: { operator?: Operator } = {};
  if (values['leader-elect']) {
    const opts = {
      kc,
      namespace: values['lease-namespace'] ?? process.env['POD_NAMESPACE'] ?? 'default',
      name: values['lease-name'] ?? 'vigil-operator',
      identity,
      log: log.child({ component: 'leader-election' }),
      onStartedLeading: () => ref.operator?.leadershipChanged(true),
      onStoppedLeading: () => ref.operator?.leadershipChanged(false),
    };
    const d = num(values['lease-duration-ms'], 'lease-duration-ms');
    const r = num(values['renew-deadline-ms'], 'renew-deadline-ms');
    const p = num(values['retry-period-ms'], 'retry-period-ms');
    elector = new LeaderElector({ ...opts, ...(d ? { leaseDurationMs: d } : {}), ...(r ? { renewDeadlineMs: r } : {}), ...(p ? { retryPeriodMs: p } : {}) });
  }
  const e = elector;
  const operator = await Operator.start({
    kubeconfig: kc,
    natsServers: values.nats.split(','),
    logger: log.child({ identity }),
    requireNodeObject: !values['all-announced-nodes'],
    ...(staleAfterMs ? { staleAfterMs } : {}),
    ...(e ? { isLeader: () => e.isLeader() } : {}),
  });
  ref.operator = operator;
  // Leadership gained before the operator existed is replayed now.
  if (elector?.isLeader()) operator.leadershipChanged(true);
  elector?.start();
  log.info({ identity, leaderElection: Boolean(elector) }, 'operator started');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  await elector?.stop();
  await operator.stop();
  return 0;
}
