// The CEL subset used by CRD x-kubernetes-validations, evaluated as kube-apiserver does for CustomResources.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { CelCompileError, CelEvalError, CelUnsupported, compileCel } from './cel.js';
import { startTestApiServer, type TestApiServer } from './server.js';
import { http, WIDGET_CRD } from './testkit.js';

type O = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const ev = (rule: string, self: unknown) => compileCel(rule).eval(self);

describe('CEL subset', () => {
  it('evaluates presence, logic, comparison, arithmetic, strings, lists and maps', () => {
    const self = { a: 1, b: 'x', list: [1, 2, 3], m: { k: 'v' }, t: true, n: null };
    expect(ev('has(self.a) && !has(self.z)', self)).toBe(true);
    expect(ev('has(self.n)', self)).toBe(false);
    expect(ev('self.a + 1 == 2 && self.a * 3 > 2 && 7 / 2 == 3 && 7 % 2 == 1', self)).toBe(true);
    expect(ev("self.b + 'y' == 'xy' && self.b.startsWith('x') && size(self.b) == 1", self)).toBe(true);
    expect(ev('self.list.size() == 3 && 2 in self.list && self.list[0] == 1', self)).toBe(true);
    expect(ev("'k' in self.m && self.m['k'] == 'v'", self)).toBe(true);
    expect(ev('self.t ? self.a : 0', self)).toBe(1);
    expect(ev('!has(self.__return__) || (!self.__return__ || has(self.returnArg))', { return: true })).toBe(false);
  });

  it('absorbs errors in && and || when the other side decides, like CEL', () => {
    expect(ev('self.missing == 1 || true', {})).toBe(true);
    expect(() => ev('self.missing == 1', {})).toThrow(CelEvalError);
  });

  it('requires escaping of reserved words and special characters in property names', () => {
    expect(() => compileCel('has(self.return)')).toThrow(CelCompileError);
    expect(() => compileCel('self.namespace == "x"')).toThrow(CelCompileError);
    expect(ev('self.__namespace__ == "x" && self.a__dash__b == 1 && self.c__dot__d == 2', { namespace: 'x', 'a-b': 1, 'c.d': 2 })).toBe(true);
  });

  it('reports macros and functions outside the subset as unsupported (the validator then skips the rule)', () => {
    expect(() => compileCel('self.all(x, x > 0)')).toThrow(CelUnsupported);
    expect(() => compileCel('int(self.a) > 0')).toThrow(CelUnsupported);
    expect(() => compileCel('self.a ~ 1')).toThrow(CelUnsupported);
  });
});

describe('x-kubernetes-validations on a CRD', () => {
  let s: TestApiServer;
  const crd = (): O => {
    const c = structuredClone(WIDGET_CRD) as O;
    c.metadata.name = 'rules.example.com';
    c.spec.names = { plural: 'rules', singular: 'rule', kind: 'Rule' };
    const spec = c.spec.versions[0].schema.openAPIV3Schema.properties.spec;
    spec['x-kubernetes-validations'] = [
      { rule: '!(has(self.name) && has(self.note))', message: 'set at most one of name and note' },
      { rule: 'self.size <= 5 || self.mode == "safe"', message: 'big widgets must be safe', reason: 'FieldValueForbidden', fieldPath: '.mode' },
      { rule: 'self.tags.all(t, t != "")', message: 'outside the subset: skipped' },
    ];
    return c;
  };
  const base = '/apis/example.com/v1/namespaces/default/rules';
  const post = (name: string, spec: O) => http<O>(s.url, 'POST', base, { apiVersion: 'example.com/v1', kind: 'Rule', metadata: { name }, spec });

  beforeAll(async () => {
    s = await startTestApiServer();
    expect((await http<O>(s.url, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd())).status).toBe(201);
  });
  afterAll(() => s.stop());

  it('accepts objects that satisfy the rules (defaults applied first) and skips rules outside the subset', async () => {
    expect((await post('ok', { size: 9 })).status).toBe(201);
  });

  it('rejects with the rule message at the rule path, honouring reason and fieldPath', async () => {
    const both = await post('both', { size: 1, name: 'a', note: 'b' });
    expect(both.status).toBe(422);
    expect(both.body.details.causes).toEqual([{ reason: 'FieldValueInvalid', message: 'Invalid value: "object": set at most one of name and note', field: 'spec' }]);
    expect(both.body.message).toBe('Rule.example.com "both" is invalid: spec: Invalid value: "object": set at most one of name and note');
    const fast = await post('fast', { size: 9, mode: 'fast' });
    expect(fast.body.details.causes).toEqual([{ reason: 'FieldValueForbidden', message: 'Forbidden: big widgets must be safe', field: 'spec.mode' }]);
  });

  it('refuses a CRD whose rule uses a reserved word as a property name', async () => {
    const bad = crd();
    bad.metadata.name = 'badrules.example.com';
    bad.spec.names = { plural: 'badrules', singular: 'badrule', kind: 'BadRule' };
    bad.spec.versions[0].schema.openAPIV3Schema.properties.spec['x-kubernetes-validations'] = [{ rule: '!has(self.return)' }];
    const r = await http<O>(s.url, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', bad);
    expect(r.status).toBe(422);
    expect(r.body.details.causes[0].field).toBe('spec.versions[0].schema.openAPIV3Schema.properties[spec].x-kubernetes-validations[0].rule');
    expect(r.body.details.causes[0].message).toContain('reserved identifier: return');
  });
});
