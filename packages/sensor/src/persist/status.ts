/**
 * `vigil-sensor status`: what Vigil has pinned and what keeps enforcing, read from bpffs and the state directory
 * only (works whether or not a sensor runs). Generic over the pin tree: every `obj-v<version>-<sha12>` directory
 * anywhere under the root is shown as one object build (metadata record, maps, links with their program ids,
 * counters), every other pin (state maps, generic/<policy>/… objects, earlier flat layouts) by kind and id.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { closeFd, objGet } from '../libbpf/index.js';
import { readApplied, type AppliedState } from './applied.js';
import { pinInfo, type PinInfo } from './fdinfo.js';
import { LINKS_DIR, MAPS_DIR, parseVersionDir } from './layout.js';
import type { ObjectMeta } from './meta.js';
import { readPinnedMeta } from './pinned-object.js';
import { rawLookup } from './raw-map.js';

/** Per-CPU counter structs the status sums, with their ABI field order (append-only, see bpf/include/abi). */
const COUNTERS: Record<string, readonly string[]> = {
  vg_enf_stats: ['checked', 'denied', 'exempt', 'emitFail', 'monitored'],
  vg_stats: ['seq', 'reserveFail', 'exitUntracked', 'procUpdateFail'],
};
/** The counter of each struct that counts ring-buffer records the kernel could not store. */
const LOSS_FIELD: Record<string, string> = { vg_enf_stats: 'emitFail', vg_stats: 'reserveFail' };

export interface PinEntry {
  path: string;
  kind: PinInfo['kind'] | 'unreadable';
  id: number;
  progId?: number;
  linkType?: string;
}

export interface BuildStatus {
  /** e.g. enforce/exec-kill */
  unit: string;
  dir: string;
  version: number;
  sha12: string;
  stale: boolean;
  meta: (Omit<ObjectMeta, 'checkpointNs' | 'lostSeen'> & { checkpointAt: string | null; lostSeen: string }) | null;
  maps: PinEntry[];
  links: PinEntry[];
  counters: Record<string, string>;
  /** ring losses since the last sensor checkpoint: what was lost while no sensor read the ring */
  lostSinceCheckpoint: string | null;
}

export interface PinStatus {
  root: string;
  pinned: boolean;
  builds: BuildStatus[];
  /** pins outside object build directories */
  other: PinEntry[];
  applied: AppliedState | null;
  /** problems reading the state directory */
  warnings: string[];
}

function describe(path: string): PinEntry {
  try {
    const i = pinInfo(path);
    return { path, kind: i.kind, id: i.id, ...(i.progId !== undefined ? { progId: i.progId } : {}), ...(i.fields.link_type ? { linkType: i.fields.link_type } : {}) };
  } catch {
    return { path, kind: 'unreadable', id: 0 };
  }
}

function isDir(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function listPins(dir: string): string[] {
  return isDir(dir) ? readdirSync(dir).sort().map((f) => join(dir, f)) : [];
}

function sumCounters(path: string, fields: readonly string[]): Record<string, bigint> {
  const out: Record<string, bigint> = {};
  const info = pinInfo(path);
  const fd = objGet(path);
  try {
    const raw = rawLookup(fd, info, Buffer.alloc(4));
    if (!raw) return out;
    const stride = Math.ceil((info.valueSize ?? 0) / 8) * 8;
    const n = Math.min(fields.length, Math.floor((info.valueSize ?? 0) / 8));
    for (let off = 0; off + stride <= raw.length; off += stride) {
      for (let i = 0; i < n; i++) {
        const name = fields[i] as string;
        out[name] = (out[name] ?? 0n) + raw.readBigUInt64LE(off + i * 8);
      }
    }
    return out;
  } finally {
    closeFd(fd);
  }
}

function buildStatus(root: string, dir: string, v: NonNullable<ReturnType<typeof parseVersionDir>>): BuildStatus {
  const meta = readPinnedMeta(dir);
  const maps = listPins(join(dir, MAPS_DIR)).map(describe);
  const counters: Record<string, string> = {};
  let lost: bigint | undefined;
  for (const [map, fields] of Object.entries(COUNTERS)) {
    const p = join(dir, MAPS_DIR, map);
    if (!maps.some((m) => m.path === p && m.kind === 'map')) continue;
    try {
      const c = sumCounters(p, fields);
      for (const [k, val] of Object.entries(c)) counters[k] = val.toString();
      const lossField = LOSS_FIELD[map];
      const l = lossField ? c[lossField] : undefined;
      if (l !== undefined && lost === undefined) lost = l; // enforcement objects count a failed reserve in both maps: the first one (vg_enf_stats) is what the sensor checkpoints
    } catch {
      /* an unreadable counter map shows as such in maps[] */
    }
  }
  return {
    unit: relative(root, join(dir, '..')),
    dir,
    version: v.version,
    sha12: v.sha12,
    stale: v.stale,
    meta: meta
      ? {
          objectVersion: meta.objectVersion,
          eventsAbi: meta.eventsAbi,
          procsSchema: meta.procsSchema,
          checkpointAt: meta.checkpointNs > 0n ? new Date(Number(meta.checkpointNs / 1_000_000n)).toISOString() : null,
          lostSeen: meta.lostSeen.toString(),
        }
      : null,
    maps,
    links: listPins(join(dir, LINKS_DIR)).map(describe),
    counters,
    lostSinceCheckpoint: meta && lost !== undefined && lost >= meta.lostSeen ? (lost - meta.lostSeen).toString() : null,
  };
}

function walk(root: string, dir: string, st: PinStatus): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (!isDir(p)) {
      st.other.push(describe(p));
      continue;
    }
    const v = parseVersionDir(name);
    if (v) st.builds.push(buildStatus(root, p, v));
    else walk(root, p, st);
  }
}

