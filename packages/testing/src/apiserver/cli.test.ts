// The CLI entry `vigil dev-cluster` reuses: serve on a port, write a kubeconfig, keep state in a snapshot.
import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { serve } from './cli.js';
import { http } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('cli serve()', () => {
  it('writes a kubeconfig pointing at the server, with TLS and the token when one is given, and saves the snapshot', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'vigil-cli-'));
    try {
      const kubeconfig = join(dir, 'kc.yaml');
      const snapshot = join(dir, 'state.json');
      const { server } = await serve(['--kubeconfig', kubeconfig, '--snapshot', snapshot, '--token', 'tok']);
      const kc = parse(await readFile(kubeconfig, 'utf8')) as O;
      expect(kc.clusters[0].cluster.server).toBe(server.url);
      expect(server.url).toMatch(/^https:/);
      expect(kc.clusters[0].cluster['certificate-authority-data']).toBe(Buffer.from(server.caCertPem ?? '').toString('base64'));
      expect(kc.users[0].user).toEqual({ token: 'tok' });
      await server.stop();
      const saved = JSON.parse(await readFile(snapshot, 'utf8')) as O;
      expect(Object.keys(saved.objects)).toContain('/namespaces');

      const plain = await serve([]);
      try {
        expect(plain.server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
        expect((await http(plain.server.url, 'GET', '/readyz')).text).toBe('ok');
      } finally {
        await plain.server.stop();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
