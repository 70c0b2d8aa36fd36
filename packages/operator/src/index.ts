// Public API of @vigil/operator: explicit exports only.
export { Operator } from './operator.js';
export type { OperatorOptions } from './operator.js';
export { WorkQueue } from './work-queue.js';
export type { WorkQueueOptions } from './work-queue.js';
export { computeStatus, MAX_LISTED_FAILURES, mergeConditions, nextStatus, sameJson } from './conditions.js';
export type { AckSummary, PolicyFacts } from './conditions.js';
export { CompileCache, compilePlan } from './compile-and-publish/plan.js';
export type { DesiredPolicy, KnownNode, NodeCompileFailure, Plan, PolicyPlanOutcome } from './compile-and-publish/plan.js';
export { BundlePublisher, openBundlesBucket, PublishError } from './compile-and-publish/publisher.js';
export type { PublishErrorCode, PublishStats } from './compile-and-publish/publisher.js';
export { LeaderElector } from './leader-election.js';
export type { LeaderElectionOptions } from './leader-election.js';
export { OPERATOR_HELP, runOperatorCommand } from './cli/operator-command.js';