/** Reads the pin tree under `root` and the applied-policy record of `stateDir`. */
export function pinStatus(root: string, stateDir: string | undefined): PinStatus {
  const st: PinStatus = { root, pinned: isDir(root), builds: [], other: [], applied: null, warnings: [] };
  if (st.pinned) walk(root, root, st);
  if (stateDir) {
    try {
      st.applied = readApplied(stateDir) ?? null;
    } catch (err) {
      st.warnings.push((err as Error).message);
    }
  }
  return st;
}


/** The human form of `vigil-sensor status`. */
export function formatStatus(st: PinStatus): string {
  const lines: string[] = [];
  if (!st.pinned) lines.push(`nothing pinned under ${st.root}`);
  else lines.push(`pin root ${st.root}: ${st.builds.length} object build(s), ${st.other.length} other pin(s)`);
  for (const b of st.builds) {
    lines.push('');
    lines.push(`${b.unit}  v${b.version} ${b.sha12}${b.stale ? '  STALE (left by an interrupted repair; removed on the next start)' : ''}`);
    if (b.meta?.checkpointAt) lines.push(`  last sensor checkpoint ${b.meta.checkpointAt}`);
    for (const l of b.links) lines.push(`  link ${relative(b.dir, l.path).replace(`${LINKS_DIR}/`, '')}: ${l.kind === 'link' ? `link id ${l.id}, program id ${l.progId ?? '?'}${l.linkType ? ` (${l.linkType})` : ''}` : l.kind}`);
    lines.push(`  maps: ${b.maps.map((m) => `${relative(join(b.dir, MAPS_DIR), m.path)}${m.kind === 'map' ? `#${m.id}` : ` (${m.kind})`}`).join(', ')}`);
    const c = Object.entries(b.counters).map(([k, v]) => `${k} ${v}`);
    if (c.length > 0) lines.push(`  counters: ${c.join(', ')}`);
    if (b.lostSinceCheckpoint !== null) lines.push(`  events lost since the last checkpoint (lost_while_down if no sensor runs): ${b.lostSinceCheckpoint}`);
  }
  if (st.other.length > 0) {
    lines.push('');
    lines.push('other pins:');
    for (const o of st.other) lines.push(`  ${relative(st.root, o.path)}: ${o.kind}${o.id ? ` id ${o.id}` : ''}${o.progId ? ` program id ${o.progId}` : ''}`);
  }
  lines.push('');
  if (!st.applied) lines.push('no applied-policy record in the state directory');
  else if (st.applied.policies.length === 0) lines.push('applied policies: none');
  else {
    lines.push('applied policies:');
    for (const p of st.applied.policies) {
      lines.push(`  ${p.policyName} generation ${p.generation} bundle ${p.contentHash.slice(0, 12)} applied ${p.appliedAt}`);
      for (const h of p.hooks) lines.push(`    ${h.path} ${h.hook} → ${h.mechanism}: ${h.persistence}${h.whileDown ? ` (while the sensor is down: ${h.whileDown})` : ''}`);
    }
  }
  for (const w of st.warnings) lines.push(`warning: ${w}`);
  return lines.join('\n');
}
