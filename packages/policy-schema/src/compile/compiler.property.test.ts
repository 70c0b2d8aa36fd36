// Property tests: on any validated policy and any node profile, the compiler either returns a bundle or throws a
// PolicyCompileError (never anything else), and it is deterministic (same input → same bytes → same hash).
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { enumNames, ARG_OPERATOR, ARG_TYPE, type ArgOperator } from '../abi/enums.js';
import { loadCorpus } from '../corpus.js';
import { PolicyCompileError } from '../errors.js';
import { validatePolicy, validatePolicyText } from '../validate.js';
import type { TracingPolicy } from '../types.js';
import { bundleToHex, bundleToJson } from './bundle.js';
import { compilePolicy } from './compiler.js';
import { fullNodeProfile, MECHANISM_FLAGS, type NodeMechanisms, type NodeProfile } from './node-profile.js';

const mechanismsArb: fc.Arbitrary<NodeMechanisms> = fc.record(Object.fromEntries(MECHANISM_FLAGS.map((k) => [k, fc.boolean()])) as Record<keyof NodeMechanisms, fc.Arbitrary<boolean>>);
const profileArb: fc.Arbitrary<NodeProfile> = mechanismsArb.map((mechanisms) => ({ ...fullNodeProfile(), mechanisms }));

const intStr = fc.integer({ min: -100000, max: 100000 }).map(String);
const pathStr = fc.stringMatching(/^\/[a-z0-9/._-]{1,40}$/);
const valuesFor: Record<ArgOperator, fc.Arbitrary<string[]>> = {
  Equal: fc.array(fc.oneof(intStr, pathStr), { minLength: 1, maxLength: 4 }),
  NotEqual: fc.array(fc.oneof(intStr, pathStr), { minLength: 1, maxLength: 4 }),
  Prefix: fc.array(pathStr, { minLength: 1, maxLength: 4 }),
  NotPrefix: fc.array(pathStr, { minLength: 1, maxLength: 4 }),
  Postfix: fc.array(pathStr, { minLength: 1, maxLength: 4 }),
  NotPostfix: fc.array(pathStr, { minLength: 1, maxLength: 4 }),
  SubString: fc.array(pathStr, { minLength: 1, maxLength: 3 }),
  SubStringIgnCase: fc.array(pathStr, { minLength: 1, maxLength: 3 }),
  GreaterThan: fc.array(intStr, { minLength: 1, maxLength: 2 }),
  LessThan: fc.array(intStr, { minLength: 1, maxLength: 2 }),
  GT: fc.array(intStr, { minLength: 1, maxLength: 2 }),
  LT: fc.array(intStr, { minLength: 1, maxLength: 2 }),
  Mask: fc.array(fc.integer({ min: 0, max: 0xffff }).map((n) => `0x${n.toString(16)}`), { minLength: 1, maxLength: 3 }),
  SPort: fc.array(fc.integer({ min: 0, max: 65535 }).map(String), { minLength: 1, maxLength: 4 }),
  NotSPort: fc.array(fc.tuple(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 1000 })).map(([a, b]) => `${a}:${a + b}`), { minLength: 1, maxLength: 4 }),
  SPortPriv: fc.constant([]),
  NotSportPriv: fc.constant([]),
  DPort: fc.array(fc.integer({ min: 0, max: 65535 }).map(String), { minLength: 1, maxLength: 4 }),
  NotDPort: fc.array(fc.integer({ min: 0, max: 65535 }).map(String), { minLength: 1, maxLength: 4 }),
  DPortPriv: fc.constant([]),
  NotDPortPriv: fc.constant([]),
  SAddr: fc.array(fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => `${a}/${p}`), { minLength: 1, maxLength: 4 }),
  NotSAddr: fc.array(fc.ipV6(), { minLength: 1, maxLength: 3 }),
  DAddr: fc.array(fc.oneof(fc.ipV4(), fc.ipV6()), { minLength: 1, maxLength: 4 }),
  NotDAddr: fc.array(fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([a, p]) => `${a}/${p}`), { minLength: 1, maxLength: 3 }),
  Protocol: fc.array(fc.constantFrom('IPPROTO_TCP', 'IPPROTO_UDP', '6', '17'), { minLength: 1, maxLength: 2 }),
  Family: fc.array(fc.constantFrom('AF_INET', 'AF_INET6', '2', '10'), { minLength: 1, maxLength: 2 }),
  State: fc.array(fc.constantFrom('TCP_SYN_RECV', 'TCP_ESTABLISHED', '7'), { minLength: 1, maxLength: 2 }),
  InMap: fc.array(fc.oneof(intStr, fc.constant('list:l')), { minLength: 1, maxLength: 3 }),
  NotInMap: fc.array(fc.tuple(fc.nat(100), fc.nat(100)).map(([a, b]) => `${a}:${a + b}`), { minLength: 1, maxLength: 3 }),
  CapabilitiesGained: fc.array(fc.constantFrom('CAP_SYS_ADMIN', 'CAP_NET_RAW', 'CAP_BPF'), { minLength: 1, maxLength: 3 }),
  InRange: fc.array(fc.tuple(fc.integer({ min: -50, max: 50 }), fc.nat(50)).map(([a, b]) => `${a}:${a + b}`), { minLength: 1, maxLength: 3 }),
  NotInRange: fc.array(intStr, { minLength: 1, maxLength: 3 }),
  CelExpr: fc.constant(['arg0 > 1']),
  FileType: fc.array(fc.constantFrom('reg', 'dir', 'lnk', 'sock'), { minLength: 1, maxLength: 3 }),
  NotFileType: fc.array(fc.constantFrom('fifo', 'chr', 'blk'), { minLength: 1, maxLength: 2 }),
};
const matchArgArb = (argIndices: number[]): fc.Arbitrary<Record<string, unknown>> =>
  fc
    .tuple(fc.constantFrom(...argIndices), fc.constantFrom(...enumNames(ARG_OPERATOR)))
    .chain(([index, operator]) => valuesFor[operator].map((values) => ({ index, operator, ...(values.length ? { values } : {}) })));

