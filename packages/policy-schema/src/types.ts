// TypeScript view of a Vigil TracingPolicy. Field names and enum values are those of Tetragon's
// cilium.io/v1alpha1 TracingPolicy so a Tetragon policy migrates by changing only `apiVersion`.
import type {
  ActionName,
  ArgOperator,
  ArgType,
  CapabilitySetName,
  NamespaceKind,
  PolicyMode,
} from './abi/enums.js';

export const VIGIL_GROUP = 'vigil.dev';
export const VIGIL_VERSION = 'v1alpha1';
export const VIGIL_API_VERSION = `${VIGIL_GROUP}/${VIGIL_VERSION}`;
export const TETRAGON_API_VERSION = 'cilium.io/v1alpha1';
export const ACCEPTED_API_VERSIONS = [VIGIL_API_VERSION, TETRAGON_API_VERSION] as const;
export type AcceptedApiVersion = (typeof ACCEPTED_API_VERSIONS)[number];

export const POLICY_KINDS = ['TracingPolicy', 'TracingPolicyNamespaced'] as const;
export type PolicyKind = (typeof POLICY_KINDS)[number];

export type LabelSelectorOperator = 'In' | 'NotIn' | 'Exists' | 'DoesNotExist';
export interface LabelSelectorRequirement {
  key: string;
  operator: LabelSelectorOperator;
  values?: string[];
}
export interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: LabelSelectorRequirement[];
}

export interface ArgSpec {
  index: number;
  type: ArgType;
  label?: string;
  maxData?: boolean;
  returnCopy?: boolean;
  sizeArgIndex?: number;
  resolve?: string;
  btfType?: string;
  btfTypeModule?: string;
  source?: string;
}

export interface ArgFilter {
  index?: number;
  args?: number[];
  operator: ArgOperator;
  values?: string[];
}

export type BinaryOperator = 'In' | 'NotIn' | 'Prefix' | 'NotPrefix' | 'Postfix' | 'NotPostfix';
export interface BinarySelector {
  operator: BinaryOperator;
  values: string[];
  followChildren?: boolean;
}
export interface PidSelector {
  operator: 'In' | 'NotIn';
  values: number[];
  followForks?: boolean;
  isNamespacePID?: boolean;
}
export interface NamespaceSelector {
  namespace: NamespaceKind;
  operator: 'In' | 'NotIn';
  values: string[];
}
export interface NamespaceChangeSelector {
  operator: 'In' | 'NotIn';
  values: string[];
}
export interface CapabilitySelector {
  type?: CapabilitySetName;
  operator: 'In' | 'NotIn';
  isNamespaceCapability?: boolean;
  values: string[];
}
export interface ActionSelector {
  action: ActionName;
  argError?: number;
  argFqdn?: string;
  argIndex?: number;
  argNewAddr?: number;
  argNewOffset?: number;
  argNewSymbol?: string;
  argRegs?: string[];
  argSig?: number;
  argSock?: number;
  argUrl?: string;
  argValue?: number;
  imaHash?: boolean;
  kernelStackTrace?: boolean;
  userStackTrace?: boolean;
  rateLimit?: string;
  rateLimitScope?: string;
}
export interface WorkloadSelector {
  podSelector?: LabelSelector;
  containerSelector?: LabelSelector;
  hostSelector?: LabelSelector;
}
export interface Selector {
  label?: string;
  macros?: string[];
  matchArgs?: ArgFilter[];
  matchData?: ArgFilter[];
  matchReturnArgs?: ArgFilter[];
  matchPIDs?: PidSelector[];
  matchBinaries?: BinarySelector[];
  matchParentBinaries?: BinarySelector[];
  matchNamespaces?: NamespaceSelector[];
  matchNamespaceChanges?: NamespaceChangeSelector[];
  matchCapabilities?: CapabilitySelector[];
  matchCapabilityChanges?: CapabilitySelector[];
  matchActions?: ActionSelector[];
  matchReturnActions?: ActionSelector[];
  matchWorkloads?: WorkloadSelector;
}

