// A real nats-server (Debian's 2.9.10 or any on PATH) for tests: 127.0.0.1, a free port, JetStream in a private
// store directory. restart() keeps the port and the store, so clients reconnect to the same URL and find their
// streams and KV buckets again, as after a server upgrade or crash.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface NatsServerOptions {
  /** nats-server binary (default: `nats-server` on PATH, /usr/sbin on Debian). */
  binary?: string;
  /** JetStream store directory (default: a fresh temporary directory, removed by stop()). */
  storeDir?: string;
  /** Client port (default: a free port picked at start and kept across restart()). */
  port?: number;
  /** Readiness timeout in ms (default 10 000). */
  startTimeoutMs?: number;
}

export interface NatsServer {
  readonly url: string;
  readonly port: number;
  readonly storeDir: string;
  /** pid of the running server process, undefined while stopped. */
  readonly pid: number | undefined;
  /** Stops the process (SIGTERM, SIGKILL after 5 s) and keeps the store. */
  halt(): Promise<void>;
  /** Starts it again on the same port and store. */
  start(): Promise<void>;
  /** halt() then start(). */
  restart(): Promise<void>;
  /** Stops the server and removes the store directory if this harness made it. Idempotent. */
  stop(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export class NatsServerError extends Error {
  constructor(
    readonly code: 'NOT_INSTALLED' | 'START_TIMEOUT' | 'EXITED',
    message: string,
  ) {
    super(message);
    this.name = 'NatsServerError';
  }
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

function waitExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** Starts nats-server with JetStream on 127.0.0.1 and resolves once it accepts clients. */
export async function startNatsServer(options: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = options.binary ?? 'nats-server';
  const ownStore = options.storeDir === undefined;
  const storeDir = options.storeDir ?? mkdtempSync(join(tmpdir(), 'vigil-nats-'));
  const port = options.port ?? (await freePort());
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  let child: ChildProcess | undefined;
  let stopped = false;

  const launch = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const args = ['-a', '127.0.0.1', '-p', String(port), '-js', '-sd', storeDir];
      const proc = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
      child = proc;
      let log = '';
      let settled = false;
      const settle = (err?: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (err) reject(err);
        else resolve();
      };
      const timer = setTimeout(() => {
        proc.kill('SIGKILL');
        settle(new NatsServerError('START_TIMEOUT', `nats-server did not become ready in ${startTimeoutMs} ms:\n${log.slice(-2000)}`));
      }, startTimeoutMs);
      proc.stderr?.setEncoding('utf8');
      proc.stderr?.on('data', (chunk: string) => {
        if (settled) return;
        log += chunk;
        if (log.includes('Server is ready')) settle();
      });
      proc.once('error', (e: NodeJS.ErrnoException) =>
        settle(e.code === 'ENOENT' ? new NatsServerError('NOT_INSTALLED', `${binary} not found; run scripts/setup.sh (apt-get install nats-server)`) : e),
      );
      proc.once('exit', (code, signal) => settle(new NatsServerError('EXITED', `nats-server exited (${code ?? signal}) before ready:\n${log.slice(-2000)}`)));
    });

  const halt = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill('SIGTERM');
    if (!(await waitExit(c, 5000))) {
      c.kill('SIGKILL');
      await waitExit(c, 5000);
    }
  };

  await launch();
  const server: NatsServer = {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return child?.pid;
    },
    halt,
    start: launch,
    async restart() {
      await halt();
      await launch();
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await halt();
      if (ownStore) rmSync(storeDir, { recursive: true, force: true });
    },
    [Symbol.asyncDispose]() {
      return server.stop();
    },
  };
  return server;
}
