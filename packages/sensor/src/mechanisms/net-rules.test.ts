import { describe, expect, it } from '@jest/globals';
import { ENF_OFF, ENF_SIZE } from '../abi/enforce-layout.js';
import { compileNetDenySet, compileSocketDenySet, formatV6, parseCidr } from './net-rules.js';

function matches(value: Buffer) {
  const n = value.readUInt32LE(ENF_OFF.rule.count);
  return Array.from({ length: n }, (_, i) => {
    const at = ENF_OFF.rule.match + i * ENF_SIZE.match;
    return [value.readUInt16LE(at), value.readUInt16LE(at + 2), value.readUInt8(at + 4), value.readUInt32LE(at + 8)];
  });
}

describe('connect deny set compiler (pure)', () => {
  it('writes the documented bytes for one IPv4 rule', () => {
    const [e] = compileNetDenySet([{ id: 7, cidr: '10.1.2.3/8', ports: [[443, 443]], protocol: 'tcp' }]);
    expect(e?.family).toBe(4);
    expect(e?.key.toString('hex')).toBe('08000000' + '0a000000');
    expect(e?.value.length).toBe(ENF_SIZE.rule);
    expect(e?.value.subarray(0, 20).toString('hex')).toBe('01000000' + '00000000' + 'bb01bb01' + '06000000' + '07000000');
  });

  it('stores IPv4-mapped IPv6 CIDRs as IPv4 rules and normalizes IPv6', () => {
    expect(parseCidr('::ffff:127.0.0.77')).toEqual({ family: 4, addr: Buffer.from([127, 0, 0, 77]), prefix: 32 });
    expect(parseCidr('::ffff:10.0.0.0/104')).toEqual({ family: 4, addr: Buffer.from([10, 0, 0, 0]), prefix: 8 });
    const v6 = parseCidr('2001:db8::1/32');
    expect(v6.family).toBe(6);
    expect(formatV6(v6.addr)).toBe('2001:db8::');
    expect(formatV6(parseCidr('fe80::1:0:0:5').addr)).toBe('fe80::1:0:0:5');
  });

  it('gives each CIDR the matches of every rule containing it (longest-prefix semantics)', () => {
    const entries = compileNetDenySet([
      { id: 1, cidr: '10.0.0.0/8', ports: [[22, 22]] },
      { id: 2, cidr: '10.1.0.0/16', ports: [[80, 90]], protocol: 'udp' },
      { id: 3, cidr: '192.168.0.0/16' },
    ]);
    const byKey = new Map(entries.map((e) => [e.key.toString('hex'), matches(e.value)]));
    expect(byKey.get('08000000' + '0a000000')).toEqual([[22, 22, 0, 1]]);
    expect(byKey.get('10000000' + '0a010000')).toEqual([
      [22, 22, 0, 1],
      [80, 90, 17, 2],
    ]);
    expect(byKey.get('10000000' + 'c0a80000')).toEqual([[0, 65535, 0, 3]]);
    const [k] = compileNetDenySet([{ id: 4, cidr: '10.0.0.1', action: 'kill' }]);
    expect(k?.value.readUInt8(ENF_OFF.rule.match + ENF_OFF.match.flags)).toBe(1);
  });

  it('refuses bad rules and too many matches with a reason', () => {
    expect(() => compileNetDenySet([{ id: 1, cidr: '10.0.0.0/33' }])).toThrow(/prefix length must be 0..32/);
    expect(() => compileNetDenySet([{ id: 1, cidr: 'example.com' }])).toThrow(/not an IPv4 or IPv6 address/);
    expect(() => compileNetDenySet([{ id: 1, cidr: '10.0.0.1', ports: [[9, 8]] }])).toThrow(/port range 9-8/);
    const many = Array.from({ length: 9 }, (_, i) => ({ id: i, cidr: '10.0.0.0/8', ports: [[i, i]] as Array<[number, number]> }));
    expect(() => compileNetDenySet(many)).toThrow(/NET_MATCH_MAX = 8/);
  });

  it('encodes socket rules with 0 as the wildcard and refuses a protocol without a type', () => {
    const [raw, udp6] = compileSocketDenySet([
      { id: 7, family: 'inet', type: 'raw' },
      { id: 8, family: 'inet6', type: 'dgram', protocol: 17 },
    ]);
    expect(raw?.key.toString('hex')).toBe('02000000' + '03000000' + '00000000' + '00000000');
    expect(udp6?.key.toString('hex')).toBe('0a000000' + '02000000' + '11000000' + '00000000');
    expect(udp6?.value.readUInt32LE(0)).toBe(8);
    expect(() => compileSocketDenySet([{ id: 1, family: 'inet', protocol: 6 }])).toThrow(/a protocol needs a type/);
  });
});
