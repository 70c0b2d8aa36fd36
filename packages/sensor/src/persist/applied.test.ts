import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Bundle } from '@vigil/policy-schema';
import { RecordingApplier } from '../transport/applier.js';
import { PersistingApplier, appliedFile, persistenceOf, readApplied } from './applied.js';
import { PersistError } from './errors.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-applied-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const bundle = (uid: string, name: string, generation: number) =>
  ({ version: { policyUid: uid, generation, grammarVersion: 1, contentHash: `${uid}-hash-${generation}` }, policy: { name, kind: 'TracingPolicy', mode: 'enforce', loader: false } }) as unknown as Bundle;

describe('applied-policy record', () => {
  it('says which hooks persist without the sensor and which degrade', () => {
    expect(persistenceOf('bprm_check_security', 'tp_btf')).toEqual({ persistence: 'persistent' });
    expect(persistenceOf('socket_connect', 'cgroup_sock')).toEqual({ persistence: 'persistent' });
    expect(persistenceOf('file_open', 'fanotify')).toMatchObject({ persistence: 'degrades', whileDown: expect.stringContaining('O_TRUNC') });
    expect(persistenceOf('file_open', 'fanotify', 'refused')).toEqual({ persistence: 'refused' });
  });

  it('follows applies and removals, atomically; a truncated file is refused with the file and the fix named', async () => {
    const inner = new RecordingApplier();
    const a = new PersistingApplier(inner, dir, () => [{ path: 'lsmhooks[0]', hook: 'file_open', mechanism: 'fanotify', status: 'enforcing' }], () => new Date('2026-11-23T00:00:00Z'));
    expect((await a.apply(bundle('u1', 'p-one', 3))).result).toBe('applied');
    inner.decide = () => ({ result: 'refused', reason: 'no' });
    await a.apply(bundle('u2', 'p-two', 1)); // refused: not recorded
    expect(readApplied(dir)).toEqual({
      schema: 1,
      policies: [{ policyUid: 'u1', policyName: 'p-one', generation: 3, contentHash: 'u1-hash-3', appliedAt: '2026-11-23T00:00:00.000Z', hooks: [{ path: 'lsmhooks[0]', hook: 'file_open', mechanism: 'fanotify', persistence: 'degrades', whileDown: expect.any(String) }] }],
    });
    await a.remove('u1');
    expect(readApplied(dir)?.policies).toEqual([]);
    const size = readFileSync(appliedFile(dir)).length;
    truncateSync(appliedFile(dir), Math.floor(size / 2));
    expect(() => readApplied(dir)).toThrow(PersistError);
    expect(() => readApplied(dir)).toThrow(`${appliedFile(dir)} does not parse`);
    a.flush(); // the next write repairs it
    expect(readApplied(dir)?.policies).toEqual([]);
    writeFileSync(appliedFile(dir), '{"schema":7,"policies":[]}');
    expect(() => readApplied(dir)).toThrow('schema 7');
    expect(readApplied(join(dir, 'nowhere'))).toBeUndefined();
  });
});