const actionArb = fc.oneof(
  fc.constant({ action: 'Post' }),
  fc.constant({ action: 'Sigkill' }),
  fc.constant({ action: 'NoPost' }),
  fc.record({ action: fc.constant('Override'), argError: fc.integer({ min: -4095, max: -1 }) }),
  fc.record({ action: fc.constant('Signal'), argSig: fc.integer({ min: 1, max: 64 }) }),
  fc.record({ action: fc.constant('Post'), rateLimit: fc.constantFrom('5', '10s', '1m', '2h'), rateLimitScope: fc.constantFrom('thread', 'process', 'global') }),
  fc.record({ action: fc.constant('DnsLookup'), argFqdn: fc.domain() }),
);

const selectorArb = (argIndices: number[]): fc.Arbitrary<Record<string, unknown>> =>
  fc.record(
    {
      matchArgs: fc.array(matchArgArb(argIndices), { maxLength: 5 }),
      matchBinaries: fc.array(fc.record({ operator: fc.constantFrom('In', 'NotIn'), values: fc.array(pathStr, { minLength: 1, maxLength: 4 }), followChildren: fc.boolean() }), { maxLength: 1 }),
      matchParentBinaries: fc.array(fc.record({ operator: fc.constantFrom('Prefix', 'Postfix', 'NotPostfix'), values: fc.array(pathStr, { minLength: 1, maxLength: 3 }) }), { maxLength: 1 }),
      matchPIDs: fc.array(fc.record({ operator: fc.constantFrom('In', 'NotIn'), values: fc.array(fc.nat(1 << 22), { minLength: 1, maxLength: 4 }), followForks: fc.boolean() }), { maxLength: 2 }),
      matchNamespaces: fc.array(
        fc.record({ namespace: fc.constantFrom('Pid', 'Mnt', 'Net', 'User'), operator: fc.constantFrom('In', 'NotIn'), values: fc.array(fc.oneof(fc.constant('host_ns'), fc.nat().map(String)), { minLength: 1, maxLength: 3 }) }),
        { maxLength: 2 },
      ),
      matchCapabilities: fc.array(fc.record({ operator: fc.constantFrom('In', 'NotIn'), type: fc.constantFrom('Effective', 'Permitted', 'Inheritable'), values: fc.array(fc.constantFrom('CAP_CHOWN', 'CAP_SYS_ADMIN', 'CAP_BPF'), { minLength: 1, maxLength: 3 }) }), { maxLength: 2 }),
      matchActions: fc.array(actionArb, { maxLength: 3 }),
      matchWorkloads: fc.record({ podSelector: fc.record({ matchLabels: fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom('web', 'db')) }) }),
    },
    { requiredKeys: [] },
  );

