/**
 * Cgroup id → container, and pod / container → cgroup ids, on this node's cgroup v2 hierarchy.
 *
 * - identityOf(cgroupId, pid): what runs in a cgroup (container id + runtime + pod uid, a pod, or the host), cached
 *   by cgroup id. The path comes from the process (`0::` line of /proc/<pid>/cgroup, checked against the id: a
 *   cgroup id is the inode number of the cgroup's directory), else from the index of pod and container cgroups
 *   this resolver built. Host results are cached too; cgroup ids are not reused while the cgroup exists, and
 *   forget() drops entries of removed cgroups.
 * - podCgroup(uid) / containerCgroup(id): the cgroup directories of a pod (its kubepods…pod<uid> slice) and of a
 *   container (the runtime's scope below it), found by name below the kubepods roots: a few stats, no walk of
 *   the whole hierarchy.
 * - support(): identity sets need pods in the v2 hierarchy. A node whose kubelet uses cgroup v1 (pods only in v1
 *   controllers) refuses identity selectors with that reason; enrichment from /proc/<pid>/cgroup paths still works.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { findCgroupV2Mount } from '../probe/probe.js';
import { parseCgroupPath, type CgroupIdentity } from './cgroup-path.js';

export type Resolved = CgroupIdentity & { path?: string };

export interface CgroupDir {
  id: bigint;
  /** absolute directory */
  dir: string;
}

export interface CgroupResolverOptions {
  /** the cgroup2 mount (default: /sys/fs/cgroup or /sys/fs/cgroup/unified, whichever is cgroup2) */
  mount?: string;
  /** kubepods root directories (absolute); default: found below the mount (kubepods.slice, kubepods, …) */
  kubepodsRoots?: string[];
  /** where the v1 controllers are mounted, for the v1-only check (default /sys/fs/cgroup) */
  v1Root?: string;
  procRoot?: string;
}

const ROOT_NAMES = new Set(['kubepods.slice', 'kubepods', 'kubelet-kubepods.slice']);
const QOS_SYSTEMD = ['', 'kubepods-burstable.slice', 'kubepods-besteffort.slice'];
const QOS_CGROUPFS = ['', 'burstable', 'besteffort'];
const CACHE_MAX = 65536;

function inoOf(dir: string): bigint | undefined {
  try {
    return statSync(dir, { bigint: true }).ino;
  } catch {
    return undefined;
  }
}

export class CgroupResolver {
  readonly mount: string | undefined;
  private roots: string[] | undefined;
  private readonly cache = new Map<bigint, Resolved>();
  /** cgroup dirs this resolver found or was told about (hook registrations): id → relative path */
  private readonly known = new Map<bigint, string>();
  private readonly registered = new Map<string, CgroupDir>();
  private readonly procRoot: string;
  private lastRootScan = 0;
  stats = { hits: 0, misses: 0, procReads: 0, unresolved: 0 };

  constructor(private readonly o: CgroupResolverOptions = {}) {
    this.mount = o.mount ?? findCgroupV2Mount();
    this.roots = o.kubepodsRoots;
    this.procRoot = o.procRoot ?? '/proc';
  }

  /** Whether identity sets (cgroup-id membership) can work on this node, and why not. */
  support(): { ok: true } | { ok: false; reason: string } {
    if (!this.mount) return { ok: false, reason: 'no cgroup2 mount (/sys/fs/cgroup or /sys/fs/cgroup/unified): identity selectors need the cgroup v2 hierarchy' };
    if (this.kubepodsRoots().length > 0) return { ok: true };
    const v1 = this.o.v1Root ?? '/sys/fs/cgroup';
    for (const ctrl of ['memory', 'cpu,cpuacct', 'cpu', 'pids', 'systemd']) {
      for (const name of ['kubepods.slice', 'kubepods']) {
        if (inoOf(join(v1, ctrl, name)) !== undefined)
          return { ok: false, reason: `pods run in cgroup v1 controllers only (${join(v1, ctrl, name)} exists, no kubepods in the cgroup2 hierarchy at ${this.mount}): identity selectors need the kubelet on cgroup v2` };
      }
    }
    return { ok: true }; // no pods yet: sets stay empty until some appear
  }

  /** The kubepods root directories below the mount (found once; again at most every 5 s while none exist). */
  kubepodsRoots(): string[] {
    if (this.roots && (this.roots.length > 0 || Date.now() - this.lastRootScan < 5000)) return this.roots;
    this.lastRootScan = Date.now();
    const found: string[] = [];
    if (this.mount) {
      const walk = (dir: string, depth: number): void => {
        let ents;
        try {
          ents = readdirSync(dir, { withFileTypes: true });
        } catch {
          return;
        }
        for (const e of ents) {
          if (!e.isDirectory()) continue;
          const p = join(dir, e.name);
          if (ROOT_NAMES.has(e.name)) found.push(p);
          else if (depth < 4) walk(p, depth + 1);
        }
      };
      walk(this.mount, 0);
    }
    this.roots = found;
    return found;
  }

