/**
 * Exec kill, the exec mechanism that stays armed without LSM BPF and without the sensor's userspace:
 * bpf/progs/exec_kill.bpf.o's tp_btf/sched_process_exec program SIGKILLs a process whose new executable (or, for
 * a `#!` script, the script or its interpreter) is in the deny set by (inode, kernel dev_t). The process dies
 * before the new image runs any user code: the parent sees signal 9 (exit 137 in a shell). The exec itself has
 * succeeded (setuid credentials are committed, the old image is gone): this is kill-at-exec, not EPERM. Where
 * fanotify runs, FAN_OPEN_EXEC_PERM gives the real EPERM first (mechanisms/fanotify).
 *
 *   const ek = ExecKill.start({ objectPath, onDecision });
 *   ek.setDenySet([{ id: 3, path: '/usr/bin/nc' }]);   // live, no reload
 */
import { BpfObject, type BpfLink } from '../libbpf/index.js';
import { cgroupIdOfPid } from './cgroup.js';
import { DecisionReader, readCounters, setExemptCgroups, type DecisionCounters, type EnforcementDecision } from './decision.js';
import { EnforceError } from './errors.js';
import { compileFileDenySet, type FileDenyRule } from './file-rules.js';

export interface ExecKillOptions {
  /** bpf/.output/exec_kill.bpf.o */
  objectPath: string;
  /** cgroup ids never killed; default: this process's cgroup (never kill the sensor) */
  exemptCgroupIds?: readonly bigint[];
  /** decision ring buffer bytes; default 256 KiB */
  ringBytes?: number;
  onDecision?: (d: EnforcementDecision) => void;
  onError?: (err: unknown) => void;
}

export class ExecKill implements Disposable {
  private readonly obj: BpfObject;
  private link: BpfLink | undefined;
  private reader: DecisionReader | undefined;
  private closed = false;
  readonly exemptCgroupIds: readonly bigint[];

  private constructor(private readonly opts: ExecKillOptions) {
    this.exemptCgroupIds = opts.exemptCgroupIds ?? [cgroupIdOfPid('self')];
    this.obj = BpfObject.open(opts.objectPath);
  }

  static start(opts: ExecKillOptions): ExecKill {
    const ek = new ExecKill(opts);
    try {
      ek.obj.map('vg_events').setMaxEntries(opts.ringBytes ?? 256 * 1024);
      ek.obj.load();
      setExemptCgroups(ek.obj, ek.exemptCgroupIds);
      ek.reader = new DecisionReader(ek.obj, opts.onDecision ?? (() => {}), opts.onError ?? (() => {}));
      ek.reader.start();
      ek.link = ek.obj.program('vg_exec_kill').attachTrace();
    } catch (err) {
      ek.close();
      throw err;
    }
    return ek;
  }

  /**
   * Replaces the deny set (paths are resolved now: a file replaced later by a new inode is not covered until
   * the set is written again). New entries are written before stale ones are deleted. Takes effect for the next
   * exec, without reload.
   */
  setDenySet(rules: readonly FileDenyRule[]): void {
    if (this.closed) throw new EnforceError('CLOSED', 'exec kill is closed');
    const entries = compileFileDenySet(rules);
    const map = this.obj.map('vg_exec_deny');
    if (entries.length > map.maxEntries) throw new EnforceError('LIMIT', `${entries.length} files; the limit is ${map.maxEntries}`);
    const want = new Set(entries.map((e) => e.key.toString('hex')));
    for (const e of entries) map.update(e.key, e.value);
    for (const k of [...map.keys()]) if (!want.has(k.toString('hex'))) map.delete(k);
  }

  setExemptCgroups(ids: readonly bigint[]): void {
    setExemptCgroups(this.obj, ids);
  }

  counters(): DecisionCounters {
    return readCounters(this.obj);
  }

  drain(): number {
    return this.reader?.drain() ?? 0;
  }

  /** Detaches: execs are no longer checked. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.link?.destroy();
    this.reader?.close();
    this.obj.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
