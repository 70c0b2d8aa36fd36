// Server-side apply and managedFields (structured-merge-diff, the parts tests meet): field sets per manager
// in FieldsV1 form, ownership moving to whoever changes a field with an Update, apply conflicts (409 with
// `Apply failed with 1 conflict: conflict with "mgr" using v1: .spec.replicas` and FieldManagerConflict
// causes), force to take ownership, and removal of fields a manager applied before and no longer applies.
// Lists follow x-kubernetes-list-type (map with keys, set, atomic) for CRDs and the patch merge keys for
// built-ins; lists without such information are atomic.
import { parse as parseYaml } from 'yaml';
import { ApiServerError, badRequest } from './errors.js';
import { apiVersionOf, type ResourceType } from './resources.js';
import type { StructuralSchema } from './schema-validate.js';
import type { Obj } from './store.js';

export interface ApplyOptions {
  fieldManager?: string;
  force?: boolean;
}

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time: string;
  fieldsType: 'FieldsV1';
  fieldsV1: Obj;
  subresource?: string;
}

type Segment = { f: string } | { k: Record<string, unknown> } | { v: unknown };

interface Leaf {
  path: Segment[];
  value: unknown;
}

const BUILTIN_LIST_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  ports: 'containerPort',
  volumeMounts: 'mountPath',
  conditions: 'type',
  ownerReferences: 'uid',
  addresses: 'type',
  imagePullSecrets: 'name',
};
const BUILTIN_SETS = new Set(['finalizers']);
const IGNORED_META = new Set(['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'managedFields', 'selfLink', 'generateName']);

function firstField(path: Segment[]): string | undefined {
  const first = path[0];
  return first && 'f' in first ? first.f : undefined;
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function sortedJson(v: unknown): string {
  if (isObj(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${sortedJson(v[k])}`).join(',')}}`;
  if (Array.isArray(v)) return `[${v.map(sortedJson).join(',')}]`;
  return JSON.stringify(v);
}

function listInfo(t: ResourceType, schema: StructuralSchema | undefined, field: string): { type: 'map'; keys: string[] } | { type: 'set' } | { type: 'atomic' } {
  if (schema?.['x-kubernetes-list-type'] === 'map') return { type: 'map', keys: schema['x-kubernetes-list-map-keys'] ?? [] };
  if (schema?.['x-kubernetes-list-type'] === 'set') return { type: 'set' };
  if (schema?.['x-kubernetes-list-type'] === 'atomic') return { type: 'atomic' };
  if (field === 'finalizers' || (t.builtin && BUILTIN_SETS.has(field))) return { type: 'set' };
  const key = field === 'ownerReferences' ? 'uid' : t.builtin ? BUILTIN_LIST_KEYS[field] : undefined;
  return key ? { type: 'map', keys: [key] } : { type: 'atomic' };
}

function childSchema(schema: StructuralSchema | undefined, key: string): StructuralSchema | undefined {
  if (!schema) return undefined;
  return schema.properties?.[key] ?? (isObj(schema.additionalProperties) ? (schema.additionalProperties as StructuralSchema) : undefined);
}

/** Leaves of an object (and list-map elements), as structured-merge-diff tracks them. */
function leaves(t: ResourceType, v: unknown, schema: StructuralSchema | undefined, path: Segment[], field: string, out: Leaf[]): void {
  if (isObj(v)) {
    const keys = Object.keys(v);
    if (keys.length === 0 && path.length > 0) out.push({ path, value: v });
    for (const k of keys) {
      if (path.length === 0 && (k === 'apiVersion' || k === 'kind')) continue;
      if (path.length === 1 && firstField(path) === 'metadata' && IGNORED_META.has(k)) continue;
      const metaChild = path.length === 0 && k === 'metadata';
      leaves(t, v[k], metaChild ? undefined : childSchema(schema, k), [...path, { f: k }], k, out);
    }
    return;
  }
  if (Array.isArray(v)) {
    const info = listInfo(t, schema, field);
    if (info.type === 'map') {
      for (const item of v) {
        if (!isObj(item)) continue;
        const key = Object.fromEntries(info.keys.map((k) => [k, item[k]]));
        const p = [...path, { k: key }];
        out.push({ path: p, value: key });
        leaves(t, item, schema?.items, p, '', out);
      }
    } else if (info.type === 'set') {
      for (const item of v) out.push({ path: [...path, { v: item }], value: item });
    } else out.push({ path, value: v });
    return;
  }
  out.push({ path, value: v });
}

export function pathString(p: Segment[]): string {
  return p
    .map((s) => {
      if ('f' in s) return `.${s.f}`;
      if ('k' in s) return `[${Object.entries(s.k).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
      return `[${JSON.stringify(s.v)}]`;
    })
    .join('');
}

function segKey(s: Segment): string {
  if ('f' in s) return `f:${s.f}`;
  if ('k' in s) return `k:${sortedJson(s.k)}`;
  return `v:${JSON.stringify(s.v)}`;
}

function parseSegKey(k: string): Segment | undefined {
  if (k.startsWith('f:')) return { f: k.slice(2) };
  if (k.startsWith('k:')) return { k: JSON.parse(k.slice(2)) as Record<string, unknown> };
  if (k.startsWith('v:')) return { v: JSON.parse(k.slice(2)) as unknown };
  return undefined;
}

function toFieldsV1(paths: Segment[][]): Obj {
  const root: Obj = {};
  for (const p of paths) {
    let node = root;
    for (const s of p) {
      const k = segKey(s);
      if (!isObj(node[k])) node[k] = {};
      node = node[k] as Obj;
      if ('k' in s) node['.'] = {};
    }
  }
  return root;
}

function fromFieldsV1(f: Obj, prefix: Segment[] = [], out: Segment[][] = []): Segment[][] {
  const children = Object.keys(f).filter((k) => k !== '.');
  if (prefix.length > 0 && (children.length === 0 || '.' in f)) out.push(prefix);
  for (const k of children) {
    const s = parseSegKey(k);
    if (s && isObj(f[k])) fromFieldsV1(f[k], [...prefix, s], out);
  }
  return out;
}

function valueAt(o: unknown, path: Segment[]): { found: boolean; value?: unknown } {
  let cur: unknown = o;
  for (const s of path) {
    if ('f' in s) {
      if (!isObj(cur) || !(s.f in cur)) return { found: false };
      cur = cur[s.f];
    } else if ('k' in s) {
      if (!Array.isArray(cur)) return { found: false };
      const item = cur.find((i) => isObj(i) && Object.entries(s.k).every(([k, v]) => sortedJson(i[k]) === sortedJson(v)));
      if (item === undefined) return { found: false };
      cur = item;
    } else {
      if (!Array.isArray(cur)) return { found: false };
      const has = cur.some((i) => sortedJson(i) === sortedJson(s.v));
      if (!has) return { found: false };
      cur = s.v;
    }
  }
  return { found: true, value: cur };
}

function removeAt(o: unknown, path: Segment[]): void {
  if (path.length === 0) return;
  const parent = valueAt(o, path.slice(0, -1));
  if (!parent.found) return;
  const last = path[path.length - 1];
  const p = parent.value;
  if (!last) return;
  if ('f' in last && isObj(p)) Reflect.deleteProperty(p, last.f);
  else if (Array.isArray(p)) {
    const idx = p.findIndex((i) =>
      'k' in last ? isObj(i) && Object.entries(last.k).every(([k, v]) => sortedJson(i[k]) === sortedJson(v)) : 'v' in last && sortedJson(i) === sortedJson(last.v),
    );
    if (idx >= 0) p.splice(idx, 1);
  }
}

/** Merges an applied configuration into the live object following list types. */
function mergeApplied(t: ResourceType, live: unknown, applied: unknown, schema: StructuralSchema | undefined, field: string): unknown {
  if (isObj(applied)) {
    const out: Obj = isObj(live) ? { ...live } : {};
    for (const [k, v] of Object.entries(applied)) out[k] = mergeApplied(t, out[k], v, field === '' && k === 'metadata' ? undefined : childSchema(schema, k), k);
    return out;
  }
  if (Array.isArray(applied)) {
    const info = listInfo(t, schema, field);
    if (info.type === 'atomic' || !Array.isArray(live)) return structuredClone(applied);
    const out = structuredClone(live) as unknown[];
    if (info.type === 'set') {
      for (const a of applied) if (!out.some((o) => sortedJson(o) === sortedJson(a))) out.push(a);
      return out;
    }
    for (const a of applied) {
      if (!isObj(a)) continue;
      const idx = out.findIndex((o) => isObj(o) && info.keys.every((k) => sortedJson(o[k]) === sortedJson(a[k])));
      if (idx >= 0) out[idx] = mergeApplied(t, out[idx], a, schema?.items, '');
      else out.push(structuredClone(a));
    }
    return out;
  }
  return structuredClone(applied);
}

function entriesOf(o: Obj | undefined): ManagedFieldsEntry[] {
  const m = (o?.metadata ?? {}) as { managedFields?: ManagedFieldsEntry[] };
  return structuredClone(m.managedFields ?? []);
}

function managerLabel(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += ` using ${e.apiVersion} at ${e.time}`;
  return s;
}

function leafPaths(t: ResourceType, o: unknown): Leaf[] {
  const out: Leaf[] = [];
  leaves(t, o, t.schema, [], '', out);
  return out;
}

function restrictToSubresource(paths: Leaf[], subresource: string | undefined, t: ResourceType): Leaf[] {
  if (!t.statusSubresource) return paths;
  const isStatus = (l: Leaf): boolean => firstField(l.path) === 'status';
  return paths.filter((l) => (subresource === 'status' ? isStatus(l) || firstField(l.path) === 'metadata' : !isStatus(l)));
}

/**
 * Computes the object a server-side apply produces. `live` is the current object (served form) or
 * undefined to create. Throws a 409 Conflict listing the conflicting fields unless `force`.
 */
export function applyPatch(
  t: ResourceType,
  live: Obj | undefined,
  rawBody: string,
  name: string,
  namespace: string | undefined,
  opts: ApplyOptions,
  subresource: string | undefined,
  now: string,
): Obj {
  let applied: unknown;
  try {
    applied = parseYaml(rawBody);
  } catch (e) {
    throw badRequest(`error decoding YAML: ${(e as Error).message}`);
  }
  if (!isObj(applied)) throw badRequest('error decoding YAML: the apply configuration must be an object');
  const av = apiVersionOf(t);
  if (applied.apiVersion !== av || applied.kind !== t.kind) {
    throw badRequest(`the API version and kind in the apply configuration (${String(applied.apiVersion)}, ${String(applied.kind)}) do not match the request (${av}, ${t.kind})`);
  }
  const am = (applied.metadata ?? {}) as Obj;
  if (am.name !== undefined && am.name !== name) {
    throw badRequest(`the name of the object (${String(am.name)}) does not match the name on the URL (${name})`);
  }
  const manager = opts.fieldManager ?? '';
  const newLeaves = restrictToSubresource(leafPaths(t, applied), subresource, t);
  const entries = entriesOf(live);
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && (e.subresource ?? '') === (subresource ?? ''));
  const oldPaths = mine ? fromFieldsV1(mine.fieldsV1) : [];
  const newKeys = new Set(newLeaves.map((l) => pathString(l.path)));

  // conflicts with other managers on differing values
  const conflicts: { entry: ManagedFieldsEntry; path: Segment[] }[] = [];
  if (live) {
    for (const e of entries) {
      if (e === mine || e.manager === manager) continue;
      const owned = new Set(fromFieldsV1(e.fieldsV1).map(pathString));
      for (const l of newLeaves) {
        const last = l.path[l.path.length - 1];
        if (!last || 'k' in last || !owned.has(pathString(l.path))) continue;
        const cur = valueAt(live, l.path);
        if (!cur.found || sortedJson(cur.value) !== sortedJson(l.value)) conflicts.push({ entry: e, path: l.path });
      }
    }
  }
  if (conflicts.length > 0 && !opts.force) {
    const causes = conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${managerLabel(c.entry)}`, field: pathString(c.path) }));
    let message: string;
    const [only] = conflicts;
    if (conflicts.length === 1 && only) {
      message = `Apply failed with 1 conflict: conflict with ${managerLabel(only.entry)}: ${pathString(only.path)}`;
    } else {
      const byManager = new Map<string, string[]>();
      for (const c of conflicts) {
        const k = managerLabel(c.entry);
        byManager.set(k, [...(byManager.get(k) ?? []), pathString(c.path)]);
      }
      const lines: string[] = [];
      for (const k of [...byManager.keys()].sort()) lines.push(`conflicts with ${k}:`, ...(byManager.get(k) ?? []).map((p) => `- ${p}`));
      message = `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
    }
    throw new ApiServerError('Conflict', 409, message, { causes });
  }

  // build the result: drop fields this manager no longer applies (unless others own them), then merge
  const result = structuredClone(live ?? {}) as Obj;
  const othersOwn = new Set<string>();
  for (const e of entries) if (e !== mine) for (const p of fromFieldsV1(e.fieldsV1)) othersOwn.add(pathString(p));
  for (const p of oldPaths) {
    const k = pathString(p);
    if (!newKeys.has(k) && !othersOwn.has(k)) removeAt(result, p);
  }
  const merged = mergeApplied(t, result, applied, t.schema, '') as Obj;
  const mm = (merged.metadata ?? {}) as Obj;
  merged.metadata = mm;
  mm.name = name;
  if (t.namespaced) mm.namespace = namespace;

  // new ownership
  const conflictKeys = new Set(conflicts.map((c) => pathString(c.path)));
  const next: ManagedFieldsEntry[] = [];
  for (const e of entries) {
    if (e === mine) continue;
    if (conflictKeys.size > 0) {
      const kept = fromFieldsV1(e.fieldsV1).filter((p) => !conflictKeys.has(pathString(p)));
      if (kept.length === 0) continue;
      e.fieldsV1 = toFieldsV1(kept);
    }
    next.push(e);
  }
  const entry: ManagedFieldsEntry = { manager, operation: 'Apply', apiVersion: apiVersionOf(t), time: now, fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(newLeaves.map((l) => l.path)) };
  if (subresource) entry.subresource = subresource;
  next.push(entry);
  mm.managedFields = next;
  return merged;
}

/** Gives `manager` (operation Update) every field that differs between old and next. */
export function recordUpdateManager(next: Obj, old: Obj | undefined, manager: string, apiVersion: string, subresource: string | undefined, now: string, t?: ResourceType): void {
  const tt = t ?? ({ builtin: true, statusSubresource: false } as ResourceType);
  const newLeaves = leafPaths(tt, next);
  const changed: Segment[][] = [];
  for (const l of newLeaves) {
    const before = old ? valueAt(old, l.path) : { found: false };
    if (!before.found || sortedJson(before.value) !== sortedJson(l.value)) changed.push(l.path);
  }
  if (old) {
    for (const l of leafPaths(tt, old)) if (!valueAt(next, l.path).found) changed.push(l.path);
  }
  const m = next.metadata as { managedFields?: ManagedFieldsEntry[] };
  const entries = (m.managedFields ?? []).slice();
  if (changed.length === 0) {
    if (entries.length) m.managedFields = entries;
    return;
  }
  const changedKeys = new Set(changed.map(pathString));
  const out: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  for (const e of entries) {
    if (e.manager === manager && e.operation === 'Update' && (e.subresource ?? '') === (subresource ?? '')) {
      mine = e;
      continue;
    }
    const kept = fromFieldsV1(e.fieldsV1).filter((p) => !changedKeys.has(pathString(p)));
    if (kept.length === 0) continue;
    out.push({ ...e, fieldsV1: toFieldsV1(kept) });
  }
  const stillPresent = changed.filter((p) => valueAt(next, p).found);
  const ownedBefore = mine ? fromFieldsV1(mine.fieldsV1).filter((p) => !changedKeys.has(pathString(p)) && valueAt(next, p).found) : [];
  const all = [...ownedBefore, ...stillPresent];
  if (all.length > 0) {
    const entry: ManagedFieldsEntry = { manager, operation: 'Update', apiVersion, time: now, fieldsType: 'FieldsV1', fieldsV1: toFieldsV1(all) };
    if (subresource) entry.subresource = subresource;
    out.push(entry);
  }
  if (out.length) m.managedFields = out;
  else delete m.managedFields;
}
