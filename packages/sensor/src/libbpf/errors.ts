/**
 * Typed errors of the libbpf layer. Callers switch on `code`; `errno` is the positive errno libbpf reported and
 * `libbpfLog` holds libbpf's own recent messages (verifier log lines included) when it printed any.
 */
import { constants } from 'node:os';

export type LibbpfErrorCode =
  | 'LIBBPF_UNAVAILABLE'
  | 'OBJECT_OPEN_FAILED'
  | 'OBJECT_LOAD_FAILED'
  | 'PROGRAM_NOT_FOUND'
  | 'MAP_NOT_FOUND'
  | 'ATTACH_FAILED'
  | 'PIN_FAILED'
  | 'MAP_OP_FAILED'
  | 'RINGBUF_FAILED'
  | 'SYSCALL_FAILED'
  | 'CLOSED';

const errnoNames = new Map<number, string>(
  Object.entries(constants.errno).map(([name, value]) => [value, name] as [number, string]),
);

export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `errno ${errno}`;
}

export class LibbpfError extends Error {
  override readonly name = 'LibbpfError';
  readonly code: LibbpfErrorCode;
  readonly errno: number;
  readonly libbpfLog: readonly string[];

  constructor(code: LibbpfErrorCode, message: string, errno = 0, libbpfLog: readonly string[] = []) {
    super(errno ? `${message}: ${errnoName(errno)}` : message);
    this.code = code;
    this.errno = errno;
    this.libbpfLog = libbpfLog;
  }

  /** The last libbpf messages, for a person reading the error (the verifier's reason is usually near the end). */
  detail(lines = 12): string {
    return this.libbpfLog.slice(-lines).join('\n');
  }
}
