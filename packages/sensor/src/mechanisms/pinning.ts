/**
 * Keeping a mechanism armed without its process: the deny and exempt maps and the links are pinned under one
 * bpffs directory per mechanism. A later sensor reuses the pinned maps (libbpf's pin-path reuse: the deny set
 * survives), attaches its new programs, then detaches the old pinned links and pins its own: there is no moment
 * with nothing attached. (bpf_link__update_program would avoid the overlap for cgroup links, but it fails with
 * EINVAL for tracepoint links, KERNEL.md.)
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { BpfLink, LibbpfError, type BpfObject } from '../libbpf/index.js';

/** Before load: pin `maps` of `obj` in `dir`, reusing compatible maps an earlier sensor pinned there. */
export function pinMaps(obj: BpfObject, dir: string, maps: readonly string[]): void {
  mkdirSync(dir, { recursive: true });
  for (const name of maps) obj.map(name).setPinPath(join(dir, name));
}

/** After attaching `link`: detach the link pinned at `dir/name` (if any), then pin `link` there. */
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

/** Removes every pin in `dir` (links detach when their last reference goes) and the directory. */
export function removePins(dir: string): void {
  if (!existsSync(dir)) return;
  for (const f of readdirSync(dir)) unlinkSync(join(dir, f));
  rmdirSync(dir);
}
