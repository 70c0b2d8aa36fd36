/**
 * The Argo CD health check (charts/vigil/argocd/health.lua) run by a real Lua 5.4 interpreter against status
 * objects the operator's own status code produces.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Ack } from '@vigil/sensor';
import { nextStatus, type PolicyFacts } from '@vigil/operator';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const SCRIPT = join(ROOT, 'charts', 'vigil', 'argocd', 'health.lua');

/** JSON value → Lua table constructor (what Argo CD hands the script as `obj`). */
function toLua(v: unknown): string {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return JSON.stringify(v).replace(/\\u([0-9a-f]{4})/gi, (_m, h: string) => `\\u{${h}}`);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `{${v.map(toLua).join(',')}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `[${JSON.stringify(k)}]=${toLua(x)}`)
    .join(',')}}`;
}

function health(obj: unknown): { status: string; message: string } {
  const out = execFileSync('lua5.4', ['-e', `obj = ${toLua(obj)}; local hs = dofile(${JSON.stringify(SCRIPT)}); io.write(hs.status, "\\t", hs.message or "")`], { encoding: 'utf8', timeout: 10_000 });
  const [status = '', message = ''] = out.split('\t');
  return { status, message };
}

const ack = (node: string, result: Ack['result'], reason = ''): Ack => ({ node, policyUid: 'u', generation: 2, contentHash: 'h', result, reason, refusals: [], at: '' });
function policy(generation: number, facts: Partial<PolicyFacts> | undefined): unknown {
  const f: PolicyFacts = { generation: 2, mode: 'enforce', issues: [], targets: new Map([['n1', { contentHash: 'h' }], ['n2', { contentHash: 'h' }]]), acks: new Map(), ...facts };
  return { apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'p', generation }, spec: {}, status: facts ? nextStatus(undefined, f, new Date()) : undefined };
}

describe('Argo CD health Lua (lua5.4)', () => {
  it('is Progressing without status and while the operator has not observed the generation', () => {
    expect(health(policy(2, undefined)).status).toBe('Progressing');
    expect(health(policy(3, { acks: new Map([['n1', ack('n1', 'applied')], ['n2', ack('n2', 'applied')]]) }))).toEqual({ status: 'Progressing', message: 'Waiting for the operator to observe generation 3' });
  });
  it('is Healthy when Ready, Progressing while nodes are pending', () => {
    expect(health(policy(2, { acks: new Map([['n1', ack('n1', 'applied')], ['n2', ack('n2', 'applied')]]) })).status).toBe('Healthy');
    const h = health(policy(2, { acks: new Map([['n1', ack('n1', 'applied')]]) }));
    expect(h.status).toBe('Progressing');
    expect(h.message).toContain('waiting for 1 node(s)');
  });
  it('is Degraded when nodes refuse or the generation is invalid, with the reason', () => {
    const d = health(policy(2, { acks: new Map([['n1', ack('n1', 'applied')], ['n2', ack('n2', 'refused', 'enforcement engine not available in this build')]]) }));
    expect(d.status).toBe('Degraded');
    expect(d.message).toContain('n2: enforcement engine not available in this build');
    const inv = health(policy(2, { issues: [{ code: 'UNKNOWN_ARG', path: 'spec.kprobes[0].selectors[0].matchArgs[0].index', reason: 'no argument 3 to filter on', hint: '' }] as never }));
    expect(inv.status).toBe('Degraded');
    expect(inv.message).toContain('spec.kprobes[0].selectors[0].matchArgs[0].index: no argument 3 to filter on');
  });
});
