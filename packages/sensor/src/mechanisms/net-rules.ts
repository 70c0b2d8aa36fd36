/**
 * The connect deny set as map contents (pure). Byte grammar written here, read by bpf/progs/sock_cgroup.bpf.c:
 *
 *   vg_net_v4 key  = u32 prefixlen (host order, 0..32)  · u8 addr[4]  (network order, host bits zero)
 *   vg_net_v6 key  = u32 prefixlen (host order, 0..128) · u8 addr[16]
 *   value          = u32 count · u32 0 · count × { u16 port_lo · u16 port_hi · u8 protocol · u8 flags · u16 0 · u32 rule_id
 *                                                · u32 identity_set_id · u32 binary_set_id }
 *                    (flags: 1 = VG_NET_KILL, deny and SIGKILL the caller at the syscall's exit;
 *                     2 = VG_NET_BIND, a bind rule: bind4/6 use only these, connect/sendmsg only the others;
 *                     4 = VG_NET_MONITOR, record only; 8 = VG_NET_HOST, host processes match the identity set too)
 *                    (then zeroes up to NET_MATCH_MAX entries; enforcing matches come before monitor-mode ones,
 *                     the program takes the first match that applies to the caller)
 *
 * An LPM trie returns only the longest prefix that contains the destination, so each CIDR's value carries the
 * matches of every rule whose CIDR contains that CIDR: the rules containing a destination are exactly those
 * containing its longest matching prefix. IPv6 CIDRs inside ::ffff:0:0/96 (IPv4-mapped) are stored as IPv4 rules,
 * because connect6 judges mapped destinations by the v4 trie.
 */
import { isIPv4, isIPv6 } from 'node:net';
import { ENF_OFF, ENF_SIZE, NET_MATCH_MAX, NetFlags } from '../abi/enforce-layout.js';
import { EnforceError } from './errors.js';
import { BinarySets, checkScope, fileRuleValue, type RuleScope } from './scope.js';

export interface NetDenyRule extends RuleScope {
  /** reported in decision records (the engine's rule/selector id) */
  id: number;
  /** `a.b.c.d/n`, an IPv6 CIDR, or a bare address (/32 or /128) */
  cidr: string;
  /** inclusive port ranges; absent or empty: every port */
  ports?: ReadonlyArray<readonly [number, number]>;
  /** absent: TCP and UDP */
  protocol?: 'tcp' | 'udp';
  /** 'deny' (default): EPERM; 'kill': EPERM and SIGKILL at the exit of the connect/send/bind syscall */
  action?: 'deny' | 'kill';
  /**
   * 'connect' (default): destinations of connect() and unconnected sendto()/sendmsg(); 'bind': local addresses
   * and ports of bind() (0.0.0.0/0 or ::/0 with a port range denies binding those ports on any address).
   */
  hook?: 'connect' | 'bind';
}

export interface NetEntry {
  family: 4 | 6;
  key: Buffer;
  value: Buffer;
}

const PROTO = { tcp: 6, udp: 17 } as const;

function parseV4(s: string): Buffer {
  return Buffer.from(s.split('.').map(Number));
}

