/**
 * What every single-program decision unit (unix connect deny, io_uring kill) shares: one BPF object with its
 * decision ring, exempt/target cgroup maps and the identity-set map, attached through one pinned link.
 * Subclasses load and attach (filling obj/pins/reader/link) and own their deny-set layout.
 */
import type { BpfLink, BpfMap, BpfObject } from '../libbpf/index.js';
import type { PinnedObject } from '../persist/pinned-object.js';
import { readCounters, setExemptCgroups, setTargetCgroups, type DecisionCounters, type DecisionReader } from './decision.js';
import { removePins } from './pinning.js';

export abstract class DecisionUnit implements Disposable {
  protected link: BpfLink | undefined;
  protected pins: PinnedObject | undefined;
  protected reader: DecisionReader | undefined;
  protected closed = false;

  protected constructor(
    protected readonly obj: BpfObject,
    private readonly pinDir: string | undefined,
  ) {}

  /** cgroups never denied or killed (the sensor's own). */
  setExemptCgroups(ids: readonly bigint[]): void {
    setExemptCgroups(this.obj, ids);
  }

  /** Restricts the unit to these cgroups (and their descendants); null: every cgroup. */
  setTargetCgroups(ids: readonly bigint[] | null): void {
    setTargetCgroups(this.obj, ids);
  }

  /** The identity-set map the object uses (bpf/lib/identity.h): the shared pinned one when given at start. */
  identityMap(): BpfMap {
    return this.obj.map('vg_identity');
  }

  counters(): DecisionCounters {
    return readCounters(this.obj);
  }

  /** Delivers the decisions available now; returns how many. */
  drain(): number {
    return this.reader?.drain() ?? 0;
  }

  /** Releases this process's handles; pinned links and maps keep enforcing. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link?.destroy();
    this.reader?.close();
    this.pins?.close();
    this.obj.close();
  }

  /** Stops enforcing: closes and removes the unit's pins. */
  remove(): void {
    this.close();
    if (this.pinDir) removePins(this.pinDir);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
