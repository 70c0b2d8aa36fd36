// --node-labels: a standalone node's labels, for spec.nodeSelector of the policies in --policy-dir.
import { SensorError } from './errors.js';

const LABEL_NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/;
const LABEL_PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `k=v,k2=v2` with Kubernetes label syntax (optional DNS prefix/, name ≤ 63, value ≤ 63, possibly empty). */
export function parseNodeLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of text.split(',').filter((x) => x.trim() !== '')) {
    const eq = item.indexOf('=');
    if (eq < 0) throw new SensorError('BAD_ARGUMENT', `--node-labels: "${item}" is not key=value (e.g. --node-labels vigil.dev/tier=edge,kubernetes.io/os=linux)`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    const slash = key.lastIndexOf('/');
    const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
    const name = slash >= 0 ? key.slice(slash + 1) : key;
    if (!LABEL_NAME.test(name) || (prefix !== undefined && (prefix.length > 253 || !LABEL_PREFIX.test(prefix))))
      throw new SensorError('BAD_ARGUMENT', `--node-labels: "${key}" is not a label key ([prefix/]name: name of ≤ 63 letters, digits, '-', '_', '.', starting and ending alphanumeric; prefix a DNS subdomain)`);
    if (value !== '' && !LABEL_NAME.test(value)) throw new SensorError('BAD_ARGUMENT', `--node-labels: the value of ${key}, "${value}", is not a label value (≤ 63 letters, digits, '-', '_', '.', starting and ending alphanumeric, or empty)`);
    if (key in out) throw new SensorError('BAD_ARGUMENT', `--node-labels: ${key} is given twice`);
    out[key] = value;
  }
  return out;
}
