import { describe, expect, it } from '@jest/globals';
import { ProcFlags } from '../abi/layout.js';
import { ProcessCache, type NewProcess, type ProcessInfo } from './process-cache.js';

function proc(pid: number, ktime: bigint, parent?: ProcessInfo, over: Partial<NewProcess> = {}): NewProcess {
  return {
    pid, tid: pid, ppid: parent?.pid ?? 0, ktime, parentKtime: parent?.ktime ?? 0n, binary: `/bin/p${pid % 7}`, args: ['-x', String(pid % 3)],
    cwd: '/', uid: 0, euid: 0, gid: 0, egid: 0, auid: 0, cgroupId: 7n, flags: ProcFlags.EXECVE, ...over,
  };
}

describe('ProcessCache', () => {
  it('links children to their parents and keeps an exited parent reachable from its child', () => {
    const c = new ProcessCache({ node: 'n' });
    const parent = c.insert(proc(1, 1n));
    const child = c.insert(proc(2, 2n, parent));
    expect(child.parent).toBe(parent);
    c.markExited(parent);
    expect(c.byPidNow(1)).toBeUndefined(); // no longer indexed as running
    expect(c.ancestors(child, 5)).toEqual([parent]); // but still the child's parent
    expect(c.parentExecIdOf(child)).toBe(c.execIdOf(parent));
    expect(c.stats()).toMatchObject({ size: 1, inserted: 2, exited: 1, evicted: 0 });
  });

  it('knows the parent exec_id from the kernel even when the parent is not cached', () => {
    const c = new ProcessCache({ node: 'n' });
    const orphan = c.insert({ ...proc(9, 9n), ppid: 3, parentKtime: 33n });
    expect(orphan.parent).toBeUndefined();
    expect(Buffer.from(c.parentExecIdOf(orphan) as string, 'base64').toString()).toBe('n:33:3');
  });

  it('an exec in the same pid replaces the previous image', () => {
    const c = new ProcessCache({ node: 'n' });
    const sh = c.insert(proc(5, 1n));
    const again = c.insert(proc(5, 2n));
    expect(c.byPidNow(5)).toBe(again);
    expect(sh.exited).toBe(true);
    expect(c.find(1n, 5)).toBeUndefined();
    expect(c.find(2n, 5)).toBe(again);
    expect(c.insert(proc(5, 2n))).toBe(again); // the same process seen twice is one entry
  });

  it('a fork inherits the parent image and points at the forking parent', () => {
    const c = new ProcessCache({ node: 'n' });
    const sh = c.insert(proc(10, 100n, undefined, { binary: '/bin/sh', args: ['-c', 'x'] }));
    const clone = c.fromFork({ kind: 'fork', cpu: 0, seq: 0n, ktime: 0n, pid: 11, ppid: 10, execKtime: 200n, parentKtime: 100n });
    expect(clone.binary).toBe('/bin/sh');
    expect(clone.args).toEqual(['-c', 'x']);
    expect(clone.flags & ProcFlags.CLONE).toBeTruthy();
    expect(clone.parent).toBe(sh);
  });

  it('interns repeated values: one copy of each binary, argv, cwd and credential set', () => {
    const c = new ProcessCache({ node: 'n' });
    const a = c.insert(proc(20, 1n, undefined, { binary: ['/usr/', 'bin/x'].join(''), args: ['a', 'b'] }));
    const b = c.insert(proc(21, 2n, undefined, { binary: ['/usr/b', 'in/x'].join(''), args: ['a', 'b'] }));
    expect(b.args).toBe(a.args);
    expect(b.creds).toBe(a.creds);
    expect(Object.is(a.binary, b.binary)).toBe(true);
  });

  it('never indexes more running processes than its bound: the oldest are evicted and counted', () => {
    const c = new ProcessCache({ node: 'n', maxEntries: 100 });
    for (let i = 1; i <= 150; i++) c.insert(proc(i, BigInt(i)));
    expect(c.size).toBe(100);
    expect(c.stats().evicted).toBe(50);
    expect(c.byPidNow(1)).toBeUndefined(); // oldest first
    expect(c.byPidNow(150)).toBeDefined();
  });

  it('exec ids are base64 of node:ktime:pid', () => {
    const c = new ProcessCache({ node: 'node-a' });
    expect(Buffer.from(c.idFor(123n, 45), 'base64').toString()).toBe('node-a:123:45');
    expect(c.execIdOf(c.insert(proc(45, 123n)))).toBe(c.idFor(123n, 45));
  });
});
