// The last applied bundle per policy, on local disk, so a restarted sensor keeps enforcing (and re-acks) without
// NATS or the operator. One file per policy, written atomically (temporary file, fsync, rename, fsync dir).
import { closeSync, fsyncSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BundleJson } from '@vigil/policy-schema';
import { encodeToken, TransportError, type Assignment } from './protocol.js';

export interface StoredPolicy {
  assignment: Assignment;
  bundle: BundleJson;
}

export class StateStore {
  private readonly dir: string;

  /** `fsync: false` skips the two fsyncs per save (benchmarks that run 100 sensors on one disk); keep the default. */
  constructor(
    stateDir: string,
    private readonly fsync = true,
  ) {
    this.dir = join(stateDir, 'bundles');
    try {
      mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (e) {
      throw new TransportError('STATE_DIR', `cannot create state directory ${this.dir}: ${(e as Error).message}`);
    }
  }

  private file(policyUid: string): string {
    return join(this.dir, `${encodeToken(policyUid)}.json`);
  }

  /** Every stored policy; files that do not parse (a crash mid-write cannot leave one, but disks fail) are skipped. */
  list(): StoredPolicy[] {
    const out: StoredPolicy[] = [];
    for (const name of readdirSync(this.dir)) {
      if (!name.endsWith('.json')) continue;
      try {
        out.push(JSON.parse(readFileSync(join(this.dir, name), 'utf8')) as StoredPolicy);
      } catch {
        // ignored: the operator's assignment will bring the policy back
      }
    }
    return out;
  }

  save(entry: StoredPolicy): void {
    const target = this.file(entry.assignment.policyUid);
    const tmp = `${target}.tmp`;
    writeFileSync(tmp, JSON.stringify(entry), { mode: 0o600 });
    if (!this.fsync) {
      renameSync(tmp, target);
      return;
    }
    const fd = openSync(tmp, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
    const dfd = openSync(this.dir, 'r');
    try {
      fsyncSync(dfd);
    } finally {
      closeSync(dfd);
    }
  }

  remove(policyUid: string): void {
    rmSync(this.file(policyUid), { force: true });
  }
}
