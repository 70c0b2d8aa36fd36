import { describe, expect, it } from '@jest/globals';
import { compilePolicy, fullNodeProfile, parsePolicy, tracepointOnlyNodeProfile, validatePolicy } from '@vigil/policy-schema';
import { planFallbackEnforcement } from './plan.js';

const fallback = () => {
  const p = tracepointOnlyNodeProfile();
  p.mechanisms = { ...p.mechanisms, cgroupSock: true, fanotify: true, tpBtf: true, bpfSendSignal: true };
  return p;
};

const lsm = (hook: string, argType: string, selector: string, extra = '', argIndex = hook === 'socket_connect' ? 1 : 0) =>
  parsePolicy(`
apiVersion: vigil.dev/v1alpha1
kind: TracingPolicy
metadata: { name: p }
spec:
${extra}  lsmhooks:
  - hook: ${hook}
    args: [{ index: ${argIndex}, type: ${argType} }]
    selectors:
${selector}
`);

describe('planFallbackEnforcement', () => {
  it('turns DAddr/DPort/Protocol into connect deny rules, Sigkill into kill', () => {
    const policy = lsm('socket_connect', 'sockaddr', `    - matchArgs:
      - { index: 1, operator: DAddr, values: ["10.0.0.0/8", "fd00::/8"] }
      - { index: 1, operator: DPort, values: ["443"] }
      matchActions: [{ action: Sigkill }]`);
    const plan = planFallbackEnforcement(compilePolicy(policy, fallback()), 100);
    expect(plan.hooks).toEqual([expect.objectContaining({ hook: 'socket_connect', mechanism: 'cgroup_sock', status: 'enforcing' })]);
    expect(plan.connect).toEqual([
      { id: 100, cidr: '10.0.0.0/8', ports: [[443, 443]], action: 'kill' },
      { id: 101, cidr: 'fd00:0:0:0:0:0:0:0/8', ports: [[443, 443]], action: 'kill' },
    ]);
  });

  it('refuses what the fallbacks cannot express, naming the hook and the reason', () => {
    const cases: Array<[ReturnType<typeof lsm>, RegExp]> = [
      [lsm('socket_connect', 'sockaddr', `    - matchArgs: [{ index: 1, operator: NotDAddr, values: ["10.0.0.0/8"] }]\n      matchActions: [{ action: Override, argError: -1 }]`), /supports DAddr, DPort and Protocol, not NotDAddr/],
      [lsm('socket_connect', 'sockaddr', `    - matchArgs: [{ index: 1, operator: DAddr, values: ["10.0.0.0/8"] }]\n      matchActions: [{ action: Post }]`), /observe only/],
      [lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchBinaries: [{ operator: NotIn, values: ["/usr/bin/cat"] }]\n      matchActions: [{ action: Override, argError: -1 }]`), /matchBinaries NotIn is not supported/],
      [lsm('bprm_check_security', 'linux_binprm', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/usr/bin/nc"] }]\n      matchBinaries: [{ operator: In, values: ["/usr/bin/bash"] }]\n      matchActions: [{ action: Sigkill }]`), /calling binary, which is already replaced when sched_process_exec runs; exec kill reads it at sched_prepare_exec, which this kernel lacks/],
      [lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Sigkill }]`), /use Override/],
    ];
    for (const [policy, reason] of cases) {
      const plan = planFallbackEnforcement(compilePolicy(policy, fallback()), 1, { execCallerBinaries: false });
      expect(plan.hooks[0]?.status).toBe('refused');
      expect(plan.hooks[0]?.reason).toMatch(reason);
    }
  });

  it('leaves LSM, kprobe and fentry mechanisms to the in-kernel engine, and says so', () => {
    const policy = lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Override, argError: -1 }]`);
    const plan = planFallbackEnforcement(compilePolicy(policy, fullNodeProfile()));
    expect(plan.hooks[0]).toMatchObject({ mechanism: 'lsm', status: 'refused', reason: expect.stringMatching(/in-kernel selector engine/) as unknown as string });
  });

  it('checks each clause\'s arg slot against the hook\'s arguments, and refuses a clause on another argument', () => {
    const cases: Array<[ReturnType<typeof lsm>, RegExp]> = [
      // DAddr on the socket (arg 0) instead of the sockaddr (arg 1)
      [lsm('socket_connect', 'sockaddr', `    - matchArgs: [{ index: 0, operator: DAddr, values: ["10.0.0.0/8"] }]\n      matchActions: [{ action: Override, argError: -1 }]`, '', 0), /DAddr on arg index 0 \(sockaddr\) is not what the cgroup_sock fallback sees for socket_connect; it reads index 1 \(sockaddr: the destination sockaddr\)/],
      // the right index with the wrong type
      [lsm('socket_connect', 'int', `    - matchArgs: [{ index: 1, operator: DPort, values: ["443"] }]\n      matchActions: [{ action: Override, argError: -1 }]`), /DPort on arg index 1 \(int\)/],
      // file_open's file is arg 0
      [lsm('file_open', 'file', `    - matchArgs: [{ index: 1, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Override, argError: -1 }]`, '', 1), /Equal on arg index 1 \(file\) is not what the fanotify fallback sees for file_open; it reads index 0/],
      [lsm('bprm_check_security', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/usr/bin/nc"] }]\n      matchActions: [{ action: Sigkill }]`), /Equal on arg index 0 \(file\) is not what the tp_btf fallback sees for bprm_check_security; it reads index 0 \(linux_binprm/],
    ];
    for (const [policy, reason] of cases) {
      const plan = planFallbackEnforcement(compilePolicy(policy, fallback()));
      expect({ status: plan.hooks[0]?.status, reason: plan.hooks[0]?.reason }).toEqual({ status: 'refused', reason: expect.stringMatching(reason) as unknown as string });
    }
    // Protocol on the socket (arg 0) with DAddr on the sockaddr (arg 1): both where the mechanism reads them
    const both = parsePolicy(`
apiVersion: vigil.dev/v1alpha1
kind: TracingPolicy
metadata: { name: p }
spec:
  lsmhooks:
  - hook: socket_connect
    args: [{ index: 0, type: socket }, { index: 1, type: sockaddr }]
    selectors:
    - matchArgs:
      - { index: 0, operator: Protocol, values: ["IPPROTO_UDP"] }
      - { index: 1, operator: DAddr, values: ["10.1.0.0/16"] }
      matchActions: [{ action: Override, argError: -1 }]
`);
    const plan = planFallbackEnforcement(compilePolicy(both, fallback()), 1);
    expect(plan.hooks[0]?.status).toBe('enforcing');
    expect(plan.connect).toEqual([{ id: 1, cidr: '10.1.0.0/16', protocol: 'udp', action: 'deny' }]);
  });

  it('monitor mode: the rules only record (monitor: true), from the original actions the compiler kept', () => {
    const policy = lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Override, argError: -1 }]`, '  options: [{ name: policy-mode, value: monitor }]\n');
    const plan = planFallbackEnforcement(compilePolicy(policy, fallback()));
    expect(plan.monitor).toBe(true);
    expect(plan.hooks[0]).toMatchObject({ status: 'enforcing', reason: expect.stringMatching(/monitor mode: records the decision it would take/) as unknown as string });
    expect(plan.open).toEqual([{ path: '/etc/shadow', monitor: true }]);
    const net = lsm('socket_connect', 'sockaddr', `    - matchArgs: [{ index: 1, operator: DAddr, values: ["10.0.0.0/8"] }]\n      matchActions: [{ action: Sigkill }]`, '  options: [{ name: policy-mode, value: monitor }]\n');
    expect(planFallbackEnforcement(compilePolicy(net, fallback()), 5).connect).toEqual([{ id: 5, cidr: '10.0.0.0/8', action: 'kill', monitor: true }]);
  });

  it('scopes rules to the policy\'s identity set and to matchBinaries In (by path, resolved by the unit)', () => {
    const policy = lsm(
      'file_open',
      'file',
      `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchBinaries: [{ operator: In, values: ["/usr/bin/cat", "/usr/bin/less"] }]\n      matchActions: [{ action: Override, argError: -1 }]`,
      '  podSelector: { matchLabels: { app: web } }\n',
    );
    const bundle = compilePolicy(policy, fallback());
    const plan = planFallbackEnforcement(bundle);
    expect(plan.hooks[0]?.status).toBe('enforcing');
    const setId = bundle.identitySets[0]?.id;
    expect(setId).toBeGreaterThan(0);
    expect(plan.open).toEqual([{ path: '/etc/shadow', identitySetId: setId, binaries: ['/usr/bin/cat', '/usr/bin/less'] }]);
    expect(plan.hooks[0]?.reason).toMatch(/open kill only \(kill-after-open\): fanotify cannot scope by pod or binary/);
  });

  it('matchBinaries on bprm_check_security: the calling binary, where the kernel has sched_prepare_exec', () => {
    const policy = lsm('bprm_check_security', 'linux_binprm', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/usr/bin/nc"] }]\n      matchBinaries: [{ operator: In, values: ["/usr/bin/bash"] }]\n      matchActions: [{ action: Sigkill }]`);
    const plan = planFallbackEnforcement(compilePolicy(policy, fallback()), 1, { execCallerBinaries: true });
    expect(plan.hooks[0]?.status).toBe('enforcing');
    expect(plan.exec).toEqual([{ path: '/usr/bin/nc', binaries: ['/usr/bin/bash'] }]);
  });

  it('deny-io-uring: an io_uring rule with the policy\'s scope and mode', () => {
    const on = lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Override, argError: -1 }]`, '  options: [{ name: deny-io-uring, value: "true" }]\n  podSelector: { matchLabels: { app: web } }\n');
    const bundle = compilePolicy(on, fallback());
    const plan = planFallbackEnforcement(bundle);
    expect(plan.uring).toEqual([{ identitySetId: bundle.identitySets[0]?.id }]);
    expect(plan.hooks).toContainEqual(expect.objectContaining({ path: 'spec.options[deny-io-uring]', hook: 'io_uring_setup', status: 'enforcing', reason: expect.stringMatching(/SIGKILL inside io_uring_setup.*scoped to the policy's pods/) as unknown as string }));
    const off = lsm('file_open', 'file', `    - matchArgs: [{ index: 0, operator: Equal, values: ["/etc/shadow"] }]\n      matchActions: [{ action: Override, argError: -1 }]`, '  options: [{ name: deny-io-uring, value: "false" }]\n');
    expect(planFallbackEnforcement(compilePolicy(off, fallback())).uring).toEqual([]);
    const bad = validatePolicy({ apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'p' }, spec: { options: [{ name: 'deny-io-uring', value: 'yes' }] } });
    expect(bad.ok).toBe(false);
    expect(bad.ok ? [] : bad.issues).toContainEqual(expect.objectContaining({ code: 'INVALID_OPTION', path: 'spec.options[0].value', reason: 'deny-io-uring must be "true" or "false", not "yes"' }));
  });
});
