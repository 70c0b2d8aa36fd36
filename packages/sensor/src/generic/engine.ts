/**
 * GenericHookEngine: runs the hooks of compiled bundles whose mechanism is an in-kernel selector program
 * (bpf/progs/generic_*.bpf.c, docs/adr/0008-generic-hooks.md): kprobe, kretprobe, fentry, fexit, lsm, tracepoint,
 * raw_tp, tp_btf, tp_btf_syscall, uprobe, uretprobe.
 *
 * Per policy, under <pinRoot>/generic/<encoded policy uid>/ (abi/generic.h):
 *   vg_gen_v1, vg_<map>_o_v1 …  the policy's state maps: each bundle map is an array-of-maps of two inner maps
 *                               (generations 0 and 1); vg_gen says which one the programs read
 *   vg_ratelimit_v1, vg_gen_stats_v1
 *   vg_bundle_v1                this engine's record of the applied bundle (content hash), for a cheap restart
 *   link_h<hook>_<n>            the pinned links: hooks keep enforcing without the sensor
 * Per node, in <pinRoot>/generic/ beside the policy directories: vg_exempt_v1 (the sensor's cgroup), vg_host_ns_v1,
 * and the hook event ring vg_events_v1 / vg_stats_v1, which this engine reads.
 *
 * apply() is atomic per policy: every program of the new bundle is loaded (verified) first; the NEW generation's
 * inner maps are created and filled with the bundle bytes (values zero-padded to the map's value size) and put
 * in the outer maps' free slot; programs are attached; then one update of vg_gen switches every map at once, and
 * only then the previous bundle's links that the new one does not reuse are detached. Any failure before the
 * switch leaves the previous generation (and its links) enforcing. A bundle whose hooks are the same as the
 * applied one's (same targets and mechanisms: only selectors or values changed) keeps its links and only switches
 * the generation.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { MAP_NAMES, MAP_SPECS, MECHANISM, decodeActionTable, decodeSelectorProgram, type Bundle, type CompiledHook, type MapName } from '@vigil/policy-schema';
import type { KtimeClock } from '../events/exec-id.js';
import type { ProcessCache } from '../events/process-cache.js';
import { declaredHookName, hookEffect } from '../enforce/composite.js';
import type { HookEvent } from '../export/model.js';
import { BpfLink, BpfObject, LibbpfError, MapFlags, MapType, MappedRingBuffer, RawMap, closeFd, errnoName, objGet, possibleCpus, type RingView } from '../libbpf/index.js';
import { cgroupIdOfPid } from '../mechanisms/cgroup.js';
// fentry/fexit/lsm programs are bound to one function at load: one verified instance per target (MAX_TRAMPOLINE_TARGETS)
import { ENFORCER_ID0, MAX_TRAMPOLINE_TARGETS, enforcerHook, enforcerStatus } from './enforcer.js';
import type { ApplyOutcome } from '../transport/applier.js';
import { encodeToken, type HookStatus } from '../transport/protocol.js';
import { PROCS_SCHEMA } from '../abi/layout.js';
import { identityPinPath } from '../identity/map.js';
import { decodeHookRecord, hookEventOf, isHookRecord, type HookInfo, type HookRecord } from './decode.js';
import { expandGeneratedList, kernelSymbolFor, overrideRefusal } from './tracefs.js';

export const GEN_SCHEMA_SUFFIX = '_v1';
const OUTER: Readonly<Record<MapName, string>> = {
  vg_hooks: 'vg_hooks_o',
  vg_sel_prog: 'vg_sel_prog_o',
  vg_actions: 'vg_actions_o',
  vg_strings: 'vg_strings_o',
  vg_prefix: 'vg_prefix_o',
  vg_cidr4: 'vg_cidr4_o',
  vg_cidr6: 'vg_cidr6_o',
  vg_syscalls: 'vg_syscalls_o',
};
const POLICY_MAPS = ['vg_gen', ...Object.values(OUTER), 'vg_ratelimit', 'vg_gen_stats', 'vg_enf_notes'];
const NODE_MAPS = ['vg_exempt', 'vg_host_ns', 'vg_events', 'vg_stats'];
const BUNDLE_META_BYTES = 128;
/** /proc/<pid>/ns names in VG_NS_* order (policy-schema NAMESPACE_KIND). */
const HOST_NS_FILES = ['uts', 'ipc', 'mnt', 'pid', 'pid_for_children', 'net', 'time', 'time_for_children', 'cgroup', 'user'];

/** The program that runs a mechanism: object file and program name (bpf/progs/generic_*.bpf.c). */
interface Family {
  object: string;
  /** `override`: the hook's selectors Override in enforce mode */
  program: (h: CompiledHook, override: boolean) => string;
}

/** mechanism → program family. raw_tp / tp_btf raw tracepoints have no family in this build (refused). */
export const FAMILIES: Readonly<Record<string, Family>> = {
  tp_btf_syscall: { object: 'generic_tp.bpf.o', program: (h) => (h.returnProbe ? 'vg_btf_sys_exit' : 'vg_btf_sys_enter') },
  tracepoint: { object: 'generic_tp.bpf.o', program: () => 'vg_tracepoint' },
  // one program per arg count: a raw_tp program may read no more args than its tracepoint has (generic_tp.bpf.c)
  raw_tp: { object: 'generic_tp.bpf.o', program: (h) => `vg_raw_tp_${rawTpArgCount(h)}` },
  kprobe: { object: 'generic_kprobe.bpf.o', program: (_h, override) => (override ? 'vg_kprobe_override' : 'vg_kprobe') },
  kretprobe: { object: 'generic_kprobe.bpf.o', program: () => 'vg_kretprobe' },
  uprobe: { object: 'generic_uprobe.bpf.o', program: () => 'vg_uprobe' },
  uretprobe: { object: 'generic_uprobe.bpf.o', program: () => 'vg_uretprobe' },
  lsm: { object: 'generic_lsm.bpf.o', program: () => 'vg_lsm' },
  fentry: { object: 'generic_fentry.bpf.o', program: (_h, override) => (override ? 'vg_fmod_ret' : 'vg_fentry') },
  fexit: { object: 'generic_fentry.bpf.o', program: () => 'vg_fexit' },
};

