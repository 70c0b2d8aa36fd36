import { describe, expect, it } from '@jest/globals';
import { WorkQueue } from './work-queue.js';

describe('WorkQueue', () => {
  it('dedupes keys, never runs one key twice at once, re-runs a key added while it ran, retries with backoff', async () => {
    const runs: string[] = [];
    let running = 0;
    let maxConcurrentA = 0;
    let failOnce = true;
    const q = new WorkQueue(
      async (key) => {
        runs.push(key);
        if (key === 'a') {
          running++;
          maxConcurrentA = Math.max(maxConcurrentA, running);
          if (runs.filter((k) => k === 'a').length === 1) q.add('a'); // added while processing
          await new Promise((r) => setTimeout(r, 5));
          running--;
        }
        if (key === 'b' && failOnce) {
          failOnce = false;
          throw new Error('transient');
        }
      },
      { baseDelayMs: 1 },
    );
    q.add('a');
    q.add('a');
    q.add('b');
    await q.idle();
    expect(runs.filter((k) => k === 'a')).toHaveLength(2);
    expect(maxConcurrentA).toBe(1);
    expect(runs.filter((k) => k === 'b')).toHaveLength(2);
    q.stop();
  });

  it('addAfter keeps the earlier of two delays for a waiting key (a held-back status must not delay the final one)', async () => {
    const at: number[] = [];
    const t0 = performance.now();
    const q = new WorkQueue(async () => {
      at.push(performance.now() - t0);
    });
    q.addAfter('k', 1000); // e.g. progress held back for a second
    q.addAfter('k', 20); // e.g. the last ack arrived: reconcile soon
    q.addAfter('k', 500); // a later request does not push it back
    await new Promise((r) => setTimeout(r, 300));
    expect(at).toHaveLength(1);
    expect(at[0]).toBeLessThan(250);
    await q.idle();
    expect(at).toHaveLength(1); // one run: the 1,000 ms timer was replaced, not added
    q.stop();
  });
});
