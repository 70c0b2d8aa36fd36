#!/usr/bin/env node
// `pnpm gen`: regenerates every generated file of the repository from its TypeScript source of truth:
//   bpf/include/abi/policy_enums.h   (shared enums, grammar sizes, limits)
//   crds/vigil.dev_*.yaml            (CustomResourceDefinitions from the policy schema)
//   docs/policy-limits.md            (the limits table)
//   charts/vigil/crds/*.yaml         (byte-for-byte copies of crds/: Helm installs CRDs from the chart's crds/)
// It builds packages/policy-schema first and runs its compiled generator. `--check` writes nothing and exits 1
// when a committed file is stale (the jest staleness test does the same without a build). `--root DIR` compares
// with (or writes to) another checkout instead of this one (tests).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const check = process.argv.includes('--check');
const rootArg = process.argv.indexOf('--root');
const target = rootArg >= 0 ? process.argv[rootArg + 1] : root;
if (!target) {
  console.error('gen: --root needs a directory');
  process.exit(2);
}

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(root, 'packages', 'policy-schema')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('gen: building packages/policy-schema failed');
  process.exit(1);
}
const { generatedFiles } = await import(pathToFileURL(join(root, 'packages', 'policy-schema', 'dist', 'gen', 'generated-files.js')).href);

/** Every CRD the generator writes under crds/ is also shipped by the Helm chart, unchanged. */
const CHART_CRDS_DIR = 'charts/vigil/crds';
const files = generatedFiles();
const all = [...files, ...files.filter((f) => f.path.startsWith('crds/')).map((f) => ({ path: `${CHART_CRDS_DIR}/${f.path.slice('crds/'.length)}`, content: f.content }))];

let stale = 0;
for (const { path, content } of all) {
  const full = join(target, path);
  const current = existsSync(full) ? readFileSync(full, 'utf8') : undefined;
  if (current === content) continue;
  stale++;
  if (check) {
    console.error(`gen: ${path} is stale`);
    continue;
  }
  mkdirSync(dirname(full), { recursive: true });
  writeFileSync(full, content);
  console.error(`gen: wrote ${path}`);
}
// A CRD in the chart that the generator no longer writes (a renamed or removed kind) would still be installed.
const chartDir = join(target, CHART_CRDS_DIR);
const expected = new Set(all.map((f) => f.path));
for (const name of existsSync(chartDir) ? readdirSync(chartDir) : []) {
  const path = `${CHART_CRDS_DIR}/${name}`;
  if (expected.has(path)) continue;
  stale++;
  if (check) console.error(`gen: ${path} is not generated from crds/ (remove it)`);
  else {
    rmSync(join(target, path));
    console.error(`gen: removed ${path}`);
  }
}
if (check && stale) {
  console.error('gen: run `pnpm gen` and commit the result');
  process.exit(1);
}
if (!stale) console.error('gen: everything up to date');
