/**
 * The README's promise after set-up: `pnpm exec vigil-sensor` and `pnpm exec vigil` work from the repository root.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));

function pnpmExec(args: string[]) {
  return spawnSync('pnpm', ['exec', ...args], { cwd: ROOT, encoding: 'utf8', timeout: 60_000, env: { ...process.env, COREPACK_INTEGRITY_KEYS: '0' } });
}

describe('workspace bins', () => {
  it('pnpm exec vigil-sensor --help', () => {
    const r = pnpmExec(['vigil-sensor', '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^vigil-sensor — /);
  });

  it('pnpm exec vigil policy validate examples/policies', () => {
    const r = pnpmExec(['vigil', 'policy', 'validate', 'examples/policies']);
    expect(r.stdout + r.stderr).toMatch(/all valid/);
    expect(r.status).toBe(0);
  });
});
