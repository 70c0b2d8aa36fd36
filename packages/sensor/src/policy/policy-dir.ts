/**
 * Reads the policy directory of a standalone sensor. Policies are parsed and validated with the same validator
 * the operator and `vigil policy validate` use; they are enforced once the enforcement engine applies compiled
 * bundles. Files that are not policies, and invalid policies, get a warning naming the file and field, never a
 * crash.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { formatIssue, validatePolicy, type TracingPolicy } from '@vigil/policy-schema';
import { parseAllDocuments } from 'yaml';

export interface PolicyFile {
  file: string;
  name: string;
  kind: string;
  apiVersion: string;
  policy: TracingPolicy;
}

export interface PolicyDirResult {
  policies: PolicyFile[];
  warnings: Array<{ file: string; message: string }>;
}

const POLICY_KINDS = new Set(['TracingPolicy', 'TracingPolicyNamespaced']);
const API_VERSIONS = new Set(['vigil.dev/v1alpha1', 'cilium.io/v1alpha1']);

export function readPolicyDir(dir: string): PolicyDirResult {
  const out: PolicyDirResult = { policies: [], warnings: [] };
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (err) {
    throw new Error(`cannot read policy directory ${dir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  for (const name of names) {
    const file = join(dir, name);
    if (!statSync(file).isFile()) continue;
    if (!['.yaml', '.yml', '.json'].includes(extname(name))) {
      out.warnings.push({ file, message: 'not a policy file (expected .yaml, .yml or .json); ignored' });
      continue;
    }
    let docs;
    try {
      docs = parseAllDocuments(readFileSync(file, 'utf8'));
    } catch (err) {
      out.warnings.push({ file, message: `unreadable: ${(err as Error).message}` });
      continue;
    }
    docs.forEach((doc, i) => {
      const where = docs.length > 1 ? `${file}#${i}` : file;
      if (doc.errors.length > 0) {
        out.warnings.push({ file: where, message: `YAML error: ${doc.errors[0]?.message ?? 'unknown'}` });
        return;
      }
      const value = doc.toJS() as Record<string, unknown> | null;
      if (value === null || typeof value !== 'object') return;
      const kind = String(value.kind ?? '');
      const apiVersion = String(value.apiVersion ?? '');
      if (!POLICY_KINDS.has(kind)) {
        out.warnings.push({ file: where, message: `kind "${kind}" is not TracingPolicy or TracingPolicyNamespaced; ignored` });
        return;
      }
      if (!API_VERSIONS.has(apiVersion)) {
        out.warnings.push({ file: where, message: `apiVersion "${apiVersion}" is not vigil.dev/v1alpha1 or cilium.io/v1alpha1; ignored` });
        return;
      }
      const meta = (value.metadata ?? {}) as Record<string, unknown>;
      const checked = validatePolicy(value);
      if (!checked.ok) {
        for (const issue of checked.issues) out.warnings.push({ file: where, message: `invalid policy "${String(meta.name ?? '')}": ${formatIssue(issue)}` });
        return;
      }
      out.policies.push({ file: where, name: String(meta.name ?? '(unnamed)'), kind, apiVersion, policy: checked.policy });
    });
  }
  return out;
}
