// The real kubectl against the test API server: apply (client- and server-side), get with server-side printer
// columns, -o json / jsonpath, label, wait --for=condition, delete. kubectl comes from $KUBECTL or PATH
// (scripts/setup.sh installs one); without it these tests are skipped with the reason printed.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile, spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { promisify } from 'node:util';
import { startTestApiServer, type TestApiServer } from './server.js';
import { WIDGET_CRD } from './testkit.js';

const run = promisify(execFile);

function findKubectl(): string | undefined {
  const candidates = [process.env.KUBECTL, ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'kubectl'))];
  for (const c of candidates) {
    if (!c) continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return undefined;
}

const kubectlPath = findKubectl();
if (!kubectlPath) console.warn('kubectl tests skipped: no kubectl on PATH and $KUBECTL unset (scripts/setup.sh installs one)');
const d = kubectlPath ? describe : describe.skip;

let s: TestApiServer;
let dir: string;
let env: NodeJS.ProcessEnv;

async function kubectl(...args: string[]): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(kubectlPath!, args, { env, timeout: 20_000 }); // eslint-disable-line @typescript-eslint/no-non-null-assertion
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`kubectl ${args.join(' ')} failed: ${err.stderr ?? err.message}`);
  }
}

async function kubectlFails(...args: string[]): Promise<string> {
  try {
    await run(kubectlPath!, args, { env, timeout: 20_000 }); // eslint-disable-line @typescript-eslint/no-non-null-assertion
  } catch (e) {
    return (e as { stderr: string }).stderr;
  }
  throw new Error(`kubectl ${args.join(' ')} unexpectedly succeeded`);
}

async function manifest(name: string, text: string): Promise<string> {
  const p = join(dir, name);
  await writeFile(p, text);
  return p;
}

