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
    writeFileSync(join(dir, 'a.yaml'), 'apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: a\nspec:\n  tracepoints:\n  - subsystem: sched\n    event: sched_process_exec\n');
    writeFileSync(join(dir, 'b.yaml'), 'apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicyNamespaced\nmetadata:\n  name: b\n  namespace: default\nspec:\n  kprobes:\n  - call: tcp_connect\n---\napiVersion: v1\nkind: ConfigMap\n');
    writeFileSync(join(dir, 'c.yaml'), 'apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: c\nspec:\n  kprobes:\n  - call: tcp_connect\n    selectors:\n    - matchArgs:\n      - index: 0\n        operator: Bogus\n        values: [x]\n');
    writeFileSync(join(dir, 'notes.txt'), 'hello');
    writeFileSync(join(dir, 'broken.yaml'), 'kind: [unclosed\n');
    const r = readPolicyDir(dir);
    expect(r.policies.map((p) => p.name)).toEqual(['a', 'b']);
    const invalid = r.warnings.find((w) => w.file.endsWith('c.yaml'));
    expect(invalid?.message).toMatch(/spec\.kprobes\[0\]\.selectors\[0\]\.matchArgs\[0\]\.operator/);
    expect(r.warnings.map((w) => [w.file.slice(dir.length + 1), w.message.split(':')[0]])).toEqual([
      ['b.yaml#1', 'kind "ConfigMap" is not TracingPolicy or TracingPolicyNamespaced; ignored'],
      ['broken.yaml', 'YAML error'],
      ['c.yaml', 'invalid policy "c"'],
      ['notes.txt', 'not a policy file (expected .yaml, .yml or .json); ignored'],
    ]);
  });

  it('names the directory when it cannot be read', () => {
    expect(() => readPolicyDir('/nonexistent/vigil')).toThrow('cannot read policy directory /nonexistent/vigil: ENOENT');
  });
});
