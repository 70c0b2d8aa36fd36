/**
 * Real-kernel tests of the process lifecycle sensor (root, BTF, bpffs). Each test loads the built
 * process_lifecycle.bpf.o into this kernel, runs real processes and checks the events that come back.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomInt } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import type { SensorEvent } from '../export/model.js';
import { TetragonJsonFormatter } from '../export/json.js';
import { KtimeClock } from '../events/exec-id.js';
import { ProcessLifecycleSensor, type ProcessLifecycleOptions } from './process-lifecycle.js';

const OUT = fileURLToPath(new URL('../../../../bpf/.output/', import.meta.url));
const OBJECT = `${OUT}process_lifecycle.bpf.o`;
const LEADER_EXIT = `${OUT}helpers/leader_exit`;
const PIN_ROOT = `/sys/fs/bpf/vigil-test-${process.pid}`;
const logger = pino({ level: 'silent' });

function requireKernelSetup(): void {
  if (process.getuid?.() !== 0) throw new Error('these tests load BPF programs: run them as root (make test)');
  if (!existsSync(OBJECT)) throw new Error(`${OBJECT} is missing: run make -C bpf`);
}

class Harness {
  readonly events: SensorEvent[] = [];
  readonly sensor: ProcessLifecycleSensor;
  constructor(extra: Partial<ProcessLifecycleOptions> = {}) {
    this.sensor = ProcessLifecycleSensor.start({
      objectPath: OBJECT,
      pinRoot: PIN_ROOT,
      node: 'test-node',
      ringBytes: 4 * 1024 * 1024,
      ancestors: 0,
      logger,
      onEvent: (ev) => this.events.push(ev),
      ...extra,
    });
  }
  /** Drains the ring until `pred` finds something or the deadline passes. */
  async waitFor<T>(pred: () => T | undefined, what: string, ms = 5000): Promise<T> {
    const end = Date.now() + ms;
    for (;;) {
      this.sensor.drain();
      const v = pred();
      if (v !== undefined) return v;
      if (Date.now() > end) throw new Error(`timed out waiting for ${what}; saw ${this.events.length} events`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  exec(pid: number, binary?: string) {
    return this.events.find((e) => e.type === 'process_exec' && e.process.pid === pid && (!binary || e.process.binary === binary));
  }
  exits(pid: number) {
    return this.events.filter((e) => e.type === 'process_exit' && e.process.pid === pid);
  }
  close() {
    this.sensor.close();
  }
}

const children: ChildProcess[] = [];
function track(c: ChildProcess): ChildProcess {
  children.push(c);
  return c;
}
function exited(c: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => (c.exitCode !== null || c.signalCode !== null ? resolve(c.exitCode) : c.once('exit', resolve)));
}

beforeAll(() => requireKernelSetup());
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});
afterAll(() => rmSync(PIN_ROOT, { recursive: true, force: true }));

