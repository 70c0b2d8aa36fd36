/**
 * Policies removed while the sensor was down, for engines that pin per policy (the in-kernel selector engine,
 * `<pinRoot>/generic/<encoded policy uid>/`, ADR 0008): after start-up has offered every known bundle, the
 * policy directories of uids it did not offer are stale. Node-wide directories (`node`, `vg_*`) are not policies.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeToken } from '../transport/protocol.js';

export function stalePolicyUids(policiesRoot: string, offered: ReadonlySet<string>): string[] {
  if (!existsSync(policiesRoot)) return [];
  const out: string[] = [];
  for (const name of readdirSync(policiesRoot).sort()) {
    if (name === 'node' || name.startsWith('vg_') || !statSync(join(policiesRoot, name)).isDirectory()) continue;
    let uid: string;
    try {
      uid = decodeToken(name);
    } catch {
      continue; // not a policy directory of ours
    }
    if (!offered.has(uid)) out.push(uid);
  }
  return out;
}
