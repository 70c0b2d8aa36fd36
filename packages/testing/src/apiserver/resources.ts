// The resource types the server serves: the built-ins Vigil touches (with kube-apiserver's printers, field
// selectors and status split) and, at run time, one type per served version of each CustomResourceDefinition.
import type { FieldError } from './errors.js';
import type { StructuralSchema } from './schema-validate.js';
import type { Obj } from './store.js';
import type { TimeFields } from './times.js';
import { age, crdPrinter, DEFAULT_PRINTER, nameColumn, type PrinterColumn, type TablePrinter } from './table.js';

export interface ResourceType {
  group: string;
  version: string;
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  /** Storage bucket (`group/plural`); versions of one resource share it. */
  storage: string;
  /** Has a /status subresource whose writes change only status, while main writes never change status. */
  statusSubresource: boolean;
  /** metadata.generation is kept and bumped on spec (non-metadata, non-status) changes. */
  generation: boolean;
  nameRule: 'subdomain' | 'label';
  printer: TablePrinter;
  /** Selectable fields beyond metadata.name / metadata.namespace. */
  fields: Record<string, (o: Obj) => unknown>;
  builtin: boolean;
  /** Served objects are converted from/to the storage form (events.k8s.io/v1 over core/v1 Events). */
  toStorage?: (o: Obj) => Obj;
  fromStorage?: (o: Obj) => Obj;
  schema?: StructuralSchema;
  /** Name of the CRD that defines this type. */
  crd?: string;
  validate?: (o: Obj) => FieldError[];
  defaults?: (o: Obj) => void;
  /** The group's preferred version (storage version for CRDs). */
  preferred: boolean;
  /** metav1.Time / MicroTime fields of the served form (typed decoding of built-ins). */
  timeFields?: TimeFields;
  /** An immediate DELETE answers with the object (pods) instead of a Status Success (everything else). */
  returnDeletedObject?: boolean;
  /** Verbs served; ALL_VERBS unless set (reviews are create-only and never stored). */
  verbs?: string[];
}

export const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

export function apiVersionOf(t: { group: string; version: string }): string {
  return t.group ? `${t.group}/${t.version}` : t.version;
}

