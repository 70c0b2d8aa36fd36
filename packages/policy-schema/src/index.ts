// Public API of @vigil/policy-schema: explicit exports only.
export {
  ACCEPTED_API_VERSIONS,
  HOOK_LISTS,
  POLICY_KINDS,
  TETRAGON_API_VERSION,
  VIGIL_API_VERSION,
  VIGIL_GROUP,
  VIGIL_VERSION,
} from './types.js';
export type {
  AcceptedApiVersion,
  ActionSelector,
  ArgFilter,
  ArgSpec,
  BinarySelector,
  CapabilitySelector,
  ConditionType,
  EnforcerSpec,
  FentrySpec,
  HookListName,
  KprobeSpec,
  LabelSelector,
  LabelSelectorRequirement,
  ListSpec,
  LsmHookSpec,
  NamespaceChangeSelector,
  NamespaceSelector,
  HookRollup,
  NodeFailure,
  OptionSpec,
  PidSelector,
  PolicyCondition,
  PolicyKind,
  PolicyMetadata,
  Selector,
  TracepointSpec,
  TracingPolicy,
  TracingPolicySpec,
  TracingPolicyStatus,
  UprobeSpec,
  UsdtSpec,
  WorkloadSelector,
} from './types.js';
export {
  BundleError,
  BUNDLE_ERROR_CODES,
  COMPILE_ERROR_CODES,
  formatIssue,
  POLICY_ERROR_CODES,
  PolicyCompileError,
  PolicyValidationError,
} from './errors.js';
export type { BundleErrorCode, CompileErrorCode, PolicyErrorCode, PolicyIssue } from './errors.js';
export { LIMITS, LIMIT_DOCS } from './limits.js';
export { formatLabelSelector, matchLabelSelector } from './label-selector.js';
export type { LimitName } from './limits.js';
export { assertValidPolicy, parsePolicy, validatePolicy, validatePolicyText } from './validate.js';
export type { DocumentResult, ValidationResult } from './validate.js';
export { documentSchema, specSchema, statusSchema } from './schema/policy-schema.js';
export type { JsonSchema } from './schema/policy-schema.js';
export {
  ABI_ENUMS,
  ACTION,
  ARG_OPERATOR,
  ARG_TYPE,
  CAP_SET,
  CLAUSE_KIND,
  HOOK_KIND,
  MECHANISM,
  NAMESPACE_KIND,
  POLICY_MODE,
  RATE_LIMIT_SCOPE,
  SET_OPERATOR,
  SYSCALL_ABI,
  VALUE_KIND,
  BINARY_MATCH,
} from './abi/enums.js';
export type { AbiEnum, ActionName, ArgOperator, ArgType, HookKind, Mechanism, PolicyMode, SyscallAbi } from './abi/enums.js';
export { DEFAULT_SYSCALL_TABLES, resolveSyscall } from './data/syscalls.js';
export type { ResolvedSyscall, SyscallTables } from './data/syscalls.js';
export { compilePolicy, chooseMechanism, bundleContentHash, policyUidOf } from './compile/compiler.js';
export {
  bundleFromJson,
  bundleToHex,
  bundleToJson,
  compareBundleVersions,
  isNewerBundle,
  MAP_NAMES,
  MAP_SPECS,
} from './compile/bundle.js';
export type {
  Bundle,
  BundleJson,
  BundleVersion,
  CompiledArg,
  CompiledEnforcer,
  CompiledHook,
  IdentitySetRef,
  MapEntry,
  MapName,
  MapSpec,
  UserspaceExpr,
} from './compile/bundle.js';
export {
  COMMON_TRACEPOINT_FORMATS,
  fullNodeProfile,
  MECHANISM_FLAGS,
  parseNodeProfile,
  tracepointOnlyNodeProfile,
} from './compile/node-profile.js';
export type { NodeMechanisms, NodeProfile, TracepointField } from './compile/node-profile.js';
export {
  ACTION_RECORD_BYTES,
  ARG_DESC_BYTES,
  BUNDLE_GRAMMAR_VERSION,
  HOOK_CONFIG_BYTES,
  NO_ID,
  SELECTOR_PROGRAM_MAGIC,
  STRING_KEY_BYTES,
} from './compile/grammar.js';
export { decodeActionTable, decodeHookConfig, decodeSelectorProgram } from './compile/decode.js';
export type { DecodedAction, DecodedArgDesc, DecodedClause, DecodedHookConfig, DecodedSelector } from './compile/decode.js';
export { EXIT_INVALID, EXIT_OK, EXIT_USAGE, POLICY_HELP, runPolicyCommand } from './cli/policy-command.js';
export type { CommandIo } from './cli/policy-command.js';
