// The two policy kinds and how the operator names them.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { TracingPolicyStatus } from '@vigil/policy-schema';

export const GROUP = 'vigil.dev';
export const VERSION = 'v1alpha1';
export const CLUSTER_PLURAL = 'tracingpolicies';
export const NAMESPACED_PLURAL = 'tracingpoliciesnamespaced';

export interface PolicyObject extends KubernetesObject {
  spec?: unknown;
  status?: TracingPolicyStatus;
}

/** Work-queue key of a policy: `status/<namespace or ->/<name>`. */
export function statusKey(obj: PolicyObject): string {
  return `status/${obj.metadata?.namespace ?? '-'}/${obj.metadata?.name ?? ''}`;
}

export function parseStatusKey(key: string): { namespace: string | undefined; name: string } | undefined {
  const m = /^status\/([^/]+)\/(.+)$/.exec(key);
  if (!m) return undefined;
  return { namespace: m[1] === '-' ? undefined : m[1], name: m[2] as string };
}
