/** `vigil-sensor status [--json] [--bpffs-root DIR] [--state-dir DIR]`: the pinned state, without a running sensor. */
import { parseArgs } from 'node:util';
import { SensorError } from '../errors.js';
import { formatStatus, pinStatus } from './status.js';

export const STATUS_HELP = `vigil-sensor status — what Vigil left pinned and armed in the kernel, and what the sensor last applied

Options:
  --json              print the status as JSON
  --bpffs-root DIR    Vigil's pin root (default: /sys/fs/bpf/vigil)
  --state-dir DIR     the sensor's state directory (default: /var/lib/vigil/sensor)

Per object build: version, build hash, links (with link and program ids: the same across a restart), maps,
counters and the events lost since the last sensor checkpoint; per applied policy: bundle generation and hash,
and per hook whether it is persistent (enforced in the kernel with no sensor) or degrades while the sensor is
down (fanotify's EPERM falls back to killing the opener).
`;

export function statusCommand(argv: string[], out: NodeJS.WritableStream = process.stdout): void {
  const { values } = parseArgs({ args: argv, options: { json: { type: 'boolean' }, 'bpffs-root': { type: 'string' }, 'state-dir': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, strict: true });
  if (values.help) {
    out.write(STATUS_HELP);
    return;
  }
  if ((process.getuid?.() ?? 0) !== 0) throw new SensorError('NOT_ROOT', 'status must run as root (it opens pinned BPF objects); try: sudo vigil-sensor status');
  const st = pinStatus(values['bpffs-root'] ?? '/sys/fs/bpf/vigil', values['state-dir'] ?? '/var/lib/vigil/sensor');
  out.write(values.json ? `${JSON.stringify(st, null, 2)}\n` : `${formatStatus(st)}\n`);
}
