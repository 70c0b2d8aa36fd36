/** How a pinned unit's start is logged: one line per unit, stable keys (lost_while_down is grep-able). */
import type { Logger } from 'pino';
import type { PersistReport } from './pinned-object.js';

export function logPersistReport(logger: Logger, r: PersistReport): void {
  const fields = {
    unit: r.unitDir,
    mode: r.mode,
    version: r.version,
    build: r.sha12,
    linkIds: r.linkIds,
    lost_while_down: r.lostWhileDown.toString(),
    ...(r.retired.length > 0 ? { retired: r.retired, retiredRingRecords: r.retiredRingRecords } : {}),
    ...(r.problems.length > 0 ? { problems: r.problems } : {}),
    ...(r.migrated.length > 0 ? { migrated: r.migrated.map((m) => `${m.map}: ${m.how} ${m.entries}${m.reason ? ` (${m.reason})` : ''}`) } : {}),
  };
  const what = { fresh: 'loaded and pinned', adopted: 'adopted from the pins (nothing loaded)', upgraded: 'upgraded: new build attached, then the old one detached', repaired: 'repaired: the pinned build was damaged' }[r.mode];
  if (r.mode === 'repaired' || r.lostWhileDown > 0n) logger.warn(fields, `pinned unit ${what}`);
  else logger.info(fields, `pinned unit ${what}`);
}