interface HookCommon {
  args?: ArgSpec[];
  selectors?: Selector[];
  message?: string;
  tags?: string[];
}
export interface KprobeSpec extends HookCommon {
  call: string;
  syscall?: boolean;
  return?: boolean;
  returnArg?: ArgSpec;
  returnArgAction?: string;
  data?: ArgSpec[];
  ignore?: { callNotFound?: boolean };
}
export type FentrySpec = KprobeSpec;
export interface TracepointSpec extends HookCommon {
  subsystem: string;
  event: string;
  raw?: boolean;
}
export interface UprobeSpec extends HookCommon {
  path: string;
  symbols?: string[];
  addrs?: number[];
  offsets?: number[];
  refCtrOffsets?: number[];
  binaryDigests?: string[];
  btfPath?: string;
  return?: boolean;
  returnArg?: ArgSpec;
  data?: ArgSpec[];
  ignore?: { digestVerificationFailure?: boolean };
}
export interface UsdtSpec extends HookCommon {
  path: string;
  provider: string;
  name: string;
  btfPath?: string;
}
export interface LsmHookSpec extends HookCommon {
  hook: string;
}
export type ListType = 'syscalls' | 'generated_syscalls' | 'generated_ftrace';
export interface ListSpec {
  name: string;
  type?: ListType;
  values?: string[];
  pattern?: string;
  validated?: boolean;
}
export interface EnforcerSpec {
  calls: string[];
}
export interface OptionSpec {
  name: string;
  value?: string;
}

export interface TracingPolicySpec {
  kprobes?: KprobeSpec[];
  tracepoints?: TracepointSpec[];
  uprobes?: UprobeSpec[];
  usdts?: UsdtSpec[];
  lsmhooks?: LsmHookSpec[];
  fentries?: FentrySpec[];
  lists?: ListSpec[];
  enforcers?: EnforcerSpec[];
  options?: OptionSpec[];
  loader?: boolean;
  selectorsMacros?: Record<string, Selector>;
  podSelector?: LabelSelector;
  containerSelector?: LabelSelector;
  nodeSelector?: LabelSelector;
  hostSelector?: LabelSelector;
}

export interface PolicyMetadata {
  name: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  [key: string]: unknown;
}

export type ConditionType = 'Ready' | 'Reconciling' | 'Stalled' | 'Degraded';
export interface PolicyCondition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message?: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}
export interface NodeFailure {
  node: string;
  reason: string;
  message?: string;
}
export interface TracingPolicyStatus {
  observedGeneration?: number;
  conditions?: PolicyCondition[];
  mode?: PolicyMode;
  nodes?: {
    desired: number;
    applied: number;
    failed: number;
    summary?: string;
    failures?: NodeFailure[];
  };
  /** Per hook of the policy: which mechanism runs it on how many nodes, or why it is refused (from the sensors' acks). */
  hooks?: HookRollup[];
}

/** One hook's placement across the nodes that acknowledged the current bundle. */
export interface HookRollup {
  /** JSON path of the hook in the policy, e.g. spec.kprobes[0] */
  path: string;
  /** the hook as declared (function, subsystem/event, binary:symbol, LSM hook) */
  hook: string;
  /** one entry per (mechanism, state), most nodes first */
  placements: { mechanism: string; state: 'enforcing' | 'observing' | 'refused' | 'not_attached'; nodes: number; reason?: string; exampleNode?: string }[];
}

export interface TracingPolicy {
  apiVersion: AcceptedApiVersion;
  kind: PolicyKind;
  metadata: PolicyMetadata;
  spec: TracingPolicySpec;
  status?: TracingPolicyStatus;
}

/** The hook lists of a spec, in the order the compiler assigns hook ids. */
export const HOOK_LISTS = ['kprobes', 'tracepoints', 'uprobes', 'usdts', 'lsmhooks', 'fentries'] as const;
export type HookListName = (typeof HOOK_LISTS)[number];
