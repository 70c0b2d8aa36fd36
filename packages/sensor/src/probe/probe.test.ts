/**
 * The capability probe on the running kernel. Each verdict is checked against independent evidence where the
 * kernel offers some, so the probe cannot report a capability this kernel lacks (or miss one it has).
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { formatCapabilityTable, probeKernel, type Capability } from './probe.js';

const PROBE_OBJECT = fileURLToPath(new URL('../../../../bpf/.output/probe.bpf.o', import.meta.url));

function kernelConfig(): string {
  try {
    return readFileSync(`/boot/config-${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`, 'utf8');
  } catch {
    return '';
  }
}

describe('vigil-sensor probe (real kernel)', () => {
  const caps = probeKernel({ probeObject: PROBE_OBJECT });
  const cap = (id: Capability['id']) => caps.find((c) => c.id === id) as Capability;
  process.stdout.write(`${formatCapabilityTable(caps)}\n`);

  it('reports every capability once, each with a reason', () => {
    const ids = caps.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['btf', 'bpffs', 'tp_btf', 'raw_tp', 'kprobe', 'trampoline', 'lsm_bpf', 'cgroup_sock', 'task_iter', 'uprobe', 'ringbuf', 'send_signal', 'fanotify']));
    for (const c of caps) expect(c.detail.length).toBeGreaterThan(0);
  });

  it('finds what every supported kernel must have: BTF, tp_btf, raw tracepoints, ring buffer', () => {
    for (const id of ['btf', 'tp_btf', 'raw_tp', 'ringbuf'] as const) expect(cap(id).available).toBe(true);
  });

  it('agrees with the kernel about kprobes (kprobe_events exists exactly when kprobes are built in)', () => {
    const kprobeEvents = existsSync('/sys/kernel/tracing/kprobe_events') || existsSync('/sys/kernel/debug/tracing/kprobe_events');
    const tracefsMounted = cap('tracefs').available;
    if (tracefsMounted) expect(cap('kprobe').available).toBe(kprobeEvents);
    if (!cap('kprobe').available) expect(cap('kprobe').detail).toMatch(/attach failed|load failed/);
  });

  it('decides LSM BPF by attaching, not by the LSM list', () => {
    const lsm = cap('lsm_bpf');
    expect(lsm.detail).toMatch(/active LSMs: /);
    const config = kernelConfig();
    if (config && !/^CONFIG_BPF_LSM=y/m.test(config)) expect(lsm.available).toBe(false);
    // LSM programs ride on trampolines: no trampolines, no LSM programs.
    if (!cap('trampoline').available) expect(lsm.available).toBe(false);
    // And a kernel whose active LSM list lacks bpf never calls them, even where they attach.
    let active: string[] = [];
    try {
      active = readFileSync('/sys/kernel/security/lsm', 'utf8').trim().split(',');
    } catch {
      active = [];
    }
    if (!active.includes('bpf')) expect(lsm.available).toBe(false);
  });

  it('finds the cgroup v2 socket hooks where a cgroup2 hierarchy is mounted', () => {
    if (cap('cgroup_v2').available) expect(cap('cgroup_sock')).toMatchObject({ available: true });
  });
});
