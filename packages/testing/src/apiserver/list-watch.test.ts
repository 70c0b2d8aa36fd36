// Conformance: list (selectors, limit/continue, resourceVersion semantics) and watch (event order, resourceVersion
// starting points, selector transitions, bookmarks, 410 Expired), as the API concepts documentation specifies.
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestApiServer, type TestApiServer } from './server.js';
import { http, WatchReader, widget, WIDGET_CRD } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestApiServer;
const readers: WatchReader[] = [];
const req = <T = O>(method: string, path: string, body?: unknown, headers?: Record<string, string>) => http<T>(s.url, method, path, body, headers);
const watch = async (path: string, headers?: Record<string, string>) => {
  const w = await WatchReader.open(s.url + path, headers);
  readers.push(w);
  return w;
};
let nsCounter = 0;
async function freshNamespace(): Promise<string> {
  const name = `lw-${++nsCounter}`;
  await req('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  return name;
}
const widgets = (ns: string) => `/apis/example.com/v1/namespaces/${ns}/widgets`;

beforeAll(async () => {
  s = await startTestApiServer({ historyLimit: 200, bookmarkIntervalMs: 100 });
  await req('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', WIDGET_CRD);
});
afterEach(() => {
  for (const r of readers.splice(0)) r.close();
  s.faults.clear();
});
afterAll(() => s.stop());

describe('list', () => {
  it('returns a typed list with the current resourceVersion and items sorted by name', async () => {
    const ns = await freshNamespace();
    for (const n of ['b', 'a', 'c']) await req('POST', widgets(ns), widget(n));
    const l = (await req('GET', widgets(ns))).body;
    expect(l.kind).toBe('WidgetList');
    expect(l.apiVersion).toBe('example.com/v1');
    expect(l.metadata.resourceVersion).toBe(String(s.resourceVersion()));
    expect(l.items.map((i: O) => i.metadata.name)).toEqual(['a', 'b', 'c']);
    expect(l.items[0].kind).toBe('Widget');
  });

  it('omits kind and apiVersion on items of built-in lists', async () => {
    const l = (await req('GET', '/api/v1/namespaces')).body;
    expect(l.kind).toBe('NamespaceList');
    expect(l.items[0].kind).toBeUndefined();
  });

  it('lists across namespaces on the cluster-wide path', async () => {
    const a = await freshNamespace();
    const b = await freshNamespace();
    await req('POST', widgets(a), widget('x'));
    await req('POST', widgets(b), widget('x'));
    const all = (await req('GET', '/apis/example.com/v1/widgets')).body.items.map((i: O) => i.metadata.namespace);
    expect(all).toEqual(expect.arrayContaining([a, b]));
  });

  it('filters with label selectors: =, ==, !=, in, notin, exists, !exists', async () => {
    const ns = await freshNamespace();
    const labels: Record<string, O> = { p: { tier: 'web', env: 'prod' }, q: { tier: 'db', env: 'prod' }, r: { tier: 'web' }, t: {} };
    for (const [n, l] of Object.entries(labels)) await req('POST', widgets(ns), widget(n, { size: 1 }, { metadata: { labels: l } }));
    const sel = async (selector: string) =>
      (await req('GET', `${widgets(ns)}?labelSelector=${encodeURIComponent(selector)}`)).body.items.map((i: O) => i.metadata.name);
    expect(await sel('tier=web')).toEqual(['p', 'r']);
    expect(await sel('tier==web,env=prod')).toEqual(['p']);
    expect(await sel('tier!=web')).toEqual(['q', 't']);
    expect(await sel('tier in (db, web),env')).toEqual(['p', 'q']);
    expect(await sel('tier notin (web)')).toEqual(['q', 't']);
    expect(await sel('!env')).toEqual(['r', 't']);
  });

  it('rejects a malformed label selector with 400', async () => {
    const r = await req('GET', `${widgets('default')}?labelSelector=${encodeURIComponent('a in (b')}`);
    expect(r.status).toBe(400);
    expect(r.body.reason).toBe('BadRequest');
  });

  it('filters with field selectors and rejects unsupported fields', async () => {
    const ns = await freshNamespace();
    const pod = (name: string, node: string) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { nodeName: node, containers: [{ name: 'c', image: 'i' }] } });
    await req('POST', `/api/v1/namespaces/${ns}/pods`, pod('p1', 'n1'));
    await req('POST', `/api/v1/namespaces/${ns}/pods`, pod('p2', 'n2'));
    const names = async (fs: string) => (await req('GET', `/api/v1/namespaces/${ns}/pods?fieldSelector=${encodeURIComponent(fs)}`)).body.items.map((i: O) => i.metadata.name);
    expect(await names('spec.nodeName=n2')).toEqual(['p2']);
    expect(await names('spec.nodeName!=n2,status.phase=Pending')).toEqual(['p1']);
    expect(await names('metadata.name==p1')).toEqual(['p1']);
    const bad = await req('GET', `/api/v1/namespaces/${ns}/pods?fieldSelector=spec.foo%3Dx`);
    expect(bad.status).toBe(400);
    expect(bad.body.message).toBe('field label not supported: spec.foo');
    const badCr = await req('GET', `${widgets(ns)}?fieldSelector=spec.size%3D1`);
    expect(badCr.status).toBe(400);
    expect(badCr.body.message).toBe('"spec.size" is not a known field selector: only "metadata.name", "metadata.namespace"');
  });

  it('pages with limit/continue over a consistent snapshot, with remainingItemCount', async () => {
    const ns = await freshNamespace();
    for (let i = 0; i < 5; i++) await req('POST', widgets(ns), widget(`w${i}`));
    const p1 = (await req('GET', `${widgets(ns)}?limit=2`)).body;
    expect(p1.items.map((i: O) => i.metadata.name)).toEqual(['w0', 'w1']);
    expect(p1.metadata.remainingItemCount).toBe(3);
    expect(typeof p1.metadata.continue).toBe('string');
    // changes after the first page are not seen by later pages of the same list
    await req('DELETE', `${widgets(ns)}/w3`);
    await req('POST', widgets(ns), widget('w5'));
    const p2 = (await req('GET', `${widgets(ns)}?limit=2&continue=${encodeURIComponent(p1.metadata.continue)}`)).body;
    expect(p2.items.map((i: O) => i.metadata.name)).toEqual(['w2', 'w3']);
    expect(p2.metadata.resourceVersion).toBe(p1.metadata.resourceVersion);
    const p3 = (await req('GET', `${widgets(ns)}?limit=2&continue=${encodeURIComponent(p2.metadata.continue)}`)).body;
    expect(p3.items.map((i: O) => i.metadata.name)).toEqual(['w4']);
    expect(p3.metadata.continue).toBeUndefined();
  });

  it('answers 410 Expired to a continue token older than the history', async () => {
    const ns = await freshNamespace();
    for (let i = 0; i < 3; i++) await req('POST', widgets(ns), widget(`w${i}`));
    const p1 = (await req('GET', `${widgets(ns)}?limit=1`)).body;
    await req('POST', widgets(ns), widget('later'));
    s.faults.expireHistory();
    const r = await req('GET', `${widgets(ns)}?limit=1&continue=${encodeURIComponent(p1.metadata.continue)}`);
    expect(r.status).toBe(410);
    expect(r.body).toMatchObject({ kind: 'Status', reason: 'Expired', code: 410 });
    expect(r.body.message).toMatch(/^The provided continue parameter is too old/);
  });

  it('rejects a garbled continue token with 400', async () => {
    const r = await req('GET', `${widgets('default')}?limit=1&continue=garbage`);
    expect(r.status).toBe(400);
  });

  it('serves resourceVersionMatch=Exact from history', async () => {
    const ns = await freshNamespace();
    await req('POST', widgets(ns), widget('early'));
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    await req('POST', widgets(ns), widget('late'));
    const exact = (await req('GET', `${widgets(ns)}?resourceVersion=${rv}&resourceVersionMatch=Exact`)).body;
    expect(exact.items.map((i: O) => i.metadata.name)).toEqual(['early']);
    expect(exact.metadata.resourceVersion).toBe(rv);
    const notOlder = (await req('GET', `${widgets(ns)}?resourceVersion=${rv}&resourceVersionMatch=NotOlderThan`)).body;
    expect(notOlder.items.map((i: O) => i.metadata.name)).toEqual(['early', 'late']);
  });
});

