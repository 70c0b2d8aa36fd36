/**
 * The per-node identity table on NATS KV (docs/identity.md, ADR 0010): what the operator knows about the pods of
 * each node, one key per pod, written by the operator only.
 *
 *   bucket vigil-identity
 *     pod.<node>.<podUid>   PodIdentity (JSON); a KV delete (tombstone) when the pod is gone or left the node
 *
 * <node> and <podUid> are encodeToken()s (transport/protocol.ts): node names contain dots, and node `a` watching
 * `pod.a.>` must never see node `a.b`'s pods. One key per pod rather than one value per node: a node with 1,000
 * pods would otherwise rewrite a megabyte for every pod change, and NATS' default max payload is 1 MiB.
 */
import { decodeToken, encodeToken } from '../transport/protocol.js';

export const IDENTITY_BUCKET = 'vigil-identity';

export const identityKeys = {
  pod: (node: string, podUid: string): string => `pod.${encodeToken(node)}.${encodeToken(podUid)}`,
  podsOfNode: (node: string): string => `pod.${encodeToken(node)}.>`,
} as const;

export function parsePodKey(key: string): { node: string; podUid: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || parts[0] !== 'pod') return undefined;
  return { node: decodeToken(parts[1] as string), podUid: decodeToken(parts[2] as string) };
}

export interface ContainerIdentity {
  /** Runtime container id (64 hex digits, without the `containerd://` scheme). */
  id: string;
  /** containerd | cri-o | docker | … (the scheme of containerStatus.containerID) */
  runtime: string;
  name: string;
  /** The image as the pod spec names it (containerStatus.image), e.g. docker.io/library/nginx:1.27 */
  image: string;
  /** The resolved image (containerStatus.imageID), e.g. docker.io/library/nginx@sha256:… */
  imageId: string;
  /** init | regular | ephemeral */
  kind?: 'init' | 'regular' | 'ephemeral';
}

export interface PodIdentity {
  uid: string;
  namespace: string;
  name: string;
  node: string;
  labels: Record<string, string>;
  /** Owning workload (Deployment for a ReplicaSet with a pod-template-hash, else the controller; the pod itself when none). */
  workload: string;
  workloadKind: string;
  /** Containers that have a runtime id (containers not started yet are absent until they are). */
  containers: ContainerIdentity[];
  /** metadata.resourceVersion the value was built from (for tracing a change end to end) */
  resourceVersion?: string;
}
