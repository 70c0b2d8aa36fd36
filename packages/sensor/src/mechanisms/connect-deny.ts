/**
 * Connect deny, the network mechanism for kernels without kprobes or LSM BPF: bpf/progs/sock_cgroup.bpf.o's
 * cgroup/connect4, connect6, sendmsg4 and sendmsg6 programs, attached on a cgroup v2 directory (default: the v2
 * mount's root, i.e. every process), make connect() and unconnected UDP sendto()/sendmsg() to a denied
 * destination fail with EPERM before any packet leaves; bind4/bind6 refuse bind() to denied local addresses and
 * ports (rules with hook 'bind'); cgroup/sock_create denies socket(2) by family, type and
 * protocol (setSocketDenySet). IPv4-mapped IPv6 destinations are judged by the IPv4
 * rules. Tasks in exempt cgroups (default: the sensor's own) are never denied.
 *
 *   const cd = ConnectDeny.start({ objectPath, onDecision });
 *   cd.setDenySet([{ id: 7, cidr: '10.0.0.0/8', ports: [[443, 443]], protocol: 'tcp' }]);  // live, no reload
 *   cd.close();                                                                               // detaches
 */
import { closeSync, constants, openSync } from 'node:fs';
import { BpfObject, type BpfLink, type BpfMap } from '../libbpf/index.js';
import { cgroupIdOfPid, requireCgroupV2Mount } from './cgroup.js';
import { DecisionReader, readCounters, setExemptCgroups, setTargetCgroups, type DecisionCounters, type EnforcementDecision } from './decision.js';
import { EnforceError } from './errors.js';
import { compileNetDenySet, compileSocketDenySet, type NetDenyRule, type SocketDenyRule } from './net-rules.js';
import { attachUnit, loadUnit, removePins } from './pinning.js';
import type { PersistReport, PinnedObject } from '../persist/pinned-object.js';
import { BinarySets } from './scope.js';
import { addEntries, dropStale, replaceEntries } from './unit-maps.js';

export interface ConnectDenyOptions {
  /** bpf/.output/sock_cgroup.bpf.o */
  objectPath: string;
  /** cgroup v2 directory whose subtree the rules apply to; default: the cgroup v2 mount (every process) */
  cgroup?: string;
  /** cgroup ids never denied; default: this process's cgroup (never deny the sensor) */
  exemptCgroupIds?: readonly bigint[];
  /** which hooks to attach; default all four */
  hooks?: ReadonlyArray<'connect4' | 'connect6' | 'sendmsg4' | 'sendmsg6' | 'bind4' | 'bind6' | 'sock_create'>;
  /** decision ring buffer bytes (power of two ≥ page size); default 256 KiB */
  ringBytes?: number;
  onDecision?: (d: EnforcementDecision) => void;
  onError?: (err: unknown) => void;
  /**
   * bpffs directory (e.g. /sys/fs/bpf/vigil/enforce/connect) to pin the deny tries, the exempt map and the links
   * in: connects stay denied after close() or the sensor's death, and the next start() reuses the deny set.
   * Without it, close() detaches. One pin directory per attach cgroup.
   */
  pinDir?: string;
  /** the shared identity-set map (bpf/lib/identity.h); default: a private one (identityMap()) */
  identityPinPath?: string;
  /** with pinDir: how the start went (adopted, upgraded, repaired; events lost while no sensor read them) */
  onPersist?: (r: PersistReport) => void;
}

const ALL_HOOKS = ['connect4', 'connect6', 'sendmsg4', 'sendmsg6', 'bind4', 'bind6', 'sock_create'] as const;

export class ConnectDeny implements Disposable {
  private readonly obj: BpfObject;
  private readonly links: BpfLink[] = [];
  private killLink: BpfLink | undefined;
  private pins: PinnedObject | undefined;
  private reader: DecisionReader | undefined;
  private closed = false;
  /** cgroup the programs are attached on */
  readonly cgroup: string;
  readonly exemptCgroupIds: readonly bigint[];

  private constructor(private readonly opts: ConnectDenyOptions) {
    this.cgroup = opts.cgroup ?? requireCgroupV2Mount();
    this.exemptCgroupIds = opts.exemptCgroupIds ?? [cgroupIdOfPid('self')];
    this.obj = BpfObject.open(opts.objectPath);
  }

  /** Loads the programs, writes the exemptions and attaches; the deny set starts empty. */
  static start(opts: ConnectDenyOptions): ConnectDeny {
    const cd = new ConnectDeny(opts);
    try {
      cd.startUp();
    } catch (err) {
      cd.close();
      throw err;
    }
    return cd;
  }

