/**
 * Test harness for the in-kernel selector interpreter: loads bpf/.output/generic_selftest.bpf.o (or another
 * generic object), installs a compiled bundle into a configuration generation the way the production engine
 * does (inner maps per generation, then one vg_gen update), drives the hook body through BPF_PROG_TEST_RUN with
 * args the test controls, and reads back the hook events and counters. Test-only: the production loader is
 * generic/engine.ts.
 */
import { MAP_NAMES, type Bundle } from '@vigil/policy-schema';
import { EventType } from '../abi/layout.js';
import { GenericStats, HOOK_OFF, HOOK_SIZE } from '../abi/generic-layout.js';
import { BpfObject, RawMap, RingBufferReader, type BpfMap } from '../libbpf/index.js';
import koffi from 'koffi';
import { kernelKey, kernelMapSpec, kernelValue } from './kernel-abi.js';

export interface HookArgRecord {
  source: number;
  index: number;
  type: number;
  flags: number;
  data: Buffer;
}

export interface HookRecord {
  pid: number;
  tid: number;
  execKtime: bigint;
  cgroupId: bigint;
  policyId: number;
  hookId: number;
  selector: number;
  action: number;
  mechanism: number;
  flags: number;
  actions: number;
  suppressed: number;
  retval: bigint;
  overrideRet: number;
  signal: number;
  actionErr: number;
  syscallNr: number;
  generation: number;
  comm: string;
  args: HookArgRecord[];
}

/** Decodes one VG_EVENT_HOOK record (abi/generic.h). */
export function decodeHook(buf: Buffer): HookRecord | undefined {
  const o = HOOK_OFF.event;
  const at = (f: string): number => o[f] ?? 0;
  if (buf.length < HOOK_SIZE.argsOffset || buf.readUInt32LE(0) !== EventType.HOOK) return undefined;
  const slots = buf.readUInt8(at('slot_count'));
  const args: HookArgRecord[] = [];
  for (let i = 0; i < slots; i++) {
    const base = HOOK_SIZE.argsOffset + i * HOOK_SIZE.arg;
    const len = buf.readUInt16LE(base + (HOOK_OFF.arg['len'] ?? 0));
    const dataAt = base + (HOOK_OFF.arg['data'] ?? 0);
    args.push({
      source: buf.readUInt8(base),
      index: buf.readUInt8(base + 1),
      type: buf.readUInt8(base + 2),
      flags: buf.readUInt8(base + 3),
      data: Buffer.from(buf.subarray(dataAt, dataAt + len)),
    });
  }
  const comm = buf.subarray(at('comm'), at('comm') + 16);
  return {
    pid: buf.readUInt32LE(at('pid')),
    tid: buf.readUInt32LE(at('tid')),
    execKtime: buf.readBigUInt64LE(at('exec_ktime')),
    cgroupId: buf.readBigUInt64LE(at('cgroup_id')),
    policyId: buf.readUInt32LE(at('policy_id')),
    hookId: buf.readUInt32LE(at('hook_id')),
    selector: buf.readUInt8(at('selector')),
    action: buf.readUInt8(at('action')),
    mechanism: buf.readUInt8(at('mechanism')),
    flags: buf.readUInt32LE(at('flags')),
    actions: buf.readUInt32LE(at('actions')),
    suppressed: buf.readUInt32LE(at('suppressed')),
    retval: buf.readBigInt64LE(at('retval')),
    overrideRet: buf.readInt32LE(at('override_ret')),
    signal: buf.readInt32LE(at('signal')),
    actionErr: buf.readInt32LE(at('action_err')),
    syscallNr: buf.readInt32LE(at('syscall_nr')),
    generation: buf.readUInt8(at('generation')),
    comm: comm.subarray(0, Math.max(0, comm.indexOf(0))).toString('utf8'),
    args,
  };
}

export interface RunOptions {
  retval?: bigint;
  syscallNr?: number;
  isReturn?: boolean;
  canOverride?: boolean;
  /** run on this CPU (BPF_F_TEST_RUN_ON_CPU): tests of per-CPU scratch state need two hits on one CPU */
  cpu?: number;
}

/** A vg_procs entry to seed (struct vg_proc, abi/events.h). */
export interface ProcSeed {
  tgid: number;
  ppid: number;
  binary: string;
  execKtime?: bigint;
}

const U64 = 0xffffffffffffffffn;

export class GenericHarness implements Disposable {
  readonly obj: BpfObject;
  private readonly inner: RawMap[] = [];
  private readonly records: Buffer[] = [];
  private readonly reader: RingBufferReader;

  private constructor(obj: BpfObject) {
    this.obj = obj;
    this.reader = new RingBufferReader(obj.map('vg_events').fd, (data, size) => {
      this.records.push(Buffer.from(new Uint8Array(data, 0, size)));
    });
  }

