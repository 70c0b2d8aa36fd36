/**
 * Generic hooks where the kernel has BPF LSM, trampolines and kprobes (the matrix guests; skipped on the host
 * with the probe's reason): an LSM Override makes exec (bprm_check_security), open (file_open) and connect
 * (socket_connect) fail with EPERM for what the selector names while a sibling succeeds; monitor mode lets the
 * denied exec run and reports what it would have done; fmod_ret overrides security_file_open; fentry and kprobe
 * programs post events with the hooked function's args.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ACTION, MECHANISM, compilePolicy, fullNodeProfile, parsePolicy, type Bundle } from '@vigil/policy-schema';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { HookFlags } from '../abi/generic-layout.js';
import type { BpfLink, BpfObject } from '../libbpf/index.js';
import { BPF_OUT, capability, vgTry } from '../mechanisms/test-kernel.js';
import type { CapabilityId } from '../probe/probe.js';
import { GenericHarness } from './selftest-harness.js';

/** A node like the matrix's Debian kernels: BPF LSM, trampolines and kprobes, but no kprobe override. */
function debianProfile(): ReturnType<typeof fullNodeProfile> {
  const p = fullNodeProfile();
  p.mechanisms = { ...p.mechanisms, kprobeOverride: false };
  return p;
}

function compile(spec: string): Bundle {
  return compilePolicy(parsePolicy(`apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: lsm\nspec:\n${spec}`), debianProfile());
}

function configure(obj: BpfObject, program: string, mechanism: number, target?: string): void {
  for (const p of obj.programs()) p.setAutoload(p.name === program);
  if (target) obj.program(program).setAttachTarget(target);
  const rodata = obj.maps().find((m) => m.name.endsWith('.rodata'));
  if (!rodata) throw new Error('no .rodata map');
  const v = rodata.initialValue() ?? Buffer.alloc(16);
  v.writeUInt32LE(1, 0); // hook id 1: the bundles here have one hook
  v.writeInt32LE(-1, 4);
  v.writeUInt8(mechanism, 8);
  rodata.setInitialValue(v);
}

/** Loads `object` for hook 1 of `bundle`, attaches `program`, runs `body`, then detaches everything. */
function withHook(object: string, program: string, bundle: Bundle, attach: (obj: BpfObject) => BpfLink, target: string | undefined, body: (h: GenericHarness) => void): void {
  const mech = MECHANISM.values[bundle.hooks[0]?.mechanism ?? 'none'];
  const h = GenericHarness.load(join(BPF_OUT, object), (obj) => configure(obj, program, mech, target));
  let link: BpfLink | undefined;
  try {
    h.install(bundle, 0);
    link = attach(h.obj);
    body(h);
  } finally {
    link?.destroy();
    h.close();
  }
}

function missing(caps: CapabilityId[]): boolean {
  for (const cap of caps) {
    const c = capability(cap);
    if (!c.available) {
      skipMissing(expect.getState().currentTestName, cap, c.reason);
      return true;
    }
  }
  return false;
}

function errnoOf(f: () => unknown): string {
  try {
    f();
    return 'ok';
  } catch (e) {
    return (e as NodeJS.ErrnoException).code ?? String(e);
  }
}

