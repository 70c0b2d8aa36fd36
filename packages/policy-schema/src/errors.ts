// Typed errors of @vigil/policy-schema. Callers switch on `code`; every issue names a JSON path, a reason and a fix.
import type { LimitName } from './limits.js';

export const POLICY_ERROR_CODES = [
  'PARSE_ERROR',
  'NOT_AN_OBJECT',
  'SCHEMA_REQUIRED',
  'SCHEMA_UNKNOWN_FIELD',
  'SCHEMA_TYPE',
  'SCHEMA_ENUM',
  'SCHEMA_FORMAT',
  'SCHEMA_CONSTRAINT',
  'UNSUPPORTED_API_VERSION',
  'UNSUPPORTED_KIND',
  'INVALID_NAME',
  'ARG_INDEX_UNKNOWN',
  'VALUE_FORMAT',
  'VALUES_MISSING',
  'VALUES_FORBIDDEN',
  'LIMIT_EXCEEDED',
  'UNKNOWN_LIST',
  'UNKNOWN_MACRO',
  'UNKNOWN_SYSCALL',
  'UNKNOWN_CAPABILITY',
  'CONFLICTING_FIELDS',
  'MISSING_FIELD',
  'INVALID_OPTION',
] as const;
export type PolicyErrorCode = (typeof POLICY_ERROR_CODES)[number];

/** One problem found in a policy document. */
export interface PolicyIssue {
  code: PolicyErrorCode;
  /** JSON path in dotted form, e.g. `spec.kprobes[0].selectors[1].matchArgs[0].operator`. */
  path: string;
  reason: string;
  hint: string;
  /** Set when a named limit (see limits.ts) was exceeded. */
  limit?: LimitName;
  /** 0-based document index in a multi-document YAML file. */
  document?: number;
}

/** Thrown by the `assert…`/`parse…` helpers: carries every issue found in the input at once. */
export class PolicyValidationError extends Error {
  readonly code = 'POLICY_INVALID' as const;
  readonly issues: readonly PolicyIssue[];
  constructor(issues: readonly PolicyIssue[]) {
    super(`policy is invalid (${issues.length} issue${issues.length === 1 ? '' : 's'}):\n${issues.map(formatIssue).join('\n')}`);
    this.name = 'PolicyValidationError';
    this.issues = issues;
  }
}

export const COMPILE_ERROR_CODES = [
  'NOT_VALIDATED',
  'PROGRAM_TOO_LARGE',
  'BAD_NODE_PROFILE',
  'GRAMMAR_UNSUPPORTED',
] as const;
export type CompileErrorCode = (typeof COMPILE_ERROR_CODES)[number];

/** The only error the compiler throws. Refusing to attach a hook on a node is not an error: it is in the bundle. */
export class PolicyCompileError extends Error {
  readonly code: CompileErrorCode;
  readonly path: string;
  readonly hint: string;
  constructor(code: CompileErrorCode, path: string, reason: string, hint: string) {
    super(`${path}: ${reason} (${hint})`);
    this.name = 'PolicyCompileError';
    this.code = code;
    this.path = path;
    this.hint = hint;
  }
}

export const BUNDLE_ERROR_CODES = ['DIFFERENT_POLICY', 'BAD_BUNDLE'] as const;
export type BundleErrorCode = (typeof BUNDLE_ERROR_CODES)[number];

export class BundleError extends Error {
  readonly code: BundleErrorCode;
  constructor(code: BundleErrorCode, message: string) {
    super(message);
    this.name = 'BundleError';
    this.code = code;
  }
}

/** `path: reason (hint)` — the one-line form the CLI prints. */
export function formatIssue(issue: PolicyIssue): string {
  return `${issue.path || '(document)'}: ${issue.reason} (${issue.hint})`;
}
