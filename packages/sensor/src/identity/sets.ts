/**
 * Identity sets: the cgroup ids each IdentitySetRef of the applied bundles selects on this node, kept in the
 * pinned vg_identity map as pods come, change and go, without reloading programs or changing bundles.
 *
 * Members, per set (docs/identity.md):
 * - a pod matches when it is in the set's namespace (TracingPolicyNamespaced) and its labels match every
 *   podSelector; with no containerSelector its pod cgroup is the member (vg_identity_match matches by ancestry,
 *   so every container of the pod, init and ephemeral ones included, is covered);
 * - with containerSelectors, the member cgroups are those of the pod's containers whose `name` matches every
 *   containerSelector (Tetragon's containerSelector key is the container name);
 * - the reserved set VG_IDENTITY_ALL_PODS holds every pod cgroup on the node (from the table, from runtime-hook
 *   registrations and from the kubepods hierarchy itself), so host processes are "in no pod".
 *
 * Engines call ensure(owner, bundle.identitySets) before their rules reference the ids and release(owner) when
 * the policy goes; a set's entries exist while at least one owner needs it. Writes are diffs: an unchanged member
 * is never deleted and re-added, so enforcement has no gap during a relabel of other pods or a re-read.
 */
import { statSync } from 'node:fs';
import type { Logger } from 'pino';
import { matchLabelSelector, type IdentitySetRef } from '@vigil/policy-schema';
import { IDENTITY_ALL_PODS, identityKey, parseIdentityKey } from './abi.js';
import type { IdentityMapWriter } from './map.js';
import type { CgroupResolver } from './resolver.js';
import type { IdentityTable } from './table.js';
import type { PodIdentity } from './protocol.js';

/** What a runtime hook (vigil-oci-hook) said about a container before its first process ran. */
export interface ContainerRegistration {
  containerId: string;
  /** cgroup v2 directory of the container (absolute, or relative to the mount) */
  cgroupPath: string;
  podUid?: string;
  namespace?: string;
  podName?: string;
  containerName?: string;
}


export interface IdentitySetsOptions {
  table: IdentityTable;
  resolver: CgroupResolver;
  map: IdentityMapWriter;
  logger?: Logger;
  /** Re-read the kubepods hierarchy this often (pods whose cgroup appeared after their metadata; default 5 s; 0: never). */
  rescanMs?: number;
  /** Entries found in the map at start are kept this long unless settle() comes first (default 60 s; 0: until settle()). */
  adoptGraceMs?: number;
  /** Called after each map change (tests, benchmarks). */
  onWrite?: (op: 'add' | 'remove', setId: number, cgroupId: bigint) => void;
}

export interface IdentitySetsStats {
  sets: number;
  entries: number;
  adds: number;
  removes: number;
  errors: number;
  /** map writes that failed and are retried (every rescan and on retryFailedWrites()) */
  pendingWrites: number;
  /** runtime-hook registrations held (dropped by the poststop hook or once their cgroup is gone) */
  registrations: number;
  pods: number;
}

export class IdentitySets {
  private readonly sets = new Map<number, { ref: IdentitySetRef; owners: Set<string> }>();
  private readonly owners = new Map<string, number[]>();
  /** per pod uid: the keys (hex) it contributes */
  private readonly contrib = new Map<string, Set<string>>();
  private readonly refcount = new Map<string, number>();
  private readonly registrations = new Map<string, ContainerRegistration>();
  private readonly regsOfPod = new Map<string, Set<string>>();
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout | undefined;
  private readonly settleTimer: NodeJS.Timeout | undefined;
  private readonly adopted: Set<string>;
  private readonly counters = { adds: 0, removes: 0, errors: 0 };
  /** key (hex) → the write that failed; retried until it succeeds or is no longer wanted */
  private readonly failed = new Map<string, 'add' | 'remove'>();
  private closed = false;

  constructor(private readonly o: IdentitySetsOptions) {
    // Entries a previous sensor left stay until settle(): the engines re-ensure their sets after a restart, and
    // a set's entries must not disappear in between (that would lift enforcement in its pods).
    this.adopted = new Set(o.map.keys());
    this.unsubscribe = o.table.onChange((uid) => this.recompute(uid));
    this.fullRefresh();
    const every = o.rescanMs ?? 5000;
    this.timer = every > 0 ? setInterval(() => this.fullRefresh(), every) : undefined;
    this.timer?.unref();
    const grace = o.adoptGraceMs ?? 60_000;
    this.settleTimer = grace > 0 ? setTimeout(() => this.settle(), grace) : undefined;
    this.settleTimer?.unref();
  }

  /**
   * Ends the adoption of a previous sensor's entries: those no set wants any more are removed. Call it once the
   * engines have re-applied their stored policies (ensure() for each); it runs by itself after adoptGraceMs.
   */
  settle(): void {
    if (this.settleTimer) clearTimeout(this.settleTimer);
    const stale = [...this.adopted].filter((k) => !this.refcount.has(k));
    this.adopted.clear();
    for (const k of stale) this.write('remove', k);
  }

