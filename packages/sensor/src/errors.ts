/** Typed errors of the sensor: callers switch on `code`; messages say what is wrong and how to fix it. */
export type SensorErrorCode = 'NOT_ROOT' | 'NO_BTF' | 'NO_BPFFS' | 'OBJECT_MISSING' | 'BAD_ARGUMENT' | 'POLICY_DIR';

export class SensorError extends Error {
  override readonly name = 'SensorError';
  constructor(
    readonly code: SensorErrorCode,
    message: string,
  ) {
    super(message);
  }
}
