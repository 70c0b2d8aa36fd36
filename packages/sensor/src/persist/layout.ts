/**
 * The pin tree, one root (default /sys/fs/bpf/vigil, --bpffs-root) laid out so that a listing explains itself:
 *
 *   <root>/enforce/<unit>/obj-v<version>-<sha12>/maps/<map>     maps of one loaded build of the unit's object
 *   <root>/enforce/<unit>/obj-v<version>-<sha12>/links/<link>   its attachments (a pinned link stays attached)
 *   <root>/state/vg_procs_v<schema>                             per-process identity (process lifecycle)
 *   <root>/generic/<policy>/…                                   in-kernel selector objects (ADR 0008)
 *
 * `<unit>` is a mechanism (exec-kill, open-kill, connect); `<version>` is VG_OBJECT_VERSION read from the
 * object's metadata record and `<sha12>` the first 12 hex digits of the .bpf.o's SHA-256, so two builds of one
 * version never share pins. bpffs refuses names with a dot, so map pin names are libbpf's map names with dots
 * turned into underscores and no leading one (".data.vg_meta" → "data_vg_meta"). At most one version directory per unit exists outside an upgrade; during one, the old and
 * the new are both attached (attach before detach), then the old is removed.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const VERSION_DIR_PREFIX = 'obj-v';
export const MAPS_DIR = 'maps';
export const LINKS_DIR = 'links';
/** A version directory found broken is renamed with this suffix, then treated like an older version. */
export const STALE_SUFFIX = '-stale';

export interface ObjectIdentity {
  version: number;
  sha12: string;
}

export function objectSha12(objectPath: string): string {
  return createHash('sha256').update(readFileSync(objectPath)).digest('hex').slice(0, 12);
}

export function versionDirName(id: ObjectIdentity): string {
  return `${VERSION_DIR_PREFIX}${id.version}-${id.sha12}`;
}

/** Parses a version directory name (also a renamed stale one); undefined for anything else. */
export function parseVersionDir(name: string): (ObjectIdentity & { stale: boolean }) | undefined {
  const m = /^obj-v(\d+)-([0-9a-f]{12})(-stale(?:-\d+)?)?$/.exec(name);
  if (!m?.[1] || !m[2]) return undefined;
  return { version: Number(m[1]), sha12: m[2], stale: m[3] !== undefined };
}

export function mapPinName(mapName: string): string {
  return mapName.replace(/^\.+/, '').replace(/\./g, '_');
}

export function mapPin(versionDir: string, mapName: string): string {
  return join(versionDir, MAPS_DIR, mapPinName(mapName));
}

export function linkPin(versionDir: string, linkName: string): string {
  return join(versionDir, LINKS_DIR, linkName);
}

export function enforceUnitDir(pinRoot: string, unit: string): string {
  return join(pinRoot, 'enforce', unit);
}
