import { describe, expect, it } from '@jest/globals';
import type { Capability, CapabilityId } from '../probe/probe.js';
import { formatPersistence } from './persistence-table.js';

const caps = (ids: CapabilityId[]): Capability[] => ids.map((id) => ({ id, description: id, available: true, detail: '' }));

describe('probe footer: what persists without the sensor', () => {
  it('on a kernel like ours: exec and connect persist, open deny degrades to the open kill', () => {
    const out = formatPersistence(caps(['bpffs', 'tp_btf', 'send_signal', 'cgroup_sock', 'fanotify']));
    expect(out).toMatch(/exec deny without BPF LSM \(exec kill, tp_btf\)\s+persistent/);
    expect(out).toMatch(/connect, bind and socket deny \(cgroup programs\)\s+persistent/);
    expect(out).toMatch(/open deny without BPF LSM \(fanotify EPERM\)\s+degrades: while the sensor is down the opener is killed/);
    expect(out).not.toMatch(/LSM hooks/);
  });

  it('without tp_btf the fanotify rules stop with the sensor; with BPF LSM the LSM hooks persist; no bpffs: nothing persists', () => {
    expect(formatPersistence(caps(['bpffs', 'fanotify']))).toMatch(/stops while the sensor is down/);
    expect(formatPersistence(caps(['bpffs', 'lsm_bpf']))).toMatch(/LSM hooks \(BPF LSM, pinned per policy\)\s+persistent/);
    expect(formatPersistence(caps(['tp_btf']))).toMatch(/bpffs not mounted.*every rule stops with the sensor/);
  });
});
