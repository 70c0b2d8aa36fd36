// Locates the shared conformance corpus (Tetragon's example policies and CRDs) that tests and benchmarks read.
// It lives in ../shared beside the repository and is never copied into it.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root, found from this file (src/ or dist/ of packages/policy-schema). */
export function repoRoot(): string {
  return resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
}

export interface SharedLocation {
  dir: string;
  exists: boolean;
  message: string;
}

export function sharedDir(root: string = repoRoot()): SharedLocation {
  const dir = resolve(root, '../shared');
  const exists = existsSync(join(dir, 'conformance', 'tetragon-examples'));
  return { dir, exists, message: exists ? `shared/ found at ${dir}` : `shared/ is missing: expected the conformance corpus at ${join(dir, 'conformance')}` };
}

export interface CorpusFile {
  /** Path relative to the examples directory. */
  name: string;
  path: string;
  text: string;
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .sort((a, b) => a.name.localeCompare(b.name))
    .flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : /\.ya?ml$/.test(e.name) ? [join(dir, e.name)] : []));
}

/** Every example policy of the corpus, sorted by path. Empty when shared/ is missing. */
export function loadCorpus(root: string = repoRoot()): CorpusFile[] {
  const loc = sharedDir(root);
  if (!loc.exists) return [];
  const base = join(loc.dir, 'conformance', 'tetragon-examples');
  return walk(base).map((path) => ({ name: relative(base, path), path, text: readFileSync(path, 'utf8') }));
}

/** Path of one of Tetragon's generated CRDs in the corpus. */
export function tetragonCrdPath(kind: 'TracingPolicy' | 'TracingPolicyNamespaced', root: string = repoRoot()): string {
  const file = kind === 'TracingPolicy' ? 'cilium.io_tracingpolicies.yaml' : 'cilium.io_tracingpoliciesnamespaced.yaml';
  return join(sharedDir(root).dir, 'conformance', 'tetragon-crds', file);
}
