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
