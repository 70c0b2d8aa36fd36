// The JSON Schema of Vigil's TracingPolicy / TracingPolicyNamespaced, written by hand with our own descriptions.
// Field names and enum values follow Tetragon's cilium.io/v1alpha1 CRDs (facts a migrating user depends on);
// schema-conformance.test.ts checks field by field that nothing of Tetragon's schema is missing here.
// The same schema feeds ajv (validate.ts) and the CRD generator (crd.ts), which turns it into a structural
// schema (drops `additionalProperties: false`, which Kubernetes does not allow next to `properties`).
import { ACTION, ARG_OPERATOR, ARG_TYPE, CAP_SET, enumNames, NAMESPACE_KIND } from '../abi/enums.js';
import { LIMITS } from '../limits.js';
import { ACCEPTED_API_VERSIONS, POLICY_KINDS } from '../types.js';

/** The subset of JSON Schema (and Kubernetes' OpenAPI v3 extensions) this package writes. */
export interface JsonSchema {
  type?: 'object' | 'array' | 'string' | 'integer' | 'boolean' | 'number';
  description?: string;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  enum?: readonly (string | number)[];
  format?: string;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  pattern?: string;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-validations'?: { rule: string; message: string }[];
}

/** Fields Vigil adds beyond Tetragon's: none in spec yet (documented in docs/policy-semantics.md when added). */
export const VIGIL_SPEC_EXTENSIONS: readonly string[] = [];

type Extra = Omit<JsonSchema, 'type' | 'description'>;
const str = (description: string, extra: Extra = {}): JsonSchema => ({ type: 'string', description, ...extra });
const bool = (description: string, extra: Extra = {}): JsonSchema => ({ type: 'boolean', description, ...extra });
const int32 = (description: string, extra: Extra = {}): JsonSchema => ({ type: 'integer', format: 'int32', description, ...extra });
const int64 = (description: string, extra: Extra = {}): JsonSchema => ({ type: 'integer', format: 'int64', description, ...extra });
const arr = (items: JsonSchema, description: string, extra: Extra = {}): JsonSchema => ({ type: 'array', description, items, ...extra });
const obj = (properties: Record<string, JsonSchema>, description: string, required?: string[], extra: Extra = {}): JsonSchema => ({
  type: 'object',
  description,
  properties,
  ...(required ? { required } : {}),
  additionalProperties: false,
  ...extra,
});

const LABEL_VALUE_PATTERN = '^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$';

function labelSelector(description: string, extra: Extra = {}): JsonSchema {
  return obj(
    {
      matchLabels: {
        type: 'object',
        description: 'Labels that must all be present with exactly these values.',
        additionalProperties: { type: 'string', description: 'Label value.', maxLength: 63, pattern: LABEL_VALUE_PATTERN },
      },
      matchExpressions: arr(
        obj(
          {
            key: str('Label key the requirement tests.'),
            operator: str('In / NotIn compare against values; Exists / DoesNotExist only test the key.', {
              enum: ['In', 'NotIn', 'Exists', 'DoesNotExist'],
            }),
            values: arr(str('A label value.'), 'Values for In / NotIn; must be empty for Exists / DoesNotExist.', {
              'x-kubernetes-list-type': 'atomic',
            }),
          },
          'One label requirement.',
          ['key', 'operator'],
        ),
        'Label requirements, all of which must hold.',
        { 'x-kubernetes-list-type': 'atomic' },
      ),
    },
    description,
    undefined,
    { 'x-kubernetes-map-type': 'atomic', ...extra },
  );
}

const HOST_SELECTOR_RULE = [{ rule: '!has(self.matchLabels) && !has(self.matchExpressions)', message: 'hostSelector must be null or {}: host processes cannot be selected by labels.' }];

function argSpec(description: string): JsonSchema {
  return obj(
    {
      index: int32('Which argument of the hooked function (or which tracefs field, for tracepoints) to read.', { minimum: 0 }),
      type: str('How to read and decode the argument (auto: from BTF).', { enum: enumNames(ARG_TYPE), default: 'auto' }),
      label: str('Name shown for this argument in events.'),
      maxData: bool('Read as many bytes of a buffer argument as the kernel allows instead of the default cap.', { default: false }),
      returnCopy: bool('Read the buffer again when the function returns (for out-parameters filled by the call).', { default: false }),
      sizeArgIndex: int32('1-based index of the argument holding this buffer\'s length (0: none).', { minimum: 0 }),
      resolve: str('Dotted path of struct members to follow from the argument before reading it (BTF based).', { default: '' }),
      btfType: str('BTF type to cast the argument to before resolving.'),
      btfTypeModule: str('Kernel module whose BTF defines btfType.'),
      source: str('Where the value comes from for hooks that do not take the index from a function prototype (e.g. a register or a USDT operand).'),
    },
    description,
    ['index', 'type'],
  );
}

