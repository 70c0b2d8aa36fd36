// Conformance: object lifecycle as the Kubernetes API conventions describe it (server-owned metadata,
// optimistic concurrency, generation, the status subresource, finalizers, namespaces, CRD lifecycle), over HTTP.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApiServer, type TestApiServer } from './server.js';
import { http, widget, WIDGET_CRD, WIDGETS } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestApiServer;
const req = <T = O>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => http<T>(s.url, method, path, body, headers);

beforeAll(async () => {
  s = await startTestApiServer();
  const r = await req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', WIDGET_CRD);
  expect(r.status).toBe(201);
});
afterAll(() => s.stop());

describe('create', () => {
  it('assigns uid, creationTimestamp, generation 1 and a numeric string resourceVersion that grows globally', async () => {
    const a = await req('POST', WIDGETS, widget('create-a'));
    const b = await req('POST', WIDGETS, widget('create-b'));
    expect(a.status).toBe(201);
    const m = a.body.metadata;
    expect(m.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(m.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(m.generation).toBe(1);
    expect(typeof m.resourceVersion).toBe('string');
    expect(Number(b.body.metadata.resourceVersion)).toBeGreaterThan(Number(m.resourceVersion));
    expect(a.body.apiVersion).toBe('example.com/v1');
    expect(a.body.kind).toBe('Widget');
  });

  it('ignores client-set uid and drops status when the CRD has a status subresource', async () => {
    const r = await req('POST', WIDGETS, widget('create-c', { size: 1 }, { metadata: { uid: 'mine' }, status: { observedGeneration: 9 } }));
    expect(r.body.metadata.uid).not.toBe('mine');
    expect(r.body.status).toBeUndefined();
  });

  it('rejects a duplicate with 409 AlreadyExists', async () => {
    await req('POST', WIDGETS, widget('dup'));
    const r = await req('POST', WIDGETS, widget('dup'));
    expect(r.status).toBe(409);
    expect(r.body).toEqual({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: 'widgets.example.com "dup" already exists',
      reason: 'AlreadyExists',
      details: { name: 'dup', group: 'example.com', kind: 'widgets' },
      code: 409,
    });
  });

  it('generates names from generateName', async () => {
    const r = await req('POST', WIDGETS, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { generateName: 'gen-' }, spec: { size: 1 } });
    expect(r.status).toBe(201);
    expect(r.body.metadata.name).toMatch(/^gen-[a-z0-9]{5}$/);
  });

  it('requires a name and validates it as a DNS subdomain (422 with a metadata.name cause)', async () => {
    const missing = await req('POST', WIDGETS, { apiVersion: 'example.com/v1', kind: 'Widget', metadata: {}, spec: { size: 1 } });
    expect(missing.status).toBe(422);
    expect(missing.body.details.causes[0]).toEqual({ reason: 'FieldValueRequired', message: 'Required value: name or generateName is required', field: 'metadata.name' });
    const bad = await req('POST', WIDGETS, widget('Bad_Name'));
    expect(bad.status).toBe(422);
    expect(bad.body.reason).toBe('Invalid');
    expect(bad.body.message).toMatch(/^Widget\.example\.com "Bad_Name" is invalid: metadata\.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/);
  });

  it('returns 404 for a namespace that does not exist', async () => {
    const r = await req('POST', '/apis/example.com/v1/namespaces/nowhere/widgets', widget('x'));
    expect(r.status).toBe(404);
    expect(r.body.message).toBe('namespaces "nowhere" not found');
  });

  it('rejects a body whose apiVersion does not match the URL with 400', async () => {
    const r = await req('POST', WIDGETS, { ...widget('v'), apiVersion: 'example.com/v2' });
    expect(r.status).toBe(400);
    expect(r.body.reason).toBe('BadRequest');
  });
});

describe('get', () => {
  it('returns 404 NotFound with the real message and details', async () => {
    const r = await req('GET', `${WIDGETS}/nope`);
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'widgets.example.com "nope" not found', details: { name: 'nope', group: 'example.com', kind: 'widgets' } });
  });

  it('returns 404 "the server could not find the requested resource" for unknown resources', async () => {
    const r = await req('GET', '/apis/example.com/v1/namespaces/default/gadgets');
    expect(r.status).toBe(404);
    expect(r.body.message).toBe('the server could not find the requested resource');
  });
});

