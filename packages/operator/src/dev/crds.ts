// The generated CRDs (crds/*.yaml at the repository root), for dev-cluster, tests and benchmarks.
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', '..');
export const CRD_FILES = ['vigil.dev_tracingpolicies.yaml', 'vigil.dev_tracingpoliciesnamespaced.yaml'];

export function loadCrds(dir = join(REPO_ROOT, 'crds')): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const f of CRD_FILES) for (const d of parseAllDocuments(readFileSync(join(dir, f), 'utf8'))) out.push(d.toJS() as Record<string, unknown>);
  return out;
}
