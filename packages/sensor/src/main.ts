/**
 * Composition root of the standalone sensor: wires preflight, the process lifecycle unit, the formatter and the
 * sink, and owns shutdown. Nothing else in the package creates long-lived resources on its own.
 */
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import v8 from 'node:v8';
import { fileURLToPath } from 'node:url';
import { pino, type Logger } from 'pino';
import { KtimeClock } from './events/exec-id.js';
import { CompactFormatter } from './export/compact.js';
import { TetragonJsonFormatter } from './export/json.js';
import type { EventFormatter, SensorEvent } from './export/model.js';
import { DisabledEventExport, NatsEventExporter, type EventExport } from './export/nats-exporter.js';
import { RotatingFileSink, StreamSink, type LineSink } from './export/writer.js';
import { CompositeApplier } from './enforce/composite.js';
import { FallbackEnforcementEngine } from './enforce/engine.js';
import { GenericHookEngine } from './generic/engine.js';
import { ensureOwnCgroup } from './enforce/own-cgroup.js';
import { applyPolicies } from './enforce/standalone.js';
import { PersistingApplier } from './persist/applied.js';
import { logPersistReport } from './persist/log.js';
import { stalePolicyUids } from './persist/reconcile.js';
import { readPolicyDir } from './policy/policy-dir.js';
import { preflight } from './preflight.js';
import { ProcessLifecycleSensor, type LifecycleStats } from './sensors/process-lifecycle.js';
import { startTransport } from './transport/wire.js';
import { IdentityApplier, IdentityRuntime } from './identity/runtime.js';

export const DEFAULT_OBJECTS_DIR = fileURLToPath(new URL('../../../bpf/.output/', import.meta.url));
export const DEFAULT_PIN_ROOT = '/sys/fs/bpf/vigil';

export interface RunOptions {
  policyDir: string | undefined;
  output: 'json' | 'compact';
  exportFile: string | undefined;
  exportFileMaxBytes: number;
  exportFileRotations: number;
  nodeName: string;
  objectsDir: string;
  pinRoot: string;
  ringBytes: number;
  ancestors: number;
  statsIntervalMs: number;
  logger?: Logger;
  /** where event lines go when no export file is set */
  stdout?: NodeJS.WritableStream;
  /** NATS URL(s): join the cluster (announce, receive bundles, ack); see transport/wire.ts. */
  nats?: string;
  /** 'fallback' ignores LSM BPF, kprobes and fentry even where the kernel has them */
  mechanisms: 'auto' | 'fallback';
  /** Where the last applied bundles are kept (with nats). */
  stateDir?: string;
  /** Unix socket for vigil-oci-hook registrations (absent: no hook socket); e.g. /run/vigil/hook.sock */
  hookSocket?: string;
  /** This node's labels for spec.nodeSelector of --policy-dir policies (undefined: none given). */
  nodeLabels?: Record<string, string>;
  /** Events on NATS (with nats): protobuf only (default), protobuf + JSON twin, or none. */
  natsEvents?: 'protobuf' | 'both' | 'off';
}

export function defaultRunOptions(): RunOptions {
  return {
    policyDir: undefined,
    output: 'json',
    exportFile: undefined,
    exportFileMaxBytes: 100 * 1024 * 1024,
    exportFileRotations: 5,
    nodeName: hostname(),
    objectsDir: DEFAULT_OBJECTS_DIR,
    pinRoot: DEFAULT_PIN_ROOT,
    ringBytes: 4 * 1024 * 1024,
    ancestors: 0,
    statsIntervalMs: 60_000,
    mechanisms: 'auto',
  };
}

/**
 * Heap tuning for a long-running sensor that caches 100k processes: V8's size-optimized heap growth keeps RSS
 * ~30% lower in the RSS benchmark (docs/benchmarks.md) at no measurable cost to event throughput.
 */
export function tuneHeapForSensor(): void {
  v8.setFlagsFromString('--optimize-for-size');
}

export function createLogger(level = process.env.VIGIL_LOG_LEVEL ?? 'info'): Logger {
  return pino({ level, base: { component: 'vigil-sensor' } }, pino.destination({ fd: 2, sync: true }));
}

export interface RunningSensor {
  lifecycle: ProcessLifecycleSensor;
  stats(): LifecycleStats;
  stop(): void;
}

