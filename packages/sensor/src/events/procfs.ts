/**
 * Reads /proc for processes that were running before the sensor: their arguments, cwd and credentials. Their
 * identity (ktime, parent) comes from the kernel's vg_procs entries, so exec_ids match what the BPF side uses.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';

export interface ProcSnapshot {
  pid: number;
  ppid: number;
  binary: string;
  argv: string[];
  cwd: string;
  uid: number;
  euid: number;
  gid: number;
  egid: number;
  auid: number;
  /** start time in clock ticks after boot (field 22 of /proc/PID/stat) */
  startTicks: number;
  kernelThread: boolean;
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function link(path: string): string {
  try {
    return readlinkSync(path).replace(/ \(deleted\)$/, '');
  } catch {
    return '';
  }
}

export function readProc(pid: number, root = '/proc'): ProcSnapshot | undefined {
  const base = `${root}/${pid}`;
  const stat = read(`${base}/stat`);
  const status = read(`${base}/status`);
  if (!stat || !status) return undefined; // gone
  // comm may contain spaces and parentheses: fields start after the last ')'
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  const flags = Number(rest[6]);
  const startTicks = Number(rest[19]);
  const ids = (key: string) => (/^(\w+):\s+(\d+)\s+(\d+)/m.exec(status.split('\n').find((l) => l.startsWith(`${key}:`)) ?? '') ?? []).slice(2, 4).map(Number);
  const [uid = 0, euid = 0] = ids('Uid');
  const [gid = 0, egid = 0] = ids('Gid');
  const cmdline = read(`${base}/cmdline`) ?? '';
  const argv = cmdline.length ? cmdline.replace(/\0$/, '').split('\0') : [];
  const auid = Number(read(`${base}/loginuid`) ?? '4294967295');
  return {
    pid,
    ppid,
    binary: link(`${base}/exe`),
    argv,
    cwd: link(`${base}/cwd`),
    uid,
    euid,
    gid,
    egid,
    auid,
    startTicks,
    kernelThread: (flags & 0x00200000) !== 0,
  };
}

export function listPids(root = '/proc'): number[] {
  return readdirSync(root)
    .filter((n) => /^\d+$/.test(n))
    .map(Number);
}
