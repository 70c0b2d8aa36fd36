/**
 * Exact loss accounting from per-CPU sequence numbers. Every attempt to emit a record on a CPU takes the next
 * number, failed reserves included, so the records that never arrived are the numbers that are missing.
 * Records from one CPU can arrive slightly out of order (a program preempted between taking its number and
 * committing), so the tracker counts what arrived against the highest number seen rather than expecting strict
 * succession.
 */
export interface CpuSequence {
  /** first sequence number this reader is responsible for */
  base: bigint;
  /** highest sequence number seen + 1 (or base) */
  next: bigint;
  received: bigint;
}

export class SequenceTracker {
  private readonly cpus = new Map<number, CpuSequence>();

  /** Sets where accounting starts on a CPU (the kernel's counter when the reader attached). */
  setBase(cpu: number, base: bigint): void {
    this.cpus.set(cpu, { base, next: base, received: 0n });
  }

  observe(cpu: number, seq: bigint): void {
    let s = this.cpus.get(cpu);
    if (!s) {
      s = { base: seq, next: seq, received: 0n };
      this.cpus.set(cpu, s);
    }
    if (seq < s.base) return; // produced before this reader's accounting began
    s.received++;
    if (seq >= s.next) s.next = seq + 1n;
  }

  /** Records missing so far: numbers below the highest seen that never arrived. */
  get missing(): bigint {
    let m = 0n;
    for (const s of this.cpus.values()) m += s.next - s.base - s.received;
    return m;
  }

  get received(): bigint {
    let r = 0n;
    for (const s of this.cpus.values()) r += s.received;
    return r;
  }

  perCpu(): ReadonlyMap<number, Readonly<CpuSequence>> {
    return this.cpus;
  }
}
