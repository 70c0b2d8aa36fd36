/** Which filesystem a path is on, by statfs magic: the one place the sensor decides "is this a bpffs?". */
import { statfsSync } from 'node:fs';

export const BPF_FS_MAGIC = 0xcafe4a11;
export const TRACEFS_MAGIC = 0x74726163;
export const CGROUP2_SUPER_MAGIC = 0x63677270;

/** The statfs type of `path`, or undefined when it cannot be read. */
export function fsType(path: string): number | undefined {
  try {
    return Number(statfsSync(path).type);
  } catch {
    return undefined;
  }
}

export function isBpffs(path: string): boolean {
  return fsType(path) === BPF_FS_MAGIC;
}
