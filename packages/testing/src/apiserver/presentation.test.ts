// Conformance: server-side Table printing, discovery (legacy and aggregated v2/v2beta1), OpenAPI v2/v3,
// /version and health endpoints.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApiServer, type TestApiServer } from './server.js';
import { humanDuration } from './table.js';
import { http, WatchReader, widget, WIDGET_CRD, WIDGETS } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestApiServer;
const req = <T = O>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => http<T>(s.url, method, path, body, headers);
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';
const now = Date.now();

beforeAll(async () => {
  s = await startTestApiServer({ clock: () => new Date(now - 3 * 3600_000 - 5 * 60_000) });
  s.seed([WIDGET_CRD]);
  await req('POST', WIDGETS, widget('t1', { size: 2, mode: 'fast' }));
  const o = (await req('POST', WIDGETS, widget('t2', { size: 7 }))).body;
  await req('PUT', `${WIDGETS}/t2/status`, { ...o, status: { conditions: [{ type: 'Synced', status: 'False' }, { type: 'Ready', status: 'True' }] } });
});
afterAll(() => s.stop());

describe('Table', () => {
  it('prints Name plus the CRD additionalPrinterColumns, evaluating JSONPath filters, with server-rendered ages', async () => {
    const r = await req('GET', WIDGETS, undefined, { accept: TABLE });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toBe('application/json;as=Table;v=v1;g=meta.k8s.io');
    expect(r.body.kind).toBe('Table');
    expect(r.body.apiVersion).toBe('meta.k8s.io/v1');
    expect(r.body.columnDefinitions.map((c: O) => [c.name, c.type, c.format, c.priority])).toEqual([
      ['Name', 'string', 'name', 0],
      ['Ready', 'string', '', 0],
      ['Size', 'integer', '', 0],
      ['Mode', 'string', '', 1],
      ['Age', 'date', '', 0],
    ]);
    expect(r.body.rows.map((row: O) => row.cells)).toEqual([
      ['t1', null, 2, 'fast', '3h5m'],
      ['t2', 'True', 7, 'safe', '3h5m'],
    ]);
    expect(r.body.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name: 't1' } });
    expect(r.body.metadata.resourceVersion).toBe(String(s.resourceVersion()));
  });

  it('honours includeObject=Object|None and answers a single GET with a one-row table', async () => {
    const full = (await req('GET', `${WIDGETS}?includeObject=Object`, undefined, { accept: TABLE })).body;
    expect(full.rows[0].object.spec.size).toBe(2);
    const none = (await req('GET', `${WIDGETS}?includeObject=None`, undefined, { accept: TABLE })).body;
    expect(none.rows[0].object).toBeUndefined();
    const one = (await req('GET', `${WIDGETS}/t2`, undefined, { accept: TABLE })).body;
    expect(one.rows).toHaveLength(1);
    expect(one.rows[0].cells[0]).toBe('t2');
  });

  it('serves meta.k8s.io/v1beta1 tables when only that is accepted', async () => {
    const r = await req('GET', WIDGETS, undefined, { accept: 'application/json;as=Table;v=v1beta1;g=meta.k8s.io' });
    expect(r.body.apiVersion).toBe('meta.k8s.io/v1beta1');
  });

  it('defaults a CRD without printer columns to Name and Age', async () => {
    const crd = structuredClone(WIDGET_CRD) as O;
    crd.metadata.name = 'plains.example.com';
    crd.spec.names = { plural: 'plains', singular: 'plain', kind: 'Plain' };
    delete crd.spec.versions[0].additionalPrinterColumns;
    s.seed([crd]);
    await req('POST', '/apis/example.com/v1/namespaces/default/plains', { apiVersion: 'example.com/v1', kind: 'Plain', metadata: { name: 'p' }, spec: { size: 1 } });
    const t = (await req('GET', '/apis/example.com/v1/namespaces/default/plains', undefined, { accept: TABLE })).body;
    expect(t.columnDefinitions.map((c: O) => `${c.name}:${c.type}`)).toEqual(['Name:string', 'Age:date']);
    expect(t.rows[0].cells).toEqual(['p', '3h5m']);
  });

  it('uses the kube-apiserver printers for built-ins (pods, namespaces, nodes, leases, CRDs)', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pod' }, spec: { nodeName: 'n1', containers: [{ name: 'a', image: 'i' }, { name: 'b', image: 'i' }] },
    });
    const pod = (await req('GET', '/api/v1/namespaces/default/pods/pod')).body;
    await req('PUT', '/api/v1/namespaces/default/pods/pod/status', {
      ...pod,
      status: { phase: 'Running', podIP: '10.0.0.5', containerStatuses: [{ name: 'a', ready: true, restartCount: 2 }, { name: 'b', ready: false, restartCount: 1, state: { waiting: { reason: 'CrashLoopBackOff' } } }] },
    });
    const pods = (await req('GET', '/api/v1/namespaces/default/pods', undefined, { accept: TABLE })).body;
    expect(pods.columnDefinitions.filter((c: O) => c.priority === 0).map((c: O) => c.name)).toEqual(['Name', 'Ready', 'Status', 'Restarts', 'Age']);
    expect(pods.rows[0].cells.slice(0, 7)).toEqual(['pod', '1/2', 'CrashLoopBackOff', '3', '3h5m', '10.0.0.5', 'n1']);

    const ns = (await req('GET', '/api/v1/namespaces/default', undefined, { accept: TABLE })).body;
    expect(ns.rows[0].cells).toEqual(['default', 'Active', '3h5m']);

    await req('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1', labels: { 'node-role.kubernetes.io/control-plane': '' } }, status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { kubeletVersion: 'v1.32.4' } } });
    const nodes = (await req('GET', '/api/v1/nodes', undefined, { accept: TABLE })).body;
    expect(nodes.rows[0].cells.slice(0, 5)).toEqual(['n1', 'Ready', 'control-plane', '3h5m', 'v1.32.4']);

    await req('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { holderIdentity: 'me' } });
    const leases = (await req('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases', undefined, { accept: TABLE })).body;
    expect(leases.rows[0].cells).toEqual(['l', 'me', '3h5m']);

    const crds = (await req('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com', undefined, { accept: TABLE })).body;
    expect(crds.columnDefinitions.map((c: O) => c.name)).toEqual(['Name', 'Created At']);
    expect(crds.rows[0].cells[1]).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('renders ages like k8s.io/apimachinery duration.HumanDuration', () => {
    const cases: [number, string][] = [[0, '0s'], [119, '119s'], [120, '2m'], [125, '2m5s'], [600, '10m'], [3 * 3600 - 1, '179m'], [3 * 3600 + 300, '3h5m'], [8 * 3600, '8h'], [47 * 3600, '47h'], [50 * 3600, '2d2h'], [8 * 86400, '8d'], [800 * 86400, '2y70d'], [9 * 365 * 86400, '9y']];
    for (const [secs, want] of cases) expect(`${secs}:${humanDuration(secs * 1000)}`).toBe(`${secs}:${want}`);
  });

  it('streams watch events as one-row tables, with column definitions only in the first', async () => {
    const w = await WatchReader.open(`${s.url}${WIDGETS}?watch=true`, { accept: TABLE });
    try {
      const ev = await w.next(2);
      expect(ev.map((e) => e.type)).toEqual(['ADDED', 'ADDED']);
      const [first, second] = ev.map((e) => e.object as O);
      expect(first?.kind).toBe('Table');
      expect(first?.columnDefinitions).toHaveLength(5);
      expect(first?.rows[0].cells[0]).toBe('t1');
      expect(second?.columnDefinitions).toBeNull();
      expect(second?.rows[0].cells[0]).toBe('t2');
    } finally {
      w.close();
    }
  });

  it('serves metadata-only PartialObjectMetadata(List) when asked', async () => {
    const one = await req('GET', `${WIDGETS}/t1`, undefined, { accept: 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json' });
    expect(one.body).toEqual({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: expect.objectContaining({ name: 't1' }) });
    expect(one.body.spec).toBeUndefined();
    const list = (await req('GET', WIDGETS, undefined, { accept: 'application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1' })).body;
    expect(list.kind).toBe('PartialObjectMetadataList');
    expect(list.items.map((i: O) => i.metadata.name)).toEqual(['t1', 't2']);
  });

  it('answers 406 when only protobuf is acceptable', async () => {
    const r = await req('GET', WIDGETS, undefined, { accept: 'application/vnd.kubernetes.protobuf' });
    expect(r.status).toBe(406);
    expect(r.body.reason).toBe('NotAcceptable');
  });
});

describe('discovery', () => {
  it('serves the legacy /api, /apis, /apis/<group> and resource lists', async () => {
    const api = (await req('GET', '/api')).body;
    expect(api).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    const groups = (await req('GET', '/apis')).body;
    expect(groups.kind).toBe('APIGroupList');
    expect(groups.groups.map((g: O) => g.name)).toEqual(expect.arrayContaining(['apiextensions.k8s.io', 'coordination.k8s.io', 'events.k8s.io', 'example.com']));
    const g = (await req('GET', '/apis/example.com')).body;
    expect(g).toMatchObject({ kind: 'APIGroup', name: 'example.com', preferredVersion: { groupVersion: 'example.com/v1', version: 'v1' } });
    const core = (await req('GET', '/api/v1')).body;
    expect(core.kind).toBe('APIResourceList');
    const pods = core.resources.find((r: O) => r.name === 'pods');
    expect(pods).toMatchObject({ singularName: 'pod', namespaced: true, kind: 'Pod', shortNames: ['po'] });
    expect(pods.verbs).toEqual(expect.arrayContaining(['create', 'delete', 'get', 'list', 'patch', 'update', 'watch']));
    expect(core.resources.find((r: O) => r.name === 'pods/status')).toMatchObject({ kind: 'Pod', verbs: ['get', 'patch', 'update'] });
    const ex = (await req('GET', '/apis/example.com/v1')).body;
    expect(ex.resources.map((r: O) => r.name)).toEqual(expect.arrayContaining(['widgets', 'widgets/status']));
  });

  it('serves aggregated discovery v2 and v2beta1 with the exact content type', async () => {
    for (const v of ['v2', 'v2beta1']) {
      const accept = `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList,application/json`;
      const apis = await req('GET', '/apis', undefined, { accept });
      expect(apis.headers.get('content-type')).toBe(`application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`);
      expect(apis.body).toMatchObject({ kind: 'APIGroupDiscoveryList', apiVersion: `apidiscovery.k8s.io/${v}` });
      const ex = apis.body.items.find((i: O) => i.metadata.name === 'example.com');
      expect(ex.versions[0].version).toBe('v1');
      expect(ex.versions[0].freshness).toBe('Current');
      expect(ex.versions[0].resources.find((r: O) => r.resource === 'widgets')).toMatchObject({
        resource: 'widgets',
        responseKind: { group: 'example.com', version: 'v1', kind: 'Widget' },
        scope: 'Namespaced',
        singularResource: 'widget',
        shortNames: ['wd'],
        categories: ['all'],
        subresources: [{ subresource: 'status', responseKind: { group: 'example.com', version: 'v1', kind: 'Widget' }, verbs: ['get', 'patch', 'update'] }],
      });
      const legacy = (await req('GET', '/api', undefined, { accept })).body;
      expect(legacy.items).toHaveLength(1);
      expect(legacy.items[0].versions[0].resources.map((r: O) => r.resource)).toEqual(expect.arrayContaining(['pods', 'namespaces', 'nodes', 'events', 'configmaps']));
    }
  });

  it('orders versions by Kubernetes version priority and prefers the highest', async () => {
    const crd = structuredClone(WIDGET_CRD) as O;
    crd.metadata.name = 'gears.example.org';
    crd.spec.group = 'example.org';
    crd.spec.names = { plural: 'gears', singular: 'gear', kind: 'Gear' };
    const v = crd.spec.versions[0];
    crd.spec.versions = ['v1alpha1', 'v2', 'v1beta1', 'v1'].map((name) => ({ ...structuredClone(v), name, storage: name === 'v1' }));
    s.seed([crd]);
    const g = (await req('GET', '/apis/example.org')).body;
    expect(g.versions.map((x: O) => x.version)).toEqual(['v2', 'v1', 'v1beta1', 'v1alpha1']);
    expect(g.preferredVersion.version).toBe('v2');
  });
});

describe('OpenAPI', () => {
  it('v3 root lists each group-version, and each document tags schemas and PATCH operations with their GVK and fieldValidation', async () => {
    const root = (await req('GET', '/openapi/v3')).body;
    expect(Object.keys(root.paths)).toEqual(expect.arrayContaining(['api/v1', 'apis/example.com/v1', 'apis/coordination.k8s.io/v1', 'apis/apiextensions.k8s.io/v1']));
    const url = root.paths['apis/example.com/v1'].serverRelativeURL as string;
    expect(url).toMatch(/^\/openapi\/v3\/apis\/example\.com\/v1\?hash=[0-9A-F]+$/);
    const doc = (await req('GET', url)).body;
    expect(doc.openapi).toMatch(/^3\./);
    const schema = doc.components.schemas['com.example.v1.Widget'];
    expect(schema['x-kubernetes-group-version-kind']).toEqual([{ group: 'example.com', version: 'v1', kind: 'Widget' }]);
    expect(schema.properties.spec.properties.size).toMatchObject({ type: 'integer', minimum: 1 });
    const patch = doc.paths['/apis/example.com/v1/namespaces/{namespace}/widgets/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: 'example.com', version: 'v1', kind: 'Widget' });
    expect(patch.parameters.map((p: O) => p.name)).toContain('fieldValidation');
    expect((await req('GET', '/openapi/v3/apis/nope.io/v1')).status).toBe(404);
  });

  it('v2 has definitions for the served types', async () => {
    const doc = (await req('GET', '/openapi/v2')).body;
    expect(doc.swagger).toBe('2.0');
    expect(doc.definitions['com.example.v1.Widget']['x-kubernetes-group-version-kind']).toEqual([{ group: 'example.com', version: 'v1', kind: 'Widget' }]);
    expect(doc.definitions['io.k8s.api.core.v1.Pod']).toBeDefined();
  });
});

describe('version and health', () => {
  it('serves /version, /healthz, /readyz, /livez', async () => {
    const v = (await req('GET', '/version')).body;
    expect(v).toMatchObject({ major: '1', minor: '32' });
    expect(v.gitVersion).toMatch(/^v1\.32\./);
    for (const p of ['/healthz', '/readyz', '/livez']) {
      const r = await req('GET', p);
      expect(`${p}:${r.status}:${r.text}`).toBe(`${p}:200:ok`);
    }
  });
});
