/**
 * Real-kernel tests of what the fallback mechanisms gained for issue #8's gaps: monitor mode (recorded and counted,
 * nothing denied or killed) in connect deny, exec kill and open kill; scoping by identity set (pods/containers,
 * bpf/lib/identity.h) and by the caller's executable (matchBinaries); unix-socket connect deny
 * (cgroup/connect_unix, kernel >= 6.7); the io_uring deny (kill inside io_uring_setup); ia32 open syscalls; and a
 * second thread using the fd of a killed open.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import type { BpfMap } from '../libbpf/index.js';
import { ConnectDeny } from './connect-deny.js';
import type { EnforcementDecision } from './decision.js';
import { ExecKill } from './exec-kill.js';
import { OpenKill } from './open-kill.js';
import { BPF_OUT, TestCgroup, VG_TRY, capability, vgTry } from './test-kernel.js';
import { UnixConnectDeny } from './unix-deny.js';
import { UringKill } from './uring-kill.js';

const VG_FALLBACK = join(BPF_OUT, 'helpers/vg_fallback');
const OBJ = (name: string) => join(BPF_OUT, `${name}.bpf.o`);
let dir: string;
let secret: string;
let tool: string;
let server: Server;
let port: number;

function missing(...caps: Array<Parameters<typeof capability>[0]>): boolean {
  for (const cap of caps) {
    const c = capability(cap);
    if (!c.available) {
      skipMissing(expect.getState().currentTestName, cap, c.reason);
      return true;
    }
  }
  return false;
}

function fallback(args: readonly string[], cgroup?: string): { out: string; signal: NodeJS.Signals | null; status: number | null } {
  const r = spawnSync(VG_FALLBACK, cgroup ? ['--cgroup', cgroup, ...args] : [...args], { encoding: 'utf8', timeout: 10_000 });
  if (r.error) throw r.error;
  return { out: r.stdout.trim(), signal: r.signal, status: r.status };
}

/** Puts cgroup ids into identity set `setId` of a unit's vg_identity map (what the sensor's identity filler does). */
function fillIdentity(map: BpfMap, setId: number, cgroupIds: readonly bigint[]): void {
  for (const id of cgroupIds) {
    const k = Buffer.alloc(16);
    k.writeUInt32LE(setId, 0);
    k.writeBigUInt64LE(id, 8);
    map.update(k, Buffer.from([1]));
  }
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('these tests attach BPF programs: run them as root');
  for (const f of [VG_TRY, VG_FALLBACK, OBJ('sock_cgroup'), OBJ('open_kill'), OBJ('exec_kill'), OBJ('uring_deny')]) {
    if (!existsSync(f)) throw new Error(`${f} is missing: run make -C bpf`);
  }
  if (readFileSync('/sys/class/net/lo/operstate', 'utf8').trim() === 'down' || (parseInt(readFileSync('/sys/class/net/lo/flags', 'utf8'), 16) & 1) === 0) {
    spawnSync('ip', ['link', 'set', 'lo', 'up']);
  }
  dir = mkdtempSync(join(tmpdir(), 'vigil-fallback-'));
  secret = join(dir, 'secret.txt');
  writeFileSync(secret, 'top secret\n');
  tool = join(dir, 'tool');
  copyFileSync('/bin/true', tool);
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

describe('monitor mode in the fallback mechanisms (real kernel)', () => {
  it('connect: a monitor rule lets the connect through, records what it would have done and counts it', () => {
    if (missing('cgroup_v2', 'cgroup_sock', 'tp_btf', 'send_signal')) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using cd = ConnectDeny.start({ objectPath: OBJ('sock_cgroup'), cgroup: cg.path, onDecision: (d) => decisions.push(d) });
    cd.setDenySet([
      { id: 1, cidr: '127.0.0.1', ports: [[port, port]], monitor: true },
      { id: 2, cidr: '127.0.0.1', ports: [[port, port]], action: 'kill', monitor: true },
    ]);
    expect(vgTry(['connect', '127.0.0.1', String(port)], cg.path)).toMatchObject({ out: 'ok', signal: null });
    // an enforcing rule for the same destination wins over the monitor one, whatever the order of the rules
    cd.setDenySet([
      { id: 1, cidr: '127.0.0.1', ports: [[port, port]], monitor: true },
      { id: 3, cidr: '127.0.0.0/8', ports: [[port, port]] },
    ]);
    expect(vgTry(['connect', '127.0.0.1', String(port)], cg.path).out).toBe('EPERM');
    cd.drain();
    expect(decisions.map((d) => [d.mechanism, d.action, d.ruleId, d.monitor])).toEqual([
      ['connect4', 'deny', 1, true],
      ['connect4', 'deny', 3, false],
    ]);
    const c = cd.counters();
    expect([c.monitored, c.denied]).toEqual([1n, 1n]);
  });

  it('connect: a monitor kill rule neither denies nor kills', () => {
    if (missing('cgroup_v2', 'cgroup_sock', 'tp_btf', 'send_signal')) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using cd = ConnectDeny.start({ objectPath: OBJ('sock_cgroup'), cgroup: cg.path, onDecision: (d) => decisions.push(d) });
    cd.setDenySet([{ id: 2, cidr: '127.0.0.1', ports: [[port, port]], action: 'kill', monitor: true }]);
    expect(vgTry(['connect', '127.0.0.1', String(port)], cg.path)).toMatchObject({ out: 'ok', signal: null });
    cd.drain();
    expect(decisions.map((d) => [d.action, d.ruleId, d.monitor])).toEqual([['deny_kill', 2, true]]);
  });

  it('exec: a monitor rule lets the program run and records the kill it would have sent', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using ek = ExecKill.start({ objectPath: OBJ('exec_kill'), onDecision: (d) => decisions.push(d) });
    ek.setDenySet([{ id: 7, path: tool, monitor: true }]);
    const r = vgTry(['exec', tool], cg.path);
    expect({ status: r.status, signal: r.signal }).toEqual({ status: 0, signal: null });
    ek.drain();
    expect(decisions.map((d) => [d.mechanism, d.action, d.ruleId, d.monitor, d.cgroupId])).toEqual([['exec_kill', 'kill', 7, true, cg.id]]);
    expect(ek.counters()).toMatchObject({ monitored: 1n, denied: 0n });
  });

  it('open: a monitor rule lets the opener read and records the kill it would have sent', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using ok = OpenKill.start({ objectPath: OBJ('open_kill'), onDecision: (d) => decisions.push(d) });
    ok.setDenySet([{ id: 8, path: secret, monitor: true }]);
    expect(vgTry(['open', secret], cg.path)).toMatchObject({ out: 'ok', signal: null });
    ok.drain();
    expect(decisions.map((d) => [d.mechanism, d.action, d.ruleId, d.monitor, d.comm])).toEqual([['open_kill', 'kill', 8, true, 'vg_try']]);
    expect(ok.counters()).toMatchObject({ monitored: 1n, denied: 0n });
  });
});

