/**
 * Overhead of the enforcement mechanisms of issue #8 on operations they let through (the common case), in the
 * same run as a baseline with nothing attached: alternating A/B rounds of tight C loops (bpf/tests/helpers/
 * vg_loop.c), the median per configuration. Deny sets hold 64 entries that never match the measured operation.
 *   connect: socket + UDP connect + close (cgroup/connect4 runs on every connect) with ConnectDeny on the v2 root
 *   open:    open + close of a file on a private tmpfs with OpenKill; with fanotify inode marks on other files
 *            (the unmarked path); with a fanotify mount mark on that tmpfs (after the first open, an ignore mark)
 *   exec:    posix_spawn + wait of a copy of /bin/true with ExecKill
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectDeny } from '../mechanisms/connect-deny.js';
import { ExecKill } from '../mechanisms/exec-kill.js';
import { FanotifyGuard } from '../mechanisms/fanotify/guard.js';
import { OpenKill } from '../mechanisms/open-kill.js';
import { OBJECTS_DIR, median, report } from './report.js';

const LOOP = join(OBJECTS_DIR, 'helpers/vg_loop');
const ROUNDS = Number(process.env.VIGIL_BENCH_ROUNDS ?? 5);
const OPENS = Number(process.env.VIGIL_BENCH_OPENS ?? 200_000);
const CONNECTS = Number(process.env.VIGIL_BENCH_CONNECTS ?? 100_000);
const EXECS = Number(process.env.VIGIL_BENCH_EXECS ?? 300);

function loop(args: string[]): number {
  const r = spawnSync(LOOP, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vg_loop ${args.join(' ')} failed: ${r.stderr}`);
  return Number(r.stdout.trim());
}

/** Alternates baseline and each variant for ROUNDS rounds; returns the medians (ns/op). */
async function abRounds(run: () => number, variants: Record<string, { setUp: () => Promise<() => Promise<void> | void> }>): Promise<Record<string, number>> {
  run(); // warm-up
  const samples: Record<string, number[]> = { baseline: [] };
  for (let i = 0; i < ROUNDS; i++) {
    samples.baseline?.push(run());
    for (const [name, v] of Object.entries(variants)) {
      const tearDown = await v.setUp();
      try {
        (samples[name] ??= []).push(run());
      } finally {
        await tearDown();
      }
    }
  }
  return Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, median(xs)]));
}

const dir = mkdtempSync(join(tmpdir(), 'vigil-bench-enf-'));
const mnt = join(dir, 'mnt');
spawnSync('mkdir', [mnt]);
const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=8m', 'tmpfs', mnt]).status === 0;
if (!mounted) throw new Error('cannot mount a tmpfs for the open benchmark (run as root)');
try {
  const target = join(mnt, 'target');
  writeFileSync(target, 'x');
  const others = Array.from({ length: 64 }, (_, i) => {
    const p = join(dir, `other-${i}`);
    writeFileSync(p, 'y');
    return p;
  });
  const bin = join(dir, 'bench-true');
  copyFileSync('/bin/true', bin);
  spawnSync('chmod', ['755', bin]);
  const fileRules = others.map((path, id) => ({ id, path }));

  // connect
  const c = await abRounds(() => loop(['connect', '127.0.0.1', '9', String(CONNECTS)]), {
    connectDeny: {
      setUp: async () => {
        const cd = ConnectDeny.start({ objectPath: join(OBJECTS_DIR, 'sock_cgroup.bpf.o') });
        cd.setDenySet(Array.from({ length: 64 }, (_, i) => ({ id: i, cidr: `10.${i}.0.0/16`, ports: [[443, 443]] as Array<[number, number]> })));
        return () => cd.close();
      },
    },
  });
  const note = (n: number) => `${ROUNDS} A/B rounds of ${n}; deny set of 64 entries that never match`;
  report({ bench: 'enforcement.connect', metric: 'ns per socket+connect+close, connect deny attached (median)', value: c.connectDeny ?? 0, baseline: c.baseline, ratio: (c.connectDeny ?? 0) / (c.baseline ?? 1), goal: 'ratio <= 1.05', pass: (c.connectDeny ?? 0) / (c.baseline ?? 1) <= 1.05, note: `${note(CONNECTS)}; UDP connect runs cgroup/connect4` });

  // open
  const o = await abRounds(() => loop(['open', target, String(OPENS)]), {
    openKill: {
      setUp: async () => {
        const ok = OpenKill.start({ objectPath: join(OBJECTS_DIR, 'open_kill.bpf.o') });
        ok.setDenySet(fileRules);
        return () => ok.close();
      },
    },
    fanotifyUnmarked: {
      setUp: async () => {
        const g = await FanotifyGuard.start();
        await g.setDenySet(others.map((path) => ({ path })));
        return () => g.close();
      },
    },
    fanotifyMountIgnored: {
      setUp: async () => {
        const g = await FanotifyGuard.start();
        g.markWhole(mnt, 'mount');
        await g.setDenySet(others.map((path) => ({ path })));
        loop(['open', target, '1']); // the one event; the worker adds the ignore mark
        return () => g.close();
      },
    },
  });
  const base = o.baseline ?? 1;
  const fu = (o.fanotifyUnmarked ?? 0) / base;
  report({ bench: 'enforcement.open', metric: 'ns per open+close, fanotify inode marks on other files (unmarked path) (median)', value: o.fanotifyUnmarked ?? 0, baseline: base, ratio: fu, goal: 'ratio <= 1.05 (issue #8)', pass: fu <= 1.05, note: note(OPENS) });
  for (const [k, what, why] of [
    ['openKill', 'open kill attached', 'tp_btf sys_exit runs at the exit of every syscall (open and close here)'],
    ['fanotifyMountIgnored', 'fanotify mount mark, file ignore-marked', 'fsnotify walks the mount and inode marks on every open'],
  ] as const) {
    const v = o[k] ?? 0;
    report({ bench: 'enforcement.open', metric: `ns per open+close, ${what} (median)`, value: v, baseline: base, ratio: v / base, note: `${note(OPENS)}; +${Math.round(v - base)} ns per open+close on a tmpfs file: ${why}` });
  }

  // exec
  const e = await abRounds(() => loop(['exec', bin, String(EXECS)]), {
    execKill: {
      setUp: async () => {
        const ek = ExecKill.start({ objectPath: join(OBJECTS_DIR, 'exec_kill.bpf.o') });
        ek.setDenySet(fileRules);
        return () => ek.close();
      },
    },
  });
  const er = (e.execKill ?? 0) / (e.baseline ?? 1);
  report({ bench: 'enforcement.exec', metric: 'ns per posix_spawn+wait, exec kill attached (median)', value: e.execKill ?? 0, baseline: e.baseline, ratio: er, goal: 'ratio <= 1.05', pass: er <= 1.05, note: note(EXECS) });
} finally {
  spawnSync('umount', [mnt]);
  rmSync(dir, { recursive: true, force: true });
}
