#!/usr/bin/env node
// One leg of the kernel matrix: runs inside a guest (or on the host for the `host` kernel) with cwd = the working
// tree. Reads $VIGIL_CTL/plan.json (written by lib/matrix.js), runs the capability probes and each suite one after
// another, and leaves everything the host needs in $VIGIL_CTL:
//   caps-<probe>.json       each probe's --json output
//   jest-<suite>.json       jest --json results (jest suites)
//   skips-<suite>.jsonl     VIGIL-SKIP records (skip.js)
//   leg.json                { probes: { <name>: { status } }, suites: { <name>: { status, signal, ms } } }
// Exits 0 when it could run everything; the verdict is the host's.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const ctl = process.env.VIGIL_CTL;
if (!ctl) {
  console.error('leg.js: VIGIL_CTL is not set (run through tools/kernel-matrix/cli.js)');
  process.exit(2);
}
const plan = JSON.parse(readFileSync(join(ctl, 'plan.json'), 'utf8'));
const substitute = (argv) => argv.map((a) => a.replaceAll('{ctl}', ctl));
const leg = { kernel: plan.kernel, probes: {}, suites: {} };
const save = () => writeFileSync(join(ctl, 'leg.json'), JSON.stringify(leg, null, 2) + '\n');

for (const [name, argv] of Object.entries(plan.probes ?? {})) {
  const [cmd, ...args] = substitute(argv);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 120_000, killSignal: 'SIGKILL' });
  writeFileSync(join(ctl, `caps-${name}.json`), r.stdout ?? '');
  leg.probes[name] = { status: r.status, signal: r.signal, ms: Date.now() - t0 };
  console.log(`[leg] probe ${name} exit ${r.status ?? r.signal} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  save();
}

for (const suite of plan.suites) {
  const [cmd, ...args] = substitute(suite.argv);
  console.log(`[leg] === suite ${suite.name} on ${plan.kernel}: ${[cmd, ...args].join(' ')}`);
  const t0 = Date.now();
  const r = spawnSync(cmd, args, {
    stdio: ['ignore', 'inherit', 'inherit'],
    timeout: suite.timeoutSeconds * 1000,
    killSignal: 'SIGKILL',
    env: { ...process.env, VIGIL_SKIP_FILE: join(ctl, `skips-${suite.name}.jsonl`), VIGIL_KERNEL: plan.kernel, CI: 'true', FORCE_COLOR: '0' },
  });
  const timedOut = r.error?.code === 'ETIMEDOUT';
  leg.suites[suite.name] = { status: r.status, signal: r.signal, timedOut, ms: Date.now() - t0 };
  console.log(`[leg] === suite ${suite.name} exit ${timedOut ? 'TIMEOUT' : r.status ?? r.signal} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  save();
}
save();