export function startSensor(o: RunOptions): RunningSensor {
  const logger = o.logger ?? createLogger();
  const bpffs = dirname(o.pinRoot); // the pin root is a directory Vigil creates inside a mounted bpffs
  preflight({ objectsDir: o.objectsDir, objects: ['process_lifecycle.bpf.o'], bpffs });
  const policyDir = o.policyDir ? readPolicyDir(o.policyDir) : undefined; // an unreadable directory fails here, in one line

  const clock = new KtimeClock();
  // Identity (identity/runtime.ts): every event goes through pod attribution before the sink and NATS.
  const identity = IdentityRuntime.start({
    pinRoot: o.pinRoot,
    nodeName: o.nodeName,
    ...(o.nats ? { nats: o.nats } : {}),
    ...(o.hookSocket ? { hookSocket: o.hookSocket } : {}),
    logger,
    emit: (ev) => {
      sink.write(formatter.format(ev));
      events.offer(ev);
    },
  });
  const formatter: EventFormatter = o.output === 'compact' ? new CompactFormatter() : new TetragonJsonFormatter(o.nodeName, clock, identity.enricher);
  const sink: LineSink = o.exportFile
    ? new RotatingFileSink({ path: o.exportFile, maxBytes: o.exportFileMaxBytes, keep: o.exportFileRotations })
    : new StreamSink(o.stdout ?? process.stdout);

  const events: EventExport =
    o.nats && o.natsEvents !== 'off' ? NatsEventExporter.start({ servers: o.nats.split(','), node: o.nodeName, clock, logger, json: o.natsEvents === 'both', pods: identity.enricher }) : DisabledEventExport;
  const lifecycle = ProcessLifecycleSensor.start({
    objectPath: `${o.objectsDir}/process_lifecycle.bpf.o`,
    pinRoot: o.pinRoot,
    persist: true, // exec/fork/exit keep being recorded while the sensor is down (docs/adr/0009)
    onPersist: (r) => logPersistReport(logger, r),
    node: o.nodeName,
    ringBytes: o.ringBytes,
    ancestors: o.ancestors,
    logger,
    clock,
    onEvent: (ev) => {
      identity.offer(ev);
    },
  });

  // Enforcement: the fallback engine (units start on first use, so a node without policies pays nothing).
  const own = policyDir || o.nats ? ensureOwnCgroup() : undefined;
  if (own?.moved) logger.info({ cgroup: own.path }, 'moved the sensor into its own cgroup so that exempting it exempts nothing else');
  const engine = new FallbackEnforcementEngine({
    objectsDir: o.objectsDir,
    pinRoot: o.pinRoot,
    ...(own ? { exemptCgroupIds: [own.id] } : {}),
    onDecision: (d) => {
      const p = lifecycle.cache.byPidNow(d.pid) ?? lifecycle.cache.unknown(d.pid, d.tid, 0n);
      const ev: SensorEvent = {
        type: 'enforcement',
        timeNs: BigInt(Date.now()) * 1_000_000n,
        process: p,
        parent: p.parent,
        ancestors: o.ancestors > 0 ? lifecycle.cache.ancestors(p, o.ancestors + 1).slice(1) : undefined,
        eventKind: 'process_lsm',
        functionName: d.hook,
        policyName: d.policyName,
        action: d.action,
        mechanism: d.mechanism,
        detail: d.detail,
      };
      identity.offer(ev);
    },
    onError: (err) => logger.warn({ err }, 'enforcement unit error'),
    onPersist: (r) => logPersistReport(logger, r),
  });
  // In-kernel selector hooks (kprobes, LSM, fentry, tracepoints, uprobes, syscalls; generic/engine.ts): the
  // composite routes each hook of a bundle to the engine its mechanism needs, all-or-nothing per policy.
  const generic = new GenericHookEngine({
    objectsDir: o.objectsDir,
    pinRoot: o.pinRoot,
    ...(own ? { exemptCgroupIds: [own.id] } : {}),
    processes: lifecycle.cache,
    clock,
    onEvent: (ev) => {
      identity.offer(ev);
    },
    onError: (err) => logger.warn({ err }, 'generic hook engine error'),
  });
  const composite = new CompositeApplier(engine, generic);
  // Persistence (docs/adr/0009): every known policy is restored first, then the kernel is written once (pinned
  // units are adopted as they are until then); what is applied is recorded in the state directory for status.
  engine.beginRestore();
  const applier = new PersistingApplier(new IdentityApplier(composite, identity.sets), o.stateDir ?? '/var/lib/vigil/sensor', (uid) =>
    composite.status(uid).map((h) => ({ path: h.path, hook: h.hook, mechanism: h.mechanism, status: h.state === 'refused' ? ('refused' as const) : ('enforcing' as const) })),
  );
  const localPolicies = policyDir ? applyPolicies(policyDir, { engine: applier, objectsDir: o.objectsDir, mechanisms: o.mechanisms, logger, ...(o.nodeLabels ? { nodeLabels: o.nodeLabels } : {}) }) : undefined;

  const logStats = () => {
    const s = lifecycle.stats();
    logger.info(
      { records: s.records.toString(), lost: s.reserveFailures.toString(), unaccounted: s.unaccounted.toString(), decodeErrors: s.decodeErrors, cached: s.cache.size, evicted: s.cache.evicted, nats: events.stats(), identity: identity.stats() },
      'sensor stats',
    );
  };
  const transport = o.nats
    ? startTransport({ natsUrl: o.nats, nodeName: o.nodeName, objectsDir: o.objectsDir, stateDir: o.stateDir ?? '/var/lib/vigil/sensor', logger, applier }).catch((err: unknown) => {
        logger.error({ err }, 'NATS transport did not start');
        return undefined;
      })
    : undefined;
  const restored = Promise.all([localPolicies, transport])
    .then(() => engine.reconcile())
    .then(async (removed) => {
      // Selector-engine policies pinned by an earlier sensor that no source offered this time: removed while down.
      for (const uid of stalePolicyUids(join(o.pinRoot, 'generic'), applier.offered)) {
        await generic.remove(uid);
        removed.push(`${join(o.pinRoot, 'generic')} policy ${uid}`);
      }
      applier.flush();
      identity.sets?.settle(); // every stored policy re-ensured its sets: drop what a previous sensor left and nobody wants
      if (removed.length > 0) logger.info({ removed }, 'removed pinned units no current policy needs (removed while the sensor was down)');
      logger.info('enforcement ready');
    })
    .catch((err: unknown) => logger.error({ err }, 'restoring enforcement failed'));
  const timer = o.statsIntervalMs > 0 ? setInterval(logStats, o.statsIntervalMs) : undefined;
  timer?.unref();
  let stopped = false;
  return {
    lifecycle,
    stats: () => lifecycle.stats(),
    stop() {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      void transport?.then((t) => t?.stop());
      // Pinned kill and connect units stay armed in the kernel; fanotify stops with the process.
      void restored.then(() => Promise.all([engine.close(), generic.close()]));
      lifecycle.drain();
      logStats();
      lifecycle.close();
      void identity.stop(); // emits what attribution still held, before the sink closes
      sink.close();
      void events.close(); // after the last drain: what it queued is still published
    },
  };
}
