import koffi from 'koffi';
import { LibbpfError } from './errors.js';
import { BpfLink } from './link.js';
import { loadNative, type NativePtr } from './native.js';

/** A program of a BpfObject. Attach methods return links the caller owns. */
export class BpfProgram {
  private readonly ptr: NativePtr;
  readonly name: string;
  readonly section: string;

  constructor(ptr: NativePtr) {
    const b = loadNative().bpf;
    this.ptr = ptr;
    this.name = b.bpf_program__name(ptr);
    this.section = b.bpf_program__section_name(ptr);
  }

  get fd(): number {
    return loadNative().bpf.bpf_program__fd(this.ptr);
  }

  /** Before load: whether this program is loaded with its object. */
  setAutoload(on: boolean): void {
    const err = loadNative().bpf.bpf_program__set_autoload(this.ptr, on);
    if (err < 0) throw new LibbpfError('OBJECT_LOAD_FAILED', `cannot set autoload of ${this.name}`, -err);
  }

  /**
   * Before load: the program type and expected attach type (enum bpf_prog_type / bpf_attach_type numbers), for
   * sections this libbpf does not know (libbpf 1.1 predates cgroup/connect_unix).
   */
  setType(progType: number, expectedAttachType: number): void {
    const b = loadNative().bpf;
    let err = b.bpf_program__set_type(this.ptr, progType);
    if (err >= 0) err = b.bpf_program__set_expected_attach_type(this.ptr, expectedAttachType);
    if (err < 0) throw new LibbpfError('OBJECT_LOAD_FAILED', `cannot set the type of ${this.name}`, -err);
  }

  /** Attaches as the section name says (tp_btf/…, raw_tp/…, kprobe/…, lsm/…, fentry/…, iter/…). */
  attach(): BpfLink {
    return this.wrap(`${this.section}`, (b) => b.bpf_program__attach(this.ptr));
  }

  attachTracepoint(category: string, name: string): BpfLink {
    return this.wrap(`tracepoint/${category}/${name}`, (b) => b.bpf_program__attach_tracepoint(this.ptr, category, name));
  }

  attachRawTracepoint(name: string): BpfLink {
    return this.wrap(`raw_tp/${name}`, (b) => b.bpf_program__attach_raw_tracepoint(this.ptr, name));
  }

  attachKprobe(func: string, retprobe = false): BpfLink {
    return this.wrap(`${retprobe ? 'kretprobe' : 'kprobe'}/${func}`, (b) => b.bpf_program__attach_kprobe(this.ptr, retprobe, func));
  }

  /** fentry/fexit/fmod_ret/tp_btf: the target comes from the section. */
  attachTrace(): BpfLink {
    return this.wrap(this.section, (b) => b.bpf_program__attach_trace(this.ptr));
  }

  attachLsm(): BpfLink {
    return this.wrap(this.section, (b) => b.bpf_program__attach_lsm(this.ptr));
  }

  attachCgroup(cgroupFd: number): BpfLink {
    return this.wrap(`${this.section} on cgroup fd ${cgroupFd}`, (b) => b.bpf_program__attach_cgroup(this.ptr, cgroupFd));
  }

  attachIter(): BpfLink {
    return this.wrap(this.section, (b) => b.bpf_program__attach_iter(this.ptr, null));
  }

  /** kprobe / kretprobe with a BPF cookie the program reads with bpf_get_attach_cookie(). */
  attachKprobeOpts(func: string, o: { cookie?: bigint; retprobe?: boolean } = {}): BpfLink {
    // struct bpf_kprobe_opts { size_t sz; __u64 bpf_cookie; size_t offset; bool retprobe; }
    const opts = Buffer.alloc(32);
    opts.writeBigUInt64LE(32n, 0);
    opts.writeBigUInt64LE(o.cookie ?? 0n, 8);
    opts.writeUInt8(o.retprobe ? 1 : 0, 24);
    return this.wrap(`${o.retprobe ? 'kretprobe' : 'kprobe'}/${func}`, (b) => b.bpf_program__attach_kprobe_opts(this.ptr, func, opts));
  }

  /** Classic tracepoint with a BPF cookie. */
  attachTracepointOpts(category: string, name: string, cookie: bigint): BpfLink {
    const opts = Buffer.alloc(16); // struct bpf_tracepoint_opts { size_t sz; __u64 bpf_cookie; }
    opts.writeBigUInt64LE(16n, 0);
    opts.writeBigUInt64LE(cookie, 8);
    return this.wrap(`tracepoint/${category}/${name}`, (b) => b.bpf_program__attach_tracepoint_opts(this.ptr, category, name, opts));
  }

