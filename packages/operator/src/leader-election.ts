// Leader election over a coordination.k8s.io/v1 Lease, in client-go's shape: a candidate takes the lease when
// the holder has not renewed it for leaseDuration *as observed on the candidate's own monotonic clock* (no clock
// skew assumptions), and every acquire/renew is an update with the lease's resourceVersion as precondition.
// isLeader() is true only within renewDeadline of the last successful renew, so a process that was paused
// (SIGSTOP, a long GC, a frozen VM) stops acting the moment it wakes, before it learns it lost the lease. What
// little it could still send in that window is refused by the stores: KV revisions and resourceVersions.
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  identity: string;
  log: Logger;
  /** Default 15 000 ms, like kube-controller-manager. */
  leaseDurationMs?: number;
  /** Default 10 000 ms; must be below leaseDurationMs. */
  renewDeadlineMs?: number;
  /** Default 2 000 ms. */
  retryPeriodMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
}

function statusOf(e: unknown): number | undefined {
  const err = e as { code?: number; statusCode?: number };
  return err.code ?? err.statusCode;
}

export class LeaderElector {
  private leading = false;
  private lastRenew = -Infinity;
  private observed: { holder: string | undefined; renew: string | undefined; at: number } = { holder: undefined, renew: undefined, at: -Infinity };
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private readonly api: CoordinationV1Api;
  private readonly leaseMs: number;
  private readonly deadlineMs: number;
  private readonly retryMs: number;

  constructor(private readonly o: LeaderElectionOptions) {
    this.api = o.kc.makeApiClient(CoordinationV1Api);
    this.leaseMs = o.leaseDurationMs ?? 15_000;
    this.deadlineMs = o.renewDeadlineMs ?? 10_000;
    this.retryMs = o.retryPeriodMs ?? 2_000;
    if (this.deadlineMs >= this.leaseMs) throw new RangeError('renewDeadlineMs must be below leaseDurationMs');
  }

  /** True only while the last renew is younger than renewDeadline (monotonic clock). */
  isLeader(): boolean {
    return this.leading && performance.now() - this.lastRenew < this.deadlineMs;
  }

  start(): void {
    void this.tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading) this.setLeading(false);
  }

  private setLeading(v: boolean): void {
    if (v === this.leading) return;
    this.leading = v;
    this.o.log.info({ identity: this.o.identity, lease: `${this.o.namespace}/${this.o.name}` }, v ? 'acquired the lease' : 'lost the lease');
    if (v) this.o.onStartedLeading();
    else this.o.onStoppedLeading();
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    // A renew that came too late (we were paused) means leadership is already gone.
    if (this.leading && !this.isLeader()) this.setLeading(false);
    try {
      const sent = performance.now(); // conservative: the lease counts from before the request
      const ok = await this.tryAcquireOrRenew();
      if (ok) {
        this.lastRenew = sent;
        this.setLeading(true);
      } else if (this.leading) this.setLeading(false);
    } catch (err) {
      this.o.log.warn({ err, identity: this.o.identity }, 'lease update failed');
      if (this.leading && !this.isLeader()) this.setLeading(false);
    }
    if (!this.stopped) this.timer = setTimeout(() => void this.tick(), this.retryMs);
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const { namespace, name, identity } = this.o;
    const started = performance.now();
    const now = new V1MicroTime();
    let lease: V1Lease;
    try {
      lease = await this.api.readNamespacedLease({ name, namespace });
    } catch (e) {
      if (statusOf(e) !== 404) throw e;
      await this.api.createNamespacedLease({
        namespace,
        body: {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace },
          spec: { holderIdentity: identity, leaseDurationSeconds: Math.ceil(this.leaseMs / 1000), acquireTime: now, renewTime: now, leaseTransitions: 0 },
        },
      });
      return true;
    }
    const spec = lease.spec ?? {};
    const renew = spec.renewTime ? new Date(spec.renewTime).toISOString() : undefined;
    if (spec.holderIdentity !== this.observed.holder || renew !== this.observed.renew) this.observed = { holder: spec.holderIdentity, renew, at: started };
    const held = spec.holderIdentity !== undefined && spec.holderIdentity !== '' && spec.holderIdentity !== identity;
    if (held && performance.now() - this.observed.at < this.leaseMs) return false;
    const takeover = spec.holderIdentity !== identity;
    const body: V1Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: identity,
        leaseDurationSeconds: Math.ceil(this.leaseMs / 1000),
        renewTime: now,
        acquireTime: takeover ? now : spec.acquireTime ? new V1MicroTime(spec.acquireTime) : now,
        leaseTransitions: (spec.leaseTransitions ?? 0) + (takeover ? 1 : 0),
      },
    };
    try {
      // metadata.resourceVersion of what we read: 409 if anyone wrote the lease since.
      await this.api.replaceNamespacedLease({ name, namespace, body });
    } catch (e) {
      if (statusOf(e) === 409) return false;
      throw e;
    }
    return true;
  }
}
