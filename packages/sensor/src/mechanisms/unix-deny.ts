/**
 * Unix-socket connect deny (kernel >= 6.7): bpf/progs/unix_deny.bpf.o's cgroup/connect_unix program, attached on a
 * cgroup v2 directory (default: the v2 mount's root), makes connect(2) to a denied unix socket address fail with
 * EPERM. Addresses are compared as the caller passed them (the kernel has not resolved the path yet): absolute
 * filesystem paths and abstract names ('@name' here, a leading NUL on the wire). A relative path or a symlink to a
 * denied socket is not denied (a documented gap). Where the kernel lacks cgroup/connect_unix, start() throws
 * EnforceError UNSUPPORTED with the reason (probeConnectUnix says so without attaching).
 *
 *   const ud = UnixConnectDeny.start({ objectPath });
 *   ud.setDenySet([{ id: 9, path: '/run/containerd/containerd.sock' }, { id: 10, path: '@dbus-x' }]);
 */
import { closeSync, constants, openSync } from 'node:fs';
import { ENF_OFF, ENF_SIZE, UNIX_PATH_MAX } from '../abi/enforce-layout.js';
import { BpfObject, LibbpfError } from '../libbpf/index.js';
import { cgroupIdOfPid, requireCgroupV2Mount } from './cgroup.js';
import { DecisionReader, readCounters, setExemptCgroups, type EnforcementDecision } from './decision.js';
import { EnforceError } from './errors.js';
import { DecisionUnit } from './unit.js';
import { attachUnit, loadUnit } from './pinning.js';
import { BinarySets, fileRuleValue, type RuleScope } from './scope.js';
import { addEntries, dropStale, replaceEntries } from './unit-maps.js';

/** enum bpf_prog_type BPF_PROG_TYPE_CGROUP_SOCK_ADDR, enum bpf_attach_type BPF_CGROUP_UNIX_CONNECT (uapi). */
const PROG_TYPE_CGROUP_SOCK_ADDR = 18;
const ATTACH_CGROUP_UNIX_CONNECT = 49;

export interface UnixDenyRule extends RuleScope {
  id: number;
  /** an absolute socket path, or '@name' for an abstract address */
  path: string;
}

export interface UnixConnectDenyOptions {
  /** bpf/.output/unix_deny.bpf.o */
  objectPath: string;
  /** cgroup v2 directory whose subtree the rules apply to; default: the cgroup v2 mount */
  cgroup?: string;
  exemptCgroupIds?: readonly bigint[];
  ringBytes?: number;
  onDecision?: (d: EnforcementDecision) => void;
  onError?: (err: unknown) => void;
  /** bpffs directory to pin the deny map and the link in (stays armed without the sensor) */
  pinDir?: string;
  /** the shared identity-set map (bpf/lib/identity.h); default: a private one (identityMap()) */
  identityPinPath?: string;
}

/** The vg_unix_key of a rule path (see bpf/include/abi/enforce.h). */
export function unixKey(ruleId: number, path: string): Buffer {
  const abstract = path.startsWith('@');
  const bytes = abstract ? Buffer.concat([Buffer.alloc(1), Buffer.from(path.slice(1), 'utf8')]) : Buffer.from(path, 'utf8');
  if (!abstract && !path.startsWith('/')) {
    throw new EnforceError('BAD_RULE', `unix rule ${ruleId}: ${JSON.stringify(path)} must be an absolute path or @abstract-name (connect_unix sees the address unresolved)`);
  }
  if (bytes.length > UNIX_PATH_MAX || (!abstract && bytes.length === UNIX_PATH_MAX) || bytes.includes(0, abstract ? 1 : 0)) {
    throw new EnforceError('BAD_RULE', `unix rule ${ruleId}: ${JSON.stringify(path)} does not fit sun_path (${UNIX_PATH_MAX} bytes, no NUL inside)`);
  }
  const key = Buffer.alloc(ENF_SIZE.unixKey);
  key.writeUInt32LE(bytes.length, ENF_OFF.unixKey.len);
  bytes.copy(key, ENF_OFF.unixKey.path);
  return key;
}

