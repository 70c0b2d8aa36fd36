/**
 * The generic hook programs' ABI (bpf/include/abi/generic.h) against the BTF of the built objects: every struct's
 * size and field offsets, and every enum's values, must equal the koffi definitions in generic-layout.ts.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { genericEnums, genericStructs, HOOK_SIZE } from './generic-layout.js';

const OUT = fileURLToPath(new URL('../../../../bpf/.output/', import.meta.url));
const OBJECTS = ['generic_tp.bpf.o', 'generic_selftest.bpf.o'];

interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: Array<{ name: string; bits_offset: number }>;
  values?: Array<{ name: string; val: number }>;
}

function btfTypes(object: string): BtfType[] {
  const json = execFileSync('bpftool', ['btf', 'dump', 'file', `${OUT}${object}`, 'format', 'raw', '-j'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return (JSON.parse(json) as { types: BtfType[] }).types;
}

describe('generic hook ABI layout (BTF vs koffi)', () => {
  for (const object of OBJECTS) {
    describe(object, () => {
      if (!existsSync(`${OUT}${object}`)) {
        it('is built', () => {
          throw new Error(`${OUT}${object} is missing: run make -C bpf`);
        });
        return;
      }
      const types = btfTypes(object);
      const byName = (kind: string, name: string): BtfType | undefined => types.find((t) => t.kind === kind && t.name === name);
      for (const [name, koffiType] of Object.entries(genericStructs)) {
        it(`struct ${name}: size and every field offset match`, () => {
          const t = byName('STRUCT', name);
          expect(t).toBeDefined();
          expect(koffi.sizeof(koffiType)).toBe(t?.size);
          const btfFields = (t?.members ?? []).map((m) => [m.name, m.bits_offset / 8]);
          const koffiFields = Object.keys(koffi.type(koffiType).members ?? {}).map((f) => [f, koffi.offsetof(koffiType, f)]);
          expect(koffiFields).toEqual(btfFields);
        });
      }
      for (const [name, values] of Object.entries(genericEnums)) {
        it(`enum ${name}: every value matches`, () => {
          const t = byName('ENUM', name);
          expect(t).toBeDefined();
          expect(Object.fromEntries((t?.values ?? []).map((v) => [v.name, v.val]))).toEqual(values);
        });
      }
    });
  }

  it('the event header sits at 0 and the args at the documented offset 136', () => {
    expect(HOOK_SIZE.argsOffset).toBe(136);
    expect(HOOK_SIZE.arg).toBe(264);
    expect(HOOK_SIZE.event).toBe(136 + 13 * 264);
  });
});
