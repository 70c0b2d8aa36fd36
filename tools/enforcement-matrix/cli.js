#!/usr/bin/env node
// The enforcement conformance table (docs/enforcement-matrix.md), reproducibly:
//
//   node tools/enforcement-matrix/cli.js run [--kernels host,debian-6.1,debian-6.12] [--with test1,test2]
//       runs packages/sensor/src/generic/conformance.test.ts (and the --with tests, in the same guest boot) on each
//       kernel (guests through the kernel matrix, under /tmp/matrix.lock) and stores each kernel's result in
//       tools/enforcement-matrix/results/<kernel>.json
//   node tools/enforcement-matrix/cli.js render
//       writes docs/enforcement-matrix.md from the stored results
//
// Every "enforcing" cell must be backed by a behavioural test: EVIDENCE below maps the mechanism that enforces a
// hook to the real-kernel tests proving that mechanism's effect (EPERM, SIGKILL). A policy whose enforcing hook
// runs on a mechanism without evidence is shown as "enforcing (unproven)" and `render` exits 1.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const REPO = join(HERE, '..', '..');
const RESULTS = join(HERE, 'results');
const DOC = join(REPO, 'docs', 'enforcement-matrix.md');
const TEST = 'packages/sensor/src/generic/conformance.test.ts';
const KERNELS = ['host', 'debian-6.1', 'debian-6.12'];

/** mechanism → the tests that prove it denies or kills for real (file: test name). */
export const EVIDENCE = {
  cgroup_sock: ['packages/sensor/src/enforce/engine.test.ts', 'packages/sensor/src/mechanisms/connect-deny.test.ts'],
  fanotify: ['packages/sensor/src/enforce/engine.test.ts', 'packages/sensor/src/mechanisms/fanotify/guard.test.ts'],
  tp_btf: ['packages/sensor/src/enforce/engine.test.ts', 'packages/sensor/src/mechanisms/exec-kill.test.ts'],
  tp_btf_syscall: ['packages/sensor/src/generic/engine.test.ts'],
  // classic tracepoints: Sigkill of the matching caller; NotifyEnforcer from one is the enforcer test in engine.test.ts
  tracepoint: ['packages/sensor/src/generic/selftest-hooks.test.ts', 'packages/sensor/src/generic/engine.test.ts'],
  fentry: ['packages/sensor/src/generic/engine.test.ts'],
  fexit: ['packages/sensor/src/generic/engine.test.ts'],
  lsm: ['packages/sensor/src/generic/lsm.test.ts'],
};

/** `extra`: more test files run in the same jest session (one guest boot): the behavioural tests EVIDENCE names. */
function run(kernels, extra = []) {
  mkdirSync(RESULTS, { recursive: true });
  let failed = false;
  for (const k of kernels) {
    const out = join(RESULTS, `${k}.json`);
    // jest's own report of the same session: which behavioural tests passed on this kernel (EVIDENCE)
    const report = join(RESULTS, `${k}.jest.json`);
    const jest = ['node', '--experimental-vm-modules', '--no-warnings=ExperimentalWarning', 'node_modules/jest/bin/jest.js', '--runInBand', '--json', `--outputFile=${report}`, TEST, ...extra, '-t', 'real kernel'];
    const env = { ...process.env, VIGIL_CONFORMANCE_OUT: out };
    const r = k === 'host'
      ? spawnSync(jest[0], jest.slice(1), { cwd: REPO, stdio: 'inherit', env })
      : spawnSync('flock', ['/tmp/matrix.lock', 'node', 'tools/kernel-matrix/cli.js', 'run', '--kernel', k, '--timeout', '1200', '--', 'env', `VIGIL_CONFORMANCE_OUT=${out}`, ...jest], { cwd: REPO, stdio: 'inherit', env });
    if (r.status !== 0) {
      process.stderr.write(`conformance on ${k} exited ${r.status}\n`);
      failed = true;
    }
  }
  return failed ? 1 : 0;
}

