#!/usr/bin/env node
// One leg of the kernel matrix: runs inside a guest (or on the host for the `host` kernel) with cwd = the working
// tree. Reads $VIGIL_CTL/plan.json (written by lib/matrix.js), runs the capability probes and each suite one after
// another, and leaves everything the host needs in $VIGIL_CTL:
//   caps-<probe>.json       each probe's --json output
//   jest-<suite>.json       jest --json results (jest suites)
//   skips-<suite>.jsonl     VIGIL-SKIP records (skip.js)
//   leg.json                { probes: { <name>: { status } }, suites: { <name>: { status, signal, timedOut, hungAfterResults, ms } } }
// Exits 0 when it could run everything; the verdict is the host's.
import { spawn, spawnSync } from 'node:child_process';
import { clearInterval, clearTimeout, setInterval, setTimeout } from 'node:timers';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
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

/**
 * Runs one suite. A jest suite whose results file has appeared but whose process is still running after
 * EXIT_GRACE_MS is killed and marked `hungAfterResults` (open handles: a leaked server, worker or timer), so a
 * leak costs seconds instead of the suite's whole timeout, and still fails the matrix.
 */
const EXIT_GRACE_MS = 30_000;
function runSuite(suite, argv, env) {
  return new Promise((done) => {
    const t0 = Date.now();
    // Its own process group, so a kill also reaches what the suite started (servers, helpers).
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'inherit', 'inherit'], env, detached: true });
    let timedOut = false;
    let hungAfterResults = false;
    let resultsAt = null;
    const kill = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone */ } };
    const timer = setTimeout(() => { timedOut = true; kill(); }, suite.timeoutSeconds * 1000);
    const watcher = suite.resultsFile ? setInterval(() => {
      if (resultsAt === null && existsSync(suite.resultsFile)) resultsAt = Date.now();
      if (resultsAt !== null && Date.now() - resultsAt > EXIT_GRACE_MS) {
        hungAfterResults = true;
        console.log(`[leg] suite ${suite.name} wrote its results but did not exit within ${EXIT_GRACE_MS / 1000} s: killing it`);
        kill();
      }
    }, 1000) : null;
    child.on('error', (e) => console.log(`[leg] cannot start suite ${suite.name}: ${e.message}`));
    child.on('close', (status, signal) => {
      clearTimeout(timer);
      if (watcher) clearInterval(watcher);
      done({ status, signal, timedOut, hungAfterResults, ms: Date.now() - t0 });
    });
  });
}

for (const suite of plan.suites) {
  const argv = substitute(suite.argv);
  console.log(`[leg] === suite ${suite.name} on ${plan.kernel}: ${argv.join(' ')}`);
  const resultsFile = suite.resultsFile ? substitute([suite.resultsFile])[0] : null;
  const r = await runSuite({ ...suite, resultsFile }, argv, {
    ...process.env, VIGIL_SKIP_FILE: join(ctl, `skips-${suite.name}.jsonl`), VIGIL_KERNEL: plan.kernel, CI: 'true', FORCE_COLOR: '0',
  });
  leg.suites[suite.name] = r;
  const how = r.timedOut ? 'TIMEOUT' : r.hungAfterResults ? 'killed: did not exit after its results' : r.status ?? r.signal;
  console.log(`[leg] === suite ${suite.name} exit ${how} in ${(r.ms / 1000).toFixed(1)} s`);
  save();
}
save();
