/**
 * Cost of exec with the sensor running vs not, in the same run: a shell loop of /bin/true, timed with no sensor
 * and with `vigil-sensor run` (JSON to a pipe that is drained), alternating A/B rounds to spread the VM's noise.
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, report } from './report.js';

const CLI = fileURLToPath(new URL('../cli.js', import.meta.url));
const EXECS = Number(process.env.VIGIL_BENCH_EXECS ?? 2000);
const ROUNDS = Number(process.env.VIGIL_BENCH_ROUNDS ?? 5);
const pinRoot = `/sys/fs/bpf/vigil-bench-${process.pid}`;

function loop(): number {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/bin/sh', ['-c', `i=0; while [ $i -lt ${EXECS} ]; do /bin/true; i=$((i+1)); done`], { stdio: 'ignore' });
  if (r.status !== 0) throw new Error('exec loop failed');
  return Number(process.hrtime.bigint() - t0) / EXECS; // ns per exec
}

async function withSensor<T>(f: () => T): Promise<T> {
  // Events go to a file (a pipe would fill while this process waits in spawnSync, and the sensor would buffer).
  const out = join(mkdtempSync(join(tmpdir(), 'vigil-bench-')), 'events.json');
  const s = spawn(process.execPath, [CLI, 'run', '--bpffs-root', pinRoot, '--stats-interval', '0', '--export-file', out], { stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let err = '';
    s.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      if (err.includes('sensor running')) resolve();
    });
    s.on('exit', (code) => reject(new Error(`sensor exited (${code}): ${err}`)));
  });
  let result: T;
  try {
    result = f();
  } finally {
    s.kill('SIGTERM');
    await new Promise((r) => s.once('exit', r));
  }
  const lines = readFileSync(out, 'utf8').split('\n').length - 1;
  rmSync(dirname(out), { recursive: true, force: true });
  if (lines < EXECS) throw new Error(`sensor printed only ${lines} events for ${EXECS} execs`);
  return result;
}

loop(); // warm-up
const without: number[] = [];
const withS: number[] = [];
for (let i = 0; i < ROUNDS; i++) {
  without.push(loop());
  withS.push(await withSensor(loop));
}
rmSync(pinRoot, { recursive: true, force: true });
const a = median(without);
const b = median(withS);
report({ bench: 'sensor.exec-overhead', metric: 'ns per exec with sensor (median)', value: b, baseline: a, ratio: b / a, goal: 'ratio <= 1.05', pass: b / a <= 1.05, note: `${ROUNDS} A/B rounds of ${EXECS} execs` });
