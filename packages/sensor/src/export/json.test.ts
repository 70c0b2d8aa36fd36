import { describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ProcFlags } from '../abi/layout.js';
import { KtimeClock, rfc3339 } from '../events/exec-id.js';
import { ProcessCache } from '../events/process-cache.js';
import { CompactFormatter } from './compact.js';
import { TetragonJsonFormatter, formatArguments } from './json.js';
import type { SensorEvent } from './model.js';

const GOLDEN = fileURLToPath(new URL('./__golden__/', import.meta.url));
// Wall clock = ktime + offset: ktime 1 s after boot is 2026-01-02T03:04:05.000000001Z.
const clock = new KtimeClock(1_767_323_045_000_000_001n, 1_000_000_000n);
const cache = new ProcessCache({ node: 'node-1' });

const parent = cache.insert({
  pid: 100, tid: 100, ppid: 0, ktime: 1_000_000_000n, parentKtime: 0n, binary: '/usr/bin/dash', args: ['-c', '/bin/echo hi there'], cwd: '/',
  uid: 0, euid: 0, gid: 0, egid: 0, auid: 0xffffffff, cgroupId: 0n, flags: ProcFlags.PROCFS,
});
const child = cache.insert({
  pid: 101, tid: 101, ppid: 100, ktime: 2_500_000_000n, parentKtime: 1_000_000_000n, binary: '/usr/bin/echo', args: ['hi there', 'x'],
  cwd: '/home/u', uid: 1000, euid: 1000, gid: 1000, egid: 1000, auid: 1000, cgroupId: 4242n, flags: ProcFlags.EXECVE,
});
const execEv: SensorEvent = { type: 'process_exec', timeNs: clock.wallNs(2_500_000_000n), process: child, parent, ancestors: undefined };
const exitEv: SensorEvent = { type: 'process_exit', timeNs: clock.wallNs(3_000_000_000n), process: child, parent, ancestors: undefined, status: 0, signal: 9 };

function golden(name: string, actual: string): void {
  const path = `${GOLDEN}${name}`;
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(path, actual);
  expect(actual).toBe(readFileSync(path, 'utf8'));
}

describe('Tetragon-compatible JSON', () => {
  const f = new TetragonJsonFormatter('node-1', clock);
  it('process_exec matches the golden file', () => golden('process-exec.json', `${f.format(execEv)}\n`));
  it('process_exit matches the golden file', () => golden('process-exit.json', `${f.format(exitEv)}\n`));

  it('follows protojson conventions', () => {
    const j = JSON.parse(f.format(execEv));
    expect(typeof j.process_exec.process.cgroup_id).toBe('string'); // 64-bit as string
    expect(j.process_exec.process.uid).toBe(1000);
    expect(j.process_exec.parent.uid).toBe(0); // wrapper fields stay when zero
    expect(j.process_exec.parent).not.toHaveProperty('cgroup_id'); // zero scalars are omitted
    expect(j.process_exec.parent.flags).toBe('procFS rootcwd');
    expect(j.time).toBe('2026-01-02T03:04:06.500000001Z');
    const exit = JSON.parse(f.format(exitEv));
    expect(exit.process_exit.signal).toBe('SIGKILL');
    expect(exit.process_exit).not.toHaveProperty('status');
  });

  it('quotes arguments that contain spaces', () => {
    expect(formatArguments(['-c', '/bin/echo a b', 'plain'])).toBe('-c "/bin/echo a b" plain');
    expect(formatArguments(['say "x y"'])).toBe('"say \\"x y\\""');
  });

  it('prints RFC 3339 with 0, 3, 6 or 9 fractional digits', () => {
    expect(rfc3339(1_700_000_000_000_000_000n)).toBe('2023-11-14T22:13:20Z');
    expect(rfc3339(1_700_000_000_120_000_000n)).toBe('2023-11-14T22:13:20.120Z');
    expect(rfc3339(1_700_000_000_000_120_000n)).toBe('2023-11-14T22:13:20.000120Z');
    expect(rfc3339(1_700_000_000_000_000_001n)).toBe('2023-11-14T22:13:20.000000001Z');
  });
});

describe('enforcement events', () => {
  const ev: SensorEvent = {
    type: 'enforcement', timeNs: clock.wallNs(2_600_000_000n), process: child, parent, ancestors: undefined, eventKind: 'process_lsm', functionName: 'file_open',
    policyName: 'protect-secret', action: 'deny', mechanism: 'fanotify', detail: 'inode 12 dev 2049',
  };
  it('JSON carries Tetragon\'s process_lsm fields plus the mechanism', () => {
    const j = JSON.parse(new TetragonJsonFormatter('node-1', clock).format(ev));
    expect(j.process_lsm).toMatchObject({ function_name: 'file_open', policy_name: 'protect-secret', action: 'KPROBE_ACTION_OVERRIDE', mechanism: 'fanotify', target: 'inode 12 dev 2049' });
    expect(j.process_lsm.process.binary).toBe('/usr/bin/echo');
    expect(j.process_lsm.parent.binary).toBe('/usr/bin/dash');
  });
  it('compact says what happened and how', () => {
    expect(new CompactFormatter().format(ev)).toBe('🔒 deny    /usr/bin/echo file_open inode 12 dev 2049 EPERM (fanotify, policy protect-secret)');
    expect(new CompactFormatter().format({ ...ev, action: 'kill', functionName: 'bprm_check_security', detail: '' } as SensorEvent)).toBe('💥 kill    /usr/bin/echo bprm_check_security SIGKILL (fanotify, policy protect-secret)');
  });
});

describe('compact format', () => {
  const f = new CompactFormatter();
  it('prints exec and exit lines', () => {
    expect(f.format(execEv)).toBe('🚀 process /usr/bin/echo "hi there" x');
    expect(f.format(exitEv)).toBe('💥 exit    /usr/bin/echo "hi there" x SIGKILL');
    expect(f.format({ ...exitEv, signal: 0, status: 3 } as SensorEvent)).toBe('💥 exit    /usr/bin/echo "hi there" x 3');
  });
});
