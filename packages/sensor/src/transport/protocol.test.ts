import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { fullNodeProfile, tracepointOnlyNodeProfile } from '@vigil/policy-schema';
import { decodeToken, encodeToken, keys, nodeProfileHash, parseNodePolicyKey } from './protocol.js';

describe('key tokens', () => {
  it('keep dotted node names apart: a never matches a.b', () => {
    expect(encodeToken('a.b')).toBe('a_2eb');
    expect(keys.assignment('a.b', 'u1')).toBe('assign.a_2eb.u1');
    const filterA = keys.assignmentsOfNode('a');
    // `assign.a.>` needs a literal second token `a`; a.b's key has one token `a_2eb` there.
    expect(keys.assignment('a.b', 'u1').split('.')[1]).not.toBe(filterA.split('.')[1]);
    expect(keys.assignment('a_2eb', 'u').split('.')[1]).toBe('a_5f2eb');
  });
  it('round-trip and stay single KV tokens for any string', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1, unit: 'grapheme' }), (s) => {
        const t = encodeToken(s);
        expect(t).toMatch(/^[A-Za-z0-9_-]+$/);
        expect(decodeToken(t)).toBe(s);
      }),
    );
  });
  it('parse assignment and ack keys back to names', () => {
    expect(parseNodePolicyKey(keys.ack('ip-10-0-0-1.ec2.internal', 'ns/p'))).toEqual({ kind: 'ack', node: 'ip-10-0-0-1.ec2.internal', policyUid: 'ns/p' });
    expect(parseNodePolicyKey('bundle.x.y')).toBeUndefined();
  });
  it('hash node profiles by content, not key order', () => {
    const a = fullNodeProfile();
    const b = JSON.parse(JSON.stringify(a, Object.keys(a).reverse())) as typeof a;
    expect(nodeProfileHash(a)).toBe(nodeProfileHash(fullNodeProfile()));
    expect(nodeProfileHash(a)).not.toBe(nodeProfileHash(tracepointOnlyNodeProfile()));
    expect(nodeProfileHash(b)).toMatch(/^[0-9a-f]{32}$/);
  });
});
