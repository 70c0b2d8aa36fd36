import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { PolicyCondition } from '@vigil/policy-schema';
import { NO_ENGINE_REASON, RecordingApplier, RefusingApplier } from '@vigil/sensor';
import type { PolicyObject } from './controllers/policy-ref.js';
import type { Operator } from './operator.js';
import { clusterPolicies, eventually, policyBody, startSystem, type System } from './test-support.js';

const run = promisify(execFile);
const G = { group: 'vigil.dev', version: 'v1alpha1', plural: 'tracingpolicies' };

const cond = (p: PolicyObject, type: string): PolicyCondition | undefined => p.status?.conditions?.find((c) => c.type === type);

describe('operator ↔ sensors over NATS, status through the test API server', () => {
  let sys: System;
  let op: Operator;
  let applier: RecordingApplier;
  let dir: string;
  beforeAll(async () => {
    sys = await startSystem();
    dir = mkdtempSync(join(tmpdir(), 'vigil-kubectl-'));
    await sys.api.writeKubeconfig(join(dir, 'kubeconfig'));
    await sys.addNode('node-a.example.com');
    op = await sys.startOperator();
    applier = new RecordingApplier();
    await sys.startSensor('node-a.example.com', applier);
  });
  afterAll(async () => {
    await sys.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  const get = (name: string): Promise<PolicyObject> => clusterPolicies(sys).get(name);
  const until = (name: string, pred: (p: PolicyObject) => boolean, what: string): Promise<PolicyObject> => clusterPolicies(sys).until(name, pred, what);

  it('apply → bundle → sensor applies and acks → Ready=True, NODES 1/1 in kubectl; edits and invalid generations follow', async () => {
    await sys.custom.createClusterCustomObject({ ...G, body: policyBody('ssh-watch', 22) });
    const p1 = await until('ssh-watch', (p) => cond(p, 'Ready')?.status === 'True', 'Ready=True');
    expect(p1.status).toMatchObject({ observedGeneration: 1, mode: 'enforce', nodes: { desired: 1, applied: 1, failed: 0, summary: '1/1' } });
    expect(cond(p1, 'Reconciling')?.status).toBe('False');
    expect(cond(p1, 'Stalled')?.status).toBe('False');
    expect(cond(p1, 'Degraded')?.status).toBe('False');
    expect(applier.active.get(p1.metadata?.uid ?? '')?.version.generation).toBe(1);

    const env = { ...process.env, KUBECONFIG: join(dir, 'kubeconfig') };
    const table = (await run('kubectl', ['get', 'tracingpolicies'], { env, timeout: 20_000 })).stdout;
    expect(table.split('\n')[0]).toMatch(/^NAME\s+READY\s+MODE\s+NODES\s+AGE/);
    expect(table).toMatch(/ssh-watch\s+True\s+enforce\s+1\/1\s+\d+s/);
    const json = JSON.parse((await run('kubectl', ['get', 'tracingpolicy', 'ssh-watch', '-o', 'json'], { env, timeout: 20_000 })).stdout) as PolicyObject;
    expect(json.status?.observedGeneration).toBe(json.metadata?.generation);

    // Edit the spec: generation 2, a new bundle, status follows; Ready's lastTransitionTime is kept (True → True… via False is allowed).
    await sys.custom.patchClusterCustomObject({ ...G, name: 'ssh-watch', body: [{ op: 'replace', path: '/spec/kprobes/0/selectors/0/matchArgs/0/values', value: ['2222'] }] });
    const p2 = await until('ssh-watch', (p) => p.status?.observedGeneration === 2 && cond(p, 'Ready')?.status === 'True', 'generation 2 Ready');
    expect(p2.metadata?.generation).toBe(2);
    expect(applier.active.get(p2.metadata?.uid ?? '')?.version.generation).toBe(2);

    // Semantically invalid generation 3: Ready=False with the validator's path and reason; the node keeps generation 2.
    await sys.custom.patchClusterCustomObject({ ...G, name: 'ssh-watch', body: [{ op: 'replace', path: '/spec/kprobes/0/selectors/0/matchArgs/0/index', value: 3 }] });
    const p3 = await until('ssh-watch', (p) => p.status?.observedGeneration === 3, 'generation 3 observed');
    expect(cond(p3, 'Ready')).toMatchObject({ status: 'False', reason: 'InvalidPolicy' });
    expect(cond(p3, 'Ready')?.message).toContain('spec.kprobes[0].selectors[0].matchArgs[0].index: no argument 3 to filter on');
    expect(cond(p3, 'Stalled')?.status).toBe('True');
    await op.idle();
    expect(applier.active.get(p3.metadata?.uid ?? '')?.version.generation).toBe(2);
  });

  it('keeps lastTransitionTime while a condition keeps its status, and writes nothing when nothing changed', async () => {
    await sys.custom.createClusterCustomObject({ ...G, body: policyBody('stable', 80) });
    const a = await until('stable', (p) => cond(p, 'Ready')?.status === 'True', 'Ready');
    await op.idle();
    const writes = op.stats().statusWrites;
    // A label change bumps resourceVersion but not generation: no status write.
    await sys.custom.patchClusterCustomObject({ ...G, name: 'stable', body: [{ op: 'add', path: '/metadata/labels', value: { team: 'x' } }] });
    await new Promise((r) => setTimeout(r, 200));
    await op.idle();
    expect(op.stats().statusWrites).toBe(writes);
    const b = await get('stable');
    expect(cond(b, 'Stalled')?.lastTransitionTime).toBe(cond(a, 'Stalled')?.lastTransitionTime);
  });

  it('relists after a watch 410 and misses no update', async () => {
    await sys.custom.createClusterCustomObject({ ...G, body: policyBody('relist', 53) });
    await until('relist', (p) => cond(p, 'Ready')?.status === 'True', 'Ready');
    sys.api.faults.expireHistory();
    await sys.custom.patchClusterCustomObject({ ...G, name: 'relist', body: [{ op: 'replace', path: '/spec/kprobes/0/selectors/0/matchArgs/0/values', value: ['5353'] }] });
    await until('relist', (p) => p.status?.observedGeneration === 2 && cond(p, 'Ready')?.status === 'True', 'generation 2 after 410');
  });

  it('a node whose sensor refuses makes the policy Degraded with the reason, bounded in status.nodes', async () => {
    await sys.addNode('node-b');
    await sys.startSensor('node-b', new RefusingApplier());
    const s = await until('stable', (x) => cond(x, 'Degraded')?.status === 'True', 'Degraded');
    expect(s.status?.nodes?.failures).toEqual([{ node: 'node-b', reason: 'Refused', message: NO_ENGINE_REASON }]);
    expect(cond(s, 'Ready')).toMatchObject({ status: 'False', reason: 'NodesFailed' });
    expect(s.status?.nodes).toMatchObject({ desired: 2, applied: 1, failed: 1, summary: '1/2' });
  });

  it('tombstones a deleted policy on every node', async () => {
    const uid = (await get('relist')).metadata?.uid ?? '';
    await sys.custom.deleteClusterCustomObject({ ...G, name: 'relist' });
    await eventually(() => (applier.active.has(uid) ? undefined : true), 'removed on the node');
    expect(applier.calls.at(-1)).toEqual({ op: 'remove', policyUid: uid });
  });

  it('a restarted operator converges with no duplicate publish; after a NATS restart operator and sensors resync', async () => {
    await sys.custom.createClusterCustomObject({ ...G, body: policyBody('restart', 8080) });
    // node-b refuses (previous test): applied on node-a, failed on node-b
    await until('restart', (p) => p.status?.nodes?.applied === 1 && p.status.nodes.failed === 1, 'rolled out');
    await op.idle();
    await op.stop();
    op = await sys.startOperator();
    await op.idle();
    await new Promise((r) => setTimeout(r, 200));
    await op.idle();
    const kv = op.stats().kv;
    expect({ created: kv.created, updated: kv.updated, deleted: kv.deleted }).toEqual({ created: 0, updated: 0, deleted: 0 });
    expect(kv.unchanged).toBeGreaterThan(0);

    await sys.nats.restart();
    await sys.custom.patchClusterCustomObject({ ...G, name: 'restart', body: [{ op: 'replace', path: '/spec/kprobes/0/selectors/0/matchArgs/0/values', value: ['8443'] }] });
    const p = await eventually(async () => {
      const x = await get('restart');
      return x.status?.observedGeneration === 2 && x.status.nodes?.applied === 1 ? x : undefined;
    }, 'generation 2 applied after the NATS restart');
    expect(applier.active.get(p.metadata?.uid ?? '')?.version.generation).toBe(2);
  });
});
