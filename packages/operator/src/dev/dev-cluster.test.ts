import { describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { pino } from 'pino';
import { REPO_ROOT } from './crds.js';
import { startDevCluster } from './dev-cluster.js';

const run = promisify(execFile);

describe('vigil dev-cluster', () => {
  it('brings up API server, NATS, operator and a sensor; kubectl shows the example policies refused honestly', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-devc-'));
    const dev = await startDevCluster({ kubeconfigPath: join(dir, 'kc'), policyDir: join(REPO_ROOT, 'examples', 'policies'), nodeName: 'dev.local', sensor: 'simulated', logger: pino({ level: 'silent' }) });
    try {
      expect(dev.applied.sort()).toEqual(['outbound-connect', 'sensitive-file-reads', 'shell-in-container']);
      expect(dev.instructions()).toContain(`export KUBECONFIG=${join(dir, 'kc')}`);
      const env = { ...process.env, KUBECONFIG: join(dir, 'kc') };
      let table = '';
      const end = Date.now() + 15_000;
      while (Date.now() < end) {
        table = (await run('kubectl', ['get', 'tracingpolicies'], { env, timeout: 20_000 })).stdout;
        if ((table.match(/False\s+(enforce|monitor)\s+0\/1/g) ?? []).length === 3) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(table).toMatch(/outbound-connect\s+False\s+enforce\s+0\/1/);
      expect(table).toMatch(/sensitive-file-reads\s+False\s+monitor\s+0\/1/);
      const st = JSON.parse((await run('kubectl', ['get', 'tracingpolicy', 'outbound-connect', '-o', 'jsonpath={.status.nodes}'], { env, timeout: 20_000 })).stdout) as { failures: unknown[] };
      expect(st.failures).toEqual([{ node: 'dev.local', reason: 'Refused', message: 'enforcement engine not available in this build' }]);
    } finally {
      await dev.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