/** How many TP_PROTO args a raw tracepoint hook reads: 1 + the highest index of its args and data args (≤ 6). */
export function rawTpArgCount(h: CompiledHook): number {
  const data = (h.attach['data'] as Array<{ index?: number }> | undefined) ?? [];
  const idx = [...h.args.map((a) => a.index), ...data.map((d) => d.index ?? 0)];
  return Math.min(6, idx.length === 0 ? 0 : Math.max(...idx) + 1);
}

/** USDT probes: uprobes at the note's locations, args decoded from the note's specs (libbpf's usdt.bpf.h). */
const USDT_FAMILY: Family = { object: 'generic_uprobe.bpf.o', program: () => 'vg_usdt' };

/** Enforcers (generic_enforcer.bpf.c): fmod_ret on each guarded syscall function, or a signal at sys_exit. */
const ENFORCER_FAMILY: Family = { object: 'generic_enforcer.bpf.o', program: (h) => (h.mechanism === 'fentry' ? 'vg_enforcer_fmod_ret' : 'vg_enforcer_sys_exit') };

/** The program family that serves a hook: by mechanism, and USDT hooks (mechanism uprobe) by their kind. */
export function familyOf(h: CompiledHook): Family | undefined {
  if (h.attach['enforcer'] === true) return ENFORCER_FAMILY;
  return h.kind === 'usdt' ? USDT_FAMILY : FAMILIES[h.mechanism];
}

export type GenericEngineErrorCode = 'UNSUPPORTED' | 'LOAD_FAILED' | 'ATTACH_FAILED' | 'TARGET_MISSING' | 'MAP_FILL_FAILED';

export class GenericEngineError extends Error {
  constructor(
    readonly code: GenericEngineErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'GenericEngineError';
  }
}

export interface GenericHookEngineOptions {
  /** directory of the built .bpf.o files */
  objectsDir: string;
  /** bpffs root for Vigil's pins (e.g. /sys/fs/bpf/vigil) */
  pinRoot: string;
  /** cgroups whose tasks no hook matches; default: this process's cgroup (the sensor never acts on itself) */
  exemptCgroupIds?: readonly bigint[];
  /** hook event ring buffer bytes (power of two, page multiple); default 4 MiB */
  ringBytes?: number;
  /** where hook events go; without it records are counted and dropped */
  onEvent?: (ev: HookEvent) => void;
  /** the process cache events are enriched from (the lifecycle sensor's); without it processes are bare pids */
  processes?: ProcessCache;
  clock?: KtimeClock;
  onError?: (err: unknown) => void;
}

/** One loaded program instance and the links it attached. */
interface Instance {
  hookId: number;
  obj: BpfObject;
  /** the program of `obj` that runs the hook */
  program: string;
  links: BpfLink[];
  /** targets the hook names that were missing and skipped (ignore set) */
  missing: string[];
  /** trampoline programs (fentry, fexit): the one function this instance was loaded for */
  target?: string;
}

/**
 * The hook as this engine runs it. A syscall hook (`syscall: true`, or a list of syscalls) the compiler put on
 * fentry / fexit runs at tp_btf sys_enter / sys_exit instead, unless it Overrides: the trampoline programs read
 * the arch wrapper's own argument (its struct pt_regs) as the syscall's args (generic_fentry.bpf.c does not unwrap
 * it, unlike the kprobe family), so their selectors would never see the syscall's arguments. At sys_enter the
 * hook sees the same args and can kill before the syscall runs; only Override needs the trampoline (fmod_ret).
 */
export function servedHook(h: CompiledHook, override: boolean): CompiledHook {
  if ((h.mechanism !== 'fentry' && h.mechanism !== 'fexit') || override) return h;
  // Lists: every syscall is one tp_btf program with no syscall filter; other lists attach kprobes (one program,
  // many attachments) instead of one verified trampoline program per function.
  if (h.generatedList?.type === 'generated_syscalls')
    return { ...h, mechanism: 'tp_btf_syscall', notes: [...h.notes, `every syscall: served at tp_btf ${h.returnProbe ? 'sys_exit' : 'sys_enter'} by one program`] };
  if (h.generatedList || h.targets.length > MAX_TRAMPOLINE_TARGETS)
    return { ...h, mechanism: h.mechanism === 'fexit' ? 'kretprobe' : 'kprobe', notes: [...h.notes, 'a function list: attached as kprobes (one program) rather than one trampoline program per function'] };
  const syscallTargets = h.attach['syscall'] !== false && h.targets.length > 0 && h.targets.every((t) => /^(__x64_|__ia32_)?sys_/.test(t));
  if (!h.syscall && !syscallTargets) return h;
  return { ...h, mechanism: 'tp_btf_syscall', notes: [...h.notes, `syscall hook served at tp_btf ${h.returnProbe ? 'sys_exit' : 'sys_enter'} (the trampoline programs do not unwrap the syscall wrapper's pt_regs yet)`] };
}

/** One program instance per function for trampolines (bound to it at load), one per hook otherwise. */
function instanceTargets(h: CompiledHook): Array<string | undefined> {
  return h.mechanism === 'fentry' || h.mechanism === 'fexit' ? h.targets : [undefined];
}

interface PolicyState {
  uid: string;
  dir: string;
  bundle: Bundle | undefined;
  contentHash: string;
  instances: Instance[];
  /** pinned link names this policy owns now */
  linkPins: string[];
  hooks: HookStatus[];
  /** policy_id (HOOK_CFG) → this policy's hook infos, for event naming */
  info: Map<number, HookInfo>;
  policyId: number;
}

