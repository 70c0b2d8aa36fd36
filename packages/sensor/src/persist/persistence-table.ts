/**
 * The `vigil-sensor probe` footer: which kinds of rule keep enforcing with no sensor process on this kernel
 * (persistent), which fall back to a weaker in-kernel form while it is down (degrades), per the capabilities probed.
 */
import type { Capability, CapabilityId } from '../probe/probe.js';

export function formatPersistence(caps: readonly Capability[]): string {
  const has = (id: CapabilityId) => caps.some((c) => c.id === id && c.available);
  const rows: Array<[string, string]> = [];
  if (has('lsm_bpf')) rows.push(['LSM hooks (BPF LSM, pinned per policy)', 'persistent']);
  if (has('kprobe')) rows.push(['kprobe hooks (pinned per policy)', 'persistent']);
  if (has('trampoline')) rows.push(['fentry/fexit hooks (pinned per policy)', 'persistent']);
  if (has('tp_btf') && has('send_signal')) rows.push(['exec deny without BPF LSM (exec kill, tp_btf)', 'persistent']);
  if (has('cgroup_sock')) rows.push(['connect, bind and socket deny (cgroup programs)', 'persistent']);
  if (has('fanotify')) {
    rows.push([
      'open deny without BPF LSM (fanotify EPERM)',
      has('tp_btf') && has('send_signal') ? 'degrades: while the sensor is down the opener is killed before open() returns (O_TRUNC still truncates)' : 'stops while the sensor is down (no in-kernel fallback on this kernel)',
    ]);
  }
  if (!has('bpffs')) rows.push(['(bpffs not mounted: nothing can be pinned)', 'every rule stops with the sensor']);
  const w = Math.max(...rows.map(([k]) => k.length), 4);
  return ['Without a running sensor (docs/persistence.md):', ...rows.map(([k, v]) => `  ${k.padEnd(w)}  ${v}`)].join('\n');
}