describe('scoping in the fallback mechanisms (real kernel)', () => {
  it('identity sets: a rule for set 77 kills only tasks under a member cgroup; hostIncluded adds host tasks', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using pod = new TestCgroup();
    using container = new TestCgroup(pod.path); // a container's cgroup below its pod's
    using other = new TestCgroup();
    using ok = OpenKill.start({ objectPath: OBJ('open_kill') });
    ok.setDenySet([{ id: 1, path: secret, identitySetId: 77 }]);
    fillIdentity(ok.identityMap(), 77, [pod.id]);
    expect(vgTry(['open', secret], container.path).signal).toBe('SIGKILL');
    expect(vgTry(['open', secret], pod.path).signal).toBe('SIGKILL');
    expect(vgTry(['open', secret], other.path).out).toBe('ok');
    // hostIncluded: tasks in no pod (no ancestor in the reserved all-pods set) match too; `other` is a pod now
    fillIdentity(ok.identityMap(), 0xffffffff, [pod.id, other.id]);
    using host = new TestCgroup();
    ok.setDenySet([{ id: 1, path: secret, identitySetId: 77, hostIncluded: true }]);
    expect(vgTry(['open', secret], host.path).signal).toBe('SIGKILL');
    expect(vgTry(['open', secret], other.path).out).toBe('ok');
    expect(vgTry(['open', secret], container.path).signal).toBe('SIGKILL');
  });

  it('identity sets in connect deny: EPERM only for members', () => {
    if (missing('cgroup_v2', 'cgroup_sock')) return;
    using member = new TestCgroup();
    using other = new TestCgroup();
    using cd = ConnectDeny.start({ objectPath: OBJ('sock_cgroup') });
    cd.setDenySet([{ id: 1, cidr: '127.0.0.1', ports: [[port, port]], identitySetId: 5 }]);
    fillIdentity(cd.identityMap(), 5, [member.id]);
    expect(vgTry(['connect', '127.0.0.1', String(port)], member.path).out).toBe('EPERM');
    expect(vgTry(['connect', '127.0.0.1', String(port)], other.path).out).toBe('ok');
  });

  it('matchBinaries: only callers whose executable is in the set are denied or killed', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2', 'cgroup_sock')) return;
    using cg = new TestCgroup();
    using ok = OpenKill.start({ objectPath: OBJ('open_kill') });
    ok.setDenySet([{ id: 1, path: secret, binaries: [VG_FALLBACK] }]);
    expect(vgTry(['open', secret], cg.path).out).toBe('ok'); // vg_try is not in the set
    expect(fallback(['open32', secret], cg.path).signal).toBe('SIGKILL'); // vg_fallback is
    // a symlink to the binary is the same executable: matched by inode, not by name
    const link = join(dir, 'try-link');
    symlinkSync(VG_TRY, link);
    ok.setDenySet([{ id: 1, path: secret, binaries: [link] }]);
    expect(vgTry(['open', secret], cg.path).signal).toBe('SIGKILL');
    using cd = ConnectDeny.start({ objectPath: OBJ('sock_cgroup'), cgroup: cg.path });
    cd.setDenySet([{ id: 2, cidr: '127.0.0.1', ports: [[port, port]], binaries: [VG_FALLBACK] }]);
    expect(vgTry(['connect', '127.0.0.1', String(port)], cg.path).out).toBe('ok');
    cd.setDenySet([{ id: 2, cidr: '127.0.0.1', ports: [[port, port]], binaries: [VG_TRY] }]);
    expect(vgTry(['connect', '127.0.0.1', String(port)], cg.path).out).toBe('EPERM');
  });
});

