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
export type { Ack, Announce, ApplyResult, Assignment, CapabilityEntry, TransportErrorCode } from './transport/protocol.js';
