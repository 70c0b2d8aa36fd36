/**
 * The generic hook engine end to end on the real kernel, through the composite applier the sensor uses: a
 * Tetragon policy with a `syscall: true` kprobe (served on this kernel by tp_btf sys_enter, elsewhere by a kprobe
 * or fentry) kills the process that opens the marked file, posts a process_kprobe event with the right fields,
 * leaves the sibling alone; monitor mode lets it run and reports the would-be action; a bundle that fails to
 * attach leaves the previous version enforcing; remove() detaches and unpins everything of the policy.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compilePolicy, parsePolicy, type Bundle } from '@vigil/policy-schema';
import { CompositeApplier } from '../enforce/composite.js';
import { FallbackEnforcementEngine } from '../enforce/engine.js';
import { KtimeClock } from '../events/exec-id.js';
import { TetragonJsonFormatter } from '../export/json.js';
import type { HookEvent } from '../export/model.js';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { BPF_OUT, TestCgroup, capability, vgTry } from '../mechanisms/test-kernel.js';
import { probeKernel } from '../probe/probe.js';
import { nodeProfileFromCapabilities } from '../transport/node-profile.js';
import { GenericHookEngine } from './engine.js';

const PIN_ROOT = `/sys/fs/bpf/vigil-generic-test-${process.pid}`;
let dir = '';
let profile: ReturnType<typeof nodeProfileFromCapabilities>;
const events: HookEvent[] = [];
let generic: GenericHookEngine;
let fallback: FallbackEnforcementEngine;
let composite: CompositeApplier;

const openKillPolicy = (name: string, path: string, opts: { monitor?: boolean; call?: string } = {}) => `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: ${name}
spec:
${opts.monitor ? '  options:\n  - name: policy-mode\n    value: monitor\n' : ''}  kprobes:
  - call: ${opts.call ?? 'sys_openat'}
    syscall: true
    args:
    - index: 0
      type: int
    - index: 1
      type: string
    selectors:
    - matchArgs:
      - index: 1
        operator: Equal
        values: ["${path}"]
      matchActions:
      - action: Sigkill
`;

function compile(yaml: string, generation = 1): Bundle {
  const policy = parsePolicy(yaml);
  policy.metadata.generation = generation;
  return compilePolicy(policy, profile);
}

function waitForEvent(pred: (e: HookEvent) => boolean, ms = 3000): HookEvent | undefined {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    generic.drain();
    const hit = events.find(pred);
    if (hit) return hit;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return undefined;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vigil-generic-'));
  profile = nodeProfileFromCapabilities(probeKernel({ probeObject: join(BPF_OUT, 'probe.bpf.o') }));
  generic = new GenericHookEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT, onEvent: (e) => events.push(e), clock: new KtimeClock() });
  fallback = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
  composite = new CompositeApplier(fallback, generic);
});
afterAll(async () => {
  await generic.uninstall();
  await fallback.uninstall();
  rmSync(dir, { recursive: true, force: true });
  rmSync(PIN_ROOT, { recursive: true, force: true });
});

describe('generic hook engine (real kernel)', () => {
  it('syscall kprobe Sigkill: the opener of the marked file is killed, a sibling is not, and a process_kprobe event says so', async () => {
    const marker = join(dir, 'marker');
    const other = join(dir, 'other');
    writeFileSync(marker, 'x');
    writeFileSync(other, 'y');
    const bundle = compile(openKillPolicy('kill-marker-open', marker));
    const outcome = await composite.apply(bundle);
    expect(outcome.reason).toBe('');
    expect(outcome.hooks?.[0]).toMatchObject({ path: 'spec.kprobes[0]', hook: 'sys_openat', state: 'enforcing' });
    const mechanism = outcome.hooks?.[0]?.mechanism ?? '';
    using cg = new TestCgroup();
    const killed = vgTry(['open', marker], cg.path);
    expect(killed.signal).toBe('SIGKILL');
    const sibling = vgTry(['open', other], cg.path);
    expect(sibling).toMatchObject({ out: 'ok', status: 0 });

    const ev = waitForEvent((e) => e.policyName === 'kill-marker-open');
    expect(ev).toBeDefined();
    const json = JSON.parse(new TetragonJsonFormatter('node-1', new KtimeClock()).format(ev as HookEvent)) as { process_kprobe: Record<string, unknown> };
    expect(json.process_kprobe).toMatchObject({
      function_name: 'sys_openat',
      action: 'KPROBE_ACTION_SIGKILL',
      policy_name: 'kill-marker-open',
      mechanism,
    });
    expect(json.process_kprobe.args).toEqual(expect.arrayContaining([{ string_arg: marker }]));
    expect((ev as HookEvent).process.args).toContain('vg_try'); // no process cache here: the kernel's comm
    expect(events.filter((e) => e.policyName === 'kill-marker-open' && e.args.some((a) => a.kind === 'string_arg' && a.value === other))).toEqual([]);

    await composite.remove(bundle.version.policyUid);
    expect(vgTry(['open', marker], cg.path)).toMatchObject({ out: 'ok', status: 0 });
    expect(existsSync(join(PIN_ROOT, 'generic', 'kill-marker-open'))).toBe(false);
  });

  it('raw tracepoint (raw: true): sched_process_exec with its linux_binprm arg kills the matching exec, posts the path, spares a sibling', async () => {
    for (const cap of ['raw_tp', 'send_signal'] as const) {
      const c = capability(cap);
      if (!c.available) return skipMissing(expect.getState().currentTestName, cap, c.reason);
    }
    const denied = join(dir, 'raw-denied');
    const sibling = join(dir, 'raw-sibling');
    copyFileSync('/bin/true', denied);
    copyFileSync('/bin/true', sibling);
    chmodSync(denied, 0o755);
    chmodSync(sibling, 0o755);
    // Tetragon's rawtp example with a selector: TP_PROTO(struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm);
    // a tracepoint's matchArgs index is the position in args
    const bundle = compile(`
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: { name: rawtp-exec }
spec:
  tracepoints:
  - subsystem: sched
    event: sched_process_exec
    raw: true
    args:
    - index: 2
      type: linux_binprm
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${denied}"]
      matchActions:
      - action: Sigkill
`);
    expect(bundle.hooks[0]?.mechanism).toBe('raw_tp');
    const outcome = await composite.apply(bundle);
    expect(outcome.reason).toBe('');
    expect(outcome.hooks?.[0]).toMatchObject({ path: 'spec.tracepoints[0]', hook: 'sched/sched_process_exec', mechanism: 'raw_tp', state: 'enforcing' });
    using cg = new TestCgroup(); // the test process's own cgroup is exempt (the sensor's)
    try {
      expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL');
      expect(vgTry(['exec', sibling], cg.path)).toMatchObject({ status: 0, signal: null });
      const ev = waitForEvent((e) => e.policyName === 'rawtp-exec');
      expect(ev).toBeDefined();
      const json = JSON.parse(new TetragonJsonFormatter('node-1', new KtimeClock()).format(ev as HookEvent)) as { process_tracepoint: Record<string, unknown> };
      expect(json.process_tracepoint).toMatchObject({ subsys: 'sched', event: 'sched_process_exec', action: 'KPROBE_ACTION_SIGKILL', policy_name: 'rawtp-exec', mechanism: 'raw_tp' });
      expect(JSON.stringify(json.process_tracepoint['args'])).toContain(denied);
      expect(events.filter((e) => e.policyName === 'rawtp-exec' && JSON.stringify(e.args).includes(sibling))).toEqual([]);
    } finally {
      await composite.remove(bundle.version.policyUid);
    }
    expect(vgTry(['exec', denied], cg.path)).toMatchObject({ status: 0, signal: null });
  });

  it('USDT: the args its ELF note describes are read (int64, string); Sigkill kills only the matching call', async () => {
    const c = capability('uprobe');
    if (!c.available) return skipMissing(expect.getState().currentTestName, 'uprobe', c.reason);
    const target = join(BPF_OUT, 'helpers', 'vg_uprobe_target'); // fires USDT vigil:target(number, text)
    const bundle = compile(`
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: { name: usdt-target }
spec:
  usdts:
  - path: ${target}
    provider: vigil
    name: target
    args:
    - { index: 0, type: int64 }
    - { index: 1, type: string }
    selectors:
    - matchArgs:
      - { index: 1, operator: Equal, values: ["kill-me"] }
      matchActions:
      - action: Sigkill
`);
    const outcome = await composite.apply(bundle);
    expect(outcome.reason).toBe('');
    expect(outcome.hooks?.[0]).toMatchObject({ path: 'spec.usdts[0]', mechanism: 'uprobe', state: 'enforcing' });
    using cg = new TestCgroup(); // the test process's own cgroup is exempt (the sensor's)
    const inCg = (text: string) => spawnSync('sh', ['-c', 'echo $$ > "$1/cgroup.procs" && exec "$2" 42 "$3"', 'sh', cg.path, target, text]);
    try {
      expect(inCg('kill-me').signal).toBe('SIGKILL');
      expect(inCg('spare-me')).toMatchObject({ status: 0, signal: null });
      const ev = waitForEvent((e) => e.policyName === 'usdt-target');
      expect(ev).toBeDefined();
      const json = JSON.parse(new TetragonJsonFormatter('node-1', new KtimeClock()).format(ev as HookEvent)) as { process_uprobe: Record<string, unknown> };
      expect(json.process_uprobe).toMatchObject({ action: 'KPROBE_ACTION_SIGKILL', policy_name: 'usdt-target', mechanism: 'uprobe' });
      expect(json.process_uprobe['args']).toEqual([{ long_arg: '42' }, { string_arg: 'kill-me' }]);
    } finally {
      await composite.remove(bundle.version.policyUid);
    }
    expect(inCg('kill-me')).toMatchObject({ status: 0, signal: null });
  });

  it('enforcers: NotifyEnforcer on a sys_dup hook; the enforcer on sys_dup kills (argSig); argError where fmod_ret may override it, else the status says why', async () => {
    for (const cap of ['tp_btf', 'send_signal'] as const) {
      const c = capability(cap);
      if (!c.available) return skipMissing(expect.getState().currentTestName, cap, c.reason);
    }
    // Tetragon's killer.yaml shape, scoped by the fd argument so no other process's dup is touched.
    const enforcerPolicy = (name: string, action: string) => `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata: { name: ${name} }
spec:
  lists:
  - { name: dups, type: syscalls, values: [sys_dup] }
  enforcers:
  - calls: ["list:dups"]
  kprobes:
  - call: sys_dup
    syscall: true
    args: [{ index: 0, type: int }]
    selectors:
    - matchArgs: [{ index: 0, operator: Equal, values: ["987"] }]
      matchActions: [{ action: NotifyEnforcer, ${action} }]
`;
    using cg = new TestCgroup(); // the test process's own cgroup is exempt (the sensor's)
    const kill = compile(enforcerPolicy('enforcer-kill', 'argSig: 9'));
    const out = await composite.apply(kill);
    expect(out.reason).toBe('');
    const enforcer = out.hooks?.find((h) => h.path === 'spec.enforcers[0]');
    expect(enforcer).toMatchObject({ hook: 'enforcer (__x64_sys_dup)', state: 'enforcing' });
    try {
      expect(vgTry(['dup', '987'], cg.path).signal).toBe('SIGKILL');
      expect(vgTry(['dup', '986'], cg.path)).toMatchObject({ out: 'ok', status: 0 }); // the hook's selector does not match: no note
      const ev = waitForEvent((e) => e.policyName === 'enforcer-kill');
      expect(ev?.action).toBe('NotifyEnforcer');
    } finally {
      await composite.remove(kill.version.policyUid);
    }
    expect(vgTry(['dup', '987'], cg.path)).toMatchObject({ out: 'ok', status: 0 });

    // argError needs fmod_ret on __x64_sys_dup, which only a kernel with CONFIG_FUNCTION_ERROR_INJECTION allows (no
    // kernel of the matrix): the status says where the enforcer runs and why, and what that costs.
    const deny = compile(enforcerPolicy('enforcer-deny', 'argError: -1'));
    const status = (await composite.apply(deny)).hooks?.find((h) => h.path === 'spec.enforcers[0]');
    try {
      if (status?.mechanism === 'fentry') {
        expect(vgTry(['dup', '987'], cg.path)).toMatchObject({ out: 'EPERM', status: 0 });
        expect(vgTry(['dup', '986'], cg.path)).toMatchObject({ out: 'ok', status: 0 });
      } else {
        expect(status).toMatchObject({ mechanism: 'tp_btf_syscall', state: 'observing' }); // honest: it cannot act
        expect(status?.reason).toMatch(/no NotifyEnforcer action of the policy has one \(argError cannot be returned here\)/);
        expect(vgTry(['dup', '987'], cg.path)).toMatchObject({ out: 'ok', status: 0 }); // no argSig: nothing to do at sys_exit
      }
    } finally {
      await composite.remove(deny.version.policyUid);
    }
  });

  it('monitor mode: the opener runs and the event carries the action it would have taken', async () => {
    const marker = join(dir, 'monitored');
    writeFileSync(marker, 'x');
    const bundle = compile(openKillPolicy('watch-marker-open', marker, { monitor: true }));
    const outcome = await composite.apply(bundle);
    expect(outcome.reason).toBe('');
    expect(outcome.hooks?.[0]).toMatchObject({ state: 'observing' });
    using cg = new TestCgroup();
    expect(vgTry(['open', marker], cg.path)).toMatchObject({ out: 'ok', status: 0 });
    const ev = waitForEvent((e) => e.policyName === 'watch-marker-open');
    expect(ev).toMatchObject({ action: 'Post', monitorAction: 'Sigkill' });
    await composite.remove(bundle.version.policyUid);
  });

  it('a bundle that fails to attach leaves the previous version enforcing; remove() unpins everything', async () => {
    const marker = join(dir, 'v1');
    writeFileSync(marker, 'x');
    const v1 = compile(openKillPolicy('swap-test', marker), 1);
    expect(await composite.apply(v1)).toMatchObject({ result: 'applied' });
    // v2: a tracepoint that does not exist on any kernel → attach fails, the node refuses v2
    const v2 = compile(
      `
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: swap-test
spec:
  tracepoints:
  - subsystem: vigil_nonexistent
    event: no_such_event
    selectors:
    - matchActions:
      - action: Post
`,
      2,
    );
    v2.hooks[0] = { ...(v2.hooks[0] as Bundle['hooks'][number]), mechanism: 'tracepoint' };
    delete v2.hooks[0].refusal;
    const out2 = await composite.apply(v2);
    expect(out2).toMatchObject({ result: 'refused', reason: expect.stringContaining('does not exist on this node') });
    using cg = new TestCgroup();
    expect(vgTry(['open', marker], cg.path).signal).toBe('SIGKILL'); // v1 still acts
    const dirOfPolicy = join(PIN_ROOT, 'generic', 'swap-test');
    expect(readdirSync(dirOfPolicy).some((f) => f.startsWith('link_'))).toBe(true);
    await composite.remove(v1.version.policyUid);
    expect(existsSync(dirOfPolicy)).toBe(false);
    expect(vgTry(['open', marker], cg.path)).toMatchObject({ out: 'ok', status: 0 });
  });

  it('pinned hooks keep enforcing after the engine closes; a new engine adopts the same bundle, then swaps to v2 and detaches the inherited links', async () => {
    const a = join(dir, 'restart-a');
    const b = join(dir, 'restart-b');
    writeFileSync(a, 'x');
    writeFileSync(b, 'y');
    const first = new GenericHookEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
    const v1 = compile(openKillPolicy('restart-test', a), 1);
    expect(await first.apply(v1)).toMatchObject({ result: 'applied' });
    await first.close(); // the sensor goes away
    using cg = new TestCgroup();
    expect(vgTry(['open', a], cg.path).signal).toBe('SIGKILL'); // still armed, no process
    const second = new GenericHookEngine({ objectsDir: BPF_OUT, pinRoot: PIN_ROOT });
    try {
      expect(await second.apply(v1)).toMatchObject({ result: 'applied' }); // adopted: nothing loaded
      const v2 = compile(openKillPolicy('restart-test', b), 2);
      expect(await second.apply(v2)).toMatchObject({ result: 'applied' });
      expect(vgTry(['open', a], cg.path)).toMatchObject({ out: 'ok', status: 0 });
      expect(vgTry(['open', b], cg.path).signal).toBe('SIGKILL');
      expect(readdirSync(join(PIN_ROOT, 'generic', 'restart-test')).filter((f) => f.startsWith('link_'))).toHaveLength(1);
      await second.remove(v2.version.policyUid);
      expect(vgTry(['open', b], cg.path)).toMatchObject({ out: 'ok', status: 0 });
    } finally {
      await second.close();
    }
  });

  it('a new generation replaces the selectors atomically: v2 kills the new file, no longer the old one', async () => {
    const a = join(dir, 'gen-a');
    const b = join(dir, 'gen-b');
    writeFileSync(a, 'x');
    writeFileSync(b, 'y');
    const v1 = compile(openKillPolicy('gen-test', a), 1);
    const v2 = compile(openKillPolicy('gen-test', b), 2);
    expect(await composite.apply(v1)).toMatchObject({ result: 'applied' });
    using cg = new TestCgroup();
    expect(vgTry(['open', a], cg.path).signal).toBe('SIGKILL');
    expect(await composite.apply(v2)).toMatchObject({ result: 'applied' });
    expect(vgTry(['open', a], cg.path)).toMatchObject({ out: 'ok', status: 0 });
    expect(vgTry(['open', b], cg.path).signal).toBe('SIGKILL');
    await composite.remove(v2.version.policyUid);
  });
});

/** Kernel-function hooks need BPF trampolines (the matrix guests have them; this host does not). */
function trampolinesMissing(): boolean {
  const c = capability('trampoline');
  if (c.available) return false;
  skipMissing(expect.getState().currentTestName ?? '', 'trampoline', c.reason);
  return true;
}

