/**
 * N simulated sensors in one process, for the scale benchmark: each a BundleAgent (the production transport:
 * announce, assignment notices, bundle reads, state file, ack) with a recording applier and its own NATS
 * connection. Kept out of the benchmark's process so the operator's CPU and RSS are its own.
 * Usage: node sim-sensors.js NATS_URL NODES STATE_DIR — prints `ready` once every sensor synced; SIGTERM stops.
 */
import { join } from 'node:path';
import { pino } from 'pino';
import { fullNodeProfile } from '@vigil/policy-schema';
import { BundleAgent, RecordingApplier } from '@vigil/sensor';

const [url, count, dir] = process.argv.slice(2);
if (!url || !count || !dir) throw new Error('usage: sim-sensors.js NATS_URL NODES STATE_DIR');
const log = pino({ level: 'silent' });
const agents: BundleAgent[] = [];
for (let i = 0; i < Number(count); i++)
  agents.push(await BundleAgent.start({ servers: url, node: `node-${i}.bench.local`, profile: fullNodeProfile(), capabilities: [], applier: new RecordingApplier(), stateDir: join(dir, String(i)), logger: log, fsyncState: false }));
await Promise.all(agents.map((a) => (a.syncCount > 0 ? undefined : a.nextSync())));
process.stdout.write('ready\n');
process.once('SIGTERM', () => {
  void Promise.all(agents.map((a) => a.stop())).then(() => process.exit(0));
});
