// The ONE source of every numeric code shared between the policy compiler (TypeScript) and the BPF programs (C).
// `pnpm gen` renders this file into bpf/include/abi/policy_enums.h; a test fails when the header is stale.
// Codes are part of the bundle grammar: never renumber an existing entry, only append (and bump
// BUNDLE_GRAMMAR_VERSION when the meaning of bytes changes).

/** One enum shared with C: `prefix` becomes the C macro prefix, `values` maps policy spelling → code. */
export interface AbiEnum {
  readonly cName: string;
  readonly prefix: string;
  readonly doc: string;
  readonly values: Readonly<Record<string, number>>;
}

export const HOOK_KIND = {
  cName: 'vg_hook_kind',
  prefix: 'VG_HOOK_',
  doc: 'Kind of hook a policy entry names (spec.kprobes, spec.tracepoints, ...).',
  values: { kprobe: 1, tracepoint: 2, uprobe: 3, usdt: 4, lsm: 5, fentry: 6 },
} as const satisfies AbiEnum;

export const MECHANISM = {
  cName: 'vg_mechanism',
  prefix: 'VG_MECH_',
  doc: 'Kernel attach mechanism the compiler chose for a hook on one node (0: refused, nothing attaches).',
  values: {
    none: 0,
    kprobe: 1,
    kretprobe: 2,
    fentry: 3,
    fexit: 4,
    lsm: 5,
    tracepoint: 6,
    raw_tp: 7,
    tp_btf: 8,
    uprobe: 9,
    uretprobe: 10,
    tp_btf_syscall: 11,
    fanotify: 12,
    cgroup_sock: 13,
  },
} as const satisfies AbiEnum;

export const ARG_TYPE = {
  cName: 'vg_arg_type',
  prefix: 'VG_ARG_',
  doc: 'How a hook argument is read and decoded (spec args[].type).',
  values: {
    auto: 0,
    int: 1,
    sint8: 2,
    int8: 3,
    uint8: 4,
    sint16: 5,
    int16: 6,
    uint16: 7,
    uint32: 8,
    sint32: 9,
    int32: 10,
    ulong: 11,
    uint64: 12,
    size_t: 13,
    long: 14,
    sint64: 15,
    int64: 16,
    char_buf: 17,
    char_iovec: 18,
    skb: 19,
    sock: 20,
    sockaddr: 21,
    socket: 22,
    sockaddr_un: 23,
    string: 24,
    fd: 25,
    file: 26,
    filename: 27,
    path: 28,
    nop: 29,
    bpf_attr: 30,
    perf_event: 31,
    bpf_map: 32,
    user_namespace: 33,
    capability: 34,
    kiocb: 35,
    iov_iter: 36,
    cred: 37,
    const_buf: 38,
    load_info: 39,
    module: 40,
    syscall64: 41,
    kernel_cap_t: 42,
    cap_inheritable: 43,
    cap_permitted: 44,
    cap_effective: 45,
    linux_binprm: 46,
    data_loc: 47,
    net_device: 48,
    bpf_cmd: 49,
    dentry: 50,
    bpf_prog: 51,
  },
} as const satisfies AbiEnum;

export const ARG_OPERATOR = {
  cName: 'vg_arg_op',
  prefix: 'VG_OP_',
  doc: 'Operator of a matchArgs / matchData / matchReturnArgs clause.',
  values: {
    Equal: 1,
    NotEqual: 2,
    Prefix: 3,
    NotPrefix: 4,
    Postfix: 5,
    NotPostfix: 6,
    GreaterThan: 7,
    LessThan: 8,
    GT: 9,
    LT: 10,
    Mask: 11,
    SPort: 12,
    NotSPort: 13,
    SPortPriv: 14,
    NotSportPriv: 15,
    DPort: 16,
    NotDPort: 17,
    DPortPriv: 18,
    NotDPortPriv: 19,
    SAddr: 20,
    NotSAddr: 21,
    DAddr: 22,
    NotDAddr: 23,
    Protocol: 24,
    Family: 25,
    State: 26,
    InMap: 27,
    NotInMap: 28,
    CapabilitiesGained: 29,
    InRange: 30,
    NotInRange: 31,
    SubString: 32,
    SubStringIgnCase: 33,
    CelExpr: 34,
    FileType: 35,
    NotFileType: 36,
  },
} as const satisfies AbiEnum;

export const SET_OPERATOR = {
  cName: 'vg_set_op',
  prefix: 'VG_SETOP_',
  doc: 'Operator of the set-style clauses (matchBinaries, matchPIDs, matchNamespaces, matchCapabilities ...).',
  values: { In: 1, NotIn: 2, Prefix: 3, NotPrefix: 4, Postfix: 5, NotPostfix: 6 },
} as const satisfies AbiEnum;

