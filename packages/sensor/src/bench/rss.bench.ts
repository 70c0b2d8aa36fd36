/**
 * Sensor RSS with 100k cached processes: a real lifecycle sensor (programs loaded and attached, default 4 MiB
 * ring buffer, which the kernel maps twice into the process) whose cache is filled with 100,000 running
 * processes, each serialized once to JSON as the exporter does, measured after GC. Baseline: the same sensor
 * before filling.
 */
import { rmSync } from 'node:fs';
import { pino } from 'pino';
import { ProcFlags } from '../abi/layout.js';
import { KtimeClock } from '../events/exec-id.js';
import { TetragonJsonFormatter } from '../export/json.js';
import { tuneHeapForSensor } from '../main.js';
import { ProcessLifecycleSensor } from '../sensors/process-lifecycle.js';
import { OBJECTS_DIR, report } from './report.js';

tuneHeapForSensor(); // as `vigil-sensor run` does
const N = Number(process.env.VIGIL_BENCH_PROCESSES ?? 100_000);
const pinRoot = `/sys/fs/bpf/vigil-bench-${process.pid}`;
const gc = (globalThis as { gc?: () => void }).gc ?? (() => {});
const rssMiB = () => process.memoryUsage().rss / (1024 * 1024);

const sensor = ProcessLifecycleSensor.start({
  objectPath: `${OBJECTS_DIR}process_lifecycle.bpf.o`,
  pinRoot,
  node: 'bench-node-with-a-realistic-name.example.internal',
  ringBytes: 4 * 1024 * 1024, // the default
  ancestors: 0,
  maxCachedProcesses: N + 10_000,
  logger: pino({ level: 'silent' }),
  onEvent: () => {},
});
gc();
const before = rssMiB();
const cache = sensor.cache;
const fmt = new TetragonJsonFormatter('bench-node', new KtimeClock());
let parent = cache.insert({
  pid: 4_000_000, tid: 4_000_000, ppid: 1, parentKtime: 0n, binary: '/usr/bin/containerd-shim-runc-v2',
  args: ['-namespace', 'k8s.io', '-id', 'f'.repeat(64)], cwd: '/run/containerd', uid: 0, euid: 0, gid: 0, egid: 0, auid: 0xffffffff, cgroupId: 1n, ktime: 1n, flags: ProcFlags.EXECVE,
});
for (let i = 0; i < N; i++) {
  const pid = 1_000_000 + i;
  const p = cache.insert({
    pid, tid: pid, ppid: parent.pid, parentKtime: parent.ktime,
    binary: `/usr/local/bin/worker-${i % 50}`, args: ['--config', `/etc/app/${i % 100}.yaml`, '--verbose'], cwd: '/srv/app',
    uid: 1000, euid: 1000, gid: 1000, egid: 1000, auid: 0xffffffff, cgroupId: BigInt(5000 + (i % 300)), ktime: BigInt(1e15 + i), flags: ProcFlags.EXECVE,
  });
  if (process.env.VIGIL_BENCH_NO_JSON !== "1") fmt.format({ type: 'process_exec', timeNs: 0n, process: p, parent, ancestors: undefined }); // memoizes p's JSON
  if (i % 10 === 0) parent = p;
}
gc();
const after = rssMiB();
const size = cache.size;
sensor.close();
rmSync(pinRoot, { recursive: true, force: true });
report({ bench: 'sensor.rss', metric: `RSS MiB with ${size.toLocaleString('en-US')} cached processes`, value: after, baseline: before, ratio: after / before, goal: '<= 96 MiB', pass: after <= 96, note: `${(((after - before) * 1024 * 1024) / N).toFixed(0)} B per process` });