d('kubectl', () => {
  beforeAll(async () => {
    s = await startTestApiServer();
    dir = await mkdtemp(join(tmpdir(), 'vigil-kubectl-'));
    const kubeconfig = await s.writeKubeconfig(join(dir, 'kubeconfig'));
    env = { PATH: process.env.PATH ?? '', HOME: dir, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(dir, 'cache') };
    await writeFile(join(dir, 'crd.json'), JSON.stringify(WIDGET_CRD));
  });
  afterAll(async () => {
    await s.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('applies a CRD and a custom resource, then prints the printer columns like a real cluster', async () => {
    expect((await kubectl('apply', '-f', join(dir, 'crd.json'))).stdout).toBe('customresourcedefinition.apiextensions.k8s.io/widgets.example.com created\n');
    const w = await manifest('w.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: alpha\nspec:\n  size: 3\n');
    expect((await kubectl('apply', '-f', w)).stdout).toBe('widget.example.com/alpha created\n');
    expect((await kubectl('apply', '-f', w)).stdout).toBe('widget.example.com/alpha unchanged\n');
    const out = (await kubectl('get', 'widgets')).stdout.split('\n');
    expect(out[0]).toMatch(/^NAME\s+READY\s+SIZE\s+AGE$/);
    expect(out[1]).toMatch(/^alpha\s+3\s+\d+s$/);
    const wide = (await kubectl('get', 'wd', '-o', 'wide')).stdout.split('\n');
    expect(wide[0]).toMatch(/^NAME\s+READY\s+SIZE\s+MODE\s+AGE$/);
    expect(wide[1]).toMatch(/^alpha\s+3\s+safe\s+\d+s$/);
    const table = s.requests.filter((r) => r.path === '/apis/example.com/v1/namespaces/default/widgets' && r.verb === 'list').pop();
    expect(table?.accept).toContain('as=Table');
  });

  it('get -o json and -o jsonpath read the stored object (with defaults applied)', async () => {
    const obj = JSON.parse((await kubectl('get', 'widget', 'alpha', '-o', 'json')).stdout) as { spec: { mode: string }; metadata: { uid: string } };
    expect(obj.spec.mode).toBe('safe');
    expect((await kubectl('get', 'widget', 'alpha', '-o', 'jsonpath={.metadata.uid}')).stdout).toBe(obj.metadata.uid);
  });

  it('client-side apply of a change sends a merge patch and bumps generation', async () => {
    const w = await manifest('w2.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: alpha\nspec:\n  size: 4\n');
    expect((await kubectl('apply', '-f', w)).stdout).toBe('widget.example.com/alpha configured\n');
    const patch = s.requests.filter((r) => r.method === 'PATCH').pop();
    expect(patch?.contentType).toBe('application/merge-patch+json');
    expect((await kubectl('get', 'widget', 'alpha', '-o', 'jsonpath={.metadata.generation}/{.spec.size}')).stdout).toBe('2/4');
  });

  it('label adds labels and shows them', async () => {
    expect((await kubectl('label', 'widget', 'alpha', 'team=red')).stdout).toBe('widget.example.com/alpha labeled\n');
    const out = (await kubectl('get', 'widgets', '-l', 'team=red', '--show-labels')).stdout.split('\n');
    expect(out[1]).toMatch(/^alpha\s+4\s+\d+s\s+team=red$/);
    expect(await kubectlFails('label', 'widget', 'alpha', 'team=blue')).toContain("'team' already has a value (red), and --overwrite is false");
  });

  it('wait --for=condition=Ready returns once the status subresource reports it, and READY shows True', async () => {
    const waiter = new Promise<{ code: number | null; out: string }>((resolve) => {
      const p = spawn(kubectlPath!, ['wait', '--for=condition=Ready', 'widget/alpha', '--timeout=15s'], { env }); // eslint-disable-line @typescript-eslint/no-non-null-assertion
      let out = '';
      p.stdout.on('data', (b: Buffer) => (out += b.toString()));
      p.stderr.on('data', (b: Buffer) => (out += b.toString()));
      p.on('close', (code) => resolve({ code, out }));
    });
    await new Promise((r) => setTimeout(r, 700));
    await kubectl('patch', 'widget', 'alpha', '--subresource=status', '--type=merge', '-p', '{"status":{"conditions":[{"type":"Ready","status":"True","reason":"Compiled"}]}}');
    const res = await waiter;
    expect(res).toEqual({ code: 0, out: 'widget.example.com/alpha condition met\n' });
    expect((await kubectl('get', 'widgets')).stdout.split('\n')[1]).toMatch(/^alpha\s+True\s+4\s+\d+s$/);
  });

  it('get --watch prints rows as the server streams them', async () => {
    const p = spawn(kubectlPath!, ['get', 'widgets', '--watch', '--output-watch-events'], { env }); // eslint-disable-line @typescript-eslint/no-non-null-assertion
    let out = '';
    p.stdout.on('data', (b: Buffer) => (out += b.toString()));
    try {
      const deadline = Date.now() + 10_000;
      while (!out.includes('alpha') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      await kubectl('apply', '-f', await manifest('gamma.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: gamma\nspec:\n  size: 6\n'));
      while (!out.includes('gamma') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      p.kill();
    }
    const lines = out.trim().split('\n');
    expect(lines[0]).toMatch(/^EVENT\s+NAME\s+READY\s+SIZE\s+AGE$/);
    expect(lines[1]).toMatch(/^ADDED\s+alpha\s+True\s+4\s+\d+s$/);
    expect(lines[2]).toMatch(/^ADDED\s+gamma\s+6\s+\d+s$/);
    await kubectl('delete', 'widget', 'gamma');
  });

  it('server-side apply records the manager and reports conflicts the way kubectl expects', async () => {
    const w = await manifest('ssa.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: beta\nspec:\n  size: 2\n');
    expect((await kubectl('apply', '--server-side', '-f', w)).stdout).toBe('widget.example.com/beta serverside-applied\n');
    const w2 = await manifest('ssa2.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: beta\nspec:\n  size: 5\n');
    const err = await kubectlFails('apply', '--server-side', '--field-manager=intruder', '-f', w2);
    expect(err).toContain('Apply failed with 1 conflict: conflict with "kubectl": .spec.size');
    expect((await kubectl('apply', '--server-side', '--field-manager=intruder', '--force-conflicts', '-f', w2)).stdout).toBe('widget.example.com/beta serverside-applied\n');
    const mf = (await kubectl('get', 'widget', 'beta', '--show-managed-fields', '-o', 'jsonpath={range .metadata.managedFields[*]}{.manager}:{.operation};{end}')).stdout;
    expect(mf).toContain('intruder:Apply');
  });

  it('works with built-in types: pods (strategic merge patch), namespaces and configmaps (protobuf bodies), leases', async () => {
    const pod = await manifest('pod.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  containers:\n  - name: c\n    image: nginx:1\n');
    await kubectl('apply', '-f', pod);
    const pod2 = await manifest('pod2.yaml', 'apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels:\n    app: web\nspec:\n  containers:\n  - name: c\n    image: nginx:2\n');
    expect((await kubectl('apply', '-f', pod2)).stdout).toBe('pod/web configured\n');
    expect(s.requests.filter((r) => r.method === 'PATCH').pop()?.contentType).toBe('application/strategic-merge-patch+json');
    expect((await kubectl('get', 'pod', 'web', '-o', 'jsonpath={.spec.containers[*].image}')).stdout).toBe('nginx:2');
    const pods = (await kubectl('get', 'pods')).stdout.split('\n');
    expect(pods[0]).toMatch(/^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE$/);
    expect(pods[1]).toMatch(/^web\s+0\/1\s+Pending\s+0\s+\d+s$/);
    await kubectl('create', 'namespace', 'vigil');
    expect((await kubectl('get', 'ns', 'vigil')).stdout.split('\n')[1]).toMatch(/^vigil\s+Active\s+\d+s$/);
    // kubectl's generators send protobuf bodies
    expect(s.requests.filter((r) => r.method === 'POST').pop()?.contentType).toBe('application/vnd.kubernetes.protobuf');
    await kubectl('create', 'configmap', 'cfg', '-n', 'vigil', '--from-literal=level=debug');
    expect((await kubectl('get', 'cm', 'cfg', '-n', 'vigil', '-o', 'jsonpath={.data.level}')).stdout).toBe('debug');
    await kubectl('create', '-f', await manifest('lease.yaml', 'apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: vigil-operator\n  namespace: vigil\nspec:\n  holderIdentity: op-0\n'));
    expect((await kubectl('get', 'leases', '-n', 'vigil')).stdout.split('\n')[1]).toMatch(/^vigil-operator\s+op-0\s+\d+s$/);
  });

  it('delete removes objects (waiting for finalizers to be honoured first)', async () => {
    expect((await kubectl('delete', 'widget', 'beta')).stdout).toBe('widget.example.com "beta" deleted\n');
    expect(await kubectlFails('get', 'widget', 'beta')).toContain('Error from server (NotFound): widgets.example.com "beta" not found');
    const held = await manifest('held.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: held\n  finalizers: ["example.com/hold"]\nspec:\n  size: 1\n');
    await kubectl('apply', '-f', held);
    expect((await kubectl('delete', 'widget', 'held', '--wait=false')).stdout).toBe('widget.example.com "held" deleted\n');
    expect((await kubectl('get', 'widget', 'held', '-o', 'jsonpath={.metadata.deletionTimestamp}')).stdout).toMatch(/Z$/);
    await kubectl('patch', 'widget', 'held', '--type=merge', '-p', '{"metadata":{"finalizers":null}}');
    expect(await kubectlFails('get', 'widget', 'held')).toContain('NotFound');
  });

  it('shows validation errors as kube-apiserver words them', async () => {
    const bad = await manifest('bad.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: bad\nspec:\n  size: 0\n  mode: slow\n');
    const err = await kubectlFails('apply', '-f', bad);
    expect(err).toContain('The Widget "bad" is invalid:');
    expect(err).toContain('spec.mode: Unsupported value: "slow": supported values: "fast", "safe"');
    expect(err).toContain('spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1');
    const unknown = await manifest('unknown.yaml', 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: unk\nspec:\n  size: 1\n  colour: red\n');
    expect(await kubectlFails('apply', '-f', unknown)).toContain('Widget in version "v1" cannot be handled as a Widget: strict decoding error: unknown field "spec.colour"');
    const cm = await manifest('cm.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: typo\ndatas:\n  a: b\n');
    expect(await kubectlFails('apply', '-f', cm)).toContain('ConfigMap in version "v1" cannot be handled as a ConfigMap: strict decoding error: unknown field "datas"');
  });
});

d('kubectl with TLS, bearer tokens and RBAC', () => {
  let secured: TestApiServer;
  let sdir: string;
  const as = async (kubeconfig: string, ...args: string[]) => run(kubectlPath!, args, { env: { ...env, KUBECONFIG: kubeconfig, KUBECACHEDIR: join(sdir, 'cache') }, timeout: 20_000 }); // eslint-disable-line @typescript-eslint/no-non-null-assertion

  beforeAll(async () => {
    secured = await startTestApiServer({
      tls: true,
      auth: {
        tokens: {
          admin: { user: 'admin', rules: 'cluster-admin' },
          sensor: { user: 'system:serviceaccount:vigil:sensor', rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['pods'] }] },
        },
      },
    });
    sdir = await mkdtemp(join(tmpdir(), 'vigil-kubectl-tls-'));
  });
  afterAll(async () => {
    await secured.stop();
    await rm(sdir, { recursive: true, force: true });
  });

  it('verifies the server certificate from the kubeconfig and enforces the token rules', async () => {
    expect(secured.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const admin = await secured.writeKubeconfig(join(sdir, 'admin'), { token: 'admin' });
    const sensor = await secured.writeKubeconfig(join(sdir, 'sensor'), { token: 'sensor' });
    expect((await as(admin, 'get', 'ns', '-o', 'name')).stdout).toContain('namespace/default');
    expect((await as(sensor, 'auth', 'can-i', 'list', 'pods', '-A')).stdout).toBe('yes\n');
    const no = await as(sensor, 'auth', 'can-i', 'delete', 'pods').catch((e: { stdout: string }) => e);
    expect((no as { stdout: string }).stdout).toBe('no\n');
    expect((await as(sensor, 'get', 'pods', '-A')).stderr).toContain('No resources found');
    const denied = await as(sensor, 'get', 'namespaces').catch((e: { stderr: string }) => e);
    expect((denied as { stderr: string }).stderr).toContain('Error from server (Forbidden): namespaces is forbidden: User "system:serviceaccount:vigil:sensor" cannot list resource "namespaces" in API group "" at the cluster scope');
    const bogus = await secured.writeKubeconfig(join(sdir, 'bogus'), { token: 'bogus' });
    const unauth = await as(bogus, 'get', 'pods').catch((e: { stderr: string }) => e);
    expect((unauth as { stderr: string }).stderr).toContain('Unauthorized');
  });
});