describe('generic hooks on LSM, fmod_ret, fentry and kprobes (real kernel)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vg-lsm-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const bprmPolicy = (mode: string): Bundle =>
    compile(
      `${mode}  lsmhooks:\n  - hook: bprm_check_security\n    args: [{index: 0, type: linux_binprm}]\n    selectors:\n` +
        `    - matchArgs:\n      - {index: 0, operator: Equal, values: ["${dir}/denied"]}\n      matchActions:\n      - action: Override\n        argError: -1\n`,
    );

  it('lsm bprm_check_security: exec of the denied binary fails with EPERM, a sibling runs', () => {
    if (missing(['lsm_bpf'])) return;
    copyFileSync('/bin/true', join(dir, 'denied'));
    copyFileSync('/bin/true', join(dir, 'allowed'));
    chmodSync(join(dir, 'denied'), 0o755);
    chmodSync(join(dir, 'allowed'), 0o755);
    const bundle = bprmPolicy('');
    expect(bundle.hooks[0]?.mechanism).toBe('lsm');
    withHook('generic_lsm.bpf.o', 'vg_lsm', bundle, (o) => o.program('vg_lsm').attachLsm(), 'bprm_check_security', (h) => {
      const denied = spawnSync(join(dir, 'denied'));
      const allowed = spawnSync(join(dir, 'allowed'));
      expect((denied.error as NodeJS.ErrnoException | undefined)?.code).toBe('EPERM');
      expect(allowed.status).toBe(0);
      const ev = h.events();
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ action: ACTION.values.Override, overrideRet: -1, mechanism: MECHANISM.values.lsm });
      expect((ev[0]?.flags ?? 0) & HookFlags.OVERRIDE).toBeTruthy();
      expect(ev[0]?.args[0]?.data.toString()).toBe(join(dir, 'denied'));
    });
  });

  it('lsm bprm_check_security in monitor mode: the denied binary runs, the would-be Override is reported', () => {
    if (missing(['lsm_bpf'])) return;
    copyFileSync('/bin/true', join(dir, 'denied'));
    chmodSync(join(dir, 'denied'), 0o755);
    const bundle = bprmPolicy('  options:\n  - name: policy-mode\n    value: monitor\n');
    withHook('generic_lsm.bpf.o', 'vg_lsm', bundle, (o) => o.program('vg_lsm').attachLsm(), 'bprm_check_security', (h) => {
      const r = spawnSync(join(dir, 'denied'));
      expect(r.status).toBe(0);
      const ev = h.events();
      expect(ev).toHaveLength(1);
      expect(ev[0]).toMatchObject({ action: ACTION.values.Override, overrideRet: -1 });
      expect((ev[0]?.flags ?? 0) & HookFlags.MONITOR).toBeTruthy();
      expect((ev[0]?.flags ?? 0) & HookFlags.OVERRIDE).toBe(0);
    });
  });

  it('lsm file_open: open of the protected file fails with EPERM, a sibling file opens', () => {
    if (missing(['lsm_bpf'])) return;
    writeFileSync(join(dir, 'secret'), 's');
    writeFileSync(join(dir, 'public'), 'p');
    const bundle = compile(
      `  lsmhooks:\n  - hook: file_open\n    args: [{index: 0, type: file}]\n    selectors:\n` +
        `    - matchArgs:\n      - {index: 0, operator: Equal, values: ["${dir}/secret"]}\n      matchActions:\n      - action: Override\n        argError: -1\n`,
    );
    withHook('generic_lsm.bpf.o', 'vg_lsm', bundle, (o) => o.program('vg_lsm').attachLsm(), 'file_open', (h) => {
      expect(errnoOf(() => readFileSync(join(dir, 'secret')))).toBe('EPERM');
      expect(readFileSync(join(dir, 'public'), 'utf8')).toBe('p');
      expect(h.events().map((e) => e.args[0]?.data.toString())).toEqual([join(dir, 'secret')]);
    });
  });

  it('lsm socket_connect: connect to the denied loopback address fails with EPERM, another one is not denied', () => {
    if (missing(['lsm_bpf'])) return;
    const bundle = compile(
      `  lsmhooks:\n  - hook: socket_connect\n    args: [{index: 0, type: socket}, {index: 1, type: sockaddr}]\n    selectors:\n` +
        `    - matchArgs:\n      - {index: 1, operator: DAddr, values: ["127.0.0.2/32"]}\n      matchActions:\n      - action: Override\n        argError: -1\n`,
    );
    withHook('generic_lsm.bpf.o', 'vg_lsm', bundle, (o) => o.program('vg_lsm').attachLsm(), 'socket_connect', (h) => {
      expect(vgTry(['connect', '127.0.0.2', '9']).out).toBe('EPERM');
      expect(vgTry(['connect', '127.0.0.3', '9']).out).toBe('ECONNREFUSED');
      const ev = h.events();
      expect(ev).toHaveLength(1);
      const sock = ev[0]?.args[1]?.data;
      expect(sock?.readUInt16LE(0)).toBe(2);
      expect([...(sock?.subarray(30, 34) ?? [])]).toEqual([127, 0, 0, 2]); // daddr (struct vg_hook_sock)
      expect(sock?.readUInt16LE(8)).toBe(9);
    });
  });

  it('fmod_ret on security_file_open (Override on an error-injectable function) fails the open with EPERM', () => {
    if (missing(['trampoline'])) return;
    writeFileSync(join(dir, 'fmod'), 'f');
    writeFileSync(join(dir, 'fmod-ok'), 'o');
    const bundle = compile(
      `  kprobes:\n  - call: security_file_open\n    syscall: false\n    args: [{index: 0, type: file}]\n    selectors:\n` +
        `    - matchArgs:\n      - {index: 0, operator: Equal, values: ["${dir}/fmod"]}\n      matchActions:\n      - action: Override\n        argError: -1\n`,
    );
    expect(bundle.hooks[0]?.mechanism).toBe('fentry');
    withHook('generic_fentry.bpf.o', 'vg_fmod_ret', bundle, (o) => o.program('vg_fmod_ret').attachTrace(), 'security_file_open', (h) => {
      expect(errnoOf(() => readFileSync(join(dir, 'fmod')))).toBe('EPERM');
      expect(readFileSync(join(dir, 'fmod-ok'), 'utf8')).toBe('o');
      const ev = h.events();
      expect(ev).toHaveLength(1);
      expect((ev[0]?.flags ?? 0) & HookFlags.OVERRIDE).toBeTruthy();
    });
  });

  for (const [program, object, cap] of [
    ['vg_fentry', 'generic_fentry.bpf.o', 'trampoline'],
    ['vg_kprobe', 'generic_kprobe.bpf.o', 'kprobe'],
  ] as const) {
    it(`${program} on security_file_open posts the opened file's path`, () => {
      if (missing([cap])) return;
      writeFileSync(join(dir, `watched-${program}`), 'w');
      const bundle = compile(
        `  kprobes:\n  - call: security_file_open\n    syscall: false\n    args: [{index: 0, type: file}]\n    selectors:\n` +
          `    - matchArgs:\n      - {index: 0, operator: Prefix, values: ["${dir}/watched-"]}\n`,
      );
      const attach = program === 'vg_kprobe' ? (o: BpfObject) => o.program(program).attachKprobe('security_file_open') : (o: BpfObject) => o.program(program).attachTrace();
      withHook(object, program, bundle, attach, program === 'vg_fentry' ? 'security_file_open' : undefined, (h) => {
        expect(readFileSync(join(dir, `watched-${program}`), 'utf8')).toBe('w');
        const ev = h.events().filter((e) => e.pid === process.pid);
        expect(ev).toHaveLength(1);
        expect(ev[0]?.args[0]?.data.toString()).toBe(join(dir, `watched-${program}`));
      });
    });
  }
});
