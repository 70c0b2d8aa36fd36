/**
 * exec_id, as Tetragon forms it: base64 of "<node>:<ktime>:<pid>", where ktime is the process's identity time
 * from the kernel (exec time, or start time for processes not exec'd under Vigil). Deterministic, so a
 * restarted sensor names every process exactly as before.
 */
export function execId(node: string, ktime: bigint, pid: number): string {
  return Buffer.from(`${node}:${ktime}:${pid}`).toString('base64');
}

/**
 * Converts kernel CLOCK_MONOTONIC nanoseconds to wall-clock nanoseconds since the epoch, using one offset taken
 * at start (both clocks read back to back). NTP slews after start are not followed: timestamps are for people.
 */
export class KtimeClock {
  readonly offsetNs: bigint;
  constructor(nowRealtimeNs: bigint = BigInt(Date.now()) * 1_000_000n, nowMonotonicNs: bigint = process.hrtime.bigint()) {
    this.offsetNs = nowRealtimeNs - nowMonotonicNs;
  }
  wallNs(ktime: bigint): bigint {
    return ktime + this.offsetNs;
  }
}

let lastSecNs = -1_000_000_000n;
let lastBase = '';

/** RFC 3339 in UTC with 0, 3, 6 or 9 fractional digits, as protobuf's JSON mapping prints Timestamps. */
export function rfc3339(epochNs: bigint): string {
  // Events arrive in bursts within one second: the date part is formatted once per second, and within that
  // second one BigInt subtraction gives the nanoseconds.
  let d = epochNs - lastSecNs;
  if (d < 0n || d >= 1_000_000_000n) {
    const secs = epochNs / 1_000_000_000n;
    lastSecNs = secs * 1_000_000_000n;
    lastBase = new Date(Number(secs) * 1000).toISOString().slice(0, 19);
    d = epochNs - lastSecNs;
  }
  const nanos = Number(d);
  const base = lastBase;
  if (nanos === 0) return `${base}Z`;
  const nine = nanos.toString().padStart(9, '0');
  if (nine.endsWith('000000')) return `${base}.${nine.slice(0, 3)}Z`;
  if (nine.endsWith('000')) return `${base}.${nine.slice(0, 6)}Z`;
  return `${base}.${nine}Z`;
}
