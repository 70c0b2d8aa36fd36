// Events on NATS: `vigil.events.<node>.<type>` carries the protobuf Event (event-proto.ts); with the JSON twin
// enabled, `vigil.events.<node>.<type>.json` carries the same message in protobuf's JSON mapping (64-bit integers
// as strings). <node> is encodeToken(node name) (dots escaped), <type> is process_exec | process_exit |
// enforcement | hook. Core NATS publishes: no acks, no back-pressure on the event path; make a JetStream stream over
// `vigil.events.>` where events must be kept.
import type { NatsConnection } from 'nats';
import type protobuf from 'protobufjs';
import { execId, type KtimeClock } from '../events/exec-id.js';
import type { ProcessInfo } from '../events/process-cache.js';
import { encodeToken } from '../transport/protocol.js';
import { eventType } from './event-proto.js';
import { formatFlags, signalName, type PodSource } from './json.js';
import { hookMessage } from '../generic/format.js';
import type { SensorEvent } from './model.js';

export const EVENTS_SUBJECT_PREFIX = 'vigil.events';

export function eventSubject(node: string, type: SensorEvent['type'], json = false): string {
  return `${EVENTS_SUBJECT_PREFIX}.${encodeToken(node)}.${type}${json ? '.json' : ''}`;
}

export interface NatsEventPublisherOptions {
  nc: NatsConnection;
  node: string;
  clock: KtimeClock;
  /** Also publish the JSON twin (default false). */
  json?: boolean;
  /** Pod attribution (identity/enrich.ts): fills Process.pod. */
  pods?: PodSource;
}

type Msg = Record<string, unknown>;

export class NatsEventPublisher {
  private readonly type: protobuf.Type;
  private readonly subjects: Record<SensorEvent['type'], [string, string]>;
  published = 0;

  constructor(private readonly o: NatsEventPublisherOptions) {
    this.type = eventType();
    const s = (t: SensorEvent['type']): [string, string] => [eventSubject(o.node, t), eventSubject(o.node, t, true)];
    this.subjects = { process_exec: s('process_exec'), process_exit: s('process_exit'), enforcement: s('enforcement'), hook: s('hook') };
  }

  /** The protobuf message object for an event (also what the JSON twin is made from). */
  toMessage(ev: SensorEvent): Msg {
    const base: Msg = { node_name: this.o.node, time_ns: ev.timeNs.toString() };
    const proc = (p: ProcessInfo): Msg => this.proc(p);
    const opt = (p: ProcessInfo | undefined): Msg => (p ? { parent: proc(p) } : {});
    switch (ev.type) {
      case 'process_exec':
        return { ...base, process_exec: { process: proc(ev.process), ...opt(ev.parent), ancestors: (ev.ancestors ?? []).map(proc) } };
      case 'process_exit':
        return { ...base, process_exit: { process: proc(ev.process), ...opt(ev.parent), status: ev.status, signal: ev.signal ? signalName(ev.signal) : '' } };
      case 'enforcement':
        return {
          ...base,
          enforcement: { process: proc(ev.process), ...opt(ev.parent), event_kind: ev.eventKind, function_name: ev.functionName, policy_name: ev.policyName, action: ev.action, mechanism: ev.mechanism, detail: ev.detail },
        };
      case 'hook':
        return { ...base, hook: hookMessage(ev, proc(ev.process), opt(ev.parent)) };
    }
  }

  encode(ev: SensorEvent): Uint8Array {
    return this.type.encode(this.type.fromObject(this.toMessage(ev))).finish();
  }

  /** protobuf's JSON mapping of the same message: 64-bit integers as strings, defaults omitted. */
  toJson(bytes: Uint8Array): string {
    return JSON.stringify(this.type.toObject(this.type.decode(bytes), { longs: String, oneofs: false }));
  }

  publish(ev: SensorEvent): void {
    const [subject, jsonSubject] = this.subjects[ev.type];
    const bytes = this.encode(ev);
    this.o.nc.publish(subject, bytes);
    if (this.o.json) this.o.nc.publish(jsonSubject, new TextEncoder().encode(this.toJson(bytes)));
    this.published++;
  }

  private proc(p: ProcessInfo): Msg {
    const m: Msg = {
      exec_id: execId(this.o.node, p.ktime, p.pid),
      pid: p.pid,
      tid: p.tid,
      uid: p.uid,
      euid: p.euid,
      gid: p.gid,
      egid: p.egid,
      auid: p.auid,
      cwd: p.cwd,
      binary: p.binary,
      arguments: [...p.args],
      flags: formatFlags(p),
      start_time_ns: this.o.clock.wallNs(p.ktime).toString(),
      cgroup_id: p.cgroupId.toString(),
    };
    if (p.ppid) m['parent_exec_id'] = execId(this.o.node, p.parentKtime, p.ppid);
    const pod = this.o.pods?.lookup(p).pod;
    if (pod) m['pod'] = pod;
    return m;
  }
}
