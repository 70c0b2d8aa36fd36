import { describe, expect, it } from '@jest/globals';
import { formatLabelSelector, matchLabelSelector } from './label-selector.js';

describe('label selectors (Kubernetes semantics)', () => {
  const node = { 'kubernetes.io/os': 'linux', tier: 'edge', gpu: '' };
  it('matchLabels needs every pair; an empty selector matches everything, even no labels', () => {
    expect(matchLabelSelector({ matchLabels: { tier: 'edge', 'kubernetes.io/os': 'linux' } }, node)).toBe(true);
    expect(matchLabelSelector({ matchLabels: { tier: 'core' } }, node)).toBe(false);
    expect(matchLabelSelector({ matchLabels: { zone: 'a' } }, node)).toBe(false);
    expect(matchLabelSelector({}, {})).toBe(true);
    expect(matchLabelSelector({ matchLabels: {} }, node)).toBe(true);
  });
  it('In / NotIn / Exists / DoesNotExist, with a present empty value counting as present', () => {
    expect(matchLabelSelector({ matchExpressions: [{ key: 'tier', operator: 'In', values: ['edge', 'core'] }] }, node)).toBe(true);
    expect(matchLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] }, node)).toBe(false);
    expect(matchLabelSelector({ matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['edge'] }] }, node)).toBe(false);
    expect(matchLabelSelector({ matchExpressions: [{ key: 'zone', operator: 'NotIn', values: ['a'] }] }, node)).toBe(true); // absent key: NotIn holds
    expect(matchLabelSelector({ matchExpressions: [{ key: 'gpu', operator: 'Exists' }] }, node)).toBe(true);
    expect(matchLabelSelector({ matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, node)).toBe(false);
    expect(matchLabelSelector({ matchExpressions: [{ key: 'toString', operator: 'Exists' }] }, node)).toBe(false); // no prototype keys
    expect(matchLabelSelector({ matchLabels: { tier: 'edge' }, matchExpressions: [{ key: 'gpu', operator: 'DoesNotExist' }] }, node)).toBe(false);
  });
  it('formats like kubectl', () => {
    expect(formatLabelSelector({ matchLabels: { tier: 'edge' }, matchExpressions: [{ key: 'os', operator: 'In', values: ['linux', 'bsd'] }, { key: 'gpu', operator: 'Exists' }, { key: 'old', operator: 'DoesNotExist' }, { key: 'z', operator: 'NotIn', values: ['a'] }] })).toBe(
      'tier=edge,os in (linux,bsd),gpu,!old,z notin (a)',
    );
    expect(formatLabelSelector({})).toBe('(everything)');
  });
});
