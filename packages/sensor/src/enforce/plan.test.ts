import { describe, expect, it } from '@jest/globals';
import { compilePolicy, fullNodeProfile, parsePolicy, tracepointOnlyNodeProfile } from '@vigil/policy-schema';
import { planFallbackEnforcement } from './plan.js';

const fallback = () => {
  const p = tracepointOnlyNodeProfile();
  p.mechanisms = { ...p.mechanisms, cgroupSock: true, fanotify: true, tpBtf: true, bpfSendSignal: true };
  return p;
};

const lsm = (hook: string, argType: string, selector: string) =>
  parsePolicy(`
apiVersion: vigil.dev/v1alpha1
kind: TracingPolicy
metadata: { name: p }
spec:
  lsmhooks:
  - hook: ${hook}
    args: [{ index: 0, type: ${argType} }]
    selectors:
${selector}
`);

describe('planFallbackEnforcement', () => {
  it('turns DAddr/DPort/Protocol into connect deny rules, Sigkill into kill', () => {
    const policy = lsm('socket_connect', 'sockaddr', `    - matchArgs:
      - { index: 0, operator: DAddr, values: ["10.0.0.0/8", "fd00::/8"] }
      - { index: 0, operator: DPort, values: ["443"] }
      - { index: 0, operator: Protocol, values: ["IPPROTO_TCP"] }
      matchActions: [{ action: Sigkill }]`);
    const plan = planFallbackEnforcement(compilePolicy(policy, fallback()), 100);
    expect(plan.hooks).toEqual([expect.objectContaining({ hook: 'socket_connect', mechanism: 'cgroup_sock', status: 'enforcing' })]);
    expect(plan.connect).toEqual([
      { id: 100, cidr: '10.0.0.0/8', ports: [[443, 443]], protocol: 'tcp', action: 'kill' },
      { id: 101, cidr: 'fd00:0:0:0:0:0:0:0/8', ports: [[443, 443]], protocol: 'tcp', action: 'kill' },
    ]);
  });

  it('refuses what the fallbacks cannot express, naming the hook and the reason', () => {
    const cases: Array<[ReturnType<typeof lsm>, RegExp]> = [
      [lsm('socket_connect', 'sockaddr', `    - matchArgs: [{ index: 0, operator: NotDAddr, values: ["10.0.0.0/8"] }]\n      matchActions: [{ action: Override, argError: -1 }]`), /supports DAddr, DPort and Protocol, not NotDAddr/],
      [lsm('socket_connect', 'sockaddr', `    - matchArgs: [{ index: 0, operator: DAddr, values: ["10.0.0.0/8"] }]\n      matchActions: [{ action: Post }]`), /observe only/],
      [lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchBinaries: [{ operator: In, values: ["/usr/bin/cat"] }]\n      matchActions: [{ action: Override, argError: -1 }]`), /fanotify denial matches one Equal clause/],
      [lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Sigkill }]`), /use Override/],
    ];
    for (const [policy, reason] of cases) {
      const plan = planFallbackEnforcement(compilePolicy(policy, fallback()));
      expect(plan.hooks[0]?.status).toBe('refused');
      expect(plan.hooks[0]?.reason).toMatch(reason);
    }
  });

  it('leaves LSM, kprobe and fentry mechanisms to the in-kernel engine, and says so', () => {
    const policy = lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Override, argError: -1 }]`);
    const plan = planFallbackEnforcement(compilePolicy(policy, fullNodeProfile()));
    expect(plan.hooks[0]).toMatchObject({ mechanism: 'lsm', status: 'refused', reason: expect.stringMatching(/in-kernel selector engine/) as unknown as string });
  });
});
