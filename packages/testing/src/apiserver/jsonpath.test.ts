// The JSONPath subset printer columns use (k8s.io/client-go/util/jsonpath semantics).
import { describe, expect, it } from '@jest/globals';
import { evaluateJsonPath, JsonPathError } from './jsonpath.js';

const obj = {
  metadata: { name: 'w', labels: { 'app.kubernetes.io/name': 'vigil' } },
  spec: { containers: [{ name: 'a', ports: [{ containerPort: 80 }] }, { name: 'b', ports: [{ containerPort: 9090 }] }] },
  status: {
    replicas: 3,
    conditions: [
      { type: 'Synced', status: 'False' },
      { type: 'Ready', status: 'True', observedGeneration: 2 },
    ],
  },
};

describe('JSONPath', () => {
  it('selects fields, indices, wildcards and quoted keys', () => {
    expect(evaluateJsonPath('.status.replicas', obj)).toEqual([3]);
    expect(evaluateJsonPath('{.spec.containers[1].name}', obj)).toEqual(['b']);
    expect(evaluateJsonPath('.spec.containers[-1].name', obj)).toEqual(['b']);
    expect(evaluateJsonPath('.spec.containers[*].ports[0].containerPort', obj)).toEqual([80, 9090]);
    expect(evaluateJsonPath(".metadata.labels['app.kubernetes.io/name']", obj)).toEqual(['vigil']);
    expect(evaluateJsonPath('.metadata.labels.app\\.kubernetes\\.io/name', obj)).toEqual(['vigil']);
    expect(evaluateJsonPath('.status.missing', obj)).toEqual([]);
  });

  it('evaluates filter expressions', () => {
    expect(evaluateJsonPath('.status.conditions[?(@.type=="Ready")].status', obj)).toEqual(['True']);
    expect(evaluateJsonPath(".status.conditions[?(@.type!='Ready')].type", obj)).toEqual(['Synced']);
    expect(evaluateJsonPath('.status.conditions[?(@.observedGeneration>=2)].type', obj)).toEqual(['Ready']);
    expect(evaluateJsonPath('.status.conditions[?(@.observedGeneration)].type', obj)).toEqual(['Ready']);
  });

  it('reports syntax it does not support', () => {
    expect(() => evaluateJsonPath('.a[', obj)).toThrow(JsonPathError);
    expect(() => evaluateJsonPath('.a[?(@.x=~"y")]', obj)).toThrow(JsonPathError);
  });
});
