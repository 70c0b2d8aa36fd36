// The verbs of the API server, independent of HTTP: create, get, list, update, patch, delete,
// deletecollection, plus what watch needs (initial state, history, selector matching). It follows the generic
// registry of kube-apiserver (k8s.io/apiserver/pkg/registry/generic/registry/store.go) and the CRD handler:
// server-owned metadata, optimistic concurrency on resourceVersion, generation on spec changes, the
// spec/status split of the status subresource, finalizers and deletionTimestamp, namespace and CRD cleanup.
import { randomUUID } from 'node:crypto';
import {
  alreadyExists,
  ApiServerError,
  badRequest,
  conflict,
  invalid,
  notFound,
  qualifiedResource,
  STALE_OBJECT,
  type FieldError,
} from './errors.js';
import { applyPatch, recordUpdateManager, type ApplyOptions } from './managed-fields.js';
import { jsonPatch, mergePatch, strategicMerge } from './patch.js';
import {
  apiVersionOf,
  builtinTypes,
  fieldValue,
  typesForCrd,
  type CrdSpec,
  type ResourceType,
} from './resources.js';
import { applyDefaults, celCompileErrors, prune, validateSchema } from './schema-validate.js';
import {
  matchesFields,
  matchesLabels,
  parseFieldSelector,
  parseLabelSelector,
  type FieldRequirement,
  type LabelRequirement,
} from './selectors.js';
import { objectKey, ObjectStore, type Obj, type StoreEvent } from './store.js';
import { CUSTOM_RESOURCE_FIELDS, dropUnknownFields, KNOWN_FIELDS } from './known-fields.js';
import { decodeTimes } from './times.js';

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  deletionGracePeriodSeconds?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: unknown[];
  managedFields?: unknown[];
}

export function meta(o: Obj): ObjectMeta {
  if (!o.metadata || typeof o.metadata !== 'object') o.metadata = {};
  return o.metadata as ObjectMeta;
}

export type FieldValidation = 'Ignore' | 'Warn' | 'Strict';

export interface DeleteOptions {
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
  /** Background (default), Foreground or Orphan, for dependents found through ownerReferences. */
  propagationPolicy?: string;
}

export interface WriteOptions {
  dryRun?: boolean;
  fieldValidation?: FieldValidation;
  fieldManager?: string;
  force?: boolean;
  /** Warnings for the `Warning` response header (unknown fields under fieldValidation=Warn). */
  warnings?: string[];
}

export interface Selection {
  labels: LabelRequirement[];
  fields: FieldRequirement[];
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const GENERATE_CHARS = 'bcdfghjklmnpqrstvwxz2456789';
const SERVER_OWNED_META: (keyof ObjectMeta)[] = [
  'uid',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
  'generation',
];
const INITIAL_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

/** fieldValidation: Strict refuses unknown fields (400), Warn reports them in Warning headers, Ignore drops them. */
function reportUnknown(t: ResourceType, unknown: string[], opts: WriteOptions): void {
  if (unknown.length === 0) return;
  if (opts.fieldValidation === 'Strict') {
    // decoding errors are wrapped by the handler's transformDecodeError
    const list = unknown.map((u) => `unknown field "${u}"`).join(', ');
    throw badRequest(`${t.kind} in version "${t.version}" cannot be handled as a ${t.kind}: strict decoding error: ${list}`);
  }
  if (opts.fieldValidation === 'Warn' && opts.warnings) {
    for (const u of unknown) if (!opts.warnings.includes(`unknown field "${u}"`)) opts.warnings.push(`unknown field "${u}"`);
  }
}

export function rfc3339(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function canonicalJson(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    val && typeof val === 'object' && !Array.isArray(val)
      ? Object.fromEntries(Object.entries(val as Obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
}

function withoutKeys(o: Obj, keys: string[]): Obj {
  const c: Obj = { ...o };
  for (const k of keys) Reflect.deleteProperty(c, k);
  return c;
}

function sameContent(a: Obj, b: Obj): boolean {
  const strip = (o: Obj): Obj => {
    const m = { ...(o.metadata as Obj) };
    delete m.resourceVersion;
    // ownership changes are writes; a new timestamp alone is not
    if (Array.isArray(m.managedFields)) m.managedFields = (m.managedFields as Obj[]).map(({ time: _t, ...rest }) => rest);
    return { ...o, metadata: m };
  };
  return canonicalJson(strip(a)) === canonicalJson(strip(b));
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: t.rv, start: t.start })).toString('base64');
}

function decodeContinue(s: string): ContinueToken {
  try {
    const o = JSON.parse(Buffer.from(s, 'base64').toString('utf8')) as { v?: string; rv?: number; start?: string };
    if (o.v !== 'meta.k8s.io/v1' || typeof o.rv !== 'number' || typeof o.start !== 'string') throw new Error('shape');
    return { rv: o.rv, start: o.start };
  } catch {
    throw badRequest('continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)');
  }
}

export class ApiCore {
  readonly store: ObjectStore;
  private readonly types = new Map<string, ResourceType>();
  private readonly onTypesChanged = new Set<() => void>();

