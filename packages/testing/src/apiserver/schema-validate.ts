// Structural OpenAPI v3 schemas of CustomResourceDefinitions: pruning, defaulting and validation, in the
// order kube-apiserver applies them to a request body (prune unknown fields, apply defaults, validate).
// Error texts follow kube-openapi's validate package as apiextensions-apiserver reports them, e.g.
// `spec.replicas: Invalid value: "string": spec.replicas in body must be of type integer: "string"`.
import { CelCompileError, CelEvalError, CelUnsupported, compileCel } from './cel.js';
import { renderValue, type FieldError } from './errors.js';

export interface StructuralSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';
  description?: string;
  properties?: Record<string, StructuralSchema>;
  additionalProperties?: StructuralSchema | boolean;
  items?: StructuralSchema;
  required?: string[];
  enum?: unknown[];
  pattern?: string;
  format?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: boolean;
  exclusiveMaximum?: boolean;
  multipleOf?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minProperties?: number;
  maxProperties?: number;
  nullable?: boolean;
  default?: unknown;
  allOf?: StructuralSchema[];
  anyOf?: StructuralSchema[];
  oneOf?: StructuralSchema[];
  not?: StructuralSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-int-or-string'?: boolean;
  'x-kubernetes-embedded-resource'?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-validations'?: ValidationRule[];
}

export interface ValidationRule {
  rule: string;
  message?: string;
  messageExpression?: string;
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired' | 'FieldValueDuplicate';
  fieldPath?: string;
}

/** CEL rules of a schema node: false or an evaluation error is a field error; rules outside the subset are skipped. */
function celErrors(value: unknown, schema: StructuralSchema, path: string): FieldError[] {
  const errs: FieldError[] = [];
  for (const r of schema['x-kubernetes-validations'] ?? []) {
    let compiled;
    try {
      compiled = compileCel(r.rule);
    } catch (e) {
      if (e instanceof CelUnsupported || e instanceof CelCompileError) continue;
      throw e;
    }
    if (compiled.usesOldSelf) continue; // transition rules need the old object; not evaluated here
    const field = `${path === '' ? '<root>' : path}${r.fieldPath ?? ''}`;
    const typeName = schema.type ?? 'object';
    let ok: unknown;
    try {
      ok = compiled.eval(value);
    } catch (e) {
      if (!(e instanceof CelEvalError)) throw e;
      errs.push({ field, reason: 'FieldValueInvalid', detail: `Invalid value: "${typeName}": ${e.message} evaluating rule: ${r.rule}` });
      continue;
    }
    if (ok === true) continue;
    const message = r.message ?? `failed rule: ${r.rule}`;
    switch (r.reason) {
      case 'FieldValueForbidden':
        errs.push({ field, reason: 'FieldValueForbidden', detail: `Forbidden: ${message}` });
        break;
      case 'FieldValueRequired':
        errs.push({ field, reason: 'FieldValueRequired', detail: `Required value: ${message}` });
        break;
      case 'FieldValueDuplicate':
        errs.push({ field, reason: 'FieldValueDuplicate', detail: `Duplicate value: ${message}` });
        break;
      default:
        errs.push({ field, reason: 'FieldValueInvalid', detail: `Invalid value: "${typeName}": ${message}` });
    }
  }
  return errs;
}