function argFilter(description: string): JsonSchema {
  return obj(
    {
      index: int32('Argument the filter applies to (see docs/policy-semantics.md for how kprobes and tracepoints differ).', { minimum: 0 }),
      args: arr(int32('Argument position.', { minimum: 0 }), 'Several arguments the operator reads together (e.g. CelExpr).'),
      operator: str('Comparison to apply.', { enum: enumNames(ARG_OPERATOR) }),
      values: arr(str('One operand, written as a string whatever the argument type.'), 'Operands; the filter matches if any of them matches (for Not* operators: if none does).'),
    },
    description,
    ['operator'],
  );
}

const SET_OPS = ['In', 'NotIn'];
const BINARY_OPS = ['In', 'NotIn', 'Prefix', 'NotPrefix', 'Postfix', 'NotPostfix'];

function binarySelector(description: string): JsonSchema {
  return arr(
    obj(
      {
        operator: str('How paths are compared.', { enum: BINARY_OPS }),
        values: arr(str('Absolute path of an executable (or a path prefix / suffix).'), 'Executable paths.'),
        followChildren: bool('Also match every descendant process of a matching executable.', { default: false }),
      },
      'Executable path filter.',
      ['operator', 'values'],
    ),
    description,
    { maxItems: 1 },
  );
}

function capabilitySelector(description: string): JsonSchema {
  return arr(
    obj(
      {
        type: str('Capability set to inspect.', { enum: enumNames(CAP_SET), default: 'Effective' }),
        operator: str('In: any listed capability is present; NotIn: none is.', { enum: SET_OPS }),
        isNamespaceCapability: bool('Evaluate capabilities relative to the process\'s user namespace.', { default: false }),
        values: arr(str('A capability name such as CAP_SYS_ADMIN.'), 'Capabilities.'),
      },
      'Capability filter.',
      ['operator', 'values'],
    ),
    description,
  );
}

const OVERRIDE_RULE = [
  {
    rule: '!(has(self.argNewSymbol) && has(self.argNewAddr)) && !(has(self.argNewSymbol) && has(self.argNewOffset)) && !(has(self.argNewAddr) && has(self.argNewOffset))',
    message: 'set at most one of argNewSymbol, argNewAddr and argNewOffset',
  },
];

function actionList(description: string): JsonSchema {
  return arr(
    obj(
      {
        action: str('What to do when the selector matches.', { enum: enumNames(ACTION) }),
        argError: int32('Return value (usually a negative errno) that Override makes the hooked function return.'),
        argFqdn: str('Host name resolved by DnsLookup.'),
        argIndex: int32('Argument index written by Set.'),
        argNewAddr: int64('Address of the replacement function for a uprobe Override.'),
        argNewOffset: int64('File offset of the replacement function for a uprobe Override.'),
        argNewSymbol: str('Symbol of the replacement function for a uprobe Override.'),
        argRegs: arr(str('register=value assignment.'), 'Registers a uprobe Override rewrites.'),
        argSig: int32('Signal number sent by Signal (and by NotifyEnforcer).'),
        argSock: int32('Index of the socket argument for TrackSock / UntrackSock.'),
        argUrl: str('URL fetched by GetUrl.'),
        argValue: int32('Value written by Set.'),
        imaHash: bool('Attach the IMA file hash to the event (Post only).'),
        kernelStackTrace: bool('Attach the kernel stack to the event (Post only).'),
        userStackTrace: bool('Attach the user stack to the event (Post only).'),
        rateLimit: str('Suppress identical events for this long: seconds, or a number with s, m or h (Post only).'),
        rateLimitScope: str('Who shares one rate limit: thread (default), process or global.'),
      },
      'One action.',
      ['action'],
      { 'x-kubernetes-validations': OVERRIDE_RULE },
    ),
    description,
  );
}

