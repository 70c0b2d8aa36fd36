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

export type SensorEvent = ProcessExecEvent | ProcessExitEvent;

export interface EventFormatter {
  format(ev: SensorEvent): string;
}
