// In-memory object storage with one global, monotonically increasing resourceVersion (etcd's revision) and a
// bounded history of changes. The history serves watches from a resourceVersion and consistent list snapshots
// (limit/continue); anything older than the history is "compacted" and answered with 410 Expired, as etcd does.

export type Obj = Record<string, unknown>;

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface StoreEvent {
  type: EventType;
  rv: number;
  /** `group/plural` of the storage the object lives in. */
  resource: string;
  key: string;
  object: Obj;
  prev?: Obj;
}

export interface StoreSnapshot {
  resourceVersion: number;
  objects: Record<string, Obj[]>;
}

export function objectKey(namespace: string | undefined, name: string): string {
  return `${namespace ?? ''}/${name}`;
}

function metaOf(o: Obj): Record<string, unknown> {
  return (o.metadata ?? {}) as Record<string, unknown>;
}

export class ObjectStore {
  private rv = 0;
  private compactedRv = 0;
  private readonly data = new Map<string, Map<string, Obj>>();
  private log: StoreEvent[] = [];
  private readonly listeners = new Set<(e: StoreEvent) => void>();

  constructor(private readonly historyLimit = 5000) {}

  get resourceVersion(): number {
    return this.rv;
  }

  /** Revisions at or below this are gone from history: watching or continuing from before it is 410. */
  get compactedResourceVersion(): number {
    return this.compactedRv;
  }

  private bucket(resource: string): Map<string, Obj> {
    let b = this.data.get(resource);
    if (!b) {
      b = new Map();
      this.data.set(resource, b);
    }
    return b;
  }

  get(resource: string, key: string): Obj | undefined {
    const o = this.data.get(resource)?.get(key);
    return o ? structuredClone(o) : undefined;
  }

  /** Current objects of one resource, sorted by key, optionally only one namespace. */
  list(resource: string, namespace?: string): Obj[] {
    const b = this.data.get(resource);
    if (!b) return [];
    return [...b.entries()]
      .filter(([k]) => namespace === undefined || k.startsWith(`${namespace}/`))
      .sort(([a], [b2]) => (a < b2 ? -1 : a > b2 ? 1 : 0))
      .map(([, o]) => structuredClone(o));
  }

  /**
   * The objects of one resource as they were at revision `rv` (rewinding the history), or 'expired' when that
   * revision is older than the history kept.
   */
  listAt(resource: string, rv: number, namespace?: string): Obj[] | 'expired' {
    if (rv >= this.rv) return this.list(resource, namespace);
    if (rv < this.compactedRv) return 'expired';
    const state = new Map(this.data.get(resource) ?? []);
    for (let i = this.log.length - 1; i >= 0; i--) {
      const e = this.log[i];
      if (!e || e.rv <= rv) break;
      if (e.resource !== resource) continue;
      if (e.type === 'ADDED') state.delete(e.key);
      else if (e.prev) state.set(e.key, e.prev);
    }
    return [...state.entries()]
      .filter(([k]) => namespace === undefined || k.startsWith(`${namespace}/`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => structuredClone(o));
  }

  /** Changes to `resource` after `rv`, or 'expired' if some of them are no longer in the history. */
  eventsSince(resource: string, rv: number): StoreEvent[] | 'expired' {
    if (rv < this.compactedRv) return 'expired';
    return this.log.filter((e) => e.rv > rv && e.resource === resource).map((e) => structuredClone(e));
  }

  nextResourceVersion(): number {
    return ++this.rv;
  }

  /** Writes an object: assigns the next resourceVersion, records the change and notifies watchers. */
  put(resource: string, key: string, obj: Obj): Obj {
    const b = this.bucket(resource);
    const prev = b.get(key);
    const rv = this.nextResourceVersion();
    const stored = structuredClone(obj);
    metaOf(stored).resourceVersion = String(rv);
    if (stored.metadata === undefined) stored.metadata = { resourceVersion: String(rv) };
    b.set(key, stored);
    this.record({ type: prev ? 'MODIFIED' : 'ADDED', rv, resource, key, object: stored, ...(prev ? { prev } : {}) });
    return structuredClone(stored);
  }

  /** Deletes an object; `finalState` (the update that removed the last finalizer) is what watchers see. */
  remove(resource: string, key: string, finalState?: Obj): Obj | undefined {
    const b = this.data.get(resource);
    const prev = b?.get(key);
    if (!b || !prev) return undefined;
    b.delete(key);
    const rv = this.nextResourceVersion();
    const gone = structuredClone(finalState ?? prev);
    metaOf(gone).resourceVersion = String(rv);
    this.record({ type: 'DELETED', rv, resource, key, object: gone, prev });
    return structuredClone(gone);
  }

  /** Drops a whole resource (CRD removed) without events: its watchers are closed by the server. */
  dropResource(resource: string): void {
    this.data.delete(resource);
  }

  private record(e: StoreEvent): void {
    this.log.push(e);
    if (this.log.length > this.historyLimit) {
      const dropped = this.log.splice(0, this.log.length - this.historyLimit);
      this.compactedRv = dropped[dropped.length - 1]?.rv ?? this.compactedRv;
    }
    for (const l of this.listeners) l(structuredClone(e));
  }

  subscribe(fn: (e: StoreEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Forgets all history, as an etcd compaction at the current revision does. */
  compact(): void {
    this.log = [];
    this.compactedRv = this.rv;
  }

  snapshot(): StoreSnapshot {
    const objects: Record<string, Obj[]> = {};
    for (const [res, b] of this.data) objects[res] = [...b.values()].map((o) => structuredClone(o));
    return { resourceVersion: this.rv, objects };
  }

  restore(snap: StoreSnapshot, keyOf: (resource: string, o: Obj) => string): void {
    this.data.clear();
    this.log = [];
    this.rv = snap.resourceVersion;
    this.compactedRv = snap.resourceVersion;
    for (const [res, objs] of Object.entries(snap.objects)) {
      const b = this.bucket(res);
      for (const o of objs) b.set(keyOf(res, o), structuredClone(o));
    }
  }
}
