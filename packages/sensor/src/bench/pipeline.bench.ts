/**
 * Events/s through the sensor's userspace pipeline, on one core, fed by a synthetic in-kernel producer
 * (bpf/progs/bench_producer.bpf.c run with BPF_PROG_TEST_RUN, through the same ring buffer and loss
 * accounting as the real programs), and during a real exec storm with the lifecycle programs attached.
 *   baseline: ring drain with a no-op handler; decode: + decodeRecord and sequence checks;
 *   serialize: + process cache enrichment + Tetragon JSON.
 */
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { decodeRecord } from '../events/decode.js';
import { EventPipeline } from '../events/pipeline.js';
import { SequenceTracker } from '../events/sequence.js';
import { KtimeClock } from '../events/exec-id.js';
import { TetragonJsonFormatter } from '../export/json.js';
import { BpfObject, MappedRingBuffer, RingBufferReader, type MappedRecordHandler } from '../libbpf/index.js';
import { ProcessLifecycleSensor } from '../sensors/process-lifecycle.js';
import { OBJECTS_DIR, report } from './report.js';

const TOTAL = Number(process.env.VIGIL_BENCH_RECORDS ?? 1_000_000);
const BATCH = 8_000; // 4,000 exec + 4,000 exit records ≈ 6.9 MB of a 16 MiB ring

function readStats(obj: BpfObject): { seq: bigint; fail: bigint } {
  const raw = obj.map('vg_stats').lookup(Buffer.alloc(4)) as Buffer;
  let seq = 0n;
  let fail = 0n;
  for (let off = 0; off + 32 <= raw.length; off += 32) {
    seq += raw.readBigUInt64LE(off);
    fail += raw.readBigUInt64LE(off + 8);
  }
  return { seq, fail };
}

function runSynthetic(name: string, handler: MappedRecordHandler | 'libbpf-callback'): { rate: number; received: number; lost: bigint; unaccounted: bigint } {
  const obj = BpfObject.open(`${OBJECTS_DIR}bench_producer.bpf.o`);
  try {
    obj.map('vg_events').setMaxEntries(16 * 1024 * 1024);
    obj.load();
    const before = readStats(obj);
    let received = 0;
    const events = obj.map('vg_events');
    const reader =
      handler === 'libbpf-callback'
        ? new RingBufferReader(events.fd, () => received++)
        : new MappedRingBuffer(events.fd, events.maxEntries, (v, o, s) => {
            received++;
            handler(v, o, s);
          });
    const prog = obj.program('vg_bench_produce');
    const ctx = Buffer.alloc(16);
    let consumeNs = 0n;
    for (let produced = 0, pid = 1_000_000; produced < TOTAL; produced += BATCH, pid += BATCH / 2) {
      ctx.writeBigUInt64LE(BigInt(BATCH), 0);
      ctx.writeBigUInt64LE(BigInt(pid), 8);
      prog.testRun(ctx, 0);
      const t0 = process.hrtime.bigint();
      reader.consume();
      consumeNs += process.hrtime.bigint() - t0;
    }
    reader.close();
    const after = readStats(obj);
    const lost = after.fail - before.fail;
    const attempts = after.seq - before.seq;
    process.stderr.write(`${name}: ${received} records in ${Number(consumeNs) / 1e6} ms\n`);
    return { rate: received / (Number(consumeNs) / 1e9), received, lost, unaccounted: attempts - BigInt(received) - lost };
  } finally {
    obj.close();
  }
}

// 1. baselines: drain only, through libbpf's callback API and through the mapped ring
const viaLibbpf = runSynthetic('libbpf ring_buffer__consume', 'libbpf-callback');
const base = runSynthetic('mapped ring drain', () => {});
// 2. decode + sequence
const seqs = new SequenceTracker();
const dec = runSynthetic('decode', (v, o, s) => {
  const r = decodeRecord(v, o, s);
  seqs.observe(r.cpu, r.seq);
});
// 3. decode + cache + JSON
const clock = new KtimeClock();
const fmt = new TetragonJsonFormatter('bench-node', clock);
let bytes = 0;
const pipeline = new EventPipeline({ node: 'bench-node', ancestors: 0, clock, onEvent: (ev) => (bytes += fmt.format(ev).length) });
const ser = runSynthetic('serialize', (v, o, s) => pipeline.handle(decodeRecord(v, o, s)));

report({ bench: 'sensor.pipeline', metric: 'records/s drained, libbpf callback per record', value: viaLibbpf.rate });
report({ bench: 'sensor.pipeline', metric: 'records/s drained, mapped ring (no-op handler)', value: base.rate, baseline: viaLibbpf.rate, ratio: base.rate / viaLibbpf.rate });
report({ bench: 'sensor.pipeline', metric: 'records/s decoded', value: dec.rate, baseline: base.rate, ratio: dec.rate / base.rate, goal: '>= 1,000,000', pass: dec.rate >= 1_000_000 });
report({ bench: 'sensor.pipeline', metric: 'events/s decoded+cached+JSON', value: ser.rate, baseline: dec.rate, ratio: ser.rate / dec.rate, goal: '>= 200,000', pass: ser.rate >= 200_000, note: `${(bytes / ser.received).toFixed(0)} B/event` });
const unaccounted = viaLibbpf.unaccounted + base.unaccounted + dec.unaccounted + ser.unaccounted;
report({ bench: 'sensor.pipeline', metric: 'unaccounted losses (synthetic)', value: Number(unaccounted), goal: '0', pass: unaccounted === 0n, note: `lost (counted) ${viaLibbpf.lost + base.lost + dec.lost + ser.lost}; sequence gaps ${seqs.missing}` });

// 4. exec storm with the real lifecycle programs attached
const pinRoot = `/sys/fs/bpf/vigil-bench-${process.pid}`;
let events = 0;
const sensor = ProcessLifecycleSensor.start({
  objectPath: `${OBJECTS_DIR}process_lifecycle.bpf.o`,
  pinRoot,
  node: 'bench-node',
  ringBytes: 16 * 1024 * 1024,
  ancestors: 0,
  logger: pino({ level: 'silent' }),
  onEvent: (ev) => (bytes += fmt.format(ev).length, events++),
});
const EXECS = Number(process.env.VIGIL_BENCH_EXECS ?? 3000);
const t0 = process.hrtime.bigint();
await new Promise<void>((resolve, reject) => {
  const c = spawn('/bin/sh', ['-c', `i=0; while [ $i -lt ${EXECS} ]; do /bin/true; i=$((i+1)); done`], { stdio: 'ignore' });
  c.on('exit', () => resolve());
  c.on('error', reject);
});
for (let i = 0; i < 50 && sensor.drain() > 0; i++) await new Promise((r) => setTimeout(r, 10));
const secs = Number(process.hrtime.bigint() - t0) / 1e9;
const st = sensor.stats();
sensor.close();
rmSync(pinRoot, { recursive: true, force: true });
report({ bench: 'sensor.exec-storm', metric: 'events/s emitted during exec storm', value: events / secs, note: `${EXECS} execs of /bin/true in ${secs.toFixed(2)} s; ${st.records} records` });
report({ bench: 'sensor.exec-storm', metric: 'unaccounted losses (exec storm)', value: Number(st.unaccounted), goal: '0', pass: st.unaccounted === 0n, note: `lost (counted) ${st.reserveFailures}` });
