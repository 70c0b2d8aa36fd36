/**
 * Turns decoded kernel records into enriched sensor events: keeps the process cache current (exec, fork, exit)
 * and attaches each event's process, parent and, on request, ancestors. Pure userspace: the sensor feeds it from
 * the ring buffer, the benchmarks from a synthetic producer.
 */
import type { SensorEvent } from '../export/model.js';
import { KtimeClock } from './exec-id.js';
import { ProcessCache, type ProcessInfo } from './process-cache.js';
import type { KernelRecord } from './types.js';

export interface PipelineOptions {
  node: string;
  ancestors: number;
  maxCachedProcesses?: number;
  clock?: KtimeClock;
  onEvent: (ev: SensorEvent) => void;
}

export class EventPipeline {
  readonly cache: ProcessCache;
  readonly clock: KtimeClock;
  private unknownExits = 0;

  constructor(private readonly opts: PipelineOptions) {
    this.clock = opts.clock ?? new KtimeClock();
    this.cache = new ProcessCache({ node: opts.node, maxEntries: opts.maxCachedProcesses });
  }

  /** Exits of processes the cache did not know (started and evicted, or lost records). */
  get exitsOfUnknownProcesses(): number {
    return this.unknownExits;
  }

  private ancestry(p: ProcessInfo): ProcessInfo[] | undefined {
    return this.opts.ancestors > 0 ? this.cache.ancestors(p, this.opts.ancestors + 1).slice(1) : undefined;
  }

  handle(rec: KernelRecord): void {
    const { cache } = this;
    switch (rec.kind) {
      case 'exec': {
        const p = cache.fromExec(rec);
        this.opts.onEvent({
          type: 'process_exec',
          timeNs: this.clock.wallNs(rec.ktime),
          process: p,
          parent: p.parent,
          ancestors: this.ancestry(p),
        });
        return;
      }
      case 'fork':
        cache.fromFork(rec);
        return;
      case 'exit': {
        let p = cache.find(rec.execKtime, rec.pid);
        if (!p) {
          this.unknownExits++;
          p = cache.unknown(rec.pid, rec.tid, rec.execKtime);
        }
        this.opts.onEvent({
          type: 'process_exit',
          timeNs: this.clock.wallNs(rec.ktime),
          process: p,
          parent: p.parent,
          ancestors: this.ancestry(p),
          status: (rec.exitCode >> 8) & 0xff,
          signal: rec.exitCode & 0x7f,
        });
        cache.markExited(p);
        return;
      }
      case 'test':
        return;
    }
  }
}