describe('update', () => {
  it('is optimistic: a stale resourceVersion gets 409 Conflict, the current one succeeds', async () => {
    const created = (await req('POST', WIDGETS, widget('upd'))).body;
    const first = await req('PUT', `${WIDGETS}/upd`, { ...created, spec: { size: 2 } });
    expect(first.status).toBe(200);
    const stale = await req('PUT', `${WIDGETS}/upd`, { ...created, spec: { size: 3 } });
    expect(stale.status).toBe(409);
    expect(stale.body).toMatchObject({
      reason: 'Conflict',
      code: 409,
      message: 'Operation cannot be fulfilled on widgets.example.com "upd": the object has been modified; please apply your changes to the latest version and try again',
      details: { name: 'upd', group: 'example.com', kind: 'widgets' },
    });
  });

  it('accepts an unconditional update without resourceVersion', async () => {
    const created = (await req('POST', WIDGETS, widget('uncond'))).body;
    const { resourceVersion: _rv, ...metaNoRv } = created.metadata;
    const r = await req('PUT', `${WIDGETS}/uncond`, { ...created, metadata: metaNoRv, spec: { size: 4 } });
    expect(r.status).toBe(200);
    expect(r.body.spec.size).toBe(4);
  });

  it('rejects a body whose name differs from the URL (400)', async () => {
    const created = (await req('POST', WIDGETS, widget('named'))).body;
    const r = await req('PUT', `${WIDGETS}/named`, { ...created, metadata: { ...created.metadata, name: 'other' } });
    expect(r.status).toBe(400);
    expect(r.body.message).toBe('the name of the object (other) does not match the name on the URL (named)');
  });

  it('keeps server-owned metadata (uid, creationTimestamp) whatever the client sends', async () => {
    const created = (await req('POST', WIDGETS, widget('owned'))).body;
    const r = await req('PUT', `${WIDGETS}/owned`, { ...created, metadata: { ...created.metadata, uid: 'x', creationTimestamp: '2000-01-01T00:00:00Z' } });
    expect(r.body.metadata.uid).toBe(created.metadata.uid);
    expect(r.body.metadata.creationTimestamp).toBe(created.metadata.creationTimestamp);
  });

  it('bumps generation on spec changes only, not on metadata or status changes', async () => {
    let o = (await req('POST', WIDGETS, widget('gen'))).body;
    o = (await req('PUT', `${WIDGETS}/gen`, { ...o, metadata: { ...o.metadata, labels: { a: 'b' } } })).body;
    expect(o.metadata.generation).toBe(1);
    o = (await req('PUT', `${WIDGETS}/gen/status`, { ...o, status: { observedGeneration: 1 } })).body;
    expect(o.metadata.generation).toBe(1);
    o = (await req('PUT', `${WIDGETS}/gen`, { ...o, spec: { ...o.spec, size: 5 } })).body;
    expect(o.metadata.generation).toBe(2);
  });

  it('does not write (same resourceVersion) when nothing changes', async () => {
    const o = (await req('POST', WIDGETS, widget('noop'))).body;
    const r = await req('PUT', `${WIDGETS}/noop`, o);
    expect(r.body.metadata.resourceVersion).toBe(o.metadata.resourceVersion);
  });
});

