// OpenAPI documents for the served types. v3 (`/openapi/v3` and one document per group-version) is what
// kubectl 1.32 reads: it looks for the `fieldValidation` query parameter on each type's PATCH operation to
// decide on server-side field validation, and for schemas tagged `x-kubernetes-group-version-kind`. CRD schemas
// are served as declared; built-in types get open schemas (the server validates them itself). v2 is served as
// JSON for clients that ask for it.
import { createHash } from 'node:crypto';
import type { ResourceType } from './resources.js';
import type { Obj } from './store.js';

const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';

export function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

export function schemaName(t: ResourceType): string {
  if (t.builtin) {
    const pkg = t.group === '' ? 'core' : t.group.replace(/\.k8s\.io$/, '').replace(/\./g, '_');
    const base = t.group === 'apiextensions.k8s.io' ? 'io.k8s.apiextensions-apiserver.pkg.apis.apiextensions' : `io.k8s.api.${pkg}`;
    return `${base}.${t.version}.${t.kind}`;
  }
  return `${t.group.split('.').reverse().join('.')}.${t.version}.${t.kind}`;
}

function typeSchema(t: ResourceType, metaRef: string): Obj {
  const gvk = [{ group: t.group, version: t.version, kind: t.kind }];
  const common = {
    apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
    kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
    metadata: { allOf: [{ $ref: metaRef }], description: "Standard object's metadata." },
  };
  if (t.schema) {
    const s = structuredClone(t.schema) as Obj;
    s.properties = { ...((s.properties as Obj | undefined) ?? {}), ...common };
    s['x-kubernetes-group-version-kind'] = gvk;
    return s;
  }
  return {
    type: 'object',
    description: `${t.kind} (served by the Vigil test API server; validated by the server).`,
    properties: common,
    'x-kubernetes-preserve-unknown-fields': true,
    'x-kubernetes-group-version-kind': gvk,
  };
}

const QUERY_PARAMS = ['dryRun', 'fieldManager', 'fieldValidation', 'force', 'pretty'].map((name) => ({
  name,
  in: 'query',
  schema: { type: name === 'force' ? 'boolean' : 'string', uniqueItems: true },
}));

function operations(t: ResourceType, ref: string, list: boolean): Obj {
  const gvk = { group: t.group, version: t.version, kind: t.kind };
  const content = { 'application/json': { schema: { $ref: ref } } };
  const ok = { '200': { description: 'OK', content } };
  const op = (action: string, extra: Obj = {}): Obj => ({
    operationId: `${action}${t.kind}`,
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    responses: ok,
    ...extra,
  });
  if (list) {
    return {
      get: op('list'),
      post: op('post', { parameters: QUERY_PARAMS, requestBody: { content } }),
      delete: op('deletecollection'),
    };
  }
  return {
    get: op('get'),
    put: op('put', { parameters: QUERY_PARAMS, requestBody: { content } }),
    patch: op('patch', {
      parameters: QUERY_PARAMS,
      requestBody: {
        content: {
          'application/json-patch+json': { schema: { type: 'object' } },
          'application/merge-patch+json': { schema: { type: 'object' } },
          'application/apply-patch+yaml': { schema: { type: 'object' } },
          ...(t.builtin ? { 'application/strategic-merge-patch+json': { schema: { type: 'object' } } } : {}),
        },
      },
    }),
    delete: op('delete'),
  };
}

function basePath(t: ResourceType): string {
  const root = `/${gvPath(t.group, t.version)}`;
  return t.namespaced ? `${root}/namespaces/{namespace}/${t.plural}` : `${root}/${t.plural}`;
}

export function openApiV3ForGroupVersion(types: ResourceType[], group: string, version: string, gitVersion: string): Obj | undefined {
  const inGv = types.filter((t) => t.group === group && t.version === version);
  if (inGv.length === 0) return undefined;
  const schemas: Obj = { [OBJECT_META]: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true, description: 'ObjectMeta is metadata that all persisted resources must have.' } };
  const paths: Obj = {};
  for (const t of inGv) {
    const name = schemaName(t);
    schemas[name] = typeSchema(t, `#/components/schemas/${OBJECT_META}`);
    const ref = `#/components/schemas/${name}`;
    paths[basePath(t)] = operations(t, ref, true);
    paths[`${basePath(t)}/{name}`] = operations(t, ref, false);
    if (t.statusSubresource) paths[`${basePath(t)}/{name}/status`] = operations(t, ref, false);
  }
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: gitVersion }, paths, components: { schemas } };
}

export function openApiV3Root(types: ResourceType[], gitVersion: string): Obj {
  const gvs = new Map<string, ResourceType[]>();
  for (const t of types) {
    const k = gvPath(t.group, t.version);
    gvs.set(k, [...(gvs.get(k) ?? []), t]);
  }
  const paths: Obj = {};
  for (const [k, ts] of gvs) {
    const first = ts[0];
    if (!first) continue;
    const doc = openApiV3ForGroupVersion(types, first.group, first.version, gitVersion);
    const hash = createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 128).toUpperCase();
    paths[k] = { serverRelativeURL: `/openapi/v3/${k}?hash=${hash}` };
  }
  return { paths };
}

export function openApiV2(types: ResourceType[], gitVersion: string): Obj {
  const definitions: Obj = { [OBJECT_META]: { type: 'object' } };
  const paths: Obj = {};
  for (const t of types) {
    const s = typeSchema(t, `#/definitions/${OBJECT_META}`);
    definitions[schemaName(t)] = s;
    paths[`${basePath(t)}/{name}`] = {
      get: { operationId: `read${t.kind}`, 'x-kubernetes-action': 'get', 'x-kubernetes-group-version-kind': { group: t.group, version: t.version, kind: t.kind }, responses: { '200': { description: 'OK', schema: { $ref: `#/definitions/${schemaName(t)}` } } } },
    };
  }
  return { swagger: '2.0', info: { title: 'Kubernetes', version: gitVersion }, paths, definitions };
}
