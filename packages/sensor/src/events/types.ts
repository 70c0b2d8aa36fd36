/** Decoded kernel records, before enrichment. ktime values are CLOCK_MONOTONIC nanoseconds. */
export interface RecordMeta {
  cpu: number;
  seq: bigint;
  ktime: bigint;
}

export interface ExecRecord extends RecordMeta {
  kind: 'exec';
  pid: number;
  tid: number;
  ppid: number;
  flags: number;
  execKtime: bigint;
  parentKtime: bigint;
  cgroupId: bigint;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  auid: number;
  binary: string;
  /** argv including argv[0] */
  argv: string[];
  cwd: string;
}

export interface ExitRecord extends RecordMeta {
  kind: 'exit';
  pid: number;
  tid: number;
  execKtime: bigint;
  /** wait status: (code << 8) | signal */
  exitCode: number;
  flags: number;
}

export interface ForkRecord extends RecordMeta {
  kind: 'fork';
  pid: number;
  ppid: number;
  execKtime: bigint;
  parentKtime: bigint;
}

export interface TestRecord extends RecordMeta {
  kind: 'test';
  size: number;
}

export type KernelRecord = ExecRecord | ExitRecord | ForkRecord | TestRecord;
