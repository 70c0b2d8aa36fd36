/**
 * The sensor exempts itself from kill and deny rules by cgroup (pids are reused, binaries are shared). That only
 * works if its cgroup is its own: on hosts where it starts in the cgroup v2 root (hybrid hosts, a shell on a
 * test machine), exempting that cgroup would exempt every process still in the root. So a sensor found in the
 * root moves itself into `<cgroup v2 mount>/vigil-sensor` first. In Kubernetes the pod's cgroup already is its own.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { cgroupDirOf, cgroupIdOf, requireCgroupV2Mount } from '../mechanisms/cgroup.js';

export interface OwnCgroup {
  /** the sensor's cgroup v2 directory */
  path: string;
  id: bigint;
  /** true when the sensor moved itself out of the root */
  moved: boolean;
}

export function ensureOwnCgroup(name = 'vigil-sensor'): OwnCgroup {
  const mount = requireCgroupV2Mount();
  const current = cgroupDirOf('self');
  const id = cgroupIdOf(current);
  if (id !== cgroupIdOf(mount)) return { path: current, id, moved: false };
  const own = join(mount, name);
  mkdirSync(own, { recursive: true });
  writeFileSync(join(own, 'cgroup.procs'), `${process.pid}\n`); // moves every thread of this process
  return { path: own, id: cgroupIdOf(own), moved: true };
}
