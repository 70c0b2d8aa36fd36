// Errors of the test API server. Every failure a client can see is an ApiServerError: its `code` is the
// Kubernetes StatusReason (callers switch on it), `httpStatus` the HTTP code, and `toStatus()` renders the
// `Status` object kube-apiserver would send for it (k8s.io/apimachinery/pkg/api/errors shapes).

export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'UnsupportedMediaType'
  | 'RequestEntityTooLarge'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export interface StatusCause {
  reason: string;
  message: string;
  field?: string;
}

export interface StatusDetails {
  name?: string;
  group?: string;
  kind?: string;
  uid?: string;
  causes?: StatusCause[];
  retryAfterSeconds?: number;
}

export interface Status {
  kind: 'Status';
  apiVersion: 'v1';
  metadata: Record<string, never>;
  status: 'Failure' | 'Success';
  message?: string;
  reason?: string;
  details?: StatusDetails;
  code: number;
}

export class ApiServerError extends Error {
  override readonly name = 'ApiServerError';
  constructor(
    readonly code: StatusReason,
    readonly httpStatus: number,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
  }

  toStatus(): Status {
    const s: Status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: this.message,
      reason: this.code,
      code: this.httpStatus,
    };
    if (this.details) s.details = this.details;
    return s;
  }
}

/** The resource as kube-apiserver names it in messages: `pods`, `widgets.example.com`. */
export function qualifiedResource(group: string, plural: string): string {
  return group ? `${plural}.${group}` : plural;
}

export function notFound(group: string, plural: string, name: string): ApiServerError {
  return new ApiServerError('NotFound', 404, `${qualifiedResource(group, plural)} "${name}" not found`, {
    name,
    group,
    kind: plural,
  });
}

export function alreadyExists(group: string, plural: string, name: string): ApiServerError {
  return new ApiServerError('AlreadyExists', 409, `${qualifiedResource(group, plural)} "${name}" already exists`, {
    name,
    group,
    kind: plural,
  });
}

export function conflict(group: string, plural: string, name: string, why: string): ApiServerError {
  return new ApiServerError(
    'Conflict',
    409,
    `Operation cannot be fulfilled on ${qualifiedResource(group, plural)} "${name}": ${why}`,
    { name, group, kind: plural },
  );
}

export const STALE_OBJECT =
  'the object has been modified; please apply your changes to the latest version and try again';

export function badRequest(message: string): ApiServerError {
  return new ApiServerError('BadRequest', 400, message);
}

/** A field error as k8s.io/apimachinery/pkg/util/validation/field renders it. */
export interface FieldError {
  field: string;
  reason:
    | 'FieldValueRequired'
    | 'FieldValueInvalid'
    | 'FieldValueTypeInvalid'
    | 'FieldValueNotSupported'
    | 'FieldValueTooLong'
    | 'FieldValueTooMany'
    | 'FieldValueForbidden'
    | 'FieldValueDuplicate';
  /** Everything after `field: `, e.g. `Required value` or `Invalid value: 3: must be ...`. */
  detail: string;
}

/** 422 Invalid with one cause per field error, message `Kind.group "name" is invalid: ...`. */
export function invalid(group: string, kind: string, name: string, errs: FieldError[]): ApiServerError {
  const qualifiedKind = group ? `${kind}.${group}` : kind;
  const parts = errs.map((e) => `${e.field}: ${e.detail}`);
  const joined = parts.length === 1 ? parts[0] : `[${parts.join(', ')}]`;
  return new ApiServerError('Invalid', 422, `${qualifiedKind} "${name}" is invalid: ${joined}`, {
    name,
    group,
    kind,
    causes: errs.map((e) => ({ reason: e.reason, message: e.detail, field: e.field })),
  });
}

/** Renders a value the way field.Invalid does: strings quoted, scalars bare. */
export function renderValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}
