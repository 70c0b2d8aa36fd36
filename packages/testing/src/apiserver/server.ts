// The HTTP face of the test API server (node:http only): routing of /api and /apis paths, content negotiation
// (JSON, Table, aggregated discovery), authentication and RBAC, fault injection, watch streams and the
// kubeconfig that points clients at it.
import { existsSync } from 'node:fs';
import { readFile, rename, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { ApiCore, eventMatches, meta, type FieldValidation, type WriteOptions } from './api.js';
import { aggregatedDiscovery, apiGroup, apiGroupList, apiResourceList, apiVersions } from './discovery.js';
import { ApiServerError, badRequest } from './errors.js';
import { Faults, type FaultMatch, type RequestAttributes } from './faults.js';
import { gvPath, openApiV2, openApiV3ForGroupVersion, openApiV3Root } from './openapi.js';
import { decodeProtobufObject } from './protobuf.js';
import { allowed, authenticate, authorize, type AuthOptions, type TokenIdentity } from './rbac.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import { objectKey, type Obj, type StoreSnapshot } from './store.js';
import { buildTable, partialObjectMetadata, type IncludeObject } from './table.js';
import { selfSignedCert } from './tls.js';

export interface TestApiServerOptions {
  /** Port on 127.0.0.1; 0 (default) picks a free one. */
  port?: number;
  /** Bearer tokens and their RBAC rules; without it every request is cluster-admin. */
  auth?: AuthOptions;
  /**
   * Serve HTTPS with a fresh self-signed certificate (put in the kubeconfig as certificate-authority-data).
   * kubectl sends bearer tokens only over TLS, so use it with `auth` when kubectl is the client.
   */
  tls?: boolean;
  /** Load state from this file at start (if present) and save it at stop. */
  snapshotPath?: string;
  /** Changes kept for watch/continue before they count as compacted (410). Default 5000. */
  historyLimit?: number;
  /** Interval of BOOKMARK events for watches with allowWatchBookmarks=true. Default 1000 ms. */
  bookmarkIntervalMs?: number;
  /** Most recent requests kept in `requests` (default 10000), so a long-running dev cluster does not grow. */
  requestLogLimit?: number;
  /** Objects (CRDs first) created at start through the normal create path. */
  objects?: Obj[];
  clock?: () => Date;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: string;
  verb: string;
  user?: string;
  status?: number;
  contentType?: string;
  accept?: string;
}

export interface KubeconfigOptions {
  token?: string;
  namespace?: string;
  context?: string;
}

export interface TestApiServer {
  /** `http://127.0.0.1:<port>`, or https with `tls: true` */
  readonly url: string;
  /** PEM of the self-signed serving certificate when `tls: true`. */
  readonly caCertPem: string | undefined;
  readonly port: number;
  readonly faults: Faults;
  /** Every request served, in order (for asserting what a client did). */
  readonly requests: RequestRecord[];
  /** Current global resourceVersion. */
  resourceVersion(): number;
  /** Creates objects directly (same validation and defaults as POST), e.g. fixtures. */
  seed(objects: Obj[]): Obj[];
  /** The stored object (served in its preferred version) or undefined. */
  read(apiVersion: string, plural: string, name: string, namespace?: string): Obj | undefined;
  kubeconfig(opts?: KubeconfigOptions): string;
  writeKubeconfig(path: string, opts?: KubeconfigOptions): Promise<string>;
  snapshot(): StoreSnapshot;
  saveSnapshot(path?: string): Promise<void>;
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.4-vigil',
  gitCommit: '0000000000000000000000000000000000000000',
  gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z',
  goVersion: 'go1.23.6',
  compiler: 'gc',
  platform: 'linux/amd64',
};

interface MediaRange {
  type: string;
  params: Record<string, string>;
}

function parseAccept(h: string | undefined): MediaRange[] {
  if (!h) return [{ type: '*/*', params: {} }];
  return h.split(',').map((part) => {
    const [type, ...ps] = part.split(';').map((s) => s.trim());
    const params: Record<string, string> = {};
    for (const p of ps) {
      const i = p.indexOf('=');
      if (i > 0) params[p.slice(0, i).trim()] = p.slice(i + 1).trim();
    }
    return { type: (type ?? '').toLowerCase(), params };
  });
}

type Negotiated = { kind: 'json' } | { kind: 'table'; version: string } | { kind: 'metadata'; version: string } | { kind: 'discovery'; version: 'v2' | 'v2beta1' };

function negotiate(accept: string | undefined, allowTable: boolean, allowDiscovery: boolean): Negotiated {
  for (const r of parseAccept(accept)) {
    const jsonish = r.type === 'application/json' || r.type === '*/*' || r.type === 'application/*';
    if (!jsonish && r.type !== 'application/yaml') continue;
    if (r.params.as === 'Table') {
      if (allowTable && r.params.g === 'meta.k8s.io' && (r.params.v === 'v1' || r.params.v === 'v1beta1')) {
        return { kind: 'table', version: r.params.v };
      }
      continue;
    }
    if (r.params.as === 'PartialObjectMetadata' || r.params.as === 'PartialObjectMetadataList') {
      if (allowTable && r.params.g === 'meta.k8s.io' && (r.params.v === 'v1' || r.params.v === 'v1beta1')) {
        return { kind: 'metadata', version: r.params.v };
      }
      continue;
    }
    if (r.params.as === 'APIGroupDiscoveryList') {
      if (allowDiscovery && r.params.g === 'apidiscovery.k8s.io' && (r.params.v === 'v2' || r.params.v === 'v2beta1')) {
        return { kind: 'discovery', version: r.params.v };
      }
      continue;
    }
    if (r.params.as) continue;
    return { kind: 'json' };
  }
  throw new ApiServerError('NotAcceptable', 406, 'only the following media types are accepted: application/json, application/yaml, application/vnd.kubernetes.protobuf');
}

interface ParsedResourcePath {
  group: string;
  version: string;
  namespace?: string;
  plural: string;
  name?: string;
  subresource?: string;
}

function parseResourcePath(core: ApiCore, segs: string[]): ParsedResourcePath | undefined {
  let group: string;
  let version: string;
  let rest: string[];
  if (segs[0] === 'api' && segs.length >= 2) {
    group = '';
    version = segs[1] ?? '';
    rest = segs.slice(2);
  } else if (segs[0] === 'apis' && segs.length >= 3) {
    group = segs[1] ?? '';
    version = segs[2] ?? '';
    rest = segs.slice(3);
  } else return undefined;
  if (rest.length === 0) return undefined;
  const [first = '', second = '', third = ''] = rest;
  if (first === 'namespaces' && rest.length >= 3) {
    const t = core.lookup(group, version, third);
    if (t?.namespaced) {
      return { group, version, namespace: second, plural: third, ...(rest[3] ? { name: rest[3] } : {}), ...(rest[4] ? { subresource: rest[4] } : {}) };
    }
  }
  if (rest.length > 3) return undefined;
  return { group, version, plural: first, ...(rest[1] ? { name: rest[1] } : {}), ...(rest[2] ? { subresource: rest[2] } : {}) };
}

const MAX_BODY = 3 * 1024 * 1024;

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req as AsyncIterable<Buffer>) {
    size += c.length;
    if (size > MAX_BODY) throw new ApiServerError('RequestEntityTooLarge', 413, 'Request entity too large: limit is 3145728');
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

function parseBody(body: Buffer, contentType: string | undefined): unknown {
  const type = (contentType ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(body);
  const raw = body.toString('utf8');
  if (type.includes('protobuf') || type.includes('cbor')) {
    throw new ApiServerError('UnsupportedMediaType', 415, `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml`);
  }
  try {
    return type === 'application/yaml' ? parseYaml(raw) : JSON.parse(raw);
  } catch (e) {
    throw badRequest(`error decoding request body: ${(e as Error).message}`);
  }
}

interface OpenWatch {
  attrs: RequestAttributes;
  close(): void;
  expire(oldest: number): void;
  type: ResourceType;
}

function send(res: ServerResponse, status: number, body: unknown, contentType = 'application/json', headers: Record<string, string> = {}): void {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(text), 'Cache-Control': 'no-cache, private', ...headers });
  res.end(text);
}

