// Kernel cache: resolves a matrix kernel to a Debian package, downloads it with `apt-get download`, unpacks it
// with `dpkg-deb -x`, keeps only what a guest needs and builds the guest's initramfs.
//
// .cache/kernels/<package>/
//   vmlinux              uncompressed kernel (XZ payload of vmlinuz): boots via PVH ~2.5 s faster under TCG, has .BTF
//   config               the kernel's build config
//   modules/*.ko         the 9p/virtio modules and their dependencies, decompressed
//   modules.load         their load order (dependencies first), derived from the kernel's modules.dep
//   initramfs.cpio.gz    busybox-static + modules + guest/init
//   meta.json            package, version, kernel release, initramfs input hash
// Every step runs child processes with argument arrays (no shell) and a timeout.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { repoRoot } from './paths.js';

export const kernelsCache = join(repoRoot, '.cache', 'kernels');
const initScript = join(repoRoot, 'tools', 'kernel-matrix', 'guest', 'init');
/** Modules the guest needs: virtio PCI transport, 9p over virtio. Whatever they depend on is found in modules.dep. */
const WANTED_MODULES = ['virtio_pci', '9pnet_virtio', '9p'];
const BUSYBOX = '/bin/busybox';

function run(cmd, args, { timeout = 120_000, cwd, input, maxBuffer = 16 << 20, binary = false } = {}) {
  const r = spawnSync(cmd, args, { cwd, input, timeout, maxBuffer, encoding: binary ? 'buffer' : 'utf8' });
  if (r.error) throw new Error(`${cmd} ${args.join(' ')}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${String(r.stderr).trim().slice(-2000)}`);
  return r.stdout;
}

const log = (msg) => process.stderr.write(`[kernel-matrix] ${msg}\n`);

/** Natural sort key: compares digit runs numerically so 6.1.0-56 > 6.1.0-9 and 6.12.117 > 6.12.99. */
function naturalCompare(a, b) {
  return a.localeCompare(b, 'en', { numeric: true });
}

/**
 * Resolves a kernel spec to a package name. spec.package is an exact package name, or spec.match a regular
 * expression over package names, and the newest (natural order) package apt knows is used. Falls back to the
 * newest matching kernel already in the cache when apt has none (offline).
 */
export function resolvePackage(spec, { update = true } = {}) {
  if (spec.package) return spec.package;
  const re = new RegExp(spec.match);
  const known = () => run('apt-cache', ['pkgnames', spec.prefix ?? 'linux-image-'], { maxBuffer: 64 << 20 })
    .split('\n').filter((n) => re.test(n)).sort(naturalCompare);
  let names = known();
  if (names.length === 0 && update) {
    log(`no package matches ${spec.match}; running apt-get update`);
    run('apt-get', ['update', '-qq'], { timeout: 300_000 });
    names = known();
  }
  if (names.length > 0) return names[names.length - 1];
  const cached = existsSync(kernelsCache) ? readdirSync(kernelsCache).filter((n) => re.test(n)).sort(naturalCompare) : [];
  if (cached.length > 0) {
    log(`apt knows no package matching ${spec.match}; using the cached ${cached[cached.length - 1]}`);
    return cached[cached.length - 1];
  }
  throw new Error(`no Debian package matches ${spec.match} (kernel ${spec.name}); check apt sources (see docs/kernel-matrix.md)`);
}

/**
 * Decompresses the kernel payload of a bzImage into the ELF vmlinux. The payload's place comes from the x86 boot
 * protocol header (setup_sects at 0x1f1, payload_offset/payload_length at 0x248/0x24c, protocol >= 2.08); Debian's
 * 6.1 uses XZ, 6.12 ZSTD.
 */
function extractVmlinux(vmlinuz, out) {
  const image = readFileSync(vmlinuz);
  if (image.toString('latin1', 0x202, 0x206) !== 'HdrS') throw new Error(`${vmlinuz}: not a bzImage (no HdrS header)`);
  const setupSects = image[0x1f1] || 4;
  const start = (setupSects + 1) * 512 + image.readUInt32LE(0x248);
  const payload = image.subarray(start, start + image.readUInt32LE(0x24c));
  const magic = payload.subarray(0, 6).toString('hex');
  let tool;
  if (magic === 'fd377a585a00') tool = ['xz', ['--decompress', '--stdout', '--single-stream']];
  else if (magic.startsWith('28b52ffd')) tool = ['zstd', ['--decompress', '--stdout', '-q']];
  else throw new Error(`${vmlinuz}: unsupported kernel compression (payload magic ${magic}); xz and zstd are handled`);
  const elf = spawnSync(tool[0], tool[1], { input: payload, maxBuffer: 512 << 20, timeout: 120_000 });
  const isElf = elf.stdout && elf.stdout.subarray(0, 4).toString('latin1') === '\x7fELF';
  if (!isElf) throw new Error(`${vmlinuz}: ${tool[0]} did not produce an ELF vmlinux (exit ${elf.status}): ${String(elf.stderr)}`);
  writeFileSync(`${out}.${process.pid}.tmp`, elf.stdout);
  renameSync(`${out}.${process.pid}.tmp`, out);
}

