/**
 * The in-kernel selector interpreter (bpf/lib/selector.h, generic.h), byte-exact against the policy compiler:
 * each case compiles a small policy with compilePolicy, installs the bundle's bytes as the production engine
 * does, and drives the real hook body through BPF_PROG_TEST_RUN with args this test controls. Every operator
 * family has a matching and a non-matching hit; the effect checked is the event (or its absence), its fields,
 * the override value and the counters.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync, closeSync, openSync, readlinkSync, mkdtempSync, writeFileSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ACTION, compilePolicy, fullNodeProfile, parsePolicy, type Bundle } from '@vigil/policy-schema';
import { HookFlags } from '../abi/generic-layout.js';
import { GenericHarness, type HookRecord } from './selftest-harness.js';

const OBJ = fileURLToPath(new URL('../../../../bpf/.output/generic_selftest.bpf.o', import.meta.url));

function compile(spec: string): Bundle {
  const text = `apiVersion: cilium.io/v1alpha1\nkind: TracingPolicy\nmetadata:\n  name: selftest\nspec:\n${spec}`;
  return compilePolicy(parsePolicy(text), fullNodeProfile());
}

/** One kprobe hook with `args` (YAML flow list) and one selector (YAML, indented under `selectors:`). */
function hook(args: string, selector: string, extra = ''): Bundle {
  return compile(`  kprobes:\n  - call: vg_selftest_fn\n    syscall: false\n    args: ${args}\n${extra}    selectors:\n${selector}`);
}

const cstr = (s: string): Buffer => Buffer.from(`${s}\0`);
function sockaddrIn(ip: string, port: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt16LE(2, 0);
  b.writeUInt16BE(port, 2);
  ip.split('.').forEach((o, i) => b.writeUInt8(Number(o), 4 + i));
  return b;
}
function nsInode(kind: string): number {
  return Number(/\[(\d+)\]/.exec(readlinkSync(`/proc/self/ns/${kind}`))?.[1]);
}