  constructor(
    private readonly clock: () => Date = () => new Date(),
    historyLimit?: number,
  ) {
    this.store = new ObjectStore(historyLimit);
    for (const t of builtinTypes()) this.addType(t);
  }

  /** Creates the namespaces every cluster has. */
  bootstrap(): void {
    const nsType = this.mustLookup('', 'v1', 'namespaces');
    for (const name of INITIAL_NAMESPACES) {
      if (!this.store.get(nsType.storage, objectKey(undefined, name))) this.create(nsType, undefined, { metadata: { name } });
    }
  }

  private addType(t: ResourceType): void {
    this.types.set(`${t.group}/${t.version}/${t.plural}`, t);
  }

  lookup(group: string, version: string, plural: string): ResourceType | undefined {
    return this.types.get(`${group}/${version}/${plural}`);
  }

  /** A type that is always served (a built-in). */
  private mustLookup(group: string, version: string, plural: string): ResourceType {
    const t = this.lookup(group, version, plural);
    if (!t) throw new ApiServerError('InternalError', 500, `built-in type ${group}/${version}/${plural} is not registered`);
    return t;
  }

  allTypes(): ResourceType[] {
    return [...this.types.values()];
  }

  watchTypes(fn: () => void): () => void {
    this.onTypesChanged.add(fn);
    return () => this.onTypesChanged.delete(fn);
  }

  /** Re-reads the served types of every CRD (after CRD writes and snapshot restore). */
  syncCrdTypes(): void {
    for (const [k, t] of this.types) if (t.crd) this.types.delete(k);
    const crdType = this.mustLookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    for (const crd of this.store.list(crdType.storage)) {
      for (const t of typesForCrd(meta(crd).name ?? '', crd.spec as CrdSpec)) this.addType(t);
    }
    for (const fn of this.onTypesChanged) fn();
  }

  now(): string {
    return rfc3339(this.clock());
  }

  // ---- representation -------------------------------------------------------------------------------

  /** The object as served in version `t` (apiVersion/kind set, converted from storage). */
  present(t: ResourceType, stored: Obj): Obj {
    const o = t.fromStorage ? t.fromStorage(stored) : { ...stored };
    const { apiVersion: _a, kind: _k, ...rest } = o;
    return { apiVersion: apiVersionOf(t), kind: t.kind, ...rest };
  }

  private intake(t: ResourceType, body: unknown, opts: WriteOptions = {}): Obj {
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw badRequest(`the body of the request was in an unknown format - accepted media types include: application/json`);
    }
    const o = structuredClone(body) as Obj;
    const want = apiVersionOf(t);
    if (o.apiVersion !== undefined && o.apiVersion !== want) {
      throw badRequest(`the API version in the data (${String(o.apiVersion)}) does not match the expected API version (${want})`);
    }
    if (o.kind !== undefined && o.kind !== t.kind) {
      throw badRequest(`the kind in the data (${String(o.kind)}) does not match the expected kind (${t.kind})`);
    }
    if (t.timeFields) decodeTimes(o, t.timeFields, t.kind, t.version);
    const known = t.builtin ? KNOWN_FIELDS[`${t.group}/${t.version}/${t.kind}`] : CUSTOM_RESOURCE_FIELDS;
    if (known) reportUnknown(t, dropUnknownFields(o, known, !t.builtin), opts);
    const stored = t.toStorage ? t.toStorage({ ...o, apiVersion: want, kind: t.kind }) : { ...o, apiVersion: want, kind: t.kind };
    meta(stored);
    return stored;
  }

  // ---- reads ----------------------------------------------------------------------------------------

  private requireNamespace(t: ResourceType, namespace: string | undefined): void {
    if (t.namespaced && !namespace) throw badRequest('the server could not find the requested resource: namespace required');
  }

  get(t: ResourceType, namespace: string | undefined, name: string): Obj {
    this.requireNamespace(t, namespace);
    const o = this.store.get(t.storage, objectKey(t.namespaced ? namespace : undefined, name));
    if (!o) throw notFound(t.group, t.plural, name);
    return this.present(t, o);
  }

  parseSelection(t: ResourceType, labelSelector: string | null, fieldSelector: string | null): Selection {
    const fields = parseFieldSelector(fieldSelector ?? '');
    for (const f of fields) {
      if (f.field === 'metadata.name' || f.field === 'metadata.namespace' || t.fields[f.field]) continue;
      if (t.builtin) throw badRequest(`field label not supported: ${f.field}`);
      throw badRequest(`"${f.field}" is not a known field selector: only "metadata.name", "metadata.namespace"`);
    }
    return { labels: parseLabelSelector(labelSelector ?? ''), fields };
  }

  matches(t: ResourceType, sel: Selection, stored: Obj): boolean {
    const served = t.fromStorage ? t.fromStorage(stored) : stored;
    return (
      matchesLabels(sel.labels, meta(served).labels) && matchesFields(sel.fields, (f) => fieldValue(t, served, f))
    );
  }