  /** Why identity sets cannot work on this node (cgroup v1 only), or undefined when they can. */
  refusal(): string | undefined {
    const s = this.o.resolver.support();
    return s.ok ? undefined : s.reason;
  }

  /**
   * Makes the sets `refs` (a bundle's identitySets) live for `owner` (a policy uid): their members are written
   * before this returns. Replaces what `owner` held before. Throws when identity sets cannot work on this node.
   */
  ensure(owner: string, refs: readonly IdentitySetRef[]): void {
    if (this.closed) throw new Error('identity sets are closed');
    if (refs.length > 0) {
      const why = this.refusal();
      if (why) throw new IdentitySetsError('UNSUPPORTED', why);
    }
    for (const r of refs) if (r.id === 0 || r.id === IDENTITY_ALL_PODS) throw new IdentitySetsError('BAD_SET', `identity set id ${r.id} is reserved`);
    const before = this.owners.get(owner) ?? [];
    const added: number[] = [];
    for (const r of refs) {
      let s = this.sets.get(r.id);
      if (!s) {
        this.sets.set(r.id, (s = { ref: r, owners: new Set() }));
        added.push(r.id);
      }
      s.owners.add(owner);
    }
    this.owners.set(owner, refs.map((r) => r.id));
    const keep = new Set(refs.map((r) => r.id));
    const dropped = before.filter((id) => !keep.has(id) && this.dropOwner(id, owner));
    if (added.length > 0 || dropped.length > 0) this.fullRefresh();
  }

  /** `owner` no longer needs its sets; sets nobody needs lose their entries. */
  release(owner: string): void {
    const ids = this.owners.get(owner);
    if (!ids) return;
    this.owners.delete(owner);
    if (ids.filter((id) => this.dropOwner(id, owner)).length > 0) this.fullRefresh();
  }

  private dropOwner(id: number, owner: string): boolean {
    const s = this.sets.get(id);
    if (!s) return false;
    s.owners.delete(owner);
    if (s.owners.size > 0) return false;
    this.sets.delete(id);
    return true;
  }

  /** A runtime hook's registration: the container's cgroup counts before the pod's metadata lists it. */
  register(reg: ContainerRegistration): void {
    this.o.resolver.register(reg.containerId, reg.cgroupPath);
    const resolved = this.o.resolver.registration(reg.containerId);
    const podUid = reg.podUid ?? (resolved ? this.podUidOfDir(resolved.dir) : undefined) ?? `container:${reg.containerId}`;
    const r = { ...reg, podUid };
    this.registrations.set(reg.containerId, r);
    let s = this.regsOfPod.get(podUid);
    if (!s) this.regsOfPod.set(podUid, (s = new Set()));
    s.add(reg.containerId);
    this.recompute(podUid);
  }

  unregister(containerId: string): void {
    const r = this.registrations.get(containerId);
    if (!r) return;
    this.registrations.delete(containerId);
    this.regsOfPod.get(r.podUid as string)?.delete(containerId);
    this.o.resolver.unregister(containerId);
    this.recompute(r.podUid as string);
  }

  private podUidOfDir(dir: string): string | undefined {
    for (const seg of dir.split('/').reverse()) {
      const m = /pod([0-9a-f_-]{36})(?:\.slice)?$/.exec(seg);
      if (m) return (m[1] as string).replace(/_/g, '-');
    }
    return undefined;
  }

  /** Current members of a set (cgroup ids). */
  members(setId: number): bigint[] {
    const out: bigint[] = [];
    for (const k of this.refcount.keys()) {
      const { setId: s, cgroupId } = parseIdentityKey(Buffer.from(k, 'hex'));
      if (s === setId) out.push(cgroupId);
    }
    return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }

  stats(): IdentitySetsStats {
    return { sets: this.sets.size, entries: this.refcount.size, pods: this.contrib.size, pendingWrites: this.failed.size, registrations: this.registrations.size, ...this.counters };
  }

  /** Container ids registered by the runtime hook and still held. */
  registeredContainers(): string[] {
    return [...this.registrations.keys()];
  }

  /**
   * Drops registrations whose cgroup directory is gone (the container ended and the runtime never ran the
   * poststop hook: a crash, a fail-open start). Runs with every rescan; returns the container ids dropped.
   */
  sweepRegistrations(): string[] {
    const gone: string[] = [];
    for (const id of this.registrations.keys()) {
      const cd = this.o.resolver.registration(id);
      if (!cd) continue;
      // gone, or removed and made again by someone else (another cgroup id): either way not this container's
      const st = statSync(cd.dir, { bigint: true, throwIfNoEntry: false });
      if (!st || st.ino !== cd.id) gone.push(id);
    }
    for (const id of gone) this.unregister(id);
    if (gone.length > 0) this.o.logger?.debug({ containers: gone }, 'runtime-hook registrations of removed cgroups dropped');
    return gone;
  }

