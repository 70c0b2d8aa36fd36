// Discovery documents: the legacy /api, /apis, /apis/<group>, /api/v1 and /apis/<group>/<version> lists, and
// aggregated discovery (apidiscovery.k8s.io v2 and v2beta1) that kubectl 1.26+ asks for with
// `Accept: application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList`.
import { ALL_VERBS, apiVersionOf, type ResourceType } from './resources.js';
import type { Obj } from './store.js';

const SUBRESOURCE_VERBS = ['get', 'patch', 'update'];

/** Kubernetes version priority: GA > beta > alpha, higher numbers first (k8s.io/apimachinery version.CompareKubeAwareVersionStrings). */
export function compareKubeVersions(a: string, b: string): number {
  const parse = (v: string): [number, number, number] | undefined => {
    const m = /^v(\d+)(?:(alpha|beta)(\d+))?$/.exec(v);
    if (!m) return undefined;
    const stage = m[2] === undefined ? 3 : m[2] === 'beta' ? 2 : 1;
    return [stage, Number(m[1]), Number(m[3] ?? 0)];
  };
  const pa = parse(a);
  const pb = parse(b);
  if (!pa || !pb) return pa ? -1 : pb ? 1 : a < b ? -1 : 1;
  if (pa[0] !== pb[0]) return pb[0] - pa[0];
  if (pa[1] !== pb[1]) return pb[1] - pa[1];
  return pb[2] - pa[2];
}

interface GroupInfo {
  name: string;
  versions: string[];
  preferred: string;
}

export function groups(types: ResourceType[]): GroupInfo[] {
  const byGroup = new Map<string, Set<string>>();
  for (const t of types) {
    if (t.group === '') continue;
    const s = byGroup.get(t.group) ?? new Set<string>();
    s.add(t.version);
    byGroup.set(t.group, s);
  }
  return [...byGroup.entries()].map(([name, vs]) => {
    const versions = [...vs].sort(compareKubeVersions);
    return { name, versions, preferred: versions[0] ?? '' };
  });
}

export function apiVersions(serverAddress: string): Obj {
  return {
    kind: 'APIVersions',
    versions: ['v1'],
    serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }],
  };
}

function groupDoc(g: GroupInfo): Obj {
  return {
    name: g.name,
    versions: g.versions.map((v) => ({ groupVersion: `${g.name}/${v}`, version: v })),
    preferredVersion: { groupVersion: `${g.name}/${g.preferred}`, version: g.preferred },
  };
}

export function apiGroupList(types: ResourceType[]): Obj {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups(types).map(groupDoc) };
}

export function apiGroup(types: ResourceType[], group: string): Obj | undefined {
  const g = groups(types).find((x) => x.name === group);
  return g ? { kind: 'APIGroup', apiVersion: 'v1', ...groupDoc(g) } : undefined;
}

export function apiResourceList(types: ResourceType[], group: string, version: string): Obj | undefined {
  const inGv = types.filter((t) => t.group === group && t.version === version);
  if (inGv.length === 0) return undefined;
  const resources: Obj[] = [];
  for (const t of inGv) {
    const r: Obj = { name: t.plural, singularName: t.singular, namespaced: t.namespaced, kind: t.kind, verbs: t.verbs ?? ALL_VERBS };
    if (t.shortNames.length) r.shortNames = t.shortNames;
    if (t.categories.length) r.categories = t.categories;
    resources.push(r);
    if (t.statusSubresource) resources.push({ name: `${t.plural}/status`, singularName: '', namespaced: t.namespaced, kind: t.kind, verbs: SUBRESOURCE_VERBS });
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
}

function discoveryResource(t: ResourceType): Obj {
  const r: Obj = {
    resource: t.plural,
    responseKind: { group: t.group, version: t.version, kind: t.kind },
    scope: t.namespaced ? 'Namespaced' : 'Cluster',
    singularResource: t.singular,
    verbs: t.verbs ?? ALL_VERBS,
  };
  if (t.shortNames.length) r.shortNames = t.shortNames;
  if (t.categories.length) r.categories = t.categories;
  if (t.statusSubresource) {
    r.subresources = [{ subresource: 'status', responseKind: { group: t.group, version: t.version, kind: t.kind }, verbs: SUBRESOURCE_VERBS }];
  }
  return r;
}

/** Aggregated discovery for /api (legacy: true) or /apis, in apidiscovery.k8s.io/`version`. */
export function aggregatedDiscovery(types: ResourceType[], legacy: boolean, version: 'v2' | 'v2beta1'): Obj {
  const items: Obj[] = [];
  if (legacy) {
    items.push({
      metadata: { creationTimestamp: null },
      versions: [{ version: 'v1', resources: types.filter((t) => t.group === '').map(discoveryResource), freshness: 'Current' }],
    });
  } else {
    for (const g of groups(types)) {
      items.push({
        metadata: { name: g.name, creationTimestamp: null },
        versions: g.versions.map((v) => ({
          version: v,
          resources: types.filter((t) => t.group === g.name && t.version === v).map(discoveryResource),
          freshness: 'Current',
        })),
      });
    }
  }
  return { kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${version}`, metadata: {}, items };
}
