#!/usr/bin/env node
/** `vigil-sensor`: the node sensor's command line. */
import { parseArgs } from 'node:util';
import { SensorError } from './errors.js';
import { parseNodeLabels } from './node-labels.js';
import { LibbpfError } from './libbpf/index.js';
import { createLogger, defaultRunOptions, startSensor, tuneHeapForSensor, DEFAULT_OBJECTS_DIR, type RunOptions } from './main.js';
import { formatCapabilityTable, probeKernel } from './probe/probe.js';
import { uninstallPins } from './uninstall.js';
import { formatPersistence } from './persist/persistence-table.js';
import { STATUS_HELP, statusCommand } from './persist/status-cli.js';

const HELP = `vigil-sensor — Vigil's node sensor: loads CO-RE BPF programs and streams process events

Usage:
  vigil-sensor run [options]     run the sensor on this machine (root)
  vigil-sensor probe [--json]    print which kernel capabilities work here (root)
  vigil-sensor status [--json]   what is pinned and armed in the kernel, and which rules are persistent (root)
  vigil-sensor uninstall         detach and remove everything Vigil pinned (kill and connect rules stay
                                 armed in the kernel after the sensor stops, by design) (root)
  vigil-sensor help [command]    show help

Run 'vigil-sensor run --help' for the run options.
`;

const RUN_HELP = `vigil-sensor run — stream process exec/exit events (Tetragon-compatible JSON or compact)

Options:
  --policy-dir DIR            directory of TracingPolicy YAML files: each is validated, compiled for this
                              node and enforced where a mechanism of this kernel can (refusals are logged
                              with the reason)
  --mechanisms auto|fallback  fallback: ignore LSM BPF, kprobes and fentry even where the kernel has them
                              (as on kernels booted without bpf in lsm=) (default: auto)
  --output json|compact       event format on stdout or in the export file (default: json)
  --export-file PATH          write events to PATH instead of stdout, rotated by size
  --export-file-max-mb N      rotate the export file past N MiB (default: 100)
  --export-file-rotations N   rotated files to keep: PATH.1 … PATH.N (default: 5)
  --node-name NAME            node name in events and exec_ids (default: the hostname)
  --node-labels K=V,...       this node's labels, for policies with spec.nodeSelector in --policy-dir (with
                              --nats the operator matches the Kubernetes Node's labels instead); a policy
                              with a nodeSelector is not loaded when no labels are given (said in the log)
  --ancestors N               attach up to N ancestors beyond the parent to each event (default: 0)
  --ring-buffer-mb N          kernel ring buffer size in MiB, a power of two (default: 4; the kernel maps
                              it twice into the sensor, so it shows twice in RSS)
  --bpf-objects DIR           directory of built .bpf.o files (default: ${DEFAULT_OBJECTS_DIR})
  --bpffs-root DIR            where Vigil pins its maps: a directory it creates inside a mounted bpffs
                              (default: /sys/fs/bpf/vigil)
  --stats-interval S          log counters every S seconds, 0 to disable (default: 60)
  --nats URL                  join a cluster: announce this node, receive policy bundles, apply and ack them,
                              keep the node's pod identity table (pod metadata in events, pod selectors)
  --state-dir DIR             where the last applied bundles are kept (default: /var/lib/vigil/sensor)
  --hook-socket PATH          accept container registrations from vigil-oci-hook on this unix socket (root
                              peers only), so pod policies apply from a container's first exec (e.g.
                              /run/vigil/hook.sock, the hook's default; default: no socket)
  --nats-events MODE          with --nats, publish events on vigil.events.<node>.<type>: protobuf (default),
                              both (protobuf + JSON twin on <subject>.json) or off (docs/events.md)
  -h, --help                  show this help

Logs are JSON (pino) on stderr; set VIGIL_LOG_LEVEL=debug for more.
Example:
  vigil-sensor run --policy-dir examples/policies --output compact
`;

const PROBE_HELP = `vigil-sensor probe — decide each kernel capability by loading and attaching a no-op program

Options:
  --json           print the table as JSON
  --bpf-objects DIR  directory of built .bpf.o files (default: ${DEFAULT_OBJECTS_DIR})
`;

function fail(message: string): never {
  process.stderr.write(`vigil-sensor: ${message}\n`);
  process.exit(1);
}

function intOption(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < min) throw new SensorError('BAD_ARGUMENT', `--${name} must be a whole number ≥ ${min}, got "${value}"`);
  return n;
}

function natsEventsOption(v: string | undefined): 'protobuf' | 'both' | 'off' {
  if (v === undefined || v === 'protobuf' || v === 'both' || v === 'off') return v ?? 'protobuf';
  throw new SensorError('BAD_ARGUMENT', `--nats-events must be protobuf, both or off, got "${v}"`);
}

