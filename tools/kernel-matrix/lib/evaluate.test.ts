// The matrix's cross-kernel rules, on synthetic legs (runs on the host in the matrix's `matrix-rules` suite).
import { describe, expect, test } from '@jest/globals';
import { evaluate, formatReport, mergeProbes } from './evaluate.js';

interface Cap { available: boolean; reason: string }
const yes: Cap = { available: true, reason: 'loaded and attached' };
const no = (reason: string): Cap => ({ available: false, reason });

function leg(kernel: string, caps: Record<string, Cap>, results: Record<string, 'passed' | 'failed'>, skips: Record<string, string> = {}) {
  return {
    kernel, release: `${kernel}-release`, status: 0, timedOut: false, caps,
    suites: {
      s: {
        ran: true, status: Object.values(results).includes('failed') ? 1 : 0, timedOut: false, expectJest: true,
        jest: { testResults: [{ name: 'x.test.ts', status: 'passed', message: '', assertionResults: Object.entries(results).map(([fullName, status]) => ({ fullName, status })) }] },
        skips: Object.entries(skips).map(([test, missing]) => ({ test, missing, reason: 'load: EPERM' })),
      },
    },
  };
}

describe('kernel matrix rules', () => {
  test('a skip on one kernel proven on another kernel that has the capability passes', () => {
    const r = evaluate([
      leg('host', { lsm: no('load: EPERM') }, { 'lsm denies': 'passed' }, { 'lsm denies': 'lsm' }),
      leg('g1', { lsm: yes }, { 'lsm denies': 'passed' }),
    ]);
    expect(r.problems).toEqual([]);
    expect(r.tests.get('s › lsm denies')?.get('host')).toEqual({ status: 'skip', missing: 'lsm', reason: 'load: EPERM' });
    expect(formatReport(r)).toContain('Kernel matrix: PASS');
  });

  test('a test skipped everywhere fails the matrix: the mechanism was never tested', () => {
    const r = evaluate([
      leg('host', { lsm: no('load: EPERM') }, { 'lsm denies': 'passed' }, { 'lsm denies': 'lsm' }),
      leg('g1', { lsm: no('bpf not in active LSMs') }, { 'lsm denies': 'passed' }, { 'lsm denies': 'lsm' }),
    ]);
    expect(r.problems.filter((p) => p.includes('passes on no kernel'))).toHaveLength(2);
  });

  test('a skip where the probe reports the capability available is inconsistent', () => {
    const r = evaluate([
      leg('g1', { lsm: yes }, { 'lsm denies': 'passed' }, { 'lsm denies': 'lsm' }),
      leg('g2', { lsm: yes }, { 'lsm denies': 'passed' }),
    ]);
    expect(r.problems).toEqual(['g1: s › lsm denies skipped for missing lsm, but the probe on g1 reports it available']);
  });

  test('a pass on a kernel without the capability does not prove a skip', () => {
    const r = evaluate([
      leg('host', { kprobe: no('attach: ENOENT') }, { t: 'passed' }, { t: 'kprobe' }),
      leg('g1', { kprobe: no('attach: ENOENT') }, { t: 'passed' }),
    ]);
    expect(r.problems.some((p) => p.includes('passes on no kernel'))).toBe(true);
  });

  test('a kernel whose probe contradicts its expectations is a problem', () => {
    const g = { ...leg('g1', { lsm: no('bpf not in active LSMs (lockdown,capability)'), kprobe: yes }, {}), expect: { lsm: true, kprobe: true } };
    expect(evaluate([g]).problems).toEqual(['g1: expected lsm available, the probe says missing (bpf not in active LSMs (lockdown,capability))']);
  });

  test('failures, unknown capabilities, dead legs and suites that error without a failed test are problems', () => {
    const bad = leg('g1', { lsm: yes }, { a: 'failed', b: 'passed' }, { b: 'warp-drive' });
    const dead = { ...leg('g2', {}, {}), status: 124, timedOut: true, caps: null };
    dead.suites.s.ran = false;
    const erroring = leg('g3', { lsm: yes }, {});
    erroring.suites.s.status = 1;
    const hung = leg('g4', { lsm: yes }, { c: 'passed' });
    Object.assign(hung.suites.s, { status: null, signal: 'SIGKILL', hungAfterResults: true });
    const r = evaluate([bad, dead, erroring, hung]);
    expect(r.problems).toEqual(expect.arrayContaining([
      'g1: s › a failed',
      'g1: s › b skipped for capability "warp-drive", which no probe reports',
      'g2: the leg timed out and was killed',
      'g2: the capability probe reported nothing',
      'g2: suite s did not run',
      'g3: suite s exited 1 without a failed test (jest error)',
      'g4: suite s did not exit after its tests finished (open handles) and was killed',
    ]));
    expect(r.problems.filter((p) => p.startsWith('g4'))).toHaveLength(1);
    expect(formatReport(r)).toContain('**FAIL**');
  });

  test('probes merge; they must agree on shared and on equivalent capabilities', () => {
    const matrix = { kernel: '6.12', capabilities: { lsm: no('bpf not in active LSMs (lockdown,capability)'), kprobe: yes } };
    const sensor = [{ id: 'lsm_bpf', available: true, detail: 'loaded and attached' }, { id: 'kprobe', available: true, detail: 'ok' }, { id: 'uprobe', available: true, detail: 'ok' }];
    const merged = mergeProbes({ matrix, sensor }, [['lsm', 'lsm_bpf']]);
    expect(merged.kernel).toBe('6.12');
    expect(Object.keys(merged.caps ?? {}).sort()).toEqual(['kprobe', 'lsm', 'lsm_bpf', 'uprobe']);
    expect(merged.problems).toEqual([
      'probes disagree on equivalent capabilities: matrix lsm missing (bpf not in active LSMs (lockdown,capability)) vs sensor lsm_bpf available',
    ]);
    const broken = mergeProbes({ matrix, sensor: [{ id: 'kprobe', available: false, detail: 'attach failed: ENOENT' }], empty: null });
    expect(broken.problems).toEqual([
      'probes matrix and sensor disagree on kprobe: available vs attach failed: ENOENT',
      'probe empty printed no capability JSON',
    ]);
  });
});
