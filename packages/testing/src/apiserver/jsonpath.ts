// The subset of Kubernetes JSONPath (k8s.io/client-go/util/jsonpath) that additionalPrinterColumns use:
// `.a.b`, `.a['b.c']`, `.a[0]`, `.a[-1]`, `.a[*]`, `.a[?(@.type=="Ready")].status` (==, !=, <, <=, >, >=,
// and bare `@.x` for existence), with or without the surrounding `{}`. evaluate() returns every match in order.

type Step =
  | { kind: 'field'; name: string }
  | { kind: 'index'; index: number }
  | { kind: 'wildcard' }
  | { kind: 'filter'; path: Step[]; op?: string; value?: unknown };

export class JsonPathError extends Error {
  override readonly name = 'JsonPathError';
  readonly code = 'JSONPATH_SYNTAX';
}

export function parseJsonPath(expr: string): Step[] {
  let s = expr.trim();
  if (s.startsWith('{') && s.endsWith('}')) s = s.slice(1, -1).trim();
  if (s.startsWith('$')) s = s.slice(1);
  return parseSteps(s, expr);
}

function parseSteps(s: string, whole: string): Step[] {
  const steps: Step[] = [];
  let i = 0;
  while (i < s.length) {
    const ch = s[i];
    if (ch === '.') {
      i++;
      let name = '';
      while (i < s.length && s[i] !== '.' && s[i] !== '[') {
        if (s[i] === '\\' && i + 1 < s.length) {
          name += s[i + 1];
          i += 2;
        } else name += s[i++];
      }
      if (name === '*') steps.push({ kind: 'wildcard' });
      else if (name !== '') steps.push({ kind: 'field', name });
    } else if (ch === '[') {
      const close = findClose(s, i);
      const inner = s.slice(i + 1, close).trim();
      i = close + 1;
      if (inner === '*') steps.push({ kind: 'wildcard' });
      else if (/^-?\d+$/.test(inner)) steps.push({ kind: 'index', index: Number(inner) });
      else if (/^'.*'$/.test(inner) || /^".*"$/.test(inner)) steps.push({ kind: 'field', name: inner.slice(1, -1) });
      else if (inner.startsWith('?(') && inner.endsWith(')')) steps.push(parseFilter(inner.slice(2, -1).trim(), whole));
      else throw new JsonPathError(`unsupported JSONPath element [${inner}] in ${whole}`);
    } else {
      throw new JsonPathError(`unexpected '${ch}' at ${i} in JSONPath ${whole}`);
    }
  }
  return steps;
}

function findClose(s: string, open: number): number {
  let depth = 0;
  let quote: string | undefined;
  for (let j = open; j < s.length; j++) {
    const c = s[j] ?? '';
    if (quote) {
      if (c === quote) quote = undefined;
      continue;
    }
    if (c === '"' || c === "'") quote = c;
    else if (c === '[') depth++;
    else if (c === ']') {
      depth--;
      if (depth === 0) return j;
    }
  }
  throw new JsonPathError(`unclosed [ in JSONPath ${s}`);
}

function parseFilter(body: string, whole: string): Step {
  const m = /^@((?:\.[^=!<>\s]+|\[[^\]]*\])*)\s*(==|!=|<=|>=|<|>)?\s*(.*)$/.exec(body);
  if (!m) throw new JsonPathError(`unsupported filter ${body} in JSONPath ${whole}`);
  const path = parseSteps((m[1] ?? ''), whole);
  if (!m[2]) {
    if ((m[3] ?? '').trim() !== '') throw new JsonPathError(`unsupported filter ${body} in JSONPath ${whole}`);
    return { kind: 'filter', path };
  }
  const lit = (m[3] ?? '').trim();
  let value: unknown;
  if (/^".*"$/.test(lit) || /^'.*'$/.test(lit)) value = lit.slice(1, -1);
  else if (lit === 'true' || lit === 'false') value = lit === 'true';
  else if (lit !== '' && !Number.isNaN(Number(lit))) value = Number(lit);
  else throw new JsonPathError(`unsupported filter literal ${lit} in JSONPath ${whole}`);
  return { kind: 'filter', path, op: m[2], value };
}

function apply(steps: Step[], roots: unknown[]): unknown[] {
  let cur = roots;
  for (const st of steps) {
    const next: unknown[] = [];
    for (const v of cur) {
      if (st.kind === 'field') {
        if (v && typeof v === 'object' && !Array.isArray(v) && st.name in v) {
          next.push((v as Record<string, unknown>)[st.name]);
        }
      } else if (st.kind === 'index') {
        if (Array.isArray(v)) {
          const idx = st.index < 0 ? v.length + st.index : st.index;
          if (idx >= 0 && idx < v.length) next.push(v[idx]);
        }
      } else if (st.kind === 'wildcard') {
        if (Array.isArray(v)) next.push(...v);
        else if (v && typeof v === 'object') next.push(...Object.values(v));
      } else {
        const items = Array.isArray(v) ? v : [];
        for (const item of items) {
          const found = apply(st.path, [item]);
          if (st.op === undefined) {
            if (found.length > 0) next.push(item);
          } else if (found.length > 0 && compare(found[0], st.op, st.value)) next.push(item);
        }
      }
    }
    cur = next;
  }
  return cur;
}

function compare(a: unknown, op: string, b: unknown): boolean {
  switch (op) {
    case '==':
      return a === b;
    case '!=':
      return a !== b;
  }
  if (typeof a !== 'number' || typeof b !== 'number') return false;
  switch (op) {
    case '<':
      return a < b;
    case '<=':
      return a <= b;
    case '>':
      return a > b;
    default:
      return a >= b;
  }
}

/** All values the path selects in `obj`, in document order. */
export function evaluateJsonPath(expr: string, obj: unknown): unknown[] {
  return apply(parseJsonPath(expr), [obj]);
}
