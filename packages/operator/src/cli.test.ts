// Runs the real `vigil` binary (packages/operator/dist/cli.js) after building it, as a user or a pre-commit hook would.
import { beforeAll, describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(fileURLToPath(new URL('.', import.meta.url)), '../../..');
const cli = join(root, 'packages', 'operator', 'dist', 'cli.js');
const golden = join(root, 'packages', 'policy-schema', 'src', 'compile', '__golden__');
const vigil = (...args: string[]): ReturnType<typeof spawnSync> => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', cwd: root });

describe('vigil binary', () => {
  beforeAll(() => {
    const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-b', 'packages/policy-schema', 'packages/operator'], { cwd: root, encoding: 'utf8' });
    if (tsc.status !== 0) throw new Error(`build failed:\n${tsc.stdout}${tsc.stderr}`);
  }, 120_000);

  it('prints help listing the policy command', () => {
    const r = vigil('--help');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/policy +validate and compile TracingPolicy files/);
    expect(vigil('policy', '--help').stdout).toContain('vigil policy <command>');
  });

  it('validate exits 0 on valid policies and 1 on an invalid one', () => {
    expect(vigil('policy', 'validate', golden).status).toBe(0);
    const bad = vigil('policy', 'validate', join(root, 'packages', 'policy-schema', 'package.json'));
    expect(bad.status).toBe(1);
    expect(bad.stdout).toContain('package.json: apiVersion: required field apiVersion is missing (add apiVersion)');
  });

  it('compile prints a bundle', () => {
    const r = vigil('policy', 'compile', join(golden, 'file-monitor.yaml'), '--format', 'json');
    expect(r.status).toBe(0);
    expect(JSON.parse(String(r.stdout))).toMatchObject({ policy: { name: 'file-monitor', mode: 'monitor' } });
  });

  it('unknown commands exit 2 with help', () => {
    const r = vigil('frobnicate');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('unknown command "frobnicate"');
  });
});
