/**
 * Decodes ring-buffer records (layout: bpf/include/abi/events.h, offsets from abi/layout.ts) straight from the
 * zero-copy view the ring buffer hands out. Strings are copied out; nothing keeps a reference to the view.
 */
import { EventType, OFF, SIZE } from '../abi/layout.js';
import type { ExecRecord, ExitRecord, ForkRecord, KernelRecord, TestRecord } from './types.js';

export class DecodeError extends Error {
  override readonly name = 'DecodeError';
  readonly code = 'BAD_RECORD';
}

const utf8 = new TextDecoder('utf-8');

function str(bytes: Uint8Array, start: number, len: number): string {
  return utf8.decode(bytes.subarray(start, start + len));
}

/** Splits NUL-separated argv; a trailing NUL does not make an empty last argument. */
export function splitArgv(bytes: Uint8Array, start: number, len: number): string[] {
  const out: string[] = [];
  let from = start;
  const end = start + len;
  for (let i = start; i < end; i++) {
    if (bytes[i] === 0) {
      out.push(str(bytes, from, i - from));
      from = i + 1;
    }
  }
  if (from < end) out.push(str(bytes, from, end - from));
  return out;
}

export function decodeRecord(buf: ArrayBuffer, size: number): KernelRecord {
  if (size < SIZE.hdr) throw new DecodeError(`record of ${size} bytes is shorter than its header`);
  const dv = new DataView(buf, 0, size);
  const type = dv.getUint32(OFF.hdr.type, true);
  const cpu = dv.getUint32(OFF.hdr.cpu, true);
  const seq = dv.getBigUint64(OFF.hdr.seq, true);
  const ktime = dv.getBigUint64(OFF.hdr.ktime, true);
  switch (type) {
    case EventType.EXEC: {
      if (size < SIZE.exec) throw new DecodeError(`exec record of ${size} bytes, expected ${SIZE.exec}`);
      const bytes = new Uint8Array(buf, 0, size);
      const o = OFF.exec;
      const rec: ExecRecord = {
        kind: 'exec',
        cpu,
        seq,
        ktime,
        pid: dv.getUint32(o.pid, true),
        tid: dv.getUint32(o.tid, true),
        ppid: dv.getUint32(o.ppid, true),
        flags: dv.getUint32(o.flags, true),
        execKtime: dv.getBigUint64(o.exec_ktime, true),
        parentKtime: dv.getBigUint64(o.parent_ktime, true),
        cgroupId: dv.getBigUint64(o.cgroup_id, true),
        uid: dv.getUint32(o.uid, true),
        euid: dv.getUint32(o.euid, true),
        gid: dv.getUint32(o.gid, true),
        egid: dv.getUint32(o.egid, true),
        auid: dv.getUint32(o.auid, true),
        binary: str(bytes, o.binary, Math.min(dv.getUint16(o.binary_len, true), 255)),
        argv: splitArgv(bytes, o.args, Math.min(dv.getUint16(o.args_len, true), 1024)),
        cwd: str(bytes, o.cwd, Math.min(dv.getUint16(o.cwd_len, true), 255)),
      };
      return rec;
    }
    case EventType.EXIT: {
      if (size < SIZE.exit) throw new DecodeError(`exit record of ${size} bytes, expected ${SIZE.exit}`);
      const o = OFF.exit;
      const rec: ExitRecord = {
        kind: 'exit',
        cpu,
        seq,
        ktime,
        pid: dv.getUint32(o.pid, true),
        tid: dv.getUint32(o.tid, true),
        execKtime: dv.getBigUint64(o.exec_ktime, true),
        exitCode: dv.getUint32(o.exit_code, true),
        flags: dv.getUint32(o.flags, true),
      };
      return rec;
    }
    case EventType.FORK: {
      if (size < SIZE.fork) throw new DecodeError(`fork record of ${size} bytes, expected ${SIZE.fork}`);
      const o = OFF.fork;
      const rec: ForkRecord = {
        kind: 'fork',
        cpu,
        seq,
        ktime,
        pid: dv.getUint32(o.pid, true),
        ppid: dv.getUint32(o.ppid, true),
        execKtime: dv.getBigUint64(o.exec_ktime, true),
        parentKtime: dv.getBigUint64(o.parent_ktime, true),
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