const esc = (s) => String(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');

/** Suites (repo-relative paths) that passed on a kernel, from its jest report; undefined when none was kept. */
function passedSuites(name) {
  const file = join(RESULTS, `${name}.jest.json`);
  if (!existsSync(file)) return undefined;
  const r = JSON.parse(readFileSync(file, 'utf8'));
  return new Set(r.testResults.filter((t) => t.status === 'passed').map((t) => t.name.replace(`${REPO}/`, '')));
}

function cell(row, passed) {
  if (!row) return '—';
  if (row.state === 'invalid') return `invalid: ${esc(row.reason)}`;
  if (row.state === 'refused') {
    const refused = row.hooks.filter((h) => h.state === 'refused');
    if (refused.length === 0) return `refused: ${esc(row.reason)}`;
    const first = refused[0];
    return `refused: ${esc(first.hook)}: ${esc(first.reason)}${refused.length > 1 ? ` (+${refused.length - 1} more hooks refused)` : ''}`;
  }
  if (row.state === 'observing') {
    const mechs = [...new Set(row.hooks.map((h) => h.mechanism))].join(', ');
    return `observing (${mechs})${row.reason ? `: ${esc(row.reason)}` : ''}`;
  }
  const enforcing = row.hooks.filter((h) => h.state === 'enforcing');
  const mechs = [...new Set(enforcing.map((h) => h.mechanism))];
  const unproven = mechs.filter((m) => !EVIDENCE[m]);
  if (unproven.length > 0) return `**enforcing (unproven: ${unproven.join(', ')})**`;
  // the behavioural tests of these mechanisms must have passed on this kernel, in the run that produced the row
  const files = [...new Set(mechs.flatMap((m) => EVIDENCE[m]).filter((f) => f.includes('/generic/')))];
  const failed = passed ? files.filter((f) => !passed.has(f)) : files;
  const proof = [...new Set(mechs.flatMap((m) => EVIDENCE[m]))].map((f) => `[${f.split('/').pop()}](../${f})`);
  if (failed.length > 0)
    return `**applied, enforcement not verified here** (${mechs.join(', ')}: ${failed.map((f) => f.split('/').pop()).join(', ')} ${passed ? 'failed' : 'not run'} on this kernel)`;
  return `enforcing (${mechs.join(', ')}; ${proof.join(', ')})`;
}

function render() {
  if (!existsSync(RESULTS)) throw new Error(`no results in ${RESULTS}; run: node tools/enforcement-matrix/cli.js run`);
  const results = KERNELS.filter((k) => existsSync(join(RESULTS, `${k}.json`))).map((k) => ({ name: k, passed: passedSuites(k), ...JSON.parse(readFileSync(join(RESULTS, `${k}.json`), 'utf8')) }));
  const extra = readdirSync(RESULTS).filter((f) => f.endsWith('.json') && !f.endsWith('.jest.json') && !KERNELS.includes(f.slice(0, -5)));
  if (extra.length) process.stderr.write(`ignoring results of unknown kernels: ${extra.join(', ')}\n`);
  const keys = [...new Set(results.flatMap((r) => r.rows.map((x) => `${x.file}\u0000${x.policy}`)))].sort();
  const lines = [
    '# Enforcement conformance matrix',
    '',
    '<!-- generated by `node tools/enforcement-matrix/cli.js render` from tools/enforcement-matrix/results/*.json; do not edit -->',
    '',
    'Every policy of the Tetragon examples (`../shared/conformance/tetragon-examples`, read at test time) went through the',
    'capability probe, the compiler with that node\'s profile, `CompositeApplier.apply` (attach) and `remove` (detach) on',
    'each kernel (`packages/sensor/src/generic/conformance.test.ts`). A cell says what the sensor does with the policy there:',
    '',
    '- **enforcing**: applied, and at least one hook denies, kills or signals; the mechanisms and the behavioural tests that',
    '  prove those mechanisms\' effect (real EPERM / SIGKILL) are named, and those tests passed on that kernel in the same',
    '  run (`--with`, jest report beside the results); otherwise the cell says **applied, enforcement not verified here**;',
    '- **observing**: applied, every hook only reports (Post, or `policy-mode: monitor`);',
    '- **refused**: not applied, with the first reason (the missing kernel capability, or what this build does not run);',
    '  the previous version of the policy (if any) would keep running.',
    '',
    'The same per-hook outcome is what a running sensor reports: `vigil-sensor run --policy-dir` logs one line per hook',
    '(`spec.kprobes[0] sys_openat → tp_btf_syscall (enforcing)` or `… refused: <reason>`), and a sensor in a cluster acks',
    'it to the operator (`Ack.hooks`: hook, mechanism, state, reason; a refusal also becomes the ack\'s reason, shown in',
    'the policy\'s `status.nodes.failures`); the operator rolls the acks up into `status.hooks`: per hook, the mechanism',
    'and state on how many nodes, refusals with their reason and one node named. Routing:',
    '`packages/sensor/src/enforce/composite.ts`; in-kernel selector engine: `packages/sensor/src/generic/engine.ts`.',
    '',
    `Kernels: ${results.map((r) => `${r.name} (\`${r.kernel}\`)`).join(', ')}.`,
    '',
    `| policy | ${results.map((r) => r.name).join(' | ')} |`,
    `|---|${results.map(() => '---').join('|')}|`,
  ];
  let unproven = 0;
  for (const key of keys) {
    const [file, policy] = key.split('\u0000');
    const cells = results.map((r) => {
      const row = r.rows.find((x) => x.file === file && x.policy === policy);
      const c = cell(row, r.passed);
      if (c.includes('unproven') || c.includes('not verified')) unproven++;
      return c;
    });
    lines.push(`| \`${file}\` (${esc(policy)}) | ${cells.join(' | ')} |`);
  }
  const totals = results.map((r) => {
    const n = (s) => r.rows.filter((x) => x.state === s).length;
    const verified = r.rows.filter((x) => x.state === 'enforcing' && cell(x, r.passed).startsWith('enforcing (')).length;
    return `${r.name}: ${n('enforcing')} enforcing (${verified} verified by a behavioural test on that kernel), ${n('observing')} observing, ${n('refused')} refused${n('invalid') ? `, ${n('invalid')} invalid` : ''} of ${r.rows.length}`;
  });
  lines.push('', `Totals: ${totals.join('; ')}.`, '');
  lines.push('Per-hook detail (mechanism or refusal of every hook) is in the JSON results beside the renderer.', '');
  writeFileSync(DOC, `${lines.join('\n')}`);
  process.stdout.write(`wrote ${DOC} (${keys.length} policies × ${results.length} kernels)\n`);
  if (unproven > 0) {
    process.stderr.write(`${unproven} enforcing cells have no behavioural test that passed on their kernel (see EVIDENCE in ${fileURLToPath(import.meta.url)})\n`);
    return 1;
  }
  return 0;
}

const [cmd, ...args] = process.argv.slice(2);
if (cmd === 'run') {
  const i = args.indexOf('--kernels');
  const w = args.indexOf('--with');
  process.exitCode = run(i >= 0 ? (args[i + 1] ?? '').split(',').filter(Boolean) : KERNELS, w >= 0 ? (args[w + 1] ?? '').split(',').filter(Boolean) : []);
} else if (cmd === 'render') {
  process.exitCode = render();
} else {
  process.stderr.write('usage: cli.js run [--kernels host,debian-6.1,debian-6.12] [--with test,...] | cli.js render\n');
  process.exitCode = 2;
}
