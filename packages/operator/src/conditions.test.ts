import { describe, expect, it } from '@jest/globals';
import type { Ack } from '@vigil/sensor';
import { MAX_LISTED_FAILURES, nextStatus, rollupHooks, sameJson, type AckSummary, type HookPlacement, type PolicyFacts } from './conditions.js';

const ack = (node: string, result: Ack['result'], contentHash = 'h'): Ack => ({ node, policyUid: 'u', generation: 1, contentHash, result, reason: result === 'applied' ? '' : 'no', refusals: [], at: '' });
const facts = (n: number, acks: Ack[]): PolicyFacts => ({
  generation: 1,
  mode: 'enforce',
  issues: [],
  targets: new Map(Array.from({ length: n }, (_, i) => [`n${i}`, { contentHash: 'h' }])),
  acks: new Map(acks.map((a) => [a.node, a])),
});
const t0 = new Date('2026-11-23T10:00:00Z');
const t1 = new Date('2026-11-23T11:00:00Z');

describe('policy status', () => {
  it('is Reconciling while nodes are pending, Ready when all applied; stale acks (old hash) count as pending', () => {
    const s = nextStatus(undefined, facts(2, [ack('n0', 'applied'), ack('n1', 'applied', 'old')]), t0);
    expect(s.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'False', 'Progressing'],
      ['Reconciling', 'True', 'Progressing'],
      ['Stalled', 'False', 'Progressing'],
      ['Degraded', 'False', 'Progressing'],
    ]);
    const r = nextStatus(s, facts(2, [ack('n0', 'applied'), ack('n1', 'applied')]), t1);
    expect(r.nodes).toMatchObject({ desired: 2, applied: 2, failed: 0, summary: '2/2' });
    const ready = r.conditions?.find((c) => c.type === 'Ready');
    expect(ready).toMatchObject({ status: 'True', lastTransitionTime: '2026-11-23T11:00:00Z', observedGeneration: 1 });
    // Stalled stayed False: its transition time is kept.
    expect(r.conditions?.find((c) => c.type === 'Stalled')?.lastTransitionTime).toBe('2026-11-23T10:00:00Z');
    expect(sameJson(nextStatus(r, facts(2, [ack('n0', 'applied'), ack('n1', 'applied')]), new Date()), r)).toBe(true);
  });
  it('a nodeSelector that selects nothing is settled (Ready, NoMatchingNodes); no sensor at all is not (NoNodes)', () => {
    const none = nextStatus(undefined, { ...facts(0, []), nodeSelection: { selector: 'tier=edge', selected: 0, total: 4 } }, t0);
    expect(none.conditions?.map((c) => [c.type, c.status, c.reason])).toEqual([
      ['Ready', 'True', 'NoMatchingNodes'],
      ['Reconciling', 'False', 'NoMatchingNodes'],
      ['Stalled', 'False', 'NoMatchingNodes'],
      ['Degraded', 'False', 'NoMatchingNodes'],
    ]);
    const noSensors = nextStatus(undefined, { ...facts(0, []), nodeSelection: { selector: 'tier=edge', selected: 0, total: 0 } }, t0);
    expect(noSensors.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'NoNodes' });
    const some = nextStatus(undefined, { ...facts(1, [ack('n0', 'applied')]), nodeSelection: { selector: 'tier=edge', selected: 1, total: 4 } }, t0);
    expect(some.conditions?.find((c) => c.type === 'Ready')?.message).toBe('all 1 node(s) enforce generation 1 (spec.nodeSelector tier=edge selects 1 of 4 node(s) running a sensor)');
  });

  it('rolls the per-node hook placements of current acks up per hook: mechanism, state, node count, a refusal reason', () => {
    const lsm: HookPlacement[] = [
      { path: 'spec.lsmhooks[0]', hook: 'file_open', mechanism: 'lsm', state: 'enforcing', reason: '' },
      { path: 'spec.kprobes[10]', hook: 'tcp_connect', mechanism: 'kprobe', state: 'observing', reason: '' },
      { path: 'spec.kprobes[2]', hook: 'security_bprm_check', mechanism: 'kprobe', state: 'observing', reason: '' },
    ];
    const noLsm: HookPlacement[] = [
      { path: 'spec.lsmhooks[0]', hook: 'file_open', mechanism: 'fanotify', state: 'enforcing', reason: 'no BPF LSM: fanotify permission events' },
      { path: 'spec.kprobes[10]', hook: 'tcp_connect', mechanism: 'none', state: 'refused', reason: 'kernel function hooks need kprobes or fentry, which this node lacks' },
      { path: 'spec.kprobes[2]', hook: 'security_bprm_check', mechanism: 'none', state: 'refused', reason: 'kernel function hooks need kprobes or fentry, which this node lacks' },
    ];
    const acks = new Map<string, AckSummary>([
      ['n0', { contentHash: 'h', result: 'applied', reason: '', hooks: lsm }],
      ['n1', { contentHash: 'h', result: 'applied', reason: '', hooks: lsm }],
      ['n2', { contentHash: 'h', result: 'applied', reason: '', hooks: noLsm }],
      ['n3', { contentHash: 'old', result: 'applied', reason: '', hooks: noLsm }], // acked an older bundle: not counted
    ]);
    const f: PolicyFacts = { ...facts(4, []), acks };
    const r = rollupHooks(f);
    expect(r.map((h) => h.path)).toEqual(['spec.kprobes[2]', 'spec.kprobes[10]', 'spec.lsmhooks[0]']);
    expect(r[2]).toEqual({
      path: 'spec.lsmhooks[0]',
      hook: 'file_open',
      placements: [
        { mechanism: 'lsm', state: 'enforcing', nodes: 2, exampleNode: 'n0' },
        { mechanism: 'fanotify', state: 'enforcing', nodes: 1, reason: 'no BPF LSM: fanotify permission events', exampleNode: 'n2' },
      ],
    });
    expect(r[1]?.placements[1]).toEqual({ mechanism: 'none', state: 'refused', nodes: 1, reason: 'kernel function hooks need kprobes or fentry, which this node lacks', exampleNode: 'n2' });
    expect(nextStatus(undefined, f, t0).hooks).toEqual(r);
    expect(nextStatus(undefined, facts(1, [ack('n0', 'applied')]), t0).hooks).toBeUndefined(); // sensors that send no hooks
  });

  it('bounds the failing list but counts every failure', () => {
    const s = nextStatus(undefined, facts(30, Array.from({ length: 30 }, (_, i) => ack(`n${i}`, 'refused'))), t0);
    expect(s.nodes?.failed).toBe(30);
    expect(s.nodes?.failures).toHaveLength(MAX_LISTED_FAILURES);
    expect(s.conditions?.find((c) => c.type === 'Degraded')?.status).toBe('True');
    expect(s.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('True');
  });
});
