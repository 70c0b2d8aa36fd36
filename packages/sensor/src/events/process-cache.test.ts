import { describe, expect, it } from '@jest/globals';
import { ProcFlags } from '../abi/layout.js';
import { ProcessCache, type NewProcess, type ProcessInfo } from './process-cache.js';

function proc(cache: ProcessCache, pid: number, ktime: bigint, parent?: ProcessInfo): NewProcess {
  return {
    execId: cache.idFor(ktime, pid), pid, tid: pid, ppid: parent?.pid ?? 0, parentExecId: parent?.execId,
    binary: `/bin/p${pid}`, args: [], cwd: '/', uid: 0, euid: 0, gid: 0, egid: 0, auid: 0, cgroupId: 0n, ktime, flags: ProcFlags.EXECVE,
  };
}

describe('ProcessCache', () => {
  it('keeps an exited parent while a child references it, then releases both', () => {
    const c = new ProcessCache({ node: 'n' });
    const parent = c.insert(proc(c, 1, 1n));
    const child = c.insert(proc(c, 2, 2n, parent));
    c.markExited(parent);
    expect(c.get(parent.execId)).toBe(parent); // still needed for the child's ancestry
    expect(c.byPidNow(1)).toBeUndefined();
    expect(c.ancestors(child, 5)).toEqual([parent]);
    c.markExited(child);
    expect(c.size).toBe(0);
    expect(c.stats()).toMatchObject({ inserted: 2, released: 2, evicted: 0 });
  });

  it('an exec in the same pid replaces the previous image', () => {
    const c = new ProcessCache({ node: 'n' });
    const sh = c.insert(proc(c, 5, 1n));
    const again = c.insert(proc(c, 5, 2n));
    expect(c.byPidNow(5)).toBe(again);
    expect(c.get(sh.execId)).toBeUndefined();
  });

  it('a fork inherits the parent image and a later exec points at the forking parent', () => {
    const c = new ProcessCache({ node: 'n' });
    const sh = c.insert({ ...proc(c, 10, 100n), binary: '/bin/sh', args: ['-c', 'x'] });
    const clone = c.fromFork({ kind: 'fork', cpu: 0, seq: 0n, ktime: 0n, pid: 11, ppid: 10, execKtime: 200n, parentKtime: 100n });
    expect(clone.binary).toBe('/bin/sh');
    expect(clone.flags & ProcFlags.CLONE).toBeTruthy();
    expect(clone.parentExecId).toBe(sh.execId);
  });

  it('never exceeds its bound: evicts exited ancestors first, running processes only when nothing else is left', () => {
    const c = new ProcessCache({ node: 'n', maxEntries: 100 });
    let prev = c.insert(proc(c, 1, 1n));
    for (let i = 2; i <= 150; i++) {
      const next = c.insert(proc(c, i, BigInt(i), prev));
      c.markExited(prev); // kept only because `next` references it
      prev = next;
    }
    expect(c.size).toBe(100);
    expect(c.stats().evicted).toBe(50);
    expect(c.byPidNow(150)).toBe(prev); // the running process survived

    const d = new ProcessCache({ node: 'n', maxEntries: 100 });
    for (let i = 1; i <= 150; i++) d.insert(proc(d, i, BigInt(i)));
    expect(d.size).toBe(100);
    expect(d.stats().evicted).toBe(50);
    expect(d.byPidNow(1)).toBeUndefined(); // oldest first
    expect(d.byPidNow(150)).toBeDefined();
  });

  it('exec ids are base64 of node:ktime:pid', () => {
    const c = new ProcessCache({ node: 'node-a' });
    expect(Buffer.from(c.idFor(123n, 45), 'base64').toString()).toBe('node-a:123:45');
  });
});
