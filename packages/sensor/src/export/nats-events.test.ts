import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { connect, type Msg, type NatsConnection } from 'nats';
import protobuf from 'protobufjs';
import { startNatsServer, type NatsServer } from '@vigil/testing';
import { KtimeClock } from '../events/exec-id.js';
import { ProcessInfo } from '../events/process-cache.js';
import { EVENTS_PROTO } from './event-proto.js';
import type { SensorEvent } from './model.js';
import { eventSubject, NatsEventPublisher } from './nats-events.js';

const DOC = new URL('../../../../docs/events.md', import.meta.url);
const creds = { uid: 1000, euid: 1000, gid: 100, egid: 100, auid: 1000 };
const parent = new ProcessInfo(1, 1, 0, 1_000n, 0n, undefined, '/sbin/init', [], '/', creds, 1n, 0);
const child = new ProcessInfo(4242, 4242, 1, 5_000_000_000n, 1_000n, parent, '/usr/bin/curl', ['-s', 'https://example.com'], '/home/u', creds, 77n, 1);

async function collect(nc: NatsConnection, subject: string, n: number): Promise<Msg[]> {
  const out: Msg[] = [];
  const sub = nc.subscribe(subject, { max: n, timeout: 5000 });
  for await (const m of sub) out.push(m);
  return out;
}

describe('events on NATS (protobuf + JSON twin)', () => {
  let server: NatsServer;
  let nc: NatsConnection;
  beforeAll(async () => {
    server = await startNatsServer();
    nc = await connect({ servers: server.url });
  });
  afterAll(async () => {
    await nc.close();
    await server.stop();
  });

  it('documents exactly the schema it publishes', () => {
    const doc = readFileSync(DOC, 'utf8');
    const block = /```proto\n([\s\S]*?)```/.exec(doc)?.[1];
    expect(block).toBe(EVENTS_PROTO);
  });

  it('publishes on vigil.events.<node>.<type>, decodable with the documented schema; dotted nodes stay apart', async () => {
    const clock = new KtimeClock(1_800_000_000_000_000_000n, 0n);
    const pub = new NatsEventPublisher({ nc, node: 'ip-10-0-0-1.ec2', clock, json: true });
    const execs = collect(nc, 'vigil.events.*.process_exec', 1);
    const twins = collect(nc, 'vigil.events.*.*.json', 3);
    const all = collect(nc, `vigil.events.${'ip-10-0-0-1_2eec2'}.>`, 6);
    let other = 0;
    const sub = nc.subscribe('vigil.events.ip-10-0-0-1.>', { callback: () => other++ });
    const events: SensorEvent[] = [
      { type: 'process_exec', timeNs: 1_800_000_005_000_000_000n, process: child, parent, ancestors: undefined },
      { type: 'process_exit', timeNs: 1_800_000_006_000_000_000n, process: child, parent, ancestors: undefined, status: 0, signal: 9 },
      { type: 'enforcement', timeNs: 1_800_000_007_000_000_000n, process: child, parent, eventKind: 'process_kprobe', functionName: 'tcp_connect', policyName: 'no-egress', action: 'deny', mechanism: 'cgroup_sock', detail: '93.184.216.34:443' },
    ];
    for (const e of events) pub.publish(e);
    await nc.flush();

    const Event = protobuf.parse(/```proto\n([\s\S]*?)```/.exec(readFileSync(DOC, 'utf8'))?.[1] ?? '', { keepCase: true }).root.lookupType('vigil.events.v1.Event');
    const [exec] = await execs;
    expect(exec?.subject).toBe(eventSubject('ip-10-0-0-1.ec2', 'process_exec'));
    const decoded = Event.toObject(Event.decode(exec?.data ?? new Uint8Array()), { longs: String }) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(decoded['node_name']).toBe('ip-10-0-0-1.ec2');
    expect(decoded['process_exec'].process).toMatchObject({ pid: 4242, binary: '/usr/bin/curl', arguments: ['-s', 'https://example.com'], cgroup_id: '77', start_time_ns: '1800000005000000000', flags: 'execve' });
    expect(decoded['process_exec'].process.parent_exec_id).toBe(decoded['process_exec'].parent.exec_id);

    const j = (await twins).map((m) => [m.subject.split('.')[3], JSON.parse(new TextDecoder().decode(m.data)) as Record<string, any>] as const); // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(j.map(([t]) => t)).toEqual(['process_exec', 'process_exit', 'enforcement']);
    expect(j[1]?.[1]['process_exit']).toMatchObject({ signal: 'SIGKILL' });
    expect(j[2]?.[1]['enforcement']).toMatchObject({ policy_name: 'no-egress', action: 'deny', mechanism: 'cgroup_sock', detail: '93.184.216.34:443' });
    expect(j[2]?.[1]['time_ns']).toBe('1800000007000000000');
    expect(await all).toHaveLength(6);
    expect(other).toBe(0);
    sub.unsubscribe();
  });
});
