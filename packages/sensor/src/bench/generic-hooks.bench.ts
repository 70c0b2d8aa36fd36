/**
 * Overhead of the in-kernel selector engine (generic hooks, issue #7) on operations its policies let through, and
 * its event throughput, in the same run as a baseline with nothing attached: alternating A/B rounds of the tight C
 * loops of bpf/tests/helpers/vg_loop.c, the median per configuration.
 *
 *   default policy set: three Tetragon-style policies a cluster typically runs, compiled for this kernel
 *     (sys_openat of a sensitive path, sys_connect to a denied address, sys_execve of a denied binary; each
 *     Sigkill, none matching the measured loop), on whatever mechanism the kernel offers (tp_btf sys_enter here,
 *     kprobe or fentry where those exist)
 *   open+close / connect / exec loops with the set applied vs nothing
 *   events/s: a policy that posts every openat, 100k opens; every record is received or counted as lost
 *     (sequence numbers vs reserve failures: "unaccounted" must be 0)
 */
import { spawnSync } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy, parsePolicy, type Bundle } from '@vigil/policy-schema';
import { GenericHookEngine } from '../generic/engine.js';
import { probeKernel } from '../probe/probe.js';
import { nodeProfileFromCapabilities } from '../transport/node-profile.js';
import { OBJECTS_DIR, median, report } from './report.js';

const LOOP = join(OBJECTS_DIR, 'helpers/vg_loop');
const ROUNDS = Number(process.env.VIGIL_BENCH_ROUNDS ?? 5);
const OPENS = Number(process.env.VIGIL_BENCH_OPENS ?? 200_000);
const CONNECTS = Number(process.env.VIGIL_BENCH_CONNECTS ?? 100_000);
const EXECS = Number(process.env.VIGIL_BENCH_EXECS ?? 300);
const EVENT_OPENS = Number(process.env.VIGIL_BENCH_EVENT_OPENS ?? 100_000);
const PIN_ROOT = `/sys/fs/bpf/vigil-bench-generic-${process.pid}`;