function fieldValidationOf(q: URLSearchParams): FieldValidation {
  const v = q.get('fieldValidation');
  if (v === null || v === '') return 'Warn';
  if (v === 'Ignore' || v === 'Warn' || v === 'Strict') return v;
  throw badRequest(`fieldValidation must be one of "Ignore", "Warn" or "Strict", got ${JSON.stringify(v)}`);
}

export async function startTestApiServer(options: TestApiServerOptions = {}): Promise<TestApiServer> {
  const core = new ApiCore(options.clock, options.historyLimit);
  if (options.snapshotPath && existsSync(options.snapshotPath)) {
    const snap = JSON.parse(await readFile(options.snapshotPath, 'utf8')) as StoreSnapshot;
    core.store.restore(snap, (_res, o) => objectKey(meta(o).namespace, meta(o).name ?? ''));
    core.syncCrdTypes();
  }
  core.bootstrap();
  const bookmarkMs = options.bookmarkIntervalMs ?? 1000;
  const watches = new Set<OpenWatch>();
  const requests: RequestRecord[] = [];

  const watchControl = {
    drop(match?: FaultMatch): number {
      let n = 0;
      for (const w of [...watches]) {
        if (match?.resource !== undefined && match.resource !== w.attrs.resource) continue;
        if (match?.group !== undefined && match.group !== w.attrs.group) continue;
        if (match?.namespace !== undefined && match.namespace !== w.attrs.namespace) continue;
        w.close();
        n++;
      }
      return n;
    },
    expire(): number {
      core.store.compact();
      const n = watches.size;
      for (const w of [...watches]) w.expire(core.store.compactedResourceVersion);
      return n;
    },
  };
  const faults = new Faults(watchControl);

  core.watchTypes(() => {
    for (const w of [...watches]) if (!core.lookup(w.type.group, w.type.version, w.type.plural)) w.close();
  });

  function presentForList(t: ResourceType, o: Obj): Obj {
    return core.present(t, o);
  }

  function tableOf(t: ResourceType, objs: Obj[], version: string, include: IncludeObject, listMeta: Obj): Obj {
    return buildTable(t.printer, objs, { now: Date.now(), include, tableApiVersion: `meta.k8s.io/${version}`, listMeta });
  }

  function includeOf(q: URLSearchParams): IncludeObject {
    const v = q.get('includeObject');
    return v === 'None' || v === 'Object' ? v : 'Metadata';
  }

  function serveWatch(req: IncomingMessage, res: ServerResponse, t: ResourceType, p: ParsedResourcePath, q: URLSearchParams, neg: Negotiated, attrs: RequestAttributes): void {
    const fieldSelector = [q.get('fieldSelector'), p.name ? `metadata.name=${p.name}` : null].filter((s) => s).join(',');
    const sel = core.parseSelection(t, q.get('labelSelector'), fieldSelector || null);
    const rvParam = q.get('resourceVersion');
    let startRv: number | undefined;
    if (rvParam && rvParam !== '0') {
      startRv = Number(rvParam);
      if (!Number.isInteger(startRv) || startRv < 0) throw badRequest(`invalid resource version: ${rvParam}`);
    }
    // sendInitialEvents=true (streaming lists): the current state first, whatever the resourceVersion; without
    // it, an unset resourceVersion also starts with the current state ("Get State and Start at Most Recent")
    const initialParam = q.get('sendInitialEvents');
    const sendInitial = initialParam === 'true' || (startRv === undefined && initialParam !== 'false');
    const bookmarks = q.get('allowWatchBookmarks') === 'true' || q.get('allowWatchBookmarks') === '1';
    const timeoutSeconds = Number(q.get('timeoutSeconds') ?? '0');
    const ns = t.namespaced ? p.namespace : undefined;

    res.writeHead(200, { 'Content-Type': neg.kind === 'table' ? `application/json;as=Table;v=${neg.version};g=meta.k8s.io` : 'application/json', 'Cache-Control': 'no-cache, private', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    let first = true;
    const write = (type: string, object: Obj): void => {
      let out = object;
      if (neg.kind === 'table' && type !== 'ERROR' && type !== 'BOOKMARK') {
        out = tableOf(t, [object], neg.version, includeOf(q), { resourceVersion: meta(object).resourceVersion });
        if (!first) out.columnDefinitions = null;
        first = false;
      } else if (neg.kind === 'metadata' && type !== 'ERROR' && type !== 'BOOKMARK') {
        out = partialObjectMetadata(object, `meta.k8s.io/${neg.version}`);
      }
      res.write(`${JSON.stringify({ type, object: out })}\n`);
    };
    const inNamespace = (o: Obj): boolean => ns === undefined || meta(o).namespace === ns;
    let closed = false;
    let unsubscribe = (): void => {};
    let bookmarkTimer: NodeJS.Timeout | undefined;
    let timeoutTimer: NodeJS.Timeout | undefined;
    const close = (): void => {
      if (closed) return;
      closed = true;
      unsubscribe();
      if (bookmarkTimer) clearInterval(bookmarkTimer);
      if (timeoutTimer) clearTimeout(timeoutTimer);
      watches.delete(open);
      res.end();
    };
    const expire = (oldest: number): void => {
      if (closed) return;
      write('ERROR', new ApiServerError('Expired', 410, `too old resource version: ${startRv ?? 0} (${oldest})`).toStatus() as unknown as Obj);
      close();
    };
    const open: OpenWatch = { attrs, close, expire, type: t };
    watches.add(open);
    req.on('close', close);
    res.on('close', close);

    let fromRv = startRv;
    if (sendInitial) {
      for (const o of core.store.list(t.storage, ns)) if (core.matches(t, sel, o)) write('ADDED', core.present(t, o));
      fromRv = core.store.resourceVersion;
    } else if (startRv !== undefined) {
      const history = core.store.eventsSince(t.storage, startRv);
      if (history === 'expired') {
        expire(core.store.compactedResourceVersion + 1);
        return;
      }
      for (const e of history) {
        if (!inNamespace(e.object)) continue;
        const m = eventMatches(core, t, sel, e);
        if (m) write(m.type, core.present(t, m.object));
      }
    }
    if (initialParam === 'true' && bookmarks) {
      write('BOOKMARK', { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(core.store.resourceVersion), annotations: { 'k8s.io/initial-events-end': 'true' } } });
    }
    unsubscribe = core.store.subscribe((e) => {
      // a watch from a resourceVersion not reached yet starts after it
      if (closed || e.resource !== t.storage || !inNamespace(e.object) || (fromRv !== undefined && e.rv <= fromRv)) return;
      const m = eventMatches(core, t, sel, e);
      if (m) write(m.type, core.present(t, m.object));
    });
    if (bookmarks) {
      bookmarkTimer = setInterval(() => {
        write('BOOKMARK', { kind: t.kind, apiVersion: apiVersionOf(t), metadata: { resourceVersion: String(core.store.resourceVersion) } });
      }, bookmarkMs);
      bookmarkTimer.unref();
    }
    if (timeoutSeconds > 0) {
      timeoutTimer = setTimeout(close, timeoutSeconds * 1000);
      timeoutTimer.unref();
    }
  }

  function verbOf(method: string, p: ParsedResourcePath, q: URLSearchParams): string {
    const watch = q.get('watch') === 'true' || q.get('watch') === '1';
    switch (method) {
      case 'GET':
        return watch ? 'watch' : p.name ? 'get' : 'list';
      case 'POST':
        return 'create';
      case 'PUT':
        return 'update';
      case 'PATCH':
        return 'patch';
      case 'DELETE':
        return p.name ? 'delete' : 'deletecollection';
      default:
        throw new ApiServerError('MethodNotAllowed', 405, `the server does not allow this method on the requested resource`);
    }
  }

  async function serveResource(req: IncomingMessage, res: ServerResponse, p: ParsedResourcePath, q: URLSearchParams, id: TokenIdentity, record: RequestRecord): Promise<void> {
    const method = req.method ?? 'GET';
    const t = core.lookup(p.group, p.version, p.plural);
    const verb = verbOf(method, p, q);
    record.verb = verb;
    const attrs: RequestAttributes = {
      method,
      path: record.path,
      verb,
      group: p.group,
      resource: p.plural,
      ...(p.subresource ? { subresource: p.subresource } : {}),
      ...(p.namespace ? { namespace: p.namespace } : {}),
      ...(p.name ? { name: p.name } : {}),
    };
    if (t?.kind === 'SelfSubjectAccessReview' && verb === 'create' && !p.name) {
      // every authenticated user may ask what it is allowed to do (system:basic-user)
      const body = parseBody(await readBody(req), req.headers['content-type']) as { spec?: { resourceAttributes?: Record<string, string>; nonResourceAttributes?: { path?: string; verb?: string } } };
      const ra = body.spec?.resourceAttributes;
      let allowedResult: boolean;
      if (ra) {
        allowedResult = allowed(id, { verb: ra.verb ?? '', group: ra.group ?? '', resource: ra.resource ?? '', ...(ra.subresource ? { subresource: ra.subresource } : {}), ...(ra.name ? { name: ra.name } : {}), ...(ra.namespace ? { namespace: ra.namespace } : {}) });
      } else {
        allowedResult = body.spec?.nonResourceAttributes?.verb === 'get';
      }
      send(res, 201, { ...body, apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', metadata: { creationTimestamp: null }, status: { allowed: allowedResult } });
      return;
    }
    if (t?.verbs && !t.verbs.includes(verb)) throw new ApiServerError('MethodNotAllowed', 405, `the server does not allow this method on the requested resource`);
    authorize(id, { verb, group: p.group, resource: p.plural, ...(p.subresource ? { subresource: p.subresource } : {}), ...(p.name ? { name: p.name } : {}), ...(p.namespace ? { namespace: p.namespace } : {}) });
    await faults.apply(attrs);
    if (!t || (p.subresource && !(p.subresource === 'status' && t.statusSubresource))) {
      throw new ApiServerError('NotFound', 404, 'the server could not find the requested resource', {});
    }
    if (!t.namespaced && p.namespace) throw new ApiServerError('NotFound', 404, 'the server could not find the requested resource', {});
    const neg = negotiate(req.headers.accept, method === 'GET' && !p.subresource, false);
    const warnings: string[] = [];
    const ua = req.headers['user-agent'] ?? '';
    const opts: WriteOptions = {
      dryRun: q.getAll('dryRun').includes('All'),
      fieldValidation: fieldValidationOf(q),
      fieldManager: q.get('fieldManager') ?? (ua.split('/')[0] || 'unknown'),
      force: q.get('force') === 'true',
      warnings,
    };
    const reply = (status: number, body: Obj): void => {
      const headers: Record<string, string> = {};
      if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ');
      send(res, status, body, 'application/json', headers);
    };
    const ns = p.namespace;
    switch (verb) {
      case 'watch':
        serveWatch(req, res, t, p, q, neg, attrs);
        return;
      case 'get': {
        const o = core.get(t, ns, p.name ?? '');
        if (neg.kind === 'table') {
          send(res, 200, tableOf(t, [o], neg.version, includeOf(q), { resourceVersion: meta(o).resourceVersion }), `application/json;as=Table;v=${neg.version};g=meta.k8s.io`);
        } else if (neg.kind === 'metadata') {
          send(res, 200, partialObjectMetadata(o, `meta.k8s.io/${neg.version}`), `application/json;as=PartialObjectMetadata;v=${neg.version};g=meta.k8s.io`);
        } else reply(200, o);
        return;
      }
      case 'list': {
        const list = core.list(t, ns, {
          labelSelector: q.get('labelSelector'),
          fieldSelector: q.get('fieldSelector'),
          limit: q.get('limit'),
          continue: q.get('continue'),
          resourceVersion: q.get('resourceVersion'),
          resourceVersionMatch: q.get('resourceVersionMatch'),
        });
        if (neg.kind === 'table') {
          const objs = (list.items as Obj[]).map((o) => presentForList(t, o));
          send(res, 200, tableOf(t, objs, neg.version, includeOf(q), list.metadata as Obj), `application/json;as=Table;v=${neg.version};g=meta.k8s.io`);
        } else if (neg.kind === 'metadata') {
          const av = `meta.k8s.io/${neg.version}`;
          const items = (list.items as Obj[]).map((o) => partialObjectMetadata(o, av));
          send(res, 200, { kind: 'PartialObjectMetadataList', apiVersion: av, metadata: list.metadata, items }, `application/json;as=PartialObjectMetadataList;v=${neg.version};g=meta.k8s.io`);
        } else reply(200, list);
        return;
      }
      case 'create': {
        if (p.name) throw new ApiServerError('MethodNotAllowed', 405, 'the server does not allow this method on the requested resource');
        const body = parseBody(await readBody(req), req.headers['content-type']);
        reply(201, core.create(t, ns, body, opts));
        return;
      }
      case 'update': {
        const body = parseBody(await readBody(req), req.headers['content-type']);
        reply(200, core.update(t, ns, p.name ?? '', body, p.subresource, opts));
        return;
      }
      case 'patch': {
        const raw = (await readBody(req)).toString('utf8');
        const applyManager = q.get('fieldManager') ?? undefined;
        const ct = req.headers['content-type'] ?? '';
        const isApply = ct.startsWith('application/apply-patch');
        const r = core.patch(t, ns, p.name ?? '', ct, raw, p.subresource, { ...opts, fieldManager: isApply ? applyManager : opts.fieldManager });
        reply(r.created ? 201 : 200, r.object);
        return;
      }
      case 'delete': {
        const raw = await readBody(req);
        const body = (raw.toString('utf8').trim() ? parseBody(raw, req.headers['content-type']) : {}) as { preconditions?: { uid?: string; resourceVersion?: string }; dryRun?: string[]; propagationPolicy?: string; orphanDependents?: boolean };
        const propagationPolicy = body.propagationPolicy ?? q.get('propagationPolicy') ?? (body.orphanDependents === true || q.get('orphanDependents') === 'true' ? 'Orphan' : undefined);
        reply(200, core.delete(t, ns, p.name ?? '', {
          ...(body.preconditions ? { preconditions: body.preconditions } : {}),
          ...(propagationPolicy ? { propagationPolicy } : {}),
          dryRun: opts.dryRun || (body.dryRun ?? []).includes('All'),
        }));
        return;
      }
      case 'deletecollection': {
        reply(200, core.deleteCollection(t, ns, { labelSelector: q.get('labelSelector'), fieldSelector: q.get('fieldSelector') }));
        return;
      }
    }
  }

  function notFoundPath(): ApiServerError {
    return new ApiServerError('NotFound', 404, 'the server could not find the requested resource', {});
  }

  async function handle(req: IncomingMessage, res: ServerResponse, port: number): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const q = url.searchParams;
    const record: RequestRecord = { method: req.method ?? 'GET', path, query: url.search, verb: '' };
    if (req.headers['content-type']) record.contentType = req.headers['content-type'];
    if (req.headers.accept) record.accept = req.headers.accept;
    requests.push(record);
    const limit = options.requestLogLimit ?? 10_000;
    if (requests.length > limit) requests.splice(0, requests.length - limit);
    // the status is known once the head is written (a client may see the answer before 'finish' fires)
    Object.defineProperty(record, 'status', { enumerable: true, get: () => (res.headersSent ? res.statusCode : undefined) });
    if (path === '/healthz' || path === '/readyz' || path === '/livez' || path.startsWith('/healthz/') || path.startsWith('/readyz/') || path.startsWith('/livez/')) {
      send(res, 200, 'ok', 'text/plain; charset=utf-8');
      return;
    }
    const id = authenticate(options.auth, req.headers.authorization);
    record.user = id.user;
    const segs = path.split('/').filter((s) => s !== '').map(decodeURIComponent);
    const types = core.allTypes();
    if (path === '/version') return send(res, 200, SERVER_VERSION);
    if (path === '/api' || path === '/apis') {
      record.verb = 'get';
      const neg = negotiate(req.headers.accept, false, true);
      if (neg.kind === 'discovery') {
        return send(res, 200, aggregatedDiscovery(types, path === '/api', neg.version), `application/json;g=apidiscovery.k8s.io;v=${neg.version};as=APIGroupDiscoveryList`);
      }
      return send(res, 200, path === '/api' ? apiVersions(`127.0.0.1:${port}`) : apiGroupList(types));
    }
    if (segs[0] === 'openapi') {
      record.verb = 'get';
      const gitVersion = SERVER_VERSION.gitVersion;
      if (segs[1] === 'v2' && segs.length === 2) return send(res, 200, openApiV2(types, gitVersion));
      if (segs[1] === 'v3' && segs.length === 2) return send(res, 200, openApiV3Root(types, gitVersion));
      if (segs[1] === 'v3') {
        const gv = segs.slice(2);
        const group = gv[0] === 'api' ? '' : (gv[1] ?? '');
        const version = gv[0] === 'api' ? (gv[1] ?? '') : (gv[2] ?? '');
        const doc = gvPath(group, version) === gv.join('/') ? openApiV3ForGroupVersion(types, group, version, gitVersion) : undefined;
        if (doc) return send(res, 200, doc);
      }
      throw notFoundPath();
    }
    if (segs[0] === 'apis' && segs.length === 2 && req.method === 'GET') {
      const g = apiGroup(types, segs[1] ?? '');
      if (!g) throw notFoundPath();
      return send(res, 200, g);
    }
    if (((segs[0] === 'api' && segs.length === 2) || (segs[0] === 'apis' && segs.length === 3)) && req.method === 'GET') {
      const group = segs[0] === 'api' ? '' : (segs[1] ?? '');
      const version = segs[segs.length - 1] ?? '';
      const l = apiResourceList(types, group, version);
      if (!l) throw notFoundPath();
      return send(res, 200, l);
    }
    const p = parseResourcePath(core, segs);
    if (!p) throw notFoundPath();
    await serveResource(req, res, p, q, id, record);
  }

  const cert = options.tls ? selfSignedCert() : undefined;
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const port = (server.address() as AddressInfo).port;
    handle(req, res, port).catch((e: unknown) => {
      const err = e instanceof ApiServerError ? e : new ApiServerError('InternalError', 500, `Internal error occurred: ${(e as Error).message}`);
      if (res.headersSent) {
        res.end();
        return;
      }
      const headers: Record<string, string> = {};
      if (err.details?.retryAfterSeconds !== undefined) headers['Retry-After'] = String(err.details.retryAfterSeconds);
      send(res, err.httpStatus, err.toStatus(), 'application/json', headers);
    });
  };
  const server: Server = cert ? createHttpsServer({ key: cert.keyPem, cert: cert.certPem }, onRequest) : createServer(onRequest);
  server.keepAliveTimeout = 5000;

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const url = `${cert ? 'https' : 'http'}://127.0.0.1:${port}`;
  for (const o of options.objects ?? []) seedOne(o);

  function seedOne(o: Obj): Obj {
    const [group, version] = String(o.apiVersion ?? '').includes('/') ? String(o.apiVersion).split('/') : ['', String(o.apiVersion)];
    const t = core.allTypes().find((x) => x.group === group && x.version === version && x.kind === o.kind);
    if (!t) throw badRequest(`no type ${String(o.apiVersion)} ${String(o.kind)} is served`);
    return core.create(t, t.namespaced ? (meta(o).namespace ?? 'default') : undefined, o);
  }

  function kubeconfig(opts: KubeconfigOptions = {}): string {
    const name = opts.context ?? 'vigil-test';
    const user: Obj = opts.token ? { token: opts.token } : {};
    return stringifyYaml({
      apiVersion: 'v1',
      kind: 'Config',
      // client-node 2.x refuses plain-http servers unless TLS verification is (vacuously) skipped
      clusters: [{ name, cluster: cert ? { server: url, 'certificate-authority-data': Buffer.from(cert.certPem).toString('base64') } : { server: url, 'insecure-skip-tls-verify': true } }],
      users: [{ name, user }],
      contexts: [{ name, context: { cluster: name, user: name, namespace: opts.namespace ?? 'default' } }],
      'current-context': name,
      preferences: {},
    });
  }

  let stopped: Promise<void> | undefined;
  async function saveSnapshot(path = options.snapshotPath): Promise<void> {
    if (!path) throw new Error('no snapshot path: pass one or set snapshotPath');
    const tmp = `${path}.tmp-${process.pid}`;
    await writeFile(tmp, JSON.stringify(core.store.snapshot()));
    await rename(tmp, path);
  }

  const api: TestApiServer = {
    url,
    port,
    caCertPem: cert?.certPem,
    faults,
    requests,
    resourceVersion: () => core.store.resourceVersion,
    seed: (objects) => objects.map(seedOne),
    read(apiVersion, plural, name, namespace) {
      const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
      const t = core.lookup(group ?? '', version ?? '', plural);
      if (!t) return undefined;
      try {
        return core.get(t, t.namespaced ? (namespace ?? 'default') : undefined, name);
      } catch {
        return undefined;
      }
    },
    kubeconfig,
    async writeKubeconfig(path, opts) {
      await writeFile(path, kubeconfig(opts), { mode: 0o600 });
      return path;
    },
    snapshot: () => core.store.snapshot(),
    saveSnapshot,
    stop() {
      stopped ??= (async () => {
        for (const w of [...watches]) w.close();
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeAllConnections();
        });
        if (options.snapshotPath) await saveSnapshot();
      })();
      return stopped;
    },
    [Symbol.asyncDispose]() {
      return api.stop();
    },
  };
  return api;
}
