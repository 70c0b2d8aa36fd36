/**
 * `vigil-sensor uninstall` (alias cleanup): removes everything Vigil pinned under its bpffs root, whatever the
 * subtree (enforce/<unit>/obj-v…, state/, generic/<policy>/…, earlier flat layouts). Links are unpinned first,
 * one by one: a pinned link detaches when its last pin goes (no running sensor holds it), and maps are freed with
 * their last reference. What was removed is listed with its kind and kernel id, so a person can check it against
 * `bpftool link show`. Refuses paths outside a bpffs.
 */
import { readdirSync, rmdirSync, statSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SensorError } from './errors.js';
import { isBpffs } from './fs-magic.js';
import { pinInfo } from './persist/fdinfo.js';

function describe(p: string): string {
  try {
    const i = pinInfo(p);
    if (i.kind === 'link') return `${p} (link ${i.id} → program ${i.progId ?? '?'}, detached)`;
    return `${p} (${i.kind} ${i.id})`;
  } catch {
    return p;
  }
}

/** Removes depth first, a version directory's links/ before its maps/: every attachment goes before the maps it uses. */
function walk(dir: string, out: string[]): void {
  const names = readdirSync(dir).sort();
  const dirs = names.filter((n) => statSync(join(dir, n)).isDirectory());
  const files = names.filter((n) => !dirs.includes(n));
  for (const n of dirs.sort((a, b) => Number(b === 'links') - Number(a === 'links'))) {
    walk(join(dir, n), out);
    rmdirSync(join(dir, n));
    out.push(join(dir, n));
  }
  for (const n of files) {
    out.push(describe(join(dir, n)));
    unlinkSync(join(dir, n));
  }
}

/** Removes the pin tree at `root` (a directory inside a mounted bpffs) and returns what it removed, deepest first. */
export function uninstallPins(root: string): string[] {
  if (!isBpffs(dirname(root))) throw new SensorError('NO_BPFFS', `${dirname(root)} is not a bpffs mount: refusing to remove anything under ${root}`);
  let exists = true;
  try {
    statSync(root);
  } catch {
    exists = false;
  }
  if (!exists) return [];
  const removed: string[] = [];
  walk(root, removed);
  rmdirSync(root);
  removed.push(root);
  return removed;
}
