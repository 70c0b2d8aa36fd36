/**
 * The shared body of the in-kernel kill mechanisms keyed by file identity (exec kill, open kill): one BPF object
 * with one tp_btf program, a deny map of (inode, kernel dev_t), the exempt cgroups and the decision ring.
 */
import { BpfObject, type BpfLink, type BpfMap } from '../libbpf/index.js';
import { cgroupIdOfPid } from './cgroup.js';
import { DecisionReader, readCounters, setExemptCgroups, setTargetCgroups, type DecisionCounters, type EnforcementDecision } from './decision.js';
import { EnforceError } from './errors.js';
import { compileFileDenySet, type FileDenyRule } from './file-rules.js';
import { attachUnit, loadUnit, removePins } from './pinning.js';
import type { PersistReport, PinnedObject } from '../persist/pinned-object.js';
import { BinarySets } from './scope.js';
import { addEntries, dropStale, replaceEntries } from './unit-maps.js';

export interface FileKillOptions {
  /** the built object (bpf/.output/exec_kill.bpf.o or open_kill.bpf.o) */
  objectPath: string;
  /** cgroup ids never killed; default: this process's cgroup (never kill the sensor) */
  exemptCgroupIds?: readonly bigint[];
  /** decision ring buffer bytes; default 256 KiB */
  ringBytes?: number;
  onDecision?: (d: EnforcementDecision) => void;
  onError?: (err: unknown) => void;
  /**
   * bpffs directory (e.g. /sys/fs/bpf/vigil/enforce/exec-kill) to pin the deny map, the exempt map and the link
   * in: the mechanism then stays armed after close() or the sensor's death, and the next start() reuses the
   * deny set. Without it, close() detaches.
   */
  pinDir?: string;
  /**
   * bpffs path of the shared identity-set map (`<pinRoot>/state/vg_identity_v1`, bpf/lib/identity.h) that rules
   * with an identitySetId are checked against; default: a private map of this unit (identityMap()).
   */
  identityPinPath?: string;
  /** with pinDir: how the start went (adopted, upgraded, repaired; events lost while no sensor read them) */
  onPersist?: (r: PersistReport) => void;
}

export abstract class FileKill implements Disposable {
  private readonly obj: BpfObject;
  private link: BpfLink | undefined;
  private readonly extraLinks: BpfLink[] = [];
  private pins: PinnedObject | undefined;
  private reader: DecisionReader | undefined;
  private closed = false;
  readonly exemptCgroupIds: readonly bigint[];

  protected constructor(
    private readonly opts: FileKillOptions,
    /** `optional`: more tp_btf programs, loaded and attached only where `available` (the kernel has their tracepoint) */
    private readonly names: { program: string; map: string; what: string; optional?: ReadonlyArray<{ program: string; available: boolean }> },
  ) {
    this.exemptCgroupIds = opts.exemptCgroupIds ?? [cgroupIdOfPid('self')];
    this.obj = BpfObject.open(opts.objectPath);
  }

  /** Loads, writes the exemptions, attaches. Subclasses call it from their static start(). */
  protected startUp(): this {
    const { opts } = this;
    try {
      this.obj.map('vg_events').setMaxEntries(opts.ringBytes ?? 256 * 1024);
      // Every map and the link are pinned (persist/pinned-object.ts): a restart with the same object adopts them.
      const external: Record<string, string> = opts.identityPinPath ? { vg_identity: opts.identityPinPath } : {};
      const extra = (this.names.optional ?? []).filter((p) => p.available).map((p) => p.program);
      for (const p of this.names.optional ?? []) if (!p.available) this.obj.program(p.program).setAutoload(false);
      this.pins = loadUnit(this.obj, opts.pinDir, { links: [this.names.program, ...extra], external, lostCounter: (o) => readCounters(o).emitFail, ...(opts.onPersist ? { onPersist: opts.onPersist } : {}) });
      setExemptCgroups(this.obj, this.exemptCgroupIds);
      this.reader = new DecisionReader(this.obj, opts.onDecision ?? (() => {}), opts.onError ?? (() => {}));
      this.reader.start();
      // optional programs first: they feed the main one (exec kill's caller record)
      for (const p of extra) this.extraLinks.push(attachUnit(this.pins, this.obj, p, (o) => o.program(p).attachTrace()));
      this.link = attachUnit(this.pins, this.obj, this.names.program, (o) => o.program(this.names.program).attachTrace());
      this.pins?.commit();
    } catch (err) {
      this.close();
      throw err;
    }
    return this;
  }

  /**
   * Replaces the deny set (paths are resolved now: a file replaced later by a new inode is not covered until
   * the set is written again). New entries are written before stale ones are deleted. Takes effect for the next
   * operation, without reload.
   */
  setDenySet(rules: readonly FileDenyRule[]): void {
    if (this.closed) throw new EnforceError('CLOSED', `${this.names.what} is closed`);
    const bins = new BinarySets();
    const entries = compileFileDenySet(rules, bins);
    const map = this.obj.map(this.names.map);
    if (entries.length > map.maxEntries) throw new EnforceError('LIMIT', `${entries.length} files; the limit is ${map.maxEntries}`);
    const binMap = this.obj.map('vg_bin_set');
    addEntries(binMap, bins.entries(), 'matchBinaries executables');
    replaceEntries(map, entries, 'files');
    dropStale(binMap, bins.entries());
  }

  /** The identity-set map this unit's rules are checked against (shared when identityPinPath was given). */
  identityMap(): BpfMap {
    return this.obj.map('vg_identity');
  }

  setExemptCgroups(ids: readonly bigint[]): void {
    setExemptCgroups(this.obj, ids);
  }

  /**
   * Narrows the rules to tasks under these cgroup ids (e.g. the pods a policy selects: a pod's cgroup covers its
   * containers), or applies them to every task again with null (the default).
   */
  setTargetCgroups(ids: readonly bigint[] | null): void {
    setTargetCgroups(this.obj, ids);
  }

  counters(): DecisionCounters {
    return readCounters(this.obj);
  }

  /** Delivers every decision record available now (the reader also runs on the event loop). */
  drain(): number {
    return this.reader?.drain() ?? 0;
  }

  /** Closes this process's handles. Without pinDir that detaches; with it the pinned link stays armed. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link?.destroy(); // closes our fd: detaches unless pinned (a pinned link stays armed)
    for (const l of this.extraLinks.splice(0)) l.destroy();
    this.reader?.close();
    this.pins?.close();
    this.obj.close();
  }

  /** Detaches for good: closes, then removes the pins (the pinned link detaches, the maps are freed). */
  remove(): void {
    this.close();
    if (this.opts.pinDir) removePins(this.opts.pinDir);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
