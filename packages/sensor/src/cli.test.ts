/** The vigil-sensor command line as a person uses it: help, argument errors, probe, and a short run. */
import { describe, expect, it } from '@jest/globals';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CLI = join(ROOT, 'packages/sensor/dist/cli.js');

function cli(args: string[]) {
  return spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 30_000 });
}

describe('vigil-sensor CLI', () => {
  if (!existsSync(CLI)) {
    it('is built', () => {
      throw new Error(`${CLI} is missing: run pnpm build`);
    });
    return;
  }

  it('--help names the commands and run --help every option', () => {
    const top = cli(['--help']);
    expect(top.status).toBe(0);
    expect(top.stdout).toMatch(/vigil-sensor run/);
    expect(top.stdout).toMatch(/vigil-sensor probe/);
    const run = cli(['run', '--help']);
    for (const opt of ['--policy-dir', '--output', '--export-file', '--node-name', '--ring-buffer-mb', '--bpffs-root', '--hook-socket', '--nats-events', '--node-labels']) expect(run.stdout).toContain(opt);
  });

  it('rejects bad arguments with one line that names the option', () => {
    const bad = cli(['run', '--output', 'xml']);
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('vigil-sensor: --output must be json or compact, got "xml"');
    const ring = cli(['run', '--ring-buffer-mb', '3']);
    expect(ring.stderr.trim()).toBe('vigil-sensor: --ring-buffer-mb must be a power of two, got 3');
    const unknown = cli(['run', '--nope']);
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/^vigil-sensor: Unknown option '--nope'.*vigil-sensor --help/);
    expect(cli(['frobnicate']).stderr.trim()).toBe('vigil-sensor: unknown command "frobnicate"; run \'vigil-sensor --help\'');
  });

  it('says how to build a missing object and how to mount a missing bpffs', () => {
    const noObj = cli(['run', '--bpf-objects', '/nonexistent']);
    expect(noObj.status).toBe(1);
    expect(noObj.stderr.trim()).toBe('vigil-sensor: BPF object /nonexistent/process_lifecycle.bpf.o is missing; build it with: make -C bpf (or make build)');
    const noFs = cli(['run', '--bpffs-root', '/tmp/not-bpffs/vigil']);
    expect(noFs.stderr.trim()).toBe('vigil-sensor: bpffs is not mounted at /tmp/not-bpffs; mount it with: mount -t bpf bpf /tmp/not-bpffs');
  });

  it('probe prints the capability table', () => {
    const r = cli(['probe']);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^CAPABILITY\s+DESCRIPTION\s+AVAILABLE\s+DETAIL/);
    expect(r.stdout).toMatch(/\ntp_btf\s.*\syes\s/);
    const json = JSON.parse(cli(['probe', '--json']).stdout) as Array<{ id: string; available: boolean }>;
    expect(json.find((c) => c.id === 'btf')?.available).toBe(true);
  });

  it('run streams compact events to a rotated file, warns about non-policy files, and stops cleanly on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vigil-cli-'));
    try {
      writeFileSync(join(dir, 'readme.txt'), 'not a policy');
      const out = join(dir, 'events.log');
      const pinRoot = `/sys/fs/bpf/vigil-cli-test-${process.pid}`;
      const s = spawn(process.execPath, [CLI, 'run', '--policy-dir', dir, '--output', 'compact', '--export-file', out, '--bpffs-root', pinRoot, '--stats-interval', '0'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let logs = '';
      s.stderr.on('data', (d: Buffer) => (logs += d.toString()));
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => logs.includes('sensor running') && (clearInterval(t), resolve()), 20);
        s.once('exit', (code) => (clearInterval(t), reject(new Error(`exited ${code}: ${logs}`))));
      });
      const marker = `cli-${process.pid}`;
      spawnSync('/bin/echo', [marker]);
      await new Promise((r) => setTimeout(r, 300));
      s.kill('SIGTERM');
      const code = await new Promise((r) => s.once('exit', r));
      expect(code).toBe(0);
      const events = readFileSync(out, 'utf8');
      expect(events).toContain(`🚀 process /usr/bin/echo ${marker}`);
      expect(events).toContain(`💥 exit    /usr/bin/echo ${marker} 0`);
      const logLines = logs.trim().split('\n').map((l) => JSON.parse(l) as { msg: string; file?: string; level: number });
      expect(logLines.find((l) => l.msg.includes('not a policy file'))?.file).toBe(join(dir, 'readme.txt'));
      expect(logLines.some((l) => l.msg === 'sensor stats')).toBe(true);
      rmSync(pinRoot, { recursive: true, force: true });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
