/**
 * Test support: a fake Kubernetes node in real cgroup v2 directories (the kubelet's systemd-driver layout below
 * a throw-away root), so identity tests have pod and container cgroups with real cgroup ids:
 *   <mount>/vigil-test-<pid>-<n>/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid>.slice/
 *     cri-containerd-<id>.scope
 * plus a `host` cgroup beside kubepods.slice for "host" processes.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { closeSync, constants, mkdirSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BpfObject, type BpfLink } from '../libbpf/index.js';
import { cgroupIdOf, requireCgroupV2Mount } from '../mechanisms/cgroup.js';
import { IDENTITY_MAP_NAME } from './abi.js';

/**
 * bpf/progs/test_identity.bpf.o with only its cgroup connect4 program, reading the pinned vg_identity at
 * `identityPin`, attached at cgroup `root`: connects from below `root` are decided by the set its
 * vg_idtest_cfg names. Disposing detaches it.
 */
export function attachIdentityConnectProbe(objectPath: string, identityPin: string, root: string): { obj: BpfObject; link: BpfLink } & Disposable {
  const obj = BpfObject.open(objectPath);
  try {
    for (const p of ['vg_idtest_tp_btf', 'vg_idtest_raw_tp', 'vg_idtest_kprobe', 'vg_idtest_fentry', 'vg_idtest_lsm']) obj.program(p).setAutoload(false);
    obj.map(IDENTITY_MAP_NAME).setPinPath(identityPin);
    obj.load();
    const fd = openSync(root, constants.O_RDONLY | constants.O_DIRECTORY);
    let link: BpfLink;
    try {
      link = obj.program('vg_idtest_connect4').attachCgroup(fd);
    } finally {
      closeSync(fd);
    }
    return {
      obj,
      link,
      [Symbol.dispose]() {
        link.destroy();
        obj.close();
      },
    };
  } catch (err) {
    obj.close();
    throw err;
  }
}

let counter = 0;

export interface FakeContainer {
  id: string;
  name: string;
  dir: string;
  cgroupId: bigint;
}

export interface FakePod {
  uid: string;
  dir: string;
  cgroupId: bigint;
  containers: FakeContainer[];
}

export class FakeNode implements Disposable {
  readonly root: string;
  readonly kubepods: string;
  readonly host: string;
  readonly hostId: bigint;
  private readonly dirs: string[] = [];

  constructor(parent: string = requireCgroupV2Mount()) {
    this.root = join(parent, `vigil-test-${process.pid}-pods-${++counter}`);
    this.kubepods = join(this.root, 'kubepods.slice');
    this.host = join(this.root, 'host');
    for (const d of [this.root, this.kubepods, join(this.kubepods, 'kubepods-burstable.slice'), this.host]) this.mk(d);
    this.hostId = cgroupIdOf(this.host);
  }

  private mk(d: string): void {
    mkdirSync(d);
    this.dirs.push(d);
  }

  /** A pod cgroup with one cgroup per container name. */
  addPod(containerNames: readonly string[], uid: string = randomUUID()): FakePod {
    const dir = join(this.kubepods, 'kubepods-burstable.slice', `kubepods-burstable-pod${uid.replace(/-/g, '_')}.slice`);
    this.mk(dir);
    const containers = containerNames.map((name) => this.addContainer(dir, name));
    return { uid, dir, cgroupId: cgroupIdOf(dir), containers };
  }

  addContainer(podDir: string, name: string, id: string = randomBytes(32).toString('hex')): FakeContainer {
    const dir = join(podDir, `cri-containerd-${id}.scope`);
    this.mk(dir);
    return { id, name, dir, cgroupId: cgroupIdOf(dir) };
  }

  /** Removes one container's cgroup (processes left in it are moved to the root first). */
  removeContainer(c: FakeContainer): void {
    this.rm(c.dir);
  }

  /** Removes a pod's cgroups (processes left in them are moved to the root first). */
  removePod(pod: FakePod): void {
    for (const c of pod.containers) this.rm(c.dir);
    this.rm(pod.dir);
  }

  private rm(d: string): void {
    try {
      for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) writeFileSync(join(this.root, 'cgroup.procs'), pid);
      rmdirSync(d);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    const i = this.dirs.indexOf(d);
    if (i >= 0) this.dirs.splice(i, 1);
  }

  close(): void {
    const mount = requireCgroupV2Mount();
    for (const d of [...this.dirs].reverse()) {
      try {
        for (const pid of readFileSync(join(d, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean)) writeFileSync(join(mount, 'cgroup.procs'), pid);
        rmdirSync(d);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    this.dirs.length = 0;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/** The value, or a thrown error naming what was missing (tests: instead of non-null assertions). */
export function must<T>(v: T | null | undefined, what = 'value'): T {
  if (v === null || v === undefined) throw new Error(`${what} is missing`);
  return v;
}
