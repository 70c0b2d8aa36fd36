// PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch for built-in
// types (the merge keys and directives kubectl sends: `$patch`, `$retainKeys`, `$setElementOrder/…`,
// `$deleteFromPrimitiveList/…`). Server-side apply lives in managed-fields.ts.
import { ApiServerError } from './errors.js';

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  const out: Obj = isObj(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) Reflect.deleteProperty(out, k);
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  value?: unknown;
  from?: string;
}

function patchFailed(message: string): ApiServerError {
  return new ApiServerError('Invalid', 422, message);
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw patchFailed(`json patch: invalid path ${JSON.stringify(path)}`);
  return path
    .slice(1)
    .split('/')
    .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function parentOf(doc: unknown, parts: string[], path: string): { parent: Obj | unknown[]; key: string } {
  let cur: unknown = doc;
  for (const p of parts.slice(0, -1)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObj(cur)) cur = cur[p];
    else cur = undefined;
    if (cur === undefined) throw patchFailed(`doc is missing path: "${path}": missing value`);
  }
  if (!Array.isArray(cur) && !isObj(cur)) throw patchFailed(`doc is missing path: "${path}": missing value`);
  return { parent: cur, key: parts[parts.length - 1] ?? '' };
}

function readAt(doc: unknown, path: string): unknown {
  let cur = doc;
  for (const p of pointer(path)) {
    if (Array.isArray(cur)) cur = cur[Number(p)];
    else if (isObj(cur)) cur = p in cur ? cur[p] : undefined;
    else cur = undefined;
    if (cur === undefined) throw patchFailed(`doc is missing path: "${path}": missing value`);
  }
  return cur;
}

function arrayIndex(arr: unknown[], key: string, path: string, forAdd: boolean): number {
  if (forAdd && key === '-') return arr.length;
  if (!/^\d+$/.test(key)) throw patchFailed(`invalid array index ${JSON.stringify(key)} in path "${path}"`);
  const i = Number(key);
  if (i > arr.length || (!forAdd && i === arr.length)) throw patchFailed(`index out of range: "${path}"`);
  return i;
}

function addAt(doc: unknown, path: string, value: unknown): unknown {
  const parts = pointer(path);
  if (parts.length === 0) return structuredClone(value);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, true), 0, structuredClone(value));
  else parent[key] = structuredClone(value);
  return doc;
}

function removeAt(doc: unknown, path: string): unknown {
  const parts = pointer(path);
  const { parent, key } = parentOf(doc, parts, path);
  if (Array.isArray(parent)) parent.splice(arrayIndex(parent, key, path, false), 1);
  else {
    if (!(key in parent)) throw patchFailed(`doc is missing path: "${path}": missing value`);
    Reflect.deleteProperty(parent, key);
  }
  return doc;
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function jsonPatch(target: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new ApiServerError('BadRequest', 400, 'json: cannot unmarshal object into Go value of type jsonpatch.Patch');
  let doc = structuredClone(target);
  for (const raw of ops as JsonPatchOp[]) {
    switch (raw.op) {
      case 'add':
        doc = addAt(doc, raw.path, raw.value);
        break;
      case 'remove':
        doc = removeAt(doc, raw.path);
        break;
      case 'replace':
        readAt(doc, raw.path);
        doc = removeAt(doc, raw.path);
        doc = addAt(doc, raw.path, raw.value);
        break;
      case 'move': {
        const v = readAt(doc, raw.from ?? '');
        doc = removeAt(doc, raw.from ?? '');
        doc = addAt(doc, raw.path, v);
        break;
      }
      case 'copy':
        doc = addAt(doc, raw.path, readAt(doc, raw.from ?? ''));
        break;
      case 'test':
        if (!equal(readAt(doc, raw.path), raw.value)) {
          throw patchFailed(`testing value ${raw.path} failed: test failed`);
        }
        break;
      default:
        throw new ApiServerError('BadRequest', 400, `Unexpected kind: ${String((raw as { op?: unknown }).op)}`);
    }
  }
  return doc;
}

/** patchMergeKey of the list fields of built-in types (by field name; the names do not collide there). */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  ephemeralContainers: 'name',
  volumes: 'name',
  env: 'name',
  imagePullSecrets: 'name',
  ports: 'containerPort',
  volumeMounts: 'mountPath',
  volumeDevices: 'devicePath',
  conditions: 'type',
  ownerReferences: 'uid',
  taints: 'key',
  addresses: 'type',
  hostAliases: 'ip',
  topologySpreadConstraints: 'topologyKey',
  resourceClaims: 'name',
};

