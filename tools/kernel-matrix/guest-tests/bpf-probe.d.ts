// Types for bpf-probe.js (the kernel matrix's own koffi + libbpf capability probe).
export type Capability = 'tp_btf' | 'kprobe' | 'fentry' | 'lsm';
export interface CapabilityResult { available: boolean; reason: string }
export interface ProbeHandle {
  /** Hits of the attached program for the target tgid. */
  hits(): number;
  /** Opens the LSM program denied. */
  lsmDenies(): number;
  /** Detaches and closes the object; idempotent. */
  close(): void;
  [Symbol.dispose](): void;
}
export declare const repoRoot: string;
export declare const objectPath: string;
export declare const CAPABILITIES: Readonly<Record<Capability, { program: string; counter: number; what: string }>>;
export declare const LSM_DENY_COUNTER: number;
export declare function ensureProbeObject(): string;
export declare function activeLsms(): string[] | null;
export declare function attachCapability(cap: Capability, target?: { tgid: number; ino?: number }):
  { ok: true; handle: ProbeHandle } | { ok: false; reason: string };
export declare function probeCapability(cap: Capability): CapabilityResult;
export declare function probeAll(): { kernel: string; capabilities: Record<Capability, CapabilityResult> };
