// The kernel matrix's own real-kernel test: each BPF attach type Vigil's enforcement tiers rely on either works
// for real on the running kernel, or the test records a VIGIL-SKIP with the probe's reason. The matrix then
// requires every skipped test to pass on another kernel where the probe reports the capability.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { attachCapability, ensureProbeObject, probeCapability } from './bpf-probe.js';
import type { Capability, ProbeHandle } from './bpf-probe.js';
import { skipMissing } from '../skip.js';

let dir: string;
beforeAll(() => {
  ensureProbeObject();
  dir = mkdtempSync(join(tmpdir(), 'vigil-km-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Attaches `cap`'s program for this process, or records the skip and returns null. */
function attachOrSkip(cap: Capability, ino = 0): ProbeHandle | null {
  const probe = probeCapability(cap);
  if (!probe.available) {
    skipMissing(expect.getState().currentTestName, cap, probe.reason);
    return null;
  }
  const r = attachCapability(cap, { tgid: process.pid, ino });
  if (!r.ok) throw new Error(`${cap}: the probe said available but attaching failed: ${r.reason}`);
  return r.handle;
}

/** Opens and reads a file `n` times through Node (openat -> do_sys_openat2 -> vfs_open -> security_file_open). */
function readTimes(path: string, n: number): void {
  for (let i = 0; i < n; i++) readFileSync(path);
}

describe('kernel capabilities, proven by behaviour', () => {
  test.each([
    ['tp_btf' as const, 'tp_btf/sys_enter counts this process\'s syscalls'],
    ['kprobe' as const, 'kprobe/do_sys_openat2 counts this process\'s opens'],
    ['fentry' as const, 'fentry/vfs_open counts this process\'s opens'],
  ])('%s: %s', (cap, _what) => {
    const file = join(dir, `${cap}.txt`);
    writeFileSync(file, cap);
    const handle = attachOrSkip(cap);
    if (!handle) return;
    try {
      const before = handle.hits();
      readTimes(file, 5);
      expect(handle.hits() - before).toBeGreaterThanOrEqual(5);
    } finally {
      handle.close();
    }
  });

  test('lsm: lsm/file_open makes readFileSync of the protected inode fail with EPERM, and only that inode', () => {
    const protectedFile = join(dir, 'vigil-deny');
    const otherFile = join(dir, 'allowed');
    writeFileSync(protectedFile, 'secret');
    writeFileSync(otherFile, 'fine');
    const handle = attachOrSkip('lsm', statSync(protectedFile).ino);
    if (!handle) return;
    try {
      let code: string | undefined;
      try { readFileSync(protectedFile); } catch (err) { code = (err as NodeJS.ErrnoException).code; }
      expect(code).toBe('EPERM');
      expect(readFileSync(otherFile, 'utf8')).toBe('fine');
      expect(handle.lsmDenies()).toBeGreaterThanOrEqual(1);
    } finally {
      handle.close();
    }
    expect(readFileSync(protectedFile, 'utf8')).toBe('secret');
  });
});
