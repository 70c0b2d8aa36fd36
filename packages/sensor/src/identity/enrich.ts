/**
 * Pod attribution of events: every event's process gets Tetragon's `pod` object when it runs in a pod, and no
 * event leaves unattributed silently.
 *
 * Lookup: process → cgroup (its cgroup id, or /proc/<pid>/cgroup for processes seen before the sensor) → container
 * id + pod uid (CgroupResolver) → pod and container metadata (IdentityTable).
 *
 * Hold / re-emit rule (docs/identity.md): an event whose process is in a pod cgroup whose metadata has not
 * arrived (a pod started moments ago; the kubelet reports container ids only after start, then the operator
 * publishes) is HELD, in order, per pod, for up to holdMs (default 2 s). When the pod's metadata arrives the
 * held events go out enriched, in their original order; when the hold expires they go out without `pod` and
 * count as `unattributed` (the pod object is never guessed). Events of host processes are never held.
 * Process JSON of a pending process is never memoized, so later events of the same process carry `pod` once it
 * is known.
 */
import type { ProcessInfo } from '../events/process-cache.js';
import type { SensorEvent } from '../export/model.js';
import type { CgroupResolver } from './resolver.js';
import type { IdentityTable } from './table.js';

/** Tetragon's Pod message as JSON (field names as Tetragon emits them). */
export interface TetragonPod {
  namespace: string;
  name: string;
  container?: { id: string; name: string; image?: { id: string; name: string } };
  pod_labels?: Record<string, string>;
  workload?: string;
  workload_kind?: string;
}

/** pod: the object, or undefined for host processes; final: false while the metadata is still expected. */
export interface PodLookup {
  pod: TetragonPod | undefined;
  final: boolean;
  /** the pod uid (or container id) a pending lookup waits for */
  waitFor?: string;
}

export interface EnricherStats {
  /** events that went out with a pod object */
  attributed: number;
  /** events of host processes */
  host: number;
  /** events held for metadata (cumulative) */
  held: number;
  /** held events that went out without pod after holdMs */
  unattributed: number;
  /** events held now */
  holding: number;
}

export interface PodEnricherOptions {
  table: IdentityTable;
  resolver: CgroupResolver;
  emit: (ev: SensorEvent) => void;
  holdMs?: number;
  /** most events held at once (oldest released unattributed beyond it; default 10,000) */
  maxHeld?: number;
}

export class PodEnricher {
  private readonly queues = new Map<string, { since: number; events: SensorEvent[] }>();
  private held = 0;
  private readonly counters = { attributed: 0, host: 0, held: 0, unattributed: 0 };
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly holdMs: number;

  constructor(private readonly o: PodEnricherOptions) {
    this.holdMs = o.holdMs ?? 2000;
    this.unsubscribe = o.table.onChange((uid, _b, after) => {
      if (!after) return;
      this.release(uid);
      for (const c of after.containers) this.release(c.id);
    });
    this.timer = setInterval(() => this.expire(), Math.max(50, Math.min(500, this.holdMs / 4)));
    this.timer.unref();
  }

  /** The pod of a process, for the formatters. */
  lookup(p: ProcessInfo): PodLookup {
    const r = this.o.resolver.identityOf(p.cgroupId, p.pid);
    if (r.kind === 'host') return { pod: undefined, final: true };
    const podUid = r.podUid;
    if (r.kind === 'container') {
      const ref = this.o.table.container(r.containerId);
      if (ref) {
        const { pod, container: c } = ref;
        return {
          pod: { namespace: pod.namespace, name: pod.name, container: { id: c.id, name: c.name, image: { id: c.imageId, name: c.image } }, pod_labels: pod.labels, workload: pod.workload, workload_kind: pod.workloadKind },
          final: true,
        };
      }
      if (podUid === undefined) return { pod: undefined, final: true }; // a container outside Kubernetes (plain Docker, Podman)
      return { pod: undefined, final: false, waitFor: r.containerId };
    }
    if (podUid === undefined) return { pod: undefined, final: true };
    const pod = this.o.table.pod(podUid);
    if (pod) return { pod: { namespace: pod.namespace, name: pod.name, pod_labels: pod.labels, workload: pod.workload, workload_kind: pod.workloadKind }, final: true };
    return { pod: undefined, final: false, waitFor: podUid };
  }

  /** Emits `ev` now, or holds it until its pod's metadata arrives (see the rule above). */
  offer(ev: SensorEvent): void {
    const l = this.lookup(ev.process);
    const key = l.final ? undefined : l.waitFor;
    if (key === undefined) {
      // An earlier event of the same pod may still be held: keep the order.
      this.count(l);
      this.o.emit(ev);
      return;
    }
    let q = this.queues.get(key);
    if (!q) this.queues.set(key, (q = { since: Date.now(), events: [] }));
    q.events.push(ev);
    this.held++;
    this.counters.held++;
    if (this.held > (this.o.maxHeld ?? 10_000)) this.expire(true);
  }

  private count(l: PodLookup): void {
    if (l.pod) this.counters.attributed++;
    else this.counters.host++;
  }

  private release(key: string): void {
    const q = this.queues.get(key);
    if (!q) return;
    this.queues.delete(key);
    this.held -= q.events.length;
    for (const ev of q.events) {
      const l = this.lookup(ev.process);
      if (l.pod) this.counters.attributed++;
      else this.counters.unattributed++;
      this.o.emit(ev);
    }
  }

  private expire(oldest = false): void {
    const now = Date.now();
    for (const [key, q] of this.queues) {
      if (!oldest && now - q.since < this.holdMs) continue;
      // The pod's metadata may have arrived under the other key (pod uid vs container id): re-check first.
      this.release(key);
      if (oldest) return;
    }
  }

  stats(): EnricherStats {
    return { ...this.counters, holding: this.held };
  }

  /** Emits everything held (shutdown). */
  flush(): void {
    for (const key of [...this.queues.keys()]) this.release(key);
  }

  close(): void {
    this.flush();
    clearInterval(this.timer);
    this.unsubscribe();
  }
}
