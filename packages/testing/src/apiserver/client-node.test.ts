// The real @kubernetes/client-node 2.x against the test API server: typed APIs, CustomObjectsApi with status
// patches (Content-Type chosen through setHeaderOptions, as 2.x requires), ApiException codes, list/watch
// informers that recover from dropped watches and 410 Expired, bearer tokens and RBAC.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  ApiException,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  makeInformer,
  PatchStrategy,
  setHeaderOptions,
  V1MicroTime,
  type KubernetesObject,
  type V1Pod,
} from '@kubernetes/client-node';
import { startTestApiServer, type TestApiServer } from './server.js';
import { widget, WIDGET_CRD } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

let s: TestApiServer;
let kc: KubeConfig;

beforeAll(async () => {
  s = await startTestApiServer({ bookmarkIntervalMs: 200 });
  kc = new KubeConfig();
  kc.loadFromString(s.kubeconfig());
  s.seed([WIDGET_CRD]);
});
afterAll(() => s.stop());

async function until(cond: () => boolean, what: string, timeoutMs = 8000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const pod = (name: string, labels: Record<string, string> = {}): V1Pod => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name, labels },
  spec: { containers: [{ name: 'c', image: 'busybox' }] },
});

describe('typed and custom-object APIs', () => {
  it('create, read and list pods with CoreV1Api', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const created = await core.createNamespacedPod({ namespace: 'default', body: pod('cn-1', { app: 'x' }) });
    expect(created.metadata?.uid).toBeDefined();
    expect(created.status?.phase).toBe('Pending');
    const read = await core.readNamespacedPod({ name: 'cn-1', namespace: 'default' });
    expect(read.metadata?.resourceVersion).toBe(created.metadata?.resourceVersion);
    const list = await core.listNamespacedPod({ namespace: 'default', labelSelector: 'app=x' });
    expect(list.items.map((p) => p.metadata?.name)).toEqual(['cn-1']);
    expect(list.metadata?.resourceVersion).toBeDefined();
  });

  it('surface server errors as ApiException with the HTTP code and the Status body', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const err = await core.readNamespacedPod({ name: 'missing', namespace: 'default' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiException);
    const ex = err as ApiException<string>;
    expect(ex.code).toBe(404);
    const body = (typeof ex.body === 'string' ? JSON.parse(ex.body) : ex.body) as O;
    expect(body).toMatchObject({ kind: 'Status', reason: 'NotFound', message: 'pods "missing" not found' });
  });

  it('CustomObjectsApi: create, 409 on stale replace, merge-patch status through setHeaderOptions', async () => {
    const co = kc.makeApiClient(CustomObjectsApi);
    const g = { group: 'example.com', version: 'v1', namespace: 'default', plural: 'widgets' };
    const created = (await co.createNamespacedCustomObject({ ...g, body: widget('cn-w', { size: 2 }) })) as O;
    expect(created.spec.mode).toBe('safe');
    await co.replaceNamespacedCustomObject({ ...g, name: 'cn-w', body: { ...created, spec: { size: 3 } } });
    const stale = await co.replaceNamespacedCustomObject({ ...g, name: 'cn-w', body: { ...created, spec: { size: 4 } } }).catch((e: unknown) => e);
    expect((stale as ApiException<unknown>).code).toBe(409);

    const patched = (await co.patchNamespacedCustomObjectStatus(
      { ...g, name: 'cn-w', body: { status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Compiled' }] } } },
      setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
    )) as O;
    expect(patched.status.conditions[0].status).toBe('True');
    expect(patched.spec.size).toBe(3);
    expect(patched.metadata.generation).toBe(2);

    // the default patch type of client-node 2.x is JSON patch
    const jp = (await co.patchNamespacedCustomObject({ ...g, name: 'cn-w', body: [{ op: 'replace', path: '/spec/size', value: 5 }] })) as O;
    expect(jp.spec.size).toBe(5);
    expect(jp.metadata.generation).toBe(3);
    expect(jp.status.observedGeneration).toBe(2);

    // server-side apply through PatchStrategy.ServerSideApply
    const applied = (await co.patchNamespacedCustomObject(
      { ...g, name: 'cn-w', body: { apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'cn-w', labels: { owner: 'op' } } }, fieldManager: 'vigil-operator' },
      setHeaderOptions('Content-Type', PatchStrategy.ServerSideApply),
    )) as O;
    expect(applied.metadata.labels).toEqual({ owner: 'op' });
    expect(applied.metadata.managedFields.map((m: O) => `${m.manager}/${m.operation}`)).toContain('vigil-operator/Apply');
  });

  it('validation failures come back as 422 with causes', async () => {
    const co = kc.makeApiClient(CustomObjectsApi);
    const err = (await co
      .createNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: 'default', plural: 'widgets', body: widget('cn-bad', { size: 0 }) })
      .catch((e: unknown) => e)) as ApiException<string>;
    expect(err.code).toBe(422);
    const body = (typeof err.body === 'string' ? JSON.parse(err.body) : err.body) as O;
    expect(body.details.causes[0]).toMatchObject({ field: 'spec.size', reason: 'FieldValueInvalid' });
  });
});

