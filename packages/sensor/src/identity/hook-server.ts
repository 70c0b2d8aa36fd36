/**
 * The sensor's end of vigil-oci-hook (oci-hook/hook.ts): a unix socket on which the runtime hook announces a
 * container before its first process runs. Only uid 0 may register (SO_PEERCRED, checked by the kernel's record
 * of the connecting process, not by anything the client says). One JSON line in, one JSON line out:
 *
 *   → {"v":1,"containerId":"<64 hex>","pid":<container init pid>,"cgroupPath":"/kubepods.slice/…",
 *      "podUid":"…","namespace":"…","podName":"…","containerName":"…"}        (pod fields optional)
 *   ← {"ok":true}   once the container's cgroup is in every identity set it belongs to (vg_identity written)
 *   ← {"ok":false,"error":"…"}
 *
 *   → {"v":1,"op":"unregister","containerId":"<64 hex>"}     (the poststop hook: the container is gone)
 *   ← {"ok":true}   (also when the container was not registered)
 */
import { chmodSync, mkdirSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { peerCred } from './peercred.js';
import type { ContainerRegistration, IdentitySets } from './sets.js';

export const DEFAULT_HOOK_SOCKET = '/run/vigil/hook.sock';
const MAX_LINE = 64 * 1024;

export interface HookServerOptions {
  path?: string;
  sets: IdentitySets;
  logger?: Logger;
  /** uids allowed to register (default [0]) */
  allowedUids?: readonly number[];
}

export interface HookServerStats {
  registered: number;
  unregistered: number;
  rejected: number;
  errors: number;
}

export type HookMessage = { op: 'register'; reg: ContainerRegistration } | { op: 'unregister'; containerId: string };

export function parseHookMessage(line: string): HookMessage {
  let m: unknown;
  try {
    m = JSON.parse(line);
  } catch {
    throw new Error('not JSON');
  }
  if (!m || typeof m !== 'object') throw new Error('expected a JSON object');
  const o = m as Record<string, unknown>;
  if (o['v'] !== 1) throw new Error(`unsupported protocol version ${JSON.stringify(o['v'])} (this sensor speaks 1)`);
  const id = o['containerId'];
  if (typeof id !== 'string' || !/^[0-9a-f]{64}$/.test(id)) throw new Error('containerId must be 64 lowercase hex digits');
  const op = o['op'] ?? 'register';
  if (op === 'unregister') return { op, containerId: id };
  if (op !== 'register') throw new Error(`unknown op ${JSON.stringify(op)} (register or unregister)`);
  return { op, reg: parseRegistration(o, id) };
}

function parseRegistration(o: Record<string, unknown>, id: string): ContainerRegistration {
  const path = o['cgroupPath'];
  if (typeof path !== 'string' || !path.startsWith('/') || path.includes('..')) throw new Error('cgroupPath must be an absolute cgroup v2 path without ".."');
  const reg: ContainerRegistration = { containerId: id, cgroupPath: path };
  for (const k of ['podUid', 'namespace', 'podName', 'containerName'] as const) {
    const v = o[k];
    if (v === undefined) continue;
    if (typeof v !== 'string' || v.length > 253) throw new Error(`${k} must be a string of at most 253 characters`);
    reg[k] = v;
  }
  return reg;
}

export class HookServer {
  private readonly server: Server;
  readonly path: string;
  readonly stats: HookServerStats = { registered: 0, unregistered: 0, rejected: 0, errors: 0 };

  private constructor(private readonly o: HookServerOptions) {
    this.path = o.path ?? DEFAULT_HOOK_SOCKET;
    this.server = createServer((s) => this.onConnection(s));
  }

  static async start(o: HookServerOptions): Promise<HookServer> {
    const h = new HookServer(o);
    mkdirSync(dirname(h.path), { recursive: true, mode: 0o755 });
    rmSync(h.path, { force: true }); // a stale socket of an earlier sensor
    await new Promise<void>((resolve, reject) => {
      h.server.once('error', reject);
      h.server.listen(h.path, () => resolve());
    });
    chmodSync(h.path, 0o600);
    return h;
  }

  private onConnection(s: Socket): void {
    s.setTimeout(5000, () => s.destroy());
    let cred;
    try {
      cred = peerCred(s);
    } catch (err) {
      this.stats.errors++;
      this.o.logger?.warn({ err }, 'oci hook: no peer credentials');
      s.end(JSON.stringify({ ok: false, error: 'no peer credentials' }) + '\n');
      return;
    }
    if (!(this.o.allowedUids ?? [0]).includes(cred.uid)) {
      this.stats.rejected++;
      this.o.logger?.warn({ peer: cred }, 'oci hook: registration from a non-root process refused');
      s.end(JSON.stringify({ ok: false, error: `uid ${cred.uid} may not register containers` }) + '\n');
      return;
    }
    let buf = '';
    s.setEncoding('utf8');
    s.on('data', (chunk: string) => {
      buf += chunk;
      if (buf.length > MAX_LINE) {
        s.end(JSON.stringify({ ok: false, error: 'message too long' }) + '\n');
        return;
      }
      const nl = buf.indexOf('\n');
      if (nl < 0) return;
      const line = buf.slice(0, nl);
      buf = '';
      try {
        const m = parseHookMessage(line);
        if (m.op === 'register') {
          this.o.sets.register(m.reg);
          this.stats.registered++;
          this.o.logger?.debug({ containerId: m.reg.containerId, cgroup: m.reg.cgroupPath, peerPid: cred.pid }, 'oci hook: container registered');
        } else {
          this.o.sets.unregister(m.containerId);
          this.stats.unregistered++;
          this.o.logger?.debug({ containerId: m.containerId, peerPid: cred.pid }, 'oci hook: container unregistered');
        }
        s.end(JSON.stringify({ ok: true }) + '\n');
      } catch (err) {
        this.stats.errors++;
        s.end(JSON.stringify({ ok: false, error: (err as Error).message }) + '\n');
      }
    });
    s.on('error', () => undefined);
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }
}
