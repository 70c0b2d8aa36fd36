// The fields typed decoding knows for built-in types (and ObjectMeta for every type). kube-apiserver drops
// unknown fields of typed objects, warns about them by default (fieldValidation=Warn) and refuses them with
// fieldValidation=Strict, which kubectl sends: `strict decoding error: unknown field "spec.holder"`.
// Pods and Nodes are checked at the top level only.

export type KnownFields = { [field: string]: KnownFields | true };

const OBJECT_META: KnownFields = Object.fromEntries(
  ['name', 'generateName', 'namespace', 'selfLink', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp', 'deletionGracePeriodSeconds', 'labels', 'annotations', 'ownerReferences', 'finalizers', 'managedFields'].map((f) => [f, true]),
);

const fields = (...names: string[]): KnownFields => Object.fromEntries(names.map((n) => [n, true]));

const top = (rest: KnownFields): KnownFields => ({ apiVersion: true, kind: true, metadata: OBJECT_META, ...rest });

export const KNOWN_FIELDS: Record<string, KnownFields> = {
  '/v1/Namespace': top({ spec: fields('finalizers'), status: fields('phase', 'conditions') }),
  '/v1/Node': top({ spec: true, status: true }),
  '/v1/Pod': top({ spec: true, status: true }),
  '/v1/ConfigMap': top(fields('data', 'binaryData', 'immutable')),
  '/v1/Event': top(fields('involvedObject', 'reason', 'message', 'source', 'firstTimestamp', 'lastTimestamp', 'count', 'type', 'eventTime', 'series', 'related', 'action', 'reportingComponent', 'reportingInstance')),
  'events.k8s.io/v1/Event': top(fields('eventTime', 'series', 'reportingController', 'reportingInstance', 'action', 'reason', 'regarding', 'related', 'note', 'type', 'deprecatedSource', 'deprecatedFirstTimestamp', 'deprecatedLastTimestamp', 'deprecatedCount')),
  'coordination.k8s.io/v1/Lease': top({ spec: fields('holderIdentity', 'leaseDurationSeconds', 'acquireTime', 'renewTime', 'leaseTransitions', 'strategy', 'preferredHolder') }),
  'apiextensions.k8s.io/v1/CustomResourceDefinition': top({ spec: fields('group', 'names', 'scope', 'versions', 'conversion', 'preserveUnknownFields'), status: true }),
  'authorization.k8s.io/v1/SelfSubjectAccessReview': top({ spec: true, status: true }),
};

/** Only ObjectMeta is typed in a custom resource; the rest follows its schema. */
export const CUSTOM_RESOURCE_FIELDS: KnownFields = { metadata: OBJECT_META };

/** Removes unknown fields (in place) and returns their dotted paths. Keys not listed in `known` are unknown
 * unless `open` (custom resources: only the listed keys are checked). */
export function dropUnknownFields(o: Record<string, unknown>, known: KnownFields, open = false, path = ''): string[] {
  const unknown: string[] = [];
  for (const [k, v] of Object.entries(o)) {
    const spec = known[k];
    const p = path ? `${path}.${k}` : k;
    if (spec === undefined) {
      if (open) continue;
      unknown.push(p);
      Reflect.deleteProperty(o, k);
    } else if (spec !== true && v && typeof v === 'object' && !Array.isArray(v)) {
      unknown.push(...dropUnknownFields(v as Record<string, unknown>, spec, false, p));
    }
  }
  return unknown;
}
