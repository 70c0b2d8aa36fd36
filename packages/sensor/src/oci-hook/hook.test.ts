/**
 * vigil-oci-hook run as CRI-O runs it (the real binary, the container's state JSON on stdin, at createRuntime:
 * the container's init process already sits in its cgroup and has not exec'd the user's program). The sensor side
 * (HookServer + IdentitySets) puts the container into the identity set of a containerSelector policy that the pod
 * metadata alone cannot decide yet (the kubelet has not reported the container id), so the first exec of the
 * container is already under policy. Without the hook the same container starts unrestricted.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { identityKey } from '../identity/abi.js';
import { HookServer } from '../identity/hook-server.js';
import { PinnedIdentityMap } from '../identity/map.js';
import { CgroupResolver } from '../identity/resolver.js';
import { IdentitySets } from '../identity/sets.js';
import { IdentityTable } from '../identity/table.js';
import { FakeNode, attachIdentityConnectProbe, must } from '../identity/test-pods.js';
import { BPF_OUT, VG_TRY, capability } from '../mechanisms/test-kernel.js';
import { parseArgs, parseState, registration } from './hook.js';

const HOOK_BIN = fileURLToPath(new URL('../../bin/vigil-oci-hook.js', import.meta.url));
const OBJECT = join(BPF_OUT, 'test_identity.bpf.o');
const PIN_ROOT = `/sys/fs/bpf/vigil-test-${process.pid}-hook`;
const SET = 0x40c1;
let dir: string;
let server: Server;
let port: number;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-hook-'));
  server = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(PIN_ROOT, { recursive: true, force: true });
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** runc's container init, reduced: joins its cgroup, waits for "start" on stdin, then execs the user's program. */
function containerInit(cgroupDir: string): { child: ChildProcess; started: Promise<void>; result: Promise<string> } {
  const child = spawn('sh', ['-c', `echo $$ > "$1/cgroup.procs" && echo ready && read go && exec "$2" connect 127.0.0.1 "$3"`, 'init', cgroupDir, VG_TRY, String(port)], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  let ready: () => void = () => undefined;
  const started = new Promise<void>((r) => (ready = r));
  const result = new Promise<string>((resolve) => {
    must(child.stdout).on('data', (d: Buffer) => {
      out += d.toString();
      if (out.startsWith('ready\n')) ready();
    });
    child.on('close', () => resolve(out.replace(/^ready\n/, '').trim())); // close: stdout read to the end
  });
  return { child, started, result };
}

/** Runs the real hook binary with `state` on stdin (asynchronously: the sensor side answers from this process). */
function runHook(state: object, args: string[] = [], opts: { uid?: number; gid?: number } = {}): Promise<{ status: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn(process.execPath, [HOOK_BIN, ...args], { stdio: ['pipe', 'ignore', 'pipe'], ...opts });
    let err = '';
    const kill = setTimeout(() => c.kill('SIGKILL'), 15_000);
    must(c.stderr).on('data', (d: Buffer) => (err += d.toString()));
    c.on('close', (status) => {
      clearTimeout(kill);
      resolve({ status, stderr: err });
    });
    must(c.stdin).end(JSON.stringify(state));
  });
}

