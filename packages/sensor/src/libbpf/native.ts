/**
 * The raw koffi bindings of libbpf.so.1 and the few libc calls the sensor needs. Loaded lazily on first use (no
 * import-time side effects), once per process. Everything above this file uses the typed wrappers in object.ts,
 * map.ts, link.ts and ringbuf.ts, never these functions directly.
 */
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { LibbpfError } from './errors.js';

/** Opaque native pointers as koffi hands them out. */
export type NativePtr = object;

const LOG_CAPACITY = 400;

/**
 * libbpf's recent messages (its print callback), kept so errors can say what libbpf said. Positions are
 * absolute line numbers, so a capture window stays right while old lines are dropped.
 */
export class LibbpfLog {
  private lines: string[] = [];
  /** absolute number of lines[0] */
  private first = 0;
  push(line: string): void {
    this.lines.push(line);
    if (this.lines.length > LOG_CAPACITY) {
      const drop = this.lines.length - LOG_CAPACITY;
      this.lines.splice(0, drop);
      this.first += drop;
    }
  }
  /** Starts a capture window; since() returns the lines printed after it (as many as are still kept). */
  begin(): number {
    return this.first + this.lines.length;
  }
  since(mark: number): string[] {
    return this.lines.slice(Math.max(0, mark - this.first));
  }
}