  /** Opens and loads `objectPath`; `configure` runs before load (rodata, autoload). */
  static load(objectPath: string, configure?: (obj: BpfObject) => void): GenericHarness {
    const obj = BpfObject.open(objectPath);
    try {
      obj.map('vg_events').setMaxEntries(1 << 20);
      configure?.(obj);
      obj.load();
      return new GenericHarness(obj);
    } catch (e) {
      obj.close();
      throw e;
    }
  }

  /** Fills generation `gen`'s inner maps with the bundle's bytes, then switches vg_gen to it. */
  install(bundle: Bundle, gen: 0 | 1, switchNow = true): void {
    for (const name of MAP_NAMES) {
      const spec = kernelMapSpec(name);
      const m = RawMap.create({ type: spec.type, name: `${name}_g${gen}`, keySize: spec.keySize, valueSize: spec.valueSize, maxEntries: Math.max(16, bundle.maps[name].length), flags: spec.flags });
      this.inner.push(m);
      for (const e of bundle.maps[name]) m.update(kernelKey(name, e.key), kernelValue(name, e.value));
      const slot = Buffer.alloc(4);
      slot.writeUInt32LE(gen);
      const fd = Buffer.alloc(4);
      fd.writeUInt32LE(m.fd);
      this.obj.map(spec.outer).update(slot, fd);
    }
    if (switchNow) this.switchTo(gen);
  }

  switchTo(gen: 0 | 1): void {
    const v = Buffer.alloc(4);
    v.writeUInt32LE(gen);
    this.obj.map('vg_gen').update(Buffer.alloc(4), v);
  }

  seedProc(p: ProcSeed): void {
    const v = Buffer.alloc(288);
    v.writeBigUInt64LE(p.execKtime ?? 1n, 0);
    v.writeUInt32LE(p.ppid, 16);
    v.writeUInt32LE(1, 20);
    const bin = Buffer.from(p.binary);
    v.writeUInt32LE(bin.length, 24);
    bin.copy(v, 32);
    const k = Buffer.alloc(4);
    k.writeUInt32LE(p.tgid);
    this.obj.map('vg_procs').update(k, v);
  }

  dropProc(tgid: number): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(tgid);
    this.obj.map('vg_procs').delete(k);
  }

  exemptCgroup(id: bigint, on = true): void {
    const k = Buffer.alloc(8);
    k.writeBigUInt64LE(id);
    if (on) this.obj.map('vg_exempt').update(k, Buffer.from([1]));
    else this.obj.map('vg_exempt').delete(k);
  }

  setHostNs(kind: number, inum: number): void {
    const k = Buffer.alloc(4);
    k.writeUInt32LE(kind);
    const v = Buffer.alloc(4);
    v.writeUInt32LE(inum);
    this.obj.map('vg_host_ns').update(k, v);
  }

  /**
   * One hit of `hookId` with raw args (numbers, bigints, or Buffers passed by address: user memory of this
   * process). Returns the override value when the body asked for one, else undefined.
   */
  run(hookId: number, args: ReadonlyArray<number | bigint | Buffer>, o: RunOptions = {}): number | undefined {
    const ctx = Buffer.alloc(10 * 8);
    ctx.writeBigUInt64LE(BigInt(hookId), 0);
    const keep: Buffer[] = [];
    args.slice(0, 6).forEach((a, i) => {
      let v: bigint;
      if (Buffer.isBuffer(a)) {
        keep.push(a);
        v = BigInt(koffi.address(a) as bigint);
      } else v = BigInt(a) & U64;
      ctx.writeBigUInt64LE(v, 8 * (1 + i));
    });
    ctx.writeBigUInt64LE((o.retval ?? 0n) & U64, 56);
    ctx.writeBigUInt64LE(BigInt(o.syscallNr ?? -1) & U64, 64);
    ctx.writeBigUInt64LE(BigInt((o.isReturn ? 1 : 0) | (o.canOverride ? 2 : 0)), 72);
    const { retval } = this.obj.program('vg_selftest').testRun(ctx, o.cpu);
    void keep;
    return (retval & 0x80000000) === 0 ? undefined : ((retval << 1) | 0) >> 1;
  }

  /** Hook events written since the last call. */
  events(): HookRecord[] {
    this.reader.consume();
    const out = this.records.splice(0).map((r) => decodeHook(r));
    return out.filter((r): r is HookRecord => r !== undefined);
  }

  /** vg_gen_stats summed over CPUs. */
  stats(): Record<string, bigint> {
    const m: BpfMap = this.obj.map('vg_gen_stats');
    const raw = m.lookup(Buffer.alloc(4));
    const names = Object.keys(koffi.type(GenericStats).members ?? {});
    const per = Math.ceil(HOOK_SIZE.stats / 8) * 8;
    const out: Record<string, bigint> = Object.fromEntries(names.map((n) => [n, 0n]));
    if (!raw) return out;
    for (let cpu = 0; cpu * per < raw.length; cpu++) names.forEach((n, i) => (out[n] = (out[n] ?? 0n) + raw.readBigUInt64LE(cpu * per + 8 * i)));
    return out;
  }

  close(): void {
    this.reader.close();
    for (const m of this.inner.splice(0)) m.close();
    this.obj.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