describe('vigil-oci-hook', () => {
  it('parses options, state and the CRI annotations of CRI-O and containerd', () => {
    expect(parseArgs(['--socket', '/x.sock', '--timeout-ms', '50', '--fail-closed'])).toMatchObject({ socket: '/x.sock', timeoutMs: 50, failClosed: true });
    expect(() => parseArgs(['--timeout-ms', '0'])).toThrow(/positive integer/);
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown option --bogus/);
    expect(() => parseState('{}')).toThrow(/"id" missing/);
    const id = 'c'.repeat(64);
    const proc = mkdtempSync(join(dir, 'proc-'));
    spawnSync('mkdir', ['-p', join(proc, '42')]);
    spawnSync('sh', ['-c', `printf '0::/kubepods.slice/x.slice/crio-${id}.scope\\n' > ${join(proc, '42', 'cgroup')}`]);
    expect(registration({ id, pid: 42, annotations: { 'io.kubernetes.pod.uid': 'u-1', 'io.kubernetes.pod.namespace': 'ns', 'io.kubernetes.pod.name': 'p', 'io.kubernetes.container.name': 'app' } }, proc)).toEqual({
      v: 1, containerId: id, pid: 42, cgroupPath: `/kubepods.slice/x.slice/crio-${id}.scope`, podUid: 'u-1', namespace: 'ns', podName: 'p', containerName: 'app',
    });
    expect(registration({ id, pid: 42, annotations: { 'io.kubernetes.cri.sandbox-uid': 'u-2', 'io.kubernetes.cri.sandbox-namespace': 'ns2', 'io.kubernetes.cri.container-name': 'db' } }, proc)).toMatchObject({ podUid: 'u-2', namespace: 'ns2', containerName: 'db' });
    expect(() => registration({ id: 'short', pid: 42 }, proc)).toThrow(/64 hex/);
    expect(() => registration({ id }, proc)).toThrow(/no pid/);
  });

  it('registers a container before its first exec, so the first exec is already under policy (real kernel)', async () => {
    if (process.getuid?.() !== 0) throw new Error('this test loads BPF programs: run it as root');
    for (const cap of ['cgroup_v2', 'cgroup_sock', 'bpffs'] as const) {
      const c = capability(cap);
      if (!c.available) {
        skipMissing(expect.getState().currentTestName, cap, c.reason);
        return;
      }
    }
    for (const f of [OBJECT, VG_TRY, join(HOOK_BIN, '../../dist/oci-hook/main.js')]) if (!existsSync(f)) throw new Error(`${f} is missing: run make -C bpf and pnpm build:ts`);
    if ((parseInt(readFileSync('/sys/class/net/lo/flags', 'utf8'), 16) & 1) === 0) spawnSync('ip', ['link', 'set', 'lo', 'up']);

    using node = new FakeNode();
    const pod = node.addPod([]);
    const table = new IdentityTable();
    // Scheduled and known to the operator, no container reported yet.
    table.set(pod.uid, { uid: pod.uid, namespace: 'default', name: 'web', node: 'n', labels: { app: 'web' }, workload: 'web', workloadKind: 'Pod', containers: [] });
    const map = PinnedIdentityMap.open(PIN_ROOT);
    const sets = new IdentitySets({ table, resolver: new CgroupResolver({ kubepodsRoots: [node.kubepods] }), map, rescanMs: 0, adoptGraceMs: 0 });
    sets.ensure('policy', [{ id: SET, podSelectors: [{ matchLabels: { app: 'web' } }], containerSelectors: [{ matchLabels: { name: 'app' } }] }]);
    const socket = join(dir, 'hook.sock');
    const hooks = await HookServer.start({ path: socket, sets });
    using probe = attachIdentityConnectProbe(OBJECT, map.path, node.root);
    const obj = probe.obj;
    try {
      const cfg = Buffer.alloc(24);
      cfg.writeUInt32LE(1, 0);
      cfg.writeUInt32LE(SET, 4);
      cfg.writeUInt32LE(port, 12);
      obj.map('vg_idtest_cfg').update(Buffer.alloc(4), cfg);
      const annotations = (name: string) => ({ 'io.kubernetes.pod.uid': pod.uid, 'io.kubernetes.pod.namespace': 'default', 'io.kubernetes.pod.name': 'web', 'io.kubernetes.container.name': name });

      // Control: a container of the same pod started without the hook runs unrestricted.
      const c0 = node.addContainer(pod.dir, 'app');
      const i0 = containerInit(c0.dir);
      await i0.started;
      must(i0.child.stdin).end('go\n');
      expect(await i0.result).toBe('ok');

      // CRI-O: createRuntime hook with the state on stdin, then the runtime starts the container.
      const c1 = node.addContainer(pod.dir, 'app');
      const i1 = containerInit(c1.dir);
      await i1.started;
      const hook = await runHook({ ociVersion: '1.0.2', id: c1.id, status: 'created', pid: i1.child.pid, bundle: dir, annotations: annotations('app') }, ['--socket', socket]);
      expect(hook).toEqual({ status: 0, stderr: '' });
      expect(sets.members(SET)).toEqual([c1.cgroupId]);
      must(i1.child.stdin).end('go\n');
      expect(await i1.result).toBe('EPERM');
      // A container of another name in the same pod is registered but not selected.
      const c2 = node.addContainer(pod.dir, 'sidecar');
      const i2 = containerInit(c2.dir);
      await i2.started;
      expect((await runHook({ id: c2.id, pid: i2.child.pid, annotations: annotations('sidecar') }, ['--socket', socket])).status).toBe(0);
      must(i2.child.stdin).end('go\n');
      expect(await i2.result).toBe('ok');
      expect(hooks.stats.registered).toBe(2);
      expect(sets.registeredContainers().sort()).toEqual([c1.id, c2.id].sort());

      // poststop: the runtime runs the hook again with status "stopped": the registration and its map entry go.
      const c1Key = identityKey(SET, c1.cgroupId).toString('hex');
      expect(map.keys()).toContain(c1Key);
      expect(await runHook({ ociVersion: '1.0.2', id: c1.id, status: 'stopped', bundle: dir, annotations: annotations('app') }, ['--socket', socket])).toEqual({ status: 0, stderr: '' });
      expect(hooks.stats.unregistered).toBe(1);
      expect(sets.registeredContainers()).toEqual([c2.id]);
      expect(sets.members(SET)).toEqual([]);
      expect(map.keys()).not.toContain(c1Key);
      // A runtime that never ran poststop: once the container's cgroup is removed, the rescan drops it.
      expect(sets.sweepRegistrations()).toEqual([]);
      node.removeContainer(c2);
      sets.fullRefresh();
      expect(sets.registeredContainers()).toEqual([]);
      expect(sets.stats().registrations).toBe(0);
      // poststop with no sensor listening: logged, exit 0 even with --fail-closed (the container is gone anyway).
      const late = await runHook({ id: c2.id, status: 'stopped' }, ['--socket', join(dir, 'nobody.sock'), '--fail-closed']);
      expect(late.status).toBe(0);
      expect(late.stderr).toMatch(/^vigil-oci-hook: poststop: cannot reach the sensor .*; the sensor drops the registration once the container's cgroup is gone/);

      // Non-root callers: the socket is 0600 (EACCES); with the mode opened up, SO_PEERCRED still refuses them.
      expect((await runHook({ id: c0.id, pid: process.pid }, ['--socket', socket, '--fail-closed'], { uid: 65534, gid: 65534 })).stderr).toMatch(/EACCES/);
      chmodSync(dir, 0o755);
      chmodSync(socket, 0o666);
      const asNobody = await runHook({ id: c0.id, pid: process.pid }, ['--socket', socket, '--fail-closed'], { uid: 65534, gid: 65534 });
      expect(asNobody.status).toBe(1);
      expect(asNobody.stderr).toMatch(/uid 65534 may not register containers; failing closed/);
      expect(hooks.stats.rejected).toBe(1);
    } finally {
      await hooks.close();
      sets.close();
      map.close();
    }
  });

  it('fails open or closed, within the timeout, when the sensor is unreachable or silent', async () => {
    const id = 'd'.repeat(64);
    const state = { id, pid: process.pid };
    const gone = join(dir, 'nobody.sock');
    expect(await runHook(state, ['--socket', gone])).toMatchObject({ status: 0, stderr: expect.stringMatching(/cannot reach the sensor.*failing open/) });
    expect(await runHook(state, ['--socket', gone, '--fail-closed'])).toMatchObject({ status: 1, stderr: expect.stringMatching(/failing closed/) });
    // A sensor that accepts and never answers: the hook gives up after --timeout-ms.
    const silentPath = join(dir, 'silent.sock');
    const conns: Socket[] = [];
    const silent = createServer((c) => conns.push(c));
    await new Promise<void>((r) => silent.listen(silentPath, () => r()));
    try {
      const t0 = Date.now();
      const r = await runHook(state, ['--socket', silentPath, '--timeout-ms', '300', '--fail-closed']);
      expect(r.status).toBe(1);
      expect(r.stderr).toMatch(/did not answer within 300 ms/);
      expect(Date.now() - t0).toBeLessThan(5000);
    } finally {
      for (const c of conns) c.destroy();
      silent.close();
    }
  });
});
