/**
 * charts/vigil without a helm binary: the templates use only `{{ .Values.x }}`, `{{ .Release.Namespace }}` and
 * `{{ .Chart.* }}` substitutions (no control flow), so this test renders them with values.yaml, parses every
 * document as YAML and checks what the chart promises: CRDs identical to crds/, least-privilege RBAC, the
 * sensor's host mounts and capabilities, the operator's leader election.
 */
import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse, parseAllDocuments } from 'yaml';
import { OPERATOR_HELP } from '../cli/operator-command.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const CHART = join(ROOT, 'charts', 'vigil');
type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function lookup(scope: Record<string, unknown>, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), scope);
}

function render(text: string, file: string): string {
  const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Record<string, unknown>;
  const scope = { Values: values, Release: { Namespace: 'vigil-system', Name: 'vigil' }, Chart: { ...chart, AppVersion: chart['appVersion'] } };
  return text.replace(/\{\{-?\s*([^}]*?)\s*-?\}\}/g, (_m, expr: string) => {
    const ref = /^\.([A-Za-z][\w.]*)$/.exec(expr);
    if (!ref) throw new Error(`${file}: template expression {{ ${expr} }} is beyond what this test renders; keep the chart simple`);
    const v = lookup(scope, ref[1] as string);
    if (v === undefined || (typeof v === 'object' && v !== null)) throw new Error(`${file}: {{ ${expr} }} is not a scalar value`);
    return String(v);
  });
}

function renderAll(): Doc[] {
  const docs: Doc[] = [];
  for (const f of readdirSync(join(CHART, 'templates')).filter((x) => x.endsWith('.yaml'))) {
    for (const d of parseAllDocuments(render(readFileSync(join(CHART, 'templates', f), 'utf8'), f))) {
      if (d.errors.length) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
      const js = d.toJS() as Doc | null;
      if (js) docs.push(js);
    }
  }
  return docs;
}

