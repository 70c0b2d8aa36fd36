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

/** One typed argument of a hook hit, named as Tetragon's KprobeArgument oneof (int_arg, file_arg, sock_arg, …). */
export type HookArg =
  | { kind: 'int_arg' | 'uint_arg' | 'long_arg' | 'size_arg' | 'syscall_id'; value: bigint; label?: string }
  | { kind: 'string_arg'; value: string; label?: string }
  | { kind: 'bytes_arg'; value: Uint8Array; truncated?: boolean; label?: string }
  | { kind: 'file_arg' | 'path_arg'; path: string; flags?: string; permission?: string; label?: string }
  | { kind: 'linux_binprm_arg'; path: string; flags?: string; permission?: string; label?: string }
  | {
      kind: 'sock_arg';
      family: string;
      type: string;
      protocol: string;
      saddr: string;
      daddr: string;
      sport: number;
      dport: number;
      state?: string;
      label?: string;
    }
  | { kind: 'sockaddr_arg'; family: string; addr: string; port: number; label?: string }
  | { kind: 'capability_arg'; value: number; name: string; label?: string }
  | { kind: 'process_credentials_arg'; uid: number; gid: number; euid: number; egid: number; label?: string }
  | { kind: 'unsupported'; type: string; label?: string };

/** A hit of a policy hook run by the in-kernel selector engine (process_kprobe / _tracepoint / _lsm / _uprobe). */
export interface HookEvent {
  type: 'hook';
  timeNs: bigint;
  process: ProcessInfo;
  parent: ProcessInfo | undefined;
  ancestors?: ProcessInfo[] | undefined;
  eventKind: 'process_kprobe' | 'process_tracepoint' | 'process_lsm' | 'process_uprobe';
  /** kprobes / lsm: the function or LSM hook the policy declared (e.g. __x64_sys_write, file_open) */
  functionName: string;
  /** tracepoints: subsystem and event */
  subsys?: string;
  event?: string;
  /** uprobes: the binary and symbol */
  path?: string;
  symbol?: string;
  args: HookArg[];
  /** kretprobes / fexit / sys_exit: the return value */
  returnValue?: HookArg;
  /** what the selector did: Post, Sigkill, Override, Signal, NoPost… (Tetragon's KPROBE_ACTION_<upper>) */
  action: string;
  /** monitor mode: the enforcing action the selector would have taken (the event's action stays Post) */
  monitorAction?: string;
  /** Override: the error returned to the caller (e.g. -1 for EPERM) */
  errorValue?: number;
  policyName: string;
  /** the kernel mechanism that served the hook on this node (kprobe, lsm, tp_btf_syscall, …) */
  mechanism: string;
  /** events of this hook and process the rate limit dropped since the previous one that was posted */
  suppressed?: number;
  message?: string;
  tags?: string[];
}

export type SensorEvent = ProcessExecEvent | ProcessExitEvent | EnforcementEvent | HookEvent;

export interface EventFormatter {
  format(ev: SensorEvent): string;
}
