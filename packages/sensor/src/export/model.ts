/** Sensor events after enrichment: what the exporters format. */
import type { ProcessInfo } from '../events/process-cache.js';

export interface ProcessExecEvent {
  type: 'process_exec';
  /** wall-clock ns since the epoch */
  timeNs: bigint;
  process: ProcessInfo;
  parent: ProcessInfo | undefined;
  ancestors: ProcessInfo[] | undefined;
}

export interface ProcessExitEvent {
  type: 'process_exit';
  timeNs: bigint;
  process: ProcessInfo;
  parent: ProcessInfo | undefined;
  ancestors: ProcessInfo[] | undefined;
  /** exit code when the process exited normally */
  status: number;
  /** signal number when a signal ended it, else 0 */
  signal: number;
}

/** An enforcement decision (a denial or a kill) taken for a policy hook, with the mechanism that took it. */
export interface EnforcementEvent {
  type: 'enforcement';
  timeNs: bigint;
  process: ProcessInfo;
  parent: ProcessInfo | undefined;
  ancestors?: ProcessInfo[] | undefined;
  /** process_lsm for lsmhooks, process_kprobe for kprobes */
  eventKind: 'process_lsm' | 'process_kprobe';
  /** the hook the policy declared (e.g. file_open) */
  functionName: string;
  policyName: string;
  /** what happened to the operation */
  action: 'deny' | 'kill' | 'deny_kill';
  /** the kernel mechanism that enforced it on this node (e.g. fanotify, cgroup_sock, tp_btf, lsm) */
  mechanism: string;
  /** the target, when known: address:port or inode */
  detail: string;
}

export type SensorEvent = ProcessExecEvent | ProcessExitEvent | EnforcementEvent;

export interface EventFormatter {
  format(ev: SensorEvent): string;
}
