// `pnpm test:kernels`: runs the suites of suites.json on every kernel of kernels.json, one leg (one guest, or the
// host itself) per kernel, one guest at a time unless --jobs says otherwise, then prints the capability × kernel
// and test × kernel tables and exits non-zero when lib/evaluate.js finds a problem.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseSkips } from '../skip.js';
import { evaluate, formatReport, mergeProbes } from './evaluate.js';
import { runCommand } from './guest.js';
import { ensureKernel } from './kernels.js';
import { matrixCache, repoRoot, toolDir } from './paths.js';

const log = (msg) => process.stderr.write(`[kernel-matrix] ${msg}\n`);
/** Seconds a guest may take beyond its suites' own timeouts (boot, probe, power-off). */
const LEG_OVERHEAD_SECONDS = 180;

export function loadConfig(name) {
  return JSON.parse(readFileSync(join(toolDir, name), 'utf8'));
}

/** Kernel specs from kernels.json, filtered by names; NAME=PACKAGE entries pin or add a kernel. */
export function selectKernels(names) {
  const all = loadConfig('kernels.json').kernels;
  if (!names || names.length === 0) return all;
  return names.map((n) => {
    const eq = n.indexOf('=');
    if (eq > 0) return { name: n.slice(0, eq), package: n.slice(eq + 1) };
    const spec = all.find((k) => k.name === n);
    if (spec) return spec;
    if (n.startsWith('linux-image-')) return { name: n, package: n };
    throw new Error(`unknown kernel ${n}; known: ${all.map((k) => k.name).join(', ')} (or a linux-image-* package, or NAME=PACKAGE)`);
  });
}

/** jest argv for a suite; {ctl} is replaced by the leg with its control dir. */
function suiteArgv(suite) {
  if (suite.command) return suite.command;
  return [
    'node', '--experimental-vm-modules', '--no-warnings=ExperimentalWarning', 'node_modules/jest/bin/jest.js',
    '--runInBand', '--ci', '--config', 'tools/kernel-matrix/jest.config.js',
    '--cacheDirectory', '.cache/kernel-matrix/jest-cache',
    '--json', '--outputFile', `{ctl}/jest-${suite.name}.json`,
    ...(suite.testNamePattern ? ['--testNamePattern', suite.testNamePattern] : []),
    ...suite.jest,
  ];
}

function readJson(path) {
  try { return JSON.parse(readFileSync(path, 'utf8')); } catch { return null; }
}