describe('watch', () => {
  it('from a list resourceVersion delivers ADDED, MODIFIED, DELETED in order with growing resourceVersions', async () => {
    const ns = await freshNamespace();
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    const w = await watch(`${widgets(ns)}?watch=true&resourceVersion=${rv}`);
    expect(w.status).toBe(200);
    const o = (await req('POST', widgets(ns), widget('x'))).body;
    await req('PUT', `${widgets(ns)}/x`, { ...o, spec: { size: 2 } });
    await req('DELETE', `${widgets(ns)}/x`);
    const ev = await w.next(3);
    expect(ev.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
    const rvs = ev.map((e) => Number((e.object as O).metadata.resourceVersion));
    expect(new Set(rvs).size).toBe(3);
    expect([...rvs].sort((a, b) => a - b)).toEqual(rvs);
    expect((ev[1]?.object as O).spec.size).toBe(2);
    expect((ev[0]?.object as O).kind).toBe('Widget');
  });

  it('from a resourceVersion not reached yet delivers only the changes after it', async () => {
    const ns = await freshNamespace();
    const future = s.resourceVersion() + 2;
    const w = await watch(`${widgets(ns)}?watch=true&resourceVersion=${future}`);
    for (const n of ['f1', 'f2', 'f3']) await req('POST', widgets(ns), widget(n));
    const ev = await w.next(1);
    await new Promise((r) => setTimeout(r, 50));
    expect(w.all.map((e) => (e.object as O).metadata.name)).toEqual(['f3']);
    expect(ev[0]?.type).toBe('ADDED');
  });

  it('replays history after an older resourceVersion', async () => {
    const ns = await freshNamespace();
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    await req('POST', widgets(ns), widget('past'));
    const w = await watch(`${widgets(ns)}?watch=1&resourceVersion=${rv}`);
    const ev = await w.next(1);
    expect(ev[0]).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'past' } } });
  });

  it('without resourceVersion starts with synthetic ADDED events for existing objects', async () => {
    const ns = await freshNamespace();
    await req('POST', widgets(ns), widget('a'));
    await req('POST', widgets(ns), widget('b'));
    const w = await watch(`${widgets(ns)}?watch=true`);
    const ev = await w.next(2);
    expect(ev.map((e) => `${e.type}:${(e.object as O).metadata.name}`)).toEqual(['ADDED:a', 'ADDED:b']);
  });

  it('with a label selector turns objects entering/leaving the selection into ADDED/DELETED', async () => {
    const ns = await freshNamespace();
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    const w = await watch(`${widgets(ns)}?watch=true&resourceVersion=${rv}&labelSelector=team%3Dred`);
    let o = (await req('POST', widgets(ns), widget('m', { size: 1 }, { metadata: { labels: { team: 'blue' } } }))).body;
    o = (await req('PUT', `${widgets(ns)}/m`, { ...o, metadata: { ...o.metadata, labels: { team: 'red' } } })).body;
    o = (await req('PUT', `${widgets(ns)}/m`, { ...o, spec: { size: 3 } })).body;
    await req('PUT', `${widgets(ns)}/m`, { ...o, metadata: { ...o.metadata, labels: { team: 'blue' } } });
    const ev = await w.next(3);
    expect(ev.map((e) => e.type)).toEqual(['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('is scoped to the namespace in the path', async () => {
    const a = await freshNamespace();
    const b = await freshNamespace();
    const rv = (await req('GET', widgets(a))).body.metadata.resourceVersion;
    const w = await watch(`${widgets(a)}?watch=true&resourceVersion=${rv}`);
    await req('POST', widgets(b), widget('other'));
    await req('POST', widgets(a), widget('mine'));
    const ev = await w.next(1);
    expect((ev[0]?.object as O).metadata.name).toBe('mine');
    expect(w.all).toHaveLength(1);
  });

  it('sends BOOKMARK events carrying only a resourceVersion when allowWatchBookmarks=true', async () => {
    const ns = await freshNamespace();
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    const w = await watch(`${widgets(ns)}?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    const ev = await w.next(1, 3000);
    expect(ev[0]).toEqual({ type: 'BOOKMARK', object: { kind: 'Widget', apiVersion: 'example.com/v1', metadata: { resourceVersion: String(s.resourceVersion()) } } });
  });

  it('marks the end of initial events with a bookmark for sendInitialEvents=true', async () => {
    const ns = await freshNamespace();
    await req('POST', widgets(ns), widget('one'));
    const w = await watch(`${widgets(ns)}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`);
    const ev = await w.next(2);
    expect(ev[0]?.type).toBe('ADDED');
    expect(ev[1]).toMatchObject({ type: 'BOOKMARK', object: { metadata: { annotations: { 'k8s.io/initial-events-end': 'true' } } } });
  });

  it('with sendInitialEvents=true starts from the current state even when given a resourceVersion', async () => {
    const ns = await freshNamespace();
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    await req('POST', widgets(ns), widget('now'));
    const w = await watch(`${widgets(ns)}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=${rv}&allowWatchBookmarks=true`);
    const ev = await w.next(2);
    expect(ev.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
    await req('POST', widgets(ns), widget('later'));
    const more = await w.next(3);
    expect(more.filter((e) => e.type !== 'BOOKMARK').map((e) => (e.object as O).metadata.name)).toEqual(['now', 'later']);
  });

  it('answers a too-old resourceVersion with an ERROR event carrying a 410 Expired Status, then ends', async () => {
    const ns = await freshNamespace();
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    await req('POST', widgets(ns), widget('x'));
    s.faults.expireHistory();
    const w = await watch(`${widgets(ns)}?watch=true&resourceVersion=${rv}`);
    expect(w.status).toBe(200);
    const ev = await w.closed();
    expect(ev).toHaveLength(1);
    expect(ev[0]?.type).toBe('ERROR');
    expect(ev[0]?.object).toMatchObject({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Expired', code: 410 });
    expect((ev[0]?.object as O).message).toMatch(/^too old resource version: \d+ \(\d+\)$/);
  });

  it('expires naturally once more changes happened than the history keeps', async () => {
    const ns = await freshNamespace();
    const rv = (await req('GET', widgets(ns))).body.metadata.resourceVersion;
    for (let i = 0; i < 210; i++) await req('POST', '/api/v1/namespaces/default/configmaps', { apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'fill-' } });
    const w = await watch(`${widgets(ns)}?watch=true&resourceVersion=${rv}`);
    const ev = await w.closed();
    expect((ev[0]?.object as O).code).toBe(410);
  });

  it('forced expiry sends 410 to open watches; dropWatches just ends them', async () => {
    const ns = await freshNamespace();
    const w1 = await watch(`${widgets(ns)}?watch=true`);
    await new Promise((r) => setTimeout(r, 50));
    expect(s.faults.dropWatches({ resource: 'widgets' })).toBeGreaterThanOrEqual(1);
    expect(await w1.closed()).toEqual([]);
    const w2 = await watch(`${widgets(ns)}?watch=true`);
    await new Promise((r) => setTimeout(r, 50));
    s.faults.expireHistory();
    const ev = await w2.closed();
    expect(ev[0]).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  });

  it('ends after timeoutSeconds', async () => {
    const ns = await freshNamespace();
    const w = await watch(`${widgets(ns)}?watch=true&timeoutSeconds=1`);
    const started = Date.now();
    await w.closed(3000);
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
  });

  it('on a single object via fieldSelector=metadata.name (what kubectl wait uses)', async () => {
    const ns = await freshNamespace();
    await req('POST', widgets(ns), widget('one'));
    await req('POST', widgets(ns), widget('two'));
    const w = await watch(`${widgets(ns)}?watch=true&fieldSelector=metadata.name%3Dtwo`);
    const ev = await w.next(1);
    expect((ev[0]?.object as O).metadata.name).toBe('two');
    await new Promise((r) => setTimeout(r, 50));
    expect(w.all).toHaveLength(1);
  });

  it('delivers the final state in DELETED after the last finalizer is removed', async () => {
    const ns = await freshNamespace();
    const o = (await req('POST', widgets(ns), widget('f', { size: 1 }, { metadata: { finalizers: ['x/y'] } }))).body;
    const w = await watch(`${widgets(ns)}?watch=true&resourceVersion=${o.metadata.resourceVersion}`);
    await req('DELETE', `${widgets(ns)}/f`);
    const cur = (await req('GET', `${widgets(ns)}/f`)).body;
    await req('PUT', `${widgets(ns)}/f`, { ...cur, metadata: { ...cur.metadata, finalizers: [] } });
    const ev = await w.next(2);
    expect(ev.map((e) => e.type)).toEqual(['MODIFIED', 'DELETED']);
    expect((ev[0]?.object as O).metadata.deletionTimestamp).toBeDefined();
    expect((ev[1]?.object as O).metadata.finalizers).toEqual([]);
  });
});
