/**
 * BPF LSM hooks through the generic engine (the matrix guests have BPF LSM; this host refuses LSM programs, so
 * here the tests record a skip for lsm_bpf): Override gives the caller a real EPERM for the exec of a denied
 * binary (bprm_check_security), the open of a protected file (file_open) and a connect to a denied address
 * (socket_connect); the sibling operations succeed; monitor mode lets everything run and reports what it would
 * have done.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy, parsePolicy } from '@vigil/policy-schema';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { CompositeApplier } from '../enforce/composite.js';
import { FallbackEnforcementEngine } from '../enforce/engine.js';
import { KtimeClock } from '../events/exec-id.js';
import type { HookEvent } from '../export/model.js';
import { BPF_OUT, TestCgroup, capability, vgTry } from '../mechanisms/test-kernel.js';
import { probeKernel } from '../probe/probe.js';
import { nodeProfileFromCapabilities } from '../transport/node-profile.js';
import { GenericHookEngine } from './engine.js';

const PIN_ROOT = `/sys/fs/bpf/vigil-lsm-test-${process.pid}`;
let dir = '';
const events: HookEvent[] = [];
let generic: GenericHookEngine;
let fallback: FallbackEnforcementEngine;
let composite: CompositeApplier;

function lsmMissing(): boolean {
  const c = capability('lsm_bpf');
  if (c.available) return false;
  skipMissing(expect.getState().currentTestName ?? '', 'lsm_bpf', c.reason);
  return true;
}

const policy = (name: string, hook: string, args: string, match: string, monitor = false) => `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
${monitor ? '  options:\n  - name: policy-mode\n    value: monitor\n' : ''}  lsmhooks:
  - hook: ${hook}
    args: ${args}
    selectors:
    - matchArgs: ${match}
      matchActions:
      - action: Override
        argError: -1
`;

async function applyYaml(yaml: string) {
  const profile = nodeProfileFromCapabilities(probeKernel({ probeObject: join(BPF_OUT, 'probe.bpf.o') }));
  const bundle = compilePolicy(parsePolicy(yaml), profile);
  const out = await composite.apply(bundle);
  return { bundle, out };
}

function waitFor(pred: (e: HookEvent) => boolean): HookEvent | undefined {
  const until = Date.now() + 3000;
  while (Date.now() < until) {
    generic.drain();
    const e = events.find(pred);
    if (e) return e;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return undefined;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-lsm-'));
  generic = new GenericHookEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT, onEvent: (e) => events.push(e), clock: new KtimeClock() });
  fallback = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
  composite = new CompositeApplier(fallback, generic);
});
afterAll(async () => {
  await generic.uninstall();
  await fallback.uninstall();
  rmSync(dir, { recursive: true, force: true });
  rmSync(PIN_ROOT, { recursive: true, force: true });
});

describe('LSM hooks through the generic engine (real kernel)', () => {
  it('file_open Override: the protected file fails with EPERM, a sibling opens', async () => {
    if (lsmMissing()) return;
    const secret = join(dir, 'secret');
    const other = join(dir, 'other');
    writeFileSync(secret, 's');
    writeFileSync(other, 'o');
    const { bundle, out } = await applyYaml(policy('lsm-file-open', 'file_open', '[{ index: 0, type: file }]', `[{ index: 0, operator: Equal, values: ["${secret}"] }]`));
    expect(out.reason).toBe('');
    expect(out.hooks?.[0]).toMatchObject({ mechanism: 'lsm', state: 'enforcing' });
    using cg = new TestCgroup();
    expect(vgTry(['open', secret], cg.path).out).toBe('EPERM');
    expect(vgTry(['open', other], cg.path).out).toBe('ok');
    expect(waitFor((e) => e.policyName === 'lsm-file-open')).toMatchObject({ eventKind: 'process_lsm', functionName: 'file_open', action: 'Override', mechanism: 'lsm' });
    await composite.remove(bundle.version.policyUid);
    expect(vgTry(['open', secret], cg.path).out).toBe('ok');
  });

  it('bprm_check_security Override: exec of the denied binary fails with EPERM, another binary runs', async () => {
    if (lsmMissing()) return;
    const denied = join(dir, 'denied-true');
    const allowed = join(dir, 'allowed-true');
    copyFileSync('/bin/true', denied);
    copyFileSync('/bin/true', allowed);
    chmodSync(denied, 0o755);
    chmodSync(allowed, 0o755);
    const { bundle, out } = await applyYaml(policy('lsm-bprm', 'bprm_check_security', '[{ index: 0, type: linux_binprm }]', `[{ index: 0, operator: Equal, values: ["${denied}"] }]`));
    expect(out.reason).toBe('');
    using cg = new TestCgroup();
    expect(vgTry(['exec', denied], cg.path).out).toBe('EPERM');
    expect(vgTry(['exec', allowed], cg.path).status).toBe(0);
    await composite.remove(bundle.version.policyUid);
  });

  it('socket_connect Override: connect to the denied address fails with EPERM, another address is tried', async () => {
    if (lsmMissing()) return;
    const { bundle, out } = await applyYaml(
      policy('lsm-connect', 'socket_connect', '[{ index: 0, type: socket }, { index: 1, type: sockaddr }]', '[{ index: 1, operator: DAddr, values: ["127.0.0.77/32"] }]'),
    );
    expect(out.reason).toBe('');
    using cg = new TestCgroup();
    expect(vgTry(['connect', '127.0.0.77', '9000'], cg.path).out).toBe('EPERM');
    expect(vgTry(['connect', '127.0.0.1', '9'], cg.path).out).not.toBe('EPERM');
    const ev = waitFor((e) => e.policyName === 'lsm-connect');
    expect(ev?.args).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'sockaddr_arg', family: 'AF_INET', addr: '127.0.0.77', port: 9000 })]));
    await composite.remove(bundle.version.policyUid);
  });

  it('monitor mode: the open succeeds and the event reports the Override it would have taken', async () => {
    if (lsmMissing()) return;
    const secret = join(dir, 'watched');
    writeFileSync(secret, 's');
    const { bundle, out } = await applyYaml(policy('lsm-monitor', 'file_open', '[{ index: 0, type: file }]', `[{ index: 0, operator: Equal, values: ["${secret}"] }]`, true));
    expect(out.hooks?.[0]).toMatchObject({ mechanism: 'lsm', state: 'observing' });
    using cg = new TestCgroup();
    expect(vgTry(['open', secret], cg.path).out).toBe('ok');
    expect(waitFor((e) => e.policyName === 'lsm-monitor')).toMatchObject({ action: 'Post', monitorAction: 'Override' });
    await composite.remove(bundle.version.policyUid);
  });
});
