/**
 * `vigil-sensor uninstall`: removes everything Vigil pinned under its bpffs root. Pinned links detach when their
 * last pin goes (no running sensor holds them), pinned maps are freed with their last reference; what was removed
 * is listed so a person can see it. Refuses paths outside a bpffs.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SensorError } from './errors.js';
import { isBpffs } from './fs-magic.js';

function walk(dir: string, out: string[]): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    out.push(p);
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
  rmSync(root, { recursive: true, force: true });
  removed.push(root);
  return removed;
}
