// Compile: policy objects (both kinds) → validated desired policies → a Plan per announced node profile.
import { validatePolicy, type PolicyIssue } from '@vigil/policy-schema';
import type { Announce } from '@vigil/sensor';
import { CompileCache, compilePlan, type DesiredPolicy, type KnownNode, type Plan } from '../compile-and-publish/plan.js';
import type { PolicyObject } from './policy-ref.js';

export interface CompileResult {
  plan: Plan;
  /** Validation issues per policy uid (only invalid ones). */
  issues: Map<string, PolicyIssue[]>;
}

/** The part of the object the validator judges: API-server bookkeeping (managedFields, status…) stripped. */
export function policyDocument(obj: PolicyObject): unknown {
  const m = obj.metadata ?? {};
  const metadata: Record<string, unknown> = { name: m.name, uid: m.uid, generation: m.generation };
  if (m.namespace !== undefined) metadata['namespace'] = m.namespace;
  if (m.labels) metadata['labels'] = m.labels;
  if (m.annotations) metadata['annotations'] = m.annotations;
  return { apiVersion: obj.apiVersion, kind: obj.kind, metadata, spec: obj.spec };
}

export class CompileController {
  private readonly cache = new CompileCache();
  /** Validation results by uid + generation (validation is pure). */
  private readonly validated = new Map<string, { generation: number; desired: DesiredPolicy; issues: PolicyIssue[] }>();

  get compiles(): number {
    return this.cache.compiles;
  }

  /** `labelsOf`: the Kubernetes Node labels of a sensor's node (spec.nodeSelector); undefined when it has no Node object. */
  compile(policies: readonly PolicyObject[], nodes: readonly Announce[], labelsOf: (node: string) => Readonly<Record<string, string>> | undefined = () => undefined): CompileResult {
    const issues = new Map<string, PolicyIssue[]>();
    const desired: DesiredPolicy[] = [];
    const live = new Set<string>();
    for (const obj of policies) {
      const m = obj.metadata;
      if (!m?.uid || !m.name || m.deletionTimestamp) continue;
      const generation = m.generation ?? 1;
      live.add(m.uid);
      let v = this.validated.get(m.uid);
      if (!v || v.generation !== generation) {
        const r = validatePolicy(policyDocument(obj));
        const d: DesiredPolicy = { uid: m.uid, name: m.name, generation, policy: r.ok ? r.policy : undefined };
        if (m.namespace !== undefined) d.namespace = m.namespace;
        v = { generation, desired: d, issues: r.ok ? [] : r.issues };
        this.validated.set(m.uid, v);
      }
      desired.push(v.desired);
      if (v.issues.length > 0) issues.set(m.uid, v.issues);
    }
    for (const uid of this.validated.keys()) if (!live.has(uid)) this.validated.delete(uid);
    const known: KnownNode[] = nodes.map((a) => {
      const k: KnownNode = { name: a.node, profile: a.profile, profileHash: a.profileHash };
      const labels = labelsOf(a.node);
      if (labels) k.labels = labels;
      return k;
    });
    return { plan: compilePlan(desired, known, this.cache), issues };
  }
}