describe('status subresource', () => {
  it('PUT /status changes only status; spec and labels in the body are ignored', async () => {
    const o = (await req('POST', WIDGETS, widget('st'))).body;
    const r = await req('PUT', `${WIDGETS}/st/status`, { ...o, metadata: { ...o.metadata, labels: { sneaky: 'yes' } }, spec: { size: 9 }, status: { observedGeneration: 1 } });
    expect(r.status).toBe(200);
    expect(r.body.spec.size).toBe(1);
    expect(r.body.metadata.labels).toBeUndefined();
    expect(r.body.status).toEqual({ observedGeneration: 1 });
  });

  it('PUT on the main resource never changes status', async () => {
    const o = (await req('POST', WIDGETS, widget('st2'))).body;
    const withStatus = (await req('PUT', `${WIDGETS}/st2/status`, { ...o, status: { observedGeneration: 1 } })).body;
    const r = await req('PUT', `${WIDGETS}/st2`, { ...withStatus, spec: { size: 2 }, status: { observedGeneration: 42 } });
    expect(r.body.status).toEqual({ observedGeneration: 1 });
    expect(r.body.spec.size).toBe(2);
  });

  it('status writes are validated against the schema too', async () => {
    const o = (await req('POST', WIDGETS, widget('st3'))).body;
    const r = await req('PUT', `${WIDGETS}/st3/status`, { ...o, status: { conditions: [{ type: 'Ready', status: 'Maybe' }] } });
    expect(r.status).toBe(422);
    expect(r.body.details.causes[0]).toEqual({ reason: 'FieldValueNotSupported', message: 'Unsupported value: "Maybe": supported values: "True", "False", "Unknown"', field: 'status.conditions[0].status' });
  });

  it('without a status subresource, status is part of the main resource and /status is 404', async () => {
    const crd = structuredClone(WIDGET_CRD) as O;
    crd.metadata.name = 'gizmos.example.com';
    crd.spec.names = { plural: 'gizmos', singular: 'gizmo', kind: 'Gizmo' };
    delete crd.spec.versions[0].subresources;
    expect((await req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd)).status).toBe(201);
    const base = '/apis/example.com/v1/namespaces/default/gizmos';
    const o = await req('POST', base, { apiVersion: 'example.com/v1', kind: 'Gizmo', metadata: { name: 'g' }, spec: { size: 1 }, status: { observedGeneration: 3 } });
    expect(o.body.status).toEqual({ observedGeneration: 3 });
    expect((await req('GET', `${base}/g/status`)).status).toBe(404);
  });
});

describe('delete and finalizers', () => {
  it('deletes at once without finalizers, answering a Status Success that names the object', async () => {
    const o = (await req('POST', WIDGETS, widget('del'))).body;
    const r = await req('DELETE', `${WIDGETS}/del`);
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name: 'del', group: 'example.com', kind: 'widgets', uid: o.metadata.uid } });
    expect((await req('GET', `${WIDGETS}/del`)).status).toBe(404);
  });

  it('with finalizers sets deletionTimestamp, keeps the object until the last finalizer is removed', async () => {
    await req('POST', WIDGETS, widget('fin', { size: 1 }, { metadata: { finalizers: ['example.com/a', 'example.com/b'] } }));
    const d = await req('DELETE', `${WIDGETS}/fin`);
    expect(d.status).toBe(200);
    expect(d.body.metadata.deletionTimestamp).toMatch(/Z$/);
    expect(d.body.metadata.deletionGracePeriodSeconds).toBe(0);
    let o = (await req('GET', `${WIDGETS}/fin`)).body;
    expect(o.metadata.deletionTimestamp).toBe(d.body.metadata.deletionTimestamp);
    const again = await req('DELETE', `${WIDGETS}/fin`);
    expect(again.body.metadata.resourceVersion).toBe(o.metadata.resourceVersion);
    const addNew = await req('PUT', `${WIDGETS}/fin`, { ...o, metadata: { ...o.metadata, finalizers: ['example.com/a', 'example.com/b', 'example.com/c'] } });
    expect(addNew.status).toBe(422);
    expect(addNew.body.details.causes[0].field).toBe('metadata.finalizers');
    o = (await req('PUT', `${WIDGETS}/fin`, { ...o, metadata: { ...o.metadata, finalizers: ['example.com/b'] } })).body;
    expect((await req('GET', `${WIDGETS}/fin`)).status).toBe(200);
    const last = await req('PUT', `${WIDGETS}/fin`, { ...o, metadata: { ...o.metadata, finalizers: [] } });
    expect(last.status).toBe(200);
    expect((await req('GET', `${WIDGETS}/fin`)).status).toBe(404);
  });

  it('honours preconditions (409 on a uid mismatch)', async () => {
    await req('POST', WIDGETS, widget('pre'));
    const r = await req('DELETE', `${WIDGETS}/pre`, { kind: 'DeleteOptions', apiVersion: 'v1', preconditions: { uid: 'not-it' } });
    expect(r.status).toBe(409);
    expect(r.body.message).toMatch(/Precondition failed: UID in precondition: not-it, UID in object meta: /);
  });

  it('deletecollection deletes what the selector matches', async () => {
    await req('POST', WIDGETS, widget('dc1', { size: 1 }, { metadata: { labels: { batch: 'x' } } }));
    await req('POST', WIDGETS, widget('dc2', { size: 1 }, { metadata: { labels: { batch: 'x' } } }));
    await req('POST', WIDGETS, widget('dc3', { size: 1 }, { metadata: { labels: { batch: 'y' } } }));
    expect((await req('DELETE', `${WIDGETS}?labelSelector=batch%3Dx`)).status).toBe(200);
    const left = (await req('GET', `${WIDGETS}?labelSelector=batch`)).body.items.map((i: O) => i.metadata.name);
    expect(left).toEqual(['dc3']);
  });
});