describe('exec kill matchBinaries: the binary that calls execve (real kernel)', () => {
  it('is recorded at sched_prepare_exec (>= 6.10) and judged at sched_process_exec; refused with the reason before', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using cg = new TestCgroup();
    using ek = ExecKill.start({ objectPath: OBJ('exec_kill') });
    if (!ExecKill.callerBinaries()) {
      expect(() => ek.setDenySet([{ id: 1, path: tool, binaries: [VG_TRY] }])).toThrow(/needs the sched_prepare_exec tracepoint \(kernel >= 6\.10\)/);
      return;
    }
    ek.setDenySet([{ id: 1, path: tool, binaries: [VG_FALLBACK] }]);
    expect(vgTry(['exec', tool], cg.path).status).toBe(0); // vg_try calls execve: not in the set
    ek.setDenySet([{ id: 1, path: tool, binaries: [VG_TRY] }]);
    expect(vgTry(['exec', tool], cg.path).signal).toBe('SIGKILL');
    expect(vgTry(['execfd', tool], cg.path).signal).toBe('SIGKILL'); // execveat(fd) too
    expect(vgTry(['exec', '/bin/true'], cg.path).status).toBe(0); // another target: no rule
  });
});

describe('unix-socket connect deny (cgroup/connect_unix, real kernel)', () => {
  it('denies connect to a denied socket path and abstract name with EPERM; a symlink to the socket is a gap', async () => {
    if (missing('cgroup_v2', 'connect_unix')) return;
    const sock = join(dir, 'app.sock');
    const unixServer = createServer((s) => s.destroy());
    await new Promise<void>((resolve) => unixServer.listen(sock, resolve));
    const abstract = createServer((s) => s.destroy());
    const name = `vigil-test-${process.pid}`;
    await new Promise<void>((resolve) => abstract.listen(`\0${name}`, resolve));
    try {
      using cg = new TestCgroup();
      const decisions: EnforcementDecision[] = [];
      using ud = UnixConnectDeny.start({ objectPath: OBJ('unix_deny'), cgroup: cg.path, onDecision: (d) => decisions.push(d) });
      expect(fallback(['unix', sock], cg.path).out).toBe('ok');
      ud.setDenySet([
        { id: 11, path: sock },
        { id: 12, path: `@${name}` },
      ]);
      expect(fallback(['unix', sock], cg.path).out).toBe('EPERM');
      expect(fallback(['unix', `@${name}`], cg.path).out).toBe('EPERM');
      expect(fallback(['unix', `@${name}x`], cg.path).out).toBe('ECONNREFUSED'); // another name: not denied
      expect(fallback(['unix', sock]).out).toBe('ok'); // outside the attach cgroup
      // gap: connect_unix sees the address before the kernel resolves it; a symlink reaches the socket
      const link = join(dir, 'link.sock');
      symlinkSync(sock, link);
      expect(fallback(['unix', link], cg.path).out).toBe('ok');
      ud.setDenySet([{ id: 11, path: sock, monitor: true }]);
      expect(fallback(['unix', sock], cg.path).out).toBe('ok');
      ud.drain();
      expect(decisions.map((d) => [d.mechanism, d.action, d.ruleId, d.monitor])).toEqual([
        ['connect_unix', 'deny', 11, false],
        ['connect_unix', 'deny', 12, false],
        ['connect_unix', 'deny', 11, true],
      ]);
      expect(() => ud.setDenySet([{ id: 1, path: 'relative.sock' }])).toThrow(/absolute path or @abstract-name/);
    } finally {
      await new Promise<void>((resolve) => unixServer.close(() => resolve()));
      await new Promise<void>((resolve) => abstract.close(() => resolve()));
    }
  });
});

