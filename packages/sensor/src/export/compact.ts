/** The human format: one line per event, an emoji, the binary, its arguments, and for exits the outcome. */
import { formatArguments, signalName } from './json.js';
import { hookEventCompact } from '../generic/format.js';
import type { EventFormatter, SensorEvent } from './model.js';

export class CompactFormatter implements EventFormatter {
  format(ev: SensorEvent): string {
    const p = ev.process;
    const args = formatArguments(p.args);
    const cmd = args ? `${p.binary} ${args}` : p.binary;
    if (ev.type === 'process_exec') return `🚀 process ${cmd}`;
    if (ev.type === 'hook') return hookEventCompact(ev, p.binary || `pid ${p.pid}`);
    if (ev.type === 'enforcement') {
      const what = ev.action === 'deny' ? 'EPERM' : 'SIGKILL';
      const icon = ev.action === 'deny' ? '🔒 deny   ' : '💥 kill   ';
      return `${icon} ${p.binary || `pid ${p.pid}`} ${ev.functionName}${ev.detail ? ` ${ev.detail}` : ''} ${what} (${ev.mechanism}, policy ${ev.policyName})`;
    }
    const outcome = ev.signal ? signalName(ev.signal) : String(ev.status);
    return `💥 exit    ${cmd} ${outcome}`;
  }
}
