/**
 * Cgroup path → container: what a container runtime's cgroup naming says about the process inside. Pure: the
 * path is the v2 path (the `0::` line of /proc/<pid>/cgroup, or a directory below the cgroup2 mount, relative to
 * it), or a v1 controller path (metadata only).
 *
 * Patterns (systemd cgroup driver, then cgroupfs driver):
 *   containerd   …/kubepods-<qos>-pod<uid_with_underscores>.slice/cri-containerd-<64 hex>.scope
 *                /kubepods/<qos>/pod<uid>/<64 hex>
 *   CRI-O        …/kubepods-<qos>-pod<uid>.slice/crio-<64 hex>.scope  (crio-conmon-<id>.scope: the monitor, not
 *                the container); cgroupfs: /kubepods/<qos>/pod<uid>/crio-<64 hex>
 *   Docker       /system.slice/docker-<64 hex>.scope, /docker/<64 hex>; under kubepods (cri-dockerd)
 *                …-pod<uid>.slice/docker-<64 hex>.scope, /kubepods/<qos>/pod<uid>/<64 hex>
 *   Podman       /machine.slice/libpod-<64 hex>.scope, /libpod_parent/libpod-<64 hex>
 * The guaranteed QoS class has no <qos> level. Nested set-ups (kind, a kubelet inside a container) put a whole
 * Kubernetes hierarchy below the outer container's cgroup: the innermost container wins, and its pod uid is the
 * nearest `pod<uid>` above it. A container creating cgroups below its own (systemd in a container, nested
 * runtimes) is still that container: the match is on the deepest container level found.
 */

export type ContainerRuntime = 'containerd' | 'cri-o' | 'docker' | 'podman' | 'unknown';

export type CgroupIdentity =
  /** A container's cgroup (or below it). podUid when the cgroup sits below a Kubernetes pod cgroup. */
  | { kind: 'container'; containerId: string; runtime: ContainerRuntime; podUid?: string }
  /** A pod cgroup itself (no container level below): the pod's own slice, e.g. a process moved there. */
  | { kind: 'pod'; podUid: string }
  /** A runtime's monitor process next to a container (CRI-O's conmon): part of the pod, not of a container. */
  | { kind: 'runtime'; runtime: ContainerRuntime; podUid?: string }
  /** Anything else: a host process. */
  | { kind: 'host' };

const HEX64 = '([0-9a-f]{64})';
const CONTAINER_PATTERNS: ReadonlyArray<{ re: RegExp; runtime: ContainerRuntime }> = [
  { re: new RegExp(`^cri-containerd-${HEX64}\\.scope$`), runtime: 'containerd' },
  { re: new RegExp(`^crio-${HEX64}(?:\\.scope)?$`), runtime: 'cri-o' },
  { re: new RegExp(`^docker-${HEX64}\\.scope$`), runtime: 'docker' },
  { re: new RegExp(`^libpod-${HEX64}(?:\\.scope)?$`), runtime: 'podman' },
  // cgroupfs driver: the bare id, as containerd, CRI-O (without prefix) and Docker name it below a pod or /docker.
  { re: new RegExp(`^${HEX64}$`), runtime: 'unknown' },
];
const CONMON = new RegExp(`^crio-conmon-${HEX64}\\.scope$`);
/** systemd: kubepods-burstable-pod<uid with _>.slice; cgroupfs: pod<uid>. */
const POD_SYSTEMD = /^(?:[a-z0-9-]*-)?kubepods(?:-[a-z]+)?-pod([0-9a-f_]{36})\.slice$/;
const POD_CGROUPFS = /^pod([0-9a-f-]{36})$/;

function podUidOf(segment: string): string | undefined {
  const s = POD_SYSTEMD.exec(segment);
  if (s) return (s[1] as string).replace(/_/g, '-');
  const c = POD_CGROUPFS.exec(segment);
  return c ? (c[1] as string) : undefined;
}

/** What `path` (a cgroup path, `/`-separated, leading slash optional) says about its processes. */
export function parseCgroupPath(path: string): CgroupIdentity {
  const segs = path.split('/').filter((s) => s !== '');
  let podUid: string | undefined;
  let podAt = -1;
  let found: CgroupIdentity | undefined;
  let parentDir = '';
  for (let i = 0; i < segs.length; i++) {
    const seg = segs[i] as string;
    const uid = podUidOf(seg);
    if (uid) {
      podUid = uid;
      podAt = i;
      found = undefined; // a pod level below an outer container: the nested hierarchy is what counts
      parentDir = seg;
      continue;
    }
    if (CONMON.test(seg)) {
      found = podUid ? { kind: 'runtime', runtime: 'cri-o', podUid } : { kind: 'runtime', runtime: 'cri-o' };
      parentDir = seg;
      continue;
    }
    for (const { re, runtime } of CONTAINER_PATTERNS) {
      const m = re.exec(seg);
      if (!m) continue;
      // A bare 64-hex directory is a container only below a pod, /docker or /kubepods-style parents.
      let rt = runtime;
      if (rt === 'unknown') {
        if (parentDir === 'docker') rt = 'docker';
        else if (podAt !== i - 1) break;
      }
      // The deepest container level wins only if it is directly below a pod or at the runtime's top level;
      // a container's own sub-cgroups keep the container found above them.
      if (found && found.kind === 'container' && !(podAt === i - 1)) break;
      found = podUid && podAt < i ? { kind: 'container', containerId: m[1] as string, runtime: rt, podUid } : { kind: 'container', containerId: m[1] as string, runtime: rt };
      break;
    }
    parentDir = seg;
  }
  if (found) return found;
  if (podUid !== undefined && podAt === segs.length - 1) return { kind: 'pod', podUid };
  if (podUid !== undefined) return { kind: 'pod', podUid };
  return { kind: 'host' };
}

/** Runtime prefix of a Kubernetes containerStatus.containerID (`containerd://…`, `cri-o://…`, `docker://…`). */
export function splitContainerId(statusId: string): { runtime: ContainerRuntime; id: string } | undefined {
  const m = /^([a-z-]+):\/\/([0-9a-f]{64})$/.exec(statusId);
  if (!m) return undefined;
  const scheme = m[1] as string;
  const runtime: ContainerRuntime = scheme === 'containerd' ? 'containerd' : scheme === 'cri-o' ? 'cri-o' : scheme === 'docker' ? 'docker' : 'unknown';
  return { runtime, id: m[2] as string };
}
