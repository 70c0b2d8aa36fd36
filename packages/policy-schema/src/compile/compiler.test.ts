import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BundleError, PolicyCompileError } from '../errors.js';
import { parsePolicy } from '../validate.js';
import { bundleFromJson, bundleToJson, compareBundleVersions, isNewerBundle, MAP_SPECS, type Bundle, type BundleVersion } from './bundle.js';
import { compilePolicy } from './compiler.js';
import { decodeActionTable, decodeHookConfig, decodeSelectorProgram } from './decode.js';
import { fullNodeProfile, parseNodeProfile, tracepointOnlyNodeProfile } from './node-profile.js';

const golden = (name: string): string => readFileSync(join(fileURLToPath(new URL('.', import.meta.url)), '__golden__', `${name}.yaml`), 'utf8');
const entry = (b: Bundle, map: keyof Bundle['maps'], id: number): Uint8Array => {
  const e = b.maps[map].find((x) => Buffer.from(x.key).readUInt32LE(0) === id);
  if (!e) throw new Error(`no ${map} entry ${id}`);
  return e.value;
};

describe('compilePolicy', () => {
  it('writes hook configs and selector programs that decode per the documented grammar', () => {
    const b = compilePolicy(parsePolicy(golden('syscall-enforcer')), tracepointOnlyNodeProfile());
    expect(b.hooks.map((h) => [h.kind, h.targets, h.mechanism])).toEqual([
      ['kprobe', ['sys_openat'], 'tp_btf_syscall'],
      ['tracepoint', ['raw_syscalls/sys_enter'], 'tracepoint'],
    ]);
    const tp = decodeHookConfig(entry(b, 'vg_hooks', 2));
    expect(tp).toMatchObject({ hookId: 2, kind: 'tracepoint', mechanism: 'tracepoint', syscallNr: -1 });
    // args[0].index 4 of raw_syscalls/sys_enter is the `id` field at offset 8, 8 bytes (common fields count).
    expect(tp.args).toEqual([{ index: 4, type: 'syscall64', flags: 4, sizeArgIndex: 0, tpOffset: 8, tpSize: 8 }]);
    const prog = decodeSelectorProgram(entry(b, 'vg_sel_prog', 2));
    expect(prog.grammarVersion).toBe(1);
    expect(prog.selectors).toHaveLength(1);
    const sel = prog.selectors[0];
    expect(sel?.clauses.map((c) => [c.kind, c.op])).toEqual([
      ['arg', 'InMap'],
      ['parent_binaries', 'Prefix'],
      ['namespace_changes', 'In'],
    ]);
    expect(sel?.clauses[0]?.arg).toEqual({ slot: 0, type: 'syscall64', valueKind: 'map_set', valueCount: 1 });
    const actions = decodeActionTable(entry(b, 'vg_actions', sel?.actionTableId ?? -1));
    expect(actions).toMatchObject([{ action: 'NotifyEnforcer', argError: -1, argSig: 9, originalAction: null }]);
    // dup (32), dup2 (33) on x86_64 and dup (41) on ia32 in one syscall set.
    expect(b.maps.vg_syscalls.map((e) => Buffer.from(e.key).toString('hex'))).toEqual(['010000000000000020000000', '010000000000000021000000', '010000000100000029000000']);
    expect(b.enforcers).toEqual([{ path: 'spec.enforcers[0]', syscallSetId: 1, calls: ['__x64_sys_dup', '__x64_sys_dup2', '__ia32_sys_dup'], mechanism: 'tp_btf_syscall' }]);
    const kp = decodeHookConfig(entry(b, 'vg_hooks', 1));
    expect(kp).toMatchObject({ kind: 'kprobe', mechanism: 'tp_btf_syscall', syscallNr: 257 });
    expect(b.userspaceExprs).toEqual([{ id: 0, hookId: 1, argSlots: [0, 1], language: 'cel', expr: "arg1 > 2 && arg0.startsWith('/proc')" }]);
    expect(b.strings).toEqual(['http://example.invalid/hook']);
  });

  it('keeps every map value within its kernel map size', () => {
    for (const name of ['exec-deny', 'net-connect', 'file-monitor', 'syscall-enforcer']) {
      const b = compilePolicy(parsePolicy(golden(name)), fullNodeProfile());
      for (const [map, entries] of Object.entries(b.maps)) {
        const spec = MAP_SPECS[map as keyof typeof MAP_SPECS];
        for (const e of entries) {
          expect(e.key.length).toBe(spec.keySize);
          expect(e.value.length).toBeLessThanOrEqual(spec.valueSize);
        }
      }
    }
  });

  it('monitor mode turns enforcing actions into Post and records the original', () => {
    const b = compilePolicy(parsePolicy(golden('file-monitor')), fullNodeProfile());
    expect(b.policy.mode).toBe('monitor');
    const sel = decodeSelectorProgram(entry(b, 'vg_sel_prog', 1)).selectors[0];
    expect(decodeActionTable(entry(b, 'vg_actions', sel?.actionTableId ?? -1))).toMatchObject([{ action: 'Post', flags: 8, originalAction: 'Sigkill' }]);
    expect(decodeHookConfig(entry(b, 'vg_hooks', 1)).policyMode).toBe(1);
    // The macro's matchNamespaces is appended to the selector's own clauses.
    expect(sel?.clauses.map((c) => c.kind)).toEqual(['arg', 'arg', 'return_arg', 'pids', 'namespaces', 'capabilities']);
  });

  it('chooses mechanisms per node and refuses with a reason instead of failing', () => {
    const policy = parsePolicy(golden('exec-deny'));
    expect(compilePolicy(policy, fullNodeProfile()).hooks[0]).toMatchObject({ mechanism: 'lsm', attach: { hook: 'bprm_check_security' }, ignoreMissing: false });
    expect(compilePolicy(policy, tracepointOnlyNodeProfile()).hooks[0]).toMatchObject({ mechanism: 'tp_btf' });
    const bare = fullNodeProfile();
    bare.mechanisms = { ...bare.mechanisms, lsm: false, tpBtf: false };
    const refused = compilePolicy(policy, bare).hooks[0];
    expect(refused?.mechanism).toBe('none');
    expect(refused?.refusal).toContain('BPF LSM is not available');
    const net = compilePolicy(parsePolicy(golden('net-connect')), tracepointOnlyNodeProfile()).hooks[0];
    expect(net).toMatchObject({ mechanism: 'none' });
    expect(net?.refusal).toContain('kprobes or fentry');
  });

  it('keeps identity out of the bundle: pod selectors become stable identity set ids', () => {
    const text = golden('net-connect');
    const a = compilePolicy(parsePolicy(text), fullNodeProfile());
    expect(a.identitySets.map((s) => s.podSelectors)).toEqual([[{ matchLabels: { app: 'web' } }], [{ matchLabels: { app: 'web' } }]]);
    expect(a.identitySets.every((s) => s.namespace === 'shop')).toBe(true);
    const hookIdentity = decodeHookConfig(entry(a, 'vg_hooks', 1)).identitySetId;
    expect(a.identitySets.map((s) => s.id)).toContain(hookIdentity);
    // Same selector, same id, whatever else changes.
    const b = compilePolicy(parsePolicy(text.replace('generation: 1', 'generation: 2').replace('"53"', '"54"')), fullNodeProfile());
    expect(b.identitySets.map((s) => s.id)).toEqual(a.identitySets.map((s) => s.id));
  });

  it('restricts a TracingPolicyNamespaced to its namespace even without selectors, and never to host processes', () => {
    const ns = (extra: string): string => `apiVersion: vigil.dev/v1alpha1
kind: TracingPolicyNamespaced
metadata: { name: "ns-only", namespace: "shop" }
spec:
${extra}  kprobes:
  - call: "security_file_open"
    syscall: false
    args: [{ index: 0, type: "file" }]
`;
    const b = compilePolicy(parsePolicy(ns('')), fullNodeProfile());
    expect(b.identitySets).toEqual([{ id: expect.any(Number), namespace: 'shop', podSelectors: [], containerSelectors: [] }]);
    const cfg = decodeHookConfig(entry(b, 'vg_hooks', 1));
    expect(cfg.identitySetId).toBe(b.identitySets[0]?.id);
    expect(cfg.flags & 4).toBe(0); // bit2: host processes included
    // a cluster-wide TracingPolicy without selectors stays unrestricted
    const cluster = compilePolicy(parsePolicy(ns('').replace('TracingPolicyNamespaced', 'TracingPolicy').replace(', namespace: "shop"', '')), fullNodeProfile());
    expect(cluster.identitySets).toEqual([]);
    expect(decodeHookConfig(entry(cluster, 'vg_hooks', 1)).identitySetId).toBe(0);
  });

  it('refuses a grammar it does not write and a malformed node profile with typed errors', () => {
    const p = { ...fullNodeProfile(), grammarVersion: 99 };
    expect(() => compilePolicy(parsePolicy(golden('exec-deny')), p)).toThrow(PolicyCompileError);
    expect(() => parseNodeProfile({ grammarVersion: 1, mechanisms: { kprobe: 'yes' } })).toThrow(expect.objectContaining({ code: 'BAD_NODE_PROFILE', path: 'mechanisms.kprobe' }));
    expect(parseNodeProfile(JSON.parse(JSON.stringify(fullNodeProfile())))).toEqual(fullNodeProfile());
  });

  it('reports a selector program over the byte limit as PROGRAM_TOO_LARGE', () => {
    const values = Array.from({ length: 64 }, (_, i) => String(i));
    const sel = { matchArgs: Array.from({ length: 5 }, () => ({ index: 0, operator: 'Equal', values })) };
    const policy = parsePolicy(JSON.stringify({ apiVersion: 'vigil.dev/v1alpha1', kind: 'TracingPolicy', metadata: { name: 'big' }, spec: { kprobes: [{ call: 'f', syscall: false, args: [{ index: 0, type: 'int' }], selectors: [sel, sel] }] } }));
    expect(() => compilePolicy(policy, fullNodeProfile())).toThrow(expect.objectContaining({ code: 'PROGRAM_TOO_LARGE', path: 'spec.kprobes[0].selectors' }));
  });

  it('encodes uprobe Override targets through the string table', () => {
    const doc = {
      apiVersion: 'vigil.dev/v1alpha1',
      kind: 'TracingPolicy',
      metadata: { name: 'up' },
      spec: { uprobes: [{ path: '/bin/app', symbols: ['f'], selectors: [{ matchActions: [{ action: 'Override', argNewAddr: 4096 }, { action: 'Override', argRegs: ['rax=1', 'rip=2'] }] }] }] },
    };
    const b = compilePolicy(parsePolicy(JSON.stringify(doc)), fullNodeProfile());
    const sel = decodeSelectorProgram(entry(b, 'vg_sel_prog', 1)).selectors[0];
    const acts = decodeActionTable(entry(b, 'vg_actions', sel?.actionTableId ?? -1));
    expect(acts.map((a) => [a.action, a.flags, a.stringId === null ? null : b.strings[a.stringId]])).toEqual([
      ['Override', 16, '0x1000'],
      ['Override', 64, 'rax=1,rip=2'],
    ]);
  });

  it('round-trips through JSON', () => {
    const b = compilePolicy(parsePolicy(golden('net-connect')), fullNodeProfile());
    expect(bundleFromJson(JSON.parse(JSON.stringify(bundleToJson(b))))).toEqual(b);
  });
});

