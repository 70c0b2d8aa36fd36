import { describe, expect, it } from '@jest/globals';
import { EventType, OFF, SIZE } from '../abi/layout.js';
import { DecodeError, decodeRecord, splitArgv, viewOf } from './decode.js';

function header(buf: Buffer, type: number, cpu: number, seq: bigint, ktime: bigint): void {
  buf.writeUInt32LE(type, OFF.hdr.type);
  buf.writeUInt32LE(buf.length, OFF.hdr.size);
  buf.writeUInt32LE(cpu, OFF.hdr.cpu);
  buf.writeBigUInt64LE(seq, OFF.hdr.seq);
  buf.writeBigUInt64LE(ktime, OFF.hdr.ktime);
}


describe('decodeRecord', () => {
  it('decodes a record at an offset inside a larger view', () => {
    const x = Buffer.alloc(SIZE.exit);
    header(x, EventType.EXIT, 3, 1n, 2n);
    x.writeUInt32LE(77, OFF.exit.pid);
    const big = Buffer.concat([Buffer.alloc(24, 0xee), x]);
    expect(decodeRecord(viewOf(big), 24, x.length)).toMatchObject({ kind: 'exit', cpu: 3, pid: 77 });
  });

  it('decodes an exec record field by field', () => {
    const b = Buffer.alloc(SIZE.exec);
    header(b, EventType.EXEC, 1, 42n, 123456789n);
    const o = OFF.exec;
    b.writeUInt32LE(100, o.pid);
    b.writeUInt32LE(101, o.tid);
    b.writeUInt32LE(1, o.ppid);
    b.writeUInt32LE(1, o.flags);
    b.writeBigUInt64LE(123456789n, o.exec_ktime);
    b.writeBigUInt64LE(5n, o.parent_ktime);
    b.writeBigUInt64LE(0xffff_ffff_ffffn, o.cgroup_id);
    b.writeUInt32LE(1000, o.uid);
    b.writeUInt32LE(0, o.euid);
    b.writeUInt32LE(100, o.gid);
    b.writeUInt32LE(0, o.egid);
    b.writeUInt32LE(0xffffffff, o.auid);
    const argv = Buffer.from('/bin/ls\0-l\0a b\0');
    argv.copy(b, o.args);
    b.writeUInt16LE(argv.length, o.args_len);
    b.write('/usr/bin/ls', o.binary);
    b.writeUInt16LE(11, o.binary_len);
    b.write('/tmp', o.cwd);
    b.writeUInt16LE(4, o.cwd_len);
    const r = decodeRecord(viewOf(b), 0, b.length);
    expect(r).toEqual({
      kind: 'exec', cpu: 1, seq: 42n, ktime: 123456789n, pid: 100, tid: 101, ppid: 1, flags: 1,
      execKtime: 123456789n, parentKtime: 5n, cgroupId: 0xffff_ffff_ffffn, uid: 1000, euid: 0, gid: 100, egid: 0,
      auid: 0xffffffff, binary: '/usr/bin/ls', argv: ['/bin/ls', '-l', 'a b'], cwd: '/tmp',
    });
  });

  it('decodes exit and fork records', () => {
    const x = Buffer.alloc(SIZE.exit);
    header(x, EventType.EXIT, 0, 7n, 9n);
    x.writeUInt32LE(55, OFF.exit.pid);
    x.writeUInt32LE(56, OFF.exit.tid);
    x.writeBigUInt64LE(3n, OFF.exit.exec_ktime);
    x.writeUInt32LE((3 << 8) | 0, OFF.exit.exit_code);
    expect(decodeRecord(viewOf(x), 0, x.length)).toMatchObject({ kind: 'exit', pid: 55, tid: 56, execKtime: 3n, exitCode: 768 });
    const f = Buffer.alloc(SIZE.fork);
    header(f, EventType.FORK, 0, 8n, 10n);
    f.writeUInt32LE(57, OFF.fork.pid);
    f.writeUInt32LE(55, OFF.fork.ppid);
    expect(decodeRecord(viewOf(f), 0, f.length)).toMatchObject({ kind: 'fork', pid: 57, ppid: 55 });
  });

  it('rejects short and unknown records with a typed error', () => {
    const b = Buffer.alloc(SIZE.hdr);
    header(b, 99, 0, 0n, 0n);
    expect(() => decodeRecord(viewOf(b), 0, b.length)).toThrow(DecodeError);
    expect(() => decodeRecord(viewOf(b), 0, 8)).toThrow(/shorter than its header/);
    header(b, EventType.EXEC, 0, 0n, 0n);
    expect(() => decodeRecord(viewOf(b), 0, b.length)).toThrow(/exec record of 32 bytes/);
  });

  it('splits argv on NULs without inventing a trailing empty argument', () => {
    const bytes = Buffer.from('a\0\0b');
    expect(splitArgv(bytes, 0, bytes.length)).toEqual(['a', '', 'b']);
    expect(splitArgv(Buffer.from('x\0'), 0, 2)).toEqual(['x']);
    expect(splitArgv(Buffer.from('zzab\0cd\0ef'), 2, 6)).toEqual(['ab', 'cd']); // bounded by len, offset honoured
  });
});