function selectorSchema(description: string): JsonSchema {
  return obj(
    {
      label: str('Name of this selector in status and metrics.'),
      macros: arr(str('Name of an entry of spec.selectorsMacros.'), 'Macros whose clauses are appended to this selector\'s clauses.'),
      matchArgs: arr(argFilter('Filter on a function argument.'), 'Argument filters; all must match.'),
      matchData: arr(argFilter('Filter on a data[] value.'), 'Filters on values read through data[]; all must match.'),
      matchReturnArgs: arr(argFilter('Filter on the return value.'), 'Filters on the return value; all must match.'),
      matchPIDs: arr(
        obj(
          {
            operator: str('In: the pid is listed; NotIn: it is not.', { enum: SET_OPS }),
            values: arr(int32('A process id.'), 'Process ids.'),
            followForks: bool('Also match descendants of the listed processes.', { default: false }),
            isNamespacePID: bool('Compare the pid as seen in the process\'s own pid namespace.', { default: false }),
          },
          'Process id filter.',
          ['operator', 'values'],
        ),
        'Process id filters; all must match.',
      ),
      matchBinaries: binarySelector('Filter on the executable of the process (at most one entry).'),
      matchParentBinaries: binarySelector('Filter on the executable of the parent process (at most one entry).'),
      matchNamespaces: arr(
        obj(
          {
            namespace: str('Namespace kind.', { enum: enumNames(NAMESPACE_KIND) }),
            operator: str('In: the namespace is listed; NotIn: it is not.', { enum: SET_OPS }),
            values: arr(str('A namespace inode number, or host_ns for the host\'s namespace.'), 'Namespaces.'),
          },
          'Namespace filter.',
          ['namespace', 'operator', 'values'],
        ),
        'Namespace filters; all must match.',
      ),
      matchNamespaceChanges: arr(
        obj(
          {
            operator: str('In: one of these namespace kinds changed; NotIn: none did.', { enum: SET_OPS }),
            values: arr(str('A namespace kind such as Mnt or Net.'), 'Namespace kinds.'),
          },
          'Namespace change filter.',
          ['operator', 'values'],
        ),
        'Filters on namespaces the process changed since exec; all must match.',
      ),
      matchCapabilities: capabilitySelector('Capability filters; all must match.'),
      matchCapabilityChanges: capabilitySelector('Filters on capabilities the process changed since exec; all must match.'),
      matchActions: actionList('Actions when the selector matches at function entry.'),
      matchReturnActions: actionList('Actions when the selector matches at function return.'),
      matchWorkloads: obj(
        {
          podSelector: labelSelector('Pods (by label) this selector is limited to.'),
          containerSelector: labelSelector('Containers (by field, e.g. name) this selector is limited to.'),
          hostSelector: labelSelector('Set to {} to include host processes.', { 'x-kubernetes-validations': HOST_SELECTOR_RULE }),
        },
        'Workloads this selector is limited to.',
      ),
    },
    description,
  );
}

const selectors = (): JsonSchema =>
  arr(selectorSchema('A selector: its clauses are ANDed; it decides whether the hook reports and what it does.'), 'Selectors; the first one that matches decides.');
const tags = (): JsonSchema => arr(str('A tag.'), 'Free-form tags copied into every event of this hook.', { maxItems: LIMITS.MAX_TAGS_PER_HOOK });
const message = (): JsonSchema => str('Short text (at most 256 characters) copied into every event of this hook.');

// `return` is a CEL reserved word: Kubernetes exposes the field as `__return__` in rules.
const RETURN_ARG_RULE = { rule: '!has(self.__return__) || (!self.__return__ || has(self.returnArg))', message: 'return: true needs returnArg' };

function functionHook(description: string, what: string): JsonSchema {
  return arr(
    obj(
      {
        call: str(`Name of the ${what} to hook (or list:NAME to hook every function of a list).`),
        syscall: bool('The function is a system call entry point: its name may omit the arch prefix.', { default: true }),
        return: bool('Also hook the return of the function.', { default: false }),
        args: arr(argSpec('An argument to read.'), 'Arguments to read at entry.'),
        data: arr(argSpec('A value to read.'), 'Extra values to read, addressed by source rather than position.'),
        returnArg: argSpec('How to read the return value.'),
        returnArgAction: str('What to do with the return value (e.g. TrackSock, UntrackSock).'),
        selectors: selectors(),
        ignore: obj({ callNotFound: bool('Load the policy even if the function does not exist on this kernel.') }, 'Conditions under which a missing hook is not an error.'),
        message: message(),
        tags: tags(),
      },
      `A ${what} hook.`,
      ['call'],
      { 'x-kubernetes-validations': [RETURN_ARG_RULE] },
    ),
    description,
  );
}

