/**
 * Real-kernel tests of bpf/lib/identity.h through bpf/progs/test_identity.bpf.o: vg_identity_match loads in every
 * program type that uses it (tp_btf, raw_tp, cgroup connect4 / sock_create; kprobe, fentry, lsm where the kernel
 * has them) and decides by cgroup ancestry: a process in a child cgroup of a set member matches, a sibling pod does
 * not, host processes match only with host_included.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { closeSync, constants, existsSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { BpfObject, type BpfLink } from '../libbpf/index.js';
import { BPF_OUT, TestCgroup, VG_TRY, capability, vgTry } from '../mechanisms/test-kernel.js';
import { IDENTITY_ALL_PODS, IDENTITY_MAP_NAME, IDENTITY_PIN_NAME, IDENTITY_PRESENT, identityKey } from './abi.js';
import { must } from './test-pods.js';

const OBJECT = join(BPF_OUT, 'test_identity.bpf.o');
const PIN = `/sys/fs/bpf/vigil-test-${process.pid}-identity`;
const SET = 7;
const SCOPE = 0x7e57;
const PROGS = [
  { name: 'vg_idtest_tp_btf', bit: 0, cap: 'tp_btf' },
  { name: 'vg_idtest_raw_tp', bit: 1, cap: 'raw_tp' },
  { name: 'vg_idtest_kprobe', bit: 2, cap: 'kprobe' },
  { name: 'vg_idtest_fentry', bit: 3, cap: 'trampoline' },
  { name: 'vg_idtest_lsm', bit: 4, cap: 'lsm_bpf' },
] as const;

let server: Server;
let port: number;

beforeAll(async () => {
  if (process.getuid?.() !== 0) throw new Error('these tests load BPF programs: run them as root');
  for (const f of [OBJECT, VG_TRY]) if (!existsSync(f)) throw new Error(`${f} is missing: run make -C bpf`);
  if (readFileSync('/sys/class/net/lo/operstate', 'utf8').trim() === 'down' || (parseInt(readFileSync('/sys/class/net/lo/flags', 'utf8'), 16) & 1) === 0) {
    spawnSync('ip', ['link', 'set', 'lo', 'up']);
  }
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  rmSync(PIN, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

function cfg(setId: number, hostIncluded: boolean, denyUdp = false): Buffer {
  const b = Buffer.alloc(24);
  b.writeUInt32LE(1, 0);
  b.writeUInt32LE(setId >>> 0, 4);
  b.writeUInt32LE(hostIncluded ? 1 : 0, 8);
  b.writeUInt32LE(port, 12);
  b.writeUInt32LE(denyUdp ? 1 : 0, 16);
  b.writeUInt32LE(SCOPE, 20);
  return b;
}

describe('identity sets: vg_identity_match (real kernel)', () => {
  it('matches a set member cgroup and its descendants, not a sibling; host processes only with host_included; in every program type', () => {
    for (const cap of ['cgroup_v2', 'cgroup_sock', 'tp_btf', 'raw_tp', 'bpffs'] as const) {
      const c = capability(cap);
      if (!c.available) {
        skipMissing(expect.getState().currentTestName, cap, c.reason);
        return;
      }
    }
    // A fake node: pod A (in the set) with a container cgroup below it, pod B (not in the set), a host cgroup.
    using node = new TestCgroup();
    using podA = new TestCgroup(node.path);
    using ctrA = new TestCgroup(podA.path);
    using podB = new TestCgroup(node.path);
    using ctrB = new TestCgroup(podB.path);
    using host = new TestCgroup(node.path);

    mkdirSync(PIN, { recursive: true });
    using obj = BpfObject.open(OBJECT);
    const loaded = PROGS.filter((p) => capability(p.cap).available);
    for (const p of PROGS) if (!loaded.includes(p)) obj.program(p.name).setAutoload(false);
    obj.map(IDENTITY_MAP_NAME).setPinPath(join(PIN, IDENTITY_PIN_NAME));
    obj.load();

    // The same map is shared by pin path: a second object sees the first one's entries.
    using other = BpfObject.open(OBJECT);
    for (const p of PROGS) other.program(p.name).setAutoload(false);
    other.map(IDENTITY_MAP_NAME).setPinPath(join(PIN, IDENTITY_PIN_NAME));
    other.load();
    other.map(IDENTITY_MAP_NAME).update(identityKey(SET, podA.id), IDENTITY_PRESENT);
    expect(obj.map(IDENTITY_MAP_NAME).lookup(identityKey(SET, podA.id))).toEqual(IDENTITY_PRESENT);
    obj.map(IDENTITY_MAP_NAME).update(identityKey(SCOPE, node.id), IDENTITY_PRESENT);
    for (const pod of [podA, podB]) obj.map(IDENTITY_MAP_NAME).update(identityKey(IDENTITY_ALL_PODS, pod.id), IDENTITY_PRESENT);

    const links: BpfLink[] = [];
    const fd = openSync(node.path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      links.push(obj.program('vg_idtest_connect4').attachCgroup(fd));
      links.push(obj.program('vg_idtest_sock_create').attachCgroup(fd));
    } finally {
      closeSync(fd);
    }
    for (const p of loaded) links.push(obj.program(p.name).attach());
    try {
      const res = obj.map('vg_idtest_res');
      const execIn = (cg: TestCgroup): number => {
        const r = spawnSync(VG_TRY, ['--cgroup', cg.path, 'exec', '/bin/true'], { timeout: 10_000 });
        expect(r.status).toBe(0);
        const v = res.lookup(Buffer.from(new Uint32Array([r.pid]).buffer));
        if (!v) throw new Error(`no verdict recorded for pid ${r.pid}`);
        return v.readUInt32LE(0);
      };
      /** Per loaded exec program: did it match? All programs must agree. */
      const verdict = (cg: TestCgroup): boolean => {
        const bits = execIn(cg);
        const each = loaded.map((p) => {
          expect((bits >> (2 * p.bit)) & 1).toBe(1); // the program ran
          return ((bits >> (2 * p.bit + 1)) & 1) === 1;
        });
        expect(new Set(each).size).toBe(1);
        return must(each[0]);
      };
      const connect = (cg: TestCgroup): string => vgTry(['connect', '127.0.0.1', String(port)], cg.path).out;
      const udp = (cg: TestCgroup): string => vgTry(['socket', 'inet', 'dgram'], cg.path).out;

      const conf = obj.map('vg_idtest_cfg');
      const zero = Buffer.alloc(4);
      // The reserved all-pods set: every pod cgroup and what is below it, not the host.
      conf.update(zero, cfg(IDENTITY_ALL_PODS, false));
      expect([verdict(podA), verdict(podB), verdict(ctrB), verdict(host)]).toEqual([true, true, true, false]);
      for (const hostIncluded of [false, true]) {
        conf.update(zero, cfg(SET, hostIncluded, true));
        const want = { podA: true, ctrA: true, podB: false, ctrB: false, host: hostIncluded };
        const got = { podA: verdict(podA), ctrA: verdict(ctrA), podB: verdict(podB), ctrB: verdict(ctrB), host: verdict(host) };
        expect(got).toEqual(want);
        const conn = { podA: connect(podA), ctrA: connect(ctrA), podB: connect(podB), ctrB: connect(ctrB), host: connect(host) };
        expect(conn).toEqual(Object.fromEntries(Object.entries(want).map(([k, m]) => [k, m ? 'EPERM' : 'ok'])));
        const sock = { ctrA: udp(ctrA), ctrB: udp(ctrB), host: udp(host) };
        expect(sock).toEqual({ ctrA: 'EPERM', ctrB: 'ok', host: hostIncluded ? 'EPERM' : 'ok' });
      }

      // Set 0 is "not restricted": everyone matches.
      conf.update(zero, cfg(0, false));
      expect([verdict(ctrA), verdict(ctrB), verdict(host)]).toEqual([true, true, true]);

      // Live membership: removing pod A from the set turns its container off without reloading anything;
      // adding the container cgroup alone turns just that one on.
      conf.update(zero, cfg(SET, false));
      obj.map(IDENTITY_MAP_NAME).delete(identityKey(SET, podA.id));
      expect([verdict(podA), verdict(ctrA)]).toEqual([false, false]);
      obj.map(IDENTITY_MAP_NAME).update(identityKey(SET, ctrB.id), IDENTITY_PRESENT);
      expect([verdict(podB), verdict(ctrB), connect(ctrB)]).toEqual([false, true, 'EPERM']);
    } finally {
      for (const l of links) l.destroy();
    }
  });
});