const argTypes = enumNames(ARG_TYPE);
const hookArb = fc
  .uniqueArray(fc.nat(5), { minLength: 1, maxLength: 4 })
  .chain((indices) =>
    fc.record({
      call: fc.constantFrom('sys_openat', 'tcp_connect', 'security_file_open', 'sys_nosuch', 'list:l'),
      syscall: fc.boolean(),
      return: fc.constant(false),
      args: fc.tuple(...indices.map((index) => fc.constantFrom(...argTypes).map((type) => ({ index, type })))),
      selectors: fc.array(selectorArb(indices), { maxLength: 3 }),
    }),
  );

const policyArb = fc
  .record({
    kprobes: fc.array(hookArb, { minLength: 1, maxLength: 3 }),
    mode: fc.constantFrom('enforce', 'monitor', undefined),
    podSelector: fc.option(fc.record({ matchLabels: fc.constant({ app: 'x' }) }), { nil: undefined }),
    generation: fc.nat(1000),
  })
  .map(({ kprobes, mode, podSelector, generation }) => ({
    apiVersion: 'vigil.dev/v1alpha1',
    kind: 'TracingPolicy',
    metadata: { name: 'prop', generation },
    spec: {
      lists: [{ name: 'l', type: 'syscalls', values: ['sys_dup', 'sys_read'] }],
      kprobes,
      ...(mode ? { options: [{ name: 'policy-mode', value: mode }] } : {}),
      ...(podSelector ? { podSelector } : {}),
    },
  }));

function compileChecked(policy: TracingPolicy, profile: NodeProfile): string | 'compile-error' {
  try {
    const a = compilePolicy(policy, profile);
    const b = compilePolicy(structuredClone(policy), structuredClone(profile));
    expect(bundleToHex(b)).toBe(bundleToHex(a));
    expect(JSON.stringify(bundleToJson(b))).toBe(JSON.stringify(bundleToJson(a)));
    expect(b.version).toEqual(a.version);
    return a.version.contentHash;
  } catch (e) {
    if (e instanceof PolicyCompileError) return 'compile-error';
    throw e;
  }
}

describe('compiler properties', () => {
  it('generated policies: only typed errors, deterministic bytes and hash', () => {
    let valid = 0;
    fc.assert(
      fc.property(policyArb, profileArb, (doc, profile) => {
        const r = validatePolicy(doc);
        if (!r.ok) return;
        valid++;
        compileChecked(r.policy, profile);
      }),
      { numRuns: 300, seed: 20261123 },
    );
    // The generator is built to produce valid policies; make sure the property is not vacuous.
    expect(valid).toBeGreaterThan(150);
  });

  it('corpus policies on random node profiles: only typed errors, deterministic', () => {
    const corpus = loadCorpus().flatMap((f) => validatePolicyText(f.text).flatMap((d) => (d.result.ok ? [d.result.policy] : [])));
    if (corpus.length === 0) return; // shared/ missing: reported by the corpus test
    fc.assert(
      fc.property(fc.constantFrom(...corpus), profileArb, (policy, profile) => {
        compileChecked(policy, profile);
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it('different content gives a different hash', () => {
    const base = validatePolicy({ apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'h' }, spec: { kprobes: [{ call: 'f', syscall: false }] } });
    const other = validatePolicy({ apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'h' }, spec: { kprobes: [{ call: 'g', syscall: false }] } });
    if (!base.ok || !other.ok) throw new Error('fixture invalid');
    expect(compilePolicy(base.policy, fullNodeProfile()).version.contentHash).not.toBe(compilePolicy(other.policy, fullNodeProfile()).version.contentHash);
  });
});
