// Label and field selectors with the grammar of k8s.io/apimachinery/pkg/labels and pkg/fields.
// Label selectors: comma-separated requirements (AND): `k`, `!k`, `k=v`, `k==v`, `k!=v`, `k in (a,b)`,
// `k notin (a,b)`, `k>n`, `k<n`. Field selectors: `f=v`, `f==v`, `f!=v`, backslash escapes `\,` `\=` `\\`.
import { badRequest } from './errors.js';

type LabelOp = 'exists' | '!exists' | '=' | '!=' | 'in' | 'notin' | '>' | '<';

export interface LabelRequirement {
  key: string;
  op: LabelOp;
  values: string[];
}

const KEY_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]{0,61})?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

function checkKey(key: string, raw: string): void {
  const slash = key.indexOf('/');
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const ok =
    KEY_NAME.test(name) &&
    name.length <= 63 &&
    (prefix === undefined || (DNS_SUBDOMAIN.test(prefix) && prefix.length <= 253));
  if (!ok) {
    throw badRequest(
      `unable to parse requirement: <nil>: Invalid value: "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (in selector "${raw}")`,
    );
  }
}

function checkValue(v: string, raw: string): void {
  if (v.length > 63 || !LABEL_VALUE.test(v)) {
    throw badRequest(
      `unable to parse requirement: values[0]: Invalid value: "${v}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (in selector "${raw}")`,
    );
  }
}

/** Splits at commas that are not inside parentheses. */
function splitTopLevel(s: string): string[] {
  const out: string[] = [];
  let depth = 0;
  let cur = '';
  for (const ch of s) {
    if (ch === '(') depth++;
    if (ch === ')') depth--;
    if (ch === ',' && depth === 0) {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export function parseLabelSelector(raw: string): LabelRequirement[] {
  const reqs: LabelRequirement[] = [];
  if (raw.trim() === '') return reqs;
  for (const part0 of splitTopLevel(raw)) {
    const part = part0.trim();
    let m: RegExpMatchArray | null;
    if ((m = /^!\s*([^\s=!<>(),]+)$/.exec(part))) {
      checkKey((m[1] ?? ''), raw);
      reqs.push({ key: (m[1] ?? ''), op: '!exists', values: [] });
    } else if ((m = /^([^\s=!<>(),]+)\s+(in|notin)\s*\(([^()]*)\)$/.exec(part))) {
      checkKey((m[1] ?? ''), raw);
      const values = (m[3] ?? '').split(',').map((v) => v.trim());
      values.forEach((v) => checkValue(v, raw));
      reqs.push({ key: (m[1] ?? ''), op: m[2] as 'in' | 'notin', values });
    } else if ((m = /^([^\s=!<>(),]+)\s*(==|=|!=|>|<)\s*([^\s=!<>(),]*)$/.exec(part))) {
      checkKey((m[1] ?? ''), raw);
      const op = m[2] === '==' ? '=' : (m[2] as LabelOp);
      if ((op === '>' || op === '<') && !/^-?\d+$/.test((m[3] ?? ''))) {
        throw badRequest(
          `unable to parse requirement: for 'Gt', 'Lt' operators, the value must be an integer (in selector "${raw}")`,
        );
      }
      if (op !== '>' && op !== '<') checkValue((m[3] ?? ''), raw);
      reqs.push({ key: (m[1] ?? ''), op, values: [(m[3] ?? '')] });
    } else if ((m = /^([^\s=!<>(),]+)$/.exec(part))) {
      checkKey((m[1] ?? ''), raw);
      reqs.push({ key: (m[1] ?? ''), op: 'exists', values: [] });
    } else {
      throw badRequest(`unable to parse requirement: found '${part}', expected: identifier (in selector "${raw}")`);
    }
  }
  return reqs;
}

export function matchesLabels(reqs: LabelRequirement[], labels: Record<string, string> | undefined): boolean {
  const l = labels ?? {};
  return reqs.every((r) => {
    const has = Object.prototype.hasOwnProperty.call(l, r.key);
    const v = l[r.key];
    switch (r.op) {
      case 'exists':
        return has;
      case '!exists':
        return !has;
      case '=':
        return has && v === r.values[0];
      case '!=':
        return !has || v !== r.values[0];
      case 'in':
        return has && r.values.includes(v ?? '');
      case 'notin':
        return !has || !r.values.includes(v ?? '');
      case '>':
      case '<': {
        if (!has || !/^-?\d+$/.test(v ?? '')) return false;
        const n = Number(v);
        const bound = Number(r.values[0]);
        return r.op === '>' ? n > bound : n < bound;
      }
    }
  });
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}

function unescapeField(s: string): string {
  return s.replace(/\\(.)/g, '$1');
}

export function parseFieldSelector(raw: string): FieldRequirement[] {
  const reqs: FieldRequirement[] = [];
  if (raw.trim() === '') return reqs;
  // split on unescaped commas
  const parts: string[] = [];
  let cur = '';
  for (let i = 0; i < raw.length; i++) {
    const ch = raw[i] ?? '';
    if (ch === '\\' && i + 1 < raw.length) {
      cur += ch + (raw[i + 1] ?? '');
      i++;
    } else if (ch === ',') {
      parts.push(cur);
      cur = '';
    } else cur += ch;
  }
  parts.push(cur);
  for (const p of parts) {
    const m = /^([^=!]+?)\s*(!=|==|=)\s*(.*)$/.exec(p.trim());
    if (!m) throw badRequest(`invalid selector: '${raw}'; can't understand '${p}'`);
    reqs.push({ field: (m[1] ?? '').trim(), op: m[2] === '!=' ? '!=' : '=', value: unescapeField((m[3] ?? '')) });
  }
  return reqs;
}

/** `fields` maps each selectable field to its string value on one object. */
export function matchesFields(reqs: FieldRequirement[], fields: (field: string) => string | undefined): boolean {
  return reqs.every((r) => {
    const v = fields(r.field) ?? '';
    return r.op === '=' ? v === r.value : v !== r.value;
  });
}
