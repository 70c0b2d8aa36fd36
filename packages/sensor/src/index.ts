// Public API of @vigil/sensor: explicit exports only.
export {};

// Operator ↔ sensor protocol over NATS JetStream KV (issue #10)
export {
  ACKS_BUCKET,
  BUNDLES_BUCKET,
  BUNDLES_HISTORY,
  decodeToken,
  encodeToken,
  keys,
  NODES_BUCKET,
  nodeProfileHash,
  parseNodeKey,
  parseNodePolicyKey,
  TRANSPORT_ERROR_CODES,
  TransportError,
} from './transport/protocol.js';
export { readKv } from './transport/kv-read.js';
export type { Ack, Announce, ApplyResult, Assignment, CapabilityEntry, HookStatus, TransportErrorCode } from './transport/protocol.js';
export { BundleAgent } from './transport/bundle-agent.js';
export type { BundleAgentOptions } from './transport/bundle-agent.js';
export { NO_ENGINE_REASON, RecordingApplier, RefusingApplier } from './transport/applier.js';
export type { ApplyOutcome, BundleApplier } from './transport/applier.js';
export { nodeProfileFromCapabilities } from './transport/node-profile.js';
export { StateStore } from './transport/state-store.js';
export type { StoredPolicy } from './transport/state-store.js';
export { EVENTS_PROTO, eventType } from './export/event-proto.js';
export { eventSubject, EVENTS_SUBJECT_PREFIX, NatsEventPublisher } from './export/nats-events.js';
export type { NatsEventPublisherOptions } from './export/nats-events.js';
export { DisabledEventExport, NatsEventExporter } from './export/nats-exporter.js';
export type { EventExport, NatsEventExporterOptions, NatsExportStats } from './export/nats-exporter.js';

// Identity: cgroup → container → pod, identity sets, the per-node identity table (issue #11)
export { IDENTITY_BUCKET, identityKeys, parsePodKey } from './identity/protocol.js';
export type { ContainerIdentity, PodIdentity } from './identity/protocol.js';
export { IdentityTable, IdentityTableClient } from './identity/table.js';
export { IdentitySets, IdentitySetsError } from './identity/sets.js';
export { matchLabelSelector } from '@vigil/policy-schema';
export type { ContainerRegistration, IdentitySetsOptions, IdentitySetsStats } from './identity/sets.js';
export { CgroupResolver } from './identity/resolver.js';
export { parseCgroupPath, splitContainerId } from './identity/cgroup-path.js';
export type { CgroupIdentity, ContainerRuntime } from './identity/cgroup-path.js';
export { PinnedIdentityMap, identityPinPath } from './identity/map.js';
export { IDENTITY_ALL_PODS, IDENTITY_PIN_NAME, identityKey } from './identity/abi.js';

// Enforcement engine: per-mechanism routing and the in-kernel selector engine (issue #7)
export { CompositeApplier, formatHookStatus, policyState, routeHook } from './enforce/composite.js';
export type { GenericApplier } from './enforce/composite.js';
export { GenericEngineError, GenericHookEngine } from './generic/engine.js';
export type { GenericEngineErrorCode, GenericHookEngineOptions } from './generic/engine.js';
