// What the generic engine refuses before touching the kernel: clauses the in-kernel interpreter would count as
// `unsupported` and never match (bpf/lib/selector.h) must show as a refused hook, never as a silently idle one.
import { describe, expect, it } from '@jest/globals';
import { compilePolicy, fullNodeProfile, parsePolicy } from '@vigil/policy-schema';
import { BPF_OUT } from '../mechanisms/test-kernel.js';
import { GenericHookEngine, kernelUnsupportedClauses } from './engine.js';

function policy(selectors: string, args = '    - index: 0\n      type: "int"'): string {
  return `apiVersion: vigil.dev/v1alpha1
kind: TracingPolicy
metadata: { name: "plan-test" }
spec:
  kprobes:
  - call: "security_file_open"
    syscall: false
    args:
${args}
    selectors:
${selectors}
`;
}

describe('generic engine plan', () => {
  const engine = new GenericHookEngine({ objectsDir: BPF_OUT, pinRoot: '/nonexistent-plan-only' });

  it('refuses a hook whose selector needs state the kernel side does not keep (matchNamespaceChanges, matchCapabilityChanges)', () => {
    for (const [sel, what] of [
      ['    - matchNamespaceChanges:\n      - operator: In\n        values: ["Mnt"]', 'matchNamespaceChanges (selector 0)'],
      ['    - matchCapabilityChanges:\n      - type: Effective\n        operator: In\n        values: ["CAP_SYS_ADMIN"]', 'matchCapabilityChanges (selector 0)'],
    ] as const) {
      const bundle = compilePolicy(parsePolicy(policy(sel)), fullNodeProfile());
      expect(kernelUnsupportedClauses(bundle, bundle.hooks[0]?.id ?? 0)).toEqual([what]);
      const [st] = engine.plan(bundle);
      expect(st).toMatchObject({ state: 'refused', path: 'spec.kprobes[0]' });
      expect(st?.reason).toContain(what);
    }
  });

  it('refuses a filter on an arg type the kernel does not read, and accepts one it reads', () => {
    const sel = '    - matchArgs:\n      - index: 0\n        operator: Equal\n        values: ["1"]';
    const unread = compilePolicy(parsePolicy(policy(sel, '    - index: 0\n      type: "iov_iter"')), fullNodeProfile());
    expect(kernelUnsupportedClauses(unread, unread.hooks[0]?.id ?? 0)).toEqual(['an arg filter on an arg of type iov_iter (selector 0)']);
    const read = compilePolicy(parsePolicy(policy(sel)), fullNodeProfile());
    expect(kernelUnsupportedClauses(read, read.hooks[0]?.id ?? 0)).toEqual([]);
    expect(engine.plan(read)[0]?.state).not.toBe('refused');
  });
});