describe('compareBundleVersions', () => {
  const v = (generation: number, grammarVersion = 1, contentHash = 'aa'): BundleVersion => ({ policyUid: 'u', generation, grammarVersion, contentHash });
  it('orders by generation, then grammar, then hash', () => {
    expect(compareBundleVersions(v(1), v(2))).toBeLessThan(0);
    expect(compareBundleVersions(v(3), v(2))).toBeGreaterThan(0);
    expect(compareBundleVersions(v(2, 2), v(2, 1))).toBeGreaterThan(0);
    expect(compareBundleVersions(v(2), v(2))).toBe(0);
    expect(Math.sign(compareBundleVersions(v(2, 1, 'bb'), v(2, 1, 'aa')))).toBe(-Math.sign(compareBundleVersions(v(2, 1, 'aa'), v(2, 1, 'bb'))));
    expect(isNewerBundle(v(2), undefined)).toBe(true);
    expect(isNewerBundle(v(2), v(2))).toBe(false);
  });
  it('refuses to compare bundles of different policies', () => {
    expect(() => compareBundleVersions(v(1), { ...v(1), policyUid: 'other' })).toThrow(BundleError);
  });
  it('a new generation of a compiled policy is newer', () => {
    const text = golden('syscall-enforcer');
    const a = compilePolicy(parsePolicy(text), fullNodeProfile());
    const b = compilePolicy(parsePolicy(text.replace('generation: 12', 'generation: 13')), fullNodeProfile());
    expect(compareBundleVersions(a.version, b.version)).toBeLessThan(0);
    expect(a.version.contentHash).toBe(b.version.contentHash);
  });
});