describe('unix-socket connect deny with a full ring buffer (real kernel)', () => {
  it('keeps denying while the decision ring is full', () => {
    if (missing('cgroup_v2', 'connect_unix')) return;
    using cg = new TestCgroup();
    using ud = UnixConnectDeny.start({ objectPath: OBJ('unix_deny'), cgroup: cg.path, ringBytes: 4096 });
    const name = `vigil-full-${process.pid}`;
    ud.setDenySet([{ id: 1, path: `@${name}` }]);
    const n = 40;
    const outs = Array.from({ length: n }, () => fallback(['unix', `@${name}`], cg.path).out);
    expect(outs.filter((o) => o === 'EPERM')).toHaveLength(n);
    expect(ud.counters().emitFail).toBeGreaterThan(0n);
  });
});

describe('io_uring deny (tp_btf io_uring_create + SIGKILL, real kernel)', () => {
  it('kills a covered process inside io_uring_setup, before it can submit; others create rings', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using covered = new TestCgroup();
    using other = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using uk = UringKill.start({ objectPath: OBJ('uring_deny'), onDecision: (d) => decisions.push(d) });
    expect(fallback(['uring_setup'], covered.path).out).toBe('ring');
    uk.setDenySet([{ id: 21, identitySetId: 9 }]);
    fillIdentity(uk.identityMap(), 9, [covered.id]);
    const r = fallback(['uring_setup'], covered.path);
    expect({ signal: r.signal, out: r.out }).toEqual({ signal: 'SIGKILL', out: '' }); // never printed "ring"
    // the open through io_uring that open kill cannot see never happens: the process dies creating the ring
    const u = vgTry(['uring_open', secret], covered.path);
    expect({ signal: u.signal, out: u.out }).toEqual({ signal: 'SIGKILL', out: '' });
    expect(fallback(['uring_setup'], other.path).out).toBe('ring');
    uk.drain();
    expect(decisions.map((d) => [d.mechanism, d.action, d.ruleId, d.monitor, d.cgroupId])).toEqual([
      ['uring_kill', 'kill', 21, false, covered.id],
      ['uring_kill', 'kill', 21, false, covered.id],
    ]);
    uk.setDenySet([{ id: 21, identitySetId: 9, monitor: true }]);
    expect(fallback(['uring_setup'], covered.path).out).toBe('ring');
    expect(uk.counters()).toMatchObject({ denied: 2n, monitored: 1n });
  });

  it('keeps killing while the ring buffer is full', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using covered = new TestCgroup();
    using uk = UringKill.start({ objectPath: OBJ('uring_deny'), ringBytes: 4096 });
    uk.setDenySet([{ id: 1, identitySetId: 3 }]);
    fillIdentity(uk.identityMap(), 3, [covered.id]);
    const n = 40;
    const signals = Array.from({ length: n }, () => fallback(['uring_setup'], covered.path).signal);
    expect(signals.filter((s) => s === 'SIGKILL')).toHaveLength(n);
    expect(uk.counters().emitFail).toBeGreaterThan(0n);
  });
});

describe('open kill bypass attempts: ia32 syscalls and a second thread (real kernel)', () => {
  it('kills an open made through the ia32 syscall table (int 0x80 from a 64-bit process)', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using cg = new TestCgroup();
    expect(fallback(['open32', secret], cg.path).out).toBe('ok'); // the ia32 path works on this kernel
    const decisions: EnforcementDecision[] = [];
    using ok = OpenKill.start({ objectPath: OBJ('open_kill'), onDecision: (d) => decisions.push(d) });
    ok.setDenySet([{ id: 3, path: secret }]);
    const r = fallback(['open32', secret], cg.path);
    expect({ signal: r.signal, out: r.out }).toEqual({ signal: 'SIGKILL', out: '' });
    ok.drain();
    expect(decisions.map((d) => [d.mechanism, d.ruleId])).toEqual([['open_kill', 3]]);
  });

  it('two threads: the opener dies, but a second thread may read through the new fd before the kill lands', () => {
    if (missing('tp_btf', 'send_signal', 'cgroup_v2')) return;
    using cg = new TestCgroup();
    using ok = OpenKill.start({ objectPath: OBJ('open_kill') });
    ok.setDenySet([{ id: 4, path: secret }]);
    const runs = 20;
    let secondThreadRead = 0;
    for (let i = 0; i < runs; i++) {
      const r = fallback(['thread_open', secret], cg.path);
      expect(r.signal).toBe('SIGKILL'); // always killed
      expect(r.out).not.toContain('A opened'); // the opener never returns to user space
      if (r.out.includes('B read')) secondThreadRead++;
    }
    // The documented gap: how often thread B won the race on this machine (0..runs; printed for the docs).
    process.stdout.write(`two-thread opener: the second thread read through the fd in ${secondThreadRead}/${runs} runs before the kill\n`);
  });
});