function loop(args: string[]): number {
  const r = spawnSync(LOOP, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vg_loop ${args.join(' ')} failed: ${r.stderr || String(r.signal)}`);
  return Number(r.stdout.trim());
}

const kprobePolicy = (name: string, call: string, args: string, match: string) => `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: { name: ${name} }
spec:
  kprobes:
  - call: ${call}
    syscall: true
    args: ${args}
    selectors:
    - matchArgs: ${match}
      matchActions: [{ action: Sigkill }]
`;

const DEFAULT_SET = [
  kprobePolicy('bench-open', 'sys_openat', '[{ index: 1, type: string }]', '[{ index: 1, operator: Equal, values: ["/etc/vigil-bench-never-opened"] }]'),
  kprobePolicy('bench-connect', 'sys_connect', '[{ index: 1, type: sockaddr }]', '[{ index: 1, operator: DAddr, values: ["192.0.2.0/24"] }]'),
  kprobePolicy('bench-exec', 'sys_execve', '[{ index: 0, type: string }]', '[{ index: 0, operator: Equal, values: ["/usr/bin/vigil-bench-never-run"] }]'),
];

const POST_EVERY_OPEN = `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: { name: bench-post-opens }
spec:
  kprobes:
  - call: sys_openat
    syscall: true
    args: [{ index: 1, type: string }]
`;

/**
 * `n` opens of `path` from a worker thread, `rate` per second in 1 ms slices (0: as fast as it can), while this
 * thread reads the ring.
 */
function openLoad(path: string, n: number, rate: number): Promise<void> {
  const code = `
const { openSync, closeSync } = require('node:fs');
const { workerData, parentPort } = require('node:worker_threads');
const { path, n, rate } = workerData;
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  if (rate > 0 && i % 100 === 0) {
    const due = start + BigInt(Math.floor((i / rate) * 1e9));
    while (process.hrtime.bigint() < due) {}
  }
  closeSync(openSync(path, 'r'));
}
parentPort.postMessage('done');
`;
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData: { path, n, rate } });
    w.on('message', () => void w.terminate().then(() => resolve()));
    w.on('error', reject);
  });
}

const profile = nodeProfileFromCapabilities(probeKernel({ probeObject: join(OBJECTS_DIR, 'probe.bpf.o') }));
const bundles: Bundle[] = DEFAULT_SET.map((y) => compilePolicy(parsePolicy(y), profile));
const mechanism = [...new Set(bundles.flatMap((b) => b.hooks.map((h) => h.mechanism)))].join('+');

async function withSet<T>(set: Bundle[], fn: (e: GenericHookEngine) => T, onEvent?: () => void): Promise<T> {
  const e = new GenericHookEngine({ objectsDir: OBJECTS_DIR, pinRoot: PIN_ROOT, exemptCgroupIds: [], ...(onEvent ? { onEvent } : {}) });
  try {
    for (const b of set) {
      const out = await e.apply(b);
      if (out.result !== 'applied') throw new Error(`${b.policy.name}: ${out.result}: ${out.reason}`);
    }
    return fn(e);
  } finally {
    await e.uninstall();
  }
}

async function abRounds(run: () => number): Promise<{ baseline: number; engine: number }> {
  run();
  const base: number[] = [];
  const eng: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    base.push(run());
    eng.push(await withSet(bundles, () => run()));
  }
  return { baseline: median(base), engine: median(eng) };
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-generic-'));
try {
  if (bundles.some((b) => b.hooks.some((h) => h.mechanism === 'none'))) {
    report({ bench: 'generic.overhead', metric: 'skipped', value: 0, note: `this kernel cannot run the default set: ${bundles.flatMap((b) => b.hooks.map((h) => h.refusal ?? '')).filter(Boolean).join('; ')}` });
  } else {
    const target = join(dir, 'target');
    writeFileSync(target, 'x');
    const bin = join(dir, 'bench-true');
    copyFileSync('/bin/true', bin);
    spawnSync('chmod', ['755', bin]);
    const note = (n: number) => `${ROUNDS} A/B rounds of ${n}; default set of 3 Sigkill policies on ${mechanism}, none matching`;
    for (const [what, args, n] of [
      ['open+close', ['open', target, String(OPENS)], OPENS],
      ['socket+connect+close', ['connect', '127.0.0.1', '9', String(CONNECTS)], CONNECTS],
      ['posix_spawn+wait', ['exec', bin, String(EXECS)], EXECS],
    ] as const) {
      const r = await abRounds(() => loop([...args]));
      const ratio = r.engine / r.baseline;
      report({ bench: `generic.${mechanism}`, metric: `ns per ${what}, default policy set applied (median)`, value: r.engine, baseline: r.baseline, ratio, goal: 'ratio <= 1.05', pass: ratio <= 1.05, note: note(n) });
    }
  }

  // events/s under a policy that posts every open: the loop runs in a child process while this process reads the
  // ring on its event loop (as the sensor does); every record written is received or counted as lost
  const post = compilePolicy(parsePolicy(POST_EVERY_OPEN), profile);
  if (post.hooks.every((h) => h.mechanism !== 'none')) {
    let received = 0;
    const target = join(dir, 'target');
    writeFileSync(target, 'x');
    const e = new GenericHookEngine({ objectsDir: OBJECTS_DIR, pinRoot: PIN_ROOT, exemptCgroupIds: [], onEvent: () => received++ });
    try {
      const out = await e.apply(post);
      if (out.result !== 'applied') throw new Error(`${out.result}: ${out.reason}`);
      /** Counters at a quiet moment: drained, snapshot, and nothing more arrived while taking it. */
      const settle = async () => {
        for (;;) {
          await new Promise((r) => setTimeout(r, 50));
          e.drain();
          const s = e.eventStats();
          const r = received;
          e.drain();
          if (received === r) return { attempts: s.attempts, lost: s.reserveFailures, received };
        }
      };
      for (const [label, rate] of [
        ['paced at 100k opens/s', 100_000],
        ['unpaced burst', 0],
      ] as const) {
        const before = await settle();
        const t0 = process.hrtime.bigint();
        await openLoad(target, EVENT_OPENS, rate);
        const secs = Number(process.hrtime.bigint() - t0) / 1e9;
        const after = await settle();
        const attempts = Number(after.attempts - before.attempts);
        const lost = Number(after.lost - before.lost);
        const got = after.received - before.received;
        const unaccounted = attempts - got - lost;
        report({
          bench: 'generic.events',
          metric: `hook events/s received, post every openat, ${label}`,
          value: Math.round(got / secs),
          note: `${EVENT_OPENS} opens (${Math.round(EVENT_OPENS / secs)}/s offered); ${attempts} records written (all processes), ${got} received, ${lost} lost to the full 4 MiB ring (counted), ${unaccounted} unaccounted`,
        });
        report({ bench: 'generic.events', metric: `unaccounted hook events, ${label}`, value: unaccounted, goal: '== 0', pass: unaccounted === 0, note: `sequence numbers taken − received − reserve failures; lost ${lost}` });
        if (rate > 0) report({ bench: 'generic.events', metric: `hook events lost, ${label}`, value: lost, goal: '== 0', pass: lost === 0, note: 'counted reserve failures at 100k events/s' });
      }
    } finally {
      await e.uninstall();
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(PIN_ROOT, { recursive: true, force: true });
}
