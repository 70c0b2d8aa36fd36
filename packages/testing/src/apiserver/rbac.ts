// Optional bearer-token authentication and a minimal RBAC authorizer. Each token maps to a user and the
// rules a ClusterRole (or, with `namespaces`, a namespaced Role binding) would grant. Unauthenticated
// requests get 401; requests outside the rules get kube-apiserver's 403 Forbidden message, e.g.
// `pods is forbidden: User "sensor" cannot list resource "pods" in API group "" at the cluster scope`.
import { ApiServerError, qualifiedResource } from './errors.js';

export interface PolicyRule {
  verbs: string[];
  /** API groups ('' is core); '*' matches all. */
  apiGroups: string[];
  /** Resources, with `plural/subresource` for subresources; '*' matches all. */
  resources: string[];
  resourceNames?: string[];
  /** Restricts the rule to these namespaces, as a RoleBinding would; absent means cluster-wide. */
  namespaces?: string[];
}

export interface TokenIdentity {
  user: string;
  groups?: string[];
  /** Rules granted, or 'cluster-admin' for everything. */
  rules: PolicyRule[] | 'cluster-admin';
}

export interface AuthOptions {
  /** Bearer token → identity. */
  tokens: Record<string, TokenIdentity>;
}

export interface ResourceAttributes {
  verb: string;
  group: string;
  resource: string;
  subresource?: string;
  name?: string;
  namespace?: string;
}

function has(list: string[] | undefined, v: string): boolean {
  return list !== undefined && (list.includes('*') || list.includes(v));
}

export function authenticate(auth: AuthOptions | undefined, header: string | undefined): TokenIdentity {
  if (!auth) return { user: 'system:admin', groups: ['system:masters'], rules: 'cluster-admin' };
  const m = /^Bearer\s+(\S+)$/i.exec(header ?? '');
  const id = m ? auth.tokens[(m[1] ?? '')] : undefined;
  if (!id) throw new ApiServerError('Unauthorized', 401, 'Unauthorized');
  return id;
}

export function allowed(id: TokenIdentity, a: ResourceAttributes): boolean {
  if (id.rules === 'cluster-admin') return true;
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  return id.rules.some(
    (r) =>
      has(r.verbs, a.verb) &&
      has(r.apiGroups, a.group) &&
      has(r.resources, res) &&
      (r.resourceNames === undefined || r.resourceNames.length === 0 || (a.name !== undefined && r.resourceNames.includes(a.name))) &&
      (r.namespaces === undefined || (a.namespace !== undefined && r.namespaces.includes(a.namespace))),
  );
}

export function forbidden(id: TokenIdentity, a: ResourceAttributes): ApiServerError {
  const res = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const subject = a.name ? `${qualifiedResource(a.group, a.resource)} "${a.name}"` : qualifiedResource(a.group, a.resource);
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  const details: { name?: string; group: string; kind: string } = { group: a.group, kind: a.resource };
  if (a.name) details.name = a.name;
  return new ApiServerError(
    'Forbidden',
    403,
    `${subject} is forbidden: User "${id.user}" cannot ${a.verb} resource "${res}" in API group "${a.group}" ${scope}`,
    details,
  );
}

export function authorize(id: TokenIdentity, a: ResourceAttributes): void {
  if (!allowed(id, a)) throw forbidden(id, a);
}
