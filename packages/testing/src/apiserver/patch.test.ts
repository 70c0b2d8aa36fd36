// Conformance: PATCH in its four content types (RFC 7386 merge, RFC 6902 JSON patch, strategic merge for
// built-ins, server-side apply with managedFields and conflicts).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApiServer, type TestApiServer } from './server.js';
import { http, widget, WIDGET_CRD, WIDGETS } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestApiServer;
const req = <T = O>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => http<T>(s.url, method, path, body, headers);
const MERGE = { 'content-type': 'application/merge-patch+json' };
const JSONPATCH = { 'content-type': 'application/json-patch+json' };
const SMP = { 'content-type': 'application/strategic-merge-patch+json' };
const APPLY = { 'content-type': 'application/apply-patch+yaml' };
const PODS = '/api/v1/namespaces/default/pods';

beforeAll(async () => {
  s = await startTestApiServer();
  s.seed([WIDGET_CRD]);
});
afterAll(() => s.stop());

describe('JSON merge patch', () => {
  it('merges objects, replaces lists and deletes keys set to null', async () => {
    await req('POST', WIDGETS, widget('mp', { size: 1, tags: ['a', 'b'], note: 'x' }, { metadata: { labels: { a: '1', b: '2' } } }));
    const r = await req('PATCH', `${WIDGETS}/mp`, { metadata: { labels: { b: null, c: '3' } }, spec: { tags: ['z'], note: null } }, MERGE);
    expect(r.status).toBe(200);
    expect(r.body.metadata.labels).toEqual({ a: '1', c: '3' });
    expect(r.body.spec).toEqual({ size: 1, tags: ['z'], mode: 'safe' });
    expect(r.body.metadata.generation).toBe(2);
  });

  it('on /status touches only status, and on the main resource never status', async () => {
    await req('POST', WIDGETS, widget('mps'));
    const st = await req('PATCH', `${WIDGETS}/mps/status`, { spec: { size: 9 }, status: { observedGeneration: 1 } }, MERGE);
    expect(st.body.spec.size).toBe(1);
    expect(st.body.status.observedGeneration).toBe(1);
    const main = await req('PATCH', `${WIDGETS}/mps`, { spec: { size: 2 }, status: { observedGeneration: 7 } }, MERGE);
    expect(main.body.status.observedGeneration).toBe(1);
    expect(main.body.spec.size).toBe(2);
  });

  it('with a stale metadata.resourceVersion gets 409', async () => {
    const o = (await req('POST', WIDGETS, widget('mpc'))).body;
    await req('PATCH', `${WIDGETS}/mpc`, { spec: { size: 2 } }, MERGE);
    const r = await req('PATCH', `${WIDGETS}/mpc`, { metadata: { resourceVersion: o.metadata.resourceVersion }, spec: { size: 3 } }, MERGE);
    expect(r.status).toBe(409);
  });

  it('on a missing object is 404 and the result is still validated (422)', async () => {
    expect((await req('PATCH', `${WIDGETS}/ghost`, { spec: { size: 2 } }, MERGE)).status).toBe(404);
    await req('POST', WIDGETS, widget('mpv'));
    const r = await req('PATCH', `${WIDGETS}/mpv`, { spec: { size: 100 } }, MERGE);
    expect(r.status).toBe(422);
  });
});

describe('JSON patch', () => {
  it('applies add, replace, remove, copy, move and test in order', async () => {
    await req('POST', WIDGETS, widget('jp', { size: 1, tags: ['a'] }));
    const r = await req('PATCH', `${WIDGETS}/jp`, [
      { op: 'test', path: '/spec/size', value: 1 },
      { op: 'replace', path: '/spec/size', value: 4 },
      { op: 'add', path: '/spec/tags/-', value: 'b' },
      { op: 'add', path: '/metadata/labels', value: {} },
      { op: 'add', path: '/metadata/labels/app.kubernetes.io~1name', value: 'x' },
      { op: 'copy', from: '/spec/mode', path: '/spec/name' },
      { op: 'remove', path: '/spec/tags/0' },
    ], JSONPATCH);
    expect(r.status).toBe(200);
    expect(r.body.spec).toMatchObject({ size: 4, tags: ['b'], name: 'safe' });
    expect(r.body.metadata.labels).toEqual({ 'app.kubernetes.io/name': 'x' });
  });

  it('fails the whole patch when a test op fails or a path is missing (422, nothing written)', async () => {
    const o = (await req('POST', WIDGETS, widget('jpf'))).body;
    const r = await req('PATCH', `${WIDGETS}/jpf`, [{ op: 'replace', path: '/spec/size', value: 2 }, { op: 'test', path: '/spec/size', value: 3 }], JSONPATCH);
    expect(r.status).toBe(422);
    const missing = await req('PATCH', `${WIDGETS}/jpf`, [{ op: 'remove', path: '/spec/nothing' }], JSONPATCH);
    expect(missing.status).toBe(422);
    expect((await req('GET', `${WIDGETS}/jpf`)).body.metadata.resourceVersion).toBe(o.metadata.resourceVersion);
  });
});