/** Compile errors of every CEL rule in a schema (what kube-apiserver refuses a CRD for), with schema paths. */
export function celCompileErrors(schema: StructuralSchema | undefined, path: string): FieldError[] {
  if (!schema) return [];
  const errs: FieldError[] = [];
  (schema['x-kubernetes-validations'] ?? []).forEach((r, i) => {
    try {
      compileCel(r.rule);
    } catch (e) {
      if (e instanceof CelCompileError) {
        errs.push({ field: `${path}.x-kubernetes-validations[${i}].rule`, reason: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(r.rule)}: ${e.message}` });
      }
    }
  });
  for (const [k, p] of Object.entries(schema.properties ?? {})) errs.push(...celCompileErrors(p, `${path}.properties[${k}]`));
  if (schema.items) errs.push(...celCompileErrors(schema.items, `${path}.items`));
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') {
    errs.push(...celCompileErrors(schema.additionalProperties, `${path}.additionalProperties`));
  }
  return errs;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function join(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

/**
 * Removes fields the schema does not know (unless x-kubernetes-preserve-unknown-fields) and returns their
 * paths, which strict field validation reports. At the root, apiVersion, kind and metadata always stay.
 */
export function prune(value: unknown, schema: StructuralSchema | undefined, path = '', root = true): string[] {
  const unknown: string[] = [];
  if (!schema) return unknown;
  if (isObj(value)) {
    const preserve = schema['x-kubernetes-preserve-unknown-fields'] === true;
    const embedded = schema['x-kubernetes-embedded-resource'] === true;
    for (const key of Object.keys(value)) {
      if ((root || embedded) && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue;
      const prop = schema.properties?.[key];
      if (prop) {
        unknown.push(...prune(value[key], prop, join(path, key), false));
      } else if (isObj(schema.additionalProperties)) {
        unknown.push(...prune(value[key], schema.additionalProperties, join(path, key), false));
      } else if (!preserve && schema.additionalProperties !== true) {
        Reflect.deleteProperty(value, key);
        unknown.push(join(path, key));
      }
    }
  } else if (Array.isArray(value) && schema.items) {
    value.forEach((item, i) => unknown.push(...prune(item, schema.items, `${path}[${i}]`, false)));
  }
  return unknown;
}

/** Applies `default` values of properties that are absent (or null where not nullable), depth first. */
export function applyDefaults(value: unknown, schema: StructuralSchema | undefined): void {
  if (!schema) return;
  if (isObj(value)) {
    for (const [key, prop] of Object.entries(schema.properties ?? {})) {
      const absent = !(key in value) || (value[key] === null && prop.nullable !== true);
      if (absent && prop.default !== undefined) value[key] = structuredClone(prop.default);
      if (key in value) applyDefaults(value[key], prop);
    }
    if (isObj(schema.additionalProperties)) {
      for (const key of Object.keys(value)) {
        if (!schema.properties?.[key]) applyDefaults(value[key], schema.additionalProperties);
      }
    }
  } else if (Array.isArray(value) && schema.items) {
    for (const item of value) applyDefaults(item, schema.items);
  }
}

function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'number') return Number.isInteger(v) ? 'integer' : 'number';
  return typeof v;
}

function typeMatches(v: unknown, schema: StructuralSchema): boolean {
  if (schema['x-kubernetes-int-or-string']) return typeof v === 'string' || (typeof v === 'number' && Number.isInteger(v));
  switch (schema.type) {
    case undefined:
      return true;
    case 'object':
      return isObj(v);
    case 'array':
      return Array.isArray(v);
    case 'string':
      return typeof v === 'string';
    case 'boolean':
      return typeof v === 'boolean';
    case 'integer':
      return typeof v === 'number' && Number.isInteger(v);
    case 'number':
      return typeof v === 'number';
  }
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(canonical(a)) === JSON.stringify(canonical(b));
}

function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isObj(v)) {
    const out: Obj = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  return v;
}

const FORMATS: Record<string, RegExp> = {
  'date-time': /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/,
  date: /^\d{4}-\d{2}-\d{2}$/,
  uuid: /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/,
  ipv4: /^(25[0-5]|2[0-4]\d|1?\d?\d)(\.(25[0-5]|2[0-4]\d|1?\d?\d)){3}$/,
};

/** Validates `value` at `path` (dotted, as kube-apiserver prints it) and returns all field errors. */
export function validateSchema(value: unknown, schema: StructuralSchema | undefined, path = ''): FieldError[] {
  const errs: FieldError[] = [];
  if (!schema) return errs;
  const at = path === '' ? '<root>' : path;
  const inBody = `${at} in body`;
  const invalidValue = (detail: string, reason: FieldError['reason'] = 'FieldValueInvalid'): void => {
    errs.push({ field: at, reason, detail: `Invalid value: ${renderValue(value)}: ${detail}` });
  };
  if (value === null) {
    if (schema.nullable) return errs;
    if (schema.type || schema['x-kubernetes-int-or-string']) {
      errs.push({
        field: at,
        reason: 'FieldValueTypeInvalid',
        detail: `Invalid value: "null": ${inBody} must be of type ${schema.type ?? 'string'}: "null"`,
      });
    }
    return errs;
  }
  if (!typeMatches(value, schema)) {
    const got = typeName(value);
    const want = schema['x-kubernetes-int-or-string'] ? 'integer,string' : (schema.type ?? 'object');
    errs.push({
      field: at,
      reason: 'FieldValueTypeInvalid',
      detail: `Invalid value: "${got}": ${inBody} must be of type ${want}: "${got}"`,
    });
    return errs;
  }
  if (schema.enum && !schema.enum.some((e) => deepEqual(e, value))) {
    errs.push({
      field: at,
      reason: 'FieldValueNotSupported',
      detail: `Unsupported value: ${renderValue(value)}: supported values: ${schema.enum.map(renderValue).join(', ')}`,
    });
  }
  if (typeof value === 'string') {
    if (schema.maxLength !== undefined && value.length > schema.maxLength) {
      errs.push({ field: at, reason: 'FieldValueTooLong', detail: `Too long: may not be more than ${schema.maxLength} bytes` });
    }
    if (schema.minLength !== undefined && value.length < schema.minLength) {
      invalidValue(`${inBody} should be at least ${schema.minLength} chars long`);
    }
    if (schema.pattern !== undefined && !new RegExp(schema.pattern, 'u').test(value)) {
      invalidValue(`${inBody} should match '${schema.pattern}'`);
    }
    const fmt = schema.format ? FORMATS[schema.format] : undefined;
    if (fmt && !fmt.test(value)) invalidValue(`${inBody} must be of type ${schema.format}`);
  }
  if (typeof value === 'number') {
    if (schema.maximum !== undefined) {
      if (schema.exclusiveMaximum ? value >= schema.maximum : value > schema.maximum) {
        invalidValue(`${inBody} should be less than ${schema.exclusiveMaximum ? '' : 'or equal to '}${schema.maximum}`);
      }
    }
    if (schema.minimum !== undefined) {
      if (schema.exclusiveMinimum ? value <= schema.minimum : value < schema.minimum) {
        invalidValue(
          `${inBody} should be greater than ${schema.exclusiveMinimum ? '' : 'or equal to '}${schema.minimum}`,
        );
      }
    }
    if (schema.multipleOf !== undefined && value % schema.multipleOf !== 0) {
      invalidValue(`${inBody} should be a multiple of ${schema.multipleOf}`);
    }
  }
  if (Array.isArray(value)) {
    if (schema.maxItems !== undefined && value.length > schema.maxItems) {
      errs.push({
        field: at,
        reason: 'FieldValueTooMany',
        detail: `Too many: ${value.length}: must have at most ${schema.maxItems} items`,
      });
    }
    if (schema.minItems !== undefined && value.length < schema.minItems) {
      invalidValue(`${inBody} should have at least ${schema.minItems} items`);
    }
    const listType = schema['x-kubernetes-list-type'];
    if (schema.uniqueItems || listType === 'set') {
      value.forEach((item, i) => {
        if (value.findIndex((o) => deepEqual(o, item)) !== i) {
          errs.push({ field: `${at}[${i}]`, reason: 'FieldValueDuplicate', detail: `Duplicate value: ${renderValue(item)}` });
        }
      });
    }
    if (listType === 'map') {
      const keys = schema['x-kubernetes-list-map-keys'] ?? [];
      const seen = new Set<string>();
      value.forEach((item, i) => {
        const k = JSON.stringify(keys.map((key) => (isObj(item) ? item[key] : undefined)));
        if (seen.has(k)) {
          const dup = Object.fromEntries(keys.map((key) => [key, isObj(item) ? item[key] : undefined]));
          errs.push({ field: `${at}[${i}]`, reason: 'FieldValueDuplicate', detail: `Duplicate value: ${JSON.stringify(dup)}` });
        }
        seen.add(k);
      });
    }
    value.forEach((item, i) => errs.push(...validateSchema(item, schema.items, `${at === '<root>' ? '' : at}[${i}]`)));
  }
  if (isObj(value)) {
    for (const req of schema.required ?? []) {
      if (!(req in value)) errs.push({ field: join(path, req), reason: 'FieldValueRequired', detail: 'Required value' });
    }
    const n = Object.keys(value).length;
    if (schema.maxProperties !== undefined && n > schema.maxProperties) {
      errs.push({ field: at, reason: 'FieldValueTooMany', detail: `Too many: ${n}: must have at most ${schema.maxProperties} items` });
    }
    if (schema.minProperties !== undefined && n < schema.minProperties) {
      invalidValue(`${inBody} should have at least ${schema.minProperties} properties`);
    }
    for (const [key, v] of Object.entries(value)) {
      if (path === '' && (key === 'apiVersion' || key === 'kind' || key === 'metadata')) continue;
      const prop = schema.properties?.[key] ?? (isObj(schema.additionalProperties) ? schema.additionalProperties : undefined);
      if (prop) errs.push(...validateSchema(v, prop, join(path, key)));
    }
  }
  errs.push(...celErrors(value, schema, path));
  for (const sub of schema.allOf ?? []) errs.push(...validateSchema(value, sub, path));
  if (schema.anyOf && !schema.anyOf.some((s) => validateSchema(value, s, path).length === 0)) {
    invalidValue(`${inBody} must validate at least one schema (anyOf)`);
  }
  if (schema.oneOf && schema.oneOf.filter((s) => validateSchema(value, s, path).length === 0).length !== 1) {
    invalidValue(`${inBody} must validate one and only one schema (oneOf)`);
  }
  if (schema.not && validateSchema(value, schema.not, path).length === 0) {
    invalidValue(`${inBody} must not validate the schema (not)`);
  }
  return errs;
}