function u32(b: Uint8Array, at = 0): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at, true);
}

/** Hook structure that decides whether links can be kept across bundles: ids, kinds, targets, mechanisms. */
function structureOf(b: Bundle): string {
  return JSON.stringify([b.hooks.map((h) => [h.id, h.kind, h.mechanism, h.targets, h.returnProbe, h.attach, h.syscall, h.generatedList, h.args.map((a) => a.type)]), b.enforcers]);
}

export class GenericHookEngine {
  private readonly policies = new Map<string, PolicyState>();
  private readonly byPolicyId = new Map<number, PolicyState>();
  private reader: MappedRingBuffer | undefined;
  private readonly exempt: readonly bigint[];
  private dropped = 0;
  private decodeErrors = 0;

  constructor(private readonly opts: GenericHookEngineOptions) {
    this.exempt = opts.exemptCgroupIds ?? [cgroupIdOfPid('self')];
  }

  private get root(): string {
    return join(this.opts.pinRoot, 'generic');
  }
  /** Node maps sit beside the policy directories: their names (vg_x_v1) can never be an encoded policy uid. */
  private get nodeDir(): string {
    return this.root;
  }
  private policyDir(uid: string): string {
    return join(this.root, encodeToken(uid));
  }

  /** Per-hook status of the policy's applied bundle. */
  report(policyUid: string): readonly HookStatus[] {
    return this.policies.get(policyUid)?.hooks ?? [];
  }

  /** Records lost or undecodable on the way to onEvent (no process cache entry needed: those are still posted). */
  stats(): { dropped: number; decodeErrors: number } {
    return { dropped: this.dropped, decodeErrors: this.decodeErrors };
  }

  async apply(bundle: Bundle): Promise<ApplyOutcome> {
    await Promise.resolve();
    const uid = bundle.version.policyUid;
    const statuses = this.plan(bundle);
    const refused = statuses.filter((s) => s.state === 'refused');
    if (refused.length > 0) return { result: 'refused', reason: refused.map((h) => `${h.path} (${h.hook}): ${h.reason}`).join('; '), hooks: statuses };

    const dir = this.policyDir(uid);
    let state = this.policies.get(uid);
    // A sensor restarted with the same bundle pinned: adopt the pins, attach nothing.
    // (USDT links cannot be pinned: a bundle with USDT hooks is loaded again, its other hooks' pins replaced)
    if (!state && existsSync(dir) && this.pinnedHash(dir) === bundle.version.contentHash && !bundle.hooks.some((h) => h.kind === 'usdt')) {
      state = this.adopt(uid, dir, bundle, statuses);
      this.startReader();
      return { result: 'applied', reason: '', hooks: state.hooks };
    }
    if (state?.contentHash === bundle.version.contentHash) return { result: 'applied', reason: '', hooks: state.hooks };
    // Links an earlier sensor pinned for another version of this policy: they keep enforcing until the switch.
    const existed = existsSync(dir);
    const inherited = !state && existed ? readdirSync(dir).filter((f) => f.startsWith('link_')) : [];

    const reuseLinks = state?.bundle !== undefined && structureOf(state.bundle) === structureOf(bundle);
    let fresh: Instance[] = [];
    /** ignore-marked hooks whose BTF target this kernel lacks: hook id → targets */
    const skipped = new Map<number, string[]>();
    try {
      mkdirSync(dir, { recursive: true });
      mkdirSync(this.nodeDir, { recursive: true });
      // 1. load (verify) every program of the new bundle; its policy maps are the pinned ones (created on first use)
      if (!reuseLinks) {
        for (const compiled of bundle.hooks) {
          const override = bundle.policy.mode === 'enforce' && hasAction(bundle, compiled.id, 'Override');
          const h = servedHook(compiled, override);
          for (const t of instanceTargets(h)) {
            try {
              fresh.push(this.load(h, dir, override, t));
            } catch (err) {
              if (!(h.ignoreMissing && err instanceof GenericEngineError && err.code === 'TARGET_MISSING')) throw err;
              skipped.set(h.id, [...(skipped.get(h.id) ?? []), t ?? h.targets[0] ?? '']);
            }
          }
        }
        // enforcers: one fmod_ret instance per guarded syscall, or one sys_exit program (generic/enforcer.ts)
        bundle.enforcers.forEach((e, i) => {
          const h = enforcerHook(e, i);
          for (const t of instanceTargets(h)) fresh.push(this.load(h, dir, false, t));
        });
      } else if (!existsSync(join(dir, `vg_gen${GEN_SCHEMA_SUFFIX}`))) throw new GenericEngineError('LOAD_FAILED', `the pinned state of ${uid} is gone`);
      if (fresh.length === 0 && skipped.size === 0 && bundle.hooks.length > 0 && !reuseLinks) throw new GenericEngineError('LOAD_FAILED', 'nothing to load');
      this.writeNodeMaps();
      // 2. fill the next generation
      const next = this.fillNextGeneration(dir, bundle);
      // 3. attach the new programs (their hits read the active generation until the switch)
      const byId = new Map([
        ...bundle.hooks.map((h) => [h.id, servedHook(h, bundle.policy.mode === 'enforce' && hasAction(bundle, h.id, 'Override'))] as const),
        ...bundle.enforcers.map((e, i) => [ENFORCER_ID0 + i, enforcerHook(e, i)] as const),
      ]);
      for (const inst of fresh) this.attach(byId.get(inst.hookId) as CompiledHook, inst);
      // 4. switch: one map update
      this.setGeneration(dir, next);
    } catch (err) {
      for (const inst of fresh) this.destroy(inst);
      fresh = [];
      if (!existed) this.removePins(dir);
      // a target this node does not have (binary, function, tracepoint) is a refusal of the node, not an error
      const refusedHere = err instanceof GenericEngineError && err.code === 'TARGET_MISSING';
      return { result: refusedHere ? 'refused' : 'failed', reason: errorText(err), hooks: statuses.map((st) => (refusedHere && err.message.startsWith(`${st.path} `) ? { ...st, state: 'refused' as const, reason: err.message } : st)) };
    }
    // 5. the previous bundle's links go (after the switch), the new ones are pinned
    const old = state;
    if (old && !reuseLinks) {
      for (const inst of old.instances) this.destroy(inst);
      for (const name of old.linkPins) this.unpin(join(dir, name));
    }
    for (const name of inherited) this.unpin(join(dir, name));
    const linkPins: string[] = reuseLinks && old ? old.linkPins : [];
    const byKind = new Map(bundle.hooks.map((h) => [h.id, h.kind]));
    if (!reuseLinks) {
      for (const inst of fresh) {
        // libbpf's USDT link is a set of uprobe links in this process and cannot be pinned: it lives as long as
        // the sensor (said in the hook's status)
        if (byKind.get(inst.hookId) === 'usdt') continue;
        inst.links.forEach((l, n) => {
          const name = `link_h${inst.hookId}_${inst.target ? `${inst.target}_` : ''}${n}`;
          this.unpin(join(dir, name));
          l.pin(join(dir, name));
          linkPins.push(name);
        });
      }
    }
    this.writeBundleMeta(dir, bundle.version.contentHash);
    const hooks = statuses.map((s) => {
      const gone = skipped.get(s.hookId);
      const inst = fresh.find((i) => i.hookId === s.hookId);
      if (gone && !inst) return { ...s, state: 'not_attached' as const, reason: `missing here: ${gone.join(', ')}` };
      if (inst && inst.links.length === 0 && inst.missing.length > 0) return { ...s, state: 'not_attached' as const, reason: `missing here: ${inst.missing.join(', ')}` };
      if (inst && inst.missing.length > 0) return { ...s, reason: [s.reason, `missing here (ignored): ${inst.missing.join(', ')}`].filter(Boolean).join('; ') };
      return s;
    });
    const next: PolicyState = {
      uid,
      dir,
      bundle,
      contentHash: bundle.version.contentHash,
      instances: reuseLinks && old ? old.instances : fresh,
      linkPins,
      hooks,
      info: this.hookInfos(bundle),
      policyId: policyIdOf(bundle),
    };
    if (old) this.byPolicyId.delete(old.policyId);
    this.policies.set(uid, next);
    this.byPolicyId.set(next.policyId, next);
    this.startReader();
    return { result: 'applied', reason: '', hooks };
  }

