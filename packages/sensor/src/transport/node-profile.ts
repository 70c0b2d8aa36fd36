// The NodeProfile a sensor announces, derived from its capability probe (probeKernel).
import { COMMON_TRACEPOINT_FORMATS, fullNodeProfile, type NodeMechanisms, type NodeProfile } from '@vigil/policy-schema';
import type { Capability, CapabilityId } from '../probe/probe.js';

const MECHANISM_OF: Readonly<Record<keyof NodeMechanisms, CapabilityId>> = {
  kprobe: 'kprobe',
  kprobeOverride: 'kprobe_override',
  fentry: 'trampoline',
  lsm: 'lsm_bpf',
  tracepoint: 'tracepoint',
  tpBtf: 'tp_btf',
  rawTp: 'raw_tp',
  uprobe: 'uprobe',
  cgroupSock: 'cgroup_sock',
  fanotify: 'fanotify',
  bpfSendSignal: 'send_signal',
  taskIter: 'task_iter',
};

/** Mechanisms from the probe's verdicts (a capability the probe did not report counts as unavailable). */
export function nodeProfileFromCapabilities(caps: readonly Pick<Capability, 'id' | 'available'>[]): NodeProfile {
  const available = new Set(caps.filter((c) => c.available).map((c) => c.id));
  const profile = fullNodeProfile();
  profile.mechanisms = Object.fromEntries(Object.entries(MECHANISM_OF).map(([m, id]) => [m, available.has(id)])) as unknown as NodeMechanisms;
  profile.tracepoints = { ...COMMON_TRACEPOINT_FORMATS };
  return profile;
}
