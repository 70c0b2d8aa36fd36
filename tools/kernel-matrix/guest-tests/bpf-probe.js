#!/usr/bin/env node
// The kernel matrix's own capability probe: loads probe.bpf.o through koffi + libbpf.so.1 (the product's path)
// one program at a time, and reports per attach type whether it loads and attaches on the running kernel, with
// the kernel's reason when it does not. Used by capabilities.test.ts and by the matrix runner
// (`node bpf-probe.js --json`). Self-contained on purpose: it does not depend on the sensor package, so it proves
// the test tier before the sensor's own probe exists.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants, release } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const repoRoot = resolve(here, '../../..');
const cacheDir = join(repoRoot, '.cache', 'kernel-matrix');
const source = join(here, 'probe.bpf.c');
export const objectPath = join(cacheDir, 'probe.bpf.o');

/** Attach types probed, in table order. Each maps to one program in probe.bpf.c and one counter slot. */
export const CAPABILITIES = Object.freeze({
  tp_btf: { program: 'km_tp_btf', counter: 0, what: 'tp_btf/sys_enter' },
  kprobe: { program: 'km_kprobe', counter: 1, what: 'kprobe/do_sys_openat2' },
  fentry: { program: 'km_fentry', counter: 2, what: 'fentry/vfs_open (BPF trampoline)' },
  lsm: { program: 'km_lsm', counter: 3, what: 'lsm/file_open (BPF LSM)' },
});
export const LSM_DENY_COUNTER = 4;

const errnoNames = Object.fromEntries(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));
const errnoName = (n) => errnoNames[n] ?? `errno ${n}`;

/** Builds vmlinux.h (from the running kernel's BTF) and probe.bpf.o when missing or older than the source.
 * CO-RE makes the one object valid on every kernel of the matrix; the guests use the object the host built. */
export function ensureProbeObject() {
  if (existsSync(objectPath) && statSync(objectPath).mtimeMs >= statSync(source).mtimeMs) return objectPath;
  mkdirSync(cacheDir, { recursive: true });
  const header = join(cacheDir, 'vmlinux.h');
  if (!existsSync(header)) {
    const btf = spawnSync('bpftool', ['btf', 'dump', 'file', '/sys/kernel/btf/vmlinux', 'format', 'c'], {
      encoding: 'utf8', maxBuffer: 64 << 20, timeout: 60_000,
    });
    if (btf.status !== 0) throw new Error(`bpftool btf dump failed: ${btf.stderr || btf.error}`);
    writeFileSync(`${header}.tmp`, btf.stdout);
    renameSync(`${header}.tmp`, header);
  }
  const tmp = `${objectPath}.${process.pid}.tmp`;
  const cc = spawnSync('clang-19', ['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', '-I', cacheDir, '-c', source, '-o', tmp], {
    encoding: 'utf8', timeout: 120_000,
  });
  if (cc.status !== 0) throw new Error(`clang-19 failed to build ${source}: ${cc.stderr || cc.error}`);
  renameSync(tmp, objectPath);
  return objectPath;
}

let lib;
function libbpf() {
  if (lib) return lib;
  // koffi is a dependency of @vigil/sensor; resolve it from there rather than adding a root dependency.
  const koffi = createRequire(join(repoRoot, 'packages/sensor/package.json'))('koffi');
  const so = koffi.load('libbpf.so.1');
  lib = {
    koffi,
    set_print: so.func('void *libbpf_set_print(void *fn)'),
    open_file: so.func('void *bpf_object__open_file(const char *path, void *opts)'),
    load: so.func('int bpf_object__load(void *obj)'),
    close: so.func('void bpf_object__close(void *obj)'),
    find_program: so.func('void *bpf_object__find_program_by_name(void *obj, const char *name)'),
    set_autoload: so.func('int bpf_program__set_autoload(void *prog, bool autoload)'),
    attach: so.func('void *bpf_program__attach(void *prog)'),
    link_destroy: so.func('int bpf_link__destroy(void *link)'),
    find_map: so.func('void *bpf_object__find_map_by_name(void *obj, const char *name)'),
    map_update: so.func('int bpf_map__update_elem(void *map, const void *key, size_t key_sz, const void *value, size_t value_sz, uint64_t flags)'),
    map_lookup: so.func('int bpf_map__lookup_elem(void *map, const void *key, size_t key_sz, _Out_ void *value, size_t value_sz, uint64_t flags)'),
  };
  // libbpf's default print callback writes every warning (e.g. "program load failed: Operation not permitted")
  // to stderr; the probe reports those as reasons itself. VIGIL_LIBBPF_DEBUG=1 keeps libbpf's own output.
  if (!process.env.VIGIL_LIBBPF_DEBUG) lib.set_print(null);
  return lib;
}

