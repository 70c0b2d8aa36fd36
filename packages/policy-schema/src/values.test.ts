import { describe, expect, it } from '@jest/globals';
import { parseCidr, parseInteger, parsePortRange, parseRange, parseRateLimit } from './values.js';

const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

describe('operand parsers', () => {
  it('parses IPv4 and IPv6 addresses and CIDRs, masking host bits', () => {
    expect(parseCidr('127.0.0.1/8')).toMatchObject({ family: 4, prefixLen: 8 });
    expect(hex(parseCidr('127.0.0.1/8')?.addr)).toBe('7f000000');
    expect(hex(parseCidr('10.1.2.3')?.addr)).toBe('0a010203');
    expect(parseCidr('10.1.2.3')?.prefixLen).toBe(32);
    expect(hex(parseCidr('fd00::1/8')?.addr)).toBe('fd000000000000000000000000000000');
    expect(hex(parseCidr('::1')?.addr)).toBe('00000000000000000000000000000001');
    expect(hex(parseCidr('::ffff:10.0.0.1')?.addr)).toBe('00000000000000000000ffff0a000001');
    expect(hex(parseCidr('2001:db8:0:0:1:0:0:1')?.addr)).toBe('20010db8000000000001000000000001');
    for (const bad of ['300.1.1.1', '1.2.3', '1.2.3.4/33', '::1/129', '1::2::3', 'fe80::1%eth0', '01.2.3.4', 'a.b.c.d', '1:2:3:4:5:6:7:8:9', '']) expect(parseCidr(bad)).toBeUndefined();
  });

  it('parses integers in 64 bits, ranges, ports and durations', () => {
    expect(parseInteger('0x10')).toBe(16n);
    expect(parseInteger('-1')).toBe(-1n);
    expect(parseInteger('18446744073709551615')).toBe(18446744073709551615n);
    expect(parseInteger('18446744073709551616')).toBeUndefined();
    expect(parseInteger('1e3')).toBeUndefined();
    expect(parseRange('5:3')).toBeUndefined();
    expect(parseRange('-3:3')).toEqual({ lo: -3n, hi: 3n });
    expect(parsePortRange('8000:8080')).toEqual({ lo: 8000, hi: 8080 });
    expect(parsePortRange('65536')).toBeUndefined();
    expect(parseRateLimit('5')).toBe(5000);
    expect(parseRateLimit('2m')).toBe(120_000);
    expect(parseRateLimit('1h')).toBe(3_600_000);
    expect(parseRateLimit('5 minutes')).toBeUndefined();
  });
});
