/**
 * spec.nodeSelector end to end: the operator matches it against the Kubernetes Node labels of every node running
 * a sensor, publishes assignments only for the nodes it selects, follows relabels made with `kubectl label node`
 * (a node labelled out has its sensor remove the policy, one labelled in gets it) and says in status how many
 * nodes the selector picks. Real nats-server, real BundleAgents, the test API server and real kubectl.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PolicyCondition } from '@vigil/policy-schema';
import { RecordingApplier } from '@vigil/sensor';
import type { PolicyObject } from './controllers/policy-ref.js';
import type { Operator } from './operator.js';
import { clusterPolicies, eventually, policyBody, startSystem, type System } from './test-support.js';

const run = promisify(execFile);
const G = { group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies' };
const cond = (p: PolicyObject, type: string): PolicyCondition | undefined => p.status?.conditions?.find((c) => c.type === type);

describe('spec.nodeSelector against Node labels', () => {
  let sys: System;
  let op: Operator;
  let env: NodeJS.ProcessEnv;
  let dir: string;
  const appliers = new Map<string, RecordingApplier>();
  beforeAll(async () => {
    sys = await startSystem();
    dir = mkdtempSync(join(tmpdir(), 'vigil-nodesel-'));
    await sys.api.writeKubeconfig(join(dir, 'kubeconfig'));
    env = { ...process.env, KUBECONFIG: join(dir, 'kubeconfig') };
    await sys.core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'edge-1', labels: { 'vigil.dev/tier': 'edge', 'kubernetes.io/os': 'linux' } } } });
    await sys.core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'core-1', labels: { 'vigil.dev/tier': 'core', 'kubernetes.io/os': 'linux' } } } });
    await sys.core.createNode({ body: { apiVersion: 'v1', kind: 'Node', metadata: { name: 'bare-1' } } });
    op = await sys.startOperator();
    for (const n of ['edge-1', 'core-1', 'bare-1']) {
      const a = new RecordingApplier();
      appliers.set(n, a);
      await sys.startSensor(n, a);
    }
  }, 120_000); // an API server, nats-server, the operator and three sensors: slow on a loaded machine
  afterAll(async () => {
    await sys.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const get = (name: string): Promise<PolicyObject> => clusterPolicies(sys).get(name);
  const until = (name: string, pred: (p: PolicyObject) => boolean, what: string): Promise<PolicyObject> => clusterPolicies(sys).until(name, pred, what);
  /** The nodes whose sensor currently runs the policy. */
  const running = (uid: string): string[] =>
    [...appliers]
      .filter(([, a]) => a.active.has(uid))
      .map(([n]) => n)
      .sort();
  const withSelector = (name: string, selector: Record<string, unknown>): PolicyObject => {
    const p = policyBody(name, 443);
    (p.spec as Record<string, unknown>)['nodeSelector'] = selector;
    return p;
  };

  it('loads the policy only on the nodes the selector picks, and follows kubectl label node both ways', async () => {
    await sys.custom.createClusterCustomObject({ ...G, body: withSelector('edge-only', { matchLabels: { 'vigil.dev/tier': 'edge' } }) });
    const p1 = await until('edge-only', (p) => cond(p, 'Ready')?.status === 'True', 'Ready=True');
    const uid = p1.metadata?.uid ?? '';
    expect(p1.status?.nodes).toMatchObject({ desired: 1, applied: 1, failed: 0, summary: '1/1' });
    expect(cond(p1, 'Ready')?.message).toBe('all 1 node(s) enforce generation 1 (spec.nodeSelector vigil.dev/tier=edge selects 1 of 3 node(s) running a sensor)');
    await op.idle();
    expect(running(uid)).toEqual(['edge-1']);
    // A policy without nodeSelector goes everywhere (the control).
    await sys.custom.createClusterCustomObject({ ...G, body: policyBody('everywhere', 8443) });
    const everywhere = await until('everywhere', (p) => p.status?.nodes?.summary === '3/3' && cond(p, 'Ready')?.status === 'True', 'everywhere Ready 3/3');
    expect(running(everywhere.metadata?.uid ?? '')).toEqual(['bare-1', 'core-1', 'edge-1']);

    // What a person sees.
    const table = (await run('kubectl', ['get', 'tracingpolicies'], { env, timeout: 20_000 })).stdout;
    expect(table).toMatch(/edge-only\s+True\s+enforce\s+1\/1\s/);
    expect(table).toMatch(/everywhere\s+True\s+enforce\s+3\/3\s/);

    // Labelled in: bare-1 joins.
    const t0 = performance.now();
    await run('kubectl', ['label', 'node', 'bare-1', 'vigil.dev/tier=edge'], { env, timeout: 20_000 });
    const labelled = performance.now();
    await eventually(() => (running(uid).length === 2 ? true : undefined), 'bare-1 runs edge-only');
    process.stdout.write(`nodeSelector relabel: kubectl label ${Math.round(labelled - t0)} ms, then the node's sensor applied the policy ${Math.round(performance.now() - labelled)} ms later\n`);
    expect(running(uid)).toEqual(['bare-1', 'edge-1']);
    const p2 = await until('edge-only', (p) => p.status?.nodes?.summary === '2/2' && cond(p, 'Ready')?.status === 'True', 'edge-only 2/2');
    expect(cond(p2, 'Ready')?.message).toContain('selects 2 of 3 node(s)');

    // Labelled out: edge-1's sensor removes the policy (an assignment deletion, not a stale bundle left running).
    await run('kubectl', ['label', 'node', 'edge-1', 'vigil.dev/tier=core', '--overwrite'], { env, timeout: 20_000 });
    const relabelled = performance.now();
    await eventually(() => (running(uid).length === 1 ? true : undefined), 'edge-1 drops edge-only');
    process.stdout.write(`nodeSelector relabel out: the node's sensor removed the policy ${Math.round(performance.now() - relabelled)} ms after kubectl label returned\n`);
    expect(running(uid)).toEqual(['bare-1']);
    expect(appliers.get('edge-1')?.calls.filter((c) => c.policyUid === uid).map((c) => c.op)).toEqual(['apply', 'remove']);
    await until('edge-only', (p) => p.status?.nodes?.summary === '1/1', 'edge-only 1/1 again');
    // The unselected policy on the other nodes was never touched.
    expect(running(everywhere.metadata?.uid ?? '')).toEqual(['bare-1', 'core-1', 'edge-1']);
  });

  it('matchExpressions (In, NotIn, Exists, DoesNotExist) select like Kubernetes does', async () => {
    await sys.custom.createClusterCustomObject({
      ...G,
      body: withSelector('linux-not-core', { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }, { key: 'vigil.dev/tier', operator: 'NotIn', values: ['core'] }] }),
    });
    await sys.custom.createClusterCustomObject({ ...G, body: withSelector('unlabelled', { matchExpressions: [{ key: 'kubernetes.io/os', operator: 'DoesNotExist' }] }) });
    await sys.custom.createClusterCustomObject({ ...G, body: withSelector('tiered', { matchExpressions: [{ key: 'vigil.dev/tier', operator: 'Exists' }] }) });
    // Labels now: edge-1 {tier: core, os: linux}, core-1 {tier: core, os: linux}, bare-1 {tier: edge}.
    const uids = new Map<string, string>();
    for (const name of ['linux-not-core', 'unlabelled', 'tiered']) {
      const p = await until(name, (x) => cond(x, 'Ready')?.status === 'True', `${name} Ready`);
      uids.set(name, p.metadata?.uid ?? '');
    }
    await op.idle();
    expect(running(uids.get('unlabelled') ?? '')).toEqual(['bare-1']);
    expect(running(uids.get('tiered') ?? '')).toEqual(['bare-1', 'core-1', 'edge-1']);
    // linux-not-core: edge-1 and core-1 are tier=core, bare-1 has no os label: nothing selected, and that is settled.
    const none = await get('linux-not-core');
    expect(running(uids.get('linux-not-core') ?? '')).toEqual([]);
    expect(cond(none, 'Ready')).toMatchObject({ status: 'True', reason: 'NoMatchingNodes' });
    expect(cond(none, 'Ready')?.message).toBe('spec.nodeSelector kubernetes.io/os in (linux),vigil.dev/tier notin (core) selects none of the 3 node(s) running a sensor: nothing to enforce; label a node to select it');
    expect(cond(none, 'Reconciling')?.status).toBe('False');
    expect(none.status?.nodes?.summary).toBe('0/0');
  });

  it('status.hooks says, per hook, which mechanism runs it on how many nodes and why a node refuses it', async () => {
    // The sensors report per-hook placements in their acks (as CompositeApplier does); here edge-1 lacks kprobes.
    for (const [node, a] of appliers)
      a.decide = (b) => ({
        result: 'applied',
        reason: '',
        hooks: b.hooks.map((h) =>
          node === 'edge-1'
            ? { hookId: h.id, path: h.path, hook: h.targets.join(','), mechanism: 'none', state: 'refused' as const, reason: 'kernel function hooks need kprobes or fentry, which this node lacks' }
            : { hookId: h.id, path: h.path, hook: h.targets.join(','), mechanism: 'kprobe', state: 'observing' as const, reason: '' },
        ),
      });
    await sys.custom.createClusterCustomObject({ ...G, body: policyBody('placed', 9443) });
    const p = await until('placed', (x) => cond(x, 'Ready')?.status === 'True' && (x.status?.hooks?.[0]?.placements.length ?? 0) === 2, 'placed Ready with hook placements');
    expect(p.status?.hooks).toEqual([
      {
        path: 'spec.kprobes[0]',
        hook: 'tcp_connect',
        placements: [
          { mechanism: 'kprobe', state: 'observing', nodes: 2, exampleNode: 'bare-1' },
          { mechanism: 'none', state: 'refused', nodes: 1, reason: 'kernel function hooks need kprobes or fentry, which this node lacks', exampleNode: 'edge-1' },
        ],
      },
    ]);
    // What a person sees, through the CRD's status schema (the API server prunes fields the schema lacks).
    const out = (await run('kubectl', ['get', 'tracingpolicy', 'placed', '-o', 'jsonpath={range .status.hooks[*].placements[*]}{.mechanism}/{.state}={.nodes} {end}'], { env, timeout: 20_000 })).stdout;
    expect(out.trim()).toBe('kprobe/observing=2 none/refused=1');
    for (const a of appliers.values()) a.decide = () => ({ result: 'applied', reason: '' });
  });

  it('an invalid nodeSelector is refused with its path, and the nodes keep the previous generation', async () => {
    const p = await get('edge-only');
    const uid = p.metadata?.uid ?? '';
    await sys.custom.patchClusterCustomObject({ ...G, name: 'edge-only', body: [{ op: 'replace', path: '/spec/nodeSelector', value: { matchExpressions: [{ key: 'vigil.dev/tier', operator: 'In' }] } }] });
    const bad = await until('edge-only', (x) => x.status?.observedGeneration === 2, 'generation 2 observed');
    expect(cond(bad, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidPolicy' });
    expect(cond(bad, 'Ready')?.message).toContain('spec.nodeSelector.matchExpressions[0]');
    await op.idle();
    expect(running(uid)).toEqual(['bare-1']);
  });
});
