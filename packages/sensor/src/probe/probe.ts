/**
 * The kernel capability probe behind `vigil-sensor probe` and the mechanism choice per node. Program types are
 * decided by loading AND attaching a no-op program of that type (bpf/progs/probe.bpf.c): this kernel lists `bpf`
 * among its active LSMs yet refuses LSM programs, and loads kprobe programs it cannot attach.
 */
import { existsSync, mkdirSync, openSync, closeSync, readFileSync, rmdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { CGROUP2_SUPER_MAGIC, TRACEFS_MAGIC, fsType, isBpffs } from '../fs-magic.js';
import { BpfObject, LibbpfError, errnoName, loadNative, type BpfLink, type BpfProgram } from '../libbpf/index.js';

export type CapabilityId =
  | 'btf'
  | 'bpffs'
  | 'tracefs'
  | 'cgroup_v2'
  | 'tp_btf'
  | 'raw_tp'
  | 'tracepoint'
  | 'kprobe'
  | 'kprobe_override'
  | 'trampoline'
  | 'lsm_bpf'
  | 'cgroup_sock'
  | 'connect_unix'
  | 'task_iter'
  | 'uprobe'
  | 'ringbuf'
  | 'send_signal'
  | 'fanotify';

export interface Capability {
  id: CapabilityId;
  description: string;
  available: boolean;
  /** why not, or what was found */
  detail: string;
}

export interface ProbeOptions {
  probeObject: string;
  bpffs?: string;
  cgroupV2?: string;
}


/** The cgroup v2 mount: /sys/fs/cgroup on unified hosts, /sys/fs/cgroup/unified on hybrid ones. */
export function findCgroupV2Mount(): string | undefined {
  for (const p of ['/sys/fs/cgroup', '/sys/fs/cgroup/unified']) if (fsType(p) === CGROUP2_SUPER_MAGIC) return p;
  return undefined;
}

function errorText(err: unknown): string {
  if (err instanceof LibbpfError) {
    const useful = err.libbpfLog.filter((l) => !l.startsWith('libbpf: elf:') && !l.includes('failed to load object') && !l.startsWith('--'));
    const last = useful.filter((l) => l.includes("prog '")).slice(-1)[0] ?? useful.slice(-1)[0];
    const phase = err.code === 'ATTACH_FAILED' ? 'attach' : 'load';
    return `${phase} failed: ${errnoName(err.errno)}${last ? ` (${last.trim()})` : ''}`;
  }
  return (err as Error).message;
}

function libcPath(): string | undefined {
  try {
    const maps = readFileSync('/proc/self/maps', 'utf8');
    const m = /\s(\/\S*libc\.so\.6)$/m.exec(maps);
    return m?.[1];
  } catch {
    return undefined;
  }
}

/** Loads only `progName` from the probe object and attaches it with `attach`. */
function tryProgram(objectPath: string, progName: string, attach: (p: BpfProgram) => BpfLink, prepare?: (p: BpfProgram) => void): { ok: boolean; detail: string } {
  let obj: BpfObject | undefined;
  let link: BpfLink | undefined;
  try {
    obj = BpfObject.open(objectPath);
    for (const p of obj.programs()) p.setAutoload(p.name === progName);
    if (prepare) prepare(obj.program(progName));
    obj.load();
    link = attach(obj.program(progName));
    return { ok: true, detail: 'loaded and attached' };
  } catch (err) {
    return { ok: false, detail: errorText(err) };
  } finally {
    link?.destroy();
    obj?.close();
  }
}

export function probeKernel(options: ProbeOptions): Capability[] {
  const caps: Capability[] = [];
  const add = (id: CapabilityId, description: string, available: boolean, detail: string) =>
    caps.push({ id, description, available, detail });

  const btf = existsSync('/sys/kernel/btf/vmlinux');
  add('btf', 'kernel BTF (CO-RE)', btf, btf ? '/sys/kernel/btf/vmlinux' : 'no /sys/kernel/btf/vmlinux: kernel built without CONFIG_DEBUG_INFO_BTF');
  const bpffs = options.bpffs ?? '/sys/fs/bpf';
  const bpffsOk = isBpffs(bpffs);
  add('bpffs', 'bpffs mounted (pinning)', bpffsOk, bpffsOk ? bpffs : `not mounted; run: mount -t bpf bpf ${bpffs}`);
  const tracefsOk = fsType('/sys/kernel/tracing') === TRACEFS_MAGIC;
  add('tracefs', 'tracefs mounted (tracepoint formats)', tracefsOk, tracefsOk ? '/sys/kernel/tracing' : 'not mounted; run: mount -t tracefs tracefs /sys/kernel/tracing');
  const cg2 = options.cgroupV2 ?? findCgroupV2Mount();
  add('cgroup_v2', 'cgroup v2 hierarchy', cg2 !== undefined, cg2 ?? 'no cgroup2 mount at /sys/fs/cgroup or /sys/fs/cgroup/unified');

  if (!btf) return caps;
  const obj = options.probeObject;
  if (!existsSync(obj)) {
    throw new LibbpfError('OBJECT_OPEN_FAILED', `probe object ${obj} is missing; build it with: make -C bpf`, 2);
  }
  const prog = (id: CapabilityId, description: string, name: string, attach: (p: BpfProgram) => BpfLink) => {
    const r = tryProgram(obj, name, attach);
    add(id, description, r.ok, r.detail);
  };
  prog('tp_btf', 'BTF tracepoints (tp_btf)', 'vg_probe_tp_btf', (p) => p.attachTrace());
  prog('raw_tp', 'raw tracepoints', 'vg_probe_raw_tp', (p) => p.attachRawTracepoint('sys_enter'));
  prog('tracepoint', 'tracefs tracepoints', 'vg_probe_tracepoint', (p) => p.attachTracepoint('syscalls', 'sys_enter_getppid'));
  prog('kprobe', 'kprobes', 'vg_probe_kprobe', (p) => p.attachKprobe('do_sys_openat2'));
  prog('kprobe_override', 'kprobe override (bpf_override_return)', 'vg_probe_kprobe_override', (p) => p.attachKprobe('__x64_sys_getppid'));
  prog('trampoline', 'BPF trampolines (fentry/fexit/fmod_ret)', 'vg_probe_fentry', (p) => p.attachTrace());
  let lsmList: string | undefined;
  try {
    lsmList = readFileSync('/sys/kernel/security/lsm', 'utf8').trim();
  } catch {
    lsmList = undefined;
  }
  {
    // A kernel built with BPF LSM but booted without `bpf` in lsm= loads and attaches LSM programs and then never
    // calls them: only load + attach + `bpf` in the active list counts.
    const r = tryProgram(obj, 'vg_probe_lsm', (p) => p.attachLsm());
    const active = lsmList?.split(',').includes('bpf') ?? false;
    const list = lsmList === undefined ? 'active LSMs unknown (mount securityfs: mount -t securityfs securityfs /sys/kernel/security)' : `active LSMs: ${lsmList}`;
    const detail = r.ok && !active ? `attached, but the kernel never calls it: bpf is not an active LSM (boot with bpf in lsm=); ${list}` : `${r.detail}; ${list}`;
    add('lsm_bpf', 'BPF LSM programs', r.ok && active, detail);
  }
  if (cg2) {
    const dir = join(cg2, `vigil-probe-${process.pid}`);
    let fd = -1;
    try {
      mkdirSync(dir, { recursive: true });
      fd = openSync(dir, 'r');
      const cgfd = fd;
      const a = tryProgram(obj, 'vg_probe_cgroup_connect4', (p) => p.attachCgroup(cgfd));
      const b = a.ok ? tryProgram(obj, 'vg_probe_cgroup_sock_create', (p) => p.attachCgroup(cgfd)) : a;
      add('cgroup_sock', 'cgroup socket hooks (connect4/6, sock_create)', a.ok && b.ok, a.ok && b.ok ? `attached on ${cg2}` : b.detail);
      // cgroup/connect_unix (kernel >= 6.7) lives in unix_deny.bpf.o; libbpf 1.1 does not know its section name.
      const unixObj = join(dirname(obj), 'unix_deny.bpf.o');
      const u = existsSync(unixObj)
        ? tryProgram(unixObj, 'vg_connect_unix', (p) => p.attachCgroup(cgfd), (p) => p.setType(18 /* CGROUP_SOCK_ADDR */, 49 /* CGROUP_UNIX_CONNECT */))
        : { ok: false, detail: `${unixObj} is missing; build it with: make -C bpf` };
      add('connect_unix', 'cgroup/connect_unix (unix socket connect deny, kernel >= 6.7)', u.ok, u.ok ? `attached on ${cg2}` : u.detail);
    } catch (err) {
      add('cgroup_sock', 'cgroup socket hooks (connect4/6, sock_create)', false, (err as Error).message);
      add('connect_unix', 'cgroup/connect_unix (unix socket connect deny, kernel >= 6.7)', false, (err as Error).message);
    } finally {
      if (fd >= 0) closeSync(fd);
      try {
        rmdirSync(dir);
      } catch {
        /* already gone */
      }
    }
  } else {
    add('cgroup_sock', 'cgroup socket hooks (connect4/6, sock_create)', false, 'no cgroup v2 hierarchy');
    add('connect_unix', 'cgroup/connect_unix (unix socket connect deny, kernel >= 6.7)', false, 'no cgroup v2 hierarchy');
  }
  prog('task_iter', 'BPF task iterators', 'vg_probe_task_iter', (p) => p.attachIter());
  const libc = libcPath();
  if (libc) prog('uprobe', 'uprobes', 'vg_probe_uprobe', (p) => p.attachUprobe(libc, { funcName: 'getpid' }, { pid: process.pid }));
  else add('uprobe', 'uprobes', false, 'libc not found in /proc/self/maps');
  prog('ringbuf', 'BPF ring buffer', 'vg_probe_ringbuf', (p) => p.attachRawTracepoint('sys_exit'));
  prog('send_signal', 'bpf_send_signal (kill from BPF)', 'vg_probe_send_signal', (p) => p.attachTrace());

  const FAN_CLOEXEC = 0x1;
  const FAN_CLASS_CONTENT = 0x4;
  const fan = loadNative().libc.fanotify_init(FAN_CLOEXEC | FAN_CLASS_CONTENT, 0);
  if (fan >= 0) {
    loadNative().libc.close(fan);
    add('fanotify', 'fanotify permission events', true, 'fanotify_init(FAN_CLASS_CONTENT) succeeded');
  } else {
    add('fanotify', 'fanotify permission events', false, `fanotify_init failed: ${errnoName(loadNative().errno())}`);
  }
  return caps;
}

export function formatCapabilityTable(caps: readonly Capability[]): string {
  const w1 = Math.max(...caps.map((c) => c.id.length), 10);
  const w2 = Math.max(...caps.map((c) => c.description.length), 11);
  const lines = [`${'CAPABILITY'.padEnd(w1)}  ${'DESCRIPTION'.padEnd(w2)}  AVAILABLE  DETAIL`];
  for (const c of caps) lines.push(`${c.id.padEnd(w1)}  ${c.description.padEnd(w2)}  ${(c.available ? 'yes' : 'no').padEnd(9)}  ${c.detail}`);
  return lines.join('\n');
}
