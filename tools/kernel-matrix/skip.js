// How a real-kernel test declares "skipped because capability X is missing" (docs/kernel-matrix.md).
//
// A test that needs a kernel capability asks the probe first; when the capability is missing it calls
// skipMissing(...) and returns (jest then counts it as passed). skipMissing prints one line for humans,
//   VIGIL-SKIP {"test":"<jest full test name>","missing":"<capability>","reason":"<probe reason>"}
// and, when the kernel matrix runs the suite, appends the same JSON object to the file named by
// $VIGIL_SKIP_FILE. The matrix joins those records with jest's --json results: a test with a record is "skip",
// and it must pass on another kernel of the matrix whose probe reports the capability, or the matrix fails.
// Capability names are the probe's (the keys of its --json "capabilities" object).
import { appendFileSync } from 'node:fs';

export const SKIP_PREFIX = 'VIGIL-SKIP ';

/** Records that `test` (jest's full name: expect.getState().currentTestName) was skipped for `missing`. */
export function skipMissing(test, missing, reason) {
  if (!test) throw new Error('skipMissing: pass the full test name (expect.getState().currentTestName)');
  const record = JSON.stringify({ test, missing, reason: String(reason) });
  process.stdout.write(`${SKIP_PREFIX}${record}\n`);
  if (process.env.VIGIL_SKIP_FILE) appendFileSync(process.env.VIGIL_SKIP_FILE, record + '\n');
}

/** Parses skip records from a JSONL file's text or from output lines that carry the prefix. */
export function parseSkips(text) {
  const out = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    const json = line.startsWith(SKIP_PREFIX) ? line.slice(SKIP_PREFIX.length) : line;
    if (!json.startsWith('{')) continue;
    try {
      const r = JSON.parse(json);
      if (typeof r.test === 'string' && typeof r.missing === 'string') out.push(r);
    } catch { /* not a record */ }
  }
  return out;
}
