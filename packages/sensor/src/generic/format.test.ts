import { describe, expect, it } from '@jest/globals';
import protobuf from 'protobufjs';
import { ProcFlags } from '../abi/layout.js';
import { KtimeClock } from '../events/exec-id.js';
import { ProcessCache } from '../events/process-cache.js';
import { CompactFormatter } from '../export/compact.js';
import { EVENTS_PROTO } from '../export/event-proto.js';
import { TetragonJsonFormatter } from '../export/json.js';
import type { HookEvent } from '../export/model.js';
import { NatsEventPublisher } from '../export/nats-events.js';
import { hookArgJson, kprobeActionName } from './format.js';

const clock = new KtimeClock(1_767_323_045_000_000_001n, 1_000_000_000n);
const cache = new ProcessCache({ node: 'node-1' });
const proc = cache.insert({
  pid: 4242, tid: 4242, ppid: 0, ktime: 2_000_000_000n, parentKtime: 0n, binary: '/usr/bin/cat', args: ['/etc/shadow'], cwd: '/root',
  uid: 0, euid: 0, gid: 0, egid: 0, auid: 0, cgroupId: 7n, flags: ProcFlags.EXECVE,
});

function hook(over: Partial<HookEvent>): HookEvent {
  return { type: 'hook', timeNs: clock.wallNs(3_000_000_000n), process: proc, parent: undefined, eventKind: 'process_kprobe', functionName: 'sys_write', args: [], action: 'Post', policyName: 'p', mechanism: 'tp_btf_syscall', ...over };
}

