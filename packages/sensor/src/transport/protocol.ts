// The operator ↔ sensor protocol over NATS JetStream KV (docs/adr/0006-nats-kv-key-design.md). Both halves import
// these key builders and value types, so the key design exists in exactly one place.
//
// Buckets (one writer each, so NATS permissions can be per bucket):
//   vigil-bundles  written by the operator
//     bundle.<policy>.<contentHash>   BundleJson, content-addressed: created once, never updated
//     assign.<node>.<policy>          Assignment: which bundle this node must run for this policy; a KV delete
//                                     (tombstone) means "remove the policy from this node"
//   vigil-nodes    written by sensors
//     node.<node>                     Announce: capability table + NodeProfile (+ its hash)
//   vigil-acks     written by sensors
//     ack.<node>.<policy>             Ack: what the node did with the assignment it last saw
// <node> and <policy> are encodeToken()s: a dot is the NATS token separator, so node `a` watching `assign.a.>`
// must never match node `a.b`'s keys.
import { createHash } from 'node:crypto';
import type { NodeProfile } from '@vigil/policy-schema';

export const BUNDLES_BUCKET = 'vigil-bundles';
export const NODES_BUCKET = 'vigil-nodes';
export const ACKS_BUCKET = 'vigil-acks';
/** Revisions kept per key in vigil-bundles (assignment history for debugging; bundles are write-once). */
export const BUNDLES_HISTORY = 5;

const PLAIN = /^[A-Za-z0-9-]$/;

/**
 * Encodes an arbitrary string as one NATS subject token / KV key token: letters, digits and `-` stay, every
 * other UTF-8 byte (`.`, `_`, `/`, `:`, …) becomes `_` + two lowercase hex digits. Injective, because `_` itself
 * is always escaped; `a.b` → `a_2eb`, never equal to any encoding of `a`.
 */
export function encodeToken(value: string): string {
  if (value === '') throw new TransportError('BAD_TOKEN', 'a node name or policy uid must not be empty');
  // One regex pass (the operator encodes every node and policy of every assignment it plans).
  return value.replace(ESCAPED, (ch) => {
    let out = '';
    for (const b of Buffer.from(ch, 'utf8')) out += `_${b.toString(16).padStart(2, '0')}`;
    return out;
  });
}
const ESCAPED = /[^A-Za-z0-9-]/gu;

export function decodeToken(token: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < token.length; i++) {
    const c = token[i] as string;
    if (c === '_') {
      const hex = token.slice(i + 1, i + 3);
      if (!/^[0-9a-f]{2}$/.test(hex)) throw new TransportError('BAD_TOKEN', `malformed escape in key token ${JSON.stringify(token)}`);
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else if (PLAIN.test(c)) bytes.push(c.charCodeAt(0));
    else throw new TransportError('BAD_TOKEN', `character ${JSON.stringify(c)} cannot appear in an encoded token`);
  }
  return Buffer.from(bytes).toString('utf8');
}

export const keys = {
  bundle: (policyUid: string, contentHash: string): string => `bundle.${encodeToken(policyUid)}.${contentHash}`,
  bundlesOfPolicy: (policyUid: string): string => `bundle.${encodeToken(policyUid)}.*`,
  assignment: (node: string, policyUid: string): string => `assign.${encodeToken(node)}.${encodeToken(policyUid)}`,
  /** The one filter a sensor watches (a single-filter consumer: nats-server 2.9 has no multi-filter consumers). */
  assignmentsOfNode: (node: string): string => `assign.${encodeToken(node)}.>`,
  node: (node: string): string => `node.${encodeToken(node)}`,
  ack: (node: string, policyUid: string): string => `ack.${encodeToken(node)}.${encodeToken(policyUid)}`,
  acksOfNode: (node: string): string => `ack.${encodeToken(node)}.>`,
} as const;

/** Splits `assign.<node>.<policy>` / `ack.<node>.<policy>` back into names; undefined for other keys. */
export function parseNodePolicyKey(key: string): { kind: 'assign' | 'ack'; node: string; policyUid: string } | undefined {
  const parts = key.split('.');
  if (parts.length !== 3 || (parts[0] !== 'assign' && parts[0] !== 'ack')) return undefined;
  return { kind: parts[0], node: decodeToken(parts[1] as string), policyUid: decodeToken(parts[2] as string) };
}

export function parseNodeKey(key: string): string | undefined {
  const parts = key.split('.');
  return parts.length === 2 && parts[0] === 'node' ? decodeToken(parts[1] as string) : undefined;
}

/** What the operator wants one node to run for one policy. */
export interface Assignment {
  policyUid: string;
  policyName: string;
  namespace?: string;
  generation: number;
  contentHash: string;
  /** Key of the bundle in vigil-bundles. */
  bundleKey: string;
  /** Hash of the NodeProfile the bundle was compiled for. */
  profileHash: string;
}

export type ApplyResult = 'applied' | 'refused' | 'failed';

/**
 * What one hook of a policy does on one node: the mechanism that runs it, or why it does not run. `enforcing`: its
 * selectors deny, kill or signal; `observing`: it attaches and only reports (Post, or policy-mode monitor);
 * `refused`: it cannot run here (the reason names the missing kernel capability); `not_attached`: an
 * `ignore`-marked hook whose target is missing on this node (reported, not fatal).
 */
export interface HookStatus {
  hookId: number;
  /** JSON path of the hook in the policy, e.g. spec.kprobes[0] */
  path: string;
  /** the hook the policy declared (function, subsystem/event, binary:symbol, LSM hook) */
  hook: string;
  mechanism: string;
  state: 'enforcing' | 'observing' | 'refused' | 'not_attached';
  reason: string;
}

/** What a sensor did with an assignment (or with its removal: result `removed`). */
export interface Ack {
  node: string;
  policyUid: string;
  generation: number;
  contentHash: string;
  result: ApplyResult | 'removed';
  reason: string;
  /** Hooks the node could not run (bundle refusals), `hook <id>: <reason>`. */
  refusals: string[];
  /** Per hook: which mechanism runs it on this node, or why not (sensors with the enforcement engine). */
  hooks?: HookStatus[];
  at: string;
}

export interface CapabilityEntry {
  id: string;
  available: boolean;
  detail: string;
}

/** A sensor's self-description, put at start and on every reconnect. */
export interface Announce {
  node: string;
  sensorVersion: string;
  profileHash: string;
  profile: NodeProfile;
  capabilities: CapabilityEntry[];
  announcedAt: string;
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.keys(value)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  return value;
}

/** sha256 of the profile's canonical JSON (sorted keys), first 16 bytes as hex: nodes with equal profiles share bundles. */
export function nodeProfileHash(profile: NodeProfile): string {
  return createHash('sha256').update(JSON.stringify(canonical(profile))).digest('hex').slice(0, 32);
}

export const TRANSPORT_ERROR_CODES = ['BAD_TOKEN', 'BAD_MESSAGE', 'NOT_CONNECTED', 'STATE_DIR'] as const;
export type TransportErrorCode = (typeof TRANSPORT_ERROR_CODES)[number];

export class TransportError extends Error {
  constructor(
    readonly code: TransportErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}
