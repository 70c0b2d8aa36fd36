/**
 * The kernel/user ABI check: every struct in bpf/include/abi must have, in the BTF of the built objects, the
 * same size and field offsets as the sensor's koffi definitions, and every shared enum the same values. A change
 * on one side only fails here instead of corrupting events at run time.
 */
import { describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { abiEnums, abiStructs } from './layout.js';
import { enforceEnums, enforceStructs } from './enforce-layout.js';

const OUT = fileURLToPath(new URL('../../../../bpf/.output/', import.meta.url));
const OBJECTS = ['process_lifecycle.bpf.o'];
/** Objects of other ABI headers: object → the structs and enums it must carry. */
const OTHER_ABIS: Record<string, { structs: typeof abiStructs; enums: typeof abiEnums }> = {
  'sock_cgroup.bpf.o': { structs: enforceStructs, enums: enforceEnums },
  'exec_kill.bpf.o': { structs: enforceStructs, enums: enforceEnums },
  'open_kill.bpf.o': { structs: enforceStructs, enums: enforceEnums },
};

interface BtfMember {
  name: string;
  bits_offset: number;
}
interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: BtfMember[];
  values?: Array<{ name: string; val: number }>;
}

function btfTypes(object: string): BtfType[] {
  const json = execFileSync('bpftool', ['btf', 'dump', 'file', `${OUT}${object}`, 'format', 'raw', '-j'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return (JSON.parse(json) as { types: BtfType[] }).types;
}

describe('kernel/user ABI layout (BTF of the built objects vs koffi)', () => {
  for (const object of [...OBJECTS, ...Object.keys(OTHER_ABIS)]) {
    describe(object, () => {
      if (!existsSync(`${OUT}${object}`)) {
        it('is built', () => {
          throw new Error(`${OUT}${object} is missing: run make -C bpf`);
        });
        return;
      }
      const types = btfTypes(object);
      const byName = (kind: string, name: string) => types.find((t) => t.kind === kind && t.name === name);

      const abi = OTHER_ABIS[object] ?? { structs: abiStructs, enums: abiEnums };
      for (const [name, koffiType] of Object.entries(abi.structs)) {
        it(`struct ${name}: size and every field offset match`, () => {
          const t = byName('STRUCT', name);
          expect(t).toBeDefined();
          expect(koffi.sizeof(koffiType)).toBe(t?.size);
          const btfFields = (t?.members ?? []).map((m) => [m.name, m.bits_offset / 8]);
          const koffiFields = Object.keys(koffi.type(koffiType).members ?? {}).map((f) => [f, koffi.offsetof(koffiType, f)]);
          expect(koffiFields).toEqual(btfFields);
        });
      }

      for (const [name, values] of Object.entries(abi.enums)) {
        it(`enum ${name}: every value matches`, () => {
          const t = byName('ENUM', name);
          expect(t).toBeDefined();
          expect(Object.fromEntries((t?.values ?? []).map((v) => [v.name, v.val]))).toEqual(values);
        });
      }
    });
  }

  it('detects drift: a koffi struct with a moved field does not match the BTF', () => {
    const types = btfTypes('process_lifecycle.bpf.o');
    const t = types.find((x) => x.kind === 'STRUCT' && x.name === 'vg_exit_event');
    const drifted = koffi.struct({ hdr: abiStructs.vg_event_hdr as never, tid: 'uint32_t', pid: 'uint32_t', exec_ktime: 'uint32_t', exit_code: 'uint32_t', flags: 'uint32_t' });
    const fields = Object.keys(koffi.type(drifted).members ?? {}).map((f) => [f, koffi.offsetof(drifted, f)]);
    expect(fields).not.toEqual((t?.members ?? []).map((m) => [m.name, m.bits_offset / 8]));
  });
});