describe('hook events as Tetragon JSON', () => {
  const f = new TetragonJsonFormatter('node-1', clock);

  it('process_kprobe: function_name, typed args, return, action, policy_name, mechanism', () => {
    const ev = hook({
      args: [
        { kind: 'int_arg', value: 1n },
        { kind: 'bytes_arg', value: Uint8Array.from([104, 105]) },
        { kind: 'size_arg', value: 2n },
      ],
      returnValue: { kind: 'int_arg', value: -1n },
      action: 'Sigkill',
    });
    const j = JSON.parse(f.format(ev)) as Record<string, Record<string, unknown>>;
    const k = j.process_kprobe as Record<string, unknown>;
    expect(Object.keys(j)).toEqual(['process_kprobe', 'node_name', 'time']);
    expect(k.function_name).toBe('sys_write');
    expect(k.args).toEqual([{ int_arg: 1 }, { bytes_arg: 'aGk=' }, { size_arg: '2' }]);
    expect(k.return).toEqual({ int_arg: -1 });
    expect(k.action).toBe('KPROBE_ACTION_SIGKILL');
    expect(k.policy_name).toBe('p');
    expect(k.mechanism).toBe('tp_btf_syscall');
    expect((k.process as Record<string, unknown>).binary).toBe('/usr/bin/cat');
    expect(k).not.toHaveProperty('monitor_action');
  });

  it('process_tracepoint uses subsys/event; process_uprobe path/symbol; process_lsm function_name', () => {
    const tp = JSON.parse(f.format(hook({ eventKind: 'process_tracepoint', subsys: 'syscalls', event: 'sys_enter_openat', mechanism: 'tracepoint' }))) as Record<string, Record<string, unknown>>;
    expect(tp.process_tracepoint).toMatchObject({ subsys: 'syscalls', event: 'sys_enter_openat', action: 'KPROBE_ACTION_POST' });
    expect(tp.process_tracepoint).not.toHaveProperty('function_name');
    const up = JSON.parse(f.format(hook({ eventKind: 'process_uprobe', path: '/bin/bash', symbol: 'readline', mechanism: 'uprobe' }))) as Record<string, Record<string, unknown>>;
    expect(up.process_uprobe).toMatchObject({ path: '/bin/bash', symbol: 'readline' });
    const lsm = JSON.parse(
      f.format(hook({ eventKind: 'process_lsm', functionName: 'file_open', mechanism: 'lsm', action: 'Override', args: [{ kind: 'file_arg', path: '/etc/shadow' }] })),
    ) as Record<string, Record<string, unknown>>;
    expect(lsm.process_lsm).toMatchObject({ function_name: 'file_open', action: 'KPROBE_ACTION_OVERRIDE', args: [{ file_arg: { path: '/etc/shadow' } }] });
  });

  it('monitor mode and rate limiting are visible', () => {
    const j = JSON.parse(f.format(hook({ monitorAction: 'Sigkill', suppressed: 12 }))) as Record<string, Record<string, unknown>>;
    expect(j.process_kprobe).toMatchObject({ action: 'KPROBE_ACTION_POST', monitor_action: 'KPROBE_ACTION_SIGKILL', rate_limit_suppressed: '12' });
  });

  it('names arguments as Tetragon does', () => {
    expect(hookArgJson({ kind: 'sock_arg', family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', saddr: '127.0.0.1', daddr: '10.0.0.1', sport: 40000, dport: 443 })).toEqual({
      sock_arg: { family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', saddr: '127.0.0.1', daddr: '10.0.0.1', sport: 40000, dport: 443 },
    });
    expect(hookArgJson({ kind: 'linux_binprm_arg', path: '/usr/bin/nc' })).toEqual({ linux_binprm_arg: { path: '/usr/bin/nc' } });
    expect(hookArgJson({ kind: 'int_arg', value: 1n << 40n })).toEqual({ long_arg: '1099511627776' });
    expect(hookArgJson({ kind: 'string_arg', value: 'x', label: 'name' })).toEqual({ string_arg: 'x', label: 'name' });
    expect(hookArgJson({ kind: 'capability_arg', value: 21, name: 'CAP_SYS_ADMIN' })).toEqual({ capability_arg: { value: 21, name: 'CAP_SYS_ADMIN' } });
    expect(kprobeActionName('NoPost')).toBe('KPROBE_ACTION_NOPOST');
  });
});

describe('hook events in the compact format', () => {
  const c = new CompactFormatter();
  it('connect, read, write, LSM and kill lines', () => {
    expect(c.format(hook({ functionName: 'tcp_connect', mechanism: 'kprobe', args: [{ kind: 'sock_arg', family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', saddr: '10.0.0.2', daddr: '1.1.1.1', sport: 5000, dport: 443 }] }))).toBe(
      '🔌 connect /usr/bin/cat 1.1.1.1:443 (kprobe, policy p)',
    );
    expect(c.format(hook({ functionName: '__x64_sys_read', args: [{ kind: 'int_arg', value: 3n }, { kind: 'size_arg', value: 100n }] }))).toBe('📚 read    /usr/bin/cat 100 bytes (tp_btf_syscall, policy p)');
    expect(c.format(hook({ functionName: 'sys_write', args: [{ kind: 'file_arg', path: '/tmp/x' }, { kind: 'size_arg', value: 5n }] }))).toBe('📝 write   /usr/bin/cat /tmp/x 5 bytes (tp_btf_syscall, policy p)');
    expect(c.format(hook({ eventKind: 'process_lsm', functionName: 'file_open', mechanism: 'lsm', action: 'Override', errorValue: -1, args: [{ kind: 'file_arg', path: '/etc/shadow' }] }))).toBe(
      '🔒 file_open /usr/bin/cat /etc/shadow EPERM (lsm, policy p)',
    );
    expect(c.format(hook({ functionName: 'sys_kill', action: 'Sigkill' }))).toBe('💥 kill    /usr/bin/cat killed (tp_btf_syscall, policy p)');
    expect(c.format(hook({ functionName: 'sys_kill', monitorAction: 'Sigkill', suppressed: 3 }))).toBe('🔍 kill    /usr/bin/cat (monitor: would Sigkill) [+3 rate-limited] (tp_btf_syscall, policy p)');
  });
});

describe('hook events on NATS', () => {
  it('encode as the protobuf Hook message', () => {
    const pub = new NatsEventPublisher({ nc: undefined as never, node: 'node-1', clock });
    const ev = hook({ args: [{ kind: 'int_arg', value: 1n }], action: 'Override' });
    const json = JSON.parse(pub.toJson(pub.encode(ev))) as { hook: Record<string, unknown> };
    expect(json.hook).toMatchObject({ event_kind: 'process_kprobe', function_name: 'sys_write', action: 'KPROBE_ACTION_OVERRIDE', mechanism: 'tp_btf_syscall', args_json: '[{"int_arg":1}]' });
    expect(protobuf.parse(EVENTS_PROTO, { keepCase: true }).root.lookupType('vigil.events.v1.Hook').fields).toHaveProperty('args_json');
  });
});