function declare(lib: LibraryHandle, sampleFn: TypeObject, printFn: TypeObject) {
  const f = <T extends (...args: never[]) => unknown>(sig: string) => lib.func(sig) as unknown as T;
  const g = <T extends (...args: never[]) => unknown>(name: string, ret: string, args: Array<string | TypeObject>) =>
    lib.func(name, ret, args) as unknown as T;
  return {
    libbpf_major_version: f<() => number>('uint32_t libbpf_major_version()'),
    libbpf_minor_version: f<() => number>('uint32_t libbpf_minor_version()'),
    libbpf_num_possible_cpus: f<() => number>('int libbpf_num_possible_cpus()'),
    libbpf_strerror: f<(err: number, buf: Buffer, size: number) => number>('int libbpf_strerror(int err, _Out_ uint8_t *buf, size_t size)'),

    bpf_object__open_file: f<(path: string, opts: null) => NativePtr | null>('void *bpf_object__open_file(str path, void *opts)'),
    bpf_object__load: f<(obj: NativePtr) => number>('int bpf_object__load(void *obj)'),
    bpf_object__close: f<(obj: NativePtr) => void>('void bpf_object__close(void *obj)'),
    bpf_object__next_program: f<(obj: NativePtr, prev: NativePtr | null) => NativePtr | null>('void *bpf_object__next_program(void *obj, void *prev)'),
    bpf_object__next_map: f<(obj: NativePtr, prev: NativePtr | null) => NativePtr | null>('void *bpf_object__next_map(void *obj, void *prev)'),

    bpf_program__name: f<(p: NativePtr) => string>('str bpf_program__name(void *prog)'),
    bpf_program__section_name: f<(p: NativePtr) => string>('str bpf_program__section_name(void *prog)'),
    bpf_program__fd: f<(p: NativePtr) => number>('int bpf_program__fd(void *prog)'),
    bpf_program__type: f<(p: NativePtr) => number>('int bpf_program__type(void *prog)'),
    bpf_program__set_autoload: f<(p: NativePtr, on: boolean) => number>('int bpf_program__set_autoload(void *prog, bool autoload)'),
    bpf_program__set_type: f<(p: NativePtr, type: number) => number>('int bpf_program__set_type(void *prog, int type)'),
    bpf_program__set_expected_attach_type: f<(p: NativePtr, type: number) => number>('int bpf_program__set_expected_attach_type(void *prog, int type)'),
    bpf_program__attach: f<(p: NativePtr) => NativePtr | null>('void *bpf_program__attach(void *prog)'),
    bpf_program__attach_tracepoint: f<(p: NativePtr, cat: string, name: string) => NativePtr | null>('void *bpf_program__attach_tracepoint(void *prog, str cat, str name)'),
    bpf_program__attach_raw_tracepoint: f<(p: NativePtr, name: string) => NativePtr | null>('void *bpf_program__attach_raw_tracepoint(void *prog, str name)'),
    bpf_program__attach_kprobe: f<(p: NativePtr, ret: boolean, func: string) => NativePtr | null>('void *bpf_program__attach_kprobe(void *prog, bool retprobe, str func)'),
    bpf_program__attach_trace: f<(p: NativePtr) => NativePtr | null>('void *bpf_program__attach_trace(void *prog)'),
    bpf_program__attach_lsm: f<(p: NativePtr) => NativePtr | null>('void *bpf_program__attach_lsm(void *prog)'),
    bpf_program__attach_cgroup: f<(p: NativePtr, cgroupFd: number) => NativePtr | null>('void *bpf_program__attach_cgroup(void *prog, int cgroup_fd)'),
    bpf_program__attach_iter: f<(p: NativePtr, opts: null) => NativePtr | null>('void *bpf_program__attach_iter(void *prog, void *opts)'),
    bpf_program__attach_usdt: f<(p: NativePtr, pid: number, binary: string, provider: string, name: string, opts: Buffer | null) => NativePtr | null>('void *bpf_program__attach_usdt(void *prog, int pid, str binary, str provider, str name, const uint8_t *opts)'),
    bpf_program__attach_uprobe_opts: f<(p: NativePtr, pid: number, binary: string, offset: number, opts: Buffer) => NativePtr | null>('void *bpf_program__attach_uprobe_opts(void *prog, int pid, str binary, size_t offset, const uint8_t *opts)'),
    // attach with a BPF cookie (bpf_get_attach_cookie) and BTF targets: the generic hook engine (generic/)
    bpf_program__attach_kprobe_opts: f<(p: NativePtr, func: string, opts: Buffer) => NativePtr | null>('void *bpf_program__attach_kprobe_opts(void *prog, str func, const uint8_t *opts)'),
    bpf_program__attach_tracepoint_opts: f<(p: NativePtr, cat: string, name: string, opts: Buffer) => NativePtr | null>('void *bpf_program__attach_tracepoint_opts(void *prog, str cat, str name, const uint8_t *opts)'),
    bpf_program__attach_trace_opts: f<(p: NativePtr, opts: Buffer) => NativePtr | null>('void *bpf_program__attach_trace_opts(void *prog, const uint8_t *opts)'),
    bpf_program__set_attach_target: f<(p: NativePtr, fd: number, name: string | null) => number>('int bpf_program__set_attach_target(void *prog, int attach_prog_fd, str attach_func_name)'),
    bpf_map__set_initial_value: f<(m: NativePtr, data: Buffer, size: number) => number>('int bpf_map__set_initial_value(void *map, const uint8_t *data, size_t size)'),
    bpf_map_create: f<(type: number, name: string | null, keySize: number, valueSize: number, maxEntries: number, opts: Buffer) => number>('int bpf_map_create(int map_type, str map_name, uint32_t key_size, uint32_t value_size, uint32_t max_entries, const uint8_t *opts)'),

    bpf_link__fd: f<(l: NativePtr) => number>('int bpf_link__fd(void *link)'),
    bpf_link__pin: f<(l: NativePtr, path: string) => number>('int bpf_link__pin(void *link, str path)'),
    bpf_link__unpin: f<(l: NativePtr) => number>('int bpf_link__unpin(void *link)'),
    bpf_link__destroy: f<(l: NativePtr) => number>('int bpf_link__destroy(void *link)'),
    bpf_link__disconnect: f<(l: NativePtr) => void>('void bpf_link__disconnect(void *link)'),
    bpf_link__open: f<(path: string) => NativePtr | null>('void *bpf_link__open(str path)'),
    bpf_link__update_program: f<(l: NativePtr, prog: NativePtr) => number>('int bpf_link__update_program(void *link, void *prog)'),

    bpf_map__name: f<(m: NativePtr) => string>('str bpf_map__name(void *map)'),
    bpf_map__fd: f<(m: NativePtr) => number>('int bpf_map__fd(void *map)'),
    bpf_map__type: f<(m: NativePtr) => number>('int bpf_map__type(void *map)'),
    bpf_map__key_size: f<(m: NativePtr) => number>('uint32_t bpf_map__key_size(void *map)'),
    bpf_map__value_size: f<(m: NativePtr) => number>('uint32_t bpf_map__value_size(void *map)'),
    bpf_map__max_entries: f<(m: NativePtr) => number>('uint32_t bpf_map__max_entries(void *map)'),
    bpf_map__set_max_entries: f<(m: NativePtr, n: number) => number>('int bpf_map__set_max_entries(void *map, uint32_t n)'),
    bpf_map__set_pin_path: f<(m: NativePtr, path: string | null) => number>('int bpf_map__set_pin_path(void *map, str path)'),
    bpf_map__is_pinned: f<(m: NativePtr) => boolean>('bool bpf_map__is_pinned(void *map)'),
    bpf_map__pin: f<(m: NativePtr, path: string | null) => number>('int bpf_map__pin(void *map, str path)'),
    bpf_map__unpin: f<(m: NativePtr, path: string | null) => number>('int bpf_map__unpin(void *map, str path)'),
    bpf_map__reuse_fd: f<(m: NativePtr, fd: number) => number>('int bpf_map__reuse_fd(void *map, int fd)'),
    bpf_map__initial_value: f<(m: NativePtr, size: Buffer) => NativePtr | null>('void *bpf_map__initial_value(void *map, _Out_ size_t *psize)'),

    bpf_map_lookup_elem: f<(fd: number, key: Buffer, value: Buffer) => number>('int bpf_map_lookup_elem(int fd, const uint8_t *key, _Inout_ uint8_t *value)'),
    bpf_map_update_elem: f<(fd: number, key: Buffer, value: Buffer, flags: bigint) => number>('int bpf_map_update_elem(int fd, const uint8_t *key, const uint8_t *value, uint64_t flags)'),
    bpf_map_delete_elem: f<(fd: number, key: Buffer) => number>('int bpf_map_delete_elem(int fd, const uint8_t *key)'),
    bpf_map_get_next_key: f<(fd: number, key: Buffer | null, next: Buffer) => number>('int bpf_map_get_next_key(int fd, const uint8_t *key, _Inout_ uint8_t *next)'),
    bpf_map_lookup_batch: f<(fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: Buffer, opts: null) => number>('int bpf_map_lookup_batch(int fd, uint8_t *in_batch, _Inout_ uint8_t *out_batch, _Inout_ uint8_t *keys, _Inout_ uint8_t *values, _Inout_ uint32_t *count, void *opts)'),
    bpf_map_update_batch: f<(fd: number, keys: Buffer, values: Buffer, count: Buffer, opts: null) => number>('int bpf_map_update_batch(int fd, const uint8_t *keys, const uint8_t *values, _Inout_ uint32_t *count, void *opts)'),
    bpf_map_delete_batch: f<(fd: number, keys: Buffer, count: Buffer, opts: null) => number>('int bpf_map_delete_batch(int fd, const uint8_t *keys, _Inout_ uint32_t *count, void *opts)'),

    bpf_prog_test_run_opts: f<(progFd: number, opts: Buffer) => number>('int bpf_prog_test_run_opts(int prog_fd, _Inout_ uint8_t *opts)'),
    bpf_obj_pin: f<(fd: number, path: string) => number>('int bpf_obj_pin(int fd, str path)'),
    bpf_obj_get: f<(path: string) => number>('int bpf_obj_get(str path)'),
    bpf_iter_create: f<(linkFd: number) => number>('int bpf_iter_create(int link_fd)'),

    ring_buffer__new: g<(mapFd: number, cb: unknown, ctx: null, opts: null) => NativePtr | null>('ring_buffer__new', 'void *', ['int', koffi.pointer(sampleFn), 'void *', 'void *']),
    ring_buffer__add: g<(rb: NativePtr, mapFd: number, cb: unknown, ctx: null) => number>('ring_buffer__add', 'int', ['void *', 'int', koffi.pointer(sampleFn), 'void *']),
    ring_buffer__consume: f<(rb: NativePtr) => number>('int ring_buffer__consume(void *rb)'),
    ring_buffer__poll: f<(rb: NativePtr, timeoutMs: number) => number>('int ring_buffer__poll(void *rb, int timeout_ms)'),
    ring_buffer__epoll_fd: f<(rb: NativePtr) => number>('int ring_buffer__epoll_fd(void *rb)'),
    ring_buffer__free: f<(rb: NativePtr) => void>('void ring_buffer__free(void *rb)'),

    libbpf_set_print: g<(fn: unknown) => unknown>('libbpf_set_print', 'void *', [koffi.pointer(printFn)]),
  };
}

