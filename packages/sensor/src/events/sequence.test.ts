import { describe, expect, it } from '@jest/globals';
import { SequenceTracker } from './sequence.js';

describe('SequenceTracker', () => {
  it('counts numbers missing below the highest seen, per CPU', () => {
    const t = new SequenceTracker();
    t.setBase(0, 10n);
    t.setBase(1, 0n);
    for (const s of [10n, 11n, 13n, 14n]) t.observe(0, s);
    for (const s of [0n, 2n]) t.observe(1, s);
    expect(t.missing).toBe(2n); // 12 on cpu0, 1 on cpu1
    expect(t.received).toBe(6n);
  });

  it('tolerates records from one CPU arriving out of order', () => {
    const t = new SequenceTracker();
    t.setBase(0, 0n);
    for (const s of [0n, 2n, 1n, 3n]) t.observe(0, s);
    expect(t.missing).toBe(0n);
  });

  it('ignores records older than the base', () => {
    const t = new SequenceTracker();
    t.setBase(0, 5n);
    t.observe(0, 3n);
    t.observe(0, 5n);
    expect(t.received).toBe(1n);
    expect(t.missing).toBe(0n);
  });
});
