/**
 * The koffi bindings against the real kernel: maps (single and batch ops, pinning), typed errors carrying errno
 * and libbpf's own messages, and the two ring-buffer readers (the mapped one cross-checked with libbpf's).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { existsSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { EventType, OFF, SIZE } from '../abi/layout.js';
import { decodeRecord } from '../events/decode.js';
import { BpfObject, LibbpfError, MappedRingBuffer, RingBufferReader, UpdateFlags, closeFd, objGet, objPin, possibleCpus } from './index.js';

const OUT = fileURLToPath(new URL('../../../../bpf/.output/', import.meta.url));
const PIN = `/sys/fs/bpf/vigil-libbpf-test-${process.pid}`;
afterAll(() => rmSync(PIN, { force: true }));

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return b;
};

describe('libbpf bindings (real kernel)', () => {
  it('map lookup/update/delete, batch operations and iteration on a hash map', () => {
    using obj = BpfObject.open(`${OUT}process_lifecycle.bpf.o`);
    obj.load();
    const procs = obj.map('vg_procs');
    expect(procs.keySize).toBe(4);
    expect(procs.valueSize).toBe(SIZE.proc);
    const value = (ktime: number) => {
      const v = Buffer.alloc(SIZE.proc);
      v.writeBigUInt64LE(BigInt(ktime), OFF.proc.exec_ktime);
      return v;
    };
    procs.update(u32(1), value(11));
    expect(procs.lookup(u32(1))?.readBigUInt64LE(OFF.proc.exec_ktime)).toBe(11n);
    expect(() => procs.update(u32(1), value(12), UpdateFlags.NOEXIST)).toThrow(/EEXIST/);
    expect(procs.lookup(u32(999_999))).toBeUndefined();
    procs.updateBatch(Array.from({ length: 300 }, (_, i) => [u32(1000 + i), value(i)] as const));
    const entries = procs.entries(64); // several batches
    expect(entries.length).toBe(301);
    expect(new Set(entries.map(([k]) => k.readUInt32LE())).size).toBe(301);
    expect([...procs.keys()].length).toBe(301);
    procs.deleteBatch(Array.from({ length: 300 }, (_, i) => u32(1000 + i)));
    expect(procs.delete(u32(1))).toBe(true);
    expect(procs.delete(u32(1))).toBe(false);
    expect(procs.entries().length).toBe(0);
  });

  it('per-CPU maps return one value per possible CPU', () => {
    using obj = BpfObject.open(`${OUT}process_lifecycle.bpf.o`);
    obj.load();
    const stats = obj.map('vg_stats');
    expect(stats.perCpu).toBe(true);
    expect(stats.lookup(u32(0))?.length).toBe(possibleCpus() * SIZE.stats);
  });

  it('pins a map and opens it again by path', () => {
    using obj = BpfObject.open(`${OUT}process_lifecycle.bpf.o`);
    obj.load();
    const procs = obj.map('vg_procs');
    procs.update(u32(7), Buffer.alloc(SIZE.proc, 1));
    objPin(procs.fd, PIN);
    const fd = objGet(PIN);
    try {
      expect(fd).toBeGreaterThan(0);
    } finally {
      closeFd(fd);
    }
    expect(() => objGet(`${PIN}-missing`)).toThrow(/ENOENT/);
  });

  it('errors are typed, carry errno and what libbpf said', () => {
    const thrown = (f: () => unknown): LibbpfError => {
      try {
        f();
      } catch (e) {
        if (e instanceof LibbpfError) return e;
        throw e;
      }
      throw new Error('did not throw');
    };
    expect(thrown(() => BpfObject.open('/nonexistent.bpf.o'))).toMatchObject({ code: 'OBJECT_OPEN_FAILED', errno: 2 });
    using obj = BpfObject.open(`${OUT}process_lifecycle.bpf.o`);
    expect(thrown(() => obj.program('nope')).code).toBe('PROGRAM_NOT_FOUND');
    expect(() => obj.map('vg_procs').lookup(Buffer.alloc(3))).toThrow(/key must be 4 bytes/);
    // A program the verifier rejects: the bound check fails at load, and the error keeps the verifier's words.
    using probe = BpfObject.open(`${OUT}probe.bpf.o`);
    for (const p of probe.programs()) p.setAutoload(p.name === 'vg_probe_kprobe_override');
    let err: unknown;
    try {
      probe.load();
    } catch (e) {
      err = e;
    }
    // Kernels without CONFIG_BPF_KPROBE_OVERRIDE refuse the helper at load; others load it.
    if (err) {
      expect(err).toBeInstanceOf(LibbpfError);
      expect((err as LibbpfError).code).toBe('OBJECT_LOAD_FAILED');
      expect((err as LibbpfError).errno).toBeGreaterThan(0);
      expect((err as LibbpfError).libbpfLog.join('\n')).toMatch(/vg_probe_kprobe_override/);
    }
  });

  it('the mapped ring reader delivers exactly what libbpf delivers, across many wrap-arounds, with no gaps', () => {
    const produceAndRead = (mapped: boolean) => {
      using obj = BpfObject.open(`${OUT}bench_producer.bpf.o`);
      const ring = obj.map('vg_events');
      ring.setMaxEntries(64 * 1024); // small: 20,000 records wrap it many times
      obj.load();
      const seen: string[] = [];
      let lastSeq = -1n;
      let gaps = 0;
      const onRecord = (rec: ReturnType<typeof decodeRecord>) => {
        if (rec.seq !== lastSeq + 1n && lastSeq >= 0n) gaps++;
        lastSeq = rec.seq;
        seen.push(rec.kind === 'exec' ? `exec ${rec.pid} ${rec.binary} ${rec.argv.join(' ')} ${rec.cwd}` : `${rec.kind} ${'pid' in rec ? rec.pid : ''}`);
      };
      const reader = mapped
        ? new MappedRingBuffer(ring.fd, ring.maxEntries, (v, o, s) => onRecord(decodeRecord(v, o, s)))
        : new RingBufferReader(ring.fd, (data, size) => onRecord(decodeRecord({ dv: new DataView(data), bytes: Buffer.from(data) }, 0, size)));
      const ctx = Buffer.alloc(16);
      for (let batch = 0; batch < 50; batch++) {
        ctx.writeBigUInt64LE(40n, 0); // 20 exec + 20 exit ≈ 34 KB per batch
        ctx.writeBigUInt64LE(BigInt(5000 + batch * 20), 8);
        obj.program('vg_bench_produce').testRun(ctx, 0);
        reader.consume();
      }
      reader.close();
      return { seen, gaps };
    };
    const viaMapped = produceAndRead(true);
    const viaLibbpf = produceAndRead(false);
    expect(viaMapped.seen.length).toBe(2000);
    expect(viaMapped.gaps).toBe(0);
    expect(viaMapped.seen).toEqual(viaLibbpf.seen);
    expect(viaMapped.seen[0]).toBe('exec 5000 /usr/bin/vigil-bench vigil-bench --iteration synthetic /var/lib/vigil');
    expect(viaMapped.seen[1]).toBe('exit 5000');
    expect(EventType.EXEC).toBe(1);
  });

  it('a producer faster than the handler does not starve the event loop: the reader yields between turns and loses nothing', async () => {
    using obj = BpfObject.open(`${OUT}bench_producer.bpf.o`);
    const ring = obj.map('vg_events');
    ring.setMaxEntries(256 * 1024);
    obj.load();
    const prog = obj.program('vg_bench_produce');
    const ctx = Buffer.alloc(16);
    const BATCHES = 2000; // 40 records each: 80,000 records, ten times the reader's per-turn budget
    let batches = 0;
    const produce = () => {
      ctx.writeBigUInt64LE(40n, 0);
      ctx.writeBigUInt64LE(BigInt(batches * 20), 8);
      prog.testRun(ctx, 0);
      batches++;
    };
    let records = 0;
    let gaps = 0;
    let lastSeq = -1n;
    // The handler itself refills the ring (every 40 records another batch), so a reader that drains "until
    // empty" would run until the very last batch before anything else could.
    let seenByTimer = -1;
    let timerFired: () => void = () => {};
    const timer = new Promise<void>((resolve) => (timerFired = resolve));
    const reader = new MappedRingBuffer(ring.fd, ring.maxEntries, (v, o, size) => {
      const rec = decodeRecord(v, o, size);
      if (lastSeq >= 0n && rec.seq !== lastSeq + 1n) gaps++;
      lastSeq = rec.seq;
      if (++records === 1) {
        // armed from inside the flood: it can only run once the reader hands the loop back
        setTimeout(() => {
          seenByTimer = records;
          timerFired();
        }, 0);
      }
      if (records % 40 === 0 && batches < BATCHES) produce();
    });
    produce();
    reader.start();
    await timer;
    const deadline = Date.now() + 60_000;
    while (records < BATCHES * 40 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    reader.close();
    expect(records).toBe(BATCHES * 40);
    expect(gaps).toBe(0);
    expect(seenByTimer).toBeGreaterThanOrEqual(0);
    expect(seenByTimer).toBeLessThan(BATCHES * 40); // the timer ran in the middle of the flood
  });

  it('is available: the objects the tests need are built', () => {
    for (const o of ['process_lifecycle.bpf.o', 'probe.bpf.o', 'bench_producer.bpf.o']) expect(existsSync(`${OUT}${o}`)).toBe(true);
  });
});

describe('LibbpfLog', () => {
  it('keeps a capture window right while old lines are dropped', async () => {
    const { LibbpfLog } = await import('./native.js');
    const log = new LibbpfLog();
    for (let i = 0; i < 450; i++) log.push(`old ${i}`);
    const mark = log.begin();
    for (let i = 0; i < 3; i++) log.push(`new ${i}`);
    expect(log.since(mark)).toEqual(['new 0', 'new 1', 'new 2']);
    for (let i = 0; i < 500; i++) log.push(`flood ${i}`);
    expect(log.since(mark)).toHaveLength(400); // the window outgrew the buffer: the newest 400 are kept
  });
});