describe('generic hook engine on kernel functions (real kernel)', () => {
  it('kernel function Override: security_file_open of the marked file fails with EPERM (fmod_ret or kprobe override), a sibling opens', async () => {
    if (trampolinesMissing()) return;
    const marker = join(dir, 'override-marker');
    const other = join(dir, 'override-other');
    writeFileSync(marker, 'x');
    writeFileSync(other, 'y');
    const bundle = compile(`
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: deny-marker-open
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
      matchActions:
      - action: Override
        argError: -1
`);
    const out = await composite.apply(bundle);
    expect(out.reason).toBe('');
    expect(out.hooks?.[0]).toMatchObject({ state: 'enforcing' });
    expect(['fentry', 'kprobe']).toContain(out.hooks?.[0]?.mechanism);
    using cg = new TestCgroup();
    expect(vgTry(['open', marker], cg.path).out).toBe('EPERM');
    expect(vgTry(['open', other], cg.path).out).toBe('ok');
    expect(waitForEvent((e) => e.policyName === 'deny-marker-open')).toMatchObject({ eventKind: 'process_kprobe', action: 'Override', functionName: 'security_file_open' });
    await composite.remove(bundle.version.policyUid);
    expect(vgTry(['open', marker], cg.path).out).toBe('ok');
  });

  it('Override on a function the kernel cannot override is refused with the function named', async () => {
    if (trampolinesMissing()) return;
    const bundle = compile(`
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: override-not-injectable
spec:
  kprobes:
  - call: fd_install
    syscall: false
    args:
    - index: 0
      type: int
    selectors:
    - matchActions:
      - action: Override
        argError: -1
`);
    const out = await composite.apply(bundle);
    expect(out).toMatchObject({ result: 'refused', reason: expect.stringContaining('Override on fd_install') });
  });

  it('kernel function Sigkill with a file arg: security_file_open of the marked file kills the opener, a sibling opens', async () => {
    if (trampolinesMissing()) return;
    const marker = join(dir, 'kfunc-marker');
    const other = join(dir, 'kfunc-other');
    writeFileSync(marker, 'x');
    writeFileSync(other, 'y');
    const bundle = compile(`
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: kill-marker-file-open
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    args:
    - index: 0
      type: file
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
      matchActions:
      - action: Sigkill
`);
    const out = await composite.apply(bundle);
    expect(out.reason).toBe('');
    using cg = new TestCgroup();
    expect(vgTry(['open', marker], cg.path).signal).toBe('SIGKILL');
    expect(vgTry(['open', other], cg.path).out).toBe('ok');
    const ev = waitForEvent((e) => e.policyName === 'kill-marker-file-open');
    expect(ev?.args).toEqual(expect.arrayContaining([expect.objectContaining({ kind: 'file_arg', path: marker })]));
    await composite.remove(bundle.version.policyUid);
  });

  it('return probe Sigkill (fexit): a matching security_file_open call kills the opener after the function returned', async () => {
    if (trampolinesMissing()) return;
    const marker = join(dir, 'fexit-marker');
    const other = join(dir, 'fexit-other');
    writeFileSync(marker, 'x');
    writeFileSync(other, 'y');
    const bundle = compile(`
apiVersion: cilium.io/v1alpha1
kind: TracingPolicy
metadata:
  name: kill-on-return
spec:
  kprobes:
  - call: security_file_open
    syscall: false
    return: true
    args:
    - index: 0
      type: file
    returnArg:
      index: 0
      type: int
    selectors:
    - matchArgs:
      - index: 0
        operator: Equal
        values: ["${marker}"]
      matchActions:
      - action: Sigkill
`);
    const out = await composite.apply(bundle);
    expect(out.reason).toBe('');
    expect(out.hooks?.[0]).toMatchObject({ mechanism: 'fexit', state: 'enforcing' });
    using cg = new TestCgroup();
    expect(vgTry(['open', marker], cg.path).signal).toBe('SIGKILL');
    expect(vgTry(['open', other], cg.path).out).toBe('ok');
    await composite.remove(bundle.version.policyUid);
  });
});
