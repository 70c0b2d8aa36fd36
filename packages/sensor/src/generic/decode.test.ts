/**
 * Hook-hit record decoding against the ABI offsets (abi/generic-layout.ts, checked against the BTF of the BPF
 * objects by abi/generic-layout.test.ts): a record laid out field by field decodes into the HookEvent Tetragon's
 * JSON is made from. The kernel side of the same records is exercised by engine.test.ts and lsm.test.ts.
 */
import { describe, expect, it } from '@jest/globals';
import koffi from 'koffi';
import { ACTION, ARG_TYPE, MECHANISM } from '@vigil/policy-schema';
import { HOOK_OFF, HOOK_SIZE, HookArgSource, HookEventType, HookFlags, HookSock } from '../abi/generic-layout.js';
import { OFF } from '../abi/layout.js';
import { viewOf } from '../events/decode.js';
import { ProcessCache } from '../events/process-cache.js';
import { decodeHookRecord, hookEventOf, isHookRecord, typedArg } from './decode.js';

function record(args: Array<{ source: number; index: number; type: number; data: Buffer }>, f: Partial<Record<string, number | bigint>> = {}): Buffer {
  const size = HOOK_SIZE.argsOffset + args.length * HOOK_SIZE.arg;
  const b = Buffer.alloc(size);
  const o = HOOK_OFF.event as Record<string, number>;
  b.writeUInt32LE(HookEventType.HOOK, OFF.hdr.type);
  b.writeUInt32LE(size, OFF.hdr.size);
  b.writeUInt32LE(4242, o['pid'] ?? 0);
  b.writeUInt32LE(4243, o['tid'] ?? 0);
  b.writeBigUInt64LE(99n, o['exec_ktime'] ?? 0);
  b.writeUInt32LE(7, o['policy_id'] ?? 0);
  b.writeUInt32LE(2, o['hook_id'] ?? 0);
  b.writeUInt8(1, o['selector'] ?? 0);
  b.writeUInt8(Number(f['action'] ?? ACTION.values.Sigkill), o['action'] ?? 0);
  b.writeUInt8(MECHANISM.values.lsm, o['mechanism'] ?? 0);
  b.writeUInt8(args.length, o['slot_count'] ?? 0);
  b.writeUInt32LE(Number(f['flags'] ?? 0), o['flags'] ?? 0);
  b.writeUInt32LE(Number(f['suppressed'] ?? 0), o['suppressed'] ?? 0);
  b.writeBigInt64LE(BigInt(f['retval'] ?? 0), o['retval'] ?? 0);
  b.writeInt32LE(Number(f['override_ret'] ?? 0), o['override_ret'] ?? 0);
  b.write('cat', o['comm'] ?? 0);
  const a = HOOK_OFF.arg as Record<string, number>;
  args.forEach((arg, i) => {
    const at = HOOK_SIZE.argsOffset + i * HOOK_SIZE.arg;
    b.writeUInt8(arg.source, at + (a['source'] ?? 0));
    b.writeUInt8(arg.index, at + (a['index'] ?? 0));
    b.writeUInt8(arg.type, at + (a['type'] ?? 0));
    b.writeUInt16LE(arg.data.length, at + (a['len'] ?? 0));
    arg.data.copy(b, at + (a['data'] ?? 0));
  });
  return b;
}

function sock(family: number, saddr: number[], daddr: number[], sport: number, dport: number): Buffer {
  const d = Buffer.alloc(HOOK_SIZE.sock);
  const at = (f: string) => koffi.offsetof(HookSock, f);
  d.writeUInt16LE(family, at('family'));
  d.writeUInt16LE(1, at('type'));
  d.writeUInt16LE(6, at('protocol'));
  d.writeUInt16LE(sport, at('sport'));
  d.writeUInt16LE(dport, at('dport'));
  Buffer.from(saddr).copy(d, at('saddr'));
  Buffer.from(daddr).copy(d, at('daddr'));
  return d;
}

describe('hook record decoding', () => {
  it('decodes the fixed part and typed args', () => {
    const i64 = Buffer.alloc(8);
    i64.writeBigInt64LE(-100n);
    const buf = record(
      [
        { source: HookArgSource.ARG, index: 0, type: ARG_TYPE.values.int, data: i64 },
        { source: HookArgSource.ARG, index: 1, type: ARG_TYPE.values.file, data: Buffer.from('/etc/shadow') },
        { source: HookArgSource.ARG, index: 2, type: ARG_TYPE.values.sock, data: sock(2, [10, 0, 0, 2], [1, 1, 1, 1], 40000, 443) },
      ],
      { suppressed: 5 },
    );
    const view = viewOf(buf);
    expect(isHookRecord(view, 0, buf.length)).toBe(true);
    const rec = decodeHookRecord(view, 0, buf.length);
    expect(rec).toMatchObject({ pid: 4242, tid: 4243, execKtime: 99n, policyId: 7, hookId: 2, selector: 1, action: 'Sigkill', mechanism: 'lsm', suppressed: 5, comm: 'cat' });
    expect(rec.args.map((a) => typedArg(a))).toEqual([
      { kind: 'int_arg', value: -100n },
      { kind: 'file_arg', path: '/etc/shadow' },
      { kind: 'sock_arg', family: 'AF_INET', type: 'SOCK_STREAM', protocol: 'IPPROTO_TCP', sport: 40000, dport: 443, saddr: '10.0.0.2', daddr: '1.1.1.1' },
    ]);
  });

  it('monitor mode: the event posts, with the action it would have taken', () => {
    const buf = record([], { action: ACTION.values.Override, flags: HookFlags.MONITOR, override_ret: -1 });
    const rec = decodeHookRecord(viewOf(buf), 0, buf.length);
    const p = new ProcessCache({ node: 'n' }).unknown(rec.pid, rec.tid, rec.execKtime);
    const ev = hookEventOf(rec, { policyName: 'p', kind: 'lsm', name: 'file_open' }, p, undefined, 1n);
    expect(ev).toMatchObject({ eventKind: 'process_lsm', functionName: 'file_open', action: 'Post', monitorAction: 'Override', errorValue: -1, mechanism: 'lsm' });
  });

  it('refuses a record whose slot count overruns it', () => {
    const buf = record([{ source: HookArgSource.ARG, index: 0, type: ARG_TYPE.values.int, data: Buffer.alloc(8) }]);
    expect(() => decodeHookRecord(viewOf(buf), 0, HOOK_SIZE.argsOffset + 10)).toThrow(/arg slots/);
  });
});
