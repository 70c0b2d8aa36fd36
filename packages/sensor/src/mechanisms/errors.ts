/** Typed errors of the enforcement mechanisms: callers switch on `code`; messages name the rule and the fix. */
export type EnforceErrorCode =
  /** a rule cannot be expressed (bad CIDR, port range, path) */
  | 'BAD_RULE'
  /** a named limit of a mechanism was exceeded (matches per CIDR, deny-set size) */
  | 'LIMIT'
  /** the kernel has no cgroup v2 hierarchy to attach to */
  | 'NO_CGROUP_V2'
  /** this kernel lacks what the mechanism needs (the message says what and from which version) */
  | 'UNSUPPORTED'
  /** the mechanism is closed */
  | 'CLOSED'
  /** a native call failed (fanotify_init, fanotify_mark, the worker) */
  | 'SYSCALL_FAILED';

export class EnforceError extends Error {
  override readonly name = 'EnforceError';
  constructor(
    readonly code: EnforceErrorCode,
    message: string,
    readonly errno?: number,
  ) {
    super(message);
  }
}
