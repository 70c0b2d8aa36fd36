/**
 * Support for the mechanisms' real-kernel tests: built-object paths, the capability probe (run once), the vg_try
 * helper (bpf/tests/helpers/vg_try.c) and throw-away cgroup v2 directories.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { probeKernel, type Capability, type CapabilityId } from '../probe/probe.js';
import { cgroupIdOf, requireCgroupV2Mount } from './cgroup.js';

export const BPF_OUT = fileURLToPath(new URL('../../../../bpf/.output/', import.meta.url));
export const VG_TRY = join(BPF_OUT, 'helpers/vg_try');

let caps: Capability[] | undefined;

/** One capability of this kernel, decided by the sensor's probe (loads and attaches a program of each kind). */
export function capability(id: CapabilityId): { available: boolean; reason: string } {
  caps ??= probeKernel({ probeObject: join(BPF_OUT, 'probe.bpf.o') });
  const c = caps.find((x) => x.id === id);
  return { available: c?.available ?? false, reason: c?.detail ?? 'not probed' };
}

/** Runs vg_try (optionally inside `cgroup`) and returns its outcome line ("ok", "EPERM", …) and exit status. */
export function vgTry(args: readonly string[], cgroup?: string): { out: string; status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const argv = cgroup ? ['--cgroup', cgroup, ...args] : [...args];
  const r = spawnSync(VG_TRY, argv, { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw r.error;
  return { out: r.stdout.trim(), status: r.status, signal: r.signal, stderr: r.stderr };
}

/** A throw-away cgroup v2 directory (`vigil-test-<pid>-<n>`), removed on close after moving any process left. */

let counter = 0;

export class TestCgroup implements Disposable {
  readonly path: string;
  readonly id: bigint;

  constructor(parent: string = requireCgroupV2Mount()) {
    this.path = join(parent, `vigil-test-${process.pid}-${++counter}`);
    mkdirSync(this.path);
    this.id = cgroupIdOf(this.path);
  }

  /** Moves `pid` into this cgroup. */
  add(pid: number): void {
    writeFileSync(join(this.path, 'cgroup.procs'), String(pid));
  }

  close(): void {
    try {
      const pids = readFileSync(join(this.path, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean);
      for (const pid of pids) writeFileSync(join(dirname(this.path), 'cgroup.procs'), pid);
      rmdirSync(this.path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