const u32 = (n) => { const b = Buffer.alloc(4); b.writeUInt32LE(n); return b; };
const u64 = (n) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; };

/** Active LSMs (needs securityfs), or null when it cannot be read. */
export function activeLsms() {
  try { return readFileSync('/sys/kernel/security/lsm', 'utf8').trim().split(','); } catch { return null; }
}

/**
 * Opens probe.bpf.o with only `cap`'s program enabled, loads and attaches it.
 * Returns { ok: true, handle } or { ok: false, reason }. handle.counts() reads the counters, handle.close() detaches.
 * `target` = { tgid, ino }: the process the programs act for and (LSM) the inode to deny.
 */
export function attachCapability(cap, target = { tgid: process.pid, ino: 0 }) {
  const spec = CAPABILITIES[cap];
  if (!spec) throw new Error(`unknown capability ${cap}; known: ${Object.keys(CAPABILITIES).join(', ')}`);
  const b = libbpf();
  const path = ensureProbeObject();
  const obj = b.open_file(path, null);
  if (!obj) return { ok: false, reason: `open: ${errnoName(b.koffi.errno())}` };
  let link = null;
  let closed = false;
  const close = () => {
    if (closed) return;
    closed = true;
    if (link) b.link_destroy(link);
    b.close(obj);
  };
  try {
    for (const other of Object.values(CAPABILITIES)) {
      b.set_autoload(b.find_program(obj, other.program), other === spec);
    }
    const loaded = b.load(obj);
    if (loaded !== 0) { close(); return { ok: false, reason: `load: ${errnoName(-loaded)}` }; }
    const targets = b.find_map(obj, 'km_target');
    for (const [slot, value] of [[0, target.tgid], [1, target.ino ?? 0]]) {
      const rc = b.map_update(targets, u32(slot), 4, u64(value), 8, 0);
      if (rc !== 0) throw new Error(`km_target update failed: ${errnoName(-rc)}`);
    }
    link = b.attach(b.find_program(obj, spec.program));
    if (!link) {
      const reason = `attach: ${errnoName(b.koffi.errno())}`;
      close();
      return { ok: false, reason };
    }
  } catch (err) {
    close();
    throw err;
  }
  const counts = b.find_map(obj, 'km_counts');
  const read = (slot) => {
    const out = Buffer.alloc(8);
    const rc = b.map_lookup(counts, u32(slot), 4, out, 8, 0);
    if (rc !== 0) throw new Error(`km_counts lookup failed: ${errnoName(-rc)}`);
    return Number(out.readBigUInt64LE());
  };
  return {
    ok: true,
    handle: {
      hits: () => read(spec.counter),
      lsmDenies: () => read(LSM_DENY_COUNTER),
      close,
      [Symbol.dispose]: close,
    },
  };
}

/** Probes one capability: loads, attaches, detaches. { available, reason }. */
export function probeCapability(cap) {
  if (cap === 'lsm') {
    const lsms = activeLsms();
    if (lsms && !lsms.includes('bpf')) return { available: false, reason: `bpf not in active LSMs (${lsms.join(',')})` };
  }
  const r = attachCapability(cap);
  if (!r.ok) return { available: false, reason: r.reason };
  r.handle.close();
  return { available: true, reason: 'loaded and attached' };
}

/** The full probe: { kernel, capabilities: { cap: { available, reason } } }. */
export function probeAll() {
  const capabilities = {};
  for (const cap of Object.keys(CAPABILITIES)) capabilities[cap] = probeCapability(cap);
  return { kernel: release(), capabilities };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  if (process.argv.includes('--build')) {
    console.log(ensureProbeObject());
    process.exit(0);
  }
  const result = probeAll();
  if (process.argv.includes('--json')) {
    console.log(JSON.stringify(result));
  } else {
    console.log(`kernel ${result.kernel}`);
    for (const [cap, r] of Object.entries(result.capabilities)) console.log(`${cap.padEnd(8)} ${r.available ? 'yes' : 'no '} ${r.reason}`);
  }
}
