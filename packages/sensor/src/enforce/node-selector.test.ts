/**
 * spec.nodeSelector on a standalone sensor (--policy-dir): matched against --node-labels. The real sensor binary
 * enforces the policy whose selector matches and not the one whose selector does not; without --node-labels
 * neither is loaded and the log says how to load them. The operator's side (Node labels, relabels) is in
 * packages/operator/src/node-selector.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { capability } from '../mechanisms/test-kernel.js';
import { SENSOR_BIN, SensorProcess } from '../persist/sensor-process.js';
import { uninstallPins } from '../uninstall.js';
import { parseNodeLabels } from '../node-labels.js';

const ROOT = `/sys/fs/bpf/vigil-test-${process.pid}-nodesel`;
const IN_GUEST = process.env.VIGIL_IN_GUEST === '1';
const READY_MS = IN_GUEST ? 300_000 : 30_000;
let dir: string;
const sensors: SensorProcess[] = [];

const policy = (name: string, exe: string, selector: string) =>
  `apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: ${name}\nspec:\n  nodeSelector:\n${selector}  lsmhooks:\n  - hook: bprm_check_security\n    args: [{ index: 0, type: linux_binprm }]\n    selectors:\n    - matchArgs: [{ index: 0, operator: Equal, values: ["${exe}"] }]\n      matchActions: [{ action: Override, argError: -1 }]\n`;

/** true when the exec was denied (EPERM from fanotify/LSM, or SIGKILL before the image ran). */
function denied(exe: string): boolean {
  const r = spawnSync(exe, [], { timeout: 10_000 });
  if (r.error && (r.error as NodeJS.ErrnoException).code === 'EPERM') return true;
  if (r.signal === 'SIGKILL') return true;
  if (r.status === 0) return false;
  throw new Error(`unexpected outcome of ${exe}: status ${r.status} signal ${r.signal} error ${String(r.error)}`);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-nodesel-'));
  mkdirSync(join(dir, 'policies'));
  for (const n of ['edge-true', 'core-true']) {
    copyFileSync('/bin/true', join(dir, n));
    chmodSync(join(dir, n), 0o755);
  }
  writeFileSync(join(dir, 'policies/edge.yaml'), policy('edge-exec', join(dir, 'edge-true'), '    matchLabels: { vigil.dev/tier: edge }\n'));
  writeFileSync(join(dir, 'policies/core.yaml'), policy('core-exec', join(dir, 'core-true'), '    matchExpressions: [{ key: vigil.dev/tier, operator: In, values: [core] }]\n'));
});

afterAll(async () => {
  for (const s of sensors) await s.kill('SIGKILL');
  if (existsSync(ROOT)) uninstallPins(ROOT);
  rmSync(dir, { recursive: true, force: true });
});

describe('--node-labels', () => {
  it('parses key=value lists and names what is wrong', () => {
    expect(parseNodeLabels('vigil.dev/tier=edge, kubernetes.io/os=linux,empty=')).toEqual({ 'vigil.dev/tier': 'edge', 'kubernetes.io/os': 'linux', empty: '' });
    expect(() => parseNodeLabels('tier')).toThrow('--node-labels: "tier" is not key=value (e.g. --node-labels vigil.dev/tier=edge,kubernetes.io/os=linux)');
    expect(() => parseNodeLabels('-bad=x')).toThrow(/"-bad" is not a label key/);
    expect(() => parseNodeLabels('Bad.Prefix/x=1')).toThrow(/"Bad.Prefix\/x" is not a label key/);
    expect(() => parseNodeLabels('tier=a b')).toThrow(/the value of tier, "a b", is not a label value/);
    expect(() => parseNodeLabels('tier=a,tier=b')).toThrow('--node-labels: tier is given twice');
    const r = spawnSync(process.execPath, [SENSOR_BIN, 'run', '--node-labels', 'tier'], { encoding: 'utf8', timeout: 30_000 });
    expect(r.status).toBe(1);
    expect(r.stderr.trim()).toBe('vigil-sensor: --node-labels: "tier" is not key=value (e.g. --node-labels vigil.dev/tier=edge,kubernetes.io/os=linux)');
  });
});

describe('spec.nodeSelector on a standalone sensor (real kernel)', () => {
  const start = (extra: string[]): SensorProcess => {
    const s = new SensorProcess(['--policy-dir', join(dir, 'policies'), '--bpffs-root', ROOT, '--state-dir', join(dir, 'state'), '--output', 'compact', '--mechanisms', 'fallback', '--stats-interval', '0', ...extra]);
    sensors.push(s);
    return s;
  };

  it('enforces the policy whose selector matches --node-labels, not the other; without labels neither, and says why', async () => {
    for (const cap of ['tp_btf', 'send_signal', 'fanotify'] as const) {
      const c = capability(cap);
      if (!c.available) return skipMissing(expect.getState().currentTestName, cap, c.reason);
    }
    const edge = join(dir, 'edge-true');
    const core = join(dir, 'core-true');
    const s1 = start(['--node-labels', 'vigil.dev/tier=edge,kubernetes.io/os=linux']);
    await s1.waitForLog('enforcement ready', READY_MS);
    expect(denied(edge)).toBe(true);
    expect(denied(core)).toBe(false);
    expect(s1.logsWith('policy enforcing').map((l) => l['policy'])).toEqual(['edge-exec']);
    expect(s1.logsWith('policy not loaded on this node').map((l) => [l['policy'], l.msg])).toEqual([
      ['core-exec', 'policy not loaded on this node: spec.nodeSelector (vigil.dev/tier in (core)) does not match --node-labels'],
    ]);
    await s1.kill('SIGTERM');

    // No labels: a policy that names its nodes is loaded nowhere rather than everywhere; the pinned edge rule
    // of the previous run is removed on start (its policy is no longer offered).
    const s2 = start([]);
    await s2.waitForLog('enforcement ready', READY_MS);
    expect(denied(edge)).toBe(false);
    expect(denied(core)).toBe(false);
    const warned = s2.logsWith('policy not loaded:').map((l) => [l['policy'], l.level]);
    expect(warned).toEqual([
      ['core-exec', 40],
      ['edge-exec', 40],
    ]);
    expect(s2.logsWith('policy not loaded:')[0]?.msg).toContain('pass them with --node-labels');
    await s2.kill('SIGTERM');
  }, IN_GUEST ? 900_000 : 120_000);
});