function get(o: unknown, ...path: string[]): unknown {
  let cur = o;
  for (const p of path) {
    if (!cur || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

function str(v: unknown): string | undefined {
  return v === undefined || v === null ? undefined : String(v);
}

function col(name: string, type: string, description: string, priority = 0): TablePrinter['columns'][number] {
  return { name, type, format: '', description, priority };
}

const namespacePrinter: TablePrinter = {
  columns: [nameColumn(), col('Status', 'string', 'The status of the namespace'), col('Age', 'string', 'CreationTimestamp')],
  cells: (o, now) => [get(o, 'metadata', 'name'), get(o, 'status', 'phase') ?? '', age(get(o, 'metadata', 'creationTimestamp'), now)],
};

function nodeStatus(o: Obj): string {
  const conds = (get(o, 'status', 'conditions') as { type?: string; status?: string }[] | undefined) ?? [];
  const ready = conds.find((c) => c.type === 'Ready');
  const s = !ready ? 'Unknown' : ready.status === 'True' ? 'Ready' : 'NotReady';
  return get(o, 'spec', 'unschedulable') === true ? `${s},SchedulingDisabled` : s;
}

function nodeRoles(o: Obj): string {
  const labels = (get(o, 'metadata', 'labels') as Record<string, string> | undefined) ?? {};
  const roles = Object.keys(labels)
    .filter((k) => k.startsWith('node-role.kubernetes.io/'))
    .map((k) => k.slice('node-role.kubernetes.io/'.length))
    .filter((r) => r !== '')
    .sort();
  return roles.length ? roles.join(',') : '<none>';
}

function nodeAddress(o: Obj, type: string): string {
  const addrs = (get(o, 'status', 'addresses') as { type?: string; address?: string }[] | undefined) ?? [];
  return addrs.find((a) => a.type === type)?.address ?? '<none>';
}

const nodePrinter: TablePrinter = {
  columns: [
    nameColumn(),
    col('Status', 'string', 'The status of the node'),
    col('Roles', 'string', 'The roles of the node'),
    col('Age', 'string', 'CreationTimestamp'),
    col('Version', 'string', 'Kubelet Version reported by the node.'),
    col('Internal-IP', 'string', 'List of internal IPs of the node.', 1),
    col('External-IP', 'string', 'List of external IPs of the node.', 1),
    col('OS-Image', 'string', 'OS image reported by the node.', 1),
    col('Kernel-Version', 'string', 'Kernel version reported by the node.', 1),
    col('Container-Runtime', 'string', 'Container runtime reported by the node.', 1),
  ],
  cells: (o, now) => [
    get(o, 'metadata', 'name'),
    nodeStatus(o),
    nodeRoles(o),
    age(get(o, 'metadata', 'creationTimestamp'), now),
    get(o, 'status', 'nodeInfo', 'kubeletVersion') ?? '',
    nodeAddress(o, 'InternalIP'),
    nodeAddress(o, 'ExternalIP'),
    get(o, 'status', 'nodeInfo', 'osImage') ?? '<unknown>',
    get(o, 'status', 'nodeInfo', 'kernelVersion') ?? '<unknown>',
    get(o, 'status', 'nodeInfo', 'containerRuntimeVersion') ?? '<unknown>',
  ],
};

interface ContainerStatus {
  ready?: boolean;
  restartCount?: number;
  state?: { waiting?: { reason?: string }; terminated?: { reason?: string; exitCode?: number } };
}

function podRow(o: Obj, now: number): unknown[] {
  const containers = (get(o, 'spec', 'containers') as unknown[] | undefined) ?? [];
  const statuses = (get(o, 'status', 'containerStatuses') as ContainerStatus[] | undefined) ?? [];
  let reason = String(get(o, 'status', 'reason') ?? get(o, 'status', 'phase') ?? '');
  let restarts = 0;
  let ready = 0;
  for (const cs of statuses) {
    restarts += cs.restartCount ?? 0;
    if (cs.ready) ready++;
    const w = cs.state?.waiting?.reason;
    const t = cs.state?.terminated;
    if (w) reason = w;
    else if (t) reason = t.reason ?? `ExitCode:${t.exitCode ?? 0}`;
  }
  if (get(o, 'metadata', 'deletionTimestamp')) reason = 'Terminating';
  const gates = (get(o, 'spec', 'readinessGates') as unknown[] | undefined) ?? [];
  return [
    get(o, 'metadata', 'name'),
    `${ready}/${containers.length}`,
    reason,
    String(restarts),
    age(get(o, 'metadata', 'creationTimestamp'), now),
    get(o, 'status', 'podIP') ?? '<none>',
    get(o, 'spec', 'nodeName') ?? '<none>',
    get(o, 'status', 'nominatedNodeName') ?? '<none>',
    gates.length ? `0/${gates.length}` : '<none>',
  ];
}

const podPrinter: TablePrinter = {
  columns: [
    nameColumn(),
    col('Ready', 'string', 'The aggregate readiness state of this pod for accepting traffic.'),
    col('Status', 'string', 'The aggregate status of the containers in this pod.'),
    col('Restarts', 'string', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
    col('Age', 'string', 'CreationTimestamp'),
    col('IP', 'string', 'IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 1),
    col('Node', 'string', 'NodeName is a request to schedule this pod onto a specific node.', 1),
    col('Nominated Node', 'string', 'nominatedNodeName is set when this pod preempts other pods on the node.', 1),
    col('Readiness Gates', 'string', 'If specified, all readiness gates will be evaluated for pod readiness.', 1),
  ],
  cells: podRow,
};

const eventPrinter: TablePrinter = {
  columns: [
    col('Last Seen', 'string', 'The time at which the most recent occurrence of this event was recorded.'),
    col('Type', 'string', 'Type of this event (Normal, Warning), new types could be added in the future.'),
    col('Reason', 'string', 'This should be a short, machine understandable string that gives the reason for this event being generated.'),
    col('Object', 'string', 'The object that this event is about.'),
    col('Message', 'string', 'A human-readable description of the status of this operation.'),
    col('Subobject', 'string', 'The subobject that this event is about.', 1),
    col('Source', 'string', 'The component reporting this event.', 1),
    col('First Seen', 'string', 'The time at which the event was first recorded.', 1),
    col('Count', 'string', 'The number of times this event has occurred.', 1),
    { ...nameColumn(), priority: 1 },
  ],
  cells: (o, now) => {
    const last = get(o, 'lastTimestamp') ?? get(o, 'eventTime') ?? get(o, 'series', 'lastObservedTime');
    const kind = String(get(o, 'involvedObject', 'kind') ?? '').toLowerCase();
    return [
      age(last, now),
      get(o, 'type') ?? '',
      get(o, 'reason') ?? '',
      `${kind}/${String(get(o, 'involvedObject', 'name') ?? '')}`,
      get(o, 'message') ?? '',
      get(o, 'involvedObject', 'fieldPath') ?? '',
      get(o, 'source', 'component') ?? get(o, 'reportingComponent') ?? '',
      age(get(o, 'firstTimestamp') ?? get(o, 'eventTime'), now),
      String(get(o, 'count') ?? get(o, 'series', 'count') ?? 1),
      get(o, 'metadata', 'name'),
    ];
  },
};

const leasePrinter: TablePrinter = {
  columns: [nameColumn(), col('Holder', 'string', 'The holder of the lease'), col('Age', 'string', 'CreationTimestamp')],
  cells: (o, now) => [get(o, 'metadata', 'name'), get(o, 'spec', 'holderIdentity') ?? '', age(get(o, 'metadata', 'creationTimestamp'), now)],
};

const configMapPrinter: TablePrinter = {
  columns: [nameColumn(), col('Data', 'string', 'Number of data entries'), col('Age', 'string', 'CreationTimestamp')],
  cells: (o, now) => [
    get(o, 'metadata', 'name'),
    String(Object.keys((get(o, 'data') as object | undefined) ?? {}).length + Object.keys((get(o, 'binaryData') as object | undefined) ?? {}).length),
    age(get(o, 'metadata', 'creationTimestamp'), now),
  ],
};

const EVENT_FIELDS: Record<string, (o: Obj) => unknown> = {
  'involvedObject.kind': (o) => get(o, 'involvedObject', 'kind'),
  'involvedObject.namespace': (o) => get(o, 'involvedObject', 'namespace'),
  'involvedObject.name': (o) => get(o, 'involvedObject', 'name'),
  'involvedObject.uid': (o) => get(o, 'involvedObject', 'uid'),
  'involvedObject.apiVersion': (o) => get(o, 'involvedObject', 'apiVersion'),
  'involvedObject.resourceVersion': (o) => get(o, 'involvedObject', 'resourceVersion'),
  'involvedObject.fieldPath': (o) => get(o, 'involvedObject', 'fieldPath'),
  reason: (o) => get(o, 'reason'),
  reportingComponent: (o) => get(o, 'reportingComponent'),
  source: (o) => get(o, 'source', 'component'),
  type: (o) => get(o, 'type'),
};

// events.k8s.io/v1 <-> core/v1 Event (both served from the core storage, as kube-apiserver does).
const EVENT_RENAMES: [string, string][] = [
  ['regarding', 'involvedObject'],
  ['note', 'message'],
  ['deprecatedFirstTimestamp', 'firstTimestamp'],
  ['deprecatedLastTimestamp', 'lastTimestamp'],
  ['deprecatedCount', 'count'],
  ['reportingController', 'reportingComponent'],
  ['deprecatedSource', 'source'],
];

function rename(o: Obj, pairs: [string, string][], apiVersion: string): Obj {
  const out: Obj = { ...o, apiVersion };
  for (const [from, to] of pairs) {
    if (from in out) {
      out[to] = out[from];
      Reflect.deleteProperty(out, from);
    }
  }
  return out;
}

const QUALIFIED_NAME = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Event validation (k8s.io/kubernetes/pkg/apis/core/validation/events.go); `v1Names` reports events.k8s.io names. */
function eventValidate(o: Obj, v1Names: boolean): FieldError[] {
  const errs: FieldError[] = [];
  const f = (core: string, v1: string): string => (v1Names ? v1 : core);
  const type = get(o, 'type');
  if (type !== undefined && type !== '' && type !== 'Normal' && type !== 'Warning') {
    errs.push({ field: 'type', reason: 'FieldValueNotSupported', detail: `Unsupported value: ${JSON.stringify(type)}: supported values: "Normal", "Warning"` });
  }
  const ns = get(o, 'metadata', 'namespace');
  const involvedNs = get(o, 'involvedObject', 'namespace');
  if (typeof involvedNs === 'string' && involvedNs !== '' && involvedNs !== ns) {
    errs.push({ field: f('involvedObject.namespace', 'regarding.namespace'), reason: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(involvedNs)}: does not match event.namespace` });
  }
  // new-style events (events.k8s.io, or core events carrying eventTime) need the reporting fields
  if (v1Names || get(o, 'eventTime')) {
    if (!get(o, 'eventTime')) errs.push({ field: 'eventTime', reason: 'FieldValueRequired', detail: 'Required value' });
    const controller = get(o, 'reportingComponent');
    if (!controller) errs.push({ field: f('reportingComponent', 'reportingController'), reason: 'FieldValueRequired', detail: 'Required value' });
    else if (typeof controller !== 'string' || !QUALIFIED_NAME.test(controller)) {
      errs.push({ field: f('reportingComponent', 'reportingController'), reason: 'FieldValueInvalid', detail: `Invalid value: ${JSON.stringify(controller)}: name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')` });
    }
    const instance = get(o, 'reportingInstance');
    if (!instance) errs.push({ field: 'reportingInstance', reason: 'FieldValueRequired', detail: 'Required value' });
    const action = get(o, 'action');
    if (!action) errs.push({ field: 'action', reason: 'FieldValueRequired', detail: 'Required value' });
    else if (String(action).length > 128) errs.push({ field: 'action', reason: 'FieldValueTooLong', detail: 'Too long: may not be more than 128 bytes' });
    const reason = get(o, 'reason');
    if (!reason) errs.push({ field: 'reason', reason: 'FieldValueRequired', detail: 'Required value' });
    else if (String(reason).length > 128) errs.push({ field: 'reason', reason: 'FieldValueTooLong', detail: 'Too long: may not be more than 128 bytes' });
    const note = get(o, 'message');
    if (typeof note === 'string' && note.length > 1024) errs.push({ field: f('message', 'note'), reason: 'FieldValueTooLong', detail: 'Too long: may not be more than 1024 bytes' });
  }
  return errs;
}

function podDefaults(o: Obj): void {
  const spec = (o.spec ?? {}) as Record<string, unknown>;
  spec.restartPolicy ??= 'Always';
  spec.dnsPolicy ??= 'ClusterFirst';
  spec.schedulerName ??= 'default-scheduler';
  spec.terminationGracePeriodSeconds ??= 30;
  spec.serviceAccountName ??= 'default';
  o.spec = spec;
  const status = (o.status ?? {}) as Record<string, unknown>;
  status.phase ??= 'Pending';
  o.status = status;
}

function podValidate(o: Obj): FieldError[] {
  const containers = get(o, 'spec', 'containers');
  if (!Array.isArray(containers) || containers.length === 0) {
    return [{ field: 'spec.containers', reason: 'FieldValueRequired', detail: 'Required value' }];
  }
  const errs: FieldError[] = [];
  containers.forEach((c: unknown, i) => {
    if (!get(c, 'name')) errs.push({ field: `spec.containers[${i}].name`, reason: 'FieldValueRequired', detail: 'Required value' });
    if (!get(c, 'image')) errs.push({ field: `spec.containers[${i}].image`, reason: 'FieldValueRequired', detail: 'Required value' });
  });
  return errs;
}

function builtin(p: Partial<ResourceType> & Pick<ResourceType, 'group' | 'version' | 'kind' | 'plural' | 'namespaced'>): ResourceType {
  return {
    listKind: `${p.kind}List`,
    singular: p.kind.toLowerCase(),
    shortNames: [],
    categories: [],
    storage: `${p.group}/${p.plural}`,
    statusSubresource: false,
    generation: false,
    nameRule: 'subdomain',
    printer: DEFAULT_PRINTER,
    fields: {},
    builtin: true,
    preferred: true,
    ...p,
  };
}

export function builtinTypes(): ResourceType[] {
  return [
    builtin({
      group: '', version: 'v1', kind: 'Namespace', plural: 'namespaces', namespaced: false, shortNames: ['ns'],
      statusSubresource: true, nameRule: 'label', printer: namespacePrinter,
      fields: { 'status.phase': (o) => get(o, 'status', 'phase') },
      defaults: (o) => {
        o.spec = { finalizers: ['kubernetes'], ...((o.spec as Obj | undefined) ?? {}) };
        o.status = { phase: 'Active', ...((o.status as Obj | undefined) ?? {}) };
      },
    }),
    builtin({
      group: '', version: 'v1', kind: 'Node', plural: 'nodes', namespaced: false, shortNames: ['no'],
      statusSubresource: true, printer: nodePrinter,
      timeFields: { time: [['status', 'conditions', '*', 'lastTransitionTime'], ['status', 'conditions', '*', 'lastHeartbeatTime']] },
      fields: { 'spec.unschedulable': (o) => String(get(o, 'spec', 'unschedulable') ?? false) },
    }),
    builtin({
      group: '', version: 'v1', kind: 'Pod', plural: 'pods', namespaced: true, shortNames: ['po'], categories: ['all'],
      statusSubresource: true, printer: podPrinter, defaults: podDefaults, validate: podValidate, returnDeletedObject: true,
      timeFields: { time: [['status', 'startTime'], ['status', 'conditions', '*', 'lastTransitionTime'], ['status', 'conditions', '*', 'lastProbeTime']] },
      fields: {
        'spec.nodeName': (o) => get(o, 'spec', 'nodeName'),
        'spec.restartPolicy': (o) => get(o, 'spec', 'restartPolicy'),
        'spec.schedulerName': (o) => get(o, 'spec', 'schedulerName'),
        'spec.serviceAccountName': (o) => get(o, 'spec', 'serviceAccountName'),
        'spec.hostNetwork': (o) => String(get(o, 'spec', 'hostNetwork') ?? false),
        'status.phase': (o) => get(o, 'status', 'phase'),
        'status.podIP': (o) => get(o, 'status', 'podIP'),
        'status.nominatedNodeName': (o) => get(o, 'status', 'nominatedNodeName'),
      },
    }),
    builtin({
      group: '', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'],
      printer: eventPrinter, fields: EVENT_FIELDS, validate: (o) => eventValidate(o, false),
      timeFields: { time: [['firstTimestamp'], ['lastTimestamp']], microTime: [['eventTime'], ['series', 'lastObservedTime']] },
    }),
    builtin({
      group: 'events.k8s.io', version: 'v1', kind: 'Event', plural: 'events', namespaced: true, shortNames: ['ev'],
      storage: '/events', printer: eventPrinter, validate: (o) => eventValidate(o, true),
      timeFields: { time: [['deprecatedFirstTimestamp'], ['deprecatedLastTimestamp']], microTime: [['eventTime'], ['series', 'lastObservedTime']] },
      fields: Object.fromEntries(
        Object.entries(EVENT_FIELDS).map(([k, f]) => [k.replace(/^involvedObject\./, 'regarding.'), f]),
      ),
      toStorage: (o) => rename(o, EVENT_RENAMES, 'v1'),
      fromStorage: (o) => rename(o, EVENT_RENAMES.map(([a, b]) => [b, a]), 'events.k8s.io/v1'),
    }),
    builtin({ group: '', version: 'v1', kind: 'ConfigMap', plural: 'configmaps', namespaced: true, shortNames: ['cm'], printer: configMapPrinter }),
    builtin({
      group: 'coordination.k8s.io', version: 'v1', kind: 'Lease', plural: 'leases', namespaced: true, printer: leasePrinter,
      timeFields: { microTime: [['spec', 'acquireTime'], ['spec', 'renewTime']] },
    }),
    builtin({ group: 'authorization.k8s.io', version: 'v1', kind: 'SelfSubjectAccessReview', plural: 'selfsubjectaccessreviews', namespaced: false, verbs: ['create'] }),
    builtin({
      group: 'apiextensions.k8s.io', version: 'v1', kind: 'CustomResourceDefinition', plural: 'customresourcedefinitions',
      namespaced: false, shortNames: ['crd', 'crds'], categories: ['api-extensions'], statusSubresource: true, generation: true,
      timeFields: { time: [['status', 'conditions', '*', 'lastTransitionTime']] },
    }),
  ];
}

interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema?: { openAPIV3Schema?: StructuralSchema };
  subresources?: { status?: object; scale?: object };
  additionalPrinterColumns?: PrinterColumn[];
  selectableFields?: { jsonPath: string }[];
}

export interface CrdSpec {
  group: string;
  scope: 'Namespaced' | 'Cluster';
  names: { plural: string; singular?: string; kind: string; listKind?: string; shortNames?: string[]; categories?: string[] };
  versions: CrdVersion[];
}

/** One ResourceType per served version of a CRD. */
export function typesForCrd(crdName: string, spec: CrdSpec): ResourceType[] {
  return spec.versions
    .filter((v) => v.served)
    .map((v) => ({
      group: spec.group,
      version: v.name,
      kind: spec.names.kind,
      listKind: spec.names.listKind ?? `${spec.names.kind}List`,
      plural: spec.names.plural,
      singular: spec.names.singular ?? spec.names.kind.toLowerCase(),
      namespaced: spec.scope === 'Namespaced',
      shortNames: spec.names.shortNames ?? [],
      categories: spec.names.categories ?? [],
      storage: `${spec.group}/${spec.names.plural}`,
      statusSubresource: v.subresources?.status !== undefined,
      generation: true,
      nameRule: 'subdomain' as const,
      printer: crdPrinter(v.additionalPrinterColumns),
      fields: Object.fromEntries(
        (v.selectableFields ?? []).map((f) => [f.jsonPath.replace(/^\./, ''), (o: Obj) => get(o, ...f.jsonPath.replace(/^\./, '').split('.'))]),
      ),
      builtin: false,
      ...(v.schema?.openAPIV3Schema ? { schema: v.schema.openAPIV3Schema } : {}),
      crd: crdName,
      preferred: v.storage,
    }));
}

export function fieldValue(t: ResourceType, o: Obj, field: string): string | undefined {
  if (field === 'metadata.name') return str(get(o, 'metadata', 'name'));
  if (field === 'metadata.namespace') return str(get(o, 'metadata', 'namespace')) ?? '';
  const f = t.fields[field];
  return f ? str(f(o)) : undefined;
}
