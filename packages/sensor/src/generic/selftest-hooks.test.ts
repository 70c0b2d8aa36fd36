/**
 * Generic hook programs attached for real (bpf/progs/generic_tp.bpf.c, generic_uprobe.bpf.c): a syscall hook on
 * tp_btf / raw_tp sys_enter kills the process whose unlinkat matches its selector while a sibling's unlinkat
 * runs; a uprobe on a helper binary posts the function's args, and its Sigkill selector kills only the matching
 * call. The bundles come from compilePolicy; the maps are installed as the engine installs them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACTION, MECHANISM, compilePolicy, parsePolicy, tracepointOnlyNodeProfile, type Bundle } from '@vigil/policy-schema';
import { HookFlags } from '../abi/generic-layout.js';
import type { BpfLink, BpfObject } from '../libbpf/index.js';
import { GenericHarness } from './selftest-harness.js';
import { readTracepointFormat } from './tracefs.js';

const OUT = fileURLToPath(new URL('../../../../bpf/.output/', import.meta.url));
const HELPER = join(OUT, 'helpers', 'vg_uprobe_target');

function compile(spec: string): Bundle {
  return compilePolicy(parsePolicy(`apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: hooks\nspec:\n${spec}`), tracepointOnlyNodeProfile());
}

/** Writes vg_prog_cfg (the object's only .rodata variable) and keeps only `program` autoloaded. */
function configure(obj: BpfObject, program: string, cfg: { hookId: number; syscallNr?: number; mechanism: number; flags?: number }): void {
  for (const p of obj.programs()) p.setAutoload(p.name === program);
  const rodata = obj.maps().find((m) => m.name.endsWith('.rodata'));
  if (!rodata) throw new Error('no .rodata map');
  const v = rodata.initialValue() ?? Buffer.alloc(16);
  v.writeUInt32LE(cfg.hookId, 0);
  v.writeInt32LE(cfg.syscallNr ?? -1, 4);
  v.writeUInt8(cfg.mechanism, 8);
  v.writeUInt8(cfg.flags ?? 0, 9);
  rodata.setInitialValue(v);
}

