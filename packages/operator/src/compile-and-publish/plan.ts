// The compile step: validated policies × announced nodes → the content of the vigil-bundles bucket. Pure apart
// from the compile cache; nodes with the same NodeProfile share one compiled bundle (one compile per policy
// generation and profile).
import { bundleToJson, compilePolicy, formatLabelSelector, matchLabelSelector, PolicyCompileError, type NodeProfile, type TracingPolicy } from '@vigil/policy-schema';
import { keys, type Assignment } from '@vigil/sensor';

export interface DesiredPolicy {
  uid: string;
  name: string;
  namespace?: string;
  generation: number;
  /** Validated (validatePolicy ok) policy, or undefined when this generation is invalid: keep what the nodes run. */
  policy: TracingPolicy | undefined;
}

export interface KnownNode {
  name: string;
  profileHash: string;
  profile: NodeProfile;
  /** The Kubernetes Node's labels (spec.nodeSelector is matched against them); a node without a Node object has none. */
  labels?: Readonly<Record<string, string>>;
}

export interface NodeCompileFailure {
  node: string;
  reason: string;
  message: string;
}

export interface PolicyPlanOutcome {
  generation: number;
  /** Nodes that got an assignment for this generation. */
  assignedNodes: string[];
  /** Nodes whose profile this generation could not be compiled for (their previous assignment is kept). */
  failures: NodeCompileFailure[];
  /** With spec.nodeSelector: the selector as kubectl prints it, and how many of the sensor nodes it selected. */
  nodeSelection?: { selector: string; selected: number; total: number };
}

export interface Plan {
  /** bundle key → bundle JSON text. */
  bundles: Map<string, string>;
  /** assignment key → assignment. */
  assignments: Map<string, Assignment>;
  /** assignment keys the publisher must leave as they are (invalid generation, compile failure). */
  keep: Set<string>;
  /** policy uids whose every assignment must be left as it is (invalid generation). */
  keepPolicies: Set<string>;
  outcomes: Map<string, PolicyPlanOutcome>;
}

type Compiled = { ok: true; key: string; json: string; contentHash: string } | { ok: false; reason: string; message: string };

/** Remembers compiled bundles by (uid, generation, profile hash); compilePolicy is pure, so this is only a cache. */
export class CompileCache {
  private readonly entries = new Map<string, Compiled>();
  compiles = 0;

  get(p: DesiredPolicy & { policy: TracingPolicy }, n: KnownNode): Compiled {
    const k = `${p.uid}\u0000${p.generation}\u0000${n.profileHash}`;
    let c = this.entries.get(k);
    if (!c) {
      this.compiles++;
      try {
        const bundle = compilePolicy(p.policy, n.profile);
        const h = bundle.version.contentHash;
        c = { ok: true, key: keys.bundle(p.uid, h), json: JSON.stringify(bundleToJson(bundle)), contentHash: h };
      } catch (e) {
        if (!(e instanceof PolicyCompileError)) throw e;
        c = { ok: false, reason: `Compile${e.code.toLowerCase().replace(/(^|_)([a-z])/g, (_m, _u, ch: string) => ch.toUpperCase())}`, message: e.message };
      }
      this.entries.set(k, c);
    }
    return c;
  }

  /** Drops entries of policies not in `live` (uids) so the cache does not grow forever. */
  retain(live: ReadonlySet<string>): void {
    for (const k of this.entries.keys()) if (!live.has(k.slice(0, k.indexOf('\u0000')))) this.entries.delete(k);
  }
}

export function compilePlan(policies: readonly DesiredPolicy[], nodes: readonly KnownNode[], cache: CompileCache): Plan {
  const plan: Plan = { bundles: new Map(), assignments: new Map(), keep: new Set(), keepPolicies: new Set(), outcomes: new Map() };
  for (const p of policies) {
    const outcome: PolicyPlanOutcome = { generation: p.generation, assignedNodes: [], failures: [] };
    plan.outcomes.set(p.uid, outcome);
    if (!p.policy) {
      plan.keepPolicies.add(p.uid);
      continue;
    }
    const valid = { ...p, policy: p.policy };
    const perProfile = new Map<string, Assignment>();
    // spec.nodeSelector: a node it does not select gets no assignment, so a node relabelled out of the selector
    // has its assignment deleted and its sensor removes the policy; relabelled in, it gets one.
    const selector = p.policy.spec.nodeSelector;
    const selected = selector ? nodes.filter((n) => matchLabelSelector(selector, n.labels ?? {})) : nodes;
    if (selector) outcome.nodeSelection = { selector: formatLabelSelector(selector), selected: selected.length, total: nodes.length };
    for (const n of selected) {
      const c = cache.get(valid, n);
      const akey = keys.assignment(n.name, p.uid);
      if (!c.ok) {
        outcome.failures.push({ node: n.name, reason: c.reason, message: c.message });
        plan.keep.add(akey);
        continue;
      }
      plan.bundles.set(c.key, c.json);
      // One object per policy and profile, shared by its nodes (1,000 policies x 100 nodes: 1,000 objects).
      let a = perProfile.get(n.profileHash);
      if (!a) {
        a = { policyUid: p.uid, policyName: p.name, generation: p.generation, contentHash: c.contentHash, bundleKey: c.key, profileHash: n.profileHash };
        if (p.namespace !== undefined) a.namespace = p.namespace;
        perProfile.set(n.profileHash, a);
      }
      plan.assignments.set(akey, a);
      outcome.assignedNodes.push(n.name);
    }
  }
  cache.retain(new Set(policies.map((p) => p.uid)));
  return plan;
}