  list(
    t: ResourceType,
    namespace: string | undefined,
    q: { labelSelector?: string | null; fieldSelector?: string | null; limit?: string | null; continue?: string | null; resourceVersion?: string | null; resourceVersionMatch?: string | null },
  ): Obj {
    const sel = this.parseSelection(t, q.labelSelector ?? null, q.fieldSelector ?? null);
    const limit = q.limit ? Number(q.limit) : 0;
    if (!Number.isInteger(limit) || limit < 0) throw badRequest(`invalid limit: ${q.limit}`);
    const current = this.store.resourceVersion;
    let atRv = current;
    let start = '';
    const ns = t.namespaced ? namespace : undefined;
    if (q.continue) {
      if (q.resourceVersion) throw badRequest('specifying resource version is not allowed when using continue');
      const tok = decodeContinue(q.continue);
      atRv = tok.rv;
      start = tok.start;
    } else if (q.resourceVersion && q.resourceVersion !== '0') {
      const rv = Number(q.resourceVersion);
      if (!Number.isInteger(rv) || rv < 0) throw badRequest(`invalid resource version: ${q.resourceVersion}`);
      if (rv > current) {
        throw new ApiServerError('Timeout', 504, `Too large resource version: ${rv}, current: ${current}`, {
          causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
          retryAfterSeconds: 1,
        });
      }
      const exact = q.resourceVersionMatch === 'Exact' || (!q.resourceVersionMatch && limit > 0);
      if (exact) atRv = rv;
    } else if (q.resourceVersionMatch === 'Exact') {
      throw badRequest('resourceVersionMatch "Exact" is forbidden for resourceVersion "0" or unset');
    }
    const snapshot = this.store.listAt(t.storage, atRv, ns);
    if (snapshot === 'expired') {
      if (q.continue) {
        throw new ApiServerError(
          'Expired',
          410,
          'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
        );
      }
      throw new ApiServerError('Expired', 410, `The resourceVersion for the provided list is too old.`);
    }
    const keyOf = (o: Obj): string => objectKey(meta(o).namespace, meta(o).name ?? '');
    const candidates = snapshot.filter((o) => keyOf(o) >= start && this.matches(t, sel, o));
    let items = candidates;
    const listMeta: Obj = { resourceVersion: String(atRv) };
    if (limit > 0 && candidates.length > limit) {
      items = candidates.slice(0, limit);
      listMeta.continue = encodeContinue({ rv: atRv, start: `${keyOf(items[items.length - 1] as Obj)}\u0000` });
      if (sel.labels.length === 0 && sel.fields.length === 0) listMeta.remainingItemCount = candidates.length - limit;
    }
    return {
      kind: t.listKind,
      apiVersion: apiVersionOf(t),
      metadata: listMeta,
      items: items.map((o) => {
        const p = this.present(t, o);
        if (t.builtin) {
          delete p.apiVersion;
          delete p.kind;
        }
        return p;
      }),
    };
  }

  // ---- writes ---------------------------------------------------------------------------------------

  private checkNamespaceForCreate(t: ResourceType, namespace: string | undefined, name: string): void {
    if (!t.namespaced) return;
    const nsType = this.mustLookup('', 'v1', 'namespaces');
    const ns = this.store.get(nsType.storage, objectKey(undefined, namespace ?? ''));
    if (!ns) throw notFound('', 'namespaces', namespace ?? '');
    if (meta(ns).deletionTimestamp) {
      throw new ApiServerError(
        'Forbidden',
        403,
        `${qualifiedResource(t.group, t.plural)} "${name}" is forbidden: unable to create new content in namespace ${namespace} because it is being terminated`,
        { name, group: t.group, kind: t.plural, causes: [{ reason: 'NamespaceTerminating', message: `namespace ${namespace} is being terminated`, field: 'metadata.namespace' }] },
      );
    }
  }

