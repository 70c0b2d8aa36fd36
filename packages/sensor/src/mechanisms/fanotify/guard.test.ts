/**
 * Real-kernel tests of the fanotify guard: FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM answered by the worker thread give
 * child processes a real EPERM; the sensor's own opens (sync and thread-pool) are answered, never deadlocked;
 * closing the group allows what was pending.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipMissing } from '../../../../../tools/kernel-matrix/skip.js';
import { VG_TRY, capability, vgTry } from '../test-kernel.js';
import { FanotifyGuard, type FanotifyDecision } from './guard.js';

let dir: string;
let secret: string;
let other: string;
let bin: string;

function missing(): boolean {
  const c = capability('fanotify');
  if (!c.available) skipMissing(expect.getState().currentTestName, 'fanotify', c.reason);
  return !c.available;
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('fanotify permission events need root');
  if (!existsSync(VG_TRY)) throw new Error(`${VG_TRY} is missing: run make -C bpf`);
  dir = mkdtempSync(join(tmpdir(), 'vigil-fanotify-'));
  secret = join(dir, 'secret.txt');
  other = join(dir, 'other.txt');
  bin = join(dir, 'protected-true');
  writeFileSync(secret, 'top secret\n');
  writeFileSync(other, 'public\n');
  copyFileSync('/bin/true', bin);
  chmodSync(bin, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('fanotify guard (FAN_OPEN_PERM / FAN_OPEN_EXEC_PERM from a worker thread, real kernel)', () => {
  it('denies open of a protected file to a child with EPERM and leaves other files readable', async () => {
    if (missing()) return;
    const denies: FanotifyDecision[] = [];
    await using g = await FanotifyGuard.start({ onDeny: (d) => denies.push(d) });
    await g.setDenySet([{ path: secret }]);
    expect(vgTry(['open', secret]).out).toBe('EPERM');
    expect(spawnSync('/bin/cat', [secret], { encoding: 'utf8' }).stderr).toContain('Operation not permitted');
    expect(vgTry(['open', other]).out).toBe('ok');
    const uring = vgTry(['uring_open', secret]).out; // io_uring opens reach the same VFS permission hook
    expect(['EPERM', 'ENOSYS']).toContain(uring);
    await new Promise((r) => setTimeout(r, 50));
    const st = statSync(secret, { bigint: true });
    expect(denies.length).toBe(uring === 'EPERM' ? 3 : 2);
    expect(denies[0]).toMatchObject({ dev: st.dev, ino: st.ino, kind: 'open' });
    expect(g.counters().denied).toBe(BigInt(denies.length));
  });

  it('denies exec of a protected binary with EPERM (FAN_OPEN_EXEC_PERM); updates apply live', async () => {
    if (missing()) return;
    await using g = await FanotifyGuard.start();
    await g.setDenySet([{ path: bin }]);
    expect(vgTry(['exec', bin]).out).toBe('EPERM');
    const r = spawnSync(bin);
    expect((r.error as NodeJS.ErrnoException | undefined)?.code).toBe('EPERM');
    const script = join(dir, 'protected.sh');
    writeFileSync(script, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    await g.setDenySet([{ path: script }]);
    expect(vgTry(['exec', script]).out).toBe('EPERM'); // a #! script itself: the exec opens it with FMODE_EXEC
    await g.setDenySet([{ path: secret }]);
    expect(spawnSync(bin).status).toBe(0);
    expect(vgTry(['open', secret]).out).toBe('EPERM');
    await g.setDenySet([]);
    expect(vgTry(['open', secret]).out).toBe('ok');
  });

  it("exec-only rules (only: 'exec') deny executing the binary with EPERM and still let it be opened and read; marks narrow and widen live", async () => {
    if (missing()) return;
    const denies: FanotifyDecision[] = [];
    await using g = await FanotifyGuard.start({ onDeny: (d) => denies.push(d) });
    await g.setDenySet([{ path: bin, only: 'exec' }]);
    expect(vgTry(['exec', bin]).out).toBe('EPERM');
    expect(vgTry(['open', bin]).out).toBe('ok'); // reading the binary (copying, hashing) is not executing it
    await new Promise((r) => setTimeout(r, 50)); // decisions come from the worker thread
    expect(denies.map((d) => d.kind)).toEqual(['exec']);
    await g.setDenySet([{ path: bin }]); // widened: every open
    expect(vgTry(['open', bin]).out).toBe('EPERM');
    await g.setDenySet([{ path: bin, only: 'exec' }]); // narrowed again without unmarking the file
    expect(vgTry(['open', bin]).out).toBe('ok');
    expect(vgTry(['exec', bin]).out).toBe('EPERM');
    await g.setDenySet([]);
    expect(spawnSync(bin).status).toBe(0);
  });

  it("answers the sensor's own opens (sync on the main thread and through libuv's thread pool) without deadlock", async () => {
    if (missing()) return;
    await using g = await FanotifyGuard.start();
    await g.setDenySet([{ path: secret }, { path: other }]);
    expect(readFileSync(secret, 'utf8')).toBe('top secret\n'); // exempt: this process
    const all = await Promise.all(Array.from({ length: 16 }, (_, i) => readFile(i % 2 ? secret : other, 'utf8')));
    expect(all.filter((s) => s === 'public\n')).toHaveLength(8);
    expect(g.counters().exemptAllowed).toBe(17n);
    expect(vgTry(['open', secret]).out).toBe('EPERM'); // still enforced for others
  });

  it('allows pending and later opens once the group is closed (sensor gone)', async () => {
    if (missing()) return;
    const g = await FanotifyGuard.start();
    await g.setDenySet([{ path: secret }]);
    g.pauseForTest();
    await new Promise((r) => setTimeout(r, 50));
    const child = spawn(VG_TRY, ['open', secret], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    await new Promise((r) => setTimeout(r, 300));
    expect(child.exitCode).toBeNull(); // blocked in open(), waiting for an answer
    await g.close();
    await done;
    expect(out.trim()).toBe('ok');
    expect(vgTry(['open', secret]).out).toBe('ok');
  });

  it('on a marked mount, denies by identity and adds ignore marks for allowed files', async () => {
    if (missing()) return;
    const mnt = mkdtempSync(join(tmpdir(), 'vigil-fan-mnt-'));
    const m = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', mnt]);
    if (m.status !== 0) throw new Error(`mount tmpfs failed: ${m.stderr.toString()}`);
    try {
      const a = join(mnt, 'a');
      const b = join(mnt, 'b');
      writeFileSync(a, 'a');
      writeFileSync(b, 'b');
      const sa = statSync(a, { bigint: true });
      await using g = await FanotifyGuard.start();
      g.markWhole(mnt, 'mount');
      await g.setDenySet([{ dev: sa.dev, ino: sa.ino }]);
      expect(vgTry(['open', a]).out).toBe('EPERM');
      expect(vgTry(['open', b]).out).toBe('ok');
      const before = g.counters().events;
      expect(vgTry(['open', b]).out).toBe('ok'); // ignored now: no event
      expect(g.counters().events).toBe(before);
      expect(g.counters().ignoreMarks).toBe(1n);
      // Denying b flushes the ignore marks: b is checked again.
      const sb = statSync(b, { bigint: true });
      await g.setDenySet([{ dev: sb.dev, ino: sb.ino }]);
      expect(vgTry(['open', b]).out).toBe('EPERM');
      expect(vgTry(['open', a]).out).toBe('ok');
    } finally {
      spawnSync('umount', [mnt]);
      rmSync(mnt, { recursive: true, force: true });
    }
  });
});