describe('generic selector interpreter (real kernel)', () => {
  let h: GenericHarness;
  let gen: 0 | 1 = 0;
  let dir: string;

  beforeAll(() => {
    if (!existsSync(OBJ)) throw new Error(`${OBJ} is missing: run make -C bpf`);
    h = GenericHarness.load(OBJ);
    dir = mkdtempSync(join(tmpdir(), 'vg-selftest-'));
    h.events();
  });
  afterAll(() => {
    h?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Installs the bundle into the other generation and switches (every case runs on fresh maps). */
  function use(b: Bundle): void {
    gen = gen === 0 ? 1 : 0;
    h.install(b, gen);
    h.events();
  }
  function hits(args: ReadonlyArray<number | bigint | Buffer>, o: Parameters<GenericHarness['run']>[2] = {}): HookRecord[] {
    h.run(1, args, o);
    return h.events();
  }
  function expectMatch(args: ReadonlyArray<number | bigint | Buffer>, o: Parameters<GenericHarness['run']>[2] = {}): HookRecord {
    const ev = hits(args, o);
    // On a miss the counters say where the hit stopped (no_config, exempt, identity_skip, hits without matched).
    if (ev.length !== 1) expect({ events: ev.length, stats: h.stats() }).toEqual({ events: 1 });
    return ev[0] as HookRecord;
  }
  function expectNoMatch(args: ReadonlyArray<number | bigint | Buffer>, o: Parameters<GenericHarness['run']>[2] = {}): void {
    expect(hits(args, o)).toHaveLength(0);
  }

  it('int Equal / NotEqual on a signed int, with the event carrying the value and the process header', () => {
    use(hook('[{index: 0, type: int}, {index: 1, type: int}]', '    - matchArgs:\n      - {index: 1, operator: Equal, values: ["-5", "7"]}\n'));
    const ev = expectMatch([3, -5]);
    expect(ev).toMatchObject({ hookId: 1, selector: 1, action: ACTION.values.Post, pid: process.pid, generation: gen });
    expect(ev.args.map((a) => a.data.readBigInt64LE(0))).toEqual([3n, -5n]);
    expect(ev.comm.length).toBeGreaterThan(0);
    expectMatch([3, 7]);
    expectNoMatch([3, 6]);
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: NotEqual, values: ["1"]}\n'));
    expectMatch([2]);
    expectNoMatch([1]);
  });

  it('string Equal / NotEqual (exact set lookup)', () => {
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["/etc/shadow", "/etc/passwd"]}\n'));
    const ev = expectMatch([cstr('/etc/passwd')]);
    expect(ev.args[0]?.data.toString()).toBe('/etc/passwd');
    expectNoMatch([cstr('/etc/passwdx')]);
    expectNoMatch([cstr('/etc/passw')]);
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: NotEqual, values: ["/etc/shadow"]}\n'));
    expectMatch([cstr('/etc/hosts')]);
    expectNoMatch([cstr('/etc/shadow')]);
  });

  it('Prefix / NotPrefix and Postfix / NotPostfix (LPM sets, postfix reversed)', () => {
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: Prefix, values: ["/etc/", "/root/.ssh"]}\n'));
    expectMatch([cstr('/etc/shadow')]);
    expectMatch([cstr('/root/.ssh/id_rsa')]);
    expectNoMatch([cstr('/tmp/etc/shadow')]);
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: NotPrefix, values: ["/proc/"]}\n'));
    expectMatch([cstr('/etc/x')]);
    expectNoMatch([cstr('/proc/self/mem')]);
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: Postfix, values: [".pem", "id_rsa"]}\n'));
    expectMatch([cstr('/srv/tls/key.pem')]);
    expectMatch([cstr('/root/.ssh/id_rsa')]);
    expectNoMatch([cstr('/srv/tls/key.pem.bak')]);
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: NotPostfix, values: [".log"]}\n'));
    expectMatch([cstr('/var/x.txt')]);
    expectNoMatch([cstr('/var/x.log')]);
  });

  it('fd args resolve to the open file path; Prefix and FileType / NotFileType on it', () => {
    const sub = join(dir, 'secret');
    mkdirSync(sub, { recursive: true });
    const file = join(sub, 'data.txt');
    writeFileSync(file, 'x');
    const fd = openSync(file, 'r');
    const dfd = openSync(sub, 'r');
    try {
      use(hook('[{index: 0, type: fd}]', `    - matchArgs:\n      - {index: 0, operator: Prefix, values: ["${sub}/"]}\n`));
      const ev = expectMatch([fd]);
      expect(ev.args[0]?.data.toString()).toBe(file);
      expectNoMatch([dfd]); // the directory itself is not under "<sub>/"
      expectNoMatch([987654]); // not an open fd: the read fails, the clause does not match
      use(hook('[{index: 0, type: fd}]', '    - matchArgs:\n      - {index: 0, operator: FileType, values: ["reg"]}\n'));
      expectMatch([fd]);
      expectNoMatch([dfd]);
      use(hook('[{index: 0, type: fd}]', '    - matchArgs:\n      - {index: 0, operator: NotFileType, values: ["reg"]}\n'));
      expectMatch([dfd]);
      expectNoMatch([fd]);
    } finally {
      closeSync(fd);
      closeSync(dfd);
    }
  });

  it('Mask, GreaterThan / LessThan (signed and unsigned), InRange / NotInRange', () => {
    use(hook('[{index: 0, type: uint32}]', '    - matchArgs:\n      - {index: 0, operator: Mask, values: ["0x40"]}\n'));
    expectMatch([0x41]);
    expectNoMatch([0x3f]);
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: GreaterThan, values: ["-2"]}\n'));
    expectMatch([-1]);
    expectNoMatch([-3]);
    use(hook('[{index: 0, type: uint64}]', '    - matchArgs:\n      - {index: 0, operator: LessThan, values: ["100"]}\n'));
    expectMatch([99]);
    expectNoMatch([-1]); // 2^64-1 unsigned: not less than 100
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: InRange, values: ["-10:-5", "100:200"]}\n'));
    expectMatch([-7]);
    expectMatch([150]);
    expectNoMatch([0]);
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: NotInRange, values: ["0:10"]}\n'));
    expectMatch([11]);
    expectNoMatch([5]);
  });

  it('SubString / SubStringIgnCase', () => {
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: SubString, values: ["xyz", "passwd"]}\n'));
    expectMatch([cstr('/etc/passwd-')]);
    expectNoMatch([cstr('/etc/PASSWD')]);
    use(hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: SubStringIgnCase, values: ["PassWd"]}\n'));
    expectMatch([cstr('/etc/PASSWD')]);
    expectNoMatch([cstr('/etc/pass')]);
  });

  it('char_buf with sizeArgIndex reads exactly that many bytes', () => {
    use(hook('[{index: 0, type: char_buf, sizeArgIndex: 2}, {index: 1, type: size_t}]', '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["hello"]}\n'));
    const buf = Buffer.from('hello world');
    const ev = expectMatch([buf, 5]);
    expect(ev.args[0]?.data.toString()).toBe('hello');
    expectNoMatch([buf, 6]);
  });

  it('sockaddr: DAddr / NotDAddr / SAddr (CIDR tries), DPort / NotDPort, DPortPriv / NotDPortPriv, Family', () => {
    const a = sockaddrIn('127.0.0.42', 8080);
    const b = sockaddrIn('10.1.2.3', 443);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: DAddr, values: ["127.0.0.0/24"]}\n'));
    const ev = expectMatch([a]);
    expect(ev.args[0]?.data.readUInt16LE(0)).toBe(2);
    expect(ev.args[0]?.data.readUInt16LE(8)).toBe(8080);
    expectNoMatch([b]);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: NotDAddr, values: ["10.0.0.0/8"]}\n'));
    expectMatch([a]);
    expectNoMatch([b]);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: SAddr, values: ["10.1.2.3"]}\n'));
    expectMatch([b]);
    expectNoMatch([a]);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: DPort, values: ["8000:8100"]}\n'));
    expectMatch([a]);
    expectNoMatch([b]);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: NotDPort, values: ["443"]}\n'));
    expectMatch([a]);
    expectNoMatch([b]);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: DPortPriv}\n'));
    expectMatch([b]);
    expectNoMatch([a]);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: NotDPortPriv}\n'));
    expectMatch([a]);
    expectNoMatch([b]);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: Family, values: ["AF_INET"]}\n'));
    expectMatch([a]);
    const six = Buffer.alloc(28);
    six.writeUInt16LE(10, 0);
    expectNoMatch([six]);
  });

  it('InMap / NotInMap over ranges and a syscall list', () => {
    use(
      compile(
        '  lists:\n  - name: fsops\n    type: syscalls\n    values: ["sys_openat", "sys_unlinkat"]\n' +
          '  kprobes:\n  - call: vg_selftest_fn\n    syscall: false\n    args: [{index: 0, type: int}]\n    selectors:\n    - matchArgs:\n      - {index: 0, operator: InMap, values: ["list:fsops", "1000:1010"]}\n',
      ),
    );
    expectMatch([257]); // openat
    expectMatch([263]); // unlinkat
    expectMatch([1005]);
    expectNoMatch([2]);
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: NotInMap, values: ["5:6"]}\n'));
    expectMatch([7]);
    expectNoMatch([5]);
  });

  it('matchData reads data[] values into the data slots and filters on them', () => {
    use(hook('[{index: 0, type: int}]', '    - matchData:\n      - {index: 2, operator: Equal, values: ["5"]}\n', '    data: [{index: 2, type: int}]\n'));
    const ev = expectMatch([1, 0, 5]);
    expect(ev.args[7]?.data.readBigInt64LE(0)).toBe(5n);
    expect(ev.args[7]?.source).toBe(3);
    expectNoMatch([1, 0, 6]);
  });

  it('two clauses on one arg are ANDed (Family and NotDAddr on a sockaddr, the outbound-connect example)', () => {
    const out = sockaddrIn('192.0.2.1', 80);
    const loop = sockaddrIn('127.0.0.1', 80);
    use(hook('[{index: 0, type: sockaddr}]', '    - matchArgs:\n      - {index: 0, operator: Family, values: ["AF_INET"]}\n      - {index: 0, operator: NotDAddr, values: ["127.0.0.0/8", "10.0.0.0/8"]}\n'));
    expectMatch([out]);
    expectNoMatch([loop]);
  });

  it('slots a hook does not read are empty in its event, whatever an earlier hit left in the per-CPU scratch', () => {
    const six = '[' + [0, 1, 2, 3, 4, 5].map((i) => `{index: ${i}, type: int}`).join(', ') + ']';
    use(hook(six, '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["1"]}\n'));
    const full = expectMatch([1, 2, 3, 4, 5, 6], { cpu: 0 }); // both hits on CPU 0: the second sees the first's scratch
    expect(full.args.slice(0, 6).map((a) => a?.data.readBigInt64LE(0))).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    // One arg and one data slot: only slots 0 and 7 are read (the loop visits described slots only).
    use(hook('[{index: 0, type: int}]', '    - matchData:\n      - {index: 2, operator: Equal, values: ["9"]}\n', '    data: [{index: 2, type: int}]\n'));
    const ev = expectMatch([7, 8, 9], { cpu: 0 });
    expect(ev.args[0]?.data.readBigInt64LE(0)).toBe(7n);
    for (const i of [1, 2, 3, 4, 5, 6]) expect(ev.args[i]?.source ?? 0).toBe(0);
    expect(ev.args[7]?.data.readBigInt64LE(0)).toBe(9n);
  });

  it('CelExpr leaves the decision to user space: the event is flagged and nothing is enforced', () => {
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: CelExpr, values: ["arg0 > 3"]}\n      matchActions:\n      - action: Override\n        argError: -1\n'));
    const before = h.stats();
    const ev = hits([5], { canOverride: true });
    expect(ev).toHaveLength(1);
    expect((ev[0]?.flags ?? 0) & HookFlags.EXPR).toBeTruthy();
    expect((ev[0]?.flags ?? 0) & HookFlags.OVERRIDE).toBe(0);
    expect(h.run(1, [5], { canOverride: true })).toBeUndefined();
    h.events();
    expect(h.stats()['expr_pending']).toBe((before['expr_pending'] ?? 0n) + 2n);
  });

  it('matchBinaries In / NotIn / Prefix / Postfix and followChildren, from vg_procs', () => {
    const me = process.pid;
    const parent = 0x3ffff0;
    const grand = 0x3ffff1;
    h.seedProc({ tgid: grand, ppid: 0, binary: '/usr/sbin/sshd' });
    h.seedProc({ tgid: parent, ppid: grand, binary: '/usr/bin/bash' });
    h.seedProc({ tgid: me, ppid: parent, binary: '/usr/local/bin/node' });
    try {
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: In, values: ["/usr/local/bin/node"]}\n'));
      expectMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: In, values: ["/usr/bin/bash"]}\n'));
      expectNoMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: NotIn, values: ["/usr/local/bin/node"]}\n'));
      expectNoMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: Prefix, values: ["/usr/local/"]}\n'));
      expectMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: Postfix, values: ["/node"]}\n'));
      expectMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: Postfix, values: ["/bash"]}\n'));
      expectNoMatch([1]);
      // followChildren: a descendant of sshd (two levels up) matches; without it, it does not.
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: In, values: ["/usr/sbin/sshd"], followChildren: true}\n'));
      expectMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: In, values: ["/usr/sbin/sshd"]}\n'));
      expectNoMatch([1]);
      h.dropProc(grand); // the ancestor exited: the chain ends there
      use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: In, values: ["/usr/sbin/sshd"], followChildren: true}\n'));
      expectNoMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchParentBinaries:\n      - {operator: In, values: ["/usr/bin/bash"]}\n'));
      expectMatch([1]);
      use(hook('[{index: 0, type: int}]', '    - matchParentBinaries:\n      - {operator: NotIn, values: ["/usr/bin/bash"]}\n'));
      expectNoMatch([1]);
    } finally {
      h.dropProc(me);
      h.dropProc(parent);
      h.dropProc(grand);
    }
  });

  it('a process with no vg_procs entry has an empty binary: In misses, NotIn matches and says so', () => {
    h.dropProc(process.pid);
    use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: NotIn, values: ["/usr/local/bin/node"]}\n'));
    const ev = expectMatch([1]);
    expect(ev.flags & HookFlags.BINARY_UNKNOWN).toBeTruthy();
    expect(ev.execKtime).toBe(0n);
    use(hook('[{index: 0, type: int}]', '    - matchBinaries:\n      - {operator: In, values: ["/usr/local/bin/node"]}\n'));
    expectNoMatch([1]);
  });

  it('matchPIDs In / NotIn and followForks through vg_procs parents', () => {
    const me = process.pid;
    const parent = 0x3ffff2;
    h.seedProc({ tgid: me, ppid: parent, binary: '/usr/local/bin/node' });
    h.seedProc({ tgid: parent, ppid: 1, binary: '/usr/bin/bash' });
    try {
      use(hook('[{index: 0, type: int}]', `    - matchPIDs:\n      - {operator: In, values: [${me}]}\n`));
      expectMatch([1]);
      use(hook('[{index: 0, type: int}]', `    - matchPIDs:\n      - {operator: NotIn, values: [${me}, 1]}\n`));
      expectNoMatch([1]);
      use(hook('[{index: 0, type: int}]', `    - matchPIDs:\n      - {operator: In, values: [${parent}], followForks: true}\n`));
      expectMatch([1]);
      use(hook('[{index: 0, type: int}]', `    - matchPIDs:\n      - {operator: In, values: [${parent}]}\n`));
      expectNoMatch([1]);
    } finally {
      h.dropProc(me);
      h.dropProc(parent);
    }
  });

  it('matchNamespaces In / NotIn by inode, and host_ns', () => {
    const mnt = nsInode('mnt');
    const pid = nsInode('pid');
    use(hook('[{index: 0, type: int}]', `    - matchNamespaces:\n      - {namespace: Mnt, operator: In, values: ["${mnt}"]}\n`));
    expectMatch([1]);
    use(hook('[{index: 0, type: int}]', `    - matchNamespaces:\n      - {namespace: Mnt, operator: In, values: ["${mnt + 1}"]}\n`));
    expectNoMatch([1]);
    use(hook('[{index: 0, type: int}]', `    - matchNamespaces:\n      - {namespace: Pid, operator: NotIn, values: ["${pid}"]}\n`));
    expectNoMatch([1]);
    // host_ns: this test runs in the host's namespaces; the pid namespace's host inode is the kernel constant.
    use(hook('[{index: 0, type: int}]', '    - matchNamespaces:\n      - {namespace: Pid, operator: In, values: ["host_ns"]}\n'));
    if (pid === 0xeffffffc) expectMatch([1]);
    else expectNoMatch([1]);
    // mnt has no fixed host inode: the sensor tells the kernel (vg_host_ns) what pid 1's is.
    use(hook('[{index: 0, type: int}]', '    - matchNamespaces:\n      - {namespace: Mnt, operator: In, values: ["host_ns"]}\n'));
    h.setHostNs(2, mnt + 1);
    expectNoMatch([1]);
    h.setHostNs(2, mnt);
    expectMatch([1]);
  });

  it('matchCapabilities In / NotIn on the effective and inheritable sets', () => {
    use(hook('[{index: 0, type: int}]', '    - matchCapabilities:\n      - {type: Effective, operator: In, values: ["CAP_SYS_ADMIN"]}\n'));
    expectMatch([1]); // the test runs as root with every capability
    use(hook('[{index: 0, type: int}]', '    - matchCapabilities:\n      - {type: Effective, operator: NotIn, values: ["CAP_SYS_ADMIN"]}\n'));
    expectNoMatch([1]);
    use(hook('[{index: 0, type: int}]', '    - matchCapabilities:\n      - {type: Inheritable, operator: In, values: ["CAP_SYS_ADMIN"]}\n'));
    expectNoMatch([1]); // root's inheritable set is empty
    use(hook('[{index: 0, type: int}]', '    - matchCapabilities:\n      - {type: Inheritable, operator: NotIn, values: ["CAP_SYS_ADMIN"]}\n'));
    expectMatch([1]);
  });

  it('matchReturnArgs on a return hit; a return clause never matches an entry hit', () => {
    use(
      compile(
        '  kprobes:\n  - call: vg_selftest_fn\n    syscall: false\n    return: true\n    args: [{index: 0, type: int}]\n    returnArg: {index: 0, type: int}\n' +
          '    selectors:\n    - matchReturnArgs:\n      - {index: 0, operator: Equal, values: ["-13"]}\n',
      ),
    );
    const ev = expectMatch([1], { isReturn: true, retval: -13n });
    expect(ev.retval).toBe(-13n);
    expect(ev.flags & HookFlags.RETURN).toBeTruthy();
    expect(ev.args[6]?.data.readBigInt64LE(0)).toBe(-13n);
    expectNoMatch([1], { isReturn: true, retval: 0n });
    expectNoMatch([1], { isReturn: false });
  });

  it('selectors are tried in order and the first match decides; no selectors posts every hit', () => {
    use(
      hook(
        '[{index: 0, type: int}]',
        '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["1"]}\n      matchActions:\n      - action: Override\n        argError: -1\n' +
          '    - matchArgs:\n      - {index: 0, operator: LessThan, values: ["10"]}\n      matchActions:\n      - action: Override\n        argError: -2\n',
      ),
    );
    expect(h.run(1, [1], { canOverride: true })).toBe(-1);
    expect(h.events()[0]).toMatchObject({ selector: 1, action: ACTION.values.Override, overrideRet: -1 });
    expect(h.run(1, [5], { canOverride: true })).toBe(-2);
    expect(h.events()[0]).toMatchObject({ selector: 2, overrideRet: -2 });
    expect(h.run(1, [50], { canOverride: true })).toBeUndefined();
    expect(h.events()).toHaveLength(0);
    use(compile('  kprobes:\n  - call: vg_selftest_fn\n    syscall: false\n    args: [{index: 0, type: int}]\n'));
    const ev = expectMatch([123]);
    expect(ev).toMatchObject({ selector: 0 });
    expect(ev.flags & HookFlags.NO_SELECTOR).toBeTruthy();
  });

  it('Override where the family cannot override is reported as refused; NoPost writes nothing; Signal is sent', () => {
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["1"]}\n      matchActions:\n      - action: Override\n        argError: -1\n'));
    expect(h.run(1, [1], { canOverride: false })).toBeUndefined();
    const ev = h.events()[0];
    expect(ev?.flags ?? 0).toBe(HookFlags.OVERRIDE_REFUSED);
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["1"]}\n      matchActions:\n      - action: NoPost\n'));
    const before = h.stats();
    expectNoMatch([1]);
    expect(h.stats()['matched']).toBe((before['matched'] ?? 0n) + 1n);
    // SIGWINCH (28): ignored by default, so sending it to this test process is harmless and observable.
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["1"]}\n      matchActions:\n      - action: Signal\n        argSig: 28\n'));
    const sig = expectMatch([1]);
    expect(sig).toMatchObject({ action: ACTION.values.Signal, signal: 28 });
    expect(sig.flags & HookFlags.SIGNALED).toBeTruthy();
  });

  it('policy-mode monitor: the would-be Sigkill is posted with the monitor flag and counted, nothing is sent', () => {
    use(
      compile(
        '  options:\n  - name: policy-mode\n    value: monitor\n  kprobes:\n  - call: vg_selftest_fn\n    syscall: false\n    args: [{index: 0, type: int}]\n    selectors:\n' +
          '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["9"]}\n      matchActions:\n      - action: Sigkill\n',
      ),
    );
    const before = h.stats();
    const ev = expectMatch([9]); // this process is still alive to read the event
    expect(ev).toMatchObject({ action: ACTION.values.Sigkill, signal: 9 });
    expect(ev.flags & HookFlags.MONITOR).toBeTruthy();
    expect(ev.flags & HookFlags.KILLED).toBe(0);
    const after = h.stats();
    expect(after['monitor']).toBe((before['monitor'] ?? 0n) + 1n);
    expect(after['kills']).toBe(before['kills']);
  });

  it('rateLimit: one post per window, the next post reports how many were suppressed', async () => {
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["1"]}\n      matchActions:\n      - action: Post\n        rateLimit: "1"\n        rateLimitScope: process\n'));
    const before = h.stats();
    expect(hits([1])).toHaveLength(1);
    expect(hits([1])).toHaveLength(0);
    expect(hits([1])).toHaveLength(0);
    expect(h.stats()['rate_limited']).toBe((before['rate_limited'] ?? 0n) + 2n);
    await new Promise((r) => setTimeout(r, 1100));
    const ev = expectMatch([1]);
    expect(ev.suppressed).toBe(2);
  });

  it('the exempt cgroup set wins over every selector', () => {
    use(hook('[{index: 0, type: int}]', '    - matchArgs:\n      - {index: 0, operator: Equal, values: ["1"]}\n'));
    const cg = expectMatch([1]).cgroupId;
    h.exemptCgroup(cg);
    try {
      const before = h.stats();
      expectNoMatch([1]);
      expect(h.stats()['exempt']).toBe((before['exempt'] ?? 0n) + 1n);
    } finally {
      h.exemptCgroup(cg, false);
    }
    expectMatch([1]);
  });

  it('one vg_gen update switches every map of the policy at once', () => {
    const a = hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: Prefix, values: ["/a/"]}\n');
    const b = hook('[{index: 0, type: string}]', '    - matchArgs:\n      - {index: 0, operator: Prefix, values: ["/b/"]}\n');
    h.install(a, 0, false);
    h.install(b, 1, false);
    h.switchTo(0);
    expect(expectMatch([cstr('/a/x')]).generation).toBe(0);
    expectNoMatch([cstr('/b/x')]);
    h.switchTo(1);
    expect(expectMatch([cstr('/b/x')]).generation).toBe(1);
    expectNoMatch([cstr('/a/x')]);
    gen = 1;
  });
});
