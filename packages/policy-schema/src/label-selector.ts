// Kubernetes label-selector semantics (metav1.LabelSelector), shared by the operator (spec.nodeSelector against
// Node labels) and the sensor (podSelector / containerSelector against pod labels and container names): every
// matchLabels pair and every matchExpressions requirement must hold; an empty selector matches everything.
import type { LabelSelector } from './types.js';

export function matchLabelSelector(sel: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of sel.matchExpressions ?? []) {
    const has = Object.prototype.hasOwnProperty.call(labels, e.key);
    const v = labels[e.key];
    switch (e.operator) {
      case 'In':
        if (!has || !(e.values ?? []).includes(v as string)) return false;
        break;
      case 'NotIn':
        if (has && (e.values ?? []).includes(v as string)) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false; // the validator refuses other operators; never match what we do not understand
    }
  }
  return true;
}

/** A selector in the `key=value,key in (a,b),!key` form kubectl prints, for status messages and logs. */
export function formatLabelSelector(sel: LabelSelector): string {
  const parts = Object.entries(sel.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const e of sel.matchExpressions ?? []) {
    if (e.operator === 'Exists') parts.push(e.key);
    else if (e.operator === 'DoesNotExist') parts.push(`!${e.key}`);
    else parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${(e.values ?? []).join(',')})`);
  }
  return parts.length === 0 ? '(everything)' : parts.join(',');
}