function parseRun(argv: string[]): RunOptions | 'help' {
  const { values } = parseArgs({
    args: argv,
    options: {
      'policy-dir': { type: 'string' },
      output: { type: 'string' },
      'export-file': { type: 'string' },
      'export-file-max-mb': { type: 'string' },
      'export-file-rotations': { type: 'string' },
      'node-name': { type: 'string' },
      'node-labels': { type: 'string' },
      ancestors: { type: 'string' },
      'ring-buffer-mb': { type: 'string' },
      'bpf-objects': { type: 'string' },
      'bpffs-root': { type: 'string' },
      'stats-interval': { type: 'string' },
      nats: { type: 'string' },
      'nats-events': { type: 'string' },
      'state-dir': { type: 'string' },
      'hook-socket': { type: 'string' },
      mechanisms: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help) return 'help';
  const o = defaultRunOptions();
  const output = values.output ?? 'json';
  if (output !== 'json' && output !== 'compact') throw new SensorError('BAD_ARGUMENT', `--output must be json or compact, got "${output}"`);
  const mechanisms = values.mechanisms ?? 'auto';
  if (mechanisms !== 'auto' && mechanisms !== 'fallback') throw new SensorError('BAD_ARGUMENT', `--mechanisms must be auto or fallback, got "${mechanisms}"`);
  const ringMb = intOption('ring-buffer-mb', values['ring-buffer-mb'], 4, 1);
  if ((ringMb & (ringMb - 1)) !== 0) throw new SensorError('BAD_ARGUMENT', `--ring-buffer-mb must be a power of two, got ${ringMb}`);
  return {
    ...o,
    policyDir: values['policy-dir'],
    output,
    exportFile: values['export-file'],
    exportFileMaxBytes: intOption('export-file-max-mb', values['export-file-max-mb'], 100, 1) * 1024 * 1024,
    exportFileRotations: intOption('export-file-rotations', values['export-file-rotations'], 5, 0),
    nodeName: values['node-name'] ?? o.nodeName,
    ancestors: intOption('ancestors', values.ancestors, 0, 0),
    ringBytes: ringMb * 1024 * 1024,
    objectsDir: values['bpf-objects'] ?? o.objectsDir,
    pinRoot: values['bpffs-root'] ?? o.pinRoot,
    statsIntervalMs: intOption('stats-interval', values['stats-interval'], 60, 0) * 1000,
    mechanisms,
    ...(values.nats ? { nats: values.nats } : {}),
    natsEvents: natsEventsOption(values['nats-events']),
    ...(values['state-dir'] ? { stateDir: values['state-dir'] } : {}),
    ...(values['hook-socket'] ? { hookSocket: values['hook-socket'] } : {}),
    ...(values['node-labels'] !== undefined ? { nodeLabels: parseNodeLabels(values['node-labels']) } : {}),
  };
}

function run(argv: string[]): void {
  const opts = parseRun(argv);
  if (opts === 'help') {
    process.stdout.write(RUN_HELP);
    return;
  }
  tuneHeapForSensor();
  const logger = createLogger();
  const sensor = startSensor({ ...opts, logger });
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'stopping');
    sensor.stop();
    // No process.exit(): the event loop ends once stdout has flushed every event already written (a reader
    // that was slow must not lose the tail). A stuck reader gets 10 s.
    setTimeout(() => process.exit(0), 10_000).unref();
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  logger.info({ node: opts.nodeName, output: opts.output, exportFile: opts.exportFile ?? 'stdout' }, 'sensor running; Ctrl-C to stop');
}

function probe(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, 'bpf-objects': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write(PROBE_HELP);
    return;
  }
  if ((process.getuid?.() ?? 0) !== 0) throw new SensorError('NOT_ROOT', 'probe must run as root: it loads and attaches BPF programs; try: sudo vigil-sensor probe');
  const caps = probeKernel({ probeObject: `${values['bpf-objects'] ?? DEFAULT_OBJECTS_DIR}/probe.bpf.o` });
  process.stdout.write(values.json ? `${JSON.stringify(caps, null, 2)}\n` : `${formatCapabilityTable(caps)}\n\n${formatPersistence(caps)}\n`);
}

function uninstall(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { 'bpffs-root': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    process.stdout.write('vigil-sensor uninstall [--bpffs-root DIR]: removes every pin under DIR (default /sys/fs/bpf/vigil)\n');
    return;
  }
  if ((process.getuid?.() ?? 0) !== 0) throw new SensorError('NOT_ROOT', 'uninstall must run as root; try: sudo vigil-sensor uninstall');
  const removed = uninstallPins(values['bpffs-root'] ?? defaultRunOptions().pinRoot);
  process.stdout.write(removed.length === 0 ? 'nothing pinned: nothing to remove\n' : `removed ${removed.length} pins and directories:\n${removed.map((p) => `  ${p}`).join('\n')}\n`);
}

function main(argv: string[]): void {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'run':
      return run(rest);
    case 'probe':
      return probe(rest);
    case 'status':
      return statusCommand(rest);
    case 'uninstall':
    case 'cleanup':
      return uninstall(rest);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(rest[0] === 'run' ? RUN_HELP : rest[0] === 'probe' ? PROBE_HELP : rest[0] === 'status' ? STATUS_HELP : HELP);
      return;
    default:
      fail(`unknown command "${cmd}"; run 'vigil-sensor --help'`);
  }
}

try {
  main(process.argv.slice(2));
} catch (err) {
  if (err instanceof SensorError) fail(err.message);
  if (err instanceof LibbpfError) {
    const detail = err.detail(6);
    fail(`${err.message}${detail ? `\n${detail}` : ''}`);
  }
  if (err instanceof TypeError && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS')) fail(`${err.message}; run 'vigil-sensor --help'`);
  throw err;
}
