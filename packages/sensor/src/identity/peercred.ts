/**
 * SO_PEERCRED of a connected unix socket: the pid, uid and gid of the process that connected (as the kernel
 * recorded them at connect time; they cannot be forged by the peer). Node has no API for it: getsockopt(2)
 * through koffi on the socket's fd.
 */
import koffi from 'koffi';
import type { Socket } from 'node:net';

const SOL_SOCKET = 1;
const SO_PEERCRED = 17;

type GetSockOpt = (fd: number, level: number, name: number, val: Buffer, len: Buffer) => number;
let getsockopt: GetSockOpt | undefined;

export interface PeerCred {
  pid: number;
  uid: number;
  gid: number;
}

/** The fd of a net.Socket on a unix socket (libuv's pipe handle). */
function fdOf(sock: Socket): number {
  const fd = (sock as unknown as { _handle?: { fd?: number } })._handle?.fd;
  if (typeof fd !== 'number' || fd < 0) throw new Error('the socket has no file descriptor (closed, or not a unix socket)');
  return fd;
}

export function peerCred(sock: Socket): PeerCred {
  const gso = (getsockopt ??= koffi.load('libc.so.6').func('int getsockopt(int fd, int level, int name, _Inout_ uint8_t *val, _Inout_ uint32_t *len)') as unknown as GetSockOpt);
  const val = Buffer.alloc(12);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(12);
  const r = gso(fdOf(sock), SOL_SOCKET, SO_PEERCRED, val, len);
  if (r !== 0) throw new Error(`getsockopt(SO_PEERCRED) failed (errno ${koffi.errno()})`);
  return { pid: val.readInt32LE(0), uid: val.readUInt32LE(4), gid: val.readUInt32LE(8) };
}
