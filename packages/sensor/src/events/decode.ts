/**
 * Decodes ring-buffer records (layout: bpf/include/abi/events.h, offsets from abi/layout.ts) straight from the
 * mapped ring (a record at `offset` of a RingView). Strings are copied out; nothing keeps a reference to the view.
 */
import { EventType, OFF, SIZE } from '../abi/layout.js';
import type { RingView } from '../libbpf/index.js';
import type { ExecRecord, ExitRecord, ForkRecord, KernelRecord, TestRecord } from './types.js';

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  readonly code = 'BAD_RECORD';
}

/** A RingView over a standalone buffer (tests, the libbpf-callback reader). */
export function viewOf(buf: Buffer): RingView {
  return { dv: new DataView(buf.buffer, buf.byteOffset, buf.length), bytes: buf };
}

/** Splits NUL-separated argv; a trailing NUL does not make an empty last argument. */
export function splitArgv(bytes: Buffer, start: number, len: number): string[] {
  const out: string[] = [];
  const end = start + len;
  let from = start;
  while (from < end) {
    let nul = bytes.indexOf(0, from);
    if (nul < 0 || nul > end) nul = end;
    out.push(bytes.toString('utf8', from, nul));
    from = nul + 1;
  }
  return out;
}

export function decodeRecord(view: RingView, offset: number, size: number): KernelRecord {
  if (size < SIZE.hdr) throw new DecodeError(`record of ${size} bytes is shorter than its header`);
  const { dv, bytes } = view;
  const type = dv.getUint32(offset + OFF.hdr.type, true);
  const cpu = dv.getUint32(offset + OFF.hdr.cpu, true);
  const seq = dv.getBigUint64(offset + OFF.hdr.seq, true);
  const ktime = dv.getBigUint64(offset + OFF.hdr.ktime, true);
  switch (type) {
    case EventType.EXEC: {
      if (size < SIZE.exec) throw new DecodeError(`exec record of ${size} bytes, expected ${SIZE.exec}`);
      const o = OFF.exec;
      const b = offset;
      const rec: ExecRecord = {
        kind: 'exec',
        cpu,
        seq,
        ktime,
        pid: dv.getUint32(b + o.pid, true),
        tid: dv.getUint32(b + o.tid, true),
        ppid: dv.getUint32(b + o.ppid, true),
        flags: dv.getUint32(b + o.flags, true),
        execKtime: dv.getBigUint64(b + o.exec_ktime, true),
        parentKtime: dv.getBigUint64(b + o.parent_ktime, true),
        cgroupId: dv.getBigUint64(b + o.cgroup_id, true),
        uid: dv.getUint32(b + o.uid, true),
        euid: dv.getUint32(b + o.euid, true),
        gid: dv.getUint32(b + o.gid, true),
        egid: dv.getUint32(b + o.egid, true),
        auid: dv.getUint32(b + o.auid, true),
        binary: bytes.toString('utf8', b + o.binary, b + o.binary + Math.min(dv.getUint16(b + o.binary_len, true), 255)),
        argv: splitArgv(bytes, b + o.args, Math.min(dv.getUint16(b + o.args_len, true), 1024)),
        cwd: bytes.toString('utf8', b + o.cwd, b + o.cwd + Math.min(dv.getUint16(b + o.cwd_len, true), 255)),
      };
      return rec;
    }
    case EventType.EXIT: {
      if (size < SIZE.exit) throw new DecodeError(`exit record of ${size} bytes, expected ${SIZE.exit}`);
      const o = OFF.exit;
      const b = offset;
      const rec: ExitRecord = {
        kind: 'exit',
        cpu,
        seq,
        ktime,
        pid: dv.getUint32(b + o.pid, true),
        tid: dv.getUint32(b + o.tid, true),
        execKtime: dv.getBigUint64(b + o.exec_ktime, true),
        exitCode: dv.getUint32(b + o.exit_code, true),
        flags: dv.getUint32(b + o.flags, true),
      };
      return rec;
    }
    case EventType.FORK: {
      if (size < SIZE.fork) throw new DecodeError(`fork record of ${size} bytes, expected ${SIZE.fork}`);
      const o = OFF.fork;
      const b = offset;
      const rec: ForkRecord = {
        kind: 'fork',
        cpu,
        seq,
        ktime,
        pid: dv.getUint32(b + o.pid, true),
        ppid: dv.getUint32(b + o.ppid, true),
        execKtime: dv.getBigUint64(b + o.exec_ktime, true),
        parentKtime: dv.getBigUint64(b + o.parent_ktime, true),
      };
      return rec;
    }
    case EventType.TEST: {
      const rec: TestRecord = { kind: 'test', cpu, seq, ktime, size };
      return rec;
    }
    default:
      throw new DecodeError(`unknown record type ${type} (${size} bytes)`);
  }
}