  private startUp(): void {
    const { opts } = this;
    this.obj.map('vg_events').setMaxEntries(opts.ringBytes ?? 256 * 1024);
    // Every map and link is pinned (persist/pinned-object.ts): a restart with the same object adopts them.
    const hooks = opts.hooks ?? ALL_HOOKS;
    const external: Record<string, string> = opts.identityPinPath ? { vg_identity: opts.identityPinPath } : {};
    this.pins = loadUnit(this.obj, opts.pinDir, { links: hooks.map((h) => `vg_${h}`), external, lostCounter: (o) => readCounters(o).emitFail, ...(opts.onPersist ? { onPersist: opts.onPersist } : {}) });
    setExemptCgroups(this.obj, this.exemptCgroupIds);
    this.reader = new DecisionReader(this.obj, opts.onDecision ?? (() => {}), opts.onError ?? (() => {}));
    this.reader.start();
    const fd = openSync(this.cgroup, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      if (this.pins?.hasPinnedLink('vg_conn_exit')) {
        // An earlier sensor attached the kill program for a pinned deny set: keep that covered.
        this.killLink = attachUnit(this.pins, this.obj, 'vg_conn_exit', (o) => o.program('vg_conn_exit').attachTrace());
        this.links.push(this.killLink);
      }
      for (const hook of hooks) {
        const link = attachUnit(this.pins, this.obj, `vg_${hook}`, (o) => o.program(`vg_${hook}`).attachCgroup(fd));
        this.links.push(link);
      }
    } finally {
      closeSync(fd);
    }
    this.pins?.commit();
  }

  /**
   * Replaces the deny set. Takes effect for the next connect/sendmsg without reloading anything: new and changed
   * entries are written first, then stale ones deleted (a destination in both the old and the new set stays
   * denied throughout). Throws BAD_RULE or LIMIT (and changes nothing) when a rule cannot be stored.
   */
  setDenySet(rules: readonly NetDenyRule[]): void {
    if (this.closed) throw new EnforceError('CLOSED', 'connect deny is closed');
    this.write(rules, this.socketRules);
  }

  /**
   * Replaces the socket-creation deny set (cgroup/sock_create: socket(2) fails with EPERM), e.g. raw sockets:
   * `[{ id, family: 'inet', type: 'raw' }]`. Live, like setDenySet.
   */
  setSocketDenySet(rules: readonly SocketDenyRule[]): void {
    if (this.closed) throw new EnforceError('CLOSED', 'connect deny is closed');
    this.write(this.netRules, rules);
  }

  private netRules: readonly NetDenyRule[] = [];
  private socketRules: readonly SocketDenyRule[] = [];

  /** Both deny sets share the object's binary sets: compile them together, then write (nothing on error). */
  private write(net: readonly NetDenyRule[], sock: readonly SocketDenyRule[]): void {
    const bins = new BinarySets();
    const entries = compileNetDenySet(net, bins);
    const sockEntries = compileSocketDenySet(sock, bins);
    const maps = { 4: this.obj.map('vg_net_v4'), 6: this.obj.map('vg_net_v6') } as const;
    for (const family of [4, 6] as const) {
      const n = entries.filter((e) => e.family === family).length;
      if (n > maps[family].maxEntries) throw new EnforceError('LIMIT', `${n} IPv${family} CIDRs; the limit is ${maps[family].maxEntries}`);
    }
    const sockMap = this.obj.map('vg_sock_deny');
    if (sockEntries.length > sockMap.maxEntries) throw new EnforceError('LIMIT', `${sockEntries.length} socket rules; the limit is ${sockMap.maxEntries}`);
    if (!this.killLink && net.some((r) => r.action === 'kill' && !r.monitor)) {
      // Sigkill needs the sys_exit program (every syscall pays its filter: attach it only once a rule kills).
      this.killLink = attachUnit(this.pins, this.obj, 'vg_conn_exit', (o) => o.program('vg_conn_exit').attachTrace());
      this.links.push(this.killLink);
    }
    const binMap = this.obj.map('vg_bin_set');
    addEntries(binMap, bins.entries(), 'matchBinaries executables');
    for (const family of [4, 6] as const) this.replace(maps[family], entries.filter((e) => e.family === family));
    replaceEntries(sockMap, sockEntries, 'socket rules');
    dropStale(binMap, bins.entries());
    this.netRules = net;
    this.socketRules = sock;
  }

  private replace(map: BpfMap, entries: ReadonlyArray<{ key: Buffer; value: Buffer }>): void {
    replaceEntries(map, entries, 'CIDRs');
  }

  /** The identity-set map this unit's rules are checked against (shared when identityPinPath was given). */
  identityMap(): BpfMap {
    return this.obj.map('vg_identity');
  }

  /** Replaces the exempt cgroup ids (the sensor's own should stay among them). */
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

  /** Closes this process's handles. Without pinDir that detaches; with it the pinned links stay armed. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.links.splice(0)) l.destroy(); // closes our fd: detaches unless pinned
    this.reader?.close();
    this.pins?.close();
    this.obj.close();
  }

  /** Detaches for good: closes, then removes the pins (the pinned links detach, the maps are freed). */
  remove(): void {
    this.close();
    if (this.opts.pinDir) removePins(this.opts.pinDir);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
