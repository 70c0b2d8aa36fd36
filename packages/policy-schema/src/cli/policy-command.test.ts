import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EXIT_INVALID, EXIT_OK, EXIT_USAGE, runPolicyCommand } from './policy-command.js';

function run(argv: string[]): { code: number; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  const code = runPolicyCommand(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const golden = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'compile', '__golden__');

describe('vigil policy validate', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
  mkdirSync(join(dir, 'nested'));
  writeFileSync(join(dir, 'good.yaml'), 'apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: good}\nspec: {}\n');
  writeFileSync(
    join(dir, 'nested', 'bad.yaml'),
    'apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata: {name: bad}\nspec:\n  kprobes:\n  - call: f\n    syscall: false\n    selectors:\n    - {}\n    - matchArgs:\n      - {index: 0, operator: Prefx, values: [a]}\n---\napiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: ok}\nspec: {}\n',
  );
  writeFileSync(join(dir, 'notes.txt'), 'not a policy');

  it('exits 0 when every file is valid', () => {
    const r = run(['validate', join(dir, 'good.yaml'), golden]);
    expect(r.code).toBe(EXIT_OK);
    expect(r.out).toEqual([]);
    expect(r.err.join('\n')).toContain('all valid');
  });

  it('exits 1 and prints file: path: reason (hint) for every problem, searching directories', () => {
    const r = run(['validate', dir]);
    expect(r.code).toBe(EXIT_INVALID);
    expect(r.out).toEqual([
      `${join(dir, 'nested', 'bad.yaml')} (document 1): spec.kprobes[0].selectors[1].matchArgs[0].operator: "Prefx" is not an allowed value (did you mean Prefix? allowed: Equal, NotEqual, Prefix, NotPrefix, Postfix, NotPostfix, GreaterThan, LessThan, GT, LT, Mask, SPort, NotSPort, SPortPriv, NotSportPriv, DPort, NotDPort, DPortPriv, NotDPortPriv, SAddr, NotSAddr, DAddr, NotDAddr, Protocol, Family, State, InMap, NotInMap, CapabilitiesGained, InRange, NotInRange, SubString, SubStringIgnCase, CelExpr, FileType, NotFileType)`,
    ]);
    expect(r.err.join('\n')).toContain('2 file(s), 3 document(s): 1 invalid');
  });

  it('exits 2 on usage errors and unreadable paths', () => {
    expect(run(['validate']).code).toBe(EXIT_USAGE);
    expect(run(['validate', join(dir, 'missing.yaml')]).err[0]).toContain('ENOENT');
    expect(run(['nope']).code).toBe(EXIT_USAGE);
    expect(run(['--help']).out[0]).toContain('Usage: vigil policy');
  });

  it('reports a named file that holds no policy', () => {
    const r = run(['validate', join(dir, 'notes.txt')]);
    expect(r.code).toBe(EXIT_INVALID);
    expect(r.out[0]).toContain('notes.txt: (document): a policy document must be a mapping');
    writeFileSync(join(dir, 'empty.yaml'), '# nothing\n');
    expect(run(['validate', join(dir, 'empty.yaml')]).out[0]).toContain('no policy document found');
  });

  afterAll(() => rmSync(dir, { recursive: true, force: true }));
});

describe('vigil policy compile', () => {
  it('prints the bundle as JSON by default', () => {
    const r = run(['compile', join(golden, 'net-connect.yaml')]);
    expect(r.code).toBe(EXIT_OK);
    const b = JSON.parse(r.out.join('\n')) as { version: { policyUid: string; grammarVersion: number }; hooks: { mechanism: string }[]; maps: Record<string, unknown[]> };
    expect(b.version).toMatchObject({ policyUid: 'shop/web-egress', grammarVersion: 1 });
    expect(b.hooks[0]?.mechanism).toBe('fentry');
    expect(b.maps['vg_cidr4']).toHaveLength(3);
  });

  it('prints hex lines identical to the golden file', async () => {
    const { readFileSync } = await import('node:fs');
    const r = run(['compile', join(golden, 'exec-deny.yaml'), '--node-profile', 'tracepoint-only', '--format', 'hex']);
    expect(r.code).toBe(EXIT_OK);
    expect(`${r.out.join('\n')}\n`).toBe(readFileSync(join(golden, 'exec-deny.tp-only.hex'), 'utf8'));
  });

  it('reads a NodeProfile file, and reports refusals on stderr', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-np-'));
    try {
      const profile = join(dir, 'node.yaml');
      writeFileSync(profile, 'grammarVersion: 1\nmechanisms: {kprobe: false, kprobeOverride: false, fentry: false, lsm: false, tracepoint: true, tpBtf: false, rawTp: true, uprobe: true, cgroupSock: true, fanotify: false, bpfSendSignal: true, taskIter: false}\n');
      const r = run(['compile', join(golden, 'exec-deny.yaml'), '--node-profile', profile]);
      expect(r.code).toBe(EXIT_OK);
      expect(r.err.join('\n')).toContain('spec.lsmhooks[0]: not attached on this node: BPF LSM is not available');
      writeFileSync(profile, 'grammarVersion: 1\nmechanisms: {}\n');
      const bad = run(['compile', join(golden, 'exec-deny.yaml'), '--node-profile', profile]);
      expect(bad.code).toBe(EXIT_USAGE);
      expect(bad.err[0]).toContain('mechanisms.kprobe');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('exits 1 with the validation errors of an invalid policy, 2 on bad options', () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-bad-'));
    try {
      const f = join(dir, 'p.yaml');
      writeFileSync(f, 'apiVersion: vigil.dev/v1alpha1\nkind: TracingPolicy\nmetadata: {name: p}\nspec: {kprobes: [{}]}\n');
      const r = run(['compile', f]);
      expect(r.code).toBe(EXIT_INVALID);
      expect(r.out).toEqual([`${f}: spec.kprobes[0].call: required field call is missing (add call)`]);
      expect(run(['compile', f, '--format', 'xml']).code).toBe(EXIT_USAGE);
      expect(run(['compile']).code).toBe(EXIT_USAGE);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
