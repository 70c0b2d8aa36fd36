/**
 * The in-kernel selector interpreter (bpf/lib/selector.h, generic.h), byte-exact against the policy compiler:
 * each case compiles a small policy with compilePolicy, installs the bundle's bytes as the production engine
 * does, and drives the real hook body through BPF_PROG_TEST_RUN with args this test controls. Every operator
 * family has a matching and a non-matching hit; the effect checked is the event (or its absence), its fields,
 * the override value and the counters.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, closeSync, openSync, readlinkSync, mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACTION, compilePolicy, fullNodeProfile, parsePolicy, type Bundle } from '@vigil/policy-schema';
import { HookFlags } from '../abi/generic-layout.js';
import { GenericHarness, type HookRecord } from './selftest-harness.js';

const OBJ = fileURLToPath(new URL('../../../../bpf/.output/generic_selftest.bpf.o', import.meta.url));

function compile(spec: string): Bundle {
  const text = `apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: selftest\nspec:\n${spec}`;
  return compilePolicy(parsePolicy(text), fullNodeProfile());
}

/** One kprobe hook with `args` (YAML flow list) and one selector (YAML, indented under `selectors:`). */
function hook(args: string, selector: string, extra = ''): Bundle {
  return compile(`  kprobes:\n  - call: vg_selftest_fn\n    syscall: false\n    args: ${args}\n${extra}    selectors:\n${selector}`);
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);
function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(port, 2);
  ip.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
  return b;
}
function nsInode(kind: string): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/self/ns/${kind}`))?.[1]);
}

describe('generic selector interpreter (real kernel)', () => {
  let h: GenericHarness;
  let gen: 0 | 1 = 0;
  let dir: string;

  beforeAll(() => {
    if (!existsSync(OBJ)) throw new Error(`${OBJ} is missing: run make -C bpf`);
    h = GenericHarness.load(OBJ);
    dir = mkdtempSync(join(tmpdir(), 'vg-selftest-'));
    h.events();
  });
  afterAll(() => {
    h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Installs the bundle into the other generation and switches (every case runs on fresh maps). */
  function use(b: Bundle): void {
    gen = gen === 0 ? 1 : 0;
    h.install(b, gen);
    h.events();
  }
  function hits(args: ReadonlyArray<number | bigint | Buffer>, o: Parameters<GenericHarness['run']>[2] = {}): HookRecord[] {
    h.run(1, args, o);
    return h.events();
  }
  function expectMatch(args: ReadonlyArray<number | bigint | Buffer>, o: Parameters<GenericHarness['run']>[2] = {}): HookRecord {
    const ev = hits(args, o);
    expect(ev).toHaveLength(1);
    return ev[0] as HookRecord;
  }
  function expectNoMatch(args: ReadonlyArray<number | bigint | Buffer>, o: Parameters<GenericHarness['run']>[2] = {}): void {
    expect(hits(args, o)).toHaveLength(0);
  }

  it('int Equal / NotEqual on a signed int, with the event carrying the value and the process header', () => {
    use(hook('[{index: 0, type: int}, {index: 1, type: int}]', '    - matchArgs:\n      - {index: 1, operator: Equal, values: ["-5", "7"]}\n'));
    const ev = expectMatch([3, -5]);
    expect(ev).toMatchObject({ hookId: 1, selector: 1, action: ACTION.values.Post, pid: process.pid, generation: gen });
    expect(ev.args.map((a) => a.data.readBigInt64LE(0))).toEqual([3n, -5n]);
    expect(ev.comm.length).toBeGreaterThan(0);
    expectMatch([3, 7]);
    expectNoMatch([3, 6]);
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: NotEqual, values: ["1"]}\n'));
    expectMatch([2]);
    expectNoMatch([1]);
  });
});