describe('process lifecycle sensor (real kernel)', () => {
  it('reports sh and echo execs with arguments, parent linkage and exit codes', async () => {
    const h = new Harness();
    try {
      const n = randomInt(1, 1_000_000);
      const sh = track(spawn('/bin/sh', ['-c', '/bin/echo vigil-$RANDOM'], { env: { RANDOM: String(n), PATH: '/usr/bin:/bin' } }));
      let out = '';
      sh.stdout?.on('data', (d: Buffer) => (out += d.toString()));
      expect(await exited(sh)).toBe(0);
      expect(out.trim()).toBe(`vigil-${n}`);
      const shExec = await h.waitFor(() => h.exec(sh.pid as number), 'the sh exec');
      expect(shExec.process.binary).toBe('/usr/bin/dash'); // /bin/sh resolved through its symlink
      expect(shExec.process.args).toEqual(['-c', '/bin/echo vigil-$RANDOM']);
      const echoExec = await h.waitFor(
        () => h.events.find((e) => e.type === 'process_exec' && e.process.binary === '/usr/bin/echo' && e.process.args[0] === `vigil-${n}`),
        'the echo exec',
      );
      const cache = h.sensor.cache;
      expect(echoExec.parent).toBe(shExec.process);
      expect(cache.parentExecIdOf(echoExec.process)).toBe(cache.execIdOf(shExec.process));
      expect(echoExec.parent?.pid).toBe(sh.pid);
      expect(echoExec.process.cwd).toBe(process.cwd());
      const echoExit = await h.waitFor(() => h.exits(echoExec.process.pid)[0], 'the echo exit');
      const shExit = await h.waitFor(() => h.exits(sh.pid as number)[0], 'the sh exit');
      for (const ex of [echoExit, shExit]) {
        if (ex.type !== 'process_exit') throw new Error('not an exit');
        expect(ex.status).toBe(0);
        expect(ex.signal).toBe(0);
      }
      expect(echoExit.process).toBe(echoExec.process);
      // The JSON for it carries Tetragon's fields.
      const json = JSON.parse(new TetragonJsonFormatter('test-node', new KtimeClock()).format(echoExec)) as Record<string, Record<string, Record<string, unknown>>>;
      expect(json.process_exec?.process?.arguments).toBe(`vigil-${n}`);
      expect(json.process_exec?.parent?.exec_id).toBe(cache.execIdOf(shExec.process));
      expect(Buffer.from(String(json.process_exec?.process?.exec_id), 'base64').toString()).toMatch(new RegExp(`^test-node:\\d+:${echoExec.process.pid}$`));
    } finally {
      h.close();
    }
  });

  it('reports the signal of a process killed with SIGKILL', async () => {
    const h = new Harness();
    try {
      const c = track(spawn('/bin/sleep', ['30']));
      await h.waitFor(() => h.exec(c.pid as number), 'the sleep exec');
      c.kill('SIGKILL');
      await exited(c);
      const ex = await h.waitFor(() => h.exits(c.pid as number)[0], 'the sleep exit');
      if (ex.type !== 'process_exit') throw new Error('not an exit');
      expect(ex.signal).toBe(9);
      expect(ex.status).toBe(0);
      expect(JSON.parse(new TetragonJsonFormatter('n', new KtimeClock()).format(ex)).process_exit.signal).toBe('SIGKILL');
    } finally {
      h.close();
    }
  });

  it('knows a process started before the sensor as a parent, with its binary', async () => {
    const n = randomInt(1, 1_000_000);
    // sh runs before the sensor starts and execs echo only once the sensor is attached (a go file), so the test
    // holds however slowly the sensor starts (TCG guests are slow).
    const go = join(tmpdir(), `vigil-go-${process.pid}-${n}`);
    const script = `while [ ! -e ${go} ]; do sleep 0.05; done; /bin/echo early-${n}`;
    const sh = track(spawn('/bin/sh', ['-c', script]));
    await new Promise((r) => setTimeout(r, 200));
    const h = new Harness();
    writeFileSync(go, '');
    try {
      const echo = await h.waitFor(
        () => h.events.find((e) => e.type === 'process_exec' && e.process.binary === '/usr/bin/echo' && e.process.args[0] === `early-${n}`),
        'the echo exec',
        8000,
      );
      expect(echo.parent?.pid).toBe(sh.pid);
      expect(echo.parent?.binary).toBe('/usr/bin/dash');
      expect(echo.parent?.args).toEqual(['-c', script]);
      expect(echo.parent?.flags).toBeGreaterThan(0);
      expect(h.sensor.cache.execIdOf(echo.parent as NonNullable<typeof echo.parent>)).toBe(h.sensor.cache.parentExecIdOf(echo.process));
    } finally {
      h.close();
      rmSync(go, { force: true });
    }
  });

  it('seeds from /proc where the kernel has no task iterator, with identity times from the kernel clock ticks', async () => {
    const go = join(tmpdir(), `vigil-go-procfs-${process.pid}`);
    const early = track(spawn('/bin/sh', ['-c', `while [ ! -e ${go} ]; do sleep 0.05; done; /bin/echo seeded`]));
    await new Promise((r) => setTimeout(r, 200));
    const root = `${PIN_ROOT}-procfs`;
    const h = new Harness({ seed: 'procfs', pinRoot: root });
    writeFileSync(go, '');
    try {
      const st = h.sensor.stats();
      expect(st.seedMethod).toBe('procfs');
      expect(st.seeded).toBeGreaterThan(0);
      const sh = h.sensor.cache.byPidNow(early.pid as number);
      expect(sh?.binary).toBe('/usr/bin/dash');
      const ticks = Number(readFileSync(`/proc/${early.pid}/stat`, 'utf8').split(') ')[1]?.split(' ')[19]);
      expect(sh?.ktime).toBe(BigInt(ticks) * 10_000_000n);
      const echo = await h.waitFor(() => h.events.find((e) => e.type === 'process_exec' && e.process.args[0] === 'seeded' && e.parent?.pid === early.pid), 'the echo exec', 8000);
      expect(echo.parent).toBe(sh);
    } finally {
      h.close();
      rmSync(root, { recursive: true, force: true });
      rmSync(go, { force: true });
    }
  });

  it('attaches ancestors beyond the parent on request', async () => {
    const h = new Harness({ ancestors: 2 });
    try {
      const n = randomInt(1, 1_000_000);
      const c = track(spawn('/bin/sh', ['-c', `/bin/sh -c '/bin/echo deep-${n}; true'; true`]));
      await exited(c);
      const echo = await h.waitFor(() => h.events.find((e) => e.type === 'process_exec' && e.process.args[0] === `deep-${n}`), 'the echo exec');
      expect(echo.parent?.binary).toBe('/usr/bin/dash');
      expect(echo.ancestors?.[0]?.pid).toBe(c.pid); // the outer sh
      expect(echo.ancestors?.[0]).toBe(echo.parent?.parent);
      expect(echo.ancestors?.[1]?.pid).toBe(process.pid); // and the test runner that spawned it
    } finally {
      h.close();
    }
  });

  it('emits exactly one exit when the leader calls pthread_exit before another thread ends the process', async () => {
    const h = new Harness();
    try {
      const c = track(spawn(LEADER_EXIT, ['150']));
      expect(await exited(c)).toBe(7);
      const ex = await h.waitFor(() => h.exits(c.pid as number)[0], 'the exit');
      await new Promise((r) => setTimeout(r, 200));
      h.sensor.drain();
      expect(h.exits(c.pid as number)).toHaveLength(1);
      if (ex.type !== 'process_exit') throw new Error('not an exit');
      expect(ex.status).toBe(7);
      expect(ex.process.binary).toBe(LEADER_EXIT);
    } finally {
      h.close();
    }
  });

  it('keeps exec_id across a sensor restart (identity time from the pinned map)', async () => {
    const first = new Harness();
    const c = track(spawn('/bin/sleep', ['30']));
    let id: string;
    try {
      id = first.sensor.cache.execIdOf((await first.waitFor(() => first.exec(c.pid as number), 'the sleep exec')).process);
    } finally {
      first.close();
    }
    const second = new Harness();
    try {
      const cached = second.sensor.cache.byPidNow(c.pid as number);
      expect(cached && second.sensor.cache.execIdOf(cached)).toBe(id);
      c.kill('SIGKILL');
      const ex = await second.waitFor(() => second.exits(c.pid as number)[0], 'the exit after restart');
      expect(second.sensor.cache.execIdOf(ex.process)).toBe(id);
      expect(ex.process.binary).toBe('/usr/bin/sleep');
    } finally {
      second.close();
    }
  });

  it('accounts for every record lost to a full ring buffer, exactly', async () => {
    const h = new Harness({ ringBytes: 8192 }); // holds four exec records
    try {
      // The event loop does not turn during spawnSync, so nothing is consumed while these run.
      for (let i = 0; i < 30; i++) spawnSync('/bin/true');
      // Other processes on this machine keep producing records; wait for a drained, quiet moment.
      let s = h.sensor.stats();
      for (let i = 0; i < 100 && (h.sensor.drain() > 0 || (s = h.sensor.stats()).unaccounted !== 0n); i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      s = h.sensor.stats();
      expect(s.reserveFailures).toBeGreaterThan(0n);
      expect(s.records + s.reserveFailures).toBe(s.attempts); // nothing lost without being counted
      expect(s.unaccounted).toBe(0n);
      expect(s.gaps).toBeGreaterThan(0n); // the losses are visible as gaps in the sequences
      expect(s.gaps).toBeLessThanOrEqual(s.reserveFailures); // and every gap is a counted failure
      expect(s.decodeErrors).toBe(0);
    } finally {
      h.close();
    }
  });
});
