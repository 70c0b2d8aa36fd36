/**
 * Real-kernel tests of the pin tree through the exec kill unit: adoption keeps program and link ids, an object of
 * another version is attached before the old one is detached and inherits its deny set, a damaged version
 * directory is repaired (never adopted half), and removal leaves nothing attached.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skipMissing } from '../../../../tools/kernel-matrix/skip.js';
import { ExecKill } from '../mechanisms/exec-kill.js';
import { compileFileDenySet } from '../mechanisms/file-rules.js';
import { pinMaps, removePins, replacePinnedLink } from '../mechanisms/pinning.js';
import { BPF_OUT, TestCgroup, VG_TRY, capability, vgTry } from '../mechanisms/test-kernel.js';
import { pinInfo } from './fdinfo.js';
import { LINKS_DIR, MAPS_DIR } from './layout.js';
import { BpfObject } from '../libbpf/index.js';
import { PinnedObject, type PersistReport } from './pinned-object.js';

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

/** Builds a BPF source with another VG_OBJECT_VERSION (and defines) into the temp dir (an "upgraded" sensor's object). */
function buildVariant(version: number, src = join(BPF_SRC, 'progs/exec_kill.bpf.c'), defines: readonly string[] = []): string {
  const out = join(dir, `${src.split('/').pop()?.replace('.bpf.c', '')}-v${version}-${defines.join('')}.bpf.o`);
  const clang = ['clang-19', 'clang'].find((c) => {
    try {
      execFileSync(c, ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  });
  if (!clang) throw new Error('clang is needed to build the variant object; run scripts/setup.sh');
  execFileSync(clang, ['-g', '-O2', '-target', 'bpf', '-D__TARGET_ARCH_x86', `-DVG_OBJECT_VERSION=${version}`, '-Wall', '-Werror', '-Wno-unused-function', `-I${join(BPF_SRC, '.output')}`, `-I${join(BPF_SRC, 'lib')}`, `-I${join(BPF_SRC, 'include')}`, ...defines, '-c', src, '-o', out]);
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

  it('takes over the flat layout of earlier sensors: deny set migrated, their link detached after ours attached', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    // What an earlier sensor left: a few maps and one link straight in the unit directory.
    const old = BpfObject.open(OBJECT);
    pinMaps(old, PIN, ['vg_exec_deny', 'vg_exempt_cg', 'vg_target_cg', 'vg_enf_cfg']);
    for (const p of old.programs()) if (p.name !== 'vg_exec_kill') p.setAutoload(false); // earlier sensors had only this one (and sched_prepare_exec is 6.8+)
    old.load();
    for (const e of compileFileDenySet([{ id: 1, path: denied }])) old.map('vg_exec_deny').update(e.key, e.value);
    const link = old.program('vg_exec_kill').attachTrace();
    replacePinnedLink(link, PIN, 'link');
    link.destroy();
    old.close();
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL');

    const reports: PersistReport[] = [];
    const ek = ExecKill.start({ objectPath: OBJECT, pinDir: PIN, onPersist: (r) => reports.push(r) });
    expect(reports[0]).toMatchObject({ mode: 'upgraded', retired: [PIN] });
    expect(reports[0]?.migrated.find((m) => m.map === 'vg_exec_deny')).toMatchObject({ how: 'copied', entries: 1 });
    expect(readdirSync(PIN).every((f) => f.startsWith('obj-v'))).toBe(true); // the flat pins are gone
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL');
    ek.remove();
    expect(vgTry(['exec', denied], cg.path).status).toBe(0); // the earlier sensor's link went with its pin
    expect(removePins(join(PIN, '..', 'nothing-here'))).toEqual([]);
  });

  it('a damaged tree is repaired before use: a stale build dir, a missing link, a map of another shape', () => {
    if (missing()) return;
    using cg = new TestCgroup();
    const reports: PersistReport[] = [];
    const onPersist = (r: PersistReport) => reports.push(r);
    const first = ExecKill.start({ objectPath: OBJECT, pinDir: PIN, onPersist });
    first.setDenySet([{ id: 1, path: denied }]);
    first.close();
    const [cur] = versionDirs();
    // A build dir an interrupted run left behind (empty): retired on the next start, nothing else changes.
    mkdirSync(join(PIN, 'obj-v1-000000000000', MAPS_DIR), { recursive: true });
    const second = ExecKill.start({ objectPath: OBJECT, pinDir: PIN, onPersist });
    expect(reports[1]).toMatchObject({ mode: 'adopted', retired: [join(PIN, 'obj-v1-000000000000')] });
    second.close();
    expect(versionDirs()).toEqual([cur]);

    // The link pin gone (the program detached): reloaded and attached again, the deny set migrated.
    unlinkSync(join(PIN, cur as string, LINKS_DIR, 'vg_exec_kill'));
    expect(vgTry(['exec', denied], cg.path).status).toBe(0); // this is what a lost pin costs
    const third = ExecKill.start({ objectPath: OBJECT, pinDir: PIN, onPersist });
    expect(reports[2]?.mode).toBe('repaired');
    expect(reports[2]?.problems).toEqual([`${join(PIN, cur as string, LINKS_DIR, 'vg_exec_kill')}: link missing`]);
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL');
    third.close();

    // A map of another shape where vg_exempt_cg belongs (vg_target_cg: same key and value, 1024 entries, not 64).
    const maps = join(PIN, cur as string, MAPS_DIR);
    unlinkSync(join(maps, 'vg_exempt_cg'));
    renameSync(join(maps, 'vg_target_cg'), join(maps, 'vg_exempt_cg'));
    const fourth = ExecKill.start({ objectPath: OBJECT, pinDir: PIN, onPersist });
    expect(reports[3]?.mode).toBe('repaired');
    expect(reports[3]?.problems).toEqual([`${join(maps, 'vg_exempt_cg')}: pinned map holds 1024 entries, this build 64`, `${join(maps, 'vg_target_cg')}: map missing`]);
    expect(vgTry(['exec', denied], cg.path).signal).toBe('SIGKILL');
    expect(versionDirs()).toEqual([cur]);
    fourth.remove();
    expect(existsSync(PIN)).toBe(false);
  });

  it('a map whose layout changed between builds is converted by its migrator, or reported as not migrated', () => {
    if (missing()) return;
    const src = fileURLToPath(new URL('./testdata/schema_test.bpf.c', import.meta.url));
    const unitDir = join(PIN, '..', 'schema-test');
    const v1 = buildVariant(1, src, ['-DVG_TEST_SCHEMA=1']);
    const v2 = buildVariant(2, src, ['-DVG_TEST_SCHEMA=2']);
    const key = (k: number) => Buffer.from(new Uint32Array([k]).buffer);
    const open = (path: string, migrate: boolean) => {
      const obj = BpfObject.open(path);
      const pins = new PinnedObject(obj, { unitDir, ...(migrate ? { migrators: { vg_test_state: (_from, rows) => rows.map(([k, v]) => [k, Buffer.concat([v, Buffer.from('feedfacecafebeef', 'hex')])]) } } : {}) });
      pins.prepare(['vg_test_exec']);
      pins.load();
      pins.link('vg_test_exec', (o) => o.program('vg_test_exec').attachTrace());
      return { obj, pins, report: pins.commit() };
    };
    const a = open(v1, false);
    a.obj.map('vg_test_state').update(key(7), Buffer.from(new BigUint64Array([10n]).buffer));
    a.obj.map('vg_test_state').update(key(9), Buffer.from(new BigUint64Array([20n]).buffer));
    a.pins.close();
    a.obj.close();

    const b = open(v2, true);
    expect(b.report.mode).toBe('upgraded');
    expect(b.report.migrated.find((m) => m.map === 'vg_test_state')).toMatchObject({ how: 'migrated', entries: 2 });
    expect(b.obj.map('vg_test_state').lookup(key(9))?.toString('hex')).toBe(`1400000000000000feedfacecafebeef`);
    b.pins.close();
    b.obj.close();

    // Back to schema 1 without a migrator: loaded, attached, and the map reported as not migrated (never misread).
    const c = open(buildVariant(3, src, ['-DVG_TEST_SCHEMA=1']), false);
    expect(c.report.migrated.find((m) => m.map === 'vg_test_state')).toMatchObject({ how: 'skipped', entries: 0 });
    expect(c.obj.map('vg_test_state').lookup(key(9))).toBeUndefined();
    c.pins.close();
    c.obj.close();
    removePins(unitDir);
  });
});