/** JSON Schema of `spec` (shared by both kinds). */
export function specSchema(): JsonSchema {
  return obj(
    {
      kprobes: functionHook('Kernel functions to hook with kprobes (or a cheaper mechanism the node offers).', 'kernel function'),
      fentries: functionHook('Kernel functions to hook with fentry/fexit trampolines.', 'kernel function'),
      tracepoints: arr(
        obj(
          {
            subsystem: str('Tracepoint subsystem (directory under tracefs events/).'),
            event: str('Tracepoint name inside the subsystem.'),
            raw: bool('Attach as a raw tracepoint: args index the tracepoint\'s C arguments instead of format fields.'),
            args: arr(argSpec('A field to read.'), 'Format fields to read (index counts the common_ fields too).'),
            selectors: selectors(),
            message: message(),
            tags: tags(),
          },
          'A tracepoint hook.',
          ['subsystem', 'event'],
        ),
        'Kernel tracepoints to hook.',
      ),
      uprobes: arr(
        obj(
          {
            path: str('Absolute path of the binary or library to probe.'),
            symbols: arr(str('A symbol name.'), 'Symbols to probe.'),
            addrs: arr(int64('A virtual address.'), 'Addresses to probe.'),
            offsets: arr(int64('A file offset.'), 'File offsets to probe.'),
            refCtrOffsets: arr(int64('Offset of a semaphore.'), 'Reference counter (semaphore) offsets, one per probe.'),
            binaryDigests: arr(str('A digest such as sha256:<hex>.'), 'Probe only binaries with one of these digests.'),
            btfPath: str('BTF file describing the binary\'s types.'),
            return: bool('Also probe the return of the function.', { default: false }),
            args: arr(argSpec('An argument to read.'), 'Arguments to read at entry.'),
            data: arr(argSpec('A value to read.'), 'Extra values to read.'),
            returnArg: argSpec('How to read the return value.'),
            selectors: selectors(),
            ignore: obj({ digestVerificationFailure: bool('Keep going when the binary digest does not match.') }, 'Conditions under which a failed probe is not an error.'),
            message: message(),
            tags: tags(),
          },
          'A uprobe hook.',
          ['path'],
          {
            'x-kubernetes-validations': [
              { rule: '!(has(self.symbols) && has(self.addrs)) && !(has(self.symbols) && has(self.offsets)) && !(has(self.addrs) && has(self.offsets))', message: 'set at most one of symbols, addrs and offsets' },
              RETURN_ARG_RULE,
            ],
          },
        ),
        'User-space functions to hook.',
      ),
      usdts: arr(
        obj(
          {
            path: str('Absolute path of the binary holding the probe.'),
            provider: str('USDT provider name.'),
            name: str('USDT probe name.'),
            btfPath: str('BTF file describing the binary\'s types.'),
            args: arr(argSpec('A probe operand to read.'), 'Probe operands to read.'),
            selectors: selectors(),
            message: message(),
            tags: tags(),
          },
          'A USDT probe hook.',
          ['path', 'provider', 'name'],
        ),
        'User statically defined tracepoints to hook.',
      ),
      lsmhooks: arr(
        obj(
          {
            hook: str('LSM hook name without the security_ prefix, e.g. file_open.'),
            args: arr(argSpec('An argument to read.'), 'Arguments to read.'),
            selectors: selectors(),
            message: message(),
            tags: tags(),
          },
          'An LSM hook.',
          ['hook'],
        ),
        'Linux security module hooks (BPF LSM) to attach to.',
      ),
      lists: arr(
        obj(
          {
            name: str('Name other fields use as list:NAME.'),
            type: str('syscalls: values are syscall names; generated_*: the list is computed from the kernel.', {
              enum: ['syscalls', 'generated_syscalls', 'generated_ftrace'],
            }),
            values: arr(str('A function or syscall name.'), 'Members of the list.'),
            pattern: str('Regular expression selecting ftrace-able functions (generated_ftrace).'),
            validated: bool('Set by tooling once the list was checked against a kernel.'),
          },
          'A named list of functions.',
          ['name'],
        ),
        'Named lists that hooks, InMap filters and enforcers refer to.',
      ),
      enforcers: arr(obj({ calls: arr(str('A syscall name or list:NAME.'), 'Syscalls to enforce on.') }, 'Syscall enforcer fed by NotifyEnforcer.', ['calls']), 'Syscall enforcers.'),
      options: arr(
        obj({ name: str('Option name, e.g. policy-mode.'), value: str('Option value.') }, 'A policy option.', ['name']),
        'Policy options; policy-mode (enforce or monitor) is the one Vigil interprets.',
      ),
      loader: bool('Report shared-object loads (mmap of executable files) as events.'),
      selectorsMacros: {
        type: 'object',
        description: 'Named selector fragments that selectors include through macros.',
        additionalProperties: selectorSchema('A selector fragment.'),
      },
      podSelector: labelSelector('Limit the policy to pods with these labels.'),
      containerSelector: labelSelector('Limit the policy to containers with these fields (e.g. name).'),
      nodeSelector: labelSelector('Load the policy only on nodes with these labels.'),
      hostSelector: labelSelector('Set to {} to apply the policy to host processes too.', { 'x-kubernetes-validations': HOST_SELECTOR_RULE }),
    },
    'What to hook, how to filter and what to do.',
  );
}

