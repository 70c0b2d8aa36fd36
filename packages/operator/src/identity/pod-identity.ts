// Pod → PodIdentity: what a node's sensor needs to attribute processes to pods and to evaluate pod and container
// selectors (docs/identity.md). Pure.
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import type { ContainerIdentity, PodIdentity } from '@vigil/sensor';

const CONTAINER_ID = /^([a-z-]+):\/\/([0-9a-f]{64})$/;

function containers(list: readonly V1ContainerStatus[] | undefined, kind: ContainerIdentity['kind']): ContainerIdentity[] {
  const out: ContainerIdentity[] = [];
  for (const s of list ?? []) {
    const m = CONTAINER_ID.exec(s.containerID ?? '');
    if (!m) continue; // not started yet: listed once the kubelet reports its id
    out.push({ id: m[2] as string, runtime: m[1] as string, name: s.name, image: s.image, imageId: s.imageID, kind });
  }
  return out;
}

/**
 * The owning workload, as Tetragon reports it: a ReplicaSet whose name is `<deployment>-<pod-template-hash>` is
 * reported as that Deployment (without reading the ReplicaSet), other controllers as themselves, a pod without a
 * controller as itself with kind Pod.
 */
export function workloadOf(pod: V1Pod): { workload: string; workloadKind: string } {
  const name = pod.metadata?.name ?? '';
  const owner = (pod.metadata?.ownerReferences ?? []).find((r) => r.controller) ?? pod.metadata?.ownerReferences?.[0];
  if (!owner) return { workload: name, workloadKind: 'Pod' };
  const hash = pod.metadata?.labels?.['pod-template-hash'];
  if (owner.kind === 'ReplicaSet' && hash && owner.name.endsWith(`-${hash}`)) return { workload: owner.name.slice(0, -hash.length - 1), workloadKind: 'Deployment' };
  return { workload: owner.name, workloadKind: owner.kind };
}

/** The identity of a pod bound to a node; undefined while it is not scheduled (no spec.nodeName) or has no uid. */
export function podIdentity(pod: V1Pod): PodIdentity | undefined {
  const uid = pod.metadata?.uid;
  const node = pod.spec?.nodeName;
  if (!uid || !node) return undefined;
  return {
    uid,
    namespace: pod.metadata?.namespace ?? 'default',
    name: pod.metadata?.name ?? '',
    node,
    labels: { ...(pod.metadata?.labels ?? {}) },
    ...workloadOf(pod),
    containers: [
      ...containers(pod.status?.initContainerStatuses, 'init'),
      ...containers(pod.status?.containerStatuses, 'regular'),
      ...containers(pod.status?.ephemeralContainerStatuses, 'ephemeral'),
    ],
  };
}