/** Parses modules.dep into Map(moduleName -> { path, deps: [moduleName] }). */
function parseModulesDep(text) {
  const byName = new Map();
  const nameOf = (p) => p.split('/').pop().replace(/\.ko(\.(xz|zst|gz))?$/, '').replace(/-/g, '_');
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const path = line.slice(0, colon).trim();
    const deps = line.slice(colon + 1).trim().split(/\s+/).filter(Boolean).map(nameOf);
    byName.set(nameOf(path), { path, deps });
  }
  return byName;
}

/** Dependency-first load order of `wanted` (modules built into the kernel are not in modules.dep and are skipped). */
export function moduleLoadOrder(modulesDep, builtin, wanted) {
  const deps = parseModulesDep(modulesDep);
  const builtins = new Set(builtin.split('\n').filter(Boolean).map((p) => p.split('/').pop().replace(/\.ko$/, '').replace(/-/g, '_')));
  const order = [];
  const seen = new Set();
  const visit = (name, chain) => {
    if (seen.has(name)) return;
    if (chain.includes(name)) throw new Error(`module dependency cycle: ${[...chain, name].join(' -> ')}`);
    const entry = deps.get(name);
    if (!entry) {
      if (builtins.has(name)) { seen.add(name); return; }
      throw new Error(`module ${name} is neither in modules.dep nor built in`);
    }
    for (const d of entry.deps) visit(d, [...chain, name]);
    seen.add(name);
    order.push(entry.path);
  };
  for (const w of wanted) visit(w, []);
  return order;
}

function debVersion(deb) {
  return run('dpkg-deb', ['--field', deb, 'Version']).trim();
}

