// Runs one command as root in a fresh qemu guest (TCG) booted from a cached Debian kernel, or directly on the host
// for the matrix's `host` kernel, and returns its exit status.
//
// Guest layout: the host's / is shared read-only over 9p (tag hostroot), the working tree read-write at the same
// path (tag work), and a per-run control dir (tag ctl) that holds the command script `cmd`, the working tree path
// `work`, and receives the exit status `rc`. The guest's /init (guest/init) switch_roots into the host's / and runs
// `sh /run/vigil-ctl/cmd`; inside the command VIGIL_CTL points at the control dir (the host sees the same files).
import { spawn } from 'node:child_process';
import { clearTimeout, setTimeout } from 'node:timers';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { StringDecoder } from 'node:string_decoder';
import { join } from 'node:path';
import { repoRoot } from './paths.js';

export const EXIT_TIMEOUT = 124;
export const EXIT_NO_STATUS = 125;

/** POSIX-shell single quoting of one argument. */
export function shellQuote(arg) {
  return `'${String(arg).replace(/'/g, `'\\''`)}'`;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The command script: exports, cd, exec argv. Every value is quoted; names are checked. */
function commandScript({ argv, cwd, env }) {
  const lines = ['# written by tools/kernel-matrix/lib/guest.js', 'set -e'];
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_NAME.test(k)) throw new Error(`invalid environment variable name ${JSON.stringify(k)}`);
    lines.push(`export ${k}=${shellQuote(v)}`);
  }
  lines.push(`cd ${shellQuote(cwd)}`, `exec ${argv.map(shellQuote).join(' ')}`);
  return lines.join('\n') + '\n';
}

/** Environment a command sees: a fixed base plus the caller's additions (never the host's whole environment). */
function baseEnv(extra) {
  const env = {
    PATH: process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    HOME: '/root',
    LANG: 'C.UTF-8',
    TERM: 'dumb',
  };
  for (const k of ['CI', 'COREPACK_INTEGRITY_KEYS', 'VIGIL_LIBBPF_DEBUG']) if (process.env[k] !== undefined) env[k] = process.env[k];
  return { ...env, ...extra };
}

/**
 * Runs `argv` in a guest booted from `kernel` ({ vmlinux, initramfs }) or, when `kernel` is null, on the host.
 * Options: cwd (default: repo root; must lie inside it for guests), env, timeoutMs, memMiB, append (extra kernel
 * command line), onLine(line) for each output line (default: write to stdout), files ({ name: content } put into the
 * control dir before the start, e.g. a plan the command reads from $VIGIL_CTL).
 * Returns { status, timedOut, ctl, wallMs, bootMs } — status 124 on timeout, 125 when the guest reported nothing.
 * `ctl` is the control dir: files the command wrote to $VIGIL_CTL are there until cleanup() is called.
 */
export function runCommand(kernel, argv, opts = {}) {
  const {
    cwd = repoRoot, env = {}, timeoutMs = 600_000, memMiB = 1024, append = '', onLine = (l) => process.stdout.write(l + '\n'),
    files = {},
  } = opts;
  const ctl = mkdtempSync(join(tmpdir(), 'vigil-kernel-matrix-'));
  const cleanup = () => rmSync(ctl, { recursive: true, force: true });
  const started = Date.now();
  const inGuest = kernel !== null;
  if (inGuest && !(cwd === repoRoot || cwd.startsWith(repoRoot + '/'))) {
    throw new Error(`cwd ${cwd} is outside the working tree ${repoRoot}; only the working tree is writable in a guest`);
  }
  writeFileSync(join(ctl, 'cmd'), commandScript({
    argv, cwd, env: baseEnv({ ...env, VIGIL_CTL: inGuest ? '/run/vigil-ctl' : ctl, VIGIL_IN_GUEST: inGuest ? '1' : '0' }),
  }));
  writeFileSync(join(ctl, 'work'), repoRoot);
  for (const [name, content] of Object.entries(files)) {
    if (!/^[A-Za-z0-9._-]+$/.test(name) || ['cmd', 'work', 'rc'].includes(name)) throw new Error(`invalid control file name ${name}`);
    writeFileSync(join(ctl, name), content);
  }

  let child;
  if (inGuest) {
    const share = (path, tag, extra = '') => ['-virtfs', `local,path=${path},mount_tag=${tag},security_model=none,id=${tag}${extra}`];
    const args = [
      '-accel', 'tcg', '-cpu', 'max', '-m', String(memMiB), '-smp', '1',
      '-kernel', kernel.vmlinux, '-initrd', kernel.initramfs,
      '-append', `console=ttyS0 quiet loglevel=3 panic=-1 ${append}`.trim(),
      ...share('/', 'hostroot', ',readonly=on,multidevs=remap'),
      ...share(repoRoot, 'work', ',multidevs=remap'),
      ...share(ctl, 'ctl'),
      '-display', 'none', '-monitor', 'none', '-serial', 'stdio',
      '-no-reboot', '-nodefaults', '-no-user-config',
    ];
    child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  } else {
    child = spawn('/bin/sh', [join(ctl, 'cmd')], { stdio: ['ignore', 'pipe', 'pipe'], cwd, detached: true });
  }

  return new Promise((resolvePromise) => {
    let bootMs = null;
    let timedOut = false;
    const splitter = () => {
      let rest = '';
      const decoder = new StringDecoder('utf8'); // a multi-byte character can straddle two chunks
      return {
        push(chunk) {
          rest += decoder.write(chunk);
          const lines = rest.split('\n');
          rest = lines.pop();
          for (const raw of lines) emit(raw);
        },
        flush() { rest += decoder.end(); if (rest) emit(rest); rest = ''; },
      };
    };
    const emit = (raw) => {
      const line = raw.replace(/\r/g, '');
      if (bootMs === null && line.startsWith('[vigil-guest] ready')) bootMs = Date.now() - started;
      onLine(line);
    };
    const out = splitter();
    const err = splitter();
    child.stdout.on('data', (c) => out.push(c));
    child.stderr.on('data', (c) => err.push(c));
    const timer = setTimeout(() => {
      timedOut = true;
      onLine(`[kernel-matrix] timeout after ${timeoutMs / 1000} s: killing ${inGuest ? 'the guest' : 'the command'}`);
      try {
        if (inGuest) child.kill('SIGKILL');
        else process.kill(-child.pid, 'SIGKILL');
      } catch { /* already gone */ }
    }, timeoutMs);
    child.on('error', (e) => onLine(`[kernel-matrix] cannot start: ${e.message}`));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      out.flush();
      err.flush();
      let status;
      if (timedOut) status = EXIT_TIMEOUT;
      else if (!inGuest) status = code ?? 128 + 9;
      else if (existsSync(join(ctl, 'rc'))) status = Number(readFileSync(join(ctl, 'rc'), 'utf8').trim());
      else {
        status = EXIT_NO_STATUS;
        onLine(`[kernel-matrix] the guest exited (qemu ${code ?? signal}) without reporting a status`);
      }
      resolvePromise({ status, timedOut, ctl, cleanup, wallMs: Date.now() - started, bootMs });
    });
  });
}
