// Parsers for operand strings. The validator uses them to reject bad values with a precise error; the compiler
// uses the same parsers to encode values, so what validates is exactly what compiles.
import type { ArgType } from './abi/enums.js';
import { ADDRESS_FAMILIES, IP_PROTOCOLS, lookupSymbol, TCP_STATES } from './data/net.js';

const INT_RE = /^[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|[0-9]+)$/;
const I64_MIN = -(1n << 63n);
const U64_MAX = (1n << 64n) - 1n;

/** Parses a decimal / 0x / 0o / 0b integer that fits in 64 bits (signed or unsigned). */
export function parseInteger(text: string): bigint | undefined {
  const t = text.trim();
  if (!INT_RE.test(t)) return undefined;
  const neg = t.startsWith('-');
  const body = t.replace(/^[-+]/, '');
  let v: bigint;
  try {
    v = BigInt(body);
  } catch {
    return undefined;
  }
  if (neg) v = -v;
  return v < I64_MIN || v > U64_MAX ? undefined : v;
}

/** Two's-complement u64 view of a parsed integer. */
export function toU64(v: bigint): bigint {
  return BigInt.asUintN(64, v);
}

export interface Cidr {
  family: 4 | 6;
  addr: Uint8Array;
  prefixLen: number;
}

function parseIPv4(text: string): Uint8Array | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i] ?? '';
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseIPv6(text: string): Uint8Array | undefined {
  let head = text;
  let tail4: Uint8Array | undefined;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    tail4 = parseIPv4(text.slice(lastColon + 1));
    if (!tail4) return undefined;
    head = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const dbl = head.split('::');
  if (dbl.length > 2) return undefined;
  const groups = (s: string): string[] => (s === '' ? [] : s.split(':'));
  const left = groups(dbl[0] ?? '');
  const right = dbl.length === 2 ? groups(dbl[1] ?? '') : [];
  const missing = 8 - left.length - right.length;
  if (dbl.length === 1 ? missing !== 0 : missing < 1) return undefined;
  const all = [...left, ...Array<string>(dbl.length === 2 ? missing : 0).fill('0'), ...right];
  const out = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    const g = all[i] ?? '';
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  }
  if (tail4) out.set(tail4, 12);
  return out;
}

/** Parses an IPv4/IPv6 address with optional /prefix. A bare address is a host route (/32 or /128). */
export function parseCidr(text: string): Cidr | undefined {
  const [addrText, prefixText, extra] = text.trim().split('/');
  if (addrText === undefined || extra !== undefined) return undefined;
  const v4 = parseIPv4(addrText);
  const addr = v4 ?? (addrText.includes(':') ? parseIPv6(addrText) : undefined);
  if (!addr) return undefined;
  const family = v4 ? 4 : 6;
  const max = family === 4 ? 32 : 128;
  let prefixLen = max;
  if (prefixText !== undefined) {
    if (!/^[0-9]{1,3}$/.test(prefixText)) return undefined;
    prefixLen = Number(prefixText);
    if (prefixLen > max) return undefined;
  }
  // Mask host bits so 127.0.0.1/8 and 127.0.0.0/8 compile to the same key.
  for (let bit = prefixLen; bit < max; bit++) addr[bit >> 3] = (addr[bit >> 3] ?? 0) & ~(0x80 >> (bit & 7));
  return { family, addr, prefixLen };
}

export interface NumRange {
  lo: bigint;
  hi: bigint;
}

/** `N` or `N:M` (inclusive), both integers, lo ≤ hi. */
export function parseRange(text: string): NumRange | undefined {
  const parts = text.split(':');
  if (parts.length > 2) return undefined;
  const lo = parseInteger(parts[0] ?? '');
  const hi = parts.length === 2 ? parseInteger(parts[1] ?? '') : lo;
  if (lo === undefined || hi === undefined || lo > hi) return undefined;
  return { lo, hi };
}

/** A port or port range `N[:M]` within 0..65535. */
export function parsePortRange(text: string): { lo: number; hi: number } | undefined {
  const r = parseRange(text);
  if (!r || r.lo < 0n || r.hi > 65535n) return undefined;
  return { lo: Number(r.lo), hi: Number(r.hi) };
}

function symbolOrInt(table: Readonly<Record<string, number>>, text: string, max: bigint): number | undefined {
  const sym = lookupSymbol(table, text);
  if (sym !== undefined) return sym;
  const v = parseInteger(text);
  return v === undefined || v < 0n || v > max ? undefined : Number(v);
}
export const parseFamily = (t: string): number | undefined => symbolOrInt(ADDRESS_FAMILIES, t, 0xffffn);
export const parseProtocol = (t: string): number | undefined => symbolOrInt(IP_PROTOCOLS, t, 0xffffn);
export const parseTcpState = (t: string): number | undefined => symbolOrInt(TCP_STATES, t, 0xffn);

/** rateLimit: seconds, or a number with s/m/h. Returns milliseconds. */
export function parseRateLimit(text: string): number | undefined {
  const m = /^([0-9]+)([smh]?)$/.exec(text.trim());
  if (!m) return undefined;
  const n = Number(m[1]);
  const unit = m[2] === 'h' ? 3_600_000 : m[2] === 'm' ? 60_000 : 1000;
  const ms = n * unit;
  return ms > 0xffffffff ? undefined : ms;
}

export function utf8Length(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** Argument types whose operands are integers (Equal / NotEqual compare numbers, not strings). */
export const INT_ARG_TYPES: ReadonlySet<ArgType> = new Set<ArgType>([
  'int', 'sint8', 'int8', 'uint8', 'sint16', 'int16', 'uint16', 'uint32', 'sint32', 'int32', 'ulong', 'uint64', 'size_t', 'long', 'sint64', 'int64',
  'syscall64', 'capability', 'kernel_cap_t', 'cap_inheritable', 'cap_permitted', 'cap_effective', 'bpf_cmd',
]);
