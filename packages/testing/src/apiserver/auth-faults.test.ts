// Conformance: bearer-token authentication and RBAC answers (401/403 shapes), injected faults (status codes,
// Retry-After, latency, counted rules) and snapshot persistence across a restart.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startTestApiServer, type TestApiServer } from './server.js';
import { http, widget, WIDGET_CRD, WIDGETS } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('authentication and RBAC', () => {
  let s: TestApiServer;
  const as = (token: string | undefined, method: string, path: string, body?: unknown) =>
    http<O>(s.url, method, path, body, token ? { authorization: `Bearer ${token}` } : {});

  beforeAll(async () => {
    s = await startTestApiServer({
      auth: {
        tokens: {
          root: { user: 'admin', groups: ['system:masters'], rules: 'cluster-admin' },
          reader: { user: 'reader', rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: ['example.com'], resources: ['widgets'] }] },
          scoped: { user: 'scoped', rules: [{ verbs: ['*'], apiGroups: ['*'], resources: ['configmaps'], namespaces: ['kube-system'], resourceNames: ['vigil-config'] }] },
        },
      },
    });
    s.seed([WIDGET_CRD]);
  });
  afterAll(() => s.stop());

  it('401 Unauthorized Status without or with an unknown token; health stays open', async () => {
    for (const token of [undefined, 'bogus']) {
      const r = await as(token, 'GET', WIDGETS);
      expect(r.status).toBe(401);
      expect(r.body).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    expect((await as(undefined, 'GET', '/healthz')).status).toBe(200);
    expect((await as('reader', 'GET', '/apis')).status).toBe(200);
  });

  it('403 Forbidden with the real message for verbs outside the rules', async () => {
    expect((await as('reader', 'GET', WIDGETS)).status).toBe(200);
    const create = await as('reader', 'POST', WIDGETS, widget('w'));
    expect(create.status).toBe(403);
    expect(create.body).toEqual({
      kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', reason: 'Forbidden', code: 403,
      message: 'widgets.example.com is forbidden: User "reader" cannot create resource "widgets" in API group "example.com" in the namespace "default"',
      details: { group: 'example.com', kind: 'widgets' },
    });
    const status = await as('reader', 'PATCH', `${WIDGETS}/w/status`, {});
    expect(status.body.message).toBe('widgets.example.com "w" is forbidden: User "reader" cannot patch resource "widgets/status" in API group "example.com" in the namespace "default"');
    const nodes = await as('reader', 'GET', '/api/v1/nodes');
    expect(nodes.body.message).toBe('nodes is forbidden: User "reader" cannot list resource "nodes" in API group "" at the cluster scope');
  });

  it('scopes rules to namespaces and resourceNames', async () => {
    await as('root', 'POST', '/api/v1/namespaces/kube-system/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'vigil-config' } });
    expect((await as('scoped', 'GET', '/api/v1/namespaces/kube-system/configmaps/vigil-config')).status).toBe(200);
    expect((await as('scoped', 'GET', '/api/v1/namespaces/kube-system/configmaps/other')).status).toBe(403);
    expect((await as('scoped', 'GET', '/api/v1/namespaces/default/configmaps/vigil-config')).status).toBe(403);
    expect((await as('scoped', 'GET', '/api/v1/namespaces/kube-system/configmaps')).status).toBe(403);
  });

  it('checks authorization before existence (no probing of names without rights)', async () => {
    const r = await as('reader', 'DELETE', `${WIDGETS}/does-not-exist`);
    expect(r.status).toBe(403);
  });
});

describe('fault injection', () => {
  let s: TestApiServer;
  const req = (method: string, path: string, body?: unknown) => http<O>(s.url, method, path, body);
  beforeAll(async () => {
    s = await startTestApiServer();
    s.seed([WIDGET_CRD]);
  });
  afterAll(() => s.stop());

  it('fails the next matching requests with 409, 500 or 429 (+Retry-After), then serves normally', async () => {
    const h = s.faults.failNext(409, { verb: 'create', resource: 'widgets' }, 2);
    expect((await req('POST', WIDGETS, widget('f1'))).body).toMatchObject({ reason: 'Conflict', code: 409 });
    expect((await req('POST', WIDGETS, widget('f1'))).status).toBe(409);
    expect(h.hits).toBe(2);
    expect((await req('POST', WIDGETS, widget('f1'))).status).toBe(201);

    s.faults.failNext(500, { verb: 'get', name: 'f1' });
    const e500 = await req('GET', `${WIDGETS}/f1`);
    expect(e500.body).toMatchObject({ kind: 'Status', reason: 'InternalError', code: 500 });
    expect((await req('GET', `${WIDGETS}/f1`)).status).toBe(200);

    s.faults.inject({ status: 429, retryAfterSeconds: 3, times: 1, match: { verb: 'list' } });
    const e429 = await req('GET', WIDGETS);
    expect(e429.status).toBe(429);
    expect(e429.headers.get('retry-after')).toBe('3');
    expect(e429.body).toMatchObject({ reason: 'TooManyRequests', details: { retryAfterSeconds: 3 } });
  });

  it('adds latency to matching requests only, until removed', async () => {
    // lower bounds only: timers never fire early, while a loaded CI machine can make any request slow
    const h = s.faults.addLatency(600, { resource: 'widgets', verb: 'get' });
    const t = Date.now();
    await req('GET', `${WIDGETS}/f1`);
    expect(Date.now() - t).toBeGreaterThanOrEqual(590);
    expect(h.hits).toBe(1);
    await req('GET', '/api/v1/namespaces/default');
    await req('GET', WIDGETS);
    expect(h.hits).toBe(1);
    h.remove();
    await req('GET', `${WIDGETS}/f1`);
    expect(h.hits).toBe(1);
  });

  it('records every request for assertions', async () => {
    const before = s.requests.length;
    await req('GET', `${WIDGETS}/f1`);
    expect(s.requests.slice(before)).toEqual([expect.objectContaining({ method: 'GET', path: `${WIDGETS}/f1`, verb: 'get', status: 200 })]);
  });
});

describe('snapshot persistence', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vigil-apiserver-'));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('restores objects, CRD-served types and the resourceVersion counter after a restart', async () => {
    const snapshotPath = join(dir, 'state.json');
    const a = await startTestApiServer({ snapshotPath });
    a.seed([WIDGET_CRD]);
    const created = (await http<O>(a.url, 'POST', WIDGETS, widget('kept', { size: 3 }))).body;
    const rv = a.resourceVersion();
    await a.stop();
    const b = await startTestApiServer({ snapshotPath });
    try {
      const got = (await http<O>(b.url, 'GET', `${WIDGETS}/kept`)).body;
      expect(got.metadata.uid).toBe(created.metadata.uid);
      expect(got.spec.size).toBe(3);
      expect(b.resourceVersion()).toBe(rv);
      const next = (await http<O>(b.url, 'POST', WIDGETS, widget('new'))).body;
      expect(Number(next.metadata.resourceVersion)).toBe(rv + 1);
      // history did not survive: watching from before the restart is 410 Expired
      const w = await http<string>(b.url, 'GET', `${WIDGETS}?watch=true&resourceVersion=${rv - 1}`);
      expect(JSON.parse(w.text.trim()) as O).toMatchObject({ type: 'ERROR', object: { code: 410 } });
    } finally {
      await b.stop();
    }
  });
});