  /** fentry / fexit / fmod_ret / tp_btf / lsm (BTF target set at load) with a BPF cookie. */
  attachTraceOpts(cookie: bigint): BpfLink {
    const opts = Buffer.alloc(16); // struct bpf_trace_opts { size_t sz; __u64 cookie; }
    opts.writeBigUInt64LE(16n, 0);
    opts.writeBigUInt64LE(cookie, 8);
    return this.wrap(this.section, (b) => b.bpf_program__attach_trace_opts(this.ptr, opts));
  }

  /** Before load: the BTF function (fentry/fexit/fmod_ret), LSM hook (lsm: the name without bpf_lsm_) or tracepoint (tp_btf) this program attaches to. */
  setAttachTarget(funcName: string): void {
    const n = loadNative();
    const mark = n.log.begin();
    const err = n.bpf.bpf_program__set_attach_target(this.ptr, 0, funcName);
    if (err < 0) throw new LibbpfError('ATTACH_FAILED', `cannot set the attach target of ${this.name} to ${funcName}`, -err, n.log.since(mark));
  }

  /** Attaches to `funcName` (a symbol of `binary`) or to a raw offset; pid -1 means every process. */
  attachUprobe(binary: string, target: { funcName: string } | { offset: number }, options: { pid?: number; retprobe?: boolean } = {}): BpfLink {
    // struct bpf_uprobe_opts { size_t sz; size_t ref_ctr_offset; u64 bpf_cookie; bool retprobe; const char *func_name; }
    const opts = Buffer.alloc(40);
    opts.writeBigUInt64LE(40n, 0);
    opts.writeUInt8(options.retprobe ? 1 : 0, 24);
    let nameBuf: Buffer | undefined;
    if ('funcName' in target) {
      nameBuf = Buffer.from(`${target.funcName}\0`);
      opts.writeBigUInt64LE(BigInt(koffi.address(nameBuf)), 32);
    }
    const offset = 'offset' in target ? target.offset : 0;
    const link = this.wrap(`uprobe ${binary}:${'funcName' in target ? target.funcName : offset}`, (b) =>
      b.bpf_program__attach_uprobe_opts(this.ptr, options.pid ?? -1, binary, offset, opts),
    );
    void nameBuf; // kept alive across the call above
    return link;
  }

  /**
   * Attaches a `SEC("usdt")` program to the USDT probe provider:name of `binary` (every location libbpf finds in
   * the ELF .note.stapsdt notes; argument specs go into the object's usdt.bpf.h maps).
   */
  attachUsdt(binary: string, provider: string, name: string, options: { pid?: number } = {}): BpfLink {
    return this.wrap(`usdt ${binary}:${provider}:${name}`, (b) => b.bpf_program__attach_usdt(this.ptr, options.pid ?? -1, binary, provider, name, null));
  }

  /**
   * Runs the program once through BPF_PROG_TEST_RUN with `ctx` as its context (raw_tp: the u64 args), on `cpu`
   * when given. Returns the program's return value and the kernel's run time in ns.
   */
  testRun(ctx: Buffer, cpu?: number): { retval: number; durationNs: number } {
    // struct bpf_test_run_opts (libbpf 1.x): sz@0 data_in@8 data_out@16 data_size_in@24 data_size_out@28
    // ctx_in@32 ctx_out@40 ctx_size_in@48 ctx_size_out@52 retval@56 repeat@60 duration@64 flags@68 cpu@72
    const opts = Buffer.alloc(80);
    opts.writeBigUInt64LE(80n, 0);
    opts.writeBigUInt64LE(BigInt(koffi.address(ctx)), 32);
    opts.writeUInt32LE(ctx.length, 48);
    if (cpu !== undefined) {
      opts.writeUInt32LE(1 /* BPF_F_TEST_RUN_ON_CPU */, 68);
      opts.writeUInt32LE(cpu, 72);
    }
    const n = loadNative();
    const ret = n.bpf.bpf_prog_test_run_opts(this.fd, opts);
    if (ret < 0) throw new LibbpfError('SYSCALL_FAILED', `test run of ${this.name} failed`, -ret);
    return { retval: opts.readUInt32LE(56), durationNs: opts.readUInt32LE(64) };
  }

  private wrap(what: string, attach: (b: ReturnType<typeof loadNative>['bpf']) => NativePtr | null): BpfLink {
    const n = loadNative();
    const mark = n.log.begin();
    const ptr = attach(n.bpf);
    if (!ptr) {
      throw new LibbpfError('ATTACH_FAILED', `cannot attach ${this.name} (${what})`, n.errno(), n.log.since(mark));
    }
    return new BpfLink(ptr, `${this.name} → ${what}`);
  }
}
