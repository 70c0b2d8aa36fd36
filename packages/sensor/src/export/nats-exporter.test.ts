/**
 * Events on NATS from the sensor: the bounded exporter against a real nats-server (stalled with SIGSTOP, stopped,
 * restarted), and a real `vigil-sensor run --nats` process whose exec events arrive as protobuf on the node's
 * subject with the right fields.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { connect, type Msg, type NatsConnection, type Subscription } from 'nats';
import protobuf from 'protobufjs';
import { startNatsServer, type NatsServer } from '@vigil/testing';
import { KtimeClock } from '../events/exec-id.js';
import { ProcessInfo } from '../events/process-cache.js';
import type { SensorEvent } from './model.js';
import { eventSubject } from './nats-events.js';
import { NatsEventExporter } from './nats-exporter.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CLI = join(ROOT, 'packages/sensor/dist/cli.js');
const DOC = join(ROOT, 'docs/events.md');
const log = pino({ level: process.env['VIGIL_TEST_LOG'] ?? 'silent' });

/** The Event type from the schema as documented (what a subscriber would use). */
function documentedEventType(): protobuf.Type {
  const proto = /```proto\n([\s\S]*?)```/.exec(readFileSync(DOC, 'utf8'))?.[1] ?? '';
  return protobuf.parse(proto, { keepCase: true }).root.lookupType('vigil.events.v1.Event');
}

async function until(pred: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function reconnected(nc: NatsConnection): Promise<void> {
  for await (const s of nc.status()) if (s.type === 'reconnect') return;
}

function counter(nc: NatsConnection, subject: string): { sub: Subscription; n: () => number } {
  let n = 0;
  const sub = nc.subscribe(subject, { callback: () => n++ });
  return { sub, n: () => n };
}

describe('NatsEventExporter: bounded, never blocks, drops with a counter', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url, reconnectTimeWait: 50, maxReconnectAttempts: -1 });
  });
  afterAll(async () => {
    if (server.pid) process.kill(server.pid, 'SIGCONT');
    await nc.close();
    await server.stop();
  });

  const creds = { uid: 0, euid: 0, gid: 0, egid: 0, auid: 4294967295 };
  const p = new ProcessInfo(77, 77, 1, 9_000n, 1n, undefined, '/usr/bin/true', [], '/', creds, 1n, 0);
  const ev: SensorEvent = { type: 'process_exec', timeNs: 1n, process: p, parent: undefined, ancestors: undefined };

  it('publishes everything when NATS keeps up, queues at most maxQueue when it stalls, drops (counted) while disconnected', async () => {
    const x = NatsEventExporter.start({ servers: server.url, node: 'stall.test', clock: new KtimeClock(), logger: log, maxQueue: 1000, batch: 100, reconnectTimeWaitMs: 50 });
    try {
      await x.whenConnected();
      const got = counter(nc, eventSubject('stall.test', 'process_exec'));
      await nc.flush();
      for (let i = 0; i < 500; i++) x.offer(ev);
      await until(() => got.n() === 500, '500 events received');
      expect(x.stats()).toMatchObject({ published: 500, droppedQueueFull: 0, droppedDisconnected: 0, queued: 0 });

      // A stalled server (the process frozen, its sockets open): offer() returns at once, the queue stays bounded.
      process.kill(server.pid as number, 'SIGSTOP');
      const t0 = performance.now();
      for (let i = 0; i < 20_000; i++) x.offer(ev);
      const offerMs = performance.now() - t0;
      expect(offerMs).toBeLessThan(1000); // 20,000 offers, none of which waits for NATS
      await new Promise((r) => setTimeout(r, 100));
      expect(x.stats()).toMatchObject({ droppedQueueFull: 19_000, published: 600 }); // one batch of 100 in flight, 900 waiting
      expect(x.stats().queued).toBe(900);
      process.kill(server.pid as number, 'SIGCONT');
      await until(() => got.n() === 1500, 'the 1,000 queued events after the server resumed');
      expect(x.stats()).toMatchObject({ published: 1500, queued: 0 });

      // Stopped server: dropped and counted as disconnected; after the restart events flow again.
      const clientBack = reconnected(nc);
      await server.halt();
      await until(() => !x.stats().connected, 'exporter sees the disconnect');
      for (let i = 0; i < 300; i++) x.offer(ev);
      expect(x.stats().droppedDisconnected).toBe(300);
      await server.start();
      await until(() => x.stats().connected, 'exporter reconnected');
      await clientBack;
      const again = counter(nc, eventSubject('stall.test', 'process_exec'));
      await nc.flush();
      for (let i = 0; i < 50; i++) x.offer(ev);
      await until(() => again.n() === 50, '50 events after the restart');
      expect(x.stats()).toMatchObject({ published: 1550, droppedDisconnected: 300, droppedQueueFull: 19_000 });
    } finally {
      await x.close();
    }
  });
});

