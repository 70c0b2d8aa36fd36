// metav1.Time and metav1.MicroTime fields of built-in types, decoded as kube-apiserver's typed decoding does:
// Time accepts any RFC 3339 timestamp and is stored and served at second precision ("2026-01-02T03:04:05Z");
// MicroTime must carry exactly six fractional digits ("…05.000000Z"), or the request fails with 400 — which is
// what a client that sends a plain Date for Lease.spec.renewTime meets on a real cluster.
import { badRequest } from './errors.js';

type Obj = Record<string, unknown>;

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const RFC3339_MICRO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

/** A field path; `*` stands for every element of a list. */
export type FieldPath = string[];

export interface TimeFields {
  time?: FieldPath[];
  microTime?: FieldPath[];
}

function visit(o: unknown, path: FieldPath, fn: (parent: Obj, key: string, value: unknown) => void): void {
  const [head, ...rest] = path;
  if (head === undefined) return;
  if (head === '*') {
    if (Array.isArray(o)) for (const item of o) visit(item, rest, fn);
    return;
  }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return;
  const rec = o as Obj;
  if (!(head in rec)) return;
  if (rest.length === 0) fn(rec, head, rec[head]);
  else visit(rec[head], rest, fn);
}

function cannotHandle(kind: string, version: string, detail: string): never {
  throw badRequest(`${kind} in version "${version}" cannot be handled as a ${kind}: ${detail}`);
}

/** Checks MicroTime fields and normalizes Time fields of `o` in place. */
export function decodeTimes(o: Obj, fields: TimeFields, kind: string, version: string): void {
  for (const path of fields.microTime ?? []) {
    visit(o, path, (_parent, _key, v) => {
      if (v === null) return;
      if (typeof v !== 'string' || !RFC3339_MICRO.test(v)) {
        const s = String(v);
        const frac = /:\d{2}(\.\d*)?(Z|[+-].*)?$/.exec(s);
        cannotHandle(kind, version, `parsing time ${JSON.stringify(s)} as "2006-01-02T15:04:05.000000Z07:00": cannot parse ${JSON.stringify(frac ? `${frac[1] ?? ''}${frac[2] ?? ''}` : s)} as ".000000"`);
      }
    });
  }
  for (const path of fields.time ?? []) {
    visit(o, path, (parent, key, v) => {
      if (v === null) return;
      const m = typeof v === 'string' ? RFC3339.exec(v) : null;
      const t = m ? Date.parse(v as string) : NaN;
      if (!m || Number.isNaN(t)) {
        cannotHandle(kind, version, `parsing time ${JSON.stringify(String(v))} as "2006-01-02T15:04:05Z07:00": cannot parse ${JSON.stringify(String(v))} as "2006"`);
      }
      parent[key] = new Date(Math.floor(t / 1000) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
    });
  }
}
