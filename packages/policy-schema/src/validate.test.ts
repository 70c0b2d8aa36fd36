import { describe, expect, it } from '@jest/globals';
import { PolicyValidationError, type PolicyIssue } from './errors.js';
import { LIMITS } from './limits.js';
import { assertValidPolicy, pointerToPath, validatePolicy, validatePolicyText } from './validate.js';

const base = (spec: unknown, extra: Record<string, unknown> = {}): Record<string, unknown> => ({
  apiVersion: 'vigil.dev/v1alpha1',
  kind: 'TracingPolicy',
  metadata: { name: 'test' },
  spec,
  ...extra,
});

function issues(doc: unknown): PolicyIssue[] {
  const r = validatePolicy(doc);
  return r.ok ? [] : r.issues;
}

const kprobe = (selectors: unknown[], args: unknown[] = [{ index: 0, type: 'string' }, { index: 1, type: 'int' }]): unknown => ({
  kprobes: [{ call: 'security_file_open', syscall: false, args, selectors }],
});

describe('validatePolicy', () => {
  it('accepts a minimal policy under both api versions', () => {
    expect(issues(base({}))).toEqual([]);
    expect(issues(base({}, { apiVersion: 'cilium.io/v1alpha1' }))).toEqual([]);
  });

  it('rejects other api versions and kinds with typed codes', () => {
    const got = issues(base({}, { apiVersion: 'cilium.io/v1', kind: 'TracingPolicies' }));
    expect(got.map((i) => i.code).sort()).toEqual(['UNSUPPORTED_API_VERSION', 'UNSUPPORTED_KIND']);
    expect(got.find((i) => i.code === 'UNSUPPORTED_KIND')?.hint).toContain('did you mean TracingPolicy');
  });

  it('points at the exact operator of a bad matchArgs entry, with a hint', () => {
    const got = issues(base(kprobe([{}, { matchArgs: [{ index: 0, operator: 'Prefx', values: ['/etc'] }] }])));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ code: 'SCHEMA_ENUM', path: 'spec.kprobes[0].selectors[1].matchArgs[0].operator' });
    expect(got[0]?.hint).toContain('did you mean Prefix');
  });

  it('reports every problem of a document at once', () => {
    const got = issues(
      base({
        kprobes: [{ call: 'x', syscall: false, args: [{ index: 0, type: 'int' }], selectorz: [] }],
        tracepoints: [{ subsystem: 'a' }],
        bogus: 1,
      }),
    );
    expect(got.map((i) => `${i.code} ${i.path}`).sort()).toEqual([
      'SCHEMA_REQUIRED spec.tracepoints[0].event',
      'SCHEMA_UNKNOWN_FIELD spec.bogus',
      'SCHEMA_UNKNOWN_FIELD spec.kprobes[0].selectorz',
    ]);
    expect(got.find((i) => i.path.endsWith('selectorz'))?.hint).toBe('did you mean selectors?');
  });

  it('reports every semantic problem at once', () => {
    const got = issues(
      base(
        kprobe([
          {
            matchArgs: [
              { index: 5, operator: 'Equal', values: ['1'] },
              { index: 1, operator: 'Equal', values: ['abc'] },
            ],
          },
          { matchArgs: [{ index: 0, operator: 'DAddr', values: ['300.1.1.1/8', '10.0.0.0/8'] }, { index: 0, operator: 'DPort', values: ['70000', '80:90'] }] },
          { matchCapabilities: [{ operator: 'In', values: ['CAP_SYS_ADMN'] }], matchNamespaces: [{ namespace: 'Pid', operator: 'In', values: ['host_ns', 'abc'] }] },
        ]),
      ),
    );
    expect(got.map((i) => `${i.code} ${i.path}`)).toEqual([
      'ARG_INDEX_UNKNOWN spec.kprobes[0].selectors[0].matchArgs[0].index',
      'VALUE_FORMAT spec.kprobes[0].selectors[0].matchArgs[1].values[0]',
      'VALUE_FORMAT spec.kprobes[0].selectors[1].matchArgs[0].values[0]',
      'VALUE_FORMAT spec.kprobes[0].selectors[1].matchArgs[1].values[0]',
      'VALUE_FORMAT spec.kprobes[0].selectors[2].matchNamespaces[0].values[1]',
      'UNKNOWN_CAPABILITY spec.kprobes[0].selectors[2].matchCapabilities[0].values[0]',
    ]);
    expect(got.find((i) => i.code === 'UNKNOWN_CAPABILITY')?.hint).toBe('did you mean CAP_SYS_ADMIN?');
  });

  it('kprobe matchArgs.index names args[].index, tracepoint matchArgs.index is a position in args', () => {
    const kp = kprobe([{ matchArgs: [{ index: 3, operator: 'Equal', values: ['1'] }] }], [{ index: 3, type: 'int' }]);
    expect(issues(base(kp))).toEqual([]);
    const tp = (index: number): unknown => ({
      tracepoints: [{ subsystem: 'raw_syscalls', event: 'sys_enter', args: [{ index: 4, type: 'syscall64' }], selectors: [{ matchArgs: [{ index, operator: 'Equal', values: ['1'] }] }] }],
    });
    expect(issues(base(tp(0)))).toEqual([]);
    expect(issues(base(tp(4))).map((i) => i.code)).toEqual(['ARG_INDEX_UNKNOWN']);
  });

  it('limits Prefix / Postfix values to what the kernel prefix trie can compare (252 bytes), Equal to 255', () => {
    const args = [{ index: 0, type: 'string' }];
    const at = (operator: string, len: number): unknown => kprobe([{ matchArgs: [{ index: 0, operator, values: ['/'.padEnd(len, 'a')] }] }], args);
    expect(issues(base(at('Prefix', 252)))).toEqual([]);
    expect(issues(base(at('Equal', 255)))).toEqual([]);
    for (const op of ['Prefix', 'NotPrefix', 'Postfix', 'NotPostfix'])
      expect(issues(base(at(op, 253)))).toEqual([
        expect.objectContaining({ code: 'LIMIT_EXCEEDED', limit: 'MAX_PREFIX_VALUE_BYTES', path: 'spec.kprobes[0].selectors[0].matchArgs[0].values[0]' }),
      ]);
    const bin = (operator: string, len: number): unknown => kprobe([{ matchBinaries: [{ operator, values: ['/'.padEnd(len, 'b')] }] }], args);
    expect(issues(base(bin('In', 255)))).toEqual([]);
    expect(issues(base(bin('Prefix', 253)))).toEqual([expect.objectContaining({ limit: 'MAX_PREFIX_VALUE_BYTES', path: 'spec.kprobes[0].selectors[0].matchBinaries[0].values[0]' })]);
  });

  it('names the limit that was exceeded', () => {
    const many = Array.from({ length: LIMITS.MAX_SELECTORS_PER_HOOK + 1 }, () => ({}));
    const got = issues(base(kprobe(many)));
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ code: 'LIMIT_EXCEEDED', limit: 'MAX_SELECTORS_PER_HOOK', path: 'spec.kprobes[0].selectors' });
    expect(got[0]?.reason).toContain('MAX_SELECTORS_PER_HOOK');
    const values = Array.from({ length: LIMITS.MAX_VALUES_PER_MATCH_ARG + 1 }, (_, i) => String(i));
    const got2 = issues(base(kprobe([{ matchArgs: [{ index: 1, operator: 'Equal', values }] }])));
    expect(got2.map((i) => i.limit)).toEqual(['MAX_VALUES_PER_MATCH_ARG']);
    expect(issues(base(kprobe([], [{ index: 256, type: 'int' }]))).map((i) => `${i.limit} ${i.path}`)).toEqual(['MAX_ARG_INDEX spec.kprobes[0].args[0].index']);
    const long = '/'.padEnd(LIMITS.MAX_BINARY_PATH_BYTES + 1, 'a');
    const got3 = issues(base(kprobe([{ matchBinaries: [{ operator: 'In', values: [long] }] }])));
    expect(got3.map((i) => i.limit)).toEqual(['MAX_BINARY_PATH_BYTES']);
  });

  it('checks list, macro and enforcer references', () => {
    const got = issues(
      base({
        lists: [{ name: 'l', type: 'syscalls', values: ['sys_dup', 'sys_nosuch'] }],
        kprobes: [{ call: 'list:missing', selectors: [{ macros: ['nope'], matchArgs: [{ index: 0, operator: 'InMap', values: ['list:gone'] }] }], args: [{ index: 0, type: 'int' }] }],
        selectorsMacros: { m: { matchActions: [{ action: 'Sigkill' }] } },
      }),
    );
    expect(got.map((i) => `${i.code} ${i.path}`)).toEqual([
      'UNKNOWN_SYSCALL spec.lists[0].values[1]',
      'UNKNOWN_LIST spec.kprobes[0].call',
      'UNKNOWN_MACRO spec.kprobes[0].selectors[0].macros[0]',
      'UNKNOWN_LIST spec.kprobes[0].selectors[0].matchArgs[0].values[0]',
    ]);
  });

  it('checks macro clauses against the hook that uses them', () => {
    const got = issues(
      base({
        kprobes: [{ call: 'f', syscall: false, args: [{ index: 0, type: 'int' }], selectors: [{ macros: ['m'] }] }],
        selectorsMacros: { m: { matchArgs: [{ index: 2, operator: 'Equal', values: ['1'] }] } },
      }),
    );
    expect(got.map((i) => `${i.code} ${i.path}`)).toEqual(['ARG_INDEX_UNKNOWN spec.selectorsMacros.m.matchArgs[0].index']);
  });

  it('checks actions and policy-mode', () => {
    const got = issues(
      base({
        options: [{ name: 'policy-mode', value: 'block' }],
        kprobes: [
          {
            call: 'f',
            syscall: false,
            selectors: [{ matchActions: [{ action: 'Signal' }, { action: 'Sigkill', rateLimit: '5m' }, { action: 'Post', rateLimit: '5 minutes' }, { action: 'NotifyEnforcer' }] }],
          },
        ],
      }),
    );
    expect(got.map((i) => `${i.code} ${i.path}`)).toEqual([
      'INVALID_OPTION spec.options[0].value',
      'MISSING_FIELD spec.kprobes[0].selectors[0].matchActions[0].argSig',
      'CONFLICTING_FIELDS spec.kprobes[0].selectors[0].matchActions[1].rateLimit',
      'VALUE_FORMAT spec.kprobes[0].selectors[0].matchActions[2].rateLimit',
      'MISSING_FIELD spec.kprobes[0].selectors[0].matchActions[3]',
    ]);
  });

  it('forbids hostSelector in namespaced policies and non-empty hostSelectors', () => {
    const got = issues(base({ hostSelector: {} }, { kind: 'TracingPolicyNamespaced' }));
    expect(got.map((i) => i.code)).toEqual(['CONFLICTING_FIELDS']);
    expect(issues(base({ hostSelector: { matchLabels: { a: 'b' } } })).map((i) => i.path)).toEqual(['spec.hostSelector']);
  });

  it('validates int32 ranges and types', () => {
    const got = issues(base(kprobe([{ matchPIDs: [{ operator: 'In', values: [2 ** 40, 'x'] }] }])));
    expect(got.map((i) => `${i.code} ${i.path}`)).toEqual(['SCHEMA_FORMAT spec.kprobes[0].selectors[0].matchPIDs[0].values[0]', 'SCHEMA_TYPE spec.kprobes[0].selectors[0].matchPIDs[0].values[1]']);
  });

  it('assertValidPolicy throws a typed error carrying all issues', () => {
    expect.assertions(3);
    try {
      assertValidPolicy(base({ x: 1, y: 2 }));
    } catch (e) {
      expect(e).toBeInstanceOf(PolicyValidationError);
      expect((e as PolicyValidationError).code).toBe('POLICY_INVALID');
      expect((e as PolicyValidationError).issues).toHaveLength(2);
    }
  });

  it('validates every document of a multi-document stream and reports YAML errors', () => {
    const text = 'apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: a}\nspec: {}\n---\napiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: B}\nspec: {}\n---\nfoo: [\n';
    const docs = validatePolicyText(text);
    expect(docs.map((d) => d.result.ok)).toEqual([true, false, false]);
    const second = docs[1]?.result;
    expect(second && !second.ok && second.issues[0]).toMatchObject({ code: 'INVALID_NAME', document: 1 });
    const third = docs[2]?.result;
    expect(third && !third.ok && third.issues[0]?.code).toBe('PARSE_ERROR');
  });

  it('pointerToPath renders dotted paths', () => {
    expect(pointerToPath('/spec/kprobes/0/selectors/1/matchArgs/0/operator')).toBe('spec.kprobes[0].selectors[1].matchArgs[0].operator');
    expect(pointerToPath('/spec/selectorsMacros/my macro')).toBe('spec.selectorsMacros["my macro"]');
  });

  it('checks uprobes, label selectors, messages and sizeArgIndex', () => {
    const got = issues(
      base({
        podSelector: { matchExpressions: [{ key: 'app', operator: 'In' }, { key: 'x', operator: 'Exists', values: ['y'] }] },
        uprobes: [
          {
            path: 'bin/bash',
            symbols: ['readline'],
            offsets: [16],
            message: 'x'.repeat(300),
            args: [{ index: 0, type: 'char_buf', sizeArgIndex: 3 }],
            selectors: [{ matchActions: [{ action: 'Override', argNewSymbol: 'a', argNewAddr: 1 }] }],
          },
        ],
        kprobes: [{ call: 'f', syscall: false, selectors: [{ matchActions: [{ action: 'Override', argRegs: ['rax=1'] }] }] }],
      }),
    );
    expect(got.map((i) => `${i.code} ${i.path}${i.limit ? ` ${i.limit}` : ''}`)).toEqual([
      'VALUES_MISSING spec.podSelector.matchExpressions[0].values',
      'VALUES_FORBIDDEN spec.podSelector.matchExpressions[1].values',
      'CONFLICTING_FIELDS spec.kprobes[0].selectors[0].matchActions[0]',
      'LIMIT_EXCEEDED spec.uprobes[0].message MAX_MESSAGE_BYTES',
      'ARG_INDEX_UNKNOWN spec.uprobes[0].args[0].sizeArgIndex',
      'VALUE_FORMAT spec.uprobes[0].path',
      'CONFLICTING_FIELDS spec.uprobes[0]',
      'CONFLICTING_FIELDS spec.uprobes[0].selectors[0].matchActions[0]',
    ]);
  });

  it('accepts every operator with well-formed operands', () => {
    const filters = [
      ['Equal', ['/etc/passwd']],
      ['NotEqual', ['1']],
      ['Prefix', ['/etc']],
      ['SubStringIgnCase', ['Key']],
      ['SAddr', ['10.0.0.0/8', '::1', '::ffff:10.0.0.1/128']],
      ['DPort', ['443', '8000:8080']],
      ['NotDPortPriv', []],
      ['Protocol', ['IPPROTO_TCP', '6']],
      ['Family', ['AF_INET6']],
      ['State', ['TCP_CLOSE']],
      ['CapabilitiesGained', ['CAP_SYS_ADMIN']],
      ['InRange', ['1:5', '-3']],
      ['CelExpr', ['arg0 == "x"']],
      ['FileType', ['reg', 'sock']],
    ] as const;
    const selectors = filters.map(([operator, values]) => ({ matchArgs: [{ index: 0, operator, ...(values.length ? { values: [...values] } : {}) }] }));
    const hooks = Array.from({ length: Math.ceil(selectors.length / LIMITS.MAX_SELECTORS_PER_HOOK) }, (_, h) => ({
      call: 'f',
      syscall: false,
      args: [{ index: 0, type: 'auto' }],
      selectors: selectors.slice(h * LIMITS.MAX_SELECTORS_PER_HOOK, (h + 1) * LIMITS.MAX_SELECTORS_PER_HOOK),
    }));
    expect(issues(base({ kprobes: hooks }))).toEqual([]);
  });
});
