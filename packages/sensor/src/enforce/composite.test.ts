/**
 * Routing and status of the composite applier, without the kernel: which engine runs each hook for a node
 * profile, and the reason of every hook that nothing can run (never silently dropped).
 */
import { describe, expect, it } from '@jest/globals';
import { compilePolicy, fullNodeProfile, parsePolicy, tracepointOnlyNodeProfile, type NodeProfile } from '@vigil/policy-schema';
import type { ApplyOutcome, BundleApplier } from '../transport/applier.js';
import type { HookStatus } from '../transport/protocol.js';
import { CompositeApplier, formatHookStatus, policyState, routeHook, type GenericApplier } from './composite.js';

const policy = `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: mixed
spec:
  kprobes:
  - call: tcp_connect
    syscall: false
    args: [{ index: 0, type: sock }]
    selectors:
    - matchActions: [{ action: Post }]
  - call: sys_write
    syscall: true
    args: [{ index: 0, type: int }]
    selectors:
    - matchArgs: [{ index: 0, operator: Equal, values: ["77"] }]
      matchActions: [{ action: Sigkill }]
  lsmhooks:
  - hook: file_open
    args: [{ index: 0, type: file }]
    selectors:
    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]
      matchActions: [{ action: Override, argError: -1 }]
`;

/** Records calls; applies whatever it is given (the routing under test is the composite's). */
class Recorder implements GenericApplier {
  readonly calls: string[] = [];
  fail = false;
  constructor(private readonly name: string) {}
  apply(b: Parameters<BundleApplier['apply']>[0]): Promise<ApplyOutcome> {
    this.calls.push(`${this.name}.apply ${b.hooks.map((h) => h.path).join(',')}`);
    return Promise.resolve(this.fail ? { result: 'failed', reason: `${this.name} failed` } : { result: 'applied', reason: '' });
  }
  remove(uid: string): Promise<void> {
    this.calls.push(`${this.name}.remove ${uid}`);
    return Promise.resolve();
  }
  report(): readonly HookStatus[] {
    return [];
  }
}

function bundleFor(profile: NodeProfile, generation = 1) {
  const p = parsePolicy(policy);
  p.metadata.generation = generation;
  return compilePolicy(p, profile);
}

describe('composite applier routing', () => {
  it('on a kernel without kprobes/LSM: file_open → fanotify, sys_write → tp_btf_syscall, tcp_connect refused with the missing capability', () => {
    const b = bundleFor(tracepointOnlyNodeProfile());
    expect(b.hooks.map((h) => [h.path, routeHook(h).runner])).toEqual([
      ['spec.kprobes[0]', 'none'],
      ['spec.kprobes[1]', 'generic'],
      ['spec.lsmhooks[0]', 'fallback'],
    ]);
    const c = new CompositeApplier(new Recorder('fallback'), new Recorder('generic'));
    const { statuses } = c.plan(b);
    expect(statuses).toEqual([
      expect.objectContaining({ path: 'spec.kprobes[0]', hook: 'tcp_connect', mechanism: 'none', state: 'refused', reason: expect.stringMatching(/kprobes or fentry/) }),
      expect.objectContaining({ path: 'spec.kprobes[1]', hook: 'sys_write', mechanism: 'tp_btf_syscall', state: 'enforcing' }),
      expect.objectContaining({ path: 'spec.lsmhooks[0]', hook: 'file_open', mechanism: 'fanotify', state: 'enforcing' }),
    ]);
    expect(formatHookStatus(statuses[0] as HookStatus)).toMatch(/^spec.kprobes\[0\] tcp_connect: refused: /);
    expect(formatHookStatus(statuses[1] as HookStatus)).toMatch(/^spec.kprobes\[1\] sys_write → tp_btf_syscall \(enforcing\)/);
  });

  it('refuses the whole policy when one hook cannot run, touching no engine', async () => {
    const fb = new Recorder('fallback');
    const gen = new Recorder('generic');
    const out = await new CompositeApplier(fb, gen).apply(bundleFor(tracepointOnlyNodeProfile()));
    expect(out.result).toBe('refused');
    expect(out.reason).toMatch(/spec.kprobes\[0\] \(tcp_connect\)/);
    expect(policyState(out).state).toBe('refused');
    expect([...fb.calls, ...gen.calls]).toEqual([]);
  });

  it('on a full kernel everything is generic; Post-only hooks observe', async () => {
    const fb = new Recorder('fallback');
    const gen = new Recorder('generic');
    const out = await new CompositeApplier(fb, gen).apply(bundleFor(fullNodeProfile()));
    expect(out.result).toBe('applied');
    expect(out.hooks?.map((h) => [h.mechanism, h.state])).toEqual([
      ['fentry', 'observing'],
      ['fentry', 'enforcing'],
      ['lsm', 'enforcing'],
    ]);
    expect(gen.calls).toEqual(['generic.apply spec.kprobes[0],spec.kprobes[1],spec.lsmhooks[0]']);
    expect(fb.calls).toEqual([]);
    expect(policyState(out).state).toBe('enforcing');
  });

  it('when the second part fails, the first part gets its previous bundle back', async () => {
    const profile = tracepointOnlyNodeProfile();
    const onlyRunnable = (g: number) => {
      const b = bundleFor(profile, g);
      return { ...b, hooks: b.hooks.filter((h) => h.mechanism !== 'none') };
    };
    const fb = new Recorder('fallback');
    const gen = new Recorder('generic');
    const c = new CompositeApplier(fb, gen);
    expect((await c.apply(onlyRunnable(1))).result).toBe('applied');
    fb.fail = true;
    const out = await c.apply(onlyRunnable(2));
    expect(out).toMatchObject({ result: 'failed', reason: 'fallback failed' });
    // generic got v2, then v1 again (the restore), the failing fallback was tried once
    expect(gen.calls).toEqual(['generic.apply spec.kprobes[1]', 'generic.apply spec.kprobes[1]', 'generic.apply spec.kprobes[1]']);
    expect(c.status(onlyRunnable(1).version.policyUid).length).toBe(2); // still the v1 status
  });
});
