// A rate-limited work queue in the client-go shape: a key is queued at most once, never processed by two workers
// at once (a key added while it is processed runs again afterwards), failures retry with per-key exponential
// backoff, and an overall token bucket bounds how fast retries hammer the API server and NATS.
export interface WorkQueueOptions {
  /** Concurrent workers (default 4). */
  workers?: number;
  /** First retry delay (default 5 ms), doubled per failure up to maxDelayMs (default 30 s). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  /** Token bucket for retries: `qps` per second, bursts of `burst` (defaults 10 / 100). */
  qps?: number;
  burst?: number;
  onError?: (key: string, err: unknown, attempt: number) => void;
}

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirtyWhileProcessing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; at: number }>();
  private active = 0;
  private stopped = false;
  private tokens: number;
  private lastRefill = Date.now();
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly handler: (key: string) => Promise<void>,
    private readonly opts: WorkQueueOptions = {},
  ) {
    this.tokens = opts.burst ?? 100;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.processing.has(key)) {
      this.dirtyWhileProcessing.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    this.pump();
  }

  /** Queues `key` after `ms`; a key already waiting keeps the earlier of the two times. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    const at = performance.now() + ms;
    const waiting = this.timers.get(key);
    if (waiting) {
      if (waiting.at <= at) return;
      clearTimeout(waiting.timer);
    }
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { timer, at });
  }

  get length(): number {
    return this.queue.length + this.active + this.timers.size;
  }

  /** Resolves when nothing is queued, processing or waiting for a retry. */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    this.queue.length = 0;
    this.queued.clear();
  }

  private retryDelay(key: string): number {
    const n = (this.failures.get(key) ?? 0) + 1;
    this.failures.set(key, n);
    const backoff = Math.min((this.opts.baseDelayMs ?? 5) * 2 ** (n - 1), this.opts.maxDelayMs ?? 30_000);
    // token bucket: without a token, wait until one refills
    const now = Date.now();
    const qps = this.opts.qps ?? 10;
    this.tokens = Math.min(this.opts.burst ?? 100, this.tokens + ((now - this.lastRefill) / 1000) * qps);
    this.lastRefill = now;
    this.tokens -= 1;
    const bucketWait = this.tokens >= 0 ? 0 : (-this.tokens / qps) * 1000;
    return Math.max(backoff, bucketWait);
  }

  private pump(): void {
    while (!this.stopped && this.active < (this.opts.workers ?? 4) && this.queue.length > 0) {
      const key = this.queue.shift() as string;
      this.queued.delete(key);
      this.processing.add(key);
      this.active++;
      void this.run(key);
    }
    if (this.length === 0) for (const w of this.idleWaiters.splice(0)) w();
  }

  private async run(key: string): Promise<void> {
    try {
      await this.handler(key);
      this.failures.delete(key);
    } catch (err) {
      if (!this.stopped) {
        this.opts.onError?.(key, err, (this.failures.get(key) ?? 0) + 1);
        this.addAfter(key, this.retryDelay(key));
      }
    } finally {
      this.processing.delete(key);
      this.active--;
      if (this.dirtyWhileProcessing.delete(key)) this.add(key);
      this.pump();
    }
  }
}
