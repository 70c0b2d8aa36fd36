/**
 * cgroup v2 identities for the enforcement mechanisms: a cgroup's id is the inode number of its directory in the
 * cgroup2 mount (what bpf_get_current_cgroup_id() returns), and a process's v2 cgroup is the `0::` line of
 * /proc/<pid>/cgroup.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroupV2Mount } from '../probe/probe.js';
import { EnforceError } from './errors.js';

/** The cgroup v2 mount, or a NO_CGROUP_V2 error that says what is missing. */
export function requireCgroupV2Mount(): string {
  const mount = findCgroupV2Mount();
  if (!mount) throw new EnforceError('NO_CGROUP_V2', 'no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified: mount one (mount -t cgroup2 none /sys/fs/cgroup/unified)');
  return mount;
}

/** The cgroup id of a cgroup v2 directory. */
export function cgroupIdOf(dir: string): bigint {
  return statSync(dir, { bigint: true }).ino;
}

/** The cgroup v2 directory of `pid` (default: this process). */
export function cgroupDirOf(pid: number | 'self' = 'self'): string {
  const line = readFileSync(`/proc/${pid}/cgroup`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('0::'));
  if (line === undefined) throw new EnforceError('NO_CGROUP_V2', `/proc/${pid}/cgroup has no cgroup v2 (0::) line`);
  return join(requireCgroupV2Mount(), line.slice(3));
}

/** The cgroup v2 id of `pid` (default: this process): the id the mechanisms exempt by default. */
export function cgroupIdOfPid(pid: number | 'self' = 'self'): bigint {
  return cgroupIdOf(cgroupDirOf(pid));
}
