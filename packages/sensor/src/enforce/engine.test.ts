/**
 * The fallback enforcement engine end to end on the real kernel: Tetragon-style policies (YAML) are validated,
 * compiled for this node with the fallback mechanisms forced (as `--mechanisms fallback` does on kernels that have
 * LSM BPF), applied, and the denied operations fail for real; removing the policy lifts the denial; a policy the
 * fallbacks cannot express is refused whole, with the reason, and the previous version keeps enforcing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy, parsePolicy, type Bundle } from '@vigil/policy-schema';
import { probeKernel } from '../probe/probe.js';
import { BPF_OUT, TestCgroup, capability, vgTry } from '../mechanisms/test-kernel.js';
import { closeFd, loadNative, objGet } from '../libbpf/index.js';
import { nodeProfileFromCapabilities } from '../transport/node-profile.js';
import { FallbackEnforcementEngine, type AttributedDecision } from './engine.js';

const PIN_ROOT = `/sys/fs/bpf/vigil-engine-test-${process.pid}`;
const CLI = join(BPF_OUT, '../../packages/sensor/dist/cli.js');
let dir = '';
let profile: ReturnType<typeof nodeProfileFromCapabilities>;

function compile(yaml: string, generation = 1): Bundle {
  const policy = parsePolicy(yaml);
  policy.metadata.generation = generation;
  return compilePolicy(policy, profile);
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-engine-'));
  const caps = probeKernel({ probeObject: join(BPF_OUT, 'probe.bpf.o') });
  profile = nodeProfileFromCapabilities(caps);
  // the fallbacks, also on kernels where LSM BPF and kprobes work
  profile.mechanisms = { ...profile.mechanisms, lsm: false, kprobe: false, kprobeOverride: false, fentry: false };
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(PIN_ROOT, { recursive: true, force: true });
});

const fileOpenPolicy = (path: string) => `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: protect-secret
spec:
  lsmhooks:
  - hook: file_open
    args:
    - index: 0
      type: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${path}"]
      matchActions:
      - action: Override
        argError: -1
`;

const execPolicy = (path: string) => `
apiVersion: vigil.dev/v1alpha1
kind: TracingPolicy
metadata:
  name: no-forbidden-tool
spec:
  lsmhooks:
  - hook: bprm_check_security
    args:
    - index: 0
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${path}"]
      matchActions:
      - action: Sigkill
`;

const connectPolicy = `
apiVersion: vigil.dev/v1alpha1
kind: TracingPolicy
metadata:
  name: block-127-0-0-77
spec:
  lsmhooks:
  - hook: socket_connect
    args:
    - index: 0
      type: sock
    - index: 1
      type: sockaddr
    selectors:
    - matchArgs:
      - index: 1
        operator: DAddr
        values: ["127.0.0.77/32"]
      - index: 1
        operator: DPort
        values: ["9000:9100"]
      matchActions:
      - action: Override
        argError: -1
`;

describe('fallback enforcement engine (real kernel)', () => {
  it('file_open Override: open fails with EPERM for the protected file only, until the policy is removed', async () => {
    if (!capability('fanotify').available) return void process.stdout.write(`VIGIL-SKIP file_open missing=fanotify reason=${capability('fanotify').reason}\n`);
    const secret = join(dir, 'secret');
    const other = join(dir, 'other');
    writeFileSync(secret, 'x');
    writeFileSync(other, 'y');
    const decisions: AttributedDecision[] = [];
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT, onDecision: (d) => decisions.push(d) });
    using cg = new TestCgroup();
    try {
      const bundle = compile(fileOpenPolicy(secret));
      expect(bundle.hooks[0]?.mechanism).toBe('fanotify');
      expect(await engine.apply(bundle)).toEqual({ result: 'applied', reason: '' });
      expect(vgTry(['open', secret], cg.path).out).toBe('EPERM');
      expect(vgTry(['open', other], cg.path).out).toBe('ok');
      await new Promise((r) => setTimeout(r, 50));
      expect(decisions).toContainEqual(expect.objectContaining({ policyName: 'protect-secret', hook: 'file_open', mechanism: 'fanotify', action: 'deny' }));
      await engine.remove(bundle.version.policyUid);
      expect(vgTry(['open', secret], cg.path).out).toBe('ok');
    } finally {
      await engine.uninstall();
    }
  });

  it('bprm_check_security Sigkill: exec of the denied binary fails with EPERM while the engine runs (fanotify exec mark; the binary stays readable), is killed once it is gone, others run', async () => {
    if (!capability('send_signal').available) return void process.stdout.write(`VIGIL-SKIP bprm_check missing=send_signal reason=${capability('send_signal').reason}\n`);
    const tool = join(dir, 'forbidden-tool');
    copyFileSync('/bin/true', tool);
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
    using cg = new TestCgroup();
    const bundle = compile(execPolicy(tool));
    try {
      expect(bundle.hooks[0]?.mechanism).toBe('tp_btf');
      expect((await engine.apply(bundle)).result).toBe('applied');
      expect(vgTry(['exec', tool], cg.path).out).toBe('EPERM');
      expect(vgTry(['open', tool], cg.path).out).toBe('ok');
      expect(vgTry(['exec', '/bin/true'], cg.path).status).toBe(0);
    } finally {
      await engine.close(); // the fanotify group goes; the pinned exec kill stays armed
    }
    const again = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
    try {
      expect(vgTry(['exec', tool], cg.path).signal).toBe('SIGKILL');
      expect(vgTry(['exec', '/bin/true'], cg.path).status).toBe(0);
      expect((await again.apply(bundle)).result).toBe('applied'); // adopts the pinned unit, then uninstall removes it
    } finally {
      await again.uninstall();
    }
  });

  it('socket_connect Override: connect to the denied address and port range fails with EPERM', async () => {
    if (!capability('cgroup_sock').available) return void process.stdout.write(`VIGIL-SKIP socket_connect missing=cgroup_sock reason=${capability('cgroup_sock').reason}\n`);
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
    using cg = new TestCgroup();
    try {
      const bundle = compile(connectPolicy);
      expect(bundle.hooks[0]?.mechanism).toBe('cgroup_sock');
      expect((await engine.apply(bundle)).result).toBe('applied');
      expect(vgTry(['connect', '127.0.0.77', '9050'], cg.path).out).toBe('EPERM');
      expect(vgTry(['connect', '::ffff:127.0.0.77', '9050'], cg.path).out).toBe('EPERM');
      expect(vgTry(['connect', '127.0.0.77', '9200'], cg.path).out).not.toBe('EPERM'); // outside the port range
      expect(vgTry(['connect', '127.0.0.78', '9050'], cg.path).out).not.toBe('EPERM');
    } finally {
      await engine.uninstall();
    }
  });

  it('kill rules stay armed after the sensor closes, and vigil-sensor uninstall removes them', async () => {
    if (!capability('send_signal').available) return void process.stdout.write(`VIGIL-SKIP uninstall missing=send_signal reason=${capability('send_signal').reason}\n`);
    const tool = join(dir, 'forbidden-after-close');
    copyFileSync('/bin/true', tool);
    const root = `${PIN_ROOT}-uninstall`;
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: root });
    using cg = new TestCgroup();
    expect((await engine.apply(compile(execPolicy(tool)))).result).toBe('applied');
    await engine.close(); // the sensor stops: the pinned exec kill stays
    expect(vgTry(['exec', tool], cg.path).signal).toBe('SIGKILL');
    const r = spawnSync(process.execPath, [CLI, 'uninstall', '--bpffs-root', root], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^removed \d+ pins and directories:/);
    expect(r.stdout).toContain(`${root}/enforce/exec-kill`);
    expect(existsSync(root)).toBe(false);
    expect(vgTry(['exec', tool], cg.path).status).toBe(0);
    expect(spawnSync(process.execPath, [CLI, 'uninstall', '--bpffs-root', root], { encoding: 'utf8' }).stdout).toBe('nothing pinned: nothing to remove\n');
  });

  it('refuses a policy it cannot express, whole and with the reason, and the previous version keeps enforcing', async () => {
    if (!capability('fanotify').available) return void process.stdout.write(`VIGIL-SKIP refusal missing=fanotify reason=${capability('fanotify').reason}\n`);
    const secret = join(dir, 'secret2');
    writeFileSync(secret, 'x');
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
    using cg = new TestCgroup();
    try {
      const v1 = compile(fileOpenPolicy(secret), 1);
      expect((await engine.apply(v1)).result).toBe('applied');
      // v2 asks for Prefix matching, which the fanotify fallback cannot express
      const v2 = compile(fileOpenPolicy(secret).replace('operator: Equal', 'operator: Prefix'), 2);
      const out = await engine.apply(v2);
      expect(out.result).toBe('refused');
      expect(out.reason).toMatch(/^spec\.lsmhooks\[0\] \(file_open\): .*operator Equal/);
      expect(vgTry(['open', secret], cg.path).out).toBe('EPERM'); // v1 still enforcing
      // v3 has matchArgs on an argument file_open's mechanism does not see (arg 1): refused, v1 stays
      const v3 = compile(fileOpenPolicy(secret).replace(/index: 0/g, 'index: 1'), 3);
      const out3 = await engine.apply(v3);
      expect(out3.result).toBe('refused');
      expect(out3.reason).toMatch(/Equal on arg index 1 \(file\) is not what the fanotify fallback sees for file_open/);
      expect(engine.report(v1.version.policyUid).map((h) => h.status)).toEqual(['enforcing']);
    } finally {
      await engine.uninstall();
    }
  });

  it('policy-mode monitor: the open goes through, the decision is reported as monitor', async () => {
    if (!capability('send_signal').available) return void process.stdout.write(`VIGIL-SKIP monitor missing=send_signal reason=${capability('send_signal').reason}\n`);
    const secret = join(dir, 'secret-monitor');
    writeFileSync(secret, 'x');
    const decisions: AttributedDecision[] = [];
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT, onDecision: (d) => decisions.push(d) });
    using cg = new TestCgroup();
    try {
      const monitor = compile(fileOpenPolicy(secret).replace('spec:\n', 'spec:\n  options:\n  - name: policy-mode\n    value: monitor\n'));
      expect(await engine.apply(monitor)).toEqual({ result: 'applied', reason: '' });
      expect(engine.report(monitor.version.policyUid)[0]?.reason).toMatch(/monitor mode/);
      expect(vgTry(['open', secret], cg.path)).toMatchObject({ out: 'ok', signal: null });
      for (let i = 0; i < 50 && decisions.length === 0; i++) await new Promise((r) => setTimeout(r, 20));
      expect(decisions).toEqual([expect.objectContaining({ policyName: 'protect-secret', hook: 'file_open', mechanism: 'tp_btf', action: 'kill', monitor: true })]);
    } finally {
      await engine.uninstall();
    }
  });

  it('a pod-scoped policy with deny-io-uring: only processes of the selected pods are killed at open and io_uring_setup', async () => {
    if (!capability('send_signal').available) return void process.stdout.write(`VIGIL-SKIP pod-scope missing=send_signal reason=${capability('send_signal').reason}\n`);
    const secret = join(dir, 'secret-pod');
    writeFileSync(secret, 'x');
    const root = `${PIN_ROOT}-pod`;
    const engine = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: root });
    using pod = new TestCgroup();
    using other = new TestCgroup();
    try {
      const bundle = compile(fileOpenPolicy(secret).replace('spec:\n', 'spec:\n  podSelector:\n    matchLabels: { app: web }\n  options:\n  - name: deny-io-uring\n    value: "true"\n'));
      const setId = bundle.identitySets[0]?.id ?? 0;
      expect(setId).toBeGreaterThan(0);
      expect((await engine.apply(bundle)).result).toBe('applied');
      // what the sensor's identity watcher does when it sees the pod: its cgroup joins the set (pinned, shared map)
      const fd = objGet(join(root, 'state', 'vg_identity_v1'));
      try {
        const key = Buffer.alloc(16);
        key.writeUInt32LE(setId, 0);
        key.writeBigUInt64LE(pod.id, 8);
        expect(loadNative().bpf.bpf_map_update_elem(fd, key, Buffer.from([1]), 0n)).toBe(0);
      } finally {
        closeFd(fd);
      }
      expect(vgTry(['open', secret], pod.path).signal).toBe('SIGKILL'); // open kill (fanotify cannot scope by pod)
      expect(vgTry(['open', secret], other.path).out).toBe('ok');
      expect(spawnSync(join(BPF_OUT, 'helpers/vg_fallback'), ['--cgroup', pod.path, 'uring_setup'], { encoding: 'utf8' }).signal).toBe('SIGKILL');
      expect(spawnSync(join(BPF_OUT, 'helpers/vg_fallback'), ['--cgroup', other.path, 'uring_setup'], { encoding: 'utf8' }).stdout.trim()).toBe('ring');
    } finally {
      await engine.uninstall();
      rmSync(root, { recursive: true, force: true });
    }
  });
});
