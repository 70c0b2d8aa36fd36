// The kernel matrix's verdict, a pure function of what the legs produced (lib/matrix.js collects it).
//
// Input, one entry per kernel, in matrix order:
//   { kernel, release, status, timedOut,            leg exit status (0 = the leg ran everything)
//     expect: { <cap>: boolean } | undefined,       what the probe must report (kernels.json)
//     caps: { <cap>: { available, reason } } | null, the probes' capabilities (merged)
//     probeProblems: [string] | undefined,          probes that failed or disagree
//     suites: { <suite>: { ran, status, timedOut, jest: <jest --json> | null, skips: [{ test, missing, reason }] } } }
// Output: { capabilities, kernels, tests: Map(testId -> Map(kernel -> cell)), problems: [string], counts }
// A cell is { status: 'pass' | 'skip' | 'fail' | 'pending', missing?, reason? }.
//
// Rules (each violation is a problem; any problem fails the matrix):
//   1. every leg exits 0, reports capabilities, and runs each of its suites to completion;
//   2. no test fails, and a suite that exits non-zero must show a failed test (else: jest/runtime error);
//   3. a test skipped for capability C on kernel K: K's probe must report C missing (consistent skip), and the
//      test must pass on some other kernel of the matrix whose probe reports C available (no mechanism untested);
//   4. a kernel with `expect: { <cap>: true|false }` (kernels.json) must probe exactly so: a guest that loses LSM
//      BPF or kprobes because of a set-up regression fails loudly instead of turning passes into skips.

/** Test identity across kernels: suite name and jest's full test name. */
export const testId = (suite, fullName) => `${suite} › ${fullName}`;

export function evaluate(legs) {
  const problems = [];
  const tests = new Map();
  const capabilities = [...new Set(legs.flatMap((l) => Object.keys(l.caps ?? {})))];
  const cell = (id, kernel, value) => {
    if (!tests.has(id)) tests.set(id, new Map());
    tests.get(id).set(kernel, value);
  };

  for (const leg of legs) {
    const k = leg.kernel;
    if (leg.timedOut) problems.push(`${k}: the leg timed out and was killed`);
    else if (leg.status !== 0) problems.push(`${k}: the leg exited ${leg.status}`);
    if (!leg.caps) problems.push(`${k}: the capability probe reported nothing`);
    for (const p of leg.probeProblems ?? []) problems.push(`${k}: ${p}`);
    for (const [cap, want] of Object.entries(leg.expect ?? {})) {
      const got = leg.caps?.[cap];
      if (leg.caps && Boolean(got?.available) !== want) {
        problems.push(`${k}: expected ${cap} ${want ? 'available' : 'missing'}, the probe says ${got ? (got.available ? 'available' : `missing (${got.reason})`) : 'nothing'}`);
      }
    }
    for (const [suite, s] of Object.entries(leg.suites)) {
      if (!s.ran) { problems.push(`${k}: suite ${suite} did not run`); continue; }
      if (s.timedOut) problems.push(`${k}: suite ${suite} timed out`);
      if (s.hungAfterResults) problems.push(`${k}: suite ${suite} did not exit after its tests finished (open handles) and was killed`);
      let failed = 0;
      const skips = new Map(s.skips.map((r) => [r.test, r]));
      const seen = new Set();
      for (const file of s.jest?.testResults ?? []) {
        if (file.status === 'failed' && (file.assertionResults ?? []).length === 0) {
          failed++;
          problems.push(`${k}: suite ${suite}: ${file.name} failed to run: ${String(file.message).split('\n').find((l) => l.trim()) ?? ''}`);
        }
        for (const a of file.assertionResults ?? []) {
          const id = testId(suite, a.fullName);
          seen.add(a.fullName);
          if (a.status === 'failed') {
            failed++;
            cell(id, k, { status: 'fail' });
            problems.push(`${k}: ${id} failed`);
          } else if (a.status === 'passed' && skips.has(a.fullName)) {
            const r = skips.get(a.fullName);
            cell(id, k, { status: 'skip', missing: r.missing, reason: r.reason });
          } else if (a.status === 'passed') {
            cell(id, k, { status: 'pass' });
          } else {
            cell(id, k, { status: 'pending' });
          }
        }
      }
      for (const name of skips.keys()) {
        if (!seen.has(name)) problems.push(`${k}: suite ${suite}: skip record for unknown test ${JSON.stringify(name)}`);
      }
      if (s.status !== 0 && failed === 0 && !s.timedOut && !s.hungAfterResults) {
        problems.push(`${k}: suite ${suite} exited ${s.status ?? s.signal} without a failed test (${s.jest ? 'jest error' : 'no jest results'})`);
      }
      if (s.jest === null && s.expectJest) problems.push(`${k}: suite ${suite} wrote no jest results`);
    }
  }

  const capsOf = new Map(legs.map((l) => [l.kernel, l.caps ?? {}]));
  for (const [id, byKernel] of tests) {
    for (const [k, c] of byKernel) {
      if (c.status !== 'skip') continue;
      const here = capsOf.get(k)[c.missing];
      if (!capabilities.includes(c.missing)) {
        problems.push(`${k}: ${id} skipped for capability "${c.missing}", which no probe reports`);
        continue;
      }
      if (here?.available) problems.push(`${k}: ${id} skipped for missing ${c.missing}, but the probe on ${k} reports it available`);
      const provenOn = [...byKernel].filter(([k2, c2]) => k2 !== k && c2.status === 'pass' && capsOf.get(k2)[c.missing]?.available);
      if (provenOn.length === 0) {
        problems.push(`${id} is skipped on ${k} (missing ${c.missing}) and passes on no kernel of the matrix that has ${c.missing}`);
      }
    }
  }

  const counts = new Map(legs.map((l) => [l.kernel, { pass: 0, skip: 0, fail: 0, pending: 0 }]));
  for (const byKernel of tests.values()) for (const [k, c] of byKernel) counts.get(k)[c.status]++;
  return { capabilities, kernels: legs.map((l) => ({ name: l.kernel, release: l.release })), tests, problems, counts, capsOf };
}

