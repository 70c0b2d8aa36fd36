import { describe, expect, it } from '@jest/globals';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SensorError } from './errors.js';
import { preflight } from './preflight.js';

const ok = { objectsDir: '/nonexistent', objects: [] as string[], bpffs: '/sys/fs/bpf', uid: 0 };

function code(f: () => void): string {
  try {
    f();
  } catch (err) {
    if (err instanceof SensorError) return `${err.code}: ${err.message}`;
    throw err;
  }
  return 'ok';
}

describe('preflight', () => {
  it('refuses a non-root user with the fix', () => {
    expect(code(() => preflight({ ...ok, uid: 1000 }))).toMatch(/^NOT_ROOT: must run as root.*sudo/);
  });
  it('names a missing BTF file', () => {
    expect(code(() => preflight({ ...ok, btfPath: '/nonexistent/vmlinux' }))).toMatch(/^NO_BTF: .*CONFIG_DEBUG_INFO_BTF/);
  });
  it('offers the mount command when bpffs is not mounted there', () => {
    const notBpffs = mkdtempSync(join(tmpdir(), 'not-bpffs-'));
    expect(code(() => preflight({ ...ok, bpffs: notBpffs }))).toBe(`NO_BPFFS: bpffs is not mounted at ${notBpffs}; mount it with: mount -t bpf bpf ${notBpffs}`);
  });
  it('offers the build command when an object is missing', () => {
    expect(code(() => preflight({ ...ok, objects: ['x.bpf.o'] }))).toBe('OBJECT_MISSING: BPF object /nonexistent/x.bpf.o is missing; build it with: make -C bpf (or make build)');
  });
});
