// The committed generated files (C header, CRDs, limits doc) must equal what `pnpm gen` would write now.
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { ABI_ENUMS } from '../abi/enums.js';
import { loadCorpus, repoRoot } from '../corpus.js';
import type { JsonSchema } from '../schema/policy-schema.js';
import { createSchemaAjv } from '../validate.js';
import { validatePolicyText } from '../validate.js';
import { cIdentifier, POLICY_ENUMS_HEADER_PATH } from './c-header.js';
import { crdFileName } from './crd.js';
import { generatedFiles } from './generated-files.js';

const root = repoRoot();

describe('generated files', () => {
  for (const f of generatedFiles()) {
    it(`${f.path} is up to date (run \`pnpm gen\` if this fails)`, () => {
      const path = join(root, f.path);
      expect(existsSync(path) ? readFileSync(path, 'utf8') : `<missing ${f.path}>`).toBe(f.content);
    });
  }

  it('C header compiles and every enum value matches the TypeScript source', () => {
    const cc = ['clang-19', 'clang', 'cc'].find((c) => spawnSync(c, ['--version']).status === 0);
    if (!cc) throw new Error('no C compiler (clang-19, clang or cc) found: run scripts/setup.sh');
    const dir = mkdtempSync(join(tmpdir(), 'vigil-abi-'));
    try {
      const asserts = ABI_ENUMS.flatMap((e) => {
        const names = Object.keys(e.values).map((k) => `${e.prefix}${cIdentifier(k)}`);
        expect(new Set(names).size).toBe(names.length);
        return Object.entries(e.values).map(([k, v]) => `_Static_assert(${e.prefix}${cIdentifier(k)} == ${v}, "${e.cName}.${k}");`);
      });
      const file = join(dir, 'check.c');
      writeFileSync(file, `#include "${join(root, POLICY_ENUMS_HEADER_PATH)}"\n${asserts.join('\n')}\nint main(void) { return 0; }\n`);
      const r = spawnSync(cc, ['-std=c11', '-Wall', '-Werror', '-fsyntax-only', file], { encoding: 'utf8' });
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

function structuralProblems(s: JsonSchema, path: string, out: string[]): void {
  const preserve = s['x-kubernetes-preserve-unknown-fields'] === true;
  if (!s.type && !preserve) out.push(`${path}: no type`);
  if (s.properties && s.additionalProperties !== undefined) out.push(`${path}: additionalProperties with properties`);
  for (const k of Object.keys(s)) if (['$ref', 'oneOf', 'anyOf', 'allOf', 'not', 'definitions', '$schema', '$id'].includes(k)) out.push(`${path}: ${k} is not allowed in a structural schema`);
  if (s.type === 'array' && !s.items) out.push(`${path}: array without items`);
  for (const [k, v] of Object.entries(s.properties ?? {})) structuralProblems(v, `${path}.${k}`, out);
  if (typeof s.additionalProperties === 'object') structuralProblems(s.additionalProperties, `${path}{}`, out);
  if (s.items) structuralProblems(s.items, `${path}[]`, out);
  if (s['x-kubernetes-list-type'] === 'map') for (const key of s['x-kubernetes-list-map-keys'] ?? []) if (!s.items?.required?.includes(key)) out.push(`${path}: list-map key ${key} not required`);
}

describe('CRDs', () => {
  for (const kind of ['TracingPolicy', 'TracingPolicyNamespaced'] as const) {
    const crd = parse(readFileSync(join(root, crdFileName(kind)), 'utf8')) as {
      spec: { scope: string; versions: { name: string; subresources: unknown; additionalPrinterColumns: { name: string; jsonPath: string }[]; schema: { openAPIV3Schema: JsonSchema } }[] };
    };
    const version = crd.spec.versions[0];
    const schema = version?.schema.openAPIV3Schema as JsonSchema;

    it(`${kind}: structural schema, status subresource, printer columns`, () => {
      const problems: string[] = [];
      structuralProblems(schema, 'root', problems);
      expect(problems).toEqual([]);
      expect(schema.properties?.['metadata']).toEqual({ type: 'object' });
      expect(version?.subresources).toEqual({ status: {} });
      expect(version?.additionalPrinterColumns.map((c) => c.name)).toEqual(['Ready', 'Mode', 'Nodes', 'Age']);
      expect(version?.additionalPrinterColumns[0]?.jsonPath).toBe('.status.conditions[?(@.type=="Ready")].status');
      expect(crd.spec.scope).toBe(kind === 'TracingPolicy' ? 'Cluster' : 'Namespaced');
    });

    it(`${kind}: the CRD schema accepts every corpus policy (apiVersion vigil.dev/v1alpha1)`, () => {
      const validate = createSchemaAjv().compile(schema as object);
      for (const f of loadCorpus()) {
        const doc = parse(f.text.replace('cilium.io/v1alpha1', 'vigil.dev/v1alpha1')) as Record<string, unknown>;
        if (kind === 'TracingPolicyNamespaced') delete (doc['spec'] as Record<string, unknown>)['hostSelector'];
        const ok = validate({ ...doc, kind });
        expect({ file: f.name, errors: ok ? null : validate.errors }).toEqual({ file: f.name, errors: null });
      }
    });
  }

  it('the validator and the CRD agree on a policy with status', () => {
    const text = readFileSync(join(root, 'crds', 'vigil.dev_tracingpolicies.yaml'), 'utf8');
    expect(text).toContain('observedGeneration');
    const docs = validatePolicyText(
      'apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: s}\nspec: {}\nstatus:\n  observedGeneration: 2\n  mode: enforce\n  conditions:\n  - {type: Ready, status: "True", reason: Applied, lastTransitionTime: "2026-11-23T17:00:00Z"}\n  nodes: {desired: 1, applied: 1, failed: 0, summary: 1/1}\n',
    );
    expect(docs[0]?.result.ok).toBe(true);
  });
});
