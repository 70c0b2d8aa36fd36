/**
 * One BPF object whose maps and links live in the pin tree (layout.ts), so that what it enforces survives the
 * sensor: a crash, a restart, an upgrade. A unit (exec kill, open kill, connect deny…) drives it in four steps:
 *
 *   const pins = new PinnedObject(obj, { unitDir, lostCounter });
 *   pins.prepare(['vg_exec_kill']);         // before load: adopt, or plan a fresh load / upgrade / repair
 *   pins.load();                            // adopted: no program is loaded, every map is the pinned one
 *   pins.link('vg_exec_kill', (o) => o.program('vg_exec_kill').attachTrace());   // adopted: the pinned link
 *   pins.commit();                          // only now are older builds detached and unpinned
 *
 * Adoption (same object build: version and SHA-256 match the version directory): programs are not loaded, the
 * pinned maps are reused and the pinned links opened, so program and link ids stay what they were. Any other
 * case loads the object into a new version directory, copies every map the older build had with the same layout
 * (or converts it with a registered migrator, keyed by map name), attaches, pins, and only then detaches and
 * unpins the older builds: at every moment at least one build is attached. A version directory that fails its
 * check (a map missing or of another shape, a link missing, a bad metadata record) is renamed `…-stale-<ms>`
 * and treated like an older build: its maps are migrated where intact, then it is removed.
 */
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfLink, BpfObject, LibbpfError, MappedRingBuffer, closeFd, objGet, type BpfMap } from '../libbpf/index.js';
import { PersistError } from './errors.js';
import { pinInfo, type PinInfo } from './fdinfo.js';
import { LINKS_DIR, MAPS_DIR, STALE_SUFFIX, linkPin, mapPin, objectSha12, parseVersionDir, versionDirName, type ObjectIdentity } from './layout.js';
import { META_MAP, decodeMeta, withCheckpoint, type ObjectMeta } from './meta.js';
import { RINGBUF_TYPE, rawEntries, rawLookup } from './raw-map.js';

export type PersistMode = 'fresh' | 'adopted' | 'upgraded' | 'repaired';

/** Converts the entries of an older build's map whose layout differs (e.g. vg_procs v1 → v2). */
export type MapMigrator = (from: { keySize: number; valueSize: number; meta: ObjectMeta | undefined }, entries: Array<[Buffer, Buffer]>) => Array<[Buffer, Buffer]>;

export interface MigratedMap {
  map: string;
  from: string;
  entries: number;
  how: 'copied' | 'migrated' | 'skipped';
  reason?: string;
}

export interface PersistReport {
  unitDir: string;
  versionDir: string;
  mode: PersistMode;
  version: number;
  sha12: string;
  /** older or broken builds this start detached and removed (after attaching its own) */
  retired: string[];
  /** what the check of the existing version directory found wrong (mode repaired) */
  problems: string[];
  migrated: MigratedMap[];
  /** ring-buffer records the kernel could not store since the last checkpoint (the sensor was down or slow) */
  lostWhileDown: bigint;
  /** records left unread in the rings of retired builds (counted, not delivered: around a swap they duplicate) */
  retiredRingRecords: number;
  /** link name → kernel link id */
  linkIds: Record<string, number>;
}

export interface PinnedObjectOptions {
  /** e.g. <pinRoot>/enforce/exec-kill */
  unitDir: string;
  /** the object's ring losses so far (sum over CPUs), read from its loaded maps */
  lostCounter?: (obj: BpfObject) => bigint;
  /** map name → converter for maps whose layout changed between builds */
  migrators?: Readonly<Record<string, MapMigrator>>;
  onReport?: (r: PersistReport) => void;
  /** CLOCK_REALTIME ns, for the checkpoint */
  now?: () => bigint;
  /**
   * Checkpoint period after commit (default 10 s, 0: only at commit and close): a crash then counts as
   * lost_while_down only the losses of the last period before it, not those the running sensor already saw.
   */
  checkpointEveryMs?: number;
}

interface Previous {
  /** a version directory, or the unit directory itself for the flat layout of earlier sensors */
  dir: string;
  flat: boolean;
  version: number;
  stale: boolean;
}

const KEY0 = Buffer.alloc(4);

