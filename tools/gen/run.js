#!/usr/bin/env node
// `pnpm gen`: regenerates every generated file of the repository from its TypeScript source of truth:
//   bpf/include/abi/policy_enums.h   (shared enums, grammar sizes, limits)
//   crds/vigil.dev_*.yaml            (CustomResourceDefinitions from the policy schema)
//   docs/policy-limits.md            (the limits table)
// It builds packages/policy-schema first and runs its compiled generator. `--check` writes nothing and exits 1
// when a committed file is stale (the jest staleness test does the same without a build).
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const check = process.argv.includes('--check');

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', join(root, 'packages', 'policy-schema')], { stdio: 'inherit' });
if (tsc.status !== 0) {
  console.error('gen: building packages/policy-schema failed');
  process.exit(1);
}
const { generatedFiles } = await import(pathToFileURL(join(root, 'packages', 'policy-schema', 'dist', 'gen', 'generated-files.js')).href);

let stale = 0;
for (const { path, content } of generatedFiles()) {
  const full = join(root, path);
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
if (check && stale) {
  console.error('gen: run `pnpm gen` and commit the result');
  process.exit(1);
}
if (!stale) console.error('gen: everything up to date');
