// `node dist/apiserver/cli.js [--port N] [--kubeconfig PATH] [--snapshot PATH] [--token T] [--tls]`: serves the test
// API server on 127.0.0.1 until SIGINT/SIGTERM and writes a kubeconfig for kubectl. `vigil dev-cluster` reuses
// `serve()`; a token implies TLS because kubectl sends bearer tokens only over TLS.
import { parseArgs } from 'node:util';
import { startTestApiServer, type TestApiServer } from './server.js';

export interface ServeResult {
  server: TestApiServer;
  kubeconfig: string | undefined;
}

export async function serve(argv: string[]): Promise<ServeResult> {
  const { values } = parseArgs({
    args: argv,
    options: {
      port: { type: 'string', default: '0' },
      kubeconfig: { type: 'string' },
      snapshot: { type: 'string' },
      token: { type: 'string' },
      tls: { type: 'boolean', default: false },
    },
  });
  const server = await startTestApiServer({
    port: Number(values.port),
    tls: values.tls || values.token !== undefined,
    ...(values.snapshot ? { snapshotPath: values.snapshot } : {}),
    ...(values.token ? { auth: { tokens: { [values.token]: { user: 'admin', rules: 'cluster-admin' } } } } : {}),
  });
  if (values.kubeconfig) await server.writeKubeconfig(values.kubeconfig, values.token ? { token: values.token } : {});
  return { server, kubeconfig: values.kubeconfig };
}

async function main(): Promise<void> {
  const { server, kubeconfig } = await serve(process.argv.slice(2));
  process.stdout.write(`${JSON.stringify({ url: server.url, kubeconfig: kubeconfig ?? null })}\n`);
  const stop = (): void => {
    void server.stop().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