function parseV6(s: string): Buffer {
  let text = s;
  const out = Buffer.alloc(16);
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  let tail: number[] = [];
  if (v4?.[1]) {
    const b = parseV4(v4[1]);
    tail = [b.readUInt16BE(0), b.readUInt16BE(2)];
    text = text.slice(0, -v4[1].length) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const hs = head ? head.split(':').map((g) => parseInt(g, 16)) : [];
  const rs = rest !== undefined && rest !== '' ? rest.split(':').map((g) => parseInt(g, 16)) : [];
  const groups = rest === undefined ? hs : [...hs, ...new Array<number>(8 - hs.length - rs.length).fill(0), ...rs];
  if (tail.length) groups.splice(6, 2, ...tail);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  return out;
}

/** Formats 16 bytes as an IPv6 address (longest zero run compressed). */
export function formatV6(b: Buffer): string {
  const g: number[] = [];
  for (let i = 0; i < 16; i += 2) g.push(b.readUInt16BE(i));
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = g.map((x) => x.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function mask(addr: Buffer, prefix: number): Buffer {
  const out = Buffer.from(addr);
  for (let bit = prefix; bit < out.length * 8; bit++) out[bit >> 3] = (out[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  return out;
}

interface Cidr {
  family: 4 | 6;
  addr: Buffer;
  prefix: number;
}

/** Parses and normalizes a CIDR (host bits cleared; IPv4-mapped IPv6 → IPv4). */
export function parseCidr(cidr: string): Cidr {
  const [ip = '', len, extra] = cidr.trim().split('/');
  if (extra !== undefined) throw new EnforceError('BAD_RULE', `bad CIDR ${JSON.stringify(cidr)}: more than one "/"`);
  const family = isIPv4(ip) ? 4 : isIPv6(ip) ? 6 : undefined;
  if (!family) throw new EnforceError('BAD_RULE', `bad CIDR ${JSON.stringify(cidr)}: ${JSON.stringify(ip)} is not an IPv4 or IPv6 address`);
  const bits = family === 4 ? 32 : 128;
  const prefix = len === undefined ? bits : Number(len);
  if (!/^\d+$/.test(len ?? String(bits)) || prefix > bits) {
    throw new EnforceError('BAD_RULE', `bad CIDR ${JSON.stringify(cidr)}: prefix length must be 0..${bits}`);
  }
  const addr = family === 4 ? parseV4(ip) : parseV6(ip);
  if (family === 6 && prefix >= 96 && addr.subarray(0, 10).every((b) => b === 0) && addr[10] === 0xff && addr[11] === 0xff) {
    return { family: 4, addr: mask(addr.subarray(12), prefix - 96), prefix: prefix - 96 };
  }
  return { family, addr: mask(addr, prefix), prefix };
}

function contains(outer: Cidr, inner: Cidr): boolean {
  return outer.family === inner.family && outer.prefix <= inner.prefix && mask(inner.addr, outer.prefix).equals(outer.addr);
}

/** Compiles deny rules into the entries of vg_net_v4 / vg_net_v6 (see the grammar above). */
export function compileNetDenySet(rules: readonly NetDenyRule[], bins: BinarySets = new BinarySets()): NetEntry[] {
  const parsed = rules.map((r) => {
    const ports = r.ports && r.ports.length ? r.ports : [[0, 65535] as const];
    for (const [lo, hi] of ports) {
      if (!Number.isInteger(lo) || !Number.isInteger(hi) || lo < 0 || hi > 65535 || lo > hi) {
        throw new EnforceError('BAD_RULE', `rule ${r.id}: port range ${lo}-${hi} must satisfy 0 <= lo <= hi <= 65535`);
      }
    }
    if (!Number.isInteger(r.id) || r.id < 0 || r.id > 0xffffffff) throw new EnforceError('BAD_RULE', `rule id ${r.id} must be a u32`);
    checkScope(r.id, r);
    return { rule: r, cidr: parseCidr(r.cidr), ports, binarySet: bins.idOf(r.id, r.binaries) };
  });
  const keys = new Map<string, Cidr>();
  for (const p of parsed) keys.set(`${p.cidr.family}/${p.cidr.addr.toString('hex')}/${p.cidr.prefix}`, p.cidr);
  const out: NetEntry[] = [];
  for (const k of keys.values()) {
    const matches = parsed
      .filter((p) => contains(p.cidr, k))
      .sort((a, b) => Number(!!a.rule.monitor) - Number(!!b.rule.monitor)) // enforcing first (stable)
      .flatMap((p) =>
        p.ports.map(([lo, hi]) => ({
          lo,
          hi,
          proto: p.rule.protocol ? PROTO[p.rule.protocol] : 0,
          flags:
            (p.rule.action === 'kill' ? NetFlags.KILL : 0) |
            (p.rule.hook === 'bind' ? NetFlags.BIND : 0) |
            (p.rule.monitor ? NetFlags.MONITOR : 0) |
            (p.rule.hostIncluded ? NetFlags.HOST : 0),
          id: p.rule.id,
          identity: p.rule.identitySetId ?? 0,
          binarySet: p.binarySet,
        })),
      );
    if (matches.length > NET_MATCH_MAX) {
      throw new EnforceError(
        'LIMIT',
        `CIDR ${k.family === 4 ? [...k.addr].join('.') : formatV6(k.addr)}/${k.prefix}: ${matches.length} (protocol, port range) matches from the rules containing it; the limit is NET_MATCH_MAX = ${NET_MATCH_MAX}`,
      );
    }
    const key = Buffer.alloc(k.family === 4 ? ENF_SIZE.key4 : ENF_SIZE.key6);
    key.writeUInt32LE(k.prefix, 0);
    k.addr.copy(key, 4);
    const value = Buffer.alloc(ENF_SIZE.rule);
    value.writeUInt32LE(matches.length, ENF_OFF.rule.count);
    matches.forEach((m, i) => {
      const at = ENF_OFF.rule.match + i * ENF_SIZE.match;
      value.writeUInt16LE(m.lo, at + ENF_OFF.match.port_lo);
      value.writeUInt16LE(m.hi, at + ENF_OFF.match.port_hi);
      value.writeUInt8(m.proto, at + ENF_OFF.match.protocol);
      value.writeUInt8(m.flags, at + ENF_OFF.match.flags);
      value.writeUInt32LE(m.id, at + ENF_OFF.match.rule_id);
      value.writeUInt32LE(m.identity, at + ENF_OFF.match.identity_set_id);
      value.writeUInt32LE(m.binarySet, at + ENF_OFF.match.binary_set_id);
    });
    out.push({ family: k.family, key, value });
  }
  return out;
}

/** A socket(2) to deny, by family and optionally type and protocol (sock_create sees nothing else). */
export interface SocketDenyRule extends RuleScope {
  id: number;
  family: 'inet' | 'inet6';
  /** absent: every type (then protocol must be absent too) */
  type?: 'stream' | 'dgram' | 'raw';
  /** IPPROTO_* number; absent: every protocol */
  protocol?: number;
}

const FAMILY = { inet: 2, inet6: 10 } as const;
const SOCK_TYPE = { stream: 1, dgram: 2, raw: 3 } as const;

/**
 * Compiles socket deny rules into vg_sock_deny entries: key = u32 family · u32 type · u32 protocol · u32 0 (0 = any,
 * protocol only with a type), value = u32 rule_id · u32 0.
 */
export function compileSocketDenySet(rules: readonly SocketDenyRule[], bins: BinarySets = new BinarySets()): Array<{ key: Buffer; value: Buffer }> {
  return rules.map((r) => {
    if (!(r.family in FAMILY)) throw new EnforceError('BAD_RULE', `socket rule ${r.id}: family must be inet or inet6`);
    if (r.type === undefined && r.protocol !== undefined) throw new EnforceError('BAD_RULE', `socket rule ${r.id}: a protocol needs a type`);
    if (r.protocol !== undefined && (!Number.isInteger(r.protocol) || r.protocol <= 0 || r.protocol > 255)) {
      throw new EnforceError('BAD_RULE', `socket rule ${r.id}: protocol must be an IPPROTO_* number 1..255`);
    }
    const key = Buffer.alloc(ENF_SIZE.sockKey);
    key.writeUInt32LE(FAMILY[r.family], 0);
    key.writeUInt32LE(r.type ? SOCK_TYPE[r.type] : 0, 4);
    key.writeUInt32LE(r.protocol ?? 0, 8);
    return { key, value: fileRuleValue(r.id, r, bins) };
  });
}
