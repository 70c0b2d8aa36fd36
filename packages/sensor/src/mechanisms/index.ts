// The enforcement mechanisms for kernels without kprobes or BPF trampolines (issue #8), for the enforcement
// engine to select and configure: see docs/enforcement-fallbacks.md. Explicit exports only.
export { ConnectDeny, type ConnectDenyOptions } from './connect-deny.js';
export { ExecKill, type ExecKillOptions } from './exec-kill.js';
export { OpenKill, type OpenKillOptions } from './open-kill.js';
export { FanotifyGuard, type FanotifyCounters, type FanotifyDecision, type FanotifyGuardOptions, type FanotifyRule } from './fanotify/guard.js';
export { compileNetDenySet, compileSocketDenySet, parseCidr, type NetDenyRule, type SocketDenyRule } from './net-rules.js';
export { compileFileDenySet, type FileDenyRule } from './file-rules.js';
export { fileIdOf, kernelDev, type FileId } from './file-id.js';
export { cgroupIdOf, cgroupIdOfPid, cgroupDirOf } from './cgroup.js';
export { decodeDecision, type DecisionCounters, type EnforcementDecision, type MechanismName } from './decision.js';
export { EnforceError, type EnforceErrorCode } from './errors.js';
export { UnixConnectDeny, probeConnectUnix, type UnixConnectDenyOptions, type UnixDenyRule } from './unix-deny.js';
export { UringKill, type UringDenyRule, type UringKillOptions } from './uring-kill.js';
export { type RuleScope } from './scope.js';