  /**
   * Writes again what failed (ENOMEM, a full map, a map replaced under us): the desired state of each failed key
   * is re-derived, so a key no longer wanted is removed rather than added. Returns how many are still failing.
   */
  retryFailedWrites(): number {
    for (const [k] of [...this.failed]) {
      this.failed.delete(k);
      this.write(this.refcount.has(k) || this.adopted.has(k) ? 'add' : 'remove', k, true);
    }
    return this.failed.size;
  }

  /** Recomputes every pod (after set changes and periodically: catches pod cgroups created after their metadata). */
  fullRefresh(): void {
    this.retryFailedWrites();
    this.sweepRegistrations();
    const uids = new Set<string>([...this.contrib.keys(), ...this.regsOfPod.keys()]);
    for (const p of this.o.table.allPods()) uids.add(p.uid);
    for (const uid of this.o.resolver.scanPods().keys()) uids.add(uid);
    for (const uid of uids) this.recompute(uid);
  }

  /** Recomputes what pod `uid` contributes and writes the difference. */
  recompute(uid: string): void {
    if (this.closed) return;
    const want = this.wanted(uid);
    const had = this.contrib.get(uid) ?? new Set<string>();
    for (const k of want) if (!had.has(k)) this.inc(k);
    for (const k of had) if (!want.has(k)) this.dec(k);
    if (want.size > 0) this.contrib.set(uid, want);
    else this.contrib.delete(uid);
  }

  private wanted(uid: string): Set<string> {
    const out = new Set<string>();
    const pod = this.o.table.pod(uid);
    const regs = [...(this.regsOfPod.get(uid) ?? [])].map((id) => this.registrations.get(id)).filter((r) => r !== undefined);
    const podCg = uid.startsWith('container:') ? undefined : this.o.resolver.podCgroup(uid);
    if (!pod && regs.length === 0 && !podCg) return out;
    const key = (setId: number, id: bigint) => identityKey(setId, id).toString('hex');
    if (podCg) out.add(key(IDENTITY_ALL_PODS, podCg.id));
    const regCgs = regs.flatMap((r) => {
      const cg = this.o.resolver.registration(r.containerId);
      return cg ? [{ r, cg }] : [];
    });
    if (!podCg) for (const { cg } of regCgs) out.add(key(IDENTITY_ALL_PODS, cg.id));
    const namespace = pod?.namespace ?? regs.find((r) => r.namespace)?.namespace;
    // Containers by name: the table's (with runtime ids) and the hook's (before the table lists them).
    const containers = new Map<string, string>();
    for (const c of pod?.containers ?? []) containers.set(c.id, c.name);
    for (const r of regs) if (r.containerName && !containers.has(r.containerId)) containers.set(r.containerId, r.containerName);
    for (const [setId, { ref }] of this.sets) {
      if (ref.namespace !== undefined && ref.namespace !== namespace) continue;
      if (ref.podSelectors.length > 0 && !pod) continue; // labels unknown: decided when the metadata arrives
      if (!ref.podSelectors.every((s) => matchLabelSelector(s, (pod as PodIdentity).labels))) continue;
      if (ref.containerSelectors.length === 0) {
        if (podCg) out.add(key(setId, podCg.id));
        else for (const { cg } of regCgs) out.add(key(setId, cg.id));
        continue;
      }
      for (const [cid, name] of containers) {
        if (!ref.containerSelectors.every((s) => matchLabelSelector(s, { name }))) continue;
        const cg = this.o.resolver.containerCgroup(cid, uid.startsWith('container:') ? undefined : uid);
        if (cg) out.add(key(setId, cg.id));
      }
    }
    return out;
  }

  private inc(k: string): void {
    const n = this.refcount.get(k) ?? 0;
    this.refcount.set(k, n + 1);
    if (n === 0 && !this.adopted.has(k)) this.write('add', k);
  }

  private dec(k: string): void {
    const n = this.refcount.get(k) ?? 0;
    if (n <= 1) {
      this.refcount.delete(k);
      this.write('remove', k);
    } else this.refcount.set(k, n - 1);
  }

  private write(op: 'add' | 'remove', k: string, retry = false): void {
    const { setId, cgroupId } = parseIdentityKey(Buffer.from(k, 'hex'));
    try {
      if (op === 'add') this.o.map.add(setId, cgroupId);
      else this.o.map.remove(setId, cgroupId);
      this.failed.delete(k);
      this.counters[op === 'add' ? 'adds' : 'removes']++;
      this.o.onWrite?.(op, setId, cgroupId);
      if (retry) this.o.logger?.info({ setId, cgroupId: cgroupId.toString(), op }, 'identity map write succeeded on retry');
    } catch (err) {
      this.counters.errors++;
      this.failed.set(k, op);
      if (!retry) this.o.logger?.error({ err, setId, cgroupId: cgroupId.toString(), op }, 'identity map write failed; retried with every rescan until it succeeds');
    }
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.timer) clearInterval(this.timer);
    if (this.settleTimer) clearTimeout(this.settleTimer);
  }
}

export type IdentitySetsErrorCode = 'UNSUPPORTED' | 'BAD_SET';

export class IdentitySetsError extends Error {
  constructor(
    readonly code: IdentitySetsErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IdentitySetsError';
  }
}