  private validateName(t: ResourceType, name: string): FieldError[] {
    const label = t.nameRule === 'label';
    const ok = label ? DNS_LABEL.test(name) && name.length <= 63 : DNS_SUBDOMAIN.test(name) && name.length <= 253;
    if (ok) return [];
    const detail = label
      ? `a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`
      : `a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`;
    return [{ field: 'metadata.name', reason: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(name)}: ${detail}` }];
  }

  private validateMeta(m: ObjectMeta): FieldError[] {
    const errs: FieldError[] = [];
    for (const [k, v] of Object.entries(m.labels ?? {})) {
      if (typeof v !== 'string' || v.length > 63 || !/^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v)) {
        errs.push({
          field: 'metadata.labels',
          reason: 'FieldValueInvalid',
          detail: `Invalid value: ${JSON.stringify(v)}: a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')`,
        });
      }
      if (!/^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/.test(k)) {
        errs.push({
          field: 'metadata.labels',
          reason: 'FieldValueInvalid',
          detail: `Invalid value: ${JSON.stringify(k)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')`,
        });
      }
    }
    return errs;
  }

  /** Prune, default and validate the content of `o` for type `t`; returns field errors. */
  private admit(t: ResourceType, o: Obj, opts: WriteOptions): FieldError[] {
    if (t.schema) {
      reportUnknown(t, prune(o, t.schema), opts);
      applyDefaults(o, t.schema);
    }
    if (t.defaults) t.defaults(o);
    const errs = this.validateMeta(meta(o));
    if (t.schema) errs.push(...validateSchema(o, t.schema));
    if (t.validate) errs.push(...t.validate(o));
    if (t.plural === 'customresourcedefinitions' && t.group === 'apiextensions.k8s.io') errs.push(...validateCrd(o));
    return errs;
  }

  create(t: ResourceType, namespace: string | undefined, body: unknown, opts: WriteOptions = {}): Obj {
    this.requireNamespace(t, namespace);
    const o = this.intake(t, body, opts);
    const m = meta(o);
    if (t.namespaced) {
      if (m.namespace !== undefined && m.namespace !== namespace) {
        throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      }
      m.namespace = namespace;
    } else delete m.namespace;
    if (!m.name) {
      if (m.generateName) {
        let suffix = '';
        for (let i = 0; i < 5; i++) suffix += GENERATE_CHARS[Math.floor(Math.random() * GENERATE_CHARS.length)];
        m.name = `${m.generateName}${suffix}`;
      } else {
        throw invalid(t.group, t.kind, '', [
          { field: 'metadata.name', reason: 'FieldValueRequired', detail: 'Required value: name or generateName is required' },
        ]);
      }
    }
    const name = m.name;
    const nameErrs = this.validateName(t, name);
    if (nameErrs.length) throw invalid(t.group, t.kind, name, nameErrs);
    this.checkNamespaceForCreate(t, namespace, name);
    if (m.resourceVersion) {
      throw invalid(t.group, t.kind, name, [
        { field: 'metadata.resourceVersion', reason: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(m.resourceVersion)}: must be empty` },
      ]);
    }
    const key = objectKey(m.namespace, name);
    if (this.store.get(t.storage, key)) throw alreadyExists(t.group, t.plural, name);
    for (const f of SERVER_OWNED_META) Reflect.deleteProperty(m, f);
    m.uid = randomUUID();
    m.creationTimestamp = this.now();
    if (t.generation) m.generation = 1;
    if (t.statusSubresource && (!t.builtin || t.kind === 'Pod' || t.kind === 'CustomResourceDefinition')) delete o.status;
    if (t.kind === 'Namespace') delete o.status;
    const errs = this.admit(t, o, opts);
    if (errs.length) throw invalid(t.group, t.kind, name, errs);
    this.trackManager(o, undefined, opts, 'Update', t);
    if (opts.dryRun) return this.present(t, { ...o, metadata: { ...m } });
    const stored = this.store.put(t.storage, key, o);
    if (t.kind === 'CustomResourceDefinition' && t.group === 'apiextensions.k8s.io') this.afterCrdWrite(name);
    return this.present(t, stored);
  }

  /**
   * Replaces an object (PUT). On the main resource of a type with a status subresource, status is kept from
   * the stored object; on /status only status changes. A resourceVersion in the body must match (else 409).
   */
  update(t: ResourceType, namespace: string | undefined, name: string, body: unknown, subresource: string | undefined, opts: WriteOptions = {}): Obj {
    this.requireNamespace(t, namespace);
    const incoming = this.intake(t, body, opts);
    const im = meta(incoming);
    if (im.name !== undefined && im.name !== name) {
      throw badRequest(`the name of the object (${im.name}) does not match the name on the URL (${name})`);
    }
    if (t.namespaced && im.namespace !== undefined && im.namespace !== namespace) {
      throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const old = this.store.get(t.storage, key);
    if (!old) throw notFound(t.group, t.plural, name);
    if (im.resourceVersion !== undefined && im.resourceVersion !== '' && im.resourceVersion !== meta(old).resourceVersion) {
      throw conflict(t.group, t.plural, name, STALE_OBJECT);
    }
    return this.commitUpdate(t, key, old, incoming, subresource, opts, 'Update');
  }

  private commitUpdate(
    t: ResourceType,
    key: string,
    old: Obj,
    incoming: Obj,
    subresource: string | undefined,
    opts: WriteOptions,
    operation: 'Update' | 'Apply',
  ): Obj {
    const om = meta(old);
    const name = om.name ?? '';
    let next: Obj;
    if (subresource === 'status') {
      next = structuredClone(old);
      if ('status' in incoming) next.status = incoming.status;
      else delete next.status;
      if (operation === 'Apply') meta(next).managedFields = meta(incoming).managedFields;
      if (!t.builtin) {
        // the CRD status strategy keeps all of metadata; built-ins (pods, nodes) take labels/annotations too
      } else {
        meta(next).labels = meta(incoming).labels ?? {};
        meta(next).annotations = meta(incoming).annotations ?? {};
        if (!meta(incoming).labels) delete meta(next).labels;
        if (!meta(incoming).annotations) delete meta(next).annotations;
      }
    } else {
      next = incoming;
      if (t.statusSubresource) {
        if ('status' in old) next.status = structuredClone(old.status);
        else delete next.status;
      }
    }
    const nm = meta(next);
    nm.namespace = om.namespace;
    if (!t.namespaced) delete nm.namespace;
    nm.name = name;
    for (const f of SERVER_OWNED_META) {
      if (om[f] === undefined) Reflect.deleteProperty(nm, f);
      else (nm as Record<string, unknown>)[f] = om[f];
    }
    if (om.deletionTimestamp) {
      const added = (nm.finalizers ?? []).filter((f) => !(om.finalizers ?? []).includes(f));
      if (added.length) {
        throw invalid(t.group, t.kind, name, [
          { field: 'metadata.finalizers', reason: 'FieldValueForbidden', detail: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers []string{${added.map((f) => JSON.stringify(f)).join(', ')}}` },
        ]);
      }
    }
    const errs = this.admit(t, next, opts);
    if (errs.length) throw invalid(t.group, t.kind, name, errs);
    if (t.generation && om.generation !== undefined) {
      const ignore = t.statusSubresource ? ['metadata', 'status'] : ['metadata'];
      if (canonicalJson(withoutKeys(old, ignore)) !== canonicalJson(withoutKeys(next, ignore))) nm.generation = om.generation + 1;
    }
    this.trackManager(next, old, opts, operation, t, subresource);
    nm.resourceVersion = om.resourceVersion;
    if (sameContent(old, next)) return this.present(t, old);
    if (opts.dryRun) return this.present(t, next);
    if (nm.deletionTimestamp && (nm.finalizers ?? []).length === 0) {
      const gone = this.store.remove(t.storage, key, next) ?? next;
      this.afterRemove(t, gone);
      return this.present(t, gone);
    }
    const stored = this.store.put(t.storage, key, next);
    if (t.kind === 'CustomResourceDefinition' && t.group === 'apiextensions.k8s.io') this.afterCrdWrite(name);
    return this.present(t, stored);
  }

  patch(
    t: ResourceType,
    namespace: string | undefined,
    name: string,
    contentType: string,
    rawBody: string,
    subresource: string | undefined,
    opts: WriteOptions & ApplyOptions = {},
  ): { object: Obj; created: boolean } {
    this.requireNamespace(t, namespace);
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const old = this.store.get(t.storage, key);
    const type = (contentType.split(';')[0] ?? '').trim();
    if (type === 'application/apply-patch+yaml' || type === 'application/apply-patch+cbor') {
      if (!opts.fieldManager) {
        throw invalid('meta.k8s.io', 'PatchOptions', '', [
          { field: 'fieldManager', reason: 'FieldValueRequired', detail: 'Required value: is required for apply patch' },
        ]);
      }
      const applied = applyPatch(t, old ? this.present(t, old) : undefined, rawBody, name, namespace, opts, subresource, this.now());
      if (!old) {
        if (subresource) throw notFound(t.group, t.plural, name);
        return { object: this.create(t, namespace, applied, { ...opts, fieldManager: undefined }), created: true };
      }
      const incoming = this.intake(t, applied, opts);
      return { object: this.commitUpdate(t, key, old, incoming, subresource, { ...opts, fieldManager: undefined }, 'Apply'), created: false };
    }
    if (!old) throw notFound(t.group, t.plural, name);
    let patch: unknown;
    try {
      patch = JSON.parse(rawBody);
    } catch (e) {
      throw badRequest(`error decoding patch: ${(e as Error).message}`);
    }
    const current = this.present(t, old);
    let result: unknown;
    if (type === 'application/merge-patch+json') result = mergePatch(current, patch);
    else if (type === 'application/json-patch+json') result = jsonPatch(current, patch);
    else if (type === 'application/strategic-merge-patch+json') {
      if (!t.builtin) {
        throw new ApiServerError(
          'UnsupportedMediaType',
          415,
          'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml',
        );
      }
      result = strategicMerge(current, patch);
    } else {
      throw new ApiServerError(
        'UnsupportedMediaType',
        415,
        `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml${t.builtin ? ', application/strategic-merge-patch+json' : ''}`,
      );
    }
    const incoming = this.intake(t, result, opts);
    const rv = meta(incoming).resourceVersion;
    if (rv !== undefined && rv !== meta(old).resourceVersion) throw conflict(t.group, t.plural, name, STALE_OBJECT);
    return { object: this.commitUpdate(t, key, old, incoming, subresource, opts, 'Update'), created: false };
  }

  /**
   * DELETE: objects with finalizers get a deletionTimestamp and stay until the last finalizer is removed
   * (the answer is the object); others go at once (the answer is a Status Success, or the object for pods).
   */
  delete(t: ResourceType, namespace: string | undefined, name: string, options: DeleteOptions = {}): Obj {
    this.requireNamespace(t, namespace);
    const key = objectKey(t.namespaced ? namespace : undefined, name);
    const old = this.store.get(t.storage, key);
    if (!old) throw notFound(t.group, t.plural, name);
    const om = meta(old);
    const pre = options.preconditions;
    if (pre?.uid && pre.uid !== om.uid) {
      throw conflict(t.group, t.plural, name, `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${om.uid}`);
    }
    if (pre?.resourceVersion && pre.resourceVersion !== om.resourceVersion) {
      throw conflict(
        t.group,
        t.plural,
        name,
        `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${om.resourceVersion}`,
      );
    }
    if (om.deletionTimestamp) return this.present(t, old);
    if (options.dryRun) return this.present(t, old);
    const policy = options.propagationPolicy ?? 'Background';
    if (policy !== 'Background' && policy !== 'Foreground' && policy !== 'Orphan') {
      throw invalid('meta.k8s.io', 'DeleteOptions', '', [
        { field: 'propagationPolicy', reason: 'FieldValueNotSupported', detail: `Unsupported value: ${JSON.stringify(policy)}: supported values: "Foreground", "Background", "Orphan", "nil"` },
      ]);
    }
    if (policy === 'Orphan' && om.uid) this.orphanDependents(om.uid);
    if (policy === 'Foreground' && om.uid && this.dependentsOf(om.uid).length > 0) {
      const next = structuredClone(old);
      const nm = meta(next);
      nm.deletionTimestamp = this.now();
      nm.deletionGracePeriodSeconds = 0;
      nm.finalizers = [...(nm.finalizers ?? []).filter((f) => f !== 'foregroundDeletion'), 'foregroundDeletion'];
      const stored = this.store.put(t.storage, key, next);
      for (const d of this.dependentsOf(om.uid)) {
        if (!meta(d.object).deletionTimestamp) this.delete(d.type, meta(d.object).namespace, meta(d.object).name ?? '', { propagationPolicy: 'Foreground' });
      }
      this.finishForeground(om.uid);
      return this.present(t, this.store.get(t.storage, key) ?? stored);
    }
    const isNamespace = t.kind === 'Namespace' && t.group === '';
    const isCrd = t.kind === 'CustomResourceDefinition' && t.group === 'apiextensions.k8s.io';
    if ((om.finalizers ?? []).length > 0 || isNamespace || isCrd) {
      const next = structuredClone(old);
      const nm = meta(next);
      nm.deletionTimestamp = this.now();
      nm.deletionGracePeriodSeconds = 0;
      if (isNamespace) next.status = { ...((next.status as Obj | undefined) ?? {}), phase: 'Terminating' };
      if (isCrd) {
        if (!(nm.finalizers ?? []).includes('customresourcecleanup.apiextensions.k8s.io')) {
          nm.finalizers = [...(nm.finalizers ?? []), 'customresourcecleanup.apiextensions.k8s.io'];
        }
        setCondition(next, { type: 'Terminating', status: 'True', reason: 'InstanceDeletionInProgress', message: 'CustomResource deletion is in progress' }, this.now());
      }
      const stored = this.store.put(t.storage, key, next);
      if (isNamespace) this.drainNamespace(name);
      if (isCrd) this.drainCrd(name);
      const final = this.store.get(t.storage, key);
      return this.present(t, final ?? stored);
    }
    const gone = this.store.remove(t.storage, key) ?? old;
    this.afterRemove(t, gone);
    if (t.returnDeletedObject) return this.present(t, gone);
    // the generic registry's finalizeDelete: a Status naming what was deleted
    return { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { name, group: t.group, kind: t.plural, uid: om.uid } };
  }

  deleteCollection(t: ResourceType, namespace: string | undefined, q: { labelSelector?: string | null; fieldSelector?: string | null }): Obj {
    const listed = this.list(t, namespace, q);
    for (const item of listed.items as Obj[]) {
      try {
        this.delete(t, meta(item).namespace, meta(item).name ?? '');
      } catch (e) {
        if (!(e instanceof ApiServerError && e.code === 'NotFound')) throw e;
      }
    }
    return { ...listed, items: (listed.items as Obj[]).map((i) => ({ ...i })) };
  }

  // ---- namespace and CRD lifecycle ------------------------------------------------------------------

  // ---- garbage collection (ownerReferences), done synchronously where kube-controller-manager is async ----

  private uidExists(uid: string): boolean {
    for (const storage of this.storages().keys()) {
      if (this.store.list(storage).some((o) => meta(o).uid === uid)) return true;
    }
    return false;
  }

  /** One served type per storage (the one objects are stored as). */
  private storages(): Map<string, ResourceType> {
    const out = new Map<string, ResourceType>();
    for (const t of this.allTypes()) if (!t.toStorage && (!out.has(t.storage) || t.preferred)) out.set(t.storage, t);
    return out;
  }

  private dependentsOf(uid: string): { type: ResourceType; object: Obj }[] {
    const out: { type: ResourceType; object: Obj }[] = [];
    for (const [storage, type] of this.storages()) {
      for (const o of this.store.list(storage)) {
        if ((meta(o).ownerReferences as { uid?: string }[] | undefined)?.some((r) => r.uid === uid)) out.push({ type, object: o });
      }
    }
    return out;
  }

  private orphanDependents(uid: string): void {
    for (const d of this.dependentsOf(uid)) {
      const next = structuredClone(d.object);
      const refs = ((meta(next).ownerReferences ?? []) as { uid?: string }[]).filter((r) => r.uid !== uid);
      if (refs.length) meta(next).ownerReferences = refs;
      else delete meta(next).ownerReferences;
      this.store.put(d.type.storage, objectKey(meta(next).namespace, meta(next).name ?? ''), next);
    }
  }

  /** Background propagation: dependents whose owners are all gone are deleted; dangling references dropped. */
  private collectGarbage(ownerUid: string): void {
    for (const d of this.dependentsOf(ownerUid)) {
      const refs = (meta(d.object).ownerReferences ?? []) as { uid?: string }[];
      const alive = refs.filter((r) => r.uid !== ownerUid && r.uid !== undefined && this.uidExists(r.uid));
      if (alive.length === 0) {
        if (!meta(d.object).deletionTimestamp) {
          try {
            this.delete(d.type, meta(d.object).namespace, meta(d.object).name ?? '');
          } catch (e) {
            if (!(e instanceof ApiServerError && e.code === 'NotFound')) throw e;
          }
        }
      } else if (alive.length < refs.length) {
        const next = structuredClone(d.object);
        meta(next).ownerReferences = refs.filter((r) => r.uid !== ownerUid);
        this.store.put(d.type.storage, objectKey(meta(next).namespace, meta(next).name ?? ''), next);
      }
    }
  }

  /** Foreground propagation: once an owner has no dependents left, its foregroundDeletion finalizer goes. */
  private finishForeground(ownerUid: string): void {
    if (this.dependentsOf(ownerUid).length > 0) return;
    for (const [storage, type] of this.storages()) {
      const owner = this.store.list(storage).find((o) => meta(o).uid === ownerUid);
      if (!owner || !(meta(owner).finalizers ?? []).includes('foregroundDeletion')) continue;
      const next = structuredClone(owner);
      meta(next).finalizers = (meta(next).finalizers ?? []).filter((f) => f !== 'foregroundDeletion');
      const key = objectKey(meta(next).namespace, meta(next).name ?? '');
      if ((meta(next).finalizers ?? []).length === 0) {
        const gone = this.store.remove(storage, key, next) ?? next;
        this.afterRemove(type, gone);
      } else this.store.put(storage, key, next);
    }
  }

  private afterRemove(t: ResourceType, gone: Obj): void {
    const m = meta(gone);
    if (m.uid) this.collectGarbage(m.uid);
    for (const ref of (m.ownerReferences ?? []) as { uid?: string }[]) if (ref.uid) this.finishForeground(ref.uid);
    if (t.namespaced && m.namespace) this.finishNamespace(m.namespace);
    if (t.crd) this.finishCrd(t.crd);
    if (t.kind === 'CustomResourceDefinition' && t.group === 'apiextensions.k8s.io') {
      for (const [storage] of this.storagesOf(m.name ?? '')) this.store.dropResource(storage);
      this.syncCrdTypes();
    }
  }

  private storagesOf(crdName: string): Map<string, ResourceType> {
    const out = new Map<string, ResourceType>();
    for (const t of this.allTypes()) if (t.crd === crdName) out.set(t.storage, t);
    return out;
  }

  private drainNamespace(ns: string): void {
    const seen = new Set<string>();
    for (const t of this.allTypes()) {
      if (!t.namespaced || seen.has(t.storage) || t.toStorage) continue;
      seen.add(t.storage);
      for (const o of this.store.list(t.storage, ns)) {
        if (!meta(o).deletionTimestamp) this.delete(t, ns, meta(o).name ?? '');
      }
    }
    this.finishNamespace(ns);
  }

  private finishNamespace(ns: string): void {
    const nsType = this.mustLookup('', 'v1', 'namespaces');
    const nsObj = this.store.get(nsType.storage, objectKey(undefined, ns));
    if (!nsObj || !meta(nsObj).deletionTimestamp) return;
    const seen = new Set<string>();
    for (const t of this.allTypes()) {
      if (!t.namespaced || seen.has(t.storage)) continue;
      seen.add(t.storage);
      if (this.store.list(t.storage, ns).length > 0) return;
    }
    if ((meta(nsObj).finalizers ?? []).length > 0) return;
    this.store.remove(nsType.storage, objectKey(undefined, ns));
  }

  private drainCrd(crdName: string): void {
    for (const [storage, t] of this.storagesOf(crdName)) {
      for (const o of this.store.list(storage)) {
        if (!meta(o).deletionTimestamp) this.delete(t, meta(o).namespace, meta(o).name ?? '');
      }
    }
    this.finishCrd(crdName);
  }

  private finishCrd(crdName: string): void {
    const crdType = this.mustLookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    const key = objectKey(undefined, crdName);
    const crd = this.store.get(crdType.storage, key);
    if (!crd || !meta(crd).deletionTimestamp) return;
    for (const [storage] of this.storagesOf(crdName)) if (this.store.list(storage).length > 0) return;
    const m = meta(crd);
    m.finalizers = (m.finalizers ?? []).filter((f) => f !== 'customresourcecleanup.apiextensions.k8s.io');
    if (m.finalizers.length === 0) {
      const gone = this.store.remove(crdType.storage, key) ?? crd;
      this.afterRemove(crdType, gone);
    } else this.store.put(crdType.storage, key, crd);
  }

  /** After a CRD write: serve its types and report NamesAccepted/Established as the CRD controllers do. */
  private afterCrdWrite(name: string): void {
    this.syncCrdTypes();
    const crdType = this.mustLookup('apiextensions.k8s.io', 'v1', 'customresourcedefinitions');
    const key = objectKey(undefined, name);
    const crd = this.store.get(crdType.storage, key);
    if (!crd || meta(crd).deletionTimestamp) return;
    const spec = crd.spec as CrdSpec;
    const next = structuredClone(crd);
    const now = this.now();
    const status = ((next.status as Obj | undefined) ?? {}) as Obj;
    next.status = status;
    status.acceptedNames = { ...spec.names, singular: spec.names.singular ?? spec.names.kind.toLowerCase(), listKind: spec.names.listKind ?? `${spec.names.kind}List` };
    const storageVersion = spec.versions.find((v) => v.storage)?.name;
    const stored = new Set((status.storedVersions as string[] | undefined) ?? []);
    if (storageVersion) stored.add(storageVersion);
    status.storedVersions = [...stored];
    setCondition(next, { type: 'NamesAccepted', status: 'True', reason: 'NoConflicts', message: 'no conflicts found' }, now);
    setCondition(next, { type: 'Established', status: 'True', reason: 'InitialNamesAccepted', message: 'the initial names have been accepted' }, now);
    if (!sameContent(crd, next)) this.store.put(crdType.storage, key, next);
  }

  // ---- managed fields -------------------------------------------------------------------------------

  private trackManager(next: Obj, old: Obj | undefined, opts: WriteOptions, operation: 'Update' | 'Apply', t: ResourceType, subresource?: string): void {
    if (operation === 'Apply') return; // applyPatch already wrote managedFields
    const manager = opts.fieldManager;
    const nm = meta(next);
    if (old) nm.managedFields = structuredClone(meta(old).managedFields ?? []);
    if (!manager) {
      if (!nm.managedFields || nm.managedFields.length === 0) delete nm.managedFields;
      return;
    }
    recordUpdateManager(next, old, manager, apiVersionOf(t), subresource, this.now(), t);
  }
}


export interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
  lastTransitionTime?: string;
}

function setCondition(o: Obj, c: Condition, now: string): void {
  const status = ((o.status as Obj | undefined) ?? {}) as Obj;
  o.status = status;
  const conds = ((status.conditions as Condition[] | undefined) ?? []).slice();
  const i = conds.findIndex((x) => x.type === c.type);
  const prev = i >= 0 ? conds[i] : undefined;
  const next = { ...c, lastTransitionTime: prev && prev.status === c.status ? prev.lastTransitionTime : now };
  if (i >= 0) conds[i] = next;
  else conds.push(next);
  status.conditions = conds;
}

function validateCrd(o: Obj): FieldError[] {
  const errs: FieldError[] = [];
  const spec = o.spec as Partial<CrdSpec> | undefined;
  const name = meta(o).name;
  if (!spec) return [{ field: 'spec', reason: 'FieldValueRequired', detail: 'Required value' }];
  if (!spec.group) errs.push({ field: 'spec.group', reason: 'FieldValueRequired', detail: 'Required value' });
  if (!spec.names?.plural) errs.push({ field: 'spec.names.plural', reason: 'FieldValueRequired', detail: 'Required value' });
  if (!spec.names?.kind) errs.push({ field: 'spec.names.kind', reason: 'FieldValueRequired', detail: 'Required value' });
  if (spec.scope !== 'Namespaced' && spec.scope !== 'Cluster') {
    errs.push({ field: 'spec.scope', reason: 'FieldValueNotSupported', detail: `Unsupported value: ${JSON.stringify(spec.scope ?? '')}: supported values: "Cluster", "Namespaced"` });
  }
  if (spec.group && spec.names?.plural && name !== `${spec.names.plural}.${spec.group}`) {
    errs.push({ field: 'metadata.name', reason: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(name)}: must be spec.names.plural+"."+spec.group` });
  }
  const versions = spec.versions ?? [];
  if (versions.length === 0) errs.push({ field: 'spec.versions', reason: 'FieldValueInvalid', detail: 'Invalid value: "null": must have exactly one version marked as storage version' });
  else if (versions.filter((v) => v.storage).length !== 1) {
    errs.push({ field: 'spec.versions', reason: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(versions)}: must have exactly one version marked as storage version` });
  }
  versions.forEach((v, i) => {
    if (!v.schema?.openAPIV3Schema) {
      errs.push({ field: `spec.versions[${i}].schema.openAPIV3Schema`, reason: 'FieldValueRequired', detail: 'Required value: schemas are required' });
    } else if (v.schema.openAPIV3Schema.type !== 'object') {
      errs.push({ field: `spec.versions[${i}].schema.openAPIV3Schema.type`, reason: 'FieldValueRequired', detail: 'Required value: must be object at the root' });
    } else {
      errs.push(...celCompileErrors(v.schema.openAPIV3Schema, `spec.versions[${i}].schema.openAPIV3Schema`));
    }
  });
  return errs;
}

export function eventMatches(core: ApiCore, t: ResourceType, sel: Selection, e: StoreEvent): { type: 'ADDED' | 'MODIFIED' | 'DELETED'; object: Obj } | undefined {
  const now = core.matches(t, sel, e.object);
  const before = e.prev ? core.matches(t, sel, e.prev) : false;
  if (e.type === 'DELETED') return before ? { type: 'DELETED', object: e.object } : undefined;
  if (e.type === 'ADDED') return now ? { type: 'ADDED', object: e.object } : undefined;
  if (now && before) return { type: 'MODIFIED', object: e.object };
  if (now) return { type: 'ADDED', object: e.object };
  if (before) return { type: 'DELETED', object: e.object };
  return undefined;
}
