/**
 * Persistent enforcement (docs/adr/0009) measured with the real `vigil-sensor run` binary and full-rate C probe
 * loops (persist/testdata/vg_persist_probe.c) hammering a denied exec, connect and open:
 *   restart-to-ready   spawn → "enforcement ready" when adopting the pins after kill -9 (no probe load), against
 *                      the same-run baseline of a cold start (nothing pinned)
 *   kill-9 window      the loops run from before kill -9 until after the restarted sensor is ready: attempts that
 *                      got through (goal 0) and attempts/s during the window
 *   upgrade window     the same across a switch to objects built with VG_OBJECT_VERSION=2 (load beside, migrate,
 *                      attach, then detach the old)
 * VIGIL_BENCH_PERSIST_ROUNDS rounds (default 3), medians reported.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SensorProcess, buildProbe, startProbe, type ProbeResult } from '../persist/sensor-process.js';
import { uninstallPins } from '../uninstall.js';
import { OBJECTS_DIR, median, report } from './report.js';

const ROUNDS = Number(process.env.VIGIL_BENCH_PERSIST_ROUNDS ?? 3);
const ROOT = `/sys/fs/bpf/vigil-bench-${process.pid}-persist`;
const BPF_SRC = fileURLToPath(new URL('../../../../bpf/', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-persist-'));

const deniedExe = join(dir, 'denied-true');
copyFileSync('/bin/true', deniedExe);
chmodSync(deniedExe, 0o755);
const secret = join(dir, 'secret');
writeFileSync(secret, 'secret\n');
mkdirSync(join(dir, 'policies'));
writeFileSync(
  join(dir, 'policies/deny.yaml'),
  `apiVersion: vigil.dev/v1alpha1
kind: TracingPolicy
metadata: { name: bench-persist }
spec:
  lsmhooks:
  - hook: bprm_check_security
    args: [{ index: 0, type: linux_binprm }]
    selectors:
    - matchArgs: [{ index: 0, operator: Equal, values: ["${deniedExe}"] }]
      matchActions: [{ action: Sigkill }]
  - hook: file_open
    args: [{ index: 0, type: file }]
    selectors:
    - matchArgs: [{ index: 0, operator: Equal, values: ["${secret}"] }]
      matchActions: [{ action: Override, argError: -1 }]
  - hook: socket_connect
    args: [{ index: 0, type: sock }, { index: 1, type: sockaddr }]
    selectors:
    - matchArgs:
      - { index: 1, operator: DAddr, values: ["127.0.0.77/32"] }
      - { index: 1, operator: DPort, values: ["9000:9100"] }
      matchActions: [{ action: Override, argError: -1 }]
`,
);
const probe = buildProbe(dir);

function sensor(objects = OBJECTS_DIR): SensorProcess {
  return new SensorProcess(['--policy-dir', join(dir, 'policies'), '--bpffs-root', ROOT, '--state-dir', join(dir, 'state'), '--bpf-objects', objects, '--output', 'compact', '--export-file', join(dir, 'events.log'), '--mechanisms', 'fallback', '--stats-interval', '0']);
}

async function ready(s: SensorProcess): Promise<number> {
  const t0 = performance.now();
  await s.waitForLog('enforcement ready', 60_000);
  return performance.now() - t0;
}

function buildV2(): string {
  const out = join(dir, 'objects-v2');
  mkdirSync(out, { recursive: true });
  for (const f of readdirSync(OBJECTS_DIR).filter((n) => n.endsWith('.bpf.o'))) copyFileSync(join(OBJECTS_DIR, f), join(out, f));
  for (const name of ['exec_kill', 'open_kill', 'sock_cgroup', 'process_lifecycle']) {
    execFileSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-DVG_OBJECT_VERSION=2', '-Wall', '-Werror', '-Wno-unused-function', `-I${join(BPF_SRC, '.output')}`, `-I${join(BPF_SRC, 'lib')}`, `-I${join(BPF_SRC, 'include')}`, '-c', join(BPF_SRC, `progs/${name}.bpf.c`), '-o', join(out, `${name}.bpf.o`)]);
  }
  return out;
}

/** Runs the three probe loops from before `swap` starts until it has finished; returns what they saw. */
async function window(swap: () => Promise<void>): Promise<{ results: ProbeResult[]; windowMs: number }> {
  const stop = join(dir, `stop-${Date.now()}`);
  const loops = [startProbe(probe, ['exec', deniedExe], stop), startProbe(probe, ['connect', '127.0.0.77', '9050'], stop), startProbe(probe, ['open', secret], stop)];
  await new Promise((r) => setTimeout(r, 200));
  const t0 = performance.now();
  try {
    await swap();
  } finally {
    writeFileSync(stop, ''); // the loops stop even when the swap failed
  }
  const windowMs = performance.now() - t0;
  return { results: await Promise.all(loops.map((l) => l.result)), windowMs };
}

async function main(): Promise<void> {
  if (existsSync(ROOT)) uninstallPins(ROOT);
  const cold: number[] = [];
  const adopt: number[] = [];
  const kill9: Array<{ results: ProbeResult[]; windowMs: number }> = [];
  const upgrade: Array<{ results: ProbeResult[]; windowMs: number }> = [];
  const v2 = buildV2();
  for (let i = 0; i < ROUNDS; i++) {
    // Cold start (nothing pinned), then kill -9 and a restart that adopts the pins: both idle.
    let s = sensor();
    cold.push(await ready(s));
    await s.kill('SIGKILL');
    s = sensor();
    adopt.push(await ready(s));
    // kill -9 and restart of the same build, probes hammering throughout.
    kill9.push(
      await window(async () => {
        await s.kill('SIGKILL');
        s = sensor();
        await ready(s);
      }),
    );
    // Upgrade to the v2 objects, probes hammering throughout.
    upgrade.push(
      await window(async () => {
        await s.kill('SIGKILL');
        s = sensor(v2);
        await ready(s);
      }),
    );
    await s.kill('SIGTERM');
    uninstallPins(ROOT);
  }
  report({ bench: 'sensor.persist', metric: 'restart-to-ready ms (adopt pins after kill -9)', value: Math.round(median(adopt)), baseline: Math.round(median(cold)), ratio: median(adopt) / median(cold), note: `median of ${ROUNDS}, spawn of the binary to its 'enforcement ready' log line, idle machine; baseline: cold start with nothing pinned (same run)` });
  for (const [name, runs] of [
    ['kill -9 + restart', kill9],
    ['upgrade v1 → v2', upgrade],
  ] as const) {
    for (const [i, kind] of ['exec', 'connect', 'open'].entries()) {
      const allowed = runs.reduce((a, r) => a + (r.results[i]?.allowed ?? 0), 0);
      const attempts = runs.reduce((a, r) => a + (r.results[i]?.attempts ?? 0), 0);
      const rate = median(runs.map((r) => (r.results[i]?.attempts ?? 0) / ((r.results[i]?.elapsed_ns ?? 1) / 1e9)));
      report({ bench: 'sensor.persist', metric: `${name}: denied ${kind} attempts that got through`, value: allowed, goal: '== 0', pass: allowed === 0, note: `${attempts} attempts over ${ROUNDS} windows of median ${Math.round(median(runs.map((r) => r.windowMs)))} ms, ${Math.round(rate)} attempts/s` });
    }
  }
}

try {
  await main();
} finally {
  if (existsSync(ROOT)) uninstallPins(ROOT);
  rmSync(dir, { recursive: true, force: true });
}
