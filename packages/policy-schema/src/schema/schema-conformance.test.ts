// Field-compatibility with Tetragon: every field, type, enum value and required list of Tetragon's generated
// CRD spec schema must exist in ours (we may add, never drop). Reads the CRDs from ../shared.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { sharedDir, tetragonCrdPath } from '../corpus.js';
import { specSchema, type JsonSchema } from './policy-schema.js';

const loc = sharedDir();

function compare(theirs: JsonSchema, ours: JsonSchema | undefined, path: string, out: string[]): void {
  if (!ours) {
    out.push(`${path}: missing`);
    return;
  }
  if (theirs.type !== ours.type) out.push(`${path}: type ${String(ours.type)} != ${String(theirs.type)}`);
  for (const v of theirs.enum ?? []) if (!(ours.enum ?? []).includes(v)) out.push(`${path}: enum value ${String(v)} missing`);
  if (theirs.format && theirs.format !== ours.format) out.push(`${path}: format ${String(ours.format)} != ${theirs.format}`);
  for (const r of theirs.required ?? []) if (!(ours.required ?? []).includes(r)) out.push(`${path}: ${r} not required`);
  for (const r of ours.required ?? []) if (!(theirs.required ?? []).includes(r)) out.push(`${path}: ${r} required only by us`);
  if (theirs.default !== undefined && JSON.stringify(theirs.default) !== JSON.stringify(ours.default)) out.push(`${path}: default differs`);
  for (const [k, sub] of Object.entries(theirs.properties ?? {})) compare(sub, ours.properties?.[k], `${path}.${k}`, out);
  if (theirs.items) compare(theirs.items, ours.items, `${path}[]`, out);
  if (typeof theirs.additionalProperties === 'object')
    compare(theirs.additionalProperties, typeof ours.additionalProperties === 'object' ? ours.additionalProperties : undefined, `${path}{}`, out);
}

describe('schema conformance with Tetragon cilium.io/v1alpha1', () => {
  for (const kind of ['TracingPolicy', 'TracingPolicyNamespaced'] as const) {
    it(`${kind}: every Tetragon spec field, enum value and requirement is in our schema`, () => {
      if (!loc.exists) {
        if (process.env['CI'] === 'true') throw new Error(loc.message);
        console.warn(loc.message);
        return;
      }
      const crd = parse(readFileSync(tetragonCrdPath(kind), 'utf8')) as { spec: { versions: { schema: { openAPIV3Schema: JsonSchema } }[] } };
      const theirs = crd.spec.versions[0]?.schema.openAPIV3Schema.properties?.['spec'];
      expect(theirs).toBeDefined();
      const problems: string[] = [];
      compare(theirs as JsonSchema, specSchema(), 'spec', problems);
      expect(problems).toEqual([]);
    });
  }

  it('our descriptions are our own (no description copied from Tetragon)', () => {
    if (!loc.exists) return;
    const text = readFileSync(tetragonCrdPath('TracingPolicy'), 'utf8');
    const theirs = new Set<string>();
    const collect = (s: unknown): void => {
      if (!s || typeof s !== 'object') return;
      for (const [k, v] of Object.entries(s)) {
        if (k === 'description' && typeof v === 'string' && v.length > 25) theirs.add(v.trim());
        else collect(v);
      }
    };
    collect(parse(text));
    const copied: string[] = [];
    const check = (s: unknown): void => {
      if (!s || typeof s !== 'object') return;
      for (const [k, v] of Object.entries(s)) {
        if (k === 'description' && typeof v === 'string' && theirs.has(v.trim())) copied.push(v);
        else check(v);
      }
    };
    check(specSchema());
    expect(copied).toEqual([]);
  });
});