  async remove(policyUid: string): Promise<void> {
    await Promise.resolve();
    const state = this.policies.get(policyUid);
    if (state) {
      for (const inst of state.instances) this.destroy(inst);
      this.policies.delete(policyUid);
      this.byPolicyId.delete(state.policyId);
    }
    this.removePins(this.policyDir(policyUid)); // also pins an earlier sensor left for this policy
    if (this.policies.size === 0) this.stopReader();
  }

  /** Closes this process's handles; pinned links keep enforcing. */
  async close(): Promise<void> {
    await Promise.resolve();
    this.drain();
    for (const s of this.policies.values()) for (const inst of s.instances) this.release(inst);
    this.policies.clear();
    this.byPolicyId.clear();
    this.stopReader();
  }

  /** Detaches and unpins every policy and the node maps (uninstall, tests). */
  async uninstall(): Promise<void> {
    for (const uid of [...this.policies.keys()]) await this.remove(uid);
    this.stopReader();
    if (!existsSync(this.root)) return;
    for (const d of readdirSync(this.root)) {
      const p = join(this.root, d);
      if (statSync(p).isDirectory()) this.removePins(p);
      else unlinkSync(p); // node maps
    }
    try {
      rmdirSync(this.root);
    } catch {
      /* not empty: something else pinned there */
    }
  }

  /**
   * Loss accounting of the hook event ring (per-CPU vg_stats, abi/events.h): records the programs tried to write
   * (sequence numbers taken), those the full ring refused, and those this engine received since it started reading.
   */
  eventStats(): { attempts: bigint; reserveFailures: bigint; received: number } {
    const out = { attempts: 0n, reserveFailures: 0n, received: this.reader?.stats.records ?? 0 };
    const path = join(this.nodeDir, `vg_stats${GEN_SCHEMA_SUFFIX}`);
    if (!existsSync(path)) return out;
    const stride = 32; // struct vg_stats: 4 × u64
    const m = RawMap.open(path, 4, possibleCpus() * stride);
    try {
      const v = m.lookup(Buffer.alloc(4));
      for (let off = 0; v && off + stride <= v.length; off += stride) {
        out.attempts += v.readBigUInt64LE(off);
        out.reserveFailures += v.readBigUInt64LE(off + 8);
      }
    } finally {
      m.close();
    }
    return out;
  }

  /** Delivers every hook record available now. */
  drain(): number {
    return this.reader?.consume() ?? 0;
  }

