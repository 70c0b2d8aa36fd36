// Policy status: kstatus conditions (Ready, Reconciling, Stalled) plus Degraded, computed purely from what the
// operator knows, and merged so that lastTransitionTime only moves when a condition's status changes.
import type { ConditionType, HookRollup, NodeFailure, PolicyCondition, PolicyIssue, TracingPolicyStatus } from '@vigil/policy-schema';
import type { Ack, HookStatus } from '@vigil/sensor';

/** One hook as one node runs it (an ack's HookStatus without the node-local id). */
export type HookPlacement = Pick<HookStatus, 'path' | 'hook' | 'mechanism' | 'state' | 'reason'>;

/**
 * What status needs of an ack (the operator keeps only this of the 100,000 acks of 1,000 policies x 100 nodes;
 * `hooks` lists are shared between nodes that report the same placements).
 */
export type AckSummary = Pick<Ack, 'contentHash' | 'result' | 'reason'> & { hooks?: readonly HookPlacement[] };

/** Placements listed per hook in status.hooks (the node counts cover all). */
const MAX_PLACEMENTS = 16;

/** Failing nodes listed in status (the counts cover all of them). */
export const MAX_LISTED_FAILURES = 10;

export interface PolicyFacts {
  generation: number;
  mode: 'enforce' | 'monitor';
  /** Validation issues of the current generation (empty when valid). */
  issues: readonly PolicyIssue[];
  /** Nodes that should run the policy, with the content hash planned for each (undefined: compile failed). */
  targets: ReadonlyMap<string, { contentHash: string } | { compileFailure: { reason: string; message: string } }>;
  /** Latest ack per node for this policy. */
  acks: ReadonlyMap<string, AckSummary>;
  /** With spec.nodeSelector: the selector and how many of the nodes running a sensor it selected. */
  nodeSelection?: { selector: string; selected: number; total: number };
}

