/**
 * Conformance: every Tetragon example policy in ../shared/conformance/tetragon-examples goes through
 * probe → compile (with this node's profile) → apply through the composite applier (attach) → remove (detach) on
 * this kernel, and the outcome per policy (enforcing / observing / refused + reason) is written to
 * $VIGIL_CONFORMANCE_OUT (default bpf/.output/conformance/<kernel release>.json), from which
 * tools/enforcement-matrix/render.js builds docs/enforcement-matrix.md. A policy the sensor claims to support must
 * not fail to load (no verifier failure), and removing it must leave no pin behind.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { release } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { compilePolicy, validatePolicy, type TracingPolicy } from '@vigil/policy-schema';
import { parseAllDocuments } from 'yaml';
import { FallbackEnforcementEngine } from '../enforce/engine.js';
import { CompositeApplier, policyState } from '../enforce/composite.js';
import { BPF_OUT } from '../mechanisms/test-kernel.js';
import { probeKernel } from '../probe/probe.js';
import { nodeProfileFromCapabilities } from '../transport/node-profile.js';
import { encodeToken } from '../transport/protocol.js';
import { GenericHookEngine } from './engine.js';
import { withTracepointFormats } from './tracefs.js';

const REPO = join(BPF_OUT, '..', '..');
const EXAMPLES = join(REPO, '..', 'shared', 'conformance', 'tetragon-examples');

export interface ConformanceRow {
  file: string;
  policy: string;
  state: 'enforcing' | 'observing' | 'refused' | 'invalid';
  reason: string;
  hooks: Array<{ path: string; hook: string; mechanism: string; state: string; reason: string }>;
}

function policyFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...policyFiles(p));
    else if (/\.ya?ml$/.test(name)) out.push(p);
  }
  return out;
}

describe('conformance: Tetragon example policies, probe → compile → attach → detach (real kernel)', () => {
  it('applies and removes every example policy, recording enforcing / observing / refused', async () => {
    if (!existsSync(EXAMPLES)) {
      process.stdout.write(`conformance policies are missing: ${EXAMPLES} does not exist; skipping\n`);
      return;
    }
    const caps = probeKernel({ probeObject: join(BPF_OUT, 'probe.bpf.o') });
    const pinRoot = `/sys/fs/bpf/vigil-conformance-${process.pid}`;
    const rows: ConformanceRow[] = [];
    const loadFailures: string[] = [];
    const generic = new GenericHookEngine({ objectsDir: BPF_OUT, pinRoot });
    const fallback = new FallbackEnforcementEngine({ objectsDir: BPF_OUT, pinRoot });
    const composite = new CompositeApplier(fallback, generic);
    try {
      for (const file of policyFiles(EXAMPLES)) {
        const rel = relative(EXAMPLES, file);
        const docs = parseAllDocuments(readFileSync(file, 'utf8'));
        for (const doc of docs) {
          const raw = doc.toJS() as Record<string, unknown> | null;
          if (!raw || typeof raw !== 'object') continue;
          const name = String((raw.metadata as Record<string, unknown> | undefined)?.name ?? rel);
          const v = validatePolicy(raw);
          if (!v.ok) {
            rows.push({ file: rel, policy: name, state: 'invalid', reason: v.issues.map((i) => `${i.path}: ${i.reason}`).join('; '), hooks: [] });
            continue;
          }
          const policy = v.policy as TracingPolicy;
          const profile = withTracepointFormats(nodeProfileFromCapabilities(caps), [policy]);
          const bundle = compilePolicy(policy, profile);
          const outcome = await composite.apply(bundle);
          const st = policyState(outcome);
          rows.push({ file: rel, policy: name, state: st.state, reason: st.reason, hooks: (outcome.hooks ?? []).map(({ path, hook, mechanism, state, reason }) => ({ path, hook, mechanism, state, reason })) });
          // the verifier refusing a program of a policy the sensor planned to run; attach errors of this kernel
          // (EBUSY on a traced function, …) are the node's refusal and show in the table with their reason
          if (outcome.result === 'failed' && /cannot load BPF object/.test(outcome.reason)) loadFailures.push(`${rel}: ${outcome.reason}`);
          await composite.remove(bundle.version.policyUid);
          const left = existsSync(join(pinRoot, 'generic')) ? readdirSync(join(pinRoot, 'generic')) : [];
          expect({ file: rel, pinsLeft: left.filter((d) => d === encodeToken(bundle.version.policyUid)) }).toEqual({ file: rel, pinsLeft: [] });
        }
      }
    } finally {
      await fallback.uninstall();
      await generic.uninstall();
      // shared node state the engines created (state/vg_procs_v1, …) goes too: nothing of the test stays in bpffs
      rmSync(pinRoot, { recursive: true, force: true });
    }
    const out = process.env.VIGIL_CONFORMANCE_OUT ?? join(BPF_OUT, 'conformance', `${release()}.json`);
    mkdirSync(dirname(out), { recursive: true });
    writeFileSync(out, `${JSON.stringify({ kernel: release(), capabilities: Object.fromEntries(caps.map((c) => [c.id, c.available])), rows }, null, 1)}\n`);
    const count = (s: string) => rows.filter((r) => r.state === s).length;
    process.stdout.write(`conformance on ${release()}: ${rows.length} policies, ${count('enforcing')} enforcing, ${count('observing')} observing, ${count('refused')} refused, ${count('invalid')} invalid → ${out}\n`);
    expect(rows.length).toBeGreaterThan(0);
    // A policy the sensor claims to run (every hook routed and planned) must load: no verifier failure.
    expect(loadFailures).toEqual([]);
  }, 600_000);
});