  /** Status per hook without touching the kernel: which hooks this engine can run here. */
  plan(bundle: Bundle): HookStatus[] {
    return bundle.hooks.map((compiled): HookStatus => {
      const h = servedHook(compiled, bundle.policy.mode === 'enforce' && hasAction(bundle, compiled.id, 'Override'));
      const base = { hookId: h.id, path: h.path, hook: declaredHookName(h), mechanism: h.mechanism };
      const fam = familyOf(h);
      if (!fam) return { ...base, state: 'refused' as const, reason: `mechanism ${h.mechanism} is not run by the generic hook engine` };
      if (!existsSync(join(this.opts.objectsDir, fam.object))) return { ...base, state: 'refused' as const, reason: `this sensor build has no ${fam.object} (the ${h.mechanism} program family)` };
      if ((h.mechanism === 'fentry' || h.mechanism === 'fexit') && (h.generatedList || h.targets.length > MAX_TRAMPOLINE_TARGETS))
        return {
          ...base,
          state: 'refused' as const,
          reason: `${h.generatedList ? `a ${h.generatedList.type} list` : `${h.targets.length} functions`} on ${h.mechanism} would need one verified program per function (limit ${MAX_TRAMPOLINE_TARGETS}); this sensor build attaches lists with kprobes only`,
        };
      const unsupported = kernelUnsupportedClauses(bundle, h.id);
      if (unsupported.length > 0)
        return { ...base, state: 'refused' as const, reason: `the in-kernel selector engine cannot evaluate ${unsupported.join(', ')}; such a clause would never match, so the hook is refused instead of silently not acting` };
      const effect = hookEffect(bundle, h.id);
      if ((h.kind === 'kprobe' || h.kind === 'fentry') && bundle.policy.mode === 'enforce' && hasAction(bundle, h.id, 'Override')) {
        for (const t of h.targets) {
          const why = overrideRefusal(kernelSymbolFor(t));
          if (why) return { ...base, state: 'refused' as const, reason: why };
        }
      }
      const usdt = h.kind === 'usdt' ? 'USDT: args from the probe\'s ELF note; not pinned (libbpf\'s USDT link is a set of uprobes in the sensor), so it stops while the sensor is down' : '';
      return { ...base, state: effect.state, reason: [...h.notes, effect.note, usdt].filter(Boolean).join('; ') };
    }).concat(bundle.enforcers.map((e) => enforcerStatus(e, bundle)));
  }

  // ---- loading and attaching ----

  private load(h: CompiledHook, dir: string, override: boolean, target?: string): Instance {
    const mech = h.mechanism;
    const fam = familyOf(h);
    if (!fam) throw new GenericEngineError('UNSUPPORTED', `${h.path}: mechanism ${h.mechanism} has no program family`);
    const obj = BpfObject.open(join(this.opts.objectsDir, fam.object));
    try {
      const progName = fam.program(h, override);
      for (const p of obj.programs()) p.setAutoload(p.name === progName);
      const prog = obj.program(progName);
      this.configure(obj, h, mech);
      if (mech === 'lsm') prog.setAttachTarget(String(h.attach['hook'] ?? h.targets[0]));
      else if (mech === 'fentry' || mech === 'fexit') prog.setAttachTarget(kernelSymbolFor(target ?? h.targets[0] ?? ''));
      else if (mech === 'tp_btf') prog.setAttachTarget(String(h.attach['event'] ?? ''));
      for (const m of obj.maps()) {
        const base = m.name;
        if (POLICY_MAPS.includes(base)) m.setPinPath(join(dir, `${base}${GEN_SCHEMA_SUFFIX}`));
        else if (NODE_MAPS.includes(base)) m.setPinPath(join(this.nodeDir, `${base}${GEN_SCHEMA_SUFFIX}`));
        else if (base === 'vg_procs') m.setPinPath(join(this.opts.pinRoot, 'state', `vg_procs_v${PROCS_SCHEMA}`)); // the lifecycle sensor's
        else if (base === 'vg_identity') m.setPinPath(identityPinPath(this.opts.pinRoot)); // pod/container sets (identity/)
      }
      obj.map('vg_events').setMaxEntries(this.opts.ringBytes ?? 4 * 1024 * 1024);
      mkdirSync(join(this.opts.pinRoot, 'state'), { recursive: true });
      obj.load();
      return { hookId: h.id, obj, program: progName, links: [], missing: [], ...(target ? { target } : {}) };
    } catch (err) {
      obj.close();
      // a BTF target (function, LSM hook, tracepoint) this kernel does not have
      if (err instanceof LibbpfError && err.errno === 3 && err.message.includes('attach target'))
        throw new GenericEngineError('TARGET_MISSING', `${h.path} (${declaredHookName(h)}): ${target ?? h.targets[0] ?? ''} does not exist on this node (${errorText(err)})`);
      throw new GenericEngineError('LOAD_FAILED', `${h.path} (${declaredHookName(h)}) on ${mech}: ${errorText(err)}`);
    }
  }


  /** Sets the object's .rodata vg_prog_cfg: hook id, syscall number, mechanism, flags (abi/generic.h). */
  private configure(obj: BpfObject, h: CompiledHook, mech: string): void {
    const rodata = obj.maps().find((m) => m.name.endsWith('.rodata'));
    if (!rodata) throw new GenericEngineError('LOAD_FAILED', `${obj.path} has no .rodata (vg_prog_cfg)`);
    const init = rodata.initialValue();
    if (!init || init.length < 16) throw new GenericEngineError('LOAD_FAILED', `${obj.path}: .rodata is ${init?.length ?? 0} bytes, vg_prog_cfg needs 16`);
    const target = h.targets[0] ?? '';
    const syscallKprobe = (mech === 'kprobe' || mech === 'kretprobe' || mech === 'fentry' || mech === 'fexit') && (h.syscall !== undefined || /^(__x64_)?sys_/.test(target) || h.generatedList?.type === 'generated_syscalls');
    const userArgs = mech === 'tp_btf_syscall' || mech === 'uprobe' || mech === 'uretprobe' || syscallKprobe;
    init.writeUInt32LE(h.attach['enforcer'] === true ? Number(h.attach['syscallSetId']) : h.id, 0);
    init.writeInt32LE(mech === 'tp_btf_syscall' && h.syscall ? h.syscall.nr : -1, 4);
    init.writeUInt8(MECHANISM.values[h.mechanism], 8);
    init.writeUInt8((syscallKprobe ? 1 : 0) | (userArgs ? 2 : 0), 9);
    rodata.setInitialValue(init);
  }

