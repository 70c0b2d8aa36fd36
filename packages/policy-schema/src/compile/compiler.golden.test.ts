// Golden tests: exact bundle bytes for representative policies on two node profiles. Regenerate after an
// intended grammar change with UPDATE_GOLDEN=1 pnpm test packages/policy-schema/src/compile (and review the diff).
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePolicy } from '../validate.js';
import { bundleToHex } from './bundle.js';
import { compilePolicy } from './compiler.js';
import { fullNodeProfile, tracepointOnlyNodeProfile, type NodeProfile } from './node-profile.js';

const dir = join(fileURLToPath(new URL('.', import.meta.url)), '__golden__');
const profiles: Record<string, () => NodeProfile> = { full: fullNodeProfile, 'tp-only': tracepointOnlyNodeProfile };
const inputs = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

describe('compiler golden bytes', () => {
  it('has golden inputs', () => expect(inputs.length).toBeGreaterThanOrEqual(4));
  for (const input of inputs) {
    for (const [pname, profile] of Object.entries(profiles)) {
      it(`${input} on ${pname}`, () => {
        const bundle = compilePolicy(parsePolicy(readFileSync(join(dir, input), 'utf8')), profile());
        const got = bundleToHex(bundle);
        const file = join(dir, input.replace(/\.yaml$/, `.${pname}.hex`));
        if (process.env['UPDATE_GOLDEN'] === '1' || !existsSync(file)) {
          if (process.env['CI'] === 'true') throw new Error(`golden file ${file} missing in CI`);
          writeFileSync(file, got);
        }
        expect(got).toBe(readFileSync(file, 'utf8'));
      });
    }
  }
});