export const ACTION = {
  cName: 'vg_action',
  prefix: 'VG_ACT_',
  doc: 'Action of a matchActions / matchReturnActions entry.',
  values: {
    Post: 1,
    Sigkill: 2,
    Override: 3,
    GetUrl: 4,
    DnsLookup: 5,
    NoPost: 6,
    Signal: 7,
    TrackSock: 8,
    UntrackSock: 9,
    NotifyEnforcer: 10,
    CleanupEnforcerNotification: 11,
    Set: 12,
  },
} as const satisfies AbiEnum;

export const CLAUSE_KIND = {
  cName: 'vg_clause_kind',
  prefix: 'VG_CLAUSE_',
  doc: 'Kind of a clause inside a compiled selector (one per match* entry).',
  values: {
    arg: 1,
    data: 2,
    return_arg: 3,
    pids: 4,
    binaries: 5,
    parent_binaries: 6,
    namespaces: 7,
    namespace_changes: 8,
    capabilities: 9,
    capability_changes: 10,
  },
} as const satisfies AbiEnum;

export const VALUE_KIND = {
  cName: 'vg_value_kind',
  prefix: 'VG_VAL_',
  doc: 'Encoding of the operands of an arg / data / return_arg clause (see the grammar in compile/compiler.ts).',
  values: { int: 1, str_set: 2, prefix_set: 3, postfix_set: 4, substr: 5, cidr: 6, ports: 7, ranges: 8, map_set: 9, expr: 10, file_types: 11, none: 12 },
} as const satisfies AbiEnum;

export const BINARY_MATCH = {
  cName: 'vg_bin_match',
  prefix: 'VG_BIN_',
  doc: 'How a binaries clause compares the executable path with its set.',
  values: { exact: 1, prefix: 2, postfix: 3 },
} as const satisfies AbiEnum;

export const NAMESPACE_KIND = {
  cName: 'vg_ns_kind',
  prefix: 'VG_NS_',
  doc: 'Namespace kind of matchNamespaces / matchNamespaceChanges.',
  values: { Uts: 0, Ipc: 1, Mnt: 2, Pid: 3, PidForChildren: 4, Net: 5, Time: 6, TimeForChildren: 7, Cgroup: 8, User: 9 },
} as const satisfies AbiEnum;

export const CAP_SET = {
  cName: 'vg_cap_set',
  prefix: 'VG_CAPSET_',
  doc: 'Which capability set a matchCapabilities clause reads.',
  values: { Effective: 0, Inheritable: 1, Permitted: 2 },
} as const satisfies AbiEnum;

export const RATE_LIMIT_SCOPE = {
  cName: 'vg_rate_scope',
  prefix: 'VG_RATE_',
  doc: 'Scope of a Post action rate limit.',
  values: { thread: 0, process: 1, global: 2 },
} as const satisfies AbiEnum;

export const POLICY_MODE = {
  cName: 'vg_policy_mode',
  prefix: 'VG_MODE_',
  doc: 'Policy mode (spec.options policy-mode): monitor turns enforcement actions into events.',
  values: { enforce: 0, monitor: 1 },
} as const satisfies AbiEnum;

export const SYSCALL_ABI = {
  cName: 'vg_syscall_abi',
  prefix: 'VG_ABI_',
  doc: 'Syscall table a syscall-set entry belongs to.',
  values: { x86_64: 0, ia32: 1 },
} as const satisfies AbiEnum;

/** Every shared enum, in the order the C header lists them. */
export const ABI_ENUMS: readonly AbiEnum[] = [
  HOOK_KIND,
  MECHANISM,
  ARG_TYPE,
  ARG_OPERATOR,
  SET_OPERATOR,
  ACTION,
  CLAUSE_KIND,
  VALUE_KIND,
  BINARY_MATCH,
  NAMESPACE_KIND,
  CAP_SET,
  RATE_LIMIT_SCOPE,
  POLICY_MODE,
  SYSCALL_ABI,
];

export type HookKind = keyof typeof HOOK_KIND.values;
export type Mechanism = keyof typeof MECHANISM.values;
export type ArgType = keyof typeof ARG_TYPE.values;
export type ArgOperator = keyof typeof ARG_OPERATOR.values;
export type SetOperator = keyof typeof SET_OPERATOR.values;
export type ActionName = keyof typeof ACTION.values;
export type ClauseKind = keyof typeof CLAUSE_KIND.values;
export type ValueKind = keyof typeof VALUE_KIND.values;
export type BinaryMatch = keyof typeof BINARY_MATCH.values;
export type NamespaceKind = keyof typeof NAMESPACE_KIND.values;
export type CapabilitySetName = keyof typeof CAP_SET.values;
export type RateLimitScope = keyof typeof RATE_LIMIT_SCOPE.values;
export type PolicyMode = keyof typeof POLICY_MODE.values;
export type SyscallAbi = keyof typeof SYSCALL_ABI.values;

/** Names of an enum in declaration order (the schema's `enum` lists come from here). */
export function enumNames<E extends AbiEnum>(e: E): (keyof E['values'] & string)[] {
  return Object.keys(e.values) as (keyof E['values'] & string)[];
}
