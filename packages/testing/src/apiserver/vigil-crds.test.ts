/** Vigil's own generated CRDs are accepted by the test API server, as a real one must accept them. */
import { describe, expect, it } from '@jest/globals';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { startTestApiServer } from './server.js';

const CRDS = fileURLToPath(new URL('../../../../crds/', import.meta.url));

describe('vigil.dev CRDs', () => {
  it('register, establish and serve both kinds, and enforce the returnArg rule', async () => {
    const crds = readdirSync(CRDS).filter((f) => f.endsWith('.yaml')).map((f) => parse(readFileSync(`${CRDS}${f}`, 'utf8')) as Record<string, unknown>);
    expect(crds).toHaveLength(2);
    const s = await startTestApiServer({ objects: crds });
    try {
      const post = (body: unknown) => fetch(`${s.url}/apis/vigil.dev/v1alpha1/tracingpolicies`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const ok = await post({ apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'ok' }, spec: { kprobes: [{ call: 'tcp_connect', return: true, returnArg: { index: 0, type: 'int' } }] } });
      expect(ok.status).toBe(201);
      const bad = await post({ apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'bad' }, spec: { kprobes: [{ call: 'tcp_connect', return: true }] } });
      expect(bad.status).toBe(422);
      expect(JSON.stringify(await bad.json())).toContain('return: true needs returnArg');
    } finally {
      await s.stop();
    }
  });
});