function declareLibc(lib: LibraryHandle) {
  const f = <T extends (...args: never[]) => unknown>(sig: string) => lib.func(sig) as unknown as T;
  return {
    close: f<(fd: number) => number>('int close(int fd)'),
    vsnprintf: f<(buf: Buffer, size: number, fmt: string, args: NativePtr) => number>('int vsnprintf(_Out_ uint8_t *buf, size_t size, str fmt, void *args)'),
    fanotify_init: f<(flags: number, eventFlags: number) => number>('int fanotify_init(unsigned int flags, unsigned int event_f_flags)'),
    getpid: f<() => number>('int getpid()'),
    mmap: f<(addr: null, len: number, prot: number, flags: number, fd: number, off: number) => NativePtr | null>('void *mmap(void *addr, size_t len, int prot, int flags, int fd, int64_t off)'),
    munmap: f<(addr: NativePtr, len: number) => number>('int munmap(void *addr, size_t len)'),
    sysconf: f<(name: number) => number>('long sysconf(int name)'),
  };
}

export type LibbpfNative = ReturnType<typeof declare>;

// Anonymous prototypes: koffi's type names are process-wide and could not be declared twice.
function prototypes() {
  return {
    sampleFn: koffi.proto('int', ['void *', 'void *', 'size_t']),
    printFn: koffi.proto('int', ['int', 'str', 'void *']),
  };
}
export type LibcNative = ReturnType<typeof declareLibc>;