describe('typed time fields', () => {
  it('Lease MicroTime fields need microseconds: a plain Date is refused with 400 as on a real cluster, V1MicroTime works', async () => {
    const api = kc.makeApiClient(CoordinationV1Api);
    const bad = (await api
      .createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'lease-date' }, spec: { holderIdentity: 'a', renewTime: new Date() } } })
      .catch((e: unknown) => e)) as ApiException<string>;
    expect(bad.code).toBe(400);
    const body = (typeof bad.body === 'string' ? JSON.parse(bad.body) : bad.body) as O;
    expect(body.message).toMatch(/^Lease in version "v1" cannot be handled as a Lease: parsing time "[^"]+\.\d{3}Z" as "2006-01-02T15:04:05\.000000Z07:00"/);
    const ok = await api.createNamespacedLease({ namespace: 'default', body: { metadata: { name: 'lease-micro' }, spec: { holderIdentity: 'a', renewTime: new V1MicroTime() } } });
    expect(ok.spec?.holderIdentity).toBe('a');
    expect(s.read('coordination.k8s.io/v1', 'leases', 'lease-micro')?.spec).toMatchObject({ renewTime: expect.stringMatching(/\.\d{6}Z$/) });
  });

  it('metav1.Time fields are stored and served at second precision', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    await core.createNamespacedEvent({ namespace: 'default', body: { metadata: { name: 'ev-time' }, involvedObject: { kind: 'Pod', name: 'p' }, reason: 'R', firstTimestamp: new Date('2026-01-02T03:04:05.678Z') } });
    expect(s.read('v1', 'events', 'ev-time')?.firstTimestamp).toBe('2026-01-02T03:04:05Z');
  });
});