describe('namespaces', () => {
  it('exist at start (default, kube-system, kube-public, kube-node-lease) and are Active', async () => {
    const names = (await req('GET', '/api/v1/namespaces')).body.items.map((n: O) => `${n.metadata.name}:${n.status.phase}`);
    expect(names).toEqual(expect.arrayContaining(['default:Active', 'kube-system:Active', 'kube-public:Active', 'kube-node-lease:Active']));
  });

  it('deleting one makes it Terminating, forbids new content, deletes its objects and then goes away', async () => {
    await req('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'doomed' } });
    await req('POST', '/apis/example.com/v1/namespaces/doomed/widgets', widget('held', { size: 1 }, { metadata: { finalizers: ['example.com/hold'] } }));
    await req('POST', '/api/v1/namespaces/doomed/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { a: 'b' } });
    const d = await req('DELETE', '/api/v1/namespaces/doomed');
    expect(d.status).toBe(200);
    expect(d.body.status.phase).toBe('Terminating');
    expect((await req('GET', '/api/v1/namespaces/doomed/configmaps/c')).status).toBe(404);
    const refused = await req('POST', '/api/v1/namespaces/doomed/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'late' } });
    expect(refused.status).toBe(403);
    expect(refused.body.message).toBe('configmaps "late" is forbidden: unable to create new content in namespace doomed because it is being terminated');
    expect((await req('GET', '/api/v1/namespaces/doomed')).status).toBe(200);
    const held = (await req('GET', '/apis/example.com/v1/namespaces/doomed/widgets/held')).body;
    await req('PUT', '/apis/example.com/v1/namespaces/doomed/widgets/held', { ...held, metadata: { ...held.metadata, finalizers: [] } });
    expect((await req('GET', '/api/v1/namespaces/doomed')).status).toBe(404);
  });
});

describe('CustomResourceDefinitions', () => {
  it('get NamesAccepted and Established conditions and report storedVersions', async () => {
    const crd = (await req('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com')).body;
    const conds = Object.fromEntries(crd.status.conditions.map((c: O) => [c.type, c.status]));
    expect(conds).toMatchObject({ NamesAccepted: 'True', Established: 'True' });
    expect(crd.status.storedVersions).toEqual(['v1']);
    expect(crd.status.acceptedNames.kind).toBe('Widget');
  });

  it('reject a name that is not plural.group', async () => {
    const crd = structuredClone(WIDGET_CRD) as O;
    crd.metadata.name = 'wrong.example.com';
    const r = await req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    expect(r.status).toBe(422);
    expect(r.body.details.causes).toContainEqual({ reason: 'FieldValueInvalid', message: 'Invalid value: "wrong.example.com": must be spec.names.plural+"."+spec.group', field: 'metadata.name' });
  });

  it('deleting one removes its objects and stops serving the resource', async () => {
    const crd = structuredClone(WIDGET_CRD) as O;
    crd.metadata.name = 'doodads.example.com';
    crd.spec.names = { plural: 'doodads', singular: 'doodad', kind: 'Doodad' };
    await req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    const base = '/apis/example.com/v1/namespaces/default/doodads';
    expect((await req('POST', base, { apiVersion: 'example.com/v1', kind: 'Doodad', metadata: { name: 'd' }, spec: { size: 1 } })).status).toBe(201);
    expect((await req('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/doodads.example.com')).status).toBe(200);
    expect((await req('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/doodads.example.com')).status).toBe(404);
    expect((await req('GET', base)).body.message).toBe('the server could not find the requested resource');
  });

  it('serve every served version from one storage', async () => {
    const crd = structuredClone(WIDGET_CRD) as O;
    crd.metadata.name = 'sprockets.example.com';
    crd.spec.names = { plural: 'sprockets', singular: 'sprocket', kind: 'Sprocket' };
    const v1 = crd.spec.versions[0];
    crd.spec.versions = [{ ...structuredClone(v1), name: 'v1alpha1', storage: false }, v1];
    await req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
    await req('POST', '/apis/example.com/v1/namespaces/default/sprockets', { apiVersion: 'example.com/v1', kind: 'Sprocket', metadata: { name: 's' }, spec: { size: 1 } });
    const old = await req('GET', '/apis/example.com/v1alpha1/namespaces/default/sprockets/s');
    expect(old.body.apiVersion).toBe('example.com/v1alpha1');
    expect(old.body.spec.size).toBe(1);
  });
});

describe('structural schema validation', () => {
  const create = (name: string, spec: O) => req('POST', WIDGETS, widget(name, spec));

  it('applies defaults', async () => {
    expect((await create('def', { size: 1 })).body.spec.mode).toBe('safe');
  });

  it('reports type, required, enum, pattern, bounds and list errors with field paths, one cause each', async () => {
    const r = await create('bad', { mode: 'slow', name: 'ABC', tags: ['a', 'b', 'c', 'd'] });
    expect(r.status).toBe(422);
    expect(r.body.reason).toBe('Invalid');
    expect(r.body.details).toMatchObject({ name: 'bad', group: 'example.com', kind: 'Widget' });
    const byField = Object.fromEntries(r.body.details.causes.map((c: O) => [c.field, c]));
    expect(byField['spec.size']).toEqual({ reason: 'FieldValueRequired', message: 'Required value', field: 'spec.size' });
    expect(byField['spec.mode']).toEqual({ reason: 'FieldValueNotSupported', message: 'Unsupported value: "slow": supported values: "fast", "safe"', field: 'spec.mode' });
    expect(byField['spec.name']).toEqual({ reason: 'FieldValueInvalid', message: `Invalid value: "ABC": spec.name in body should match '^[a-z]+$'`, field: 'spec.name' });
    expect(byField['spec.tags']).toEqual({ reason: 'FieldValueTooMany', message: 'Too many: 4: must have at most 3 items', field: 'spec.tags' });
    expect(r.body.message).toMatch(/^Widget\.example\.com "bad" is invalid: \[/);
  });

  it('reports a type error the way kube-openapi words it', async () => {
    const r = await create('typ', { size: 'big' });
    expect(r.body.message).toBe('Widget.example.com "typ" is invalid: spec.size: Invalid value: "string": spec.size in body must be of type integer: "string"');
  });

  it('checks minimum/maximum', async () => {
    const r = await create('max', { size: 11 });
    expect(r.body.details.causes[0].message).toBe('Invalid value: 11: spec.size in body should be less than or equal to 10');
  });

  it('accepts int-or-string, nullable and preserve-unknown-fields; prunes unknown fields elsewhere', async () => {
    const a = await create('ios1', { size: 1, port: 8080, note: null, extra: { any: { thing: 1 } }, junk: true });
    expect(a.status).toBe(201);
    expect(a.body.spec.extra).toEqual({ any: { thing: 1 } });
    expect(a.body.spec.junk).toBeUndefined();
    expect(a.body.spec.note).toBeNull();
    expect(a.headers.get('warning')).toBe('299 - "unknown field \\"spec.junk\\""');
    expect((await create('ios2', { size: 1, port: 'http' })).status).toBe(201);
    expect((await create('ios3', { size: 1, port: 1.5 })).status).toBe(422);
  });

  it('rejects unknown fields with fieldValidation=Strict (400) and drops them silently with Ignore', async () => {
    const strict = await req('POST', `${WIDGETS}?fieldValidation=Strict`, widget('strict', { size: 1, junk: 1 }));
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe('Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.junk"');
    const ignore = await req('POST', `${WIDGETS}?fieldValidation=Ignore`, widget('ignore', { size: 1, junk: 1 }));
    expect(ignore.status).toBe(201);
    expect(ignore.headers.get('warning')).toBeNull();
  });

  it('validates additionalProperties and list-type=map duplicates', async () => {
    const r = await create('ap', { size: 1, limits: { cpu: 'lots' }, ports: [{ name: 'a', number: 1 }, { name: 'a', number: 2 }] });
    const fields = r.body.details.causes.map((c: O) => `${c.field}:${c.reason}`);
    expect(fields).toEqual(expect.arrayContaining(['spec.limits.cpu:FieldValueTypeInvalid', 'spec.ports[1]:FieldValueDuplicate']));
  });

  it('dry-run validates and answers without storing', async () => {
    const r = await req('POST', `${WIDGETS}?dryRun=All`, widget('dry'));
    expect(r.status).toBe(201);
    expect((await req('GET', `${WIDGETS}/dry`)).status).toBe(404);
  });
});

describe('built-in types', () => {
  it('deleting a Pod answers with the Pod itself (ReturnDeletedObject)', async () => {
    await req('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'gone' }, spec: { containers: [{ name: 'c', image: 'i' }] } });
    const r = await req('DELETE', '/api/v1/namespaces/default/pods/gone');
    expect(r.body).toMatchObject({ kind: 'Pod', metadata: { name: 'gone' } });
  });

  it('Pods default to Pending and require containers', async () => {
    const bad = await req('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p0' }, spec: { containers: [] } });
    expect(bad.status).toBe(422);
    expect(bad.body.message).toBe('Pod "p0" is invalid: spec.containers: Required value');
    const ok = await req('POST', '/api/v1/namespaces/default/pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p1' }, spec: { containers: [{ name: 'c', image: 'busybox' }] } });
    expect(ok.body.status.phase).toBe('Pending');
    expect(ok.body.metadata.generation).toBeUndefined();
  });

  it('Leases (coordination.k8s.io/v1) support the update loop leader election uses', async () => {
    const base = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases';
    const l = (await req('POST', base, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'vigil-operator' }, spec: { holderIdentity: 'a', leaseDurationSeconds: 15 } })).body;
    const renewed = await req('PUT', `${base}/vigil-operator`, { ...l, spec: { ...l.spec, renewTime: '2026-01-01T00:00:00.000000Z' } });
    expect(renewed.status).toBe(200);
    const lost = await req('PUT', `${base}/vigil-operator`, { ...l, spec: { ...l.spec, holderIdentity: 'b' } });
    expect(lost.status).toBe(409);
  });

  it('serves core Events also as events.k8s.io/v1 (regarding/note)', async () => {
    await req('POST', '/api/v1/namespaces/default/events', {
      apiVersion: 'v1', kind: 'Event', metadata: { name: 'e1' }, involvedObject: { kind: 'Widget', name: 'w', namespace: 'default' }, reason: 'Compiled', message: 'policy compiled', type: 'Normal', reportingComponent: 'vigil-operator',
    });
    const e = (await req('GET', '/apis/events.k8s.io/v1/namespaces/default/events/e1')).body;
    expect(e).toMatchObject({ apiVersion: 'events.k8s.io/v1', kind: 'Event', regarding: { kind: 'Widget', name: 'w' }, note: 'policy compiled', reportingController: 'vigil-operator', reason: 'Compiled' });
    const byField = (await req('GET', '/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dw,reason%3DCompiled')).body.items;
    expect(byField).toHaveLength(1);
  });

  it('validates events.k8s.io/v1 Events like kube-apiserver (reporting fields required, type Normal|Warning)', async () => {
    const base = '/apis/events.k8s.io/v1/namespaces/default/events';
    const bad = await req('POST', base, { apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'bad-ev' }, type: 'Info', regarding: { kind: 'Pod', name: 'p', namespace: 'other' } });
    expect(bad.status).toBe(422);
    expect(bad.body.details.causes.map((c: O) => `${c.field}:${c.reason}`)).toEqual([
      'type:FieldValueNotSupported',
      'regarding.namespace:FieldValueInvalid',
      'eventTime:FieldValueRequired',
      'reportingController:FieldValueRequired',
      'reportingInstance:FieldValueRequired',
      'action:FieldValueRequired',
      'reason:FieldValueRequired',
    ]);
    const ok = await req('POST', base, {
      apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'ok-ev' }, type: 'Normal', eventTime: '2026-01-01T00:00:00.000000Z',
      reportingController: 'vigil.dev/operator', reportingInstance: 'operator-0', action: 'Compile', reason: 'Compiled', note: 'ok', regarding: { kind: 'Pod', name: 'p', namespace: 'default' },
    });
    expect(ok.status).toBe(201);
    expect((await req('GET', '/api/v1/namespaces/default/events/ok-ev')).body).toMatchObject({ reportingComponent: 'vigil.dev/operator', message: 'ok', involvedObject: { name: 'p' } });
  });

  it('drops unknown fields of typed objects: a warning by default, 400 with fieldValidation=Strict (what kubectl sends)', async () => {
    const cm = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'typo', labelz: { a: 'b' } }, datas: { a: 'b' } };
    const strict = await req('POST', '/api/v1/namespaces/default/configmaps?fieldValidation=Strict', cm);
    expect(strict.status).toBe(400);
    expect(strict.body.message).toBe('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "metadata.labelz", unknown field "datas"');
    const warn = await req('POST', '/api/v1/namespaces/default/configmaps', cm);
    expect(warn.status).toBe(201);
    expect(warn.headers.get('warning')).toBe('299 - "unknown field \\"metadata.labelz\\"", 299 - "unknown field \\"datas\\""');
    expect(warn.body.datas).toBeUndefined();
    const lease = await req('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases?fieldValidation=Strict', { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'typo' }, spec: { holder: 'x' } });
    expect(lease.body.message).toBe('Lease in version "v1" cannot be handled as a Lease: strict decoding error: unknown field "spec.holder"');
  });

  it('Nodes are cluster-scoped and keep status on create', async () => {
    const r = await req('POST', '/api/v1/nodes', { apiVersion: 'v1', kind: 'Node', metadata: { name: 'n1' }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
    expect(r.body.status.conditions[0].type).toBe('Ready');
    expect(r.body.metadata.namespace).toBeUndefined();
  });
});