describe('vigil-sensor run --nats publishes its events (real kernel)', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  let dir: string;
  let sensor: ChildProcess | undefined;
  const pinRoot = `/sys/fs/bpf/vigil-nats-events-test-${process.pid}`;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
    dir = mkdtempSync(join(tmpdir(), 'vigil-nats-events-'));
  });
  afterAll(async () => {
    if (sensor && sensor.exitCode === null && sensor.signalCode === null) sensor.kill('SIGKILL');
    await nc.close();
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(pinRoot, { recursive: true, force: true });
  });

  it('exec → a protobuf process_exec on vigil.events.<encoded node>.process_exec with the right fields, plus the JSON twin and the exit', async () => {
    if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run pnpm build`);
    const node = 'ip-10-1-2-3.nats-events.test';
    const Event = documentedEventType();
    const execs: Msg[] = [];
    const twins: Msg[] = [];
    const exits: Msg[] = [];
    nc.subscribe(eventSubject(node, 'process_exec'), { callback: (_e, m) => execs.push(m) });
    nc.subscribe(eventSubject(node, 'process_exec', true), { callback: (_e, m) => twins.push(m) });
    nc.subscribe(eventSubject(node, 'process_exit'), { callback: (_e, m) => exits.push(m) });
    // A node whose name is a prefix must receive nothing of this node's events.
    let prefixNode = 0;
    nc.subscribe('vigil.events.ip-10-1-2-3.>', { callback: () => prefixNode++ });
    await nc.flush();

    const args = ['run', '--nats', server.url, '--nats-events', 'both', '--node-name', node, '--state-dir', join(dir, 'state'), '--export-file', join(dir, 'events.log'), '--bpffs-root', pinRoot, '--stats-interval', '1'];
    const s = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    sensor = s;
    let logs = '';
    s.stderr?.on('data', (d: Buffer) => (logs += d.toString()));
    await until(() => logs.includes('sensor running') && logs.includes('publishing events to NATS'), `sensor start (logs: ${logs})`, 120_000); // generous: kernel-matrix guests are emulated (TCG)

    const marker = `nats-events-${process.pid}-${Date.now()}`;
    const child = spawnSync('/bin/echo', [marker]);
    expect(child.status).toBe(0);
    const decode = (m: Msg): Record<string, any> => Event.toObject(Event.decode(m.data), { longs: String, defaults: true }) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const hasMarker = (m: Msg): boolean => (decode(m)['process_exec']?.process?.arguments ?? []).includes(marker) || (decode(m)['process_exit']?.process?.arguments ?? []).includes(marker);
    await until(() => execs.some(hasMarker) && exits.some(hasMarker) && twins.some((t) => new TextDecoder().decode(t.data).includes(marker)), 'exec, exit and JSON twin of the marker', 60_000);

    const exec = decode(execs.find(hasMarker) as Msg);
    expect(exec['node_name']).toBe(node);
    const proc = exec['process_exec'].process;
    expect(proc).toMatchObject({ pid: child.pid, tid: child.pid, uid: 0, euid: 0, arguments: [marker], flags: expect.stringContaining('execve') });
    expect(proc.binary).toMatch(/\/echo$/);
    expect(proc.exec_id).toEqual(expect.any(String));
    expect(proc.parent_exec_id).toBe(exec['process_exec'].parent?.exec_id);
    expect(BigInt(exec['time_ns'])).toBeGreaterThan(BigInt(Date.now() - 60_000) * 1_000_000n);
    const exit = decode(exits.find(hasMarker) as Msg);
    expect(exit['process_exit'].process.exec_id).toBe(proc.exec_id);
    expect(exit['process_exit'].status ?? 0).toBe(0);
    const twin = JSON.parse(new TextDecoder().decode((twins.find((t) => new TextDecoder().decode(t.data).includes(marker)) as Msg).data)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(twin['process_exec'].process).toMatchObject({ pid: child.pid, exec_id: proc.exec_id, arguments: [marker] });
    // The same event went to the export file as well.
    await until(() => existsSync(join(dir, 'events.log')) && readFileSync(join(dir, 'events.log'), 'utf8').includes(marker), 'marker in the export file', 60_000);

    // NATS gone: the sensor keeps draining its ring buffer (events still reach the file), NATS events are
    // dropped and counted in the stats line.
    await server.halt();
    const marker2 = `${marker}-down`;
    await until(() => /"connected":false/.test(logs), 'stats report the disconnect', 60_000);
    spawnSync('/bin/echo', [marker2]);
    await until(() => readFileSync(join(dir, 'events.log'), 'utf8').includes(marker2), 'events still written while NATS is down', 60_000);
    await until(() => {
      const stats = logs
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { msg: string; nats?: { droppedDisconnected: number } })
        .filter((l) => l.msg === 'sensor stats');
      return (stats.at(-1)?.nats?.droppedDisconnected ?? 0) > 0;
    }, 'droppedDisconnected counted', 60_000);
    await server.start();

    s.kill('SIGTERM');
    const code = await new Promise((r) => s.once('exit', r));
    expect(code).toBe(0);
    expect(prefixNode).toBe(0);
  }, 400_000);
});
