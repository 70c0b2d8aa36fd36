/**
 * io_uring deny (the policy option deny-io-uring): bpf/progs/uring_deny.bpf.o's tp_btf/io_uring_create program
 * SIGKILLs a covered process inside io_uring_setup(2), once the ring exists and before the call returns to user
 * space, so the process never submits to a ring (io_uring operations bypass the open kill: they never pass
 * sys_exit). Kill-after-effect: the ring fd is in the fd table for a moment, and rings created before the rule
 * (or received over a unix socket) keep working. No other syscall pays for it.
 *
 *   const uk = UringKill.start({ objectPath });
 *   uk.setDenySet([{ id: 4, identitySetId: 77 }]);   // processes of identity set 77 cannot create rings
 *   uk.setDenySet([{ id: 4 }]);                       // no process on the node can (except exempt cgroups)
 */
import { ENF_OFF, ENF_SIZE, URING_RULES_MAX } from '../abi/enforce-layout.js';
import { BpfObject } from '../libbpf/index.js';
import { cgroupIdOfPid } from './cgroup.js';
import { DecisionReader, readCounters, setExemptCgroups } from './decision.js';
import { EnforceError } from './errors.js';
import { DecisionUnit } from './unit.js';
import type { FileKillOptions } from './file-kill.js';
import { attachUnit, loadUnit } from './pinning.js';
import { BinarySets, fileRuleValue, type RuleScope } from './scope.js';
import { addEntries, dropStale } from './unit-maps.js';

export type UringKillOptions = FileKillOptions;

/** Who may not create io_uring rings: every task (no scope) or the scope's tasks. */
export interface UringDenyRule extends RuleScope {
  id: number;
}

export class UringKill extends DecisionUnit {
  readonly exemptCgroupIds: readonly bigint[];

  private constructor(opts: UringKillOptions) {
    super(BpfObject.open(opts.objectPath), opts.pinDir);
    this.exemptCgroupIds = opts.exemptCgroupIds ?? [cgroupIdOfPid('self')];
  }

  static start(opts: UringKillOptions): UringKill {
    const u = new UringKill(opts);
    try {
      const { obj } = u;
      obj.map('vg_events').setMaxEntries(opts.ringBytes ?? 256 * 1024);
      const external: Record<string, string> = opts.identityPinPath ? { vg_identity: opts.identityPinPath } : {};
      u.pins = loadUnit(obj, opts.pinDir, { links: ['vg_uring_create'], external, lostCounter: (o) => readCounters(o).emitFail, ...(opts.onPersist ? { onPersist: opts.onPersist } : {}) });
      setExemptCgroups(obj, u.exemptCgroupIds);
      u.reader = new DecisionReader(obj, opts.onDecision ?? (() => {}), opts.onError ?? (() => {}));
      u.reader.start();
      u.link = attachUnit(u.pins, obj, 'vg_uring_create', (o) => o.program('vg_uring_create').attachTrace());
      u.pins?.commit();
    } catch (err) {
      u.close();
      throw err;
    }
    return u;
  }

  /**
   * Replaces the deny list (at most 16 rules; enforcing rules are tried before monitor-mode ones). The list is one
   * array value, replaced in one update.
   */
  setDenySet(rules: readonly UringDenyRule[]): void {
    if (this.closed) throw new EnforceError('CLOSED', 'io_uring kill is closed');
    if (rules.length > URING_RULES_MAX) throw new EnforceError('LIMIT', `${rules.length} io_uring rules; the limit is ${URING_RULES_MAX}`);
    const bins = new BinarySets();
    const ordered = [...rules].sort((a, b) => Number(!!a.monitor) - Number(!!b.monitor));
    const value = Buffer.alloc(ENF_SIZE.uringRules);
    value.writeUInt32LE(ordered.length, ENF_OFF.uringRules.count);
    ordered.forEach((r, i) => fileRuleValue(r.id, r, bins).copy(value, ENF_OFF.uringRules.rule + i * ENF_SIZE.fileRule));
    const binMap = this.obj.map('vg_bin_set');
    addEntries(binMap, bins.entries(), 'matchBinaries executables');
    this.obj.map('vg_uring_deny').update(Buffer.alloc(4), value);
    dropStale(binMap, bins.entries());
  }

}