/**
 * Normalises one probe's output to { kernel, caps: { <cap>: { available, reason } } }. Accepted shapes:
 * { kernel?, capabilities: { <cap>: { available, reason } } } (bpf-probe.js) and an array, or { capabilities: [...] },
 * of { id, available, detail } (vigil-sensor probe --json). Returns null for anything else.
 */
export function normaliseProbe(out) {
  if (!out) return null;
  const list = Array.isArray(out) ? out : Array.isArray(out.capabilities) ? out.capabilities : null;
  if (list) {
    return {
      kernel: out.kernel ?? null,
      caps: Object.fromEntries(list.filter((c) => c && typeof c.id === 'string')
        .map((c) => [c.id, { available: Boolean(c.available), reason: String(c.detail ?? c.reason ?? '') }])),
    };
  }
  if (out.capabilities && typeof out.capabilities === 'object') return { kernel: out.kernel ?? null, caps: out.capabilities };
  return null;
}

/**
 * Merges the probes of one leg. Two probes that disagree on a capability, or on two capabilities declared
 * equivalent (suites.json `equivalentCapabilities`, e.g. the matrix's `lsm` and the sensor's `lsm_bpf`), are a problem.
 */
export function mergeProbes(byName, equivalent = []) {
  const caps = {};
  const from = {};
  const problems = [];
  let kernel = null;
  for (const [name, out] of Object.entries(byName)) {
    const n = normaliseProbe(out);
    if (!n) { problems.push(`probe ${name} printed no capability JSON`); continue; }
    kernel ??= n.kernel;
    for (const [cap, c] of Object.entries(n.caps)) {
      if (caps[cap] && caps[cap].available !== c.available) {
        problems.push(`probes ${from[cap]} and ${name} disagree on ${cap}: ${caps[cap].available ? 'available' : caps[cap].reason} vs ${c.available ? 'available' : c.reason}`);
        continue;
      }
      if (!caps[cap]) { caps[cap] = c; from[cap] = name; }
    }
  }
  for (const group of equivalent) {
    const present = group.filter((cap) => caps[cap]);
    const verdicts = new Set(present.map((cap) => caps[cap].available));
    if (verdicts.size > 1) {
      problems.push(`probes disagree on equivalent capabilities: ${present.map((cap) => `${from[cap]} ${cap} ${caps[cap].available ? 'available' : `missing (${caps[cap].reason})`}`).join(' vs ')}`);
    }
  }
  return { kernel, caps: Object.keys(caps).length ? caps : null, problems };
}

const esc = (s) => String(s).replace(/\|/g, '\\|');

/** The capability × kernel and test × kernel tables (markdown) plus the verdict. */
export function formatReport(result) {
  const heads = result.kernels.map((k) => (k.release ? `${k.name} (${k.release})` : k.name));
  const row = (cells) => `| ${cells.map(esc).join(' | ')} |`;
  const sep = (n) => `|${'---|'.repeat(n)}`;
  const out = ['', '### Capabilities', '', row(['capability', ...heads]), sep(heads.length + 1)];
  for (const cap of result.capabilities) {
    out.push(row([cap, ...result.kernels.map((k) => {
      const c = result.capsOf.get(k.name)[cap];
      return !c ? '?' : c.available ? 'yes' : `no: ${c.reason}`;
    })]));
  }
  out.push('', '### Tests', '', row(['test', ...heads]), sep(heads.length + 1));
  // Tests pending everywhere (filtered out by a suite's testNamePattern, or test.skip) are counted, not listed.
  const listed = [...result.tests].filter(([, byKernel]) => [...byKernel.values()].some((c) => c.status !== 'pending'));
  for (const [id, byKernel] of listed.sort(([a], [b]) => a.localeCompare(b))) {
    out.push(row([id, ...result.kernels.map((k) => {
      const c = byKernel.get(k.name);
      if (!c) return '—';
      return c.status === 'skip' ? `skip (${c.missing})` : c.status === 'fail' ? '**FAIL**' : c.status;
    })]));
  }
  out.push(row(['**total** pass/skip/fail', ...result.kernels.map((k) => {
    const n = result.counts.get(k.name);
    return `${n.pass}/${n.skip}/${n.fail}${n.pending ? ` (+${n.pending} pending)` : ''}`;
  })]));
  out.push('');
  if (result.problems.length === 0) out.push('Kernel matrix: PASS');
  else out.push(`Kernel matrix: FAIL (${result.problems.length})`, ...result.problems.map((p) => `- ${p}`));
  return out.join('\n');
}
