// Label and field selector grammar as k8s.io/apimachinery parses it.
import { describe, expect, it } from '@jest/globals';
import { ApiServerError } from './errors.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.js';

const m = (sel: string, labels: Record<string, string>) => matchesLabels(parseLabelSelector(sel), labels);

describe('label selectors', () => {
  it('parses every operator', () => {
    expect(parseLabelSelector('a=1,b==2,c!=3,d in (x, y),e notin (z),f,!g,h>4,i<5')).toEqual([
      { key: 'a', op: '=', values: ['1'] },
      { key: 'b', op: '=', values: ['2'] },
      { key: 'c', op: '!=', values: ['3'] },
      { key: 'd', op: 'in', values: ['x', 'y'] },
      { key: 'e', op: 'notin', values: ['z'] },
      { key: 'f', op: 'exists', values: [] },
      { key: 'g', op: '!exists', values: [] },
      { key: 'h', op: '>', values: ['4'] },
      { key: 'i', op: '<', values: ['5'] },
    ]);
  });

  it('matches as the API documents: != and notin also match when the key is absent', () => {
    expect(m('tier!=web', {})).toBe(true);
    expect(m('tier notin (web)', {})).toBe(true);
    expect(m('tier in (web)', {})).toBe(false);
    expect(m('app.kubernetes.io/name=vigil', { 'app.kubernetes.io/name': 'vigil' })).toBe(true);
    expect(m('gen>3', { gen: '10' })).toBe(true);
    expect(m('gen>3', { gen: 'x' })).toBe(false);
    expect(m('', { any: 'thing' })).toBe(true);
  });

  it('rejects malformed selectors with BadRequest', () => {
    for (const bad of ['a in (b', '=x', 'a b', 'Bad Key=1', 'a=has space', 'n>x']) {
      const err = (() => {
        try {
          parseLabelSelector(bad);
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(ApiServerError);
      expect((err as ApiServerError).code).toBe('BadRequest');
    }
  });
});

describe('field selectors', () => {
  it('parses =, == and != with backslash escapes', () => {
    expect(parseFieldSelector('a=b,c==d,e!=f,g=x\\,y')).toEqual([
      { field: 'a', op: '=', value: 'b' },
      { field: 'c', op: '=', value: 'd' },
      { field: 'e', op: '!=', value: 'f' },
      { field: 'g', op: '=', value: 'x,y' },
    ]);
  });

  it('treats a missing field as the empty string', () => {
    const reqs = parseFieldSelector('spec.nodeName=,status.phase!=Running');
    expect(matchesFields(reqs, (f) => (f === 'status.phase' ? 'Pending' : undefined))).toBe(true);
  });
});
