/**
 * Real-kernel tests of connect deny: the cgroup sock_addr programs of sock_cgroup.bpf.o make real connect() and
 * sendto() calls of vg_try (a C helper that moves itself into a test cgroup first) fail with EPERM.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { ConnectDeny } from './connect-deny.js';
import type { EnforcementDecision } from './decision.js';
import { BPF_OUT, TestCgroup, VG_TRY, capability, vgTry } from './test-kernel.js';

const OBJECT = join(BPF_OUT, 'sock_cgroup.bpf.o');
let server: Server;
let port: number;

function missing(): boolean {
  for (const cap of ['cgroup_v2', 'cgroup_sock'] as const) {
    const c = capability(cap);
    if (!c.available) {
      skipMissing(expect.getState().currentTestName, cap, c.reason);
      return true;
    }
  }
  return false;
}

function inProcessConnect(host: string, p: number): Promise<string> {
  return new Promise((resolve) => {
    const s = connect({ host, port: p }, () => {
      s.destroy();
      resolve('ok');
    });
    s.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
  });
}

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('these tests attach BPF programs: run them as root');
  for (const f of [OBJECT, VG_TRY]) if (!existsSync(f)) throw new Error(`${f} is missing: run make -C bpf`);
  // The kernel-matrix guests boot with the loopback interface down: allowed connects would fail ENETUNREACH.
  if (readFileSync('/sys/class/net/lo/operstate', 'utf8').trim() === 'down' || (parseInt(readFileSync('/sys/class/net/lo/flags', 'utf8'), 16) & 1) === 0) {
    spawnSync('ip', ['link', 'set', 'lo', 'up']);
  }
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen({ host: '::', port: 0 }, resolve));
  port = (server.address() as AddressInfo).port;
});
const PIN = `/sys/fs/bpf/vigil-test-${process.pid}-connect`;
afterAll(async () => {
  rmSync(PIN, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** A TCP port on ::/0.0.0.0 that was free a moment ago (listen on 0, read it, close). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, () => {
      const { port: free } = srv.address() as AddressInfo;
      srv.close(() => resolve(free));
    });
  });
}

describe('connect deny (cgroup connect4/connect6/sendmsg4/sendmsg6, real kernel)', () => {
  it('denies TCP connect to a denied address with EPERM, for IPv4 and IPv4-mapped IPv6, and allows others', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, onDecision: (d) => decisions.push(d) });
    cd.setDenySet([{ id: 42, cidr: '127.0.0.77/32', ports: [[port, port]] }]);

    expect(vgTry(['connect', '127.0.0.77', String(port)], cg.path).out).toBe('EPERM');
    expect(vgTry(['connect', '::ffff:127.0.0.77', String(port)], cg.path).out).toBe('EPERM');
    expect(vgTry(['connect', '127.0.0.1', String(port)], cg.path).out).toBe('ok');
    expect(vgTry(['connect', '::1', String(port)], cg.path).out).toBe('ok');
    expect(vgTry(['connect', '127.0.0.77', String(port)]).out).toBe('ok'); // outside the cgroup

    cd.drain();
    expect(decisions.map((d) => [d.mechanism, d.action, d.ruleId, d.net?.address, d.net?.port, d.net?.protocol, d.cgroupId, d.comm])).toEqual([
      ['connect4', 'deny', 42, '127.0.0.77', port, 6, cg.id, 'vg_try'],
      ['connect6', 'deny', 42, '::ffff:7f00:4d', port, 6, cg.id, 'vg_try'],
    ]);
    expect(cd.counters().denied).toBe(2n);
  });

  it('denies unconnected UDP sendto (sendmsg4/6) and honours protocol and port ranges', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path });
    cd.setDenySet([
      { id: 1, cidr: '127.0.0.0/24', ports: [[port, port]], protocol: 'udp' },
      { id: 2, cidr: '127.0.0.77', ports: [[1, 1000]], protocol: 'tcp' },
    ]);
    expect(vgTry(['sendto', '127.0.0.77', String(port)], cg.path).out).toBe('EPERM');
    expect(vgTry(['sendto', '::ffff:127.0.0.5', String(port)], cg.path).out).toBe('EPERM');
    expect(vgTry(['sendto', '127.0.1.5', String(port)], cg.path).out).toBe('ok'); // outside the /24
    expect(vgTry(['sendto', '127.0.0.77', String(port === 65535 ? 1 : port + 1)], cg.path).out).toBe('ok'); // other port
    expect(vgTry(['connect', '127.0.0.77', String(port)], cg.path).out).toBe('ok'); // TCP: the udp rule does not apply
  });

  it('denies a connect from a second thread, and a kill rule kills the caller at the syscall exit', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, onDecision: (d) => decisions.push(d) });
    cd.setDenySet([
      { id: 1, cidr: '127.0.0.77' },
      { id: 2, cidr: '127.0.0.78', action: 'kill' },
    ]);
    expect(vgTry(['tconnect', '127.0.0.77', String(port)], cg.path).out).toBe('EPERM');
    const killed = vgTry(['connect', '127.0.0.78', String(port)], cg.path);
    expect({ signal: killed.signal, out: killed.out }).toEqual({ signal: 'SIGKILL', out: '' }); // never returned to print
    const killedT = vgTry(['tconnect', '::ffff:127.0.0.78', String(port)], cg.path);
    expect(killedT.signal).toBe('SIGKILL');
    expect(vgTry(['connect', '127.0.0.1', String(port)], cg.path).out).toBe('ok'); // the kill program spares others
    cd.drain();
    expect(decisions.map((d) => [d.mechanism, d.action, d.ruleId])).toEqual([
      ['connect4', 'deny', 1],
      ['connect4', 'deny_kill', 2],
      ['connect6', 'deny_kill', 2],
    ]);
  });

  it('applies deny-set updates to the next connect without reloading', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path });
    const target = ['connect', '127.0.0.77', String(port)];
    expect(vgTry(target, cg.path).out).toBe('ok');
    cd.setDenySet([{ id: 1, cidr: '127.0.0.0/8' }]);
    expect(vgTry(target, cg.path).out).toBe('EPERM');
    cd.setDenySet([{ id: 2, cidr: '10.0.0.0/8' }]);
    expect(vgTry(target, cg.path).out).toBe('ok');
    cd.setDenySet([{ id: 3, cidr: '::ffff:127.0.0.0/104' }]);
    expect(vgTry(target, cg.path).out).toBe('EPERM');
    cd.setDenySet([]);
    expect(vgTry(target, cg.path).out).toBe('ok');
    cd.setDenySet([{ id: 4, cidr: '127.0.0.77' }]);
    cd.close();
    expect(vgTry(target, cg.path).out).toBe('ok'); // detached on close
  });

  it('never denies an exempt cgroup; attached on the v2 root it spares the sensor and denies the rest', async () => {
    if (missing()) return;
    using cg = new TestCgroup();
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, exemptCgroupIds: [cg.id] });
    cd.setDenySet([{ id: 1, cidr: '127.0.0.77' }]);
    expect(vgTry(['connect', '127.0.0.77', String(port)], cg.path).out).toBe('ok');
    expect(cd.counters().exempt).toBe(1n);
    cd.close();

    // Default attachment (the whole v2 hierarchy) with the default exemption (this process's cgroup).
    using all = ConnectDeny.start({ objectPath: OBJECT });
    all.setDenySet([{ id: 1, cidr: '127.0.0.77', ports: [[port, port]] }]);
    expect(await inProcessConnect('127.0.0.77', port)).toBe('ok');
    expect(vgTry(['connect', '127.0.0.77', String(port)], cg.path).out).toBe('EPERM');
  });

  it('keeps denying with no process when pinned; a restart reuses the deny set and replaces the links', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    const target = ['connect', '127.0.0.77', String(port)];
    const first = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, pinDir: PIN });
    first.setDenySet([{ id: 1, cidr: '127.0.0.77' }]);
    first.close();
    expect(vgTry(target, cg.path).out).toBe('EPERM');
    const second = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, pinDir: PIN });
    expect(vgTry(target, cg.path).out).toBe('EPERM');
    second.setDenySet([]);
    expect(vgTry(target, cg.path).out).toBe('ok');
    second.setDenySet([{ id: 1, cidr: '127.0.0.77' }]);
    second.remove();
    expect(vgTry(target, cg.path).out).toBe('ok');
    expect(existsSync(PIN)).toBe(false);
  });

  it('scoped to target cgroups, denies under a target (nested cgroups included) and spares the rest', () => {
    if (missing()) return;
    using pod = new TestCgroup();
    using container = new TestCgroup(pod.path);
    using elsewhere = new TestCgroup();
    using cd = ConnectDeny.start({ objectPath: OBJECT });
    cd.setDenySet([{ id: 1, cidr: '127.0.0.77', ports: [[port, port]] }]);
    cd.setTargetCgroups([pod.id]);
    const target = ['connect', '127.0.0.77', String(port)];
    expect(vgTry(target, container.path).out).toBe('EPERM');
    expect(vgTry(target, elsewhere.path).out).toBe('ok');
    cd.setTargetCgroups(null);
    expect(vgTry(target, elsewhere.path).out).toBe('EPERM');
  });

  it('denies socket(2) by family, type and protocol (cgroup/sock_create)', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, onDecision: (d) => decisions.push(d) });
    cd.setSocketDenySet([
      { id: 7, family: 'inet', type: 'raw' },
      { id: 8, family: 'inet6', type: 'dgram', protocol: 17 },
    ]);
    expect(vgTry(['socket', 'inet', 'raw'], cg.path).out).toBe('EPERM');
    expect(vgTry(['socket', 'inet', 'raw', '255'], cg.path).out).toBe('EPERM'); // any protocol of the type
    expect(vgTry(['socket', 'inet6', 'dgram'], cg.path).out).toBe('EPERM'); // protocol 0 → the kernel's UDP (17)
    expect(vgTry(['socket', 'inet', 'stream'], cg.path).out).toBe('ok');
    expect(vgTry(['socket', 'inet6', 'raw'], cg.path).out).toBe('ok');
    expect(vgTry(['socket', 'inet', 'raw']).out).toBe('ok'); // outside the cgroup
    cd.setSocketDenySet([]);
    expect(vgTry(['socket', 'inet', 'raw'], cg.path).out).toBe('ok');
    cd.drain();
    expect(decisions.map((d) => [d.mechanism, d.ruleId, d.net?.family, d.net?.protocol])).toEqual([
      ['sock_create', 7, 4, 1],
      ['sock_create', 7, 4, 255],
      ['sock_create', 8, 6, 17],
    ]);
  });

  it('denies bind() to a denied local port (bind4/bind6) without touching connects to it', async () => {
    if (missing()) return;
    using cg = new TestCgroup();
    const decisions: EnforcementDecision[] = [];
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, onDecision: (d) => decisions.push(d) });
    // A port the kernel just handed out and took back (port + 1 was sometimes held by another socket: EADDRINUSE
    // for the bind outside the cgroup).
    const p = String(await freePort());
    cd.setDenySet([
      { id: 3, cidr: '0.0.0.0/0', ports: [[Number(p), Number(p)]], hook: 'bind' },
      { id: 4, cidr: '::/0', ports: [[Number(p), Number(p)]], hook: 'bind' },
    ]);
    expect(vgTry(['bind', '127.0.0.1', p], cg.path).out).toBe('EPERM');
    expect(vgTry(['bind', '0.0.0.0', p], cg.path).out).toBe('EPERM');
    expect(vgTry(['bind', '::', p], cg.path).out).toBe('EPERM');
    expect(vgTry(['bind', '::ffff:127.0.0.1', p], cg.path).out).toBe('EPERM'); // v4-mapped: the v4 rule
    expect(vgTry(['bind', '127.0.0.1', '0'], cg.path).out).toBe('ok'); // another port
    expect(vgTry(['sendto', '127.0.0.1', p], cg.path).out).toBe('ok'); // bind rules do not apply to destinations
    expect(vgTry(['bind', '127.0.0.1', p]).out).toBe('ok'); // outside the cgroup
    cd.drain();
    expect(decisions.map((d) => [d.mechanism, d.ruleId])).toEqual([
      ['bind4', 3],
      ['bind4', 3],
      ['bind6', 4],
      ['bind6', 3],
    ]);
  });

  it('keeps denying while the ring buffer is full (the verdict does not depend on the record)', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    using cd = ConnectDeny.start({ objectPath: OBJECT, cgroup: cg.path, ringBytes: 4096 });
    cd.setDenySet([{ id: 1, cidr: '127.0.0.77' }]);
    const n = 40; // 4096 bytes hold about 30 decision records; nothing consumes them during spawnSync
    const outs = Array.from({ length: n }, () => vgTry(['sendto', '127.0.0.77', String(port)], cg.path).out);
    expect(outs.filter((o) => o === 'EPERM')).toHaveLength(n);
    expect(cd.counters().emitFail).toBeGreaterThan(0n);
  });
});