  private attach(h: CompiledHook, inst: Instance): void {
    const prog = inst.obj.program(inst.program);
    const one = (what: string, fn: () => BpfLink): void => {
      try {
        inst.links.push(fn());
      } catch (err) {
        const missing = err instanceof LibbpfError && (err.errno === 2 || err.errno === 3);
        if (h.ignoreMissing && err instanceof LibbpfError && (missing || err.errno === 22)) inst.missing.push(what);
        else if (missing) throw new GenericEngineError('TARGET_MISSING', `${h.path} (${declaredHookName(h)}): ${what} does not exist on this node (${errorText(err)})`);
        else throw new GenericEngineError('ATTACH_FAILED', `${h.path} (${declaredHookName(h)}): cannot attach ${what}: ${errorText(err)}`);
      }
    };
    switch (h.mechanism) {
      case 'tp_btf_syscall':
        one(h.returnProbe ? 'sys_exit' : 'sys_enter', () => prog.attachTrace());
        return;
      case 'tracepoint': {
        const [sub, ev] = (h.targets[0] ?? '/').split('/');
        one(h.targets[0] ?? '', () => prog.attachTracepoint(sub ?? '', ev ?? ''));
        return;
      }
      case 'raw_tp':
        one(String(h.attach['event'] ?? ''), () => prog.attachRawTracepoint(String(h.attach['event'] ?? '')));
        return;
      case 'tp_btf':
      case 'lsm':
      case 'fentry':
      case 'fexit':
        one(inst.target ?? h.targets[0] ?? '', () => (h.mechanism === 'lsm' ? prog.attachLsm() : prog.attachTrace()));
        return;
      case 'kprobe':
      case 'kretprobe': {
        const targets = h.generatedList ? expandGeneratedList(h.generatedList.type, h.generatedList.pattern) : h.targets.map(kernelSymbolFor);
        if (targets.length === 0) throw new GenericEngineError('ATTACH_FAILED', `${h.path}: the ${h.generatedList?.type ?? 'target'} list is empty on this kernel`);
        for (const t of targets) one(t, () => prog.attachKprobeOpts(t, { retprobe: h.mechanism === 'kretprobe', cookie: BigInt(h.id) }));
        return;
      }
      case 'uprobe':
      case 'uretprobe':
        if (h.kind === 'usdt') {
          const bin = String(h.attach['path'] ?? '').replace(/^\/procRoot\//, '/proc/');
          const provider = String(h.attach['provider'] ?? '');
          const name = String(h.attach['name'] ?? '');
          one(`${bin}:${provider}:${name}`, () => (existsSync(bin) ? prog.attachUsdt(bin, provider, name) : missingBinary(bin)));
          return;
        }
        for (const t of h.targets) {
          const i = t.lastIndexOf(':');
          const bin = t.slice(0, i).replace(/^\/procRoot\//, '/proc/'); // Tetragon's name for the host's /proc
          const sym = t.slice(i + 1);
          const target = /^0x[0-9a-f]+$/i.test(sym) ? { offset: Number.parseInt(sym, 16) } : { funcName: sym };
          one(t, () => (existsSync(bin) ? prog.attachUprobe(bin, target, { retprobe: h.mechanism === 'uretprobe' }) : missingBinary(bin)));
        }
        return;
      default:
        throw new GenericEngineError('UNSUPPORTED', `${h.path}: mechanism ${h.mechanism}`);
    }
  }

  private destroy(inst: Instance): void {
    for (const l of inst.links) {
      try {
        l.destroy();
      } catch {
        /* already gone */
      }
    }
    inst.links = [];
    inst.obj.close();
  }

  /** Drops this process's handles but leaves pinned links attached. */
  private release(inst: Instance): void {
    for (const l of inst.links) l.destroy(); // a pinned link stays attached: the pin holds a reference
    inst.links = [];
    inst.obj.close();
  }

  // ---- generations ----

  private fillNextGeneration(dir: string, bundle: Bundle): number {
    const gen = RawMap.open(join(dir, `vg_gen${GEN_SCHEMA_SUFFIX}`), 4, 4);
    try {
      const cur = gen.lookup(Buffer.alloc(4))?.readUInt32LE(0) ?? 0;
      const next = cur === 0 ? 1 : 0;
      for (const name of MAP_NAMES) {
        const spec = name === 'vg_prefix' ? { ...MAP_SPECS[name], keySize: PREFIX_KEY_BYTES } : MAP_SPECS[name];
        const entries = name === 'vg_prefix' ? bundle.maps[name].map(kernelPrefixEntry) : bundle.maps[name];
        const inner = RawMap.create({
          type: spec.type === 'lpm_trie' ? MapType.LPM_TRIE : MapType.HASH,
          name: `${name}_g${next}`,
          keySize: spec.keySize,
          valueSize: spec.valueSize,
          maxEntries: Math.max(1, entries.length),
          // the outer map's template (generic.h VG_OUTER) has BPF_F_NO_PREALLOC; hash and LPM inner maps may
          // differ from it in max_entries without BPF_F_INNER_MAP (which only arrays accept)
          flags: MapFlags.NO_PREALLOC,
        });
        try {
          for (const e of entries) {
            if (e.key.length !== spec.keySize || e.value.length > spec.valueSize)
              throw new GenericEngineError('MAP_FILL_FAILED', `${name}: entry of ${e.key.length}/${e.value.length} bytes does not fit key ${spec.keySize} / value ${spec.valueSize}`);
            const v = Buffer.alloc(spec.valueSize);
            Buffer.from(e.value).copy(v);
            inner.update(Buffer.from(e.key), v);
          }
          const outer = RawMap.open(join(dir, `${OUTER[name]}${GEN_SCHEMA_SUFFIX}`), 4, 4);
          try {
            const k = Buffer.alloc(4);
            k.writeUInt32LE(next);
            const v = Buffer.alloc(4);
            v.writeUInt32LE(inner.fd);
            outer.update(k, v);
          } finally {
            outer.close();
          }
        } finally {
          inner.close(); // the outer map holds it now
        }
      }
      return next;
    } finally {
      gen.close();
    }
  }

  private setGeneration(dir: string, next: number): void {
    const gen = RawMap.open(join(dir, `vg_gen${GEN_SCHEMA_SUFFIX}`), 4, 4);
    try {
      const v = Buffer.alloc(4);
      v.writeUInt32LE(next);
      gen.update(Buffer.alloc(4), v);
    } finally {
      gen.close();
    }
  }

  private writeNodeMaps(): void {
    // vg_host_ns: the namespaces of pid 1 by VG_NS_* (matchNamespaces host_ns); 0 where this kernel has none
    const hostNs = RawMap.open(join(this.nodeDir, `vg_host_ns${GEN_SCHEMA_SUFFIX}`), 4, 4);
    try {
      HOST_NS_FILES.forEach((f, i) => {
        let ino = 0;
        try {
          ino = Number(statSync(`/proc/1/ns/${f}`).ino);
        } catch {
          /* namespace kind not in this kernel */
        }
        const k = Buffer.alloc(4);
        k.writeUInt32LE(i);
        const v = Buffer.alloc(4);
        v.writeUInt32LE(ino >>> 0);
        hostNs.update(k, v);
      });
    } finally {
      hostNs.close();
    }
    const exempt = RawMap.open(join(this.nodeDir, `vg_exempt${GEN_SCHEMA_SUFFIX}`), 8, 1);
    try {
      for (const id of this.exempt) {
        const k = Buffer.alloc(8);
        k.writeBigUInt64LE(id);
        exempt.update(k, Buffer.alloc(1));
      }
    } finally {
      exempt.close();
    }
  }

  private writeBundleMeta(dir: string, hash: string): void {
    const path = join(dir, `vg_bundle${GEN_SCHEMA_SUFFIX}`);
    let m: RawMap;
    if (existsSync(path)) m = RawMap.open(path, 4, BUNDLE_META_BYTES);
    else {
      m = RawMap.create({ type: MapType.ARRAY, name: 'vg_bundle', keySize: 4, valueSize: BUNDLE_META_BYTES, maxEntries: 1 });
      m.pin(path);
    }
    try {
      const v = Buffer.alloc(BUNDLE_META_BYTES);
      v.write(hash, 0, 'ascii');
      m.update(Buffer.alloc(4), v);
    } finally {
      m.close();
    }
  }

  private pinnedHash(dir: string): string | undefined {
    const path = join(dir, `vg_bundle${GEN_SCHEMA_SUFFIX}`);
    if (!existsSync(path)) return undefined;
    try {
      const m = RawMap.open(path, 4, BUNDLE_META_BYTES);
      try {
        const v = m.lookup(Buffer.alloc(4));
        return v?.toString('ascii').replace(/\0+$/, '');
      } finally {
        m.close();
      }
    } catch {
      return undefined;
    }
  }

  /** Takes over the pins of a policy an earlier sensor applied with this same bundle. */
  private adopt(uid: string, dir: string, bundle: Bundle, statuses: HookStatus[]): PolicyState {
    this.writeNodeMaps();
    const linkPins = readdirSync(dir).filter((f) => f.startsWith('link_'));
    const state: PolicyState = { uid, dir, bundle, contentHash: bundle.version.contentHash, instances: [], linkPins, hooks: statuses, info: this.hookInfos(bundle), policyId: policyIdOf(bundle) };
    this.policies.set(uid, state);
    this.byPolicyId.set(state.policyId, state);
    return state;
  }

  private unpin(path: string): void {
    if (!existsSync(path)) return;
    try {
      const l = BpfLink.open(path);
      l.unpin();
      l.destroy();
    } catch {
      try {
        unlinkSync(path);
      } catch {
        /* gone */
      }
    }
  }

  private removePins(dir: string): void {
    if (!existsSync(dir)) return;
    for (const f of readdirSync(dir)) {
      if (f.startsWith('link_')) this.unpin(join(dir, f));
      else unlinkSync(join(dir, f));
    }
    rmdirSync(dir);
  }

  // ---- events ----

  private hookInfos(bundle: Bundle): Map<number, HookInfo> {
    const out = new Map<number, HookInfo>();
    for (const h of bundle.hooks) {
      const labels: Record<number, string> = {};
      const raw = (h.attach['args'] as Array<{ index: number; label?: string }> | undefined) ?? [];
      for (const a of raw) if (a.label) labels[a.index] = a.label;
      out.set(h.id, {
        policyName: bundle.policy.name,
        kind: h.kind,
        name: h.kind === 'kprobe' || h.kind === 'fentry' ? String(h.attach['call'] ?? h.targets[0] ?? '') : declaredHookName(h),
        labels,
        ...(h.message ? { message: h.message } : {}),
        ...(h.tags ? { tags: h.tags } : {}),
      });
    }
    return out;
  }

  private startReader(): void {
    if (this.reader) return;
    const path = join(this.nodeDir, `vg_events${GEN_SCHEMA_SUFFIX}`);
    if (!existsSync(path)) return;
    const fd = objGet(path);
    try {
      this.reader = new MappedRingBuffer(fd, this.opts.ringBytes ?? 4 * 1024 * 1024, (view, off, size) => this.onRecord(view, off, size), (err) => this.opts.onError?.(err));
    } catch (err) {
      closeFd(fd);
      throw err;
    }
    this.ringFd = fd;
    this.reader.start();
  }

  private ringFd = -1;

  private stopReader(): void {
    this.reader?.close();
    this.reader = undefined;
    if (this.ringFd >= 0) closeFd(this.ringFd);
    this.ringFd = -1;
  }

  private onRecord(view: RingView, off: number, size: number): void {
    if (!isHookRecord(view, off, size)) return;
    let rec: HookRecord;
    try {
      rec = decodeHookRecord(view, off, size);
    } catch (err) {
      this.decodeErrors++;
      this.opts.onError?.(err);
      return;
    }
    const state = this.byPolicyId.get(rec.policyId);
    const info = state?.info.get(rec.hookId);
    if (!info || !this.opts.onEvent) {
      this.dropped++;
      return;
    }
    const cache = this.opts.processes;
    const p = cache?.find(rec.execKtime, rec.pid) ?? cache?.byPidNow(rec.pid) ?? cache?.unknown(rec.pid, rec.tid, rec.execKtime) ?? bareProcess(rec);
    const timeNs = this.opts.clock ? this.opts.clock.wallNs(rec.ktime) : BigInt(Date.now()) * 1_000_000n;
    this.opts.onEvent(hookEventOf(rec, info, p, p.parent, timeNs));
  }
}

function missingBinary(bin: string): never {
  throw new LibbpfError('ATTACH_FAILED', `binary ${bin} does not exist`, 2);
}

/**
 * An LPM trie key holds at most 256 bytes after prefixlen, so the kernel's vg_prefix key (bpf/lib/generic.h) is
 * the bundle's first 260 bytes: set_id and 252 bytes of string, prefixlen clamped to them (longer prefixes are
 * compared on their first 252 bytes).
 */
const PREFIX_BYTES = 252;
const PREFIX_KEY_BYTES = 8 + PREFIX_BYTES;
function kernelPrefixEntry(e: { key: Uint8Array; value: Uint8Array }): { key: Uint8Array; value: Uint8Array } {
  const key = Buffer.from(e.key.subarray(0, PREFIX_KEY_BYTES));
  key.writeUInt32LE(Math.min(key.readUInt32LE(0), 32 + 8 * PREFIX_BYTES), 0);
  return { key, value: e.value };
}

/** Arg types bpf/lib/generic.h reads (vg_read_typed): a clause on any other type has no value to compare. */
const KERNEL_READ_ARG_TYPES: ReadonlySet<string> = new Set([
  'auto', 'int', 'sint8', 'int8', 'uint8', 'sint16', 'int16', 'uint16', 'uint32', 'sint32', 'int32', 'ulong', 'uint64',
  'size_t', 'long', 'sint64', 'int64', 'capability', 'syscall64', 'bpf_cmd', 'string', 'filename', 'data_loc',
  'char_buf', 'const_buf', 'fd', 'file', 'path', 'linux_binprm', 'sock', 'socket', 'sockaddr', 'cred', 'kernel_cap_t',
]);

/**
 * Clauses of hook `hookId` that bpf/lib/selector.h counts as `unsupported` and never matches (selector.h header:
 * state across hits it does not keep, arg types it does not read), described for a refusal reason.
 */
export function kernelUnsupportedClauses(bundle: Bundle, hookId: number): string[] {
  const prog = bundle.maps.vg_sel_prog.find((e) => u32(e.key) === hookId)?.value;
  if (!prog) return [];
  const out = new Set<string>();
  decodeSelectorProgram(prog).selectors.forEach((sel, i) => {
    for (const c of sel.clauses) {
      if (c.kind === 'namespace_changes') out.add(`matchNamespaceChanges (selector ${i})`);
      else if (c.kind === 'capability_changes') out.add(`matchCapabilityChanges (selector ${i})`);
      else if (c.arg && c.op === 'CapabilitiesGained') out.add(`the CapabilitiesGained operator (selector ${i})`);
      else if (c.arg && !KERNEL_READ_ARG_TYPES.has(c.arg.type)) out.add(`a ${c.kind} filter on an arg of type ${c.arg.type} (selector ${i})`.replace(/^a arg/, 'an arg'));
    }
  });
  return [...out];
}

/** Whether any selector of hook `hookId` has `action` in its action tables. */
function hasAction(bundle: Bundle, hookId: number, action: string): boolean {
  const prog = bundle.maps.vg_sel_prog.find((e) => u32(e.key) === hookId)?.value;
  if (!prog) return false;
  const tables = new Map(bundle.maps.vg_actions.map((e) => [u32(e.key), e.value]));
  return decodeSelectorProgram(prog).selectors.some((s) =>
    [s.actionTableId, s.returnActionTableId].some((id) => {
      const t = id === null ? undefined : tables.get(id);
      return t ? decodeActionTable(t).some((a) => a.action === action) : false;
    }),
  );
}


/** HOOK_CFG.policy_id: the first 4 bytes of every hook config (offset 8). */
function policyIdOf(bundle: Bundle): number {
  const first = bundle.maps.vg_hooks[0];
  return first ? u32(first.value, 8) : 0;
}

function bareProcess(rec: HookRecord): HookEvent['process'] {
  return {
    pid: rec.pid,
    tid: rec.tid,
    ppid: 0,
    ktime: rec.execKtime,
    parentKtime: 0n,
    binary: '',
    args: [rec.comm],
    cwd: '',
    uid: rec.uid,
    euid: rec.euid,
    gid: 0,
    egid: 0,
    auid: 0,
    cgroupId: rec.cgroupId,
    flags: 0,
    parent: undefined,
  } as unknown as HookEvent['process'];
}

function errorText(err: unknown): string {
  if (err instanceof LibbpfError) {
    const lines = err.libbpfLog.filter((l) => !l.startsWith('libbpf: elf:') && !l.startsWith('--') && !l.includes('failed to load object'));
    const verdict = lines.filter((l) => /processed \d+ insns|invalid|too (large|complex)|unknown func|not (allowed|modifiable|supported)|failed to (load|attach)/i.test(l)).slice(-2);
    const log = (verdict.length > 0 ? verdict : lines.slice(-2)).join(' | ');
    return `${err.message}: ${errnoName(err.errno)}${log ? ` (${log})` : ''}`;
  }
  return (err as Error).message;
}
