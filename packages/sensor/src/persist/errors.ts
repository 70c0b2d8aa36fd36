/** Typed errors of the persistence layer: callers switch on `code`; messages name the pin path and the fix. */
export type PersistErrorCode =
  /** the pin root is not inside a mounted bpffs */
  | 'NO_BPFFS'
  /** a pin exists but is not what the layout says it is (a map where a link belongs, an incompatible map) */
  | 'BAD_PIN'
  /** the pinned metadata record is missing, truncated or of an unknown schema */
  | 'BAD_META'
  /** the .bpf.o carries no metadata record (built before bpf/lib/meta.h) */
  | 'NO_META'
  /** a state file in --state-dir does not parse */
  | 'BAD_STATE'
  /** pinned state of a newer object than this build: refusing to downgrade it silently */
  | 'DOWNGRADE';

export class PersistError extends Error {
  override readonly name = 'PersistError';
  constructor(
    readonly code: PersistErrorCode,
    message: string,
  ) {
    super(message);
  }
}