  /** The cgroup of pod `uid` (its slice below a kubepods root), if it exists now. */
  podCgroup(uid: string): CgroupDir | undefined {
    const u = uid.replace(/-/g, '_');
    for (const root of this.kubepodsRoots()) {
      const systemd = root.endsWith('.slice');
      const prefix = root.endsWith('kubelet-kubepods.slice') ? 'kubelet-kubepods' : 'kubepods';
      for (const qos of systemd ? QOS_SYSTEMD : QOS_CGROUPFS) {
        const q = systemd && qos ? qos.replace(/^kubepods/, prefix) : qos;
        const leaf = systemd ? `${q ? q.slice(0, -'.slice'.length) : prefix}-pod${u}.slice` : `pod${uid}`;
        const dir = join(root, q, leaf);
        const id = inoOf(dir);
        if (id !== undefined) {
          this.remember(id, dir);
          return { id, dir };
        }
      }
    }
    return undefined;
  }

  /** The cgroup of container `id` (below its pod's cgroup, or where a runtime hook said it is). */
  containerCgroup(containerId: string, podUid?: string): CgroupDir | undefined {
    const reg = this.registered.get(containerId);
    if (reg && inoOf(reg.dir) === reg.id) return reg;
    const pod = podUid ? this.podCgroup(podUid) : undefined;
    if (!pod) return undefined;
    let ents: string[];
    try {
      ents = readdirSync(pod.dir);
    } catch {
      return undefined;
    }
    for (const name of ents) {
      if (!name.includes(containerId)) continue;
      const dir = join(pod.dir, name);
      const r = parseCgroupPath(dir);
      if (r.kind !== 'container' || r.containerId !== containerId) continue;
      const id = inoOf(dir);
      if (id === undefined) continue;
      this.remember(id, dir);
      return { id, dir };
    }
    return undefined;
  }

  /** Pod cgroups that exist below the kubepods roots now (uid → cgroup), metadata or not. */
  scanPods(): Map<string, CgroupDir> {
    const out = new Map<string, CgroupDir>();
    for (const root of this.kubepodsRoots()) {
      const dirs = [root];
      for (const d of readdirSafe(root)) if (/(burstable|besteffort)(\.slice)?$/.test(d)) dirs.push(join(root, d));
      for (const d of dirs) {
        for (const name of readdirSafe(d)) {
          const r = parseCgroupPath(`/${name}`);
          if (r.kind !== 'pod') continue;
          const dir = join(d, name);
          const id = inoOf(dir);
          if (id === undefined) continue;
          this.remember(id, dir);
          out.set(r.podUid, { id, dir });
        }
      }
    }
    return out;
  }

  /** A runtime hook's word: container `containerId` lives in cgroup directory `dir` (absolute or mount-relative). */
  register(containerId: string, dir: string): CgroupDir {
    const abs = this.mount && !dir.startsWith(this.mount) ? join(this.mount, dir) : dir;
    const id = inoOf(abs);
    if (id === undefined) throw new Error(`cgroup directory ${abs} does not exist`);
    const cd = { id, dir: abs };
    this.registered.set(containerId, cd);
    this.remember(id, abs);
    this.cache.delete(id);
    return cd;
  }

  registration(containerId: string): CgroupDir | undefined {
    return this.registered.get(containerId);
  }

  unregister(containerId: string): void {
    this.registered.delete(containerId);
  }

  /** What runs in cgroup `cgroupId`; `pid` (a process in it) lets the resolver read the path from /proc. */
  identityOf(cgroupId: bigint, pid?: number): Resolved {
    const hit = this.cache.get(cgroupId);
    if (hit) {
      this.stats.hits++;
      return hit;
    }
    this.stats.misses++;
    let rel = this.known.get(cgroupId);
    if (rel === undefined && pid !== undefined) {
      const p = this.pathOfPid(pid);
      if (p !== undefined && (cgroupId === 0n || (this.mount && inoOf(join(this.mount, p)) === cgroupId))) rel = p;
    }
    if (rel === undefined) {
      this.stats.unresolved++;
      return { kind: 'host' }; // not cached: a later lookup may know more
    }
    const r: Resolved = { ...parseCgroupPath(rel), path: rel };
    if (cgroupId !== 0n) this.put(cgroupId, r);
    return r;
  }

  /** The v2 cgroup path of `pid` (relative to the mount), from /proc/<pid>/cgroup. */
  pathOfPid(pid: number): string | undefined {
    this.stats.procReads++;
    try {
      const text = readFileSync(join(this.procRoot, String(pid), 'cgroup'), 'utf8');
      for (const line of text.split('\n')) if (line.startsWith('0::')) return line.slice(3);
    } catch {
      return undefined;
    }
    return undefined;
  }

  /** Drops what is known about a removed cgroup. */
  forget(cgroupId: bigint): void {
    this.cache.delete(cgroupId);
    this.known.delete(cgroupId);
  }

  private remember(id: bigint, dir: string): void {
    const rel = this.mount && dir.startsWith(this.mount) ? dir.slice(this.mount.length) || '/' : dir;
    this.known.set(id, rel);
    if (this.known.size > CACHE_MAX) this.known.delete(this.known.keys().next().value as bigint);
  }

  private put(id: bigint, r: Resolved): void {
    this.cache.set(id, r);
    if (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value as bigint);
  }
}

function readdirSafe(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((e) => e.isDirectory())
      .map((e) => e.name);
  } catch {
    return [];
  }
}