describe('informers', () => {
  it('list then watch: add, update, delete callbacks in order; survives dropped watches and 410 Expired', async () => {
    await s.seed([{ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'inf' } }]);
    const co = kc.makeApiClient(CustomObjectsApi);
    const g = { group: 'example.com', version: 'v1', namespace: 'inf', plural: 'widgets' };
    await co.createNamespacedCustomObject({ ...g, body: widget('before') });
    const path = '/apis/example.com/v1/namespaces/inf/widgets';
    const informer = makeInformer<KubernetesObject & O>(kc, path, () => co.listNamespacedCustomObject(g) as Promise<O> as never);
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add:${o.metadata?.name}`));
    informer.on('update', (o) => seen.push(`update:${o.metadata?.name}:${(o as O).spec.size}`));
    informer.on('delete', (o) => seen.push(`delete:${o.metadata?.name}`));
    const errors: unknown[] = [];
    informer.on('error', (e) => errors.push(e));
    await informer.start();
    try {
      await until(() => seen.includes('add:before'), 'initial list');
      const w = (await co.createNamespacedCustomObject({ ...g, body: widget('live') })) as O;
      await co.replaceNamespacedCustomObject({ ...g, name: 'live', body: { ...w, spec: { size: 7 } } });
      await co.deleteNamespacedCustomObject({ ...g, name: 'live' });
      await until(() => seen.includes('delete:live'), 'delete event');
      expect(seen).toEqual(['add:before', 'add:live', 'update:live:7', 'delete:live']);

      // a dropped watch is re-established from the last resourceVersion
      const watchesBefore = s.requests.filter((r) => r.verb === 'watch').length;
      expect(s.faults.dropWatches({ resource: 'widgets', namespace: 'inf' })).toBe(1);
      await until(() => s.requests.filter((r) => r.verb === 'watch').length > watchesBefore, 're-watch after drop');
      await co.createNamespacedCustomObject({ ...g, body: widget('after-drop') });
      await until(() => seen.includes('add:after-drop'), 'event after drop');

      // 410 Expired: the informer re-lists and keeps its cache right
      const listsBefore = s.requests.filter((r) => r.verb === 'list' && r.path === path).length;
      s.faults.expireHistory();
      await until(() => s.requests.filter((r) => r.verb === 'list' && r.path === path).length > listsBefore, 're-list after 410');
      await co.createNamespacedCustomObject({ ...g, body: widget('after-expiry') });
      await until(() => seen.includes('add:after-expiry'), 'event after 410');
      expect(informer.list().map((o) => o.metadata?.name).sort()).toEqual(['after-drop', 'after-expiry', 'before']);
      expect(errors).toEqual([]);
    } finally {
      await informer.stop();
    }
  });

  it('a label-selected pod informer sees pods enter and leave the selection', async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const informer = makeInformer<V1Pod>(kc, '/api/v1/namespaces/default/pods', () => core.listNamespacedPod({ namespace: 'default', labelSelector: 'vigil=on' }), 'vigil=on');
    const seen: string[] = [];
    informer.on('add', (o) => seen.push(`add:${o.metadata?.name}`));
    informer.on('delete', (o) => seen.push(`delete:${o.metadata?.name}`));
    await informer.start();
    try {
      await core.createNamespacedPod({ namespace: 'default', body: pod('sel-1', { vigil: 'off' }) });
      await core.patchNamespacedPod(
        { name: 'sel-1', namespace: 'default', body: { metadata: { labels: { vigil: 'on' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
      await until(() => seen.includes('add:sel-1'), 'pod entering selection');
      await core.patchNamespacedPod(
        { name: 'sel-1', namespace: 'default', body: { metadata: { labels: { vigil: 'off' } } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
      await until(() => seen.includes('delete:sel-1'), 'pod leaving selection');
    } finally {
      await informer.stop();
    }
  });
});

describe('authentication and RBAC', () => {
  it('over TLS (CA from the kubeconfig): 401 without a valid token, 403 Forbidden outside the rules, success inside them', async () => {
    const secured = await startTestApiServer({
      tls: true,
      auth: {
        tokens: {
          'admin-token': { user: 'admin', rules: 'cluster-admin' },
          'sensor-token': {
            user: 'system:serviceaccount:vigil:sensor',
            rules: [
              { verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] },
              { verbs: ['patch'], apiGroups: ['example.com'], resources: ['widgets/status'], namespaces: ['default'] },
            ],
          },
        },
      },
    });
    try {
      const client = (token?: string) => {
        const k = new KubeConfig();
        k.loadFromString(secured.kubeconfig(token ? { token } : {}));
        return k;
      };
      const anon = await client().makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default' }).catch((e: unknown) => e);
      expect((anon as ApiException<unknown>).code).toBe(401);
      const wrong = await client('nope').makeApiClient(CoreV1Api).listNamespacedPod({ namespace: 'default' }).catch((e: unknown) => e);
      expect((wrong as ApiException<unknown>).code).toBe(401);

      const sensor = client('sensor-token');
      expect((await sensor.makeApiClient(CoreV1Api).listPodForAllNamespaces()).items).toEqual([]);
      const denied = (await sensor.makeApiClient(CoreV1Api).listNamespace().catch((e: unknown) => e)) as ApiException<string>;
      expect(denied.code).toBe(403);
      const body = (typeof denied.body === 'string' ? JSON.parse(denied.body) : denied.body) as O;
      expect(body).toMatchObject({
        kind: 'Status',
        reason: 'Forbidden',
        code: 403,
        message: 'namespaces is forbidden: User "system:serviceaccount:vigil:sensor" cannot list resource "namespaces" in API group "" at the cluster scope',
        details: { kind: 'namespaces' },
      });

      const admin = client('admin-token').makeApiClient(CustomObjectsApi);
      await client('admin-token').makeApiClient(CoreV1Api).listNamespace();
      secured.seed([WIDGET_CRD]);
      await admin.createNamespacedCustomObject({ group: 'example.com', version: 'v1', namespace: 'default', plural: 'widgets', body: widget('rb') });
      const co = sensor.makeApiClient(CustomObjectsApi);
      const g = { group: 'example.com', version: 'v1', namespace: 'default', plural: 'widgets', name: 'rb' };
      const ok = (await co.patchNamespacedCustomObjectStatus({ ...g, body: { status: { observedGeneration: 1 } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch))) as O;
      expect(ok.status.observedGeneration).toBe(1);
      const specDenied = (await co.patchNamespacedCustomObject({ ...g, body: { spec: { size: 2 } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch)).catch((e: unknown) => e)) as ApiException<string>;
      expect(specDenied.code).toBe(403);
      const sd = (typeof specDenied.body === 'string' ? JSON.parse(specDenied.body) : specDenied.body) as O;
      expect(sd.message).toBe('widgets.example.com "rb" is forbidden: User "system:serviceaccount:vigil:sensor" cannot patch resource "widgets" in API group "example.com" in the namespace "default"');
    } finally {
      await secured.stop();
    }
  });
});