export interface Native {
  readonly bpf: LibbpfNative;
  readonly libc: LibcNative;
  readonly log: LibbpfLog;
  readonly RingBufferSampleFn: TypeObject;
  /** errno of the last native call on this thread. */
  errno(): number;
}

let native: Native | undefined;

/** Loads libbpf.so.1 (once). Throws LIBBPF_UNAVAILABLE with the fix when it is missing. */
export function loadNative(): Native {
  if (native) return native;
  let lib: LibraryHandle;
  let libc: LibraryHandle;
  try {
    lib = koffi.load('libbpf.so.1');
    libc = koffi.load('libc.so.6');
  } catch (err) {
    throw new LibbpfError(
      'LIBBPF_UNAVAILABLE',
      `cannot load libbpf.so.1 (${(err as Error).message}); install it with: apt-get install libbpf1 libbpf-dev`,
    );
  }
  const { sampleFn: RingBufferSampleFn, printFn } = prototypes();
  const bpf = declare(lib, RingBufferSampleFn, printFn);
  const c = declareLibc(libc);
  const log = new LibbpfLog();
  const buf = Buffer.alloc(4096);
  const printer = koffi.register((_level: number, fmt: string, args: NativePtr) => {
    const n = c.vsnprintf(buf, buf.length, fmt, args);
    const text = buf.subarray(0, Math.max(0, Math.min(n, buf.length - 1))).toString('utf8');
    for (const line of text.split('\n')) if (line.trim()) log.push(line);
    return 0;
  }, koffi.pointer(printFn));
  bpf.libbpf_set_print(printer);
  native = { bpf, libc: c, log, RingBufferSampleFn, errno: () => koffi.errno() };
  return native;
}

/** libbpf returns -errno from int functions; this turns that into the positive errno or 0. */
export function negErrno(ret: number): number {
  return ret < 0 ? -ret : 0;
}