describe('strategic merge patch', () => {
  it('merges built-in lists by their patch merge key and honours $patch: delete', async () => {
    await req('POST', PODS, {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'smp', finalizers: ['a/b'] },
      spec: { containers: [{ name: 'app', image: 'app:1', env: [{ name: 'A', value: '1' }] }, { name: 'side', image: 'side:1' }] },
    });
    const r = await req('PATCH', `${PODS}/smp`, {
      metadata: { finalizers: ['c/d'] },
      spec: { containers: [{ name: 'app', image: 'app:2', env: [{ name: 'B', value: '2' }] }, { name: 'side', $patch: 'delete' }] },
    }, SMP);
    expect(r.status).toBe(200);
    expect(r.body.spec.containers).toEqual([{ name: 'app', image: 'app:2', env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }] }]);
    expect(r.body.metadata.finalizers).toEqual(['a/b', 'c/d']);
  });

  it('understands $setElementOrder, $deleteFromPrimitiveList and $retainKeys', async () => {
    await req('POST', PODS, { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'smp2', finalizers: ['x/1', 'x/2'], labels: { drop: 'me' } }, spec: { containers: [{ name: 'a', image: 'a' }, { name: 'b', image: 'b' }] } });
    const r = await req('PATCH', `${PODS}/smp2`, {
      metadata: { '$deleteFromPrimitiveList/finalizers': ['x/1'] },
      spec: { '$setElementOrder/containers': [{ name: 'b' }, { name: 'a' }], containers: [{ name: 'a', image: 'a2' }] },
    }, SMP);
    expect(r.body.metadata.finalizers).toEqual(['x/2']);
    expect(r.body.spec.containers.map((c: O) => `${c.name}:${c.image}`)).toEqual(['b:b', 'a:a2']);
    const retained = await req('PATCH', `${PODS}/smp2`, { metadata: { labels: { $retainKeys: ['keep'], keep: 'yes' } } }, SMP);
    expect(retained.body.metadata.labels).toEqual({ keep: 'yes' });
    const cleared = await req('PATCH', `${PODS}/smp2`, { metadata: { labels: { $retainKeys: [], $patch: 'merge' } } }, SMP);
    expect(cleared.body.metadata.labels ?? {}).toEqual({});
  });

  it('is refused for custom resources with 415, as kube-apiserver does', async () => {
    await req('POST', WIDGETS, widget('smpcr'));
    const r = await req('PATCH', `${WIDGETS}/smpcr`, { spec: { size: 2 } }, SMP);
    expect(r.status).toBe(415);
    expect(r.body.reason).toBe('UnsupportedMediaType');
  });
});