/** Downloads and unpacks `pkg` into dir (vmlinux, config, modules/, modules.load). */
function populate(pkg, dir) {
  const work = mkdtempSync(join(kernelsCache, '.work-'));
  try {
    const t0 = Date.now();
    // apt-get download writes into cwd; as root it drops to _apt, which must be able to write there.
    spawnSync('chown', ['_apt', work]);
    run('apt-get', ['download', '-q', pkg], { cwd: work, timeout: 600_000 });
    const deb = readdirSync(work).find((f) => f.endsWith('.deb'));
    if (!deb) throw new Error(`apt-get download ${pkg} produced no .deb`);
    const t1 = Date.now();
    const root = join(work, 'root');
    run('dpkg-deb', ['-x', join(work, deb), root], { timeout: 300_000 });
    const kver = readdirSync(join(root, 'lib', 'modules'))[0];
    const boot = join(root, 'boot');
    mkdirSync(dir, { recursive: true });
    extractVmlinux(join(boot, `vmlinuz-${kver}`), join(dir, 'vmlinux'));
    copyFileSync(join(boot, `config-${kver}`), join(dir, 'config'));
    const t2 = Date.now();
    // Debian packages ship no modules.dep (the postinst runs depmod); generate it in the unpacked tree.
    run('depmod', ['-b', root, kver], { timeout: 300_000 });
    const modRoot = join(root, 'lib', 'modules', kver);
    const order = moduleLoadOrder(
      readFileSync(join(modRoot, 'modules.dep'), 'utf8'), readFileSync(join(modRoot, 'modules.builtin'), 'utf8'), WANTED_MODULES);
    mkdirSync(join(dir, 'modules'), { recursive: true });
    const names = [];
    for (const rel of order) {
      const src = join(modRoot, rel);
      const base = rel.split('/').pop();
      const name = base.replace(/\.(xz|zst|gz)$/, '');
      if (base.endsWith('.xz')) writeFileSync(join(dir, 'modules', name), run('xz', ['-dc', src], { maxBuffer: 64 << 20, binary: true }));
      else if (base.endsWith('.zst')) run('zstd', ['-q', '-d', '-f', src, '-o', join(dir, 'modules', name)]);
      else copyFileSync(src, join(dir, 'modules', name));
      names.push(name);
    }
    writeFileSync(join(dir, 'modules.load'), names.join('\n') + '\n');
    writeFileSync(join(dir, 'meta.json'), JSON.stringify({
      package: pkg, version: debVersion(join(work, deb)), release: kver, modules: names,
      timings: { downloadMs: t1 - t0, unpackMs: t2 - t1, modulesMs: Date.now() - t2 },
    }, null, 2) + '\n');
    log(`${pkg}: downloaded in ${((t1 - t0) / 1000).toFixed(1)} s, unpacked + vmlinux in ${((t2 - t1) / 1000).toFixed(1)} s, modules (${names.join(' ')}) in ${((Date.now() - t2) / 1000).toFixed(1)} s`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

function fileHash(h, path) {
  h.update(path);
  h.update(readFileSync(path));
}

/** One newc cpio entry (header, name, data, each 4-byte aligned). */
function cpioEntry(ino, name, mode, data = Buffer.alloc(0), rdev = [0, 0]) {
  const fields = [ino, mode, 0, 0, 1, 0, data.length, 0, 0, rdev[0], rdev[1], Buffer.byteLength(name) + 1, 0];
  const header = '070701' + fields.map((f) => f.toString(16).padStart(8, '0')).join('');
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  const head = Buffer.concat([Buffer.from(header + name + '\0', 'latin1')]);
  return Buffer.concat([head, pad(head.length), data, pad(data.length)]);
}

/** Writes the guest's initramfs (gzip'd newc cpio, all owned by root) to `out`. Written directly, no cpio tool. */
function buildInitramfs(dir, out) {
  const parts = [];
  let ino = 1;
  const add = (name, mode, data, rdev) => parts.push(cpioEntry(ino++, name, mode, data, rdev));
  for (const d of ['bin', 'dev', 'proc', 'sys', 'ctl', 'hostroot', 'lib', 'lib/modules']) add(d, 0o040755);
  add('dev/console', 0o020600, undefined, [5, 1]);
  add('bin/busybox', 0o100755, readFileSync(BUSYBOX));
  add('init', 0o100755, readFileSync(initScript));
  add('modules.load', 0o100644, readFileSync(join(dir, 'modules.load')));
  for (const m of readdirSync(join(dir, 'modules')).sort()) add(`lib/modules/${m}`, 0o100644, readFileSync(join(dir, 'modules', m)));
  add('TRAILER!!!', 0);
  writeFileSync(`${out}.${process.pid}.tmp`, gzipSync(Buffer.concat(parts), { level: 6 }));
  renameSync(`${out}.${process.pid}.tmp`, out);
}

/**
 * Makes sure kernel `pkg` is ready to boot; returns { dir, vmlinux, initramfs, meta }.
 * Downloads only when the cache lacks it; rebuilds the initramfs when init, busybox or the modules changed.
 */
export function prepareKernel(pkg) {
  const dir = join(kernelsCache, pkg);
  const vmlinux = join(dir, 'vmlinux');
  if (!existsSync(vmlinux) || !existsSync(join(dir, 'meta.json')) || !existsSync(join(dir, 'modules.load'))) {
    // Built aside and renamed into place, so a concurrent run never sees a half-built kernel.
    mkdirSync(kernelsCache, { recursive: true });
    const tmp = `${dir}.partial-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    try {
      populate(pkg, tmp);
      rmSync(dir, { recursive: true, force: true });
      renameSync(tmp, dir);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }
  const meta = JSON.parse(readFileSync(join(dir, 'meta.json'), 'utf8'));
  const h = createHash('sha256');
  fileHash(h, initScript);
  h.update(String(statSync(BUSYBOX).size));
  fileHash(h, join(dir, 'modules.load'));
  const inputs = h.digest('hex');
  const initramfs = join(dir, 'initramfs.cpio.gz');
  if (!existsSync(initramfs) || meta.initramfsInputs !== inputs) {
    const t0 = Date.now();
    buildInitramfs(dir, initramfs);
    meta.initramfsInputs = inputs;
    meta.timings = { ...meta.timings, initramfsMs: Date.now() - t0 };
    writeFileSync(join(dir, `meta.json.${process.pid}.tmp`), JSON.stringify(meta, null, 2) + '\n');
    renameSync(join(dir, `meta.json.${process.pid}.tmp`), join(dir, 'meta.json'));
    log(`${pkg}: initramfs built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  }
  return { dir, vmlinux, initramfs, meta };
}

/**
 * resolvePackage + prepareKernel, with one retry after `apt-get update` when the download fails: Debian's security
 * archive drops superseded kernels from its pool, so stale package lists can name a file that is gone.
 */
export function ensureKernel(spec) {
  const pkg = resolvePackage(spec);
  try {
    return { pkg, kernel: prepareKernel(pkg) };
  } catch (err) {
    if (!/apt-get download/.test(err.message)) throw err;
    log(`${err.message.split('\n')[0]}; running apt-get update and trying again`);
    run('apt-get', ['update', '-qq'], { timeout: 300_000 });
    const again = resolvePackage(spec, { update: false });
    return { pkg: again, kernel: prepareKernel(again) };
  }
}

/** Reads the `CONFIG_X=...` lines of a cached kernel's config. */
export function kernelConfig(dir) {
  const out = {};
  for (const line of readFileSync(join(dir, 'config'), 'utf8').split('\n')) {
    const m = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}