/** JSON Schema of `status` (written by the operator). */
export function statusSchema(): JsonSchema {
  return obj(
    {
      observedGeneration: { type: 'integer', format: 'int64', description: 'metadata.generation this status describes.', minimum: 0 },
      mode: str('Effective policy mode.', { enum: ['enforce', 'monitor'] }),
      conditions: arr(
        obj(
          {
            type: str('Condition type (kstatus): Ready, Reconciling, Stalled or Degraded.', { enum: ['Ready', 'Reconciling', 'Stalled', 'Degraded'] }),
            status: str('True, False or Unknown.', { enum: ['True', 'False', 'Unknown'] }),
            reason: str('CamelCase reason.', { maxLength: 1024 }),
            message: str('Human readable detail.', { maxLength: 32768 }),
            lastTransitionTime: str('When status last changed.', { format: 'date-time' }),
            observedGeneration: { type: 'integer', format: 'int64', description: 'Generation the condition was computed for.', minimum: 0 },
          },
          'A status condition.',
          ['type', 'status', 'reason', 'lastTransitionTime'],
        ),
        'Conditions, one per type.',
        { 'x-kubernetes-list-type': 'map', 'x-kubernetes-list-map-keys': ['type'] },
      ),
      nodes: obj(
        {
          desired: int32('Nodes the policy should run on.', { minimum: 0 }),
          applied: int32('Nodes that acknowledged the current bundle.', { minimum: 0 }),
          failed: int32('Nodes that rejected or failed to apply it.', { minimum: 0 }),
          summary: str('applied/desired, for kubectl get.'),
          failures: arr(
            obj({ node: str('Node name.'), reason: str('CamelCase reason.'), message: str('Detail.', { maxLength: 1024 }) }, 'A failed node.', ['node', 'reason']),
            `Some failed nodes (at most ${LIMITS.MAX_STATUS_FAILURES}).`,
            { maxItems: LIMITS.MAX_STATUS_FAILURES },
          ),
        },
        'Roll-up of the per-node bundles.',
        ['desired', 'applied', 'failed'],
      ),
      hooks: arr(
        obj(
          {
            path: str('JSON path of the hook in the policy, e.g. spec.kprobes[0].'),
            hook: str('The hook as declared (function, subsystem/event, binary:symbol, LSM hook).'),
            placements: arr(
              obj(
                {
                  mechanism: str('Mechanism that runs the hook (kprobe, lsm, fentry, tp_btf_syscall, cgroup_sock, fanotify, …; none when refused).'),
                  state: str('enforcing, observing, refused or not_attached.', { enum: ['enforcing', 'observing', 'refused', 'not_attached'] }),
                  nodes: int32('Nodes where the hook runs this way.', { minimum: 0 }),
                  reason: str('Why (the missing kernel capability when refused).', { maxLength: 1024 }),
                  exampleNode: str('One of those nodes.'),
                },
                'Nodes that run the hook on one mechanism in one state.',
                ['mechanism', 'state', 'nodes'],
              ),
              'One entry per (mechanism, state), most nodes first.',
              { maxItems: 16 },
            ),
          },
          'Where one hook of the policy runs.',
          ['path', 'hook', 'placements'],
        ),
        'Per hook: the mechanism that runs it on how many nodes, or why it is refused (from the sensors\' acks of the current bundle).',
        { maxItems: LIMITS.MAX_HOOKS_PER_POLICY },
      ),
    },
    'Observed state, written by the operator.',
  );
}

/** Full document schema used by the validator (apiVersion and kind are checked against what we accept). */
export function documentSchema(): JsonSchema {
  return obj(
    {
      apiVersion: str('vigil.dev/v1alpha1, or cilium.io/v1alpha1 for an unchanged Tetragon policy.', { enum: ACCEPTED_API_VERSIONS }),
      kind: str('TracingPolicy (cluster-wide) or TracingPolicyNamespaced.', { enum: POLICY_KINDS }),
      metadata: {
        type: 'object',
        description: 'Standard object metadata.',
        required: ['name'],
        properties: { name: str('Policy name.', { minLength: 1, maxLength: 253 }), namespace: str('Namespace (TracingPolicyNamespaced only).') },
      },
      spec: specSchema(),
      status: statusSchema(),
    },
    'A Vigil tracing policy.',
    ['apiVersion', 'kind', 'metadata', 'spec'],
  );
}
