// Request bodies in Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`), which kubectl's
// generators (`kubectl create namespace|configmap`, `kubectl auth can-i`) send for built-in types. The envelope is the magic
// "k8s\0" followed by a runtime.Unknown {typeMeta, raw}; `raw` is the type's message from
// k8s.io/api/core/v1/generated.proto. Only the types and fields those generators write are decoded; anything
// else is refused with 415 so that a client falls back to JSON or fails loudly.
import { ApiServerError } from './errors.js';

type Fields = Map<number, (bigint | Buffer)[]>;

function readVarint(buf: Buffer, pos: number): [bigint, number] {
  let result = 0n;
  let shift = 0n;
  for (;;) {
    if (pos >= buf.length) throw unsupported('truncated varint');
    const b = buf[pos++] as number;
    result |= BigInt(b & 0x7f) << shift;
    if ((b & 0x80) === 0) return [result, pos];
    shift += 7n;
  }
}

function unsupported(why: string): ApiServerError {
  return new ApiServerError('UnsupportedMediaType', 415, `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (protobuf: ${why})`);
}

function decode(buf: Buffer): Fields {
  const out: Fields = new Map();
  let pos = 0;
  while (pos < buf.length) {
    const [key, p1] = readVarint(buf, pos);
    pos = p1;
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let value: bigint | Buffer;
    if (wire === 0) {
      [value, pos] = readVarint(buf, pos);
    } else if (wire === 2) {
      const [len, p2] = readVarint(buf, pos);
      value = buf.subarray(p2, p2 + Number(len));
      pos = p2 + Number(len);
    } else if (wire === 1) {
      value = buf.subarray(pos, pos + 8);
      pos += 8;
    } else if (wire === 5) {
      value = buf.subarray(pos, pos + 4);
      pos += 4;
    } else throw unsupported(`wire type ${wire}`);
    const list = out.get(field) ?? [];
    list.push(value);
    out.set(field, list);
  }
  return out;
}

function bytes(f: Fields, n: number): Buffer | undefined {
  const v = f.get(n)?.[0];
  return Buffer.isBuffer(v) ? v : undefined;
}

function str(f: Fields, n: number): string | undefined {
  return bytes(f, n)?.toString('utf8');
}

function strings(f: Fields, n: number): string[] {
  return (f.get(n) ?? []).filter(Buffer.isBuffer).map((b) => b.toString('utf8'));
}

function map(f: Fields, n: number, asBase64 = false): Record<string, string> | undefined {
  const entries = (f.get(n) ?? []).filter(Buffer.isBuffer).map((b) => {
    const e = decode(b);
    return [str(e, 1) ?? '', asBase64 ? (bytes(e, 2) ?? Buffer.alloc(0)).toString('base64') : (str(e, 2) ?? '')] as const;
  });
  return entries.length ? Object.fromEntries(entries) : undefined;
}

function objectMeta(b: Buffer | undefined): Record<string, unknown> {
  if (!b) return {};
  const f = decode(b);
  const m: Record<string, unknown> = {};
  const set = (k: string, v: unknown): void => {
    if (v !== undefined && !(Array.isArray(v) && v.length === 0)) m[k] = v;
  };
  set('name', str(f, 1));
  set('generateName', str(f, 2));
  set('namespace', str(f, 3));
  set('resourceVersion', str(f, 6) || undefined);
  set('labels', map(f, 11));
  set('annotations', map(f, 12));
  set('finalizers', strings(f, 14));
  return m;
}

/** Decodes a protobuf request body of a supported built-in type into its JSON form. */
export function decodeProtobufObject(body: Buffer): Record<string, unknown> {
  if (body.length < 4 || body.subarray(0, 4).toString('latin1') !== 'k8s\u0000') throw unsupported('missing k8s magic');
  const unknown = decode(body.subarray(4));
  const typeMeta = decode(bytes(unknown, 1) ?? Buffer.alloc(0));
  const apiVersion = str(typeMeta, 1) ?? '';
  const kind = str(typeMeta, 2) ?? '';
  const raw = decode(bytes(unknown, 2) ?? Buffer.alloc(0));
  const metadata = objectMeta(bytes(raw, 1));
  if (apiVersion === 'v1' && kind === 'Namespace') {
    const spec = decode(bytes(raw, 2) ?? Buffer.alloc(0));
    const finalizers = strings(spec, 1);
    return { apiVersion, kind, metadata, spec: finalizers.length ? { finalizers } : {} };
  }
  if (apiVersion === 'v1' && kind === 'ConfigMap') {
    const o: Record<string, unknown> = { apiVersion, kind, metadata };
    const data = map(raw, 2);
    const binaryData = map(raw, 3, true);
    if (data) o.data = data;
    if (binaryData) o.binaryData = binaryData;
    const immutable = raw.get(4)?.[0];
    if (typeof immutable === 'bigint') o.immutable = immutable !== 0n;
    return o;
  }
  if (apiVersion === 'authorization.k8s.io/v1' && kind === 'SelfSubjectAccessReview') {
    const spec = decode(bytes(raw, 2) ?? Buffer.alloc(0));
    const out: Record<string, unknown> = {};
    const ra = bytes(spec, 1);
    if (ra) {
      const f = decode(ra);
      const names = ['namespace', 'verb', 'group', 'version', 'resource', 'subresource', 'name'];
      out.resourceAttributes = Object.fromEntries(names.map((n, i) => [n, str(f, i + 1)]).filter(([, v]) => v !== undefined));
    }
    const nra = bytes(spec, 2);
    if (nra) {
      const f = decode(nra);
      out.nonResourceAttributes = { path: str(f, 1) ?? '', verb: str(f, 2) ?? '' };
    }
    return { apiVersion, kind, metadata, spec: out };
  }
  throw unsupported(`${apiVersion} ${kind} is not decoded by the test server`);
}
