/**
 * Real-kernel tests of the pin tree through the exec kill unit: adoption keeps program and link ids, an object of
 * another version is attached before the old one is detached and inherits its deny set, a damaged version
 * directory is repaired (never adopted half), and removal leaves nothing attached.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { ExecKill } from '../mechanisms/exec-kill.js';
import { removePins } from '../mechanisms/pinning.js';
import { BPF_OUT, TestCgroup, VG_TRY, capability, vgTry } from '../mechanisms/test-kernel.js';
import { pinInfo } from './fdinfo.js';
import { LINKS_DIR, MAPS_DIR } from './layout.js';
import type { PersistReport } from './pinned-object.js';

const OBJECT = join(BPF_OUT, 'exec_kill.bpf.o');
const BPF_SRC = fileURLToPath(new URL('../../../../bpf/', import.meta.url));
const PIN = `/sys/fs/bpf/vigil-test-${process.pid}-persist/enforce/exec-kill`;
let dir: string;
let denied: string;

function missing(): boolean {
  for (const cap of ['tp_btf', 'send_signal', 'cgroup_v2'] as const) {
    const c = capability(cap);
    if (!c.available) {
      skipMissing(expect.getState().currentTestName, cap, c.reason);
      return true;
    }
  }
  return false;
}

/** Builds exec_kill.bpf.c with another VG_OBJECT_VERSION into the temp dir (an "upgraded" sensor's object). */
function buildVariant(version: number): string {
  const out = join(dir, `exec_kill-v${version}.bpf.o`);
  const clang = ['clang-19', 'clang'].find((c) => {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!clang) throw new Error('clang is needed to build the variant object; run scripts/setup.sh');
  execFileSync(clang, ['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-DVG_OBJECT_VERSION=${version}`, '-Wall', '-Werror', '-Wno-unused-function', `-I${join(BPF_SRC, '.output')}`, `-I${join(BPF_SRC, 'lib')}`, `-I${join(BPF_SRC, 'include')}`, '-c', join(BPF_SRC, 'progs/exec_kill.bpf.c'), '-o', out]);
  return out;
}

function versionDirs(): string[] {
  return existsSync(PIN) ? readdirSync(PIN).sort() : [];
}

function linkIds(versionDir: string): { link: number; prog: number } {
  const info = pinInfo(join(PIN, versionDir, LINKS_DIR, 'vg_exec_kill'));
  return { link: info.id, prog: info.progId ?? 0 };
}

beforeAll(() => {
  if (process.getuid?.() !== 0) throw new Error('these tests attach BPF programs: run them as root');
  for (const f of [OBJECT, VG_TRY]) if (!existsSync(f)) throw new Error(`${f} is missing: run make -C bpf`);
  dir = mkdtempSync(join(tmpdir(), 'vigil-persist-'));
  denied = join(dir, 'denied-true');
  copyFileSync('/bin/true', denied);
  chmodSync(denied, 0o755);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(join(PIN, '../..'), { recursive: true, force: true });
});

describe('pin tree (real kernel)', () => {
  it('adopts the same build, upgrades to another before detaching the old, repairs a damaged one, removes all', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    const reports: PersistReport[] = [];
    const onPersist = (r: PersistReport) => reports.push(r);

    // 1. First start: a fresh load, every map and the link pinned in one version directory.
    const first = ExecKill.start({ objectPath: OBJECT, pinDir: PIN, onPersist });
    first.setDenySet([{ id: 1, path: denied }]);
    first.close(); // as if the sensor died
    expect(reports[0]?.mode).toBe('fresh');
    const [v1] = versionDirs();
    expect(v1).toMatch(/^obj-v1-[0-9a-f]{12}$/);
    expect(readdirSync(join(PIN, v1 as string, MAPS_DIR)).sort()).toEqual(expect.arrayContaining(['data_vg_meta', 'vg_events', 'vg_exec_deny', 'vg_enf_stats', 'vg_exempt_cg']));
    const before = linkIds(v1 as string);
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL'); // armed with no process

    // 2. Same build again: adopted, nothing loaded, the same program and link.
    const second = ExecKill.start({ objectPath: OBJECT, pinDir: PIN, onPersist });
    expect(reports[1]?.mode).toBe('adopted');
    expect(reports[1]?.linkIds.vg_exec_kill).toBe(before.link);
    expect(linkIds(v1 as string)).toEqual(before);
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL');
    expect(second.counters().denied).toBeGreaterThanOrEqual(2n); // counters survive too: the stats map is pinned
    second.close();

    // 3. Another build (VG_OBJECT_VERSION=2): loaded beside, deny set copied, attached, then the old one removed.
    const v2Object = buildVariant(2);
    const third = ExecKill.start({ objectPath: v2Object, pinDir: PIN, onPersist });
    const up = reports[2] as PersistReport;
    expect(up.mode).toBe('upgraded');
    expect(up.version).toBe(2);
    expect(up.retired).toEqual([join(PIN, v1 as string)]);
    expect(up.migrated.find((m) => m.map === 'vg_exec_deny')).toMatchObject({ how: 'copied', entries: 1 });
    const dirs = versionDirs();
    expect(dirs).toHaveLength(1);
    expect(dirs[0]).toMatch(/^obj-v2-/);
    expect(linkIds(dirs[0] as string).prog).not.toBe(before.prog);
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL'); // the copied deny set enforces
    third.close();

    // 4. A map pin removed behind the sensor's back: not adopted (the pinned program still reads the orphaned
    //    map, the sensor would write the new one), but reloaded and migrated from what is intact.
    const v2 = dirs[0] as string;
    unlinkSync(join(PIN, v2, MAPS_DIR, 'vg_exempt_cg'));
    const fourth = ExecKill.start({ objectPath: v2Object, pinDir: PIN, onPersist });
    const fix = reports[3] as PersistReport;
    expect(fix.mode).toBe('repaired');
    expect(fix.problems).toEqual([`${join(PIN, v2, MAPS_DIR, 'vg_exempt_cg')}: map missing`]);
    expect(fix.migrated.find((m) => m.map === 'vg_exec_deny')).toMatchObject({ how: 'copied', entries: 1 });
    expect(versionDirs()).toEqual([v2]);
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL');

    // 5. Removal: nothing pinned, nothing attached.
    const linkId = fix.linkIds.vg_exec_kill as number;
    fourth.remove();
    expect(existsSync(PIN)).toBe(false);
    expect(vgTry(['exec', denied], cg.path).status).toBe(0);
    const links = JSON.parse(execFileSync('bpftool', ['link', 'show', '-j'], { encoding: 'utf8' })) as Array<{ id: number }>;
    expect(links.map((l) => l.id)).not.toContain(linkId);
  });

  it('removePins takes the flat layout of earlier sensors too', () => {
    if (missing()) return;
    expect(removePins(join(PIN, '..', 'nothing-here'))).toEqual([]);
  });
});