interface Cond {
  type: ConditionType;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/**
 * status.hooks: per hook path, how many nodes that acknowledged the current bundle run it on which mechanism in
 * which state (refusals with the reason and one node named). Sorted by path; placements by node count.
 */
export function rollupHooks(f: PolicyFacts): HookRollup[] {
  const byPath = new Map<string, { hook: string; placements: Map<string, { mechanism: string; state: HookPlacement['state']; nodes: number; reason: string; exampleNode: string }> }>();
  for (const [node, t] of [...f.targets].sort(([a], [b]) => a.localeCompare(b))) {
    if ('compileFailure' in t) continue;
    const ack = f.acks.get(node);
    if (!ack || ack.contentHash !== t.contentHash || !ack.hooks) continue;
    for (const h of ack.hooks) {
      let e = byPath.get(h.path);
      if (!e) byPath.set(h.path, (e = { hook: h.hook, placements: new Map() }));
      const k = `${h.mechanism}\u0000${h.state}\u0000${h.state === 'refused' || h.state === 'not_attached' ? h.reason : ''}`;
      const p = e.placements.get(k);
      if (p) p.nodes++;
      else e.placements.set(k, { mechanism: h.mechanism, state: h.state, nodes: 1, reason: h.reason, exampleNode: node });
    }
  }
  const pathOrder = (p: string): [string, number] => {
    const m = /^(.*)\[(\d+)\]$/.exec(p);
    return m ? [m[1] as string, Number(m[2])] : [p, 0];
  };
  return [...byPath]
    .sort(([a], [b]) => {
      const [la, ia] = pathOrder(a);
      const [lb, ib] = pathOrder(b);
      return la === lb ? ia - ib : la.localeCompare(lb);
    })
    .map(([path, e]) => ({
      path,
      hook: e.hook,
      placements: [...e.placements.values()]
        .sort((a, b) => b.nodes - a.nodes || a.mechanism.localeCompare(b.mechanism))
        .slice(0, MAX_PLACEMENTS)
        .map((p) => ({ mechanism: p.mechanism, state: p.state, nodes: p.nodes, ...(p.reason ? { reason: p.reason.slice(0, 1024) } : {}), exampleNode: p.exampleNode })),
    }));
}

export function computeStatus(f: PolicyFacts): { conditions: Cond[]; nodes: NonNullable<TracingPolicyStatus['nodes']> } {
  let applied = 0;
  const failures: NodeFailure[] = [];
  for (const [node, t] of [...f.targets].sort(([a], [b]) => a.localeCompare(b))) {
    if ('compileFailure' in t) {
      failures.push({ node, reason: t.compileFailure.reason, message: t.compileFailure.message });
      continue;
    }
    const ack = f.acks.get(node);
    if (!ack || ack.contentHash !== t.contentHash) continue; // pending
    if (ack.result === 'applied') applied++;
    else if (ack.result === 'refused' || ack.result === 'failed')
      failures.push({ node, reason: ack.result === 'refused' ? 'Refused' : 'ApplyFailed', message: ack.reason });
  }
  const desired = f.targets.size;
  const failed = failures.length;
  const pending = desired - applied - failed;
  const nodes = { desired, applied, failed, summary: `${applied}/${desired}`, failures: failures.slice(0, MAX_LISTED_FAILURES) };

  const c = (type: ConditionType, status: boolean, reason: string, message: string): Cond => ({ type, status: status ? 'True' : 'False', reason, message });
  if (f.issues.length > 0) {
    const first = f.issues[0] as PolicyIssue;
    const msg = `generation ${f.generation} is invalid: ${f.issues.map((i) => `${i.path || '(root)'}: ${i.reason}`).join('; ')}; nodes keep the previous generation`;
    return {
      nodes,
      conditions: [
        c('Ready', false, 'InvalidPolicy', msg),
        c('Reconciling', false, 'InvalidPolicy', `fix ${first.path || 'the policy'} and apply again`),
        c('Stalled', true, 'InvalidPolicy', msg),
        c('Degraded', false, 'InvalidPolicy', ''),
      ],
    };
  }
  const failMsg = failures
    .slice(0, 3)
    .map((x) => `${x.node}: ${x.message ?? x.reason}`)
    .join('; ');
  const sel = f.nodeSelection;
  const selNote = sel ? ` (spec.nodeSelector ${sel.selector} selects ${sel.selected} of ${sel.total} node(s) running a sensor)` : '';
  if (desired === 0 && sel && sel.total > 0)
    // Like a DaemonSet whose nodeSelector matches no node: nothing to do is a settled state, not a failure.
    return {
      nodes,
      conditions: [
        c('Ready', true, 'NoMatchingNodes', `spec.nodeSelector ${sel.selector} selects none of the ${sel.total} node(s) running a sensor: nothing to enforce; label a node to select it`),
        c('Reconciling', false, 'NoMatchingNodes', ''),
        c('Stalled', false, 'NoMatchingNodes', ''),
        c('Degraded', false, 'NoMatchingNodes', ''),
      ],
    };
  if (desired === 0)
    return {
      nodes,
      conditions: [
        c('Ready', false, 'NoNodes', 'no sensor has announced itself on a node of this cluster yet'),
        c('Reconciling', true, 'NoNodes', 'waiting for sensors'),
        c('Stalled', false, 'NoNodes', ''),
        c('Degraded', false, 'NoNodes', ''),
      ],
    };
  if (pending > 0)
    return {
      nodes,
      conditions: [
        c('Ready', false, 'Progressing', `${applied}/${desired} nodes applied generation ${f.generation}, ${pending} pending${selNote}`),
        c('Reconciling', true, 'Progressing', `waiting for ${pending} node(s) to apply generation ${f.generation}`),
        c('Stalled', false, 'Progressing', ''),
        c('Degraded', failed > 0, failed > 0 ? 'NodesFailed' : 'Progressing', failed > 0 ? `${failed} node(s) failed: ${failMsg}` : ''),
      ],
    };
  if (failed > 0)
    return {
      nodes,
      conditions: [
        c('Ready', false, 'NodesFailed', `${failed}/${desired} node(s) cannot apply generation ${f.generation}: ${failMsg}`),
        c('Reconciling', false, 'NodesFailed', ''),
        c('Stalled', true, 'NodesFailed', `${failed} node(s) refused or failed; the operator cannot progress without a change`),
        c('Degraded', true, 'NodesFailed', `${failed} node(s) failed: ${failMsg}`),
      ],
    };
  return {
    nodes,
    conditions: [
      c('Ready', true, 'Applied', `all ${desired} node(s) enforce generation ${f.generation}${selNote}`),
      c('Reconciling', false, 'Applied', ''),
      c('Stalled', false, 'Applied', ''),
      c('Degraded', false, 'Applied', ''),
    ],
  };
}

/** Merges computed conditions into the existing ones, keeping lastTransitionTime where the status did not change. */
export function mergeConditions(existing: readonly PolicyCondition[] | undefined, next: readonly Cond[], generation: number, now: Date): PolicyCondition[] {
  return next.map((n) => {
    const old = existing?.find((e) => e.type === n.type);
    const lastTransitionTime = old && old.status === n.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
    const out: PolicyCondition = { type: n.type, status: n.status, reason: n.reason, lastTransitionTime, observedGeneration: generation };
    if (n.message) out.message = n.message;
    return out;
  });
}

/** The full status to write, given the current one (only written when it differs). */
export function nextStatus(current: TracingPolicyStatus | undefined, f: PolicyFacts, now: Date): TracingPolicyStatus {
  const { conditions, nodes } = computeStatus(f);
  const status: TracingPolicyStatus = { observedGeneration: f.generation, mode: f.mode, conditions: mergeConditions(current?.conditions, conditions, f.generation, now), nodes };
  const hooks = rollupHooks(f);
  if (hooks.length > 0) status.hooks = hooks;
  return status;
}

/** Structural equality of JSON values (status objects), independent of key order. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a).filter((k) => (a as Record<string, unknown>)[k] !== undefined);
  const kb = Object.keys(b as object).filter((k) => (b as Record<string, unknown>)[k] !== undefined);
  if (ka.length !== kb.length) return false;
  return ka.every((k) => sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}
