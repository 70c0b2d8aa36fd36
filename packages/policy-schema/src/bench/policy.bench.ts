// pnpm bench: validate + compile time per policy, over the Tetragon example corpus (../shared) and over a
// synthetic set of 1,000 policies. Same-run baseline: parsing the YAML alone (the floor any validator pays).
// Prints JSON result lines for tools/bench/run.js.
import { parseAllDocuments, stringify } from 'yaml';
import { compilePolicy } from '../compile/compiler.js';
import { fullNodeProfile } from '../compile/node-profile.js';
import { loadCorpus, sharedDir } from '../corpus.js';
import { validatePolicy, validatePolicyText } from '../validate.js';

const GOAL_MS = 5;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

interface Timing {
  /** Per policy: median over the rounds of validate+compile (the policy's typical cost). */
  perPolicy: number[];
  /** Per policy: median YAML-parse-only time (the baseline). */
  perPolicyParse: number[];
  /** Every individual sample, GC pauses and scheduler noise included. */
  samples: number[];
  /** Per policy: median process CPU time (user + system) of validate+compile: immune to other load on the box. */
  perPolicyCpu: number[];
  /** Per policy: median of validate+compile from an already parsed object (the operator's path: the API server hands JSON). */
  perPolicyObject: number[];
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

/** Times every text `rounds` times after one warm-up pass. */
function measure(texts: string[], rounds: number): Timing {
  const profile = fullNodeProfile();
  const full: number[][] = texts.map(() => []);
  const parse: number[][] = texts.map(() => []);
  const cpu: number[][] = texts.map(() => []);
  const objectPath: number[][] = texts.map(() => []);
  // No forced gc() between rounds: a full collection flushes compiled code and made every policy ~10x slower.
  for (let r = 0; r <= rounds; r++) {
    texts.forEach((text, i) => {
      const a = performance.now();
      const objects = parseAllDocuments(text).map((d) => d.toJS() as unknown);
      const a2 = performance.now();
      for (const o of objects) {
        const v = validatePolicy(o);
        if (v.ok) compilePolicy(v.policy, profile);
      }
      const b = performance.now();
      const cpu0 = process.cpuUsage();
      for (const d of validatePolicyText(text)) {
        if (!d.result.ok) throw new Error(`bench input invalid: ${JSON.stringify(d.result.issues[0])}`);
        compilePolicy(d.result.policy, profile);
      }
      const c = performance.now();
      const used = process.cpuUsage(cpu0);
      if (r === 0) return; // warm-up
      cpu[i]?.push((used.user + used.system) / 1000);
      parse[i]?.push(a2 - a);
      objectPath[i]?.push(b - a2);
      full[i]?.push(c - b);
    });
  }
  const sort = (xs: number[]): number[] => xs.sort((x, y) => x - y);
  return { perPolicy: sort(full.map(median)), perPolicyParse: sort(parse.map(median)), samples: sort(full.flat()), perPolicyCpu: sort(cpu.map(median)), perPolicyObject: sort(objectPath.map(median)) };
}

function report(bench: string, t: Timing, note: string): void {
  const line = (metric: string, value: number, baseline: number | null, goal: string | null, pass: boolean | undefined, extra = note): void =>
    console.log(JSON.stringify({ bench, metric, value, baseline, ratio: baseline ? value / baseline : null, goal, pass, note: extra }));
  const p99 = percentile(t.perPolicy, 99);
  line('validate+compile p99 ms/policy', p99, percentile(t.perPolicyParse, 99), `<= ${GOAL_MS}`, p99 <= GOAL_MS, `${note}; p99 over policies of each policy's median time`);
  line('validate+compile p50 ms/policy', percentile(t.perPolicy, 50), percentile(t.perPolicyParse, 50), null, undefined);
  line('validate+compile from object p99 ms/policy', percentile(t.perPolicyObject, 99), null, null, undefined, 'no YAML: the operator path (objects from the API server)');
  line('validate+compile p99 CPU ms/policy', percentile(t.perPolicyCpu, 99), null, null, undefined, 'process CPU time, median per policy: unaffected by other load on the machine');
  line('validate+compile p99 ms/sample', percentile(t.samples, 99), null, null, undefined, 'every single run, GC pauses and scheduler noise included');
}

/** Small deterministic PRNG so the synthetic set is the same every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

export function syntheticPolicies(n: number): string[] {
  const r = rng(42);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));
  const out: string[] = [];
  for (let i = 0; i < n; i++) {
    const kprobes = Array.from({ length: int(1, 3) }, (_, k) => {
      const selectors = Array.from({ length: int(1, 3) }, () => ({
        matchArgs: [
          { index: 0, operator: pick(['Prefix', 'Postfix', 'Equal']), values: Array.from({ length: int(1, 8) }, (_, j) => `/var/lib/app${i}/f${j}`) },
          { index: 1, operator: pick(['Mask', 'GT', 'InRange']) === 'InRange' ? 'InRange' : 'Mask', values: [String(int(1, 255))] },
        ],
        matchBinaries: [{ operator: 'In', values: Array.from({ length: int(1, 8) }, (_, j) => `/usr/bin/tool${j}`) }],
        matchNamespaces: [{ namespace: 'Pid', operator: 'NotIn', values: ['host_ns'] }],
        matchActions: [pick([{ action: 'Post', rateLimit: '1m' }, { action: 'Sigkill' }, { action: 'Override', argError: -1 }])],
      }));
      return {
        call: pick(['security_file_open', 'security_file_permission', 'sys_openat', 'tcp_connect']) + (k ? `_${k}` : ''),
        syscall: false,
        args: [
          { index: 0, type: 'file' },
          { index: 1, type: 'int' },
        ],
        selectors,
      };
    });
    out.push(
      stringify({
        apiVersion: 'vigil.dev/v1alpha1',
        kind: 'TracingPolicy',
        metadata: { name: `synthetic-${i}`, generation: 1 },
        spec: { ...(i % 3 === 0 ? { podSelector: { matchLabels: { app: `a${i}` } } } : {}), kprobes },
      }),
    );
  }
  return out;
}

function main(): void {
  const loc = sharedDir();
  if (!loc.exists) {
    console.error(`policy.bench: ${loc.message}`);
    process.exitCode = 1;
    return;
  }
  const corpus = loadCorpus().map((f) => f.text);
  report('policy-schema.corpus', measure(corpus, 30), `${corpus.length} Tetragon example policies x 30 rounds; baseline: YAML parse only`);
  const synthetic = syntheticPolicies(1000);
  const t = measure(synthetic, 5);
  report('policy-schema.synthetic-1000', t, '1,000 generated policies (1-3 kprobes x 1-3 selectors, <= 8 strings and 8 binaries each); baseline: YAML parse only');
  const sum = (xs: number[]): number => xs.reduce((x, y) => x + y, 0);
  console.log(
    JSON.stringify({
      bench: 'policy-schema.synthetic-1000',
      metric: 'policies/s (validate+compile from YAML)',
      value: synthetic.length / (sum(t.perPolicy) / 1000),
      baseline: synthetic.length / (sum(t.perPolicyParse) / 1000),
      ratio: sum(t.perPolicyParse) / sum(t.perPolicy),
      goal: null,
      note: '1,000 / sum of per-policy medians; baseline: YAML parse only',
    }),
  );
}

main();