/** Primitive lists whose patchStrategy is merge (set union). */
const MERGED_PRIMITIVE_LISTS = new Set(['finalizers']);

function reorder(list: unknown[], order: unknown[], key: string | undefined): unknown[] {
  const idOf = (v: unknown): string => JSON.stringify(key && isObj(v) ? v[key] : v);
  const pos = new Map(order.map((o, i) => [JSON.stringify(key && isObj(o) ? o[key] : o), i]));
  return [...list].sort((a, b) => (pos.get(idOf(a)) ?? Infinity) - (pos.get(idOf(b)) ?? Infinity));
}

function mergeList(field: string, orig: unknown, patch: unknown[]): unknown[] {
  const key = MERGE_KEYS[field];
  const original = Array.isArray(orig) ? structuredClone(orig) : [];
  if (key) {
    if (patch.some((p) => isObj(p) && p.$patch === 'replace')) {
      return patch.filter((p) => !(isObj(p) && p.$patch === 'replace'));
    }
    const out = original;
    for (const p of patch) {
      if (!isObj(p)) continue;
      const idx = out.findIndex((o) => isObj(o) && equal(o[key], p[key]));
      if (p.$patch === 'delete') {
        if (idx >= 0) out.splice(idx, 1);
      } else if (idx >= 0) out[idx] = strategicMerge(out[idx], p);
      else out.push(strategicMerge({}, p));
    }
    return out;
  }
  if (MERGED_PRIMITIVE_LISTS.has(field)) {
    const out = original;
    for (const p of patch) if (!out.some((o) => equal(o, p))) out.push(p);
    return out;
  }
  return structuredClone(patch);
}

/** Strategic merge patch of a built-in object (apimachinery's strategicpatch, the parts kubectl uses). */
export function strategicMerge(target: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return structuredClone(patch);
  if (patch.$patch === 'replace') {
    const { $patch: _p, ...rest } = patch;
    return structuredClone(rest);
  }
  if (patch.$patch === 'delete') return undefined;
  const out: Obj = isObj(target) ? { ...target } : {};
  const retain = patch.$retainKeys;
  const orders: [string, unknown[]][] = [];
  for (const [k, v] of Object.entries(patch)) {
    if (k === '$patch' || k === '$retainKeys') continue;
    if (k.startsWith('$setElementOrder/')) {
      if (Array.isArray(v)) orders.push([k.slice('$setElementOrder/'.length), v]);
      continue;
    }
    if (k.startsWith('$deleteFromPrimitiveList/')) {
      const field = k.slice('$deleteFromPrimitiveList/'.length);
      if (Array.isArray(out[field]) && Array.isArray(v)) {
        out[field] = (out[field] as unknown[]).filter((x) => !v.some((d) => equal(d, x)));
      }
      continue;
    }
    if (v === null) Reflect.deleteProperty(out, k);
    else if (Array.isArray(v)) out[k] = mergeList(k, out[k], v);
    else if (isObj(v)) {
      const merged = strategicMerge(out[k], v);
      if (merged === undefined) Reflect.deleteProperty(out, k);
      else out[k] = merged;
    } else out[k] = v;
  }
  if (Array.isArray(retain)) {
    for (const k of Object.keys(out)) if (!retain.includes(k)) Reflect.deleteProperty(out, k);
  }
  for (const [field, order] of orders) {
    if (Array.isArray(out[field])) out[field] = reorder(out[field] as unknown[], order, MERGE_KEYS[field]);
  }
  return out;
}
