/**
 * Test and benchmark support: the real `vigil-sensor` binary as a child process (its pino log lines parsed from
 * stderr, its event lines kept from stdout), and the C probe loop (testdata/vg_persist_probe.c) built once.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const SENSOR_BIN = fileURLToPath(new URL('../../bin/vigil-sensor.js', import.meta.url));
const PROBE_SRC = fileURLToPath(new URL('../../src/persist/testdata/vg_persist_probe.c', import.meta.url));

export interface LogLine {
  msg: string;
  level: number;
  [k: string]: unknown;
}

export class SensorProcess {
  readonly logs: LogLine[] = [];
  readonly events: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private readonly child: ChildProcess;
  private waiters: Array<() => void> = [];
  private stderrTail = '';

  constructor(args: readonly string[]) {
    this.child = spawn(process.execPath, [SENSOR_BIN, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VIGIL_LOG_LEVEL: 'info' } });
    let out = '';
    this.child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const lines = out.split('\n');
      out = lines.pop() ?? '';
      this.events.push(...lines);
      this.wake();
    });
    let err = '';
    this.child.stderr?.setEncoding('utf8').on('data', (d: string) => {
      err += d;
      this.stderrTail = (this.stderrTail + d).slice(-4000);
      const lines = err.split('\n');
      err = lines.pop() ?? '';
      for (const l of lines) {
        try {
          this.logs.push(JSON.parse(l) as LogLine);
        } catch {
          this.logs.push({ msg: l, level: 0 });
        }
      }
      this.wake();
    });
    this.exited = new Promise((resolve) => this.child.once('exit', (code, signal) => resolve({ code, signal })));
    void this.exited.then(() => this.wake());
  }

  get pid(): number {
    return this.child.pid ?? 0;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves once `pred` holds (checked on every output line), rejects after `timeoutMs` or if the sensor exits. */
  async waitFor(what: string, pred: () => boolean, timeoutMs = process.env.VIGIL_IN_GUEST === '1' ? 300_000 : 30_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (pred()) return;
      if (this.child.exitCode !== null || this.child.signalCode !== null) throw new Error(`sensor exited while waiting for ${what}; stderr: ${this.stderrTail}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what}; stderr: ${this.stderrTail}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  waitForLog(msg: string, timeoutMs?: number): Promise<void> {
    return this.waitFor(`log "${msg}"`, () => this.logs.some((l) => l.msg === msg), timeoutMs);
  }

  logsWith(msgPrefix: string): LogLine[] {
    return this.logs.filter((l) => l.msg.startsWith(msgPrefix));
  }

  async kill(signal: NodeJS.Signals): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    await this.exited;
  }
}

/** Builds the probe loop into `dir` (once per dir) and returns its path. */
export function buildProbe(dir: string): string {
  const out = join(dir, 'vg_persist_probe');
  if (existsSync(out)) return out;
  mkdirSync(dir, { recursive: true });
  execFileSync(process.env.CC ?? 'cc', ['-O2', '-Wall', '-Werror', '-o', out, PROBE_SRC]);
  return out;
}

export interface ProbeResult {
  kind: string;
  attempts: number;
  allowed: number;
  denied: number;
  other: number;
  elapsed_ns: number;
  start_ns: number;
  allowed_ns: number[];
}

/** Runs the probe loop to completion (`--count N`). */
export function runProbe(probe: string, args: readonly string[]): ProbeResult {
  return JSON.parse(execFileSync(probe, [...args], { encoding: 'utf8', timeout: 120_000 })) as ProbeResult;
}

/** Starts the probe loop in the background until `stopFile` exists. */
const liveProbes = new Set<ChildProcess>();

/** SIGKILLs every probe loop still running (for afterAll: a failed test must not leave a full-rate loop behind). */
export function killProbes(): void {
  for (const c of liveProbes) c.kill('SIGKILL');
  liveProbes.clear();
}

export function startProbe(probe: string, args: readonly string[], stopFile: string): { result: Promise<ProbeResult> } {
  const child = spawn(probe, [...args, '--until', stopFile], { stdio: ['ignore', 'pipe', 'inherit'] });
  liveProbes.add(child);
  child.once('exit', () => liveProbes.delete(child));
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  return {
    result: new Promise((resolve, reject) => {
      child.once('error', reject);
      // 'close', not 'exit': the process can exit before its stdout has been read to the end (Node 24 reports
      // 'exit' first often enough that the JSON line was still unread).
      child.once('close', (code, signal) => {
        if (code !== 0) reject(new Error(`probe exited with ${code ?? signal}`));
        else {
          try {
            resolve(JSON.parse(out) as ProbeResult);
          } catch {
            reject(new Error(`probe printed no result line: ${JSON.stringify(out.slice(0, 200))}`));
          }
        }
      });
    }),
  };
}