describe('generic hook programs on this kernel (real kernel)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'vg-hooks-'));
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  for (const program of ['vg_btf_sys_enter', 'vg_raw_sys_enter']) {
    it(`${program}: Sigkill on unlinkat with a matching path prefix kills the caller; a sibling's unlinkat runs`, () => {
      const bundle = compile(
        `  kprobes:\n  - call: sys_unlinkat\n    syscall: true\n    args: [{index: 1, type: string}]\n    selectors:\n` +
          `    - matchArgs:\n      - {index: 1, operator: Prefix, values: ["${dir}/deny-"]}\n      matchActions:\n      - action: Sigkill\n`,
      );
      const hook = bundle.hooks[0];
      expect(hook?.mechanism).toBe('tp_btf_syscall');
      const nr = hook?.syscall?.nr ?? -1;
      expect(nr).toBe(263);
      const h = GenericHarness.load(join(OUT, 'generic_tp.bpf.o'), (obj) => configure(obj, program, { hookId: 1, syscallNr: nr, mechanism: MECHANISM.values.tp_btf_syscall }));
      let link: BpfLink | undefined;
      try {
        h.install(bundle, 0);
        link = program === 'vg_raw_sys_enter' ? h.obj.program(program).attachRawTracepoint('sys_enter') : h.obj.program(program).attach();
        const denied = join(dir, `deny-${program}`);
        const allowed = join(dir, `allow-${program}`);
        writeFileSync(denied, 'x');
        writeFileSync(allowed, 'x');
        const killed = spawnSync('rm', ['-f', denied]);
        const ran = spawnSync('rm', ['-f', allowed]);
        expect(killed.signal).toBe('SIGKILL');
        expect(ran.status).toBe(0);
        expect(existsSync(allowed)).toBe(false);
        const ev = h.events().filter((e) => e.pid === killed.pid);
        expect(ev).toHaveLength(1);
        expect(ev[0]).toMatchObject({ hookId: 1, selector: 1, action: ACTION.values.Sigkill, signal: 9, syscallNr: 263, mechanism: MECHANISM.values.tp_btf_syscall });
        expect((ev[0]?.flags ?? 0) & HookFlags.KILLED).toBeTruthy();
        expect(ev[0]?.args[0]?.data.toString()).toBe(denied);
        expect(h.events().filter((e) => e.pid === ran.pid)).toHaveLength(0);
        expect(h.stats()['kills']).toBeGreaterThanOrEqual(1n);
      } finally {
        link?.destroy();
        h.close();
      }
    });
  }

  it('a uprobe posts the function args; its Sigkill selector kills only the matching call', () => {
    expect(existsSync(HELPER)).toBe(true);
    const bundle = compile(
      `  uprobes:\n  - path: ${HELPER}\n    symbols: [vg_uprobe_target]\n    args: [{index: 0, type: int64}, {index: 1, type: string}]\n    selectors:\n` +
        `    - matchArgs:\n      - {index: 0, operator: Equal, values: ["42"]}\n      matchActions:\n      - action: Sigkill\n` +
        `    - matchArgs:\n      - {index: 1, operator: Prefix, values: ["hello"]}\n`,
    );
    expect(bundle.hooks[0]?.mechanism).toBe('uprobe');
    const h = GenericHarness.load(join(OUT, 'generic_uprobe.bpf.o'), (obj) => configure(obj, 'vg_uprobe', { hookId: 1, mechanism: MECHANISM.values.uprobe }));
    let link: BpfLink | undefined;
    try {
      h.install(bundle, 0);
      link = h.obj.program('vg_uprobe').attachUprobe(HELPER, { funcName: 'vg_uprobe_target' });
      const posted = spawnSync(HELPER, ['7', 'hello world']);
      const quiet = spawnSync(HELPER, ['8', 'bye']);
      const killed = spawnSync(HELPER, ['42', 'hello']);
      expect(posted.status).toBe(0);
      expect(quiet.status).toBe(0);
      expect(killed.signal).toBe('SIGKILL');
      const events = h.events();
      const p = events.filter((e) => e.pid === posted.pid);
      expect(p).toHaveLength(1);
      expect(p[0]).toMatchObject({ selector: 2, action: ACTION.values.Post, mechanism: MECHANISM.values.uprobe });
      expect(p[0]?.args[0]?.data.readBigInt64LE(0)).toBe(7n);
      expect(p[0]?.args[1]?.data.toString()).toBe('hello world');
      expect(events.filter((e) => e.pid === quiet.pid)).toHaveLength(0);
      const k = events.filter((e) => e.pid === killed.pid);
      expect(k).toHaveLength(1);
      expect(k[0]).toMatchObject({ selector: 1, action: ACTION.values.Sigkill, signal: 9 });
      expect((k[0]?.flags ?? 0) & HookFlags.KILLED).toBeTruthy();
    } finally {
      link?.destroy();
      h.close();
    }
  });

  it('a classic tracepoint reads its tracefs fields (syscalls/sys_enter_unlinkat pathname) and kills only the matching caller', () => {
    const fields = readTracepointFormat('syscalls/sys_enter_unlinkat');
    expect(fields).toBeDefined();
    const idx = fields?.findIndex((f) => f.name === 'pathname') ?? -1;
    expect(idx).toBeGreaterThan(0);
    const profile = tracepointOnlyNodeProfile();
    profile.tracepoints['syscalls/sys_enter_unlinkat'] = fields ?? [];
    const bundle = compilePolicy(
      parsePolicy(
        `apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: tp\nspec:\n  tracepoints:\n  - subsystem: syscalls\n    event: sys_enter_unlinkat\n` +
          `    args: [{index: ${idx}, type: string}]\n    selectors:\n    - matchArgs:\n      - {index: 0, operator: Prefix, values: ["${dir}/tpdeny-"]}\n      matchActions:\n      - action: Sigkill\n`,
      ),
      profile,
    );
    expect(bundle.hooks[0]?.mechanism).toBe('tracepoint');
    const h = GenericHarness.load(join(OUT, 'generic_tp.bpf.o'), (obj) => configure(obj, 'vg_tracepoint', { hookId: 1, mechanism: MECHANISM.values.tracepoint }));
    let link: BpfLink | undefined;
    try {
      h.install(bundle, 0);
      link = h.obj.program('vg_tracepoint').attachTracepoint('syscalls', 'sys_enter_unlinkat');
      const denied = join(dir, 'tpdeny-x');
      const allowed = join(dir, 'tpallow-x');
      writeFileSync(denied, 'x');
      writeFileSync(allowed, 'x');
      const killed = spawnSync('rm', ['-f', denied]);
      const ran = spawnSync('rm', ['-f', allowed]);
      expect(killed.signal).toBe('SIGKILL');
      expect(ran.status).toBe(0);
      const ev = h.events().filter((e) => e.pid === killed.pid);
      expect(ev).toHaveLength(1);
      expect(ev[0]?.args[0]?.data.toString()).toBe(denied);
      expect(ev[0]).toMatchObject({ mechanism: MECHANISM.values.tracepoint, action: ACTION.values.Sigkill });
    } finally {
      link?.destroy();
      h.close();
    }
  });
});
