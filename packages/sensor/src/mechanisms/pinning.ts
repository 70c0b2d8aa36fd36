/**
 * Keeping a mechanism armed without its process, for every unit the same way (docs/adr/0009): the unit's pin
 * directory (e.g. <pinRoot>/enforce/exec-kill) holds one version directory per loaded build of its object, with
 * every map and every link of that build pinned (persist/layout.ts). A restarted sensor with the same build adopts
 * them (nothing is loaded: program and link ids stay); another build is loaded beside the pinned one, its maps are
 * filled from the old build's, it is attached, and only then is the old build detached (persist/pinned-object.ts).
 *
 *   const pins = loadUnit(obj, opts.pinDir, { links: ['vg_exec_kill'], lostCounter });   // instead of obj.load()
 *   const link = attachUnit(pins, obj, 'vg_exec_kill', (o) => o.program('vg_exec_kill').attachTrace());
 *   pins?.commit();                                                                      // retire older builds
 */
import { existsSync, mkdirSync, readdirSync, rmSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfLink, LibbpfError, type BpfObject } from '../libbpf/index.js';
import { PinnedObject, retireDir, type PersistReport } from '../persist/pinned-object.js';
import { parseVersionDir } from '../persist/layout.js';

export interface LoadUnitOptions {
  /** links the unit attaches at start (a pinned build missing one is repaired, not adopted) */
  links: readonly string[];
  /** maps pinned outside the unit directory: name → pin path (shared state) */
  external?: Readonly<Record<string, string>>;
  /** the object's ring losses so far, for lost_while_down */
  lostCounter?: (obj: BpfObject) => bigint;
  onPersist?: (r: PersistReport) => void;
}

/** Loads `obj`: through the pin tree when `pinDir` is set (adopting a pinned build of it), plainly otherwise. */
export function loadUnit(obj: BpfObject, pinDir: string | undefined, o: LoadUnitOptions): PinnedObject | undefined {
  if (!pinDir) {
    for (const [name, path] of Object.entries(o.external ?? {})) obj.map(name).setPinPath(path);
    obj.load();
    return undefined;
  }
  const pins = new PinnedObject(obj, { unitDir: pinDir, ...(o.lostCounter ? { lostCounter: o.lostCounter } : {}), ...(o.onPersist ? { onReport: o.onPersist } : {}) });
  pins.prepare(o.links, o.external ?? {});
  pins.load();
  return pins;
}

/** The attachment `name`: pinned (adopted or pinned now) with `pins`, plain `attach(obj)` without. */
export function attachUnit(pins: PinnedObject | undefined, obj: BpfObject, name: string, attach: (o: BpfObject) => BpfLink): BpfLink {
  return pins ? pins.link(name, attach) : attach(obj);
}

/** Removes every build pinned in a unit directory (links detach when their pin goes, maps are freed) and the directory. */
export function removePins(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const removed: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory() && parseVersionDir(name)) removed.push(...retireDir(p));
  }
  if (readdirSync(dir).some((f) => !statSync(join(dir, f)).isDirectory())) removed.push(...retireDir(dir, true)); // flat layout of earlier sensors
  rmSync(dir, { recursive: true, force: true });
  removed.push(dir);
  return removed;
}

/**
 * The flat layout of earlier units (maps and `link*` files directly in the unit directory), for units not yet
 * on loadUnit: before load, pin `maps` of `obj` in `dir`, reusing compatible maps pinned there. Programs are
 * reloaded on every start (new program ids); prefer loadUnit.
 */
export function pinMaps(obj: BpfObject, dir: string, maps: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const name of maps) obj.map(name).setPinPath(join(dir, name));
}

/** Flat layout: after attaching `link`, detach the link pinned at `dir/name` (if any), then pin `link` there. */
export function replacePinnedLink(link: BpfLink, dir: string, name: string): void {
  const path = join(dir, name);
  if (existsSync(path)) {
    try {
      const old = BpfLink.open(path);
      old.unpin();
      old.destroy();
    } catch (err) {
      if (!(err instanceof LibbpfError)) throw err;
      unlinkSync(path); // not a link (a stale file): drop it
    }
  }
  link.pin(path);
}