describe('garbage collection through ownerReferences', () => {
  const CMS = '/api/v1/namespaces/default/configmaps';
  const owned = (name: string, owners: O[], extra: O = {}) => ({
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, ownerReferences: owners.map((o) => ({ apiVersion: 'example.com/v1', kind: 'Widget', name: o.metadata.name, uid: o.metadata.uid })), ...extra },
  });

  it('Background (the default): dependents go when their only owner goes', async () => {
    const owner = (await req('POST', WIDGETS, widget('gc-owner'))).body;
    await req('POST', CMS, owned('gc-dep', [owner]));
    await req('DELETE', `${WIDGETS}/gc-owner`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Background' });
    expect((await req('GET', `${CMS}/gc-dep`)).status).toBe(404);
  });

  it('keeps a dependent that still has a live owner, dropping the dangling reference', async () => {
    const a = (await req('POST', WIDGETS, widget('gc-a'))).body;
    const b = (await req('POST', WIDGETS, widget('gc-b'))).body;
    await req('POST', CMS, owned('gc-shared', [a, b]));
    await req('DELETE', `${WIDGETS}/gc-a`);
    const dep = await req('GET', `${CMS}/gc-shared`);
    expect(dep.status).toBe(200);
    expect(dep.body.metadata.ownerReferences.map((r: O) => r.name)).toEqual(['gc-b']);
  });

  it('Foreground: the owner waits (foregroundDeletion finalizer) until its dependents are gone', async () => {
    const owner = (await req('POST', WIDGETS, widget('gc-fg'))).body;
    await req('POST', CMS, owned('gc-fg-dep', [owner], { finalizers: ['example.com/hold'] }));
    const d = await req('DELETE', `${WIDGETS}/gc-fg?propagationPolicy=Foreground`);
    expect(d.body.metadata.finalizers).toEqual(['foregroundDeletion']);
    expect(d.body.metadata.deletionTimestamp).toBeDefined();
    const dep = (await req('GET', `${CMS}/gc-fg-dep`)).body;
    expect(dep.metadata.deletionTimestamp).toBeDefined();
    await req('PUT', `${CMS}/gc-fg-dep`, { ...dep, metadata: { ...dep.metadata, finalizers: [] } });
    expect((await req('GET', `${CMS}/gc-fg-dep`)).status).toBe(404);
    expect((await req('GET', `${WIDGETS}/gc-fg`)).status).toBe(404);
  });

  it('Orphan: dependents stay, without the reference to the deleted owner', async () => {
    const owner = (await req('POST', WIDGETS, widget('gc-or'))).body;
    await req('POST', CMS, owned('gc-orphan', [owner]));
    await req('DELETE', `${WIDGETS}/gc-or`, { kind: 'DeleteOptions', apiVersion: 'v1', propagationPolicy: 'Orphan' });
    const dep = await req('GET', `${CMS}/gc-orphan`);
    expect(dep.status).toBe(200);
    expect(dep.body.metadata.ownerReferences).toBeUndefined();
    expect((await req('GET', `${WIDGETS}/gc-or`)).status).toBe(404);
  });
});