describe('charts/vigil', () => {
  const docs = renderAll();
  const find = (kind: string, name: string): Doc => {
    const d = docs.find((x) => x['kind'] === kind && x['metadata']?.name === name);
    if (!d) throw new Error(`no ${kind} ${name}`);
    return d;
  };

  it('is a valid v2 chart whose CRDs are the generated ones', () => {
    const chart = parse(readFileSync(join(CHART, 'Chart.yaml'), 'utf8')) as Doc;
    expect(chart).toMatchObject({ apiVersion: 'v2', name: 'vigil' });
    for (const f of readdirSync(join(ROOT, 'crds'))) expect(readFileSync(join(CHART, 'crds', f), 'utf8')).toBe(readFileSync(join(ROOT, 'crds', f), 'utf8'));
    expect(docs.map((d) => `${d['kind']}/${d['metadata']?.name}`).sort()).toEqual(
      [
        'ClusterRole/vigil-operator',
        'ClusterRoleBinding/vigil-operator',
        'DaemonSet/vigil-sensor',
        'Deployment/vigil-operator',
        'Role/vigil-operator-leader-election',
        'RoleBinding/vigil-operator-leader-election',
        'ServiceAccount/vigil-operator',
        'ServiceAccount/vigil-sensor',
      ].sort(),
    );
  });

  it('pnpm gen --check fails when a chart CRD copy drifts from crds/ or the chart ships a CRD nobody generates', () => {
    const tmp = mkdtempSync(join(tmpdir(), 'vigil-gen-check-'));
    try {
      // A checkout with only the generated files, as they are committed.
      for (const d of ['crds', 'charts/vigil/crds', 'docs', 'bpf/include/abi']) mkdirSync(join(tmp, d), { recursive: true });
      cpSync(join(ROOT, 'crds'), join(tmp, 'crds'), { recursive: true });
      cpSync(join(CHART, 'crds'), join(tmp, 'charts/vigil/crds'), { recursive: true });
      cpSync(join(ROOT, 'docs/policy-limits.md'), join(tmp, 'docs/policy-limits.md'));
      cpSync(join(ROOT, 'bpf/include/abi/policy_enums.h'), join(tmp, 'bpf/include/abi/policy_enums.h'));
      const check = () => spawnSync(process.execPath, [join(ROOT, 'tools/gen/run.js'), '--check', '--root', tmp], { encoding: 'utf8', timeout: 120_000 });
      const clean = check();
      expect(clean.stderr).toContain('everything up to date');
      expect(clean.status).toBe(0);

      const copy = readdirSync(join(tmp, 'charts/vigil/crds'))[0] as string;
      appendFileSync(join(tmp, 'charts/vigil/crds', copy), '# edited by hand\n');
      writeFileSync(join(tmp, 'charts/vigil/crds', 'old-kind.yaml'), 'kind: CustomResourceDefinition\n');
      const drift = check();
      expect(drift.status).toBe(1);
      expect(drift.stderr).toContain(`gen: charts/vigil/crds/${copy} is stale`);
      expect(drift.stderr).toContain('gen: charts/vigil/crds/old-kind.yaml is not generated from crds/ (remove it)');
      expect(drift.stderr).not.toMatch(/gen: crds\/.* is stale/);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
  }, 150_000);

  it('grants the operator read access plus status and its Lease only, and the sensor nothing', () => {
    const rules = find('ClusterRole', 'vigil-operator')['rules'] as Doc[];
    const writes = rules.filter((r) => (r['verbs'] as string[]).some((v) => !['get', 'list', 'watch'].includes(v)));
    expect(writes.flatMap((r) => r['resources'] as string[]).sort()).toEqual(['tracingpolicies/status', 'tracingpoliciesnamespaced/status']);
    expect(rules.some((r) => (r['verbs'] as string[]).includes('*') || (r['resources'] as string[]).includes('*'))).toBe(false);
    expect(find('Role', 'vigil-operator-leader-election')['rules']).toEqual([{ apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['get', 'create', 'update'] }]);
    expect(docs.filter((d) => d['kind']?.endsWith('Binding')).flatMap((d) => (d['subjects'] as Doc[]).map((s) => s['name']))).not.toContain('vigil-sensor');
    expect(find('ServiceAccount', 'vigil-sensor')['automountServiceAccountToken']).toBe(false);
  });

  it('runs the sensor with host bpffs/tracefs/BTF/cgroup mounts and only the capabilities it needs', () => {
    const ds = find('DaemonSet', 'vigil-sensor');
    const pod = ds['spec'].template.spec as Doc;
    const c = (pod['containers'] as Doc[])[0] as Doc;
    expect(pod['hostPID']).toBe(true);
    expect(c['securityContext']).toMatchObject({ privileged: false, capabilities: { drop: ['ALL'], add: ['BPF', 'PERFMON', 'SYS_ADMIN', 'SYS_RESOURCE'] } });
    const paths = (pod['volumes'] as Doc[]).map((v) => v['hostPath']?.path);
    expect(paths).toEqual(expect.arrayContaining(['/sys/fs/bpf', '/sys/kernel/tracing', '/sys/kernel/btf', '/sys/fs/cgroup', '/var/lib/vigil/sensor']));
    expect(c['args']).toEqual(['--nats=nats://nats.nats.svc:4222', '--node-name=$(NODE_NAME)', '--state-dir=/var/lib/vigil/sensor', '--nats-events=protobuf']);
  });

  it('passes only options the binaries accept', () => {
    const flags = (args: string[]): string[] => args.map((a) => a.replace(/=.*$/, ''));
    const op = (find('Deployment', 'vigil-operator')['spec'].template.spec.containers as Doc[])[0] as Doc;
    for (const f of flags(op['args'] as string[])) expect(OPERATOR_HELP).toContain(`${f} `);
    const sensorCli = join(ROOT, 'packages/sensor/dist/cli.js');
    const help = spawnSync(process.execPath, [sensorCli, 'run', '--help'], { encoding: 'utf8', timeout: 30_000 }).stdout;
    const ds = (find('DaemonSet', 'vigil-sensor')['spec'].template.spec.containers as Doc[])[0] as Doc;
    for (const f of flags(ds['args'] as string[])) expect(help).toContain(`${f} `);
  });

  it('runs two operator replicas with leader election, unprivileged', () => {
    const d = find('Deployment', 'vigil-operator');
    expect(d['spec'].replicas).toBe(2);
    const c = (d['spec'].template.spec.containers as Doc[])[0] as Doc;
    expect(c['command']).toEqual(['vigil', 'operator', 'run']);
    expect(c['args']).toContain('--leader-elect');
    expect(c['securityContext']).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
  });

  it('has a parseable kind workflow that installs this chart', () => {
    const wf = parse(readFileSync(join(ROOT, '.github', 'workflows', 'e2e.yml'), 'utf8')) as Doc;
    const runs = (wf['jobs'].kind.steps as Doc[]).map((s) => String(s['run'] ?? '')).join('\n');
    expect(runs).toContain('helm install vigil charts/vigil');
    expect(runs).toContain('-f charts/vigil/Dockerfile');
  });
});