/** The object's build: VG_OBJECT_VERSION from its metadata record (before load) and the file's SHA-256. */
export function objectIdentity(obj: BpfObject): ObjectIdentity {
  const meta = obj.maps().find((m) => m.name === META_MAP)?.initialValue();
  if (!meta) throw new PersistError('NO_META', `${obj.path} carries no metadata record (.data.vg_meta); rebuild it with: make -C bpf`);
  return { version: decodeMeta(meta, obj.path).objectVersion, sha12: objectSha12(obj.path) };
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function tryPinInfo(path: string): PinInfo | undefined {
  try {
    return pinInfo(path);
  } catch (err) {
    if (err instanceof LibbpfError) return undefined;
    throw err;
  }
}

/** Reads the metadata record pinned in a version directory (undefined when absent or unreadable). */
export function readPinnedMeta(versionDir: string): ObjectMeta | undefined {
  const path = mapPin(versionDir, META_MAP);
  const info = tryPinInfo(path);
  if (info?.kind !== 'map') return undefined;
  const fd = objGet(path);
  try {
    const raw = rawLookup(fd, info, KEY0);
    return raw ? decodeMeta(raw, path) : undefined;
  } catch (err) {
    if (err instanceof PersistError) return undefined;
    throw err;
  } finally {
    closeFd(fd);
  }
}

/** Detaches (unpins) every link pinned under `dir` and removes the directory; returns the paths removed. */
export function retireDir(dir: string, flat = false): string[] {
  const removed: string[] = [];
  const links = flat ? readdirSync(dir).filter((f) => f.startsWith('link')).map((f) => join(dir, f)) : isDir(join(dir, LINKS_DIR)) ? readdirSync(join(dir, LINKS_DIR)).map((f) => join(dir, LINKS_DIR, f)) : [];
  for (const p of links) {
    try {
      const l = BpfLink.open(p);
      l.unpin();
      l.destroy();
    } catch (err) {
      if (!(err instanceof LibbpfError)) throw err;
      rmSync(p, { force: true }); // not a link: a stale file
    }
    removed.push(p);
  }
  if (flat) {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (!isDir(p)) {
        unlinkSync(p);
        removed.push(p);
      }
    }
  } else {
    rmSync(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

export class PinnedObject {
  readonly identity: ObjectIdentity;
  readonly versionDir: string;
  private mode: PersistMode = 'fresh';
  private previous: Previous[] = [];
  private readonly problems: string[] = [];
  private readonly migrated: MigratedMap[] = [];
  private readonly linkIds: Record<string, number> = {};
  private lostWhileDown = 0n;
  private loader: BpfObject | undefined;
  private committed = false;
  private closed = false;
  private oldMeta: ObjectMeta | undefined;
  private external: ReadonlyMap<string, string> = new Map();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly obj: BpfObject,
    private readonly o: PinnedObjectOptions,
  ) {
    this.identity = objectIdentity(obj);
    this.versionDir = join(o.unitDir, versionDirName(this.identity));
  }

  get adopted(): boolean {
    return this.mode === 'adopted';
  }

  /**
   * Before load: decides between adoption and a load, and points every map at its pin. `expectedLinks` are the
   * links this unit attaches at start: a version directory missing one of them is repaired, not adopted.
   * `external` maps (name → pin path) are shared state pinned elsewhere (e.g. <pinRoot>/state/vg_identity_v1):
   * they are pinned there, never checked, migrated or pinned in the version directory.
   */
  prepare(expectedLinks: readonly string[], external: Readonly<Record<string, string>> = {}): void {
    this.external = new Map(Object.entries(external));
    for (const [name, path] of this.external) this.obj.map(name).setPinPath(path);
    mkdirSync(this.o.unitDir, { recursive: true });
    const pinnedRing = new Map<string, number>();
    if (existsSync(this.versionDir)) {
      const problems = this.check(expectedLinks, pinnedRing);
      if (problems.length === 0) {
        this.mode = 'adopted';
      } else {
        this.problems.push(...problems);
        const stale = `${this.versionDir}${STALE_SUFFIX}-${Date.now()}`;
        renameSync(this.versionDir, stale);
        pinnedRing.clear();
      }
    }
    this.previous = this.findPrevious();
    if (this.mode !== 'adopted') this.mode = this.problems.length > 0 ? 'repaired' : this.previous.length > 0 ? 'upgraded' : 'fresh';
    mkdirSync(join(this.versionDir, MAPS_DIR), { recursive: true });
    mkdirSync(join(this.versionDir, LINKS_DIR), { recursive: true });
    for (const m of this.ownMaps()) {
      const ring = pinnedRing.get(m.name);
      if (ring !== undefined && ring !== m.maxEntries) m.setMaxEntries(ring); // keep the pinned ring and what it holds
      m.setPinPath(mapPin(this.versionDir, m.name));
    }
    if (this.adopted) for (const p of this.obj.programs()) p.setAutoload(false);
  }

  /** Loads the object (adopted: maps only, every one of them the pinned one), then migrates older builds' maps. */
  load(): void {
    this.obj.load();
    if (this.adopted) {
      this.oldMeta = this.readMeta();
      const lost = this.o.lostCounter?.(this.obj) ?? 0n;
      this.lostWhileDown = this.oldMeta && lost >= this.oldMeta.lostSeen ? lost - this.oldMeta.lostSeen : 0n;
      return;
    }
    const from = this.previous[0];
    if (from) this.migrateFrom(from);
    if (this.oldMeta && this.o.lostCounter) {
      const lost = this.o.lostCounter(this.obj);
      this.lostWhileDown = lost >= this.oldMeta.lostSeen ? lost - this.oldMeta.lostSeen : 0n;
    }
  }

  /** Whether a link of that name is pinned by this build or an older one (e.g. "keep a kill program attached"). */
  hasPinnedLink(name: string): boolean {
    if (existsSync(linkPin(this.versionDir, name))) return true;
    return this.previous.some((p) => existsSync(p.flat ? join(p.dir, `link_${name.replace(/^vg_/, '')}`) : linkPin(p.dir, name)));
  }

  /**
   * The attachment `name`: the pinned one when adopted, else `attach(obj)` pinned at links/<name>. An adopted unit
   * that needs an attachment it did not have loads a second instance of the same object over the same pinned
   * maps for it (nothing already attached changes).
   */
  link(name: string, attach: (obj: BpfObject) => BpfLink): BpfLink {
    const path = linkPin(this.versionDir, name);
    if (existsSync(path)) {
      const l = BpfLink.open(path);
      this.linkIds[name] = tryPinInfo(path)?.id ?? 0;
      return l;
    }
    const target = this.adopted ? this.loaderObject() : this.obj;
    const l = attach(target);
    l.pin(path);
    this.linkIds[name] = tryPinInfo(path)?.id ?? 0;
    return l;
  }

  /** After the start-up attachments: detaches and removes older builds, writes the checkpoint, reports. */
  commit(): PersistReport {
    const retired: string[] = [];
    let ringRecords = 0;
    if (!this.committed) {
      this.committed = true;
      for (const p of this.previous) {
        ringRecords += this.countRing(p);
        retireDir(p.dir, p.flat);
        retired.push(p.dir);
      }
      this.previous = [];
      this.checkpoint();
      const every = this.o.checkpointEveryMs ?? 10_000;
      if (every > 0) {
        this.timer = setInterval(() => {
          try {
            this.checkpoint();
          } catch {
            /* the next one, or the one at close */
          }
        }, every);
        this.timer.unref();
      }
    }
    const report: PersistReport = {
      unitDir: this.o.unitDir,
      versionDir: this.versionDir,
      mode: this.mode,
      version: this.identity.version,
      sha12: this.identity.sha12,
      retired,
      problems: [...this.problems],
      migrated: [...this.migrated],
      lostWhileDown: this.lostWhileDown,
      retiredRingRecords: ringRecords,
      linkIds: { ...this.linkIds },
    };
    this.o.onReport?.(report);
    return report;
  }

  /** Records that every ring loss so far has been accounted for (done at commit and close; call it periodically). */
  checkpoint(): void {
    if (this.closed || !this.obj.isLoaded) return;
    const meta = this.obj.maps().find((m) => m.name === META_MAP);
    const raw = meta?.lookup(KEY0);
    if (!meta || !raw) return;
    const lost = this.o.lostCounter?.(this.obj) ?? 0n;
    meta.update(KEY0, withCheckpoint(raw, this.o.now?.() ?? BigInt(Date.now()) * 1_000_000n, lost));
  }

  /** Before the object closes: last checkpoint, then frees the second instance (its links stay pinned). */
  close(): void {
    if (this.closed) return;
    if (this.timer) clearInterval(this.timer);
    try {
      this.checkpoint();
    } catch {
      /* closing anyway: the next start counts from the previous checkpoint */
    }
    this.closed = true;
    this.loader?.close();
    this.loader = undefined;
  }

  /** Problems that rule out adoption of the existing version directory. */
  private check(expectedLinks: readonly string[], pinnedRing: Map<string, number>): string[] {
    const out: string[] = [];
    const meta = readPinnedMeta(this.versionDir);
    if (!meta) out.push(`${mapPin(this.versionDir, META_MAP)}: metadata record missing or unreadable`);
    else if (meta.objectVersion !== this.identity.version) out.push(`${mapPin(this.versionDir, META_MAP)}: records object version ${meta.objectVersion}, the directory says ${this.identity.version}`);
    for (const m of this.ownMaps()) {
      const path = mapPin(this.versionDir, m.name);
      const info = tryPinInfo(path);
      if (!info) {
        out.push(`${path}: map missing`);
        continue;
      }
      if (info.kind !== 'map') {
        out.push(`${path}: a ${info.kind}, expected a map`);
        continue;
      }
      if (info.mapType !== m.type || info.keySize !== m.keySize || info.valueSize !== m.valueSize) {
        out.push(`${path}: pinned map has type ${info.mapType} key ${info.keySize} value ${info.valueSize}, this build needs type ${m.type} key ${m.keySize} value ${m.valueSize}`);
        continue;
      }
      if (info.mapType === RINGBUF_TYPE) pinnedRing.set(m.name, info.maxEntries ?? m.maxEntries);
      else if (info.maxEntries !== m.maxEntries) out.push(`${path}: pinned map holds ${info.maxEntries} entries, this build ${m.maxEntries}`);
    }
    for (const name of expectedLinks) {
      const path = linkPin(this.versionDir, name);
      const info = tryPinInfo(path);
      if (!info) out.push(`${path}: link missing`);
      else if (info.kind !== 'link') out.push(`${path}: a ${info.kind}, expected a link`);
    }
    return out;
  }

  /** Older builds to migrate from and retire, best source first: newest intact version, then stale, then flat. */
  private findPrevious(): Previous[] {
    const out: Previous[] = [];
    for (const name of readdirSync(this.o.unitDir)) {
      const dir = join(this.o.unitDir, name);
      if (dir === this.versionDir) continue;
      const v = parseVersionDir(name);
      if (v && isDir(dir)) out.push({ dir, flat: false, version: v.version, stale: v.stale });
    }
    const flatFiles = readdirSync(this.o.unitDir).filter((f) => !isDir(join(this.o.unitDir, f)));
    if (flatFiles.length > 0) out.push({ dir: this.o.unitDir, flat: true, version: 0, stale: true });
    out.sort((a, b) => Number(a.stale) - Number(b.stale) || b.version - a.version);
    return out;
  }

  private migrateFrom(p: Previous): void {
    if (!p.flat) this.oldMeta = readPinnedMeta(p.dir);
    for (const m of this.ownMaps()) {
      if (m.name.startsWith('.') || m.type === RINGBUF_TYPE) continue; // metadata and data sections belong to the build; rings are drained, not copied
      const path = p.flat ? join(p.dir, m.name) : mapPin(p.dir, m.name);
      const info = tryPinInfo(path);
      if (info?.kind !== 'map') continue;
      const fd = objGet(path);
      try {
        const entries = rawEntries(fd, info);
        const same = info.mapType === m.type && info.keySize === m.keySize && info.valueSize === m.valueSize;
        const migrator = this.o.migrators?.[m.name];
        if (!same && !migrator) {
          this.migrated.push({ map: m.name, from: path, entries: 0, how: 'skipped', reason: `layout differs (key ${info.keySize}/${m.keySize}, value ${info.valueSize}/${m.valueSize}) and no migrator is registered` });
          continue;
        }
        const rows = same ? entries : (migrator as MapMigrator)({ keySize: info.keySize ?? 0, valueSize: info.valueSize ?? 0, meta: this.oldMeta }, entries);
        writeAll(m, rows);
        this.migrated.push({ map: m.name, from: path, entries: rows.length, how: same ? 'copied' : 'migrated' });
      } finally {
        closeFd(fd);
      }
    }
  }

  /** Unread records left in a retired build's rings (each program's vg_events). */
  private countRing(p: Previous): number {
    let n = 0;
    for (const m of this.obj.maps()) {
      if (m.type !== RINGBUF_TYPE) continue;
      const path = p.flat ? join(p.dir, m.name) : mapPin(p.dir, m.name);
      const info = tryPinInfo(path);
      if (info?.kind !== 'map' || info.mapType !== RINGBUF_TYPE || !info.maxEntries) continue;
      const fd = objGet(path);
      try {
        const ring = new MappedRingBuffer(fd, info.maxEntries, () => void n++);
        try {
          ring.consume(info.maxEntries / 8); // what the ring held, not what a still-attached producer adds meanwhile
        } finally {
          ring.close();
        }
      } finally {
        closeFd(fd);
      }
    }
    return n;
  }

  private ownMaps(): BpfMap[] {
    return this.obj.maps().filter((m) => !this.external.has(m.name));
  }

  private readMeta(): ObjectMeta | undefined {
    const raw = this.obj.maps().find((m) => m.name === META_MAP)?.lookup(KEY0);
    return raw ? decodeMeta(raw, mapPin(this.versionDir, META_MAP)) : undefined;
  }

  private loaderObject(): BpfObject {
    if (this.loader) return this.loader;
    const second = BpfObject.open(this.obj.path);
    try {
      for (const m of second.maps()) {
        const shared = this.external.get(m.name);
        if (shared !== undefined) {
          m.setPinPath(shared);
          continue;
        }
        const mine = this.obj.maps().find((x) => x.name === m.name);
        if (mine && m.type === RINGBUF_TYPE) m.setMaxEntries(mine.maxEntries);
        m.setPinPath(mapPin(this.versionDir, m.name));
      }
      second.load();
    } catch (err) {
      second.close();
      throw err;
    }
    this.loader = second;
    return second;
  }
}

function writeAll(map: BpfMap, rows: ReadonlyArray<readonly [Buffer, Buffer]>): void {
  for (const [k, v] of rows) map.update(k, v);
}