describe('server-side apply', () => {
  const applyYaml = (name: string, size: number, extra = '') => `apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: ${name}\nspec:\n  size: ${size}\n${extra}`;

  it('creates the object (201), records an Apply entry in managedFields, and requires fieldManager', async () => {
    const noManager = await req('PATCH', `${WIDGETS}/ssa`, applyYaml('ssa', 2), APPLY);
    expect(noManager.status).toBe(422);
    expect(noManager.body.details.causes[0]).toMatchObject({ field: 'fieldManager', reason: 'FieldValueRequired' });
    const r = await req('PATCH', `${WIDGETS}/ssa?fieldManager=alice`, applyYaml('ssa', 2, '  tags: [a]\n'), APPLY);
    expect(r.status).toBe(201);
    const entry = r.body.metadata.managedFields.find((m: O) => m.manager === 'alice');
    expect(entry).toMatchObject({ manager: 'alice', operation: 'Apply', apiVersion: 'example.com/v1', fieldsType: 'FieldsV1' });
    expect(entry.fieldsV1).toEqual({ 'f:spec': { 'f:size': {}, 'f:tags': { 'v:"a"': {} } } });
  });

  it('conflicts with another manager on a differing value (409 with FieldManagerConflict causes) unless forced', async () => {
    const c = await req('PATCH', `${WIDGETS}/ssa?fieldManager=bob`, applyYaml('ssa', 3), APPLY);
    expect(c.status).toBe(409);
    expect(c.body).toMatchObject({
      reason: 'Conflict',
      code: 409,
      message: 'Apply failed with 1 conflict: conflict with "alice": .spec.size',
      details: { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.spec.size' }] },
    });
    const same = await req('PATCH', `${WIDGETS}/ssa?fieldManager=bob`, applyYaml('ssa', 2), APPLY);
    expect(same.status).toBe(200);
    const forced = await req('PATCH', `${WIDGETS}/ssa?fieldManager=bob&force=true`, applyYaml('ssa', 3), APPLY);
    expect(forced.status).toBe(200);
    expect(forced.body.spec.size).toBe(3);
    const alice = forced.body.metadata.managedFields.find((m: O) => m.manager === 'alice');
    expect(alice.fieldsV1['f:spec']['f:size']).toBeUndefined();
  });

  it('removes fields a manager stops applying, unless someone else owns them', async () => {
    await req('PATCH', `${WIDGETS}/ssa2?fieldManager=alice`, applyYaml('ssa2', 2, '  note: hello\n  name: abc\n'), APPLY);
    await req('PATCH', `${WIDGETS}/ssa2?fieldManager=carol`, applyYaml('ssa2', 2, '  name: abc\n'), APPLY);
    const r = await req('PATCH', `${WIDGETS}/ssa2?fieldManager=alice`, applyYaml('ssa2', 2), APPLY);
    expect(r.body.spec.note).toBeUndefined();
    expect(r.body.spec.name).toBe('abc');
  });

  it('merges list-type=map entries by key, so two managers can own different entries', async () => {
    await req('PATCH', `${WIDGETS}/ssa3?fieldManager=a`, applyYaml('ssa3', 1, '  ports:\n  - name: http\n    number: 80\n'), APPLY);
    const r = await req('PATCH', `${WIDGETS}/ssa3?fieldManager=b`, 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: ssa3\nspec:\n  ports:\n  - name: metrics\n    number: 9090\n', APPLY);
    expect(r.status).toBe(200);
    expect(r.body.spec.ports).toEqual([{ name: 'http', number: 80 }, { name: 'metrics', number: 9090 }]);
    const b = r.body.metadata.managedFields.find((m: O) => m.manager === 'b');
    expect(Object.keys(b.fieldsV1['f:spec']['f:ports'])).toEqual(['k:{"name":"metrics"}']);
  });

  it('gives fields changed by a plain update to that manager, so a later apply conflicts with it', async () => {
    await req('PATCH', `${WIDGETS}/ssa4?fieldManager=applier`, applyYaml('ssa4', 1, '  name: keep\n'), APPLY);
    await req('PATCH', `${WIDGETS}/ssa4?fieldManager=scaler`, { spec: { size: 5 } }, MERGE);
    const o = (await req('GET', `${WIDGETS}/ssa4`)).body;
    expect(o.metadata.managedFields.map((m: O) => `${m.manager}:${m.operation}`)).toEqual(['applier:Apply', 'scaler:Update']);
    const c = await req('PATCH', `${WIDGETS}/ssa4?fieldManager=applier`, applyYaml('ssa4', 1, '  name: keep\n'), APPLY);
    expect(c.status).toBe(409);
    expect(c.body.message).toMatch(/^Apply failed with 1 conflict: conflict with "scaler" using example\.com\/v1 at \S+: \.spec\.size$/);
  });

  it('applies to the status subresource separately from spec', async () => {
    await req('PATCH', `${WIDGETS}/ssa5?fieldManager=user`, applyYaml('ssa5', 1), APPLY);
    const r = await req('PATCH', `${WIDGETS}/ssa5/status?fieldManager=controller`, 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: ssa5\nstatus:\n  conditions:\n  - type: Ready\n    status: "True"\n', APPLY);
    expect(r.status).toBe(200);
    expect(r.body.status.conditions).toEqual([{ type: 'Ready', status: 'True' }]);
    expect(r.body.spec.size).toBe(1);
    const ctl = r.body.metadata.managedFields.find((m: O) => m.manager === 'controller');
    expect(ctl).toMatchObject({ operation: 'Apply', subresource: 'status' });
  });
});
