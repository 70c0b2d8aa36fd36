import { afterEach, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readPolicyDir } from './policy-dir.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('readPolicyDir', () => {
  it('reads policies of both apiVersions and warns about everything else without failing', () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-policies-'));
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: a\nspec: {}\n');
    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicyNamespaced\nmetadata:\n  name: b\n---\napiVersion: v1\nkind: ConfigMap\n');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    writeFileSync(join(dir, 'broken.yaml'), 'kind: [unclosed\n');
    const r = readPolicyDir(dir);
    expect(r.policies.map((p) => p.name)).toEqual(['a', 'b']);
    expect(r.warnings.map((w) => [w.file.slice(dir.length + 1), w.message.split(':')[0]])).toEqual([
      ['b.yaml#1', 'kind "ConfigMap" is not TracingPolicy or TracingPolicyNamespaced; ignored'],
      ['broken.yaml', 'YAML error'],
      ['notes.txt', 'not a policy file (expected .yaml, .yml or .json); ignored'],
    ]);
  });

  it('names the directory when it cannot be read', () => {
    expect(() => readPolicyDir('/nonexistent/vigil')).toThrow('cannot read policy directory /nonexistent/vigil: ENOENT');
  });
});
