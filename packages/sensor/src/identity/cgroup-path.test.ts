import { describe, expect, it } from '@jest/globals';
import { parseCgroupPath, splitContainerId } from './cgroup-path.js';

const C = 'a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90';
const D = 'ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100';
const UID = '5f0a3b1c-9d2e-4f6a-8b7c-0123456789ab';
const UID_ = UID.replace(/-/g, '_');

describe('parseCgroupPath: container runtimes and cgroup drivers', () => {
  it.each([
    ['containerd, systemd, burstable', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${C}.scope`, 'containerd'],
    ['containerd, systemd, besteffort', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/cri-containerd-${C}.scope`, 'containerd'],
    ['containerd, systemd, guaranteed (no QoS level)', `/kubepods.slice/kubepods-pod${UID_}.slice/cri-containerd-${C}.scope`, 'containerd'],
    ['CRI-O, systemd', `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-${C}.scope`, 'cri-o'],
    ['CRI-O, cgroupfs', `/kubepods/burstable/pod${UID}/crio-${C}`, 'cri-o'],
    ['containerd or docker, cgroupfs', `/kubepods/burstable/pod${UID}/${C}`, 'unknown'],
    ['cgroupfs, guaranteed', `/kubepods/pod${UID}/${C}`, 'unknown'],
    ['cri-dockerd, systemd', `/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${UID_}.slice/docker-${C}.scope`, 'docker'],
  ])('%s', (_name, path, runtime) => {
    expect(parseCgroupPath(path)).toEqual({ kind: 'container', containerId: C, runtime, podUid: UID });
  });

  it('plain Docker and Podman containers have no pod', () => {
    expect(parseCgroupPath(`/system.slice/docker-${C}.scope`)).toEqual({ kind: 'container', containerId: C, runtime: 'docker' });
    expect(parseCgroupPath(`/docker/${C}`)).toEqual({ kind: 'container', containerId: C, runtime: 'docker' });
    expect(parseCgroupPath(`/machine.slice/libpod-${C}.scope/container`)).toEqual({ kind: 'container', containerId: C, runtime: 'podman' });
  });

  it('a container’s own sub-cgroups stay that container; a nested runtime inside it does not take over', () => {
    const base = `/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/cri-containerd-${C}.scope`;
    expect(parseCgroupPath(`${base}/init.scope`)).toEqual({ kind: 'container', containerId: C, runtime: 'containerd', podUid: UID });
    expect(parseCgroupPath(`${base}/docker/${D}`)).toEqual({ kind: 'container', containerId: C, runtime: 'containerd', podUid: UID });
  });

  it('kind: a Kubernetes hierarchy inside a Docker container resolves to the inner container and pod', () => {
    const p = `/system.slice/docker-${D}.scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod${UID_}.slice/cri-containerd-${C}.scope`;
    expect(parseCgroupPath(p)).toEqual({ kind: 'container', containerId: C, runtime: 'containerd', podUid: UID });
    // the kind node's own processes (kubelet, containerd) are in the outer container
    expect(parseCgroupPath(`/system.slice/docker-${D}.scope/system.slice/containerd.service`)).toEqual({ kind: 'container', containerId: D, runtime: 'docker' });
  });

  it('pod slices, conmon and host cgroups', () => {
    expect(parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice`)).toEqual({ kind: 'pod', podUid: UID });
    expect(parseCgroupPath(`/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${UID_}.slice/crio-conmon-${C}.scope`)).toEqual({ kind: 'runtime', runtime: 'cri-o', podUid: UID });
    for (const host of ['/', '', '/system.slice/kubelet.service', '/user.slice/user-0.slice/session-1.scope', '/kubepods.slice', '/kubepods/burstable', `/system.slice/${C}`, `/system.slice/cri-containerd-${C.slice(1)}.scope`])
      expect(parseCgroupPath(host)).toEqual({ kind: 'host' });
  });
});

describe('splitContainerId', () => {
  it('splits Kubernetes containerStatus ids by runtime', () => {
    expect(splitContainerId(`containerd://${C}`)).toEqual({ runtime: 'containerd', id: C });
    expect(splitContainerId(`cri-o://${C}`)).toEqual({ runtime: 'cri-o', id: C });
    expect(splitContainerId(`docker://${C}`)).toEqual({ runtime: 'docker', id: C });
    expect(splitContainerId('containerd://short')).toBeUndefined();
    expect(splitContainerId('')).toBeUndefined();
  });
});