/** Whether this kernel can load and attach cgroup/connect_unix; the reason when not. Loads, never attaches. */
export function probeConnectUnix(objectPath: string): { available: boolean; reason: string } {
  let obj: BpfObject | undefined;
  try {
    obj = BpfObject.open(objectPath);
    obj.program('vg_connect_unix').setType(PROG_TYPE_CGROUP_SOCK_ADDR, ATTACH_CGROUP_UNIX_CONNECT);
    obj.map('vg_events').setMaxEntries(4096);
    obj.load();
    return { available: true, reason: 'cgroup/connect_unix loads' };
  } catch (err) {
    return { available: false, reason: `cgroup/connect_unix does not load here (kernel >= 6.7 needed): ${(err as Error).message}` };
  } finally {
    obj?.close();
  }
}

export class UnixConnectDeny extends DecisionUnit {
  readonly cgroup: string;
  readonly exemptCgroupIds: readonly bigint[];

  private constructor(
    private readonly opts: UnixConnectDenyOptions,
    cgroup: string,
  ) {
    super(BpfObject.open(opts.objectPath), opts.pinDir);
    this.cgroup = cgroup;
    this.exemptCgroupIds = opts.exemptCgroupIds ?? [cgroupIdOfPid('self')];
  }

  static start(opts: UnixConnectDenyOptions): UnixConnectDeny {
    const u = new UnixConnectDeny(opts, opts.cgroup ?? requireCgroupV2Mount());
    try {
      u.startUp();
    } catch (err) {
      u.close();
      if (err instanceof LibbpfError) throw new EnforceError('UNSUPPORTED', `cgroup/connect_unix is not available on this kernel (needs >= 6.7): ${err.message}`);
      throw err;
    }
    return u;
  }

  private startUp(): void {
    const { opts } = this;
    this.obj.program('vg_connect_unix').setType(PROG_TYPE_CGROUP_SOCK_ADDR, ATTACH_CGROUP_UNIX_CONNECT);
    this.obj.map('vg_events').setMaxEntries(opts.ringBytes ?? 256 * 1024);
    const external: Record<string, string> = opts.identityPinPath ? { vg_identity: opts.identityPinPath } : {};
    this.pins = loadUnit(this.obj, opts.pinDir, { links: ['vg_connect_unix'], external, lostCounter: (o) => readCounters(o).emitFail });
    setExemptCgroups(this.obj, this.exemptCgroupIds);
    this.reader = new DecisionReader(this.obj, opts.onDecision ?? (() => {}), opts.onError ?? (() => {}));
    this.reader.start();
    const fd = openSync(this.cgroup, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      this.link = attachUnit(this.pins, this.obj, 'vg_connect_unix', (o) => o.program('vg_connect_unix').attachCgroup(fd));
    } finally {
      closeSync(fd);
    }
    this.pins?.commit();
  }

  /** Replaces the deny set (live; new entries first, then stale ones deleted). BAD_RULE / LIMIT change nothing. */
  setDenySet(rules: readonly UnixDenyRule[]): void {
    if (this.closed) throw new EnforceError('CLOSED', 'unix connect deny is closed');
    const bins = new BinarySets();
    const seen = new Map<string, number>();
    const entries: Array<{ key: Buffer; value: Buffer }> = [];
    for (const r of rules) {
      const key = unixKey(r.id, r.path);
      const hex = key.toString('hex');
      const value = fileRuleValue(r.id, r, bins);
      if (seen.has(hex)) throw new EnforceError('BAD_RULE', `unix rules ${seen.get(hex)} and ${r.id} both name ${r.path}; one rule per address`);
      seen.set(hex, r.id);
      entries.push({ key, value });
    }
    const map = this.obj.map('vg_unix_deny');
    if (entries.length > map.maxEntries) throw new EnforceError('LIMIT', `${entries.length} unix addresses; the limit is ${map.maxEntries}`);
    const binMap = this.obj.map('vg_bin_set');
    addEntries(binMap, bins.entries(), 'matchBinaries executables');
    replaceEntries(map, entries, 'unix addresses');
    dropStale(binMap, bins.entries());
  }

}

