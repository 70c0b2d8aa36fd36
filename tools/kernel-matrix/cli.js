#!/usr/bin/env node
// Kernel matrix CLI (docs/kernel-matrix.md). Plain ESM JavaScript so it runs before any build.
//
//   node tools/kernel-matrix/cli.js matrix [--kernels host,debian-6.1,...] [--suites a,b] [--mem MiB] [--jobs N] [--report FILE]
//       run suites.json on every kernel of kernels.json and print the tables (`pnpm test:kernels`)
//   node tools/kernel-matrix/cli.js run [--kernel NAME] [--timeout SECONDS] [--mem MiB] [--append ARGS] -- CMD [ARG...]
//       run one command as root in a fresh guest (default kernel: debian-6.12; `host` runs it here); exits with its
//       status (124: timed out and killed, 125: the guest reported no status). E.g. benchmarks in a guest:
//       node tools/kernel-matrix/cli.js run --kernel debian-6.1 -- node tools/bench/run.js
//   node tools/kernel-matrix/cli.js fetch [KERNEL...]
//       download and prepare kernels into .cache/kernels (default: every guest kernel of kernels.json)
//   node tools/kernel-matrix/cli.js list
//       the matrix's kernels and the packages they resolve to
import { runCommand } from './lib/guest.js';
import { ensureKernel, resolvePackage } from './lib/kernels.js';
import { runMatrix, selectKernels } from './lib/matrix.js';
import { repoRoot } from './lib/paths.js';

const USAGE = 'usage: cli.js matrix [--kernels a,b] [--suites a,b] [--mem MiB] [--jobs N] [--report FILE]\n'
  + '       cli.js run [--kernel NAME] [--timeout SECONDS] [--mem MiB] [--append ARGS] -- CMD [ARG...]\n'
  + '       cli.js fetch [KERNEL...]\n'
  + '       cli.js list';

/** Parses --flag value pairs up to `--`; returns { flags, rest }. */
function parseArgs(args, known) {
  const flags = {};
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a === '--') { i++; break; }
    if (!a.startsWith('--')) break;
    const name = a.slice(2);
    if (!known.includes(name)) throw new Error(`unknown option ${a}\n${USAGE}`);
    if (i + 1 >= args.length) throw new Error(`${a} needs a value`);
    flags[name] = args[++i];
  }
  return { flags, rest: args.slice(i) };
}

const list = (v) => (v ? v.split(',').map((s) => s.trim()).filter(Boolean) : undefined);
const positive = (v, name) => {
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name} must be a positive number, got ${v}`);
  return n;
};

async function main(argv) {
  const [command, ...args] = argv;
  switch (command) {
    case 'matrix': {
      const { flags } = parseArgs(args, ['kernels', 'suites', 'mem', 'report', 'jobs']);
      return runMatrix({
        jobs: flags.jobs ? positive(flags.jobs, '--jobs') : 1,
        kernels: list(flags.kernels), suites: list(flags.suites),
        memMiB: flags.mem ? positive(flags.mem, '--mem') : undefined, reportPath: flags.report,
      });
    }
    case 'run': {
      const { flags, rest } = parseArgs(args, ['kernel', 'timeout', 'mem', 'append']);
      if (rest.length === 0) throw new Error(`run: no command given\n${USAGE}`);
      const [spec] = selectKernels([flags.kernel ?? 'debian-6.12']);
      const kernel = spec.host ? null : ensureKernel(spec).kernel;
      const r = await runCommand(kernel, rest, {
        cwd: process.cwd().startsWith(repoRoot) ? process.cwd() : repoRoot,
        timeoutMs: (flags.timeout ? positive(flags.timeout, '--timeout') : 600) * 1000,
        memMiB: flags.mem ? positive(flags.mem, '--mem') : undefined,
        append: [spec.append, flags.append].filter(Boolean).join(' '),
      });
      r.cleanup();
      process.stderr.write(`[kernel-matrix] ${spec.name}: exit ${r.status} after ${(r.wallMs / 1000).toFixed(1)} s${r.timedOut ? ' (timed out, killed)' : ''}\n`);
      return r.status;
    }
    case 'fetch': {
      const specs = selectKernels(args.length ? args : undefined).filter((s) => !s.host);
      for (const spec of specs) {
        const t0 = Date.now();
        const { pkg, kernel: k } = ensureKernel(spec);
        console.log(`${spec.name}: ${pkg} ${k.meta.version} (${k.meta.release}) ready in ${k.dir} after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
      }
      return 0;
    }
    case 'list': {
      for (const spec of selectKernels()) {
        console.log(spec.host ? `${spec.name}: this machine's kernel, no guest` : `${spec.name}: ${resolvePackage(spec, { update: false })}`);
      }
      return 0;
    }
    default:
      console.error(USAGE);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (status) => { process.exitCode = status; },
  (err) => { console.error(`[kernel-matrix] ${err.message}`); process.exitCode = 2; },
);