/** Runs the matrix; returns the process exit status. */
export async function runMatrix({ kernels: kernelNames, suites: suiteNames, memMiB = 1024, reportPath, jobs = 1 } = {}) {
  const t0 = Date.now();
  const config = loadConfig('suites.json');
  const suites = config.suites.filter((s) => !suiteNames?.length || suiteNames.includes(s.name));
  if (suites.length === 0) throw new Error(`no suites selected; known: ${config.suites.map((s) => s.name).join(', ')}`);
  const specs = selectKernels(kernelNames);

  for (const argv of config.prepare ?? []) {
    log(`prepare: ${argv.join(' ')}`);
    const r = spawnSync(argv[0], argv.slice(1), { cwd: repoRoot, stdio: ['ignore', 'inherit', 'inherit'], timeout: 600_000 });
    if (r.status !== 0) throw new Error(`prepare step ${argv.join(' ')} failed (${r.status ?? r.signal ?? r.error?.message})`);
  }

  const timings = [];
  const legs = new Array(specs.length);
  const width = Math.max(...specs.map((s) => s.name.length)) + 1;
  const runLeg = async (spec, index) => {
    const legSuites = suites.filter((s) => !s.kernels || s.kernels.includes(spec.name));
    let kernel = null;
    let pkg = null;
    if (!spec.host) {
      const tp = Date.now();
      ({ pkg, kernel } = ensureKernel(spec));
      timings.push({ kernel: spec.name, step: 'prepare', ms: Date.now() - tp });
    }
    const plan = {
      kernel: spec.name,
      probes: config.probes,
      suites: legSuites.map((s) => ({
        name: s.name, argv: suiteArgv(s), timeoutSeconds: s.timeoutSeconds ?? 600,
        resultsFile: s.command ? null : `{ctl}/jest-${s.name}.json`,
      })),
    };
    const timeoutMs = (plan.suites.reduce((a, s) => a + s.timeoutSeconds, 0) + LEG_OVERHEAD_SECONDS) * 1000;
    log(`=== ${spec.name}${pkg ? ` (${pkg}, ${kernel.meta.version})` : ' (host kernel, no guest)'}: ${plan.suites.map((s) => s.name).join(', ')}`);
    const r = await runCommand(kernel, ['node', 'tools/kernel-matrix/leg.js'], {
      timeoutMs, memMiB, append: spec.append ?? '', files: { 'plan.json': JSON.stringify(plan, null, 2) },
      onLine: (l) => process.stdout.write(`${spec.name.padEnd(width)}| ${l}\n`),
    });
    const legResult = readJson(join(r.ctl, 'leg.json')) ?? { suites: {} };
    const probed = mergeProbes(Object.fromEntries(Object.keys(config.probes ?? {}).map((n) => [n, readJson(join(r.ctl, `caps-${n}.json`))])), config.equivalentCapabilities);
    legs[index] = {
      kernel: spec.name,
      expect: spec.expectIfRelease && !new RegExp(spec.expectIfRelease).test(probed.kernel ?? '') ? undefined : spec.expect,
      release: probed.kernel ?? kernel?.meta.release ?? null,
      package: pkg,
      status: r.status,
      timedOut: r.timedOut,
      caps: probed.caps,
      probeProblems: probed.problems,
      suites: Object.fromEntries(plan.suites.map((s) => {
        const ran = legResult.suites[s.name];
        const skipsFile = join(r.ctl, `skips-${s.name}.jsonl`);
        return [s.name, {
          ran: Boolean(ran),
          status: ran?.status ?? null,
          signal: ran?.signal ?? null,
          timedOut: ran?.timedOut ?? false,
          hungAfterResults: ran?.hungAfterResults ?? false,
          expectJest: !config.suites.find((c) => c.name === s.name).command,
          jest: readJson(join(r.ctl, `jest-${s.name}.json`)),
          skips: existsSync(skipsFile) ? parseSkips(readFileSync(skipsFile, 'utf8')) : [],
        }];
      })),
    };
    timings.push({ kernel: spec.name, step: 'leg', ms: r.wallMs, bootMs: r.bootMs, suites: legResult.suites });
    r.cleanup();
  };

  // The host leg first (it also warms the shared jest cache), then the guests, `jobs` at a time.
  const order = specs.map((spec, i) => ({ spec, i }));
  for (const { spec, i } of order.filter((o) => o.spec.host)) await runLeg(spec, i);
  const queue = order.filter((o) => !o.spec.host);
  const worker = async () => { for (let next = queue.shift(); next; next = queue.shift()) await runLeg(next.spec, next.i); };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));

  const result = evaluate(legs);
  const report = formatReport(result);
  const timingLines = ['', '### Timings', '', '| kernel | step | seconds |', '|---|---|---|',
    ...timings.map((t) => `| ${t.kernel} | ${t.step}${t.bootMs ? ` (guest ready after ${(t.bootMs / 1000).toFixed(1)} s)` : ''} | ${(t.ms / 1000).toFixed(1)} |`),
    `| all | total | ${((Date.now() - t0) / 1000).toFixed(1)} |`];
  console.log(report + '\n' + timingLines.join('\n'));
  mkdirSync(matrixCache, { recursive: true });
  const json = {
    at: new Date().toISOString(),
    legs: legs.map((l) => ({ ...l, suites: Object.fromEntries(Object.entries(l.suites).map(([k, s]) => [k, { ...s, jest: undefined }])) })),
    problems: result.problems,
    tests: Object.fromEntries([...result.tests].map(([id, m]) => [id, Object.fromEntries(m)])),
    timings,
  };
  writeFileSync(reportPath ?? join(matrixCache, 'report.json'), JSON.stringify(json, null, 2) + '\n');
  return result.problems.length === 0 ? 0 : 1;
}
