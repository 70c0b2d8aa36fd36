// Policy validation: the JSON Schema (ajv, strict mode, all errors) first, then semantic checks the schema cannot
// express (argument references, operand formats per operator, named limits, list / macro references).
// Every problem of a document is reported at once, each with a dotted JSON path, a reason and a fix hint.
import { Ajv } from 'ajv';
import type { ErrorObject, ValidateFunction } from 'ajv';
import { parseAllDocuments } from 'yaml';
import { enumNames, NAMESPACE_KIND, type ArgOperator, type ArgType } from './abi/enums.js';
import { capabilityBit, CAPABILITIES } from './data/capabilities.js';
import { FILE_TYPES } from './data/net.js';
import { resolveSyscall } from './data/syscalls.js';
import { PolicyValidationError, type PolicyErrorCode, type PolicyIssue } from './errors.js';
import { LIMITS, LIMIT_DOCS, type LimitName } from './limits.js';
import { documentSchema, type JsonSchema } from './schema/policy-schema.js';
import { expandSelector, type ExpandedSelector, type Located } from './selectors.js';
import {
  HOOK_LISTS,
  type ActionSelector,
  type ArgFilter,
  type ArgSpec,
  type HookListName,
  type LabelSelector,
  type Selector,
  type TracingPolicy,
  type TracingPolicySpec,
} from './types.js';
import {
  INT_ARG_TYPES,
  parseCidr,
  parseFamily,
  parseInteger,
  parsePortRange,
  parseProtocol,
  parseRange,
  parseRateLimit,
  parseTcpState,
  utf8Length,
} from './values.js';

export type ValidationResult = { ok: true; policy: TracingPolicy; issues: [] } | { ok: false; issues: PolicyIssue[] };

const K8S_KEYWORDS = [
  'x-kubernetes-preserve-unknown-fields',
  'x-kubernetes-map-type',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-validations',
  'x-kubernetes-int-or-string',
];

/** Builds an ajv instance (strict mode) that knows the Kubernetes schema extensions and int32/int64 formats. */
export function createSchemaAjv(): Ajv {
  const ajv = new Ajv({ strict: true, allErrors: true, verbose: true });
  for (const keyword of K8S_KEYWORDS) ajv.addKeyword({ keyword, schemaType: ['boolean', 'string', 'array', 'object'] });
  ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
  ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });
  ajv.addFormat('date-time', { type: 'string', validate: (s: string) => !Number.isNaN(Date.parse(s)) });
  return ajv;
}

let cached: ValidateFunction | undefined;
function schemaValidator(): ValidateFunction {
  cached ??= createSchemaAjv().compile(documentSchema() as object);
  return cached;
}

/** `/spec/kprobes/0/selectors` → `spec.kprobes[0].selectors`. */
export function pointerToPath(pointer: string): string {
  let out = '';
  for (const raw of pointer.split('/').slice(1)) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (/^[0-9]+$/.test(seg)) out += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) out += out ? `.${seg}` : seg;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

function editDistance(a: string, b: string): number {
  const dp = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let prev = dp[0] ?? 0;
    dp[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = dp[j] ?? 0;
      dp[j] = Math.min((dp[j] ?? 0) + 1, (dp[j - 1] ?? 0) + 1, prev + (a[i - 1]?.toLowerCase() === b[j - 1]?.toLowerCase() ? 0 : 1));
      prev = tmp;
    }
  }
  return dp[b.length] ?? 0;
}

/** The closest candidate within a small edit distance, for "did you mean" hints. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = editDistance(word, c);
    if (d < bestD) {
      bestD = d;
      best = c;
    }
  }
  return bestD <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

let cachedDocumentSchema: JsonSchema | undefined;
function schemaAt(pointer: string): JsonSchema | undefined {
  // Walks the document schema along a schemaPath like #/properties/spec/properties/kprobes/items/...
  cachedDocumentSchema ??= documentSchema();
  let s: unknown = cachedDocumentSchema;
  for (const seg of pointer.replace(/^#\//, '').split('/')) {
    if (s === undefined || s === null || typeof s !== 'object') return undefined;
    s = (s as Record<string, unknown>)[seg];
  }
  return s as JsonSchema | undefined;
}

function ajvIssue(e: ErrorObject): PolicyIssue {
  const path = pointerToPath(e.instancePath);
  const at = (p: string, extra: string): string => (p ? `${p}.${extra}` : extra);
  switch (e.keyword) {
    case 'required': {
      const missing = String((e.params as { missingProperty: string }).missingProperty);
      return { code: 'SCHEMA_REQUIRED', path: at(path, missing), reason: `required field ${missing} is missing`, hint: `add ${missing}` };
    }
    case 'additionalProperties': {
      const extra = String((e.params as { additionalProperty: string }).additionalProperty);
      const parent = schemaAt(e.schemaPath.replace(/\/additionalProperties$/, ''));
      const known = Object.keys(parent?.properties ?? {});
      const guess = closest(extra, known);
      return {
        code: 'SCHEMA_UNKNOWN_FIELD',
        path: at(path, extra),
        reason: `unknown field ${extra}`,
        hint: guess ? `did you mean ${guess}?` : known.length ? `allowed fields here: ${known.join(', ')}` : 'remove it',
      };
    }
    case 'enum': {
      const allowed = (e.params as { allowedValues: unknown[] }).allowedValues.map(String);
      const guess = closest(String(e.data), allowed);
      return {
        code: 'SCHEMA_ENUM',
        path,
        reason: `${JSON.stringify(e.data)} is not an allowed value`,
        hint: guess ? `did you mean ${guess}? allowed: ${allowed.join(', ')}` : `use one of: ${allowed.join(', ')}`,
      };
    }
    case 'type': {
      const want = String((e.params as { type: string }).type);
      const got = Array.isArray(e.data) ? 'array' : e.data === null ? 'null' : typeof e.data;
      return { code: 'SCHEMA_TYPE', path, reason: `expected ${want}, got ${got}`, hint: want === 'string' ? 'quote the value' : `write a ${want}` };
    }
    case 'format':
      return { code: 'SCHEMA_FORMAT', path, reason: `value does not fit format ${String((e.params as { format: string }).format)}`, hint: 'use an integer in range' };
    default:
      return { code: 'SCHEMA_CONSTRAINT', path, reason: e.message ?? e.keyword, hint: `fix the value to satisfy ${e.keyword}` };
  }
}


export const PRIV_PORT_OPERATORS: ReadonlySet<ArgOperator> = new Set<ArgOperator>(['SPortPriv', 'NotSportPriv', 'DPortPriv', 'NotDPortPriv']);

/** Semantic checker over one schema-valid document. */
class Checker {
  readonly issues: PolicyIssue[] = [];
  private readonly lists: Map<string, { type?: string; path: string }> = new Map();
  constructor(private readonly doc: TracingPolicy) {}

  add(code: PolicyErrorCode, path: string, reason: string, hint: string, limit?: LimitName): void {
    this.issues.push(limit ? { code, path, reason, hint, limit } : { code, path, reason, hint });
  }

  limit(name: LimitName, actual: number, path: string, what: string): void {
    const max = LIMITS[name];
    if (actual > max) this.add('LIMIT_EXCEEDED', path, `${what}: ${actual} exceeds limit ${name} = ${max} (${LIMIT_DOCS[name]})`, `split it into several hooks, selectors or policies so each stays within ${max}`, name);
  }

  run(): PolicyIssue[] {
    const { metadata, spec, kind } = this.doc;
    if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(metadata.name) || metadata.name.length > 253)
      this.add('INVALID_NAME', 'metadata.name', `${JSON.stringify(metadata.name)} is not a DNS subdomain name`, 'use lower-case letters, digits, - and .');
    if (kind === 'TracingPolicyNamespaced' && spec.hostSelector !== undefined)
      this.add('CONFLICTING_FIELDS', 'spec.hostSelector', 'a namespaced policy cannot select host processes', 'remove spec.hostSelector or use kind TracingPolicy');
    this.checkLists(spec);
    this.checkOptions(spec);
    for (const name of ['podSelector', 'containerSelector', 'nodeSelector'] as const) this.checkLabelSelector(spec[name], `spec.${name}`);
    this.checkHostSelector(spec.hostSelector, 'spec.hostSelector');
    (spec.enforcers ?? []).forEach((e, i) => e.calls.forEach((c, j) => this.checkCallRef(c, `spec.enforcers[${i}].calls[${j}]`, true)));
    let hookCount = 0;
    for (const list of HOOK_LISTS) {
      const hooks = spec[list] ?? [];
      hookCount += hooks.length;
      hooks.forEach((_, i) => this.checkHook(list, i));
    }
    this.limit('MAX_HOOKS_PER_POLICY', hookCount, 'spec', 'hooks in the policy');
    return this.issues;
  }

  checkLists(spec: TracingPolicySpec): void {
    (spec.lists ?? []).forEach((l, i) => {
      const p = `spec.lists[${i}]`;
      if (this.lists.has(l.name)) this.add('CONFLICTING_FIELDS', `${p}.name`, `list ${l.name} is defined twice`, 'give each list a unique name');
      this.lists.set(l.name, { ...(l.type ? { type: l.type } : {}), path: p });
      this.limit('MAX_LIST_VALUES', l.values?.length ?? 0, `${p}.values`, 'list values');
      if (l.type === 'syscalls')
        (l.values ?? []).forEach((v, j) => {
          if (!resolveSyscall(v)) this.add('UNKNOWN_SYSCALL', `${p}.values[${j}]`, `${JSON.stringify(v)} is not a syscall of the x86_64 or ia32 table`, 'write it like sys_dup, dup, __x64_sys_dup or __ia32_sys_dup');
        });
      if (l.type === 'generated_ftrace' && !l.pattern) this.add('MISSING_FIELD', `${p}.pattern`, 'a generated_ftrace list needs a pattern', 'add pattern: a regular expression over function names');
      if (l.pattern !== undefined) {
        try {
          new RegExp(l.pattern);
        } catch {
          this.add('VALUE_FORMAT', `${p}.pattern`, 'pattern is not a valid regular expression', 'fix the regular expression');
        }
      }
    });
  }

  checkOptions(spec: TracingPolicySpec): void {
    const seen = new Set<string>();
    (spec.options ?? []).forEach((o, i) => {
      if (seen.has(o.name)) this.add('INVALID_OPTION', `spec.options[${i}].name`, `option ${o.name} is set twice`, 'keep one entry per option');
      seen.add(o.name);
      if (o.name === 'policy-mode' && o.value !== 'enforce' && o.value !== 'monitor')
        this.add('INVALID_OPTION', `spec.options[${i}].value`, `policy-mode must be enforce or monitor, not ${JSON.stringify(o.value ?? '')}`, 'set value: enforce or value: monitor');
      if (o.name === 'deny-io-uring' && o.value !== 'true' && o.value !== 'false')
        this.add('INVALID_OPTION', `spec.options[${i}].value`, `deny-io-uring must be "true" or "false", not ${JSON.stringify(o.value ?? '')}`, 'set value: "true" to deny io_uring_setup to the policy\'s processes');
    });
  }

  checkCallRef(call: string, path: string, isSyscall: boolean): void {
    if (call.startsWith('list:')) {
      if (!this.lists.has(call.slice(5))) this.add('UNKNOWN_LIST', path, `list ${call.slice(5)} is not defined in spec.lists`, `add it to spec.lists${this.lists.size ? ` or use one of: ${[...this.lists.keys()].join(', ')}` : ''}`);
    } else if (isSyscall && !resolveSyscall(call)) {
      this.add('UNKNOWN_SYSCALL', path, `${JSON.stringify(call)} is not a syscall of the x86_64 or ia32 table`, 'write it like sys_dup or __ia32_sys_dup, or list:NAME');
    }
  }

  checkLabelSelector(sel: LabelSelector | undefined, path: string): void {
    (sel?.matchExpressions ?? []).forEach((e, i) => {
      const n = e.values?.length ?? 0;
      if ((e.operator === 'In' || e.operator === 'NotIn') && n === 0) this.add('VALUES_MISSING', `${path}.matchExpressions[${i}].values`, `${e.operator} needs at least one value`, 'add values or use Exists');
      if ((e.operator === 'Exists' || e.operator === 'DoesNotExist') && n > 0) this.add('VALUES_FORBIDDEN', `${path}.matchExpressions[${i}].values`, `${e.operator} takes no values`, 'remove values');
    });
  }

  checkHostSelector(sel: LabelSelector | undefined, path: string): void {
    if (sel && (sel.matchLabels !== undefined || sel.matchExpressions !== undefined))
      this.add('CONFLICTING_FIELDS', path, 'hostSelector can only be null or {}', 'write hostSelector: {} to include host processes');
  }

  checkHook(list: HookListName, i: number): void {
    const spec = this.doc.spec;
    const hook = (spec[list] ?? [])[i] as unknown as Record<string, unknown> & { args?: ArgSpec[]; data?: ArgSpec[]; selectors?: Selector[]; message?: string };
    const p = `spec.${list}[${i}]`;
    const args = hook.args ?? [];
    this.limit('MAX_ARGS_PER_HOOK', args.length, `${p}.args`, 'args of the hook');
    this.limit('MAX_ARGS_PER_HOOK', hook.data?.length ?? 0, `${p}.data`, 'data of the hook');
    this.limit('MAX_SELECTORS_PER_HOOK', hook.selectors?.length ?? 0, `${p}.selectors`, 'selectors of the hook');
    if (hook.message !== undefined) this.limit('MAX_MESSAGE_BYTES', utf8Length(hook.message), `${p}.message`, 'message bytes');
    for (const [field, list2] of [['args', args], ['data', hook.data ?? []]] as const)
      list2.forEach((a, j) => {
        this.limit('MAX_ARG_INDEX', a.index, `${p}.${field}[${j}].index`, 'argument index');
        if (a.sizeArgIndex !== undefined) this.limit('MAX_ARG_INDEX', a.sizeArgIndex, `${p}.${field}[${j}].sizeArgIndex`, 'sizeArgIndex');
      });
    const ret = hook['returnArg'] as ArgSpec | undefined;
    if (ret) this.limit('MAX_ARG_INDEX', ret.index, `${p}.returnArg.index`, 'argument index');
    const sizeRefs = args.map((a, j) => ({ a, j })).filter(({ a }) => a.sizeArgIndex !== undefined && a.sizeArgIndex > 0);
    for (const { a, j } of sizeRefs) {
      if (!args.some((b) => b.index === (a.sizeArgIndex ?? 0) - 1))
        this.add('ARG_INDEX_UNKNOWN', `${p}.args[${j}].sizeArgIndex`, `sizeArgIndex ${a.sizeArgIndex} names argument index ${(a.sizeArgIndex ?? 0) - 1}, which is not in args`, 'add that argument to args or fix sizeArgIndex (it is 1-based)');
    }
    if ((list === 'kprobes' || list === 'fentries' || list === 'uprobes') && hook['return'] === true && hook['returnArg'] === undefined)
      this.add('MISSING_FIELD', `${p}.returnArg`, 'return: true needs returnArg', 'add returnArg: {index: 0, type: int} (or the return type)');
    if (list === 'kprobes' || list === 'fentries') {
      const call = String(hook['call']);
      if (call.startsWith('list:')) this.checkCallRef(call, `${p}.call`, false);
    }
    if (list === 'uprobes' || list === 'usdts') {
      if (!String(hook['path']).startsWith('/')) this.add('VALUE_FORMAT', `${p}.path`, 'path must be absolute', 'write the full path of the binary, e.g. /usr/bin/bash');
    }
    if (list === 'uprobes') {
      const set = ['symbols', 'addrs', 'offsets'].filter((k) => hook[k] !== undefined);
      if (set.length > 1) this.add('CONFLICTING_FIELDS', p, `set at most one of symbols, addrs and offsets (found ${set.join(', ')})`, 'keep one way of naming the probe points');
    }
    (hook.selectors ?? []).forEach((sel, s) => {
      const ex = expandSelector(sel, `${p}.selectors[${s}]`, spec.selectorsMacros);
      this.checkSelector(list, hook, ex);
    });
  }

  checkSelector(list: HookListName, hook: { args?: ArgSpec[]; data?: ArgSpec[]; [k: string]: unknown }, sel: ExpandedSelector): void {
    for (const m of sel.missingMacros) {
      const known = Object.keys(this.doc.spec.selectorsMacros ?? {});
      this.add('UNKNOWN_MACRO', m.path, `macro ${m.value} is not defined in spec.selectorsMacros`, known.length ? `use one of: ${known.join(', ')}` : 'define it under spec.selectorsMacros');
    }
    this.limit('MAX_MATCH_ARGS_PER_SELECTOR', sel.matchArgs.length, `${sel.path}.matchArgs`, 'matchArgs entries');
    this.limit('MAX_MATCH_ARGS_PER_SELECTOR', sel.matchData.length, `${sel.path}.matchData`, 'matchData entries');
    this.limit('MAX_MATCH_ARGS_PER_SELECTOR', sel.matchReturnArgs.length, `${sel.path}.matchReturnArgs`, 'matchReturnArgs entries');
    this.limit('MAX_ACTIONS_PER_SELECTOR', sel.matchActions.length, `${sel.path}.matchActions`, 'matchActions entries');
    this.limit('MAX_ACTIONS_PER_SELECTOR', sel.matchReturnActions.length, `${sel.path}.matchReturnActions`, 'matchReturnActions entries');
    if (sel.matchBinaries.length > 1) this.add('LIMIT_EXCEEDED', `${sel.path}.matchBinaries`, 'only one matchBinaries entry per selector', 'merge the entries into one');
    if (sel.matchParentBinaries.length > 1) this.add('LIMIT_EXCEEDED', `${sel.path}.matchParentBinaries`, 'only one matchParentBinaries entry per selector', 'merge the entries into one');

    const args = hook.args ?? [];
    const resolveArg = (idx: number): ArgSpec | undefined => (list === 'tracepoints' ? args[idx] : args.find((a) => a.index === idx));
    for (const f of sel.matchArgs) this.checkArgFilter(f, list, (idx) => resolveArg(idx), list === 'tracepoints' ? `args has ${args.length} entries; index is a position in args (0..${args.length - 1})` : `index names an args[].index; defined: ${args.map((a) => a.index).join(', ') || 'none'}`);
    const data = hook.data ?? [];
    for (const f of sel.matchData) this.checkArgFilter(f, list, (idx) => data.find((a) => a.index === idx) ?? data[idx], `index names a data[] entry; defined: ${data.map((a) => a.index).join(', ') || 'none'}`);
    const ret = hook['returnArg'] as ArgSpec | undefined;
    for (const f of sel.matchReturnArgs) {
      if (!ret) this.add('MISSING_FIELD', f.path, 'matchReturnArgs needs the hook to read its return value', 'set return: true and returnArg on the hook');
      else this.checkArgFilter(f, list, () => ret, 'the return value is index 0');
    }
    for (const b of [...sel.matchBinaries, ...sel.matchParentBinaries]) {
      this.limit('MAX_BINARIES_PER_SELECTOR', b.value.values.length, `${b.path}.values`, 'binaries');
      b.value.values.forEach((v, j) => {
        if (b.value.operator === 'Prefix' || b.value.operator === 'Postfix' || b.value.operator === 'NotPrefix' || b.value.operator === 'NotPostfix')
          this.limit('MAX_PREFIX_VALUE_BYTES', utf8Length(v), `${b.path}.values[${j}]`, `${b.value.operator} path bytes`);
        else this.limit('MAX_BINARY_PATH_BYTES', utf8Length(v), `${b.path}.values[${j}]`, 'path bytes');
        if ((b.value.operator === 'In' || b.value.operator === 'NotIn') && !v.startsWith('/'))
          this.add('VALUE_FORMAT', `${b.path}.values[${j}]`, `${b.value.operator} compares full paths; ${JSON.stringify(v)} is not absolute`, 'write the absolute path, or use Postfix to match a name');
        if (v.length === 0) this.add('VALUE_FORMAT', `${b.path}.values[${j}]`, 'empty path', 'remove it');
      });
    }
    for (const pid of sel.matchPIDs) {
      this.limit('MAX_PIDS_PER_SELECTOR', pid.value.values.length, `${pid.path}.values`, 'pids');
      pid.value.values.forEach((v, j) => {
        if (v < 0) this.add('VALUE_FORMAT', `${pid.path}.values[${j}]`, 'a pid cannot be negative', 'use a pid ≥ 0');
      });
    }
    for (const ns of sel.matchNamespaces) {
      this.limit('MAX_NAMESPACE_VALUES', ns.value.values.length, `${ns.path}.values`, 'namespace values');
      ns.value.values.forEach((v, j) => {
        const n = parseInteger(v);
        if (v !== 'host_ns' && (n === undefined || n < 0n || n > 0xffffffffn))
          this.add('VALUE_FORMAT', `${ns.path}.values[${j}]`, `${JSON.stringify(v)} is not a namespace inode number`, 'use the number from readlink /proc/PID/ns/<kind> (e.g. 4026531836) or host_ns');
      });
    }
    const nsKinds = enumNames(NAMESPACE_KIND);
    for (const nc of sel.matchNamespaceChanges)
      nc.value.values.forEach((v, j) => {
        if (!(nsKinds as string[]).includes(v)) {
          const g = closest(v, nsKinds);
          this.add('VALUE_FORMAT', `${nc.path}.values[${j}]`, `${JSON.stringify(v)} is not a namespace kind`, g ? `did you mean ${g}?` : `use one of: ${nsKinds.join(', ')}`);
        }
      });
    for (const c of [...sel.matchCapabilities, ...sel.matchCapabilityChanges]) c.value.values.forEach((v, j) => this.checkCapability(v, `${c.path}.values[${j}]`));
    for (const a of [...sel.matchActions, ...sel.matchReturnActions]) this.checkAction(a, list);
    const w = sel.matchWorkloads;
    if (w) {
      this.checkLabelSelector(w.podSelector, `${sel.path}.matchWorkloads.podSelector`);
      this.checkLabelSelector(w.containerSelector, `${sel.path}.matchWorkloads.containerSelector`);
      this.checkHostSelector(w.hostSelector, `${sel.path}.matchWorkloads.hostSelector`);
    }
  }

  checkCapability(v: string, path: string): void {
    if (capabilityBit(v) === undefined) {
      const g = closest(v.toUpperCase().startsWith('CAP_') ? v.toUpperCase() : `CAP_${v.toUpperCase()}`, Object.keys(CAPABILITIES));
      this.add('UNKNOWN_CAPABILITY', path, `${JSON.stringify(v)} is not a Linux capability`, g ? `did you mean ${g}?` : 'write capabilities like CAP_SYS_ADMIN');
    }
  }

  checkArgFilter(f: Located<ArgFilter>, list: HookListName, resolve: (idx: number) => ArgSpec | undefined, where: string): void {
    const { value, path } = f;
    const indices = value.args ?? [value.index ?? 0];
    let argType: ArgType | undefined;
    indices.forEach((idx, k) => {
      const arg = resolve(idx);
      if (!arg) this.add('ARG_INDEX_UNKNOWN', value.args ? `${path}.args[${k}]` : `${path}.index`, `no argument ${idx} to filter on (${list})`, where);
      else argType ??= arg.type;
    });
    const op = value.operator;
    const values = value.values ?? [];
    this.limit('MAX_VALUES_PER_MATCH_ARG', values.length, `${path}.values`, 'values');
    if (values.length === 0 && !PRIV_PORT_OPERATORS.has(op)) {
      this.add('VALUES_MISSING', `${path}.values`, `${op} needs at least one value`, 'add values');
      return;
    }
    const bad = (j: number, reason: string, hint: string): void => this.add('VALUE_FORMAT', `${path}.values[${j}]`, reason, hint);
    values.forEach((v, j) => {
      switch (op) {
        case 'Equal':
        case 'NotEqual':
          if (argType && INT_ARG_TYPES.has(argType)) {
            if (parseInteger(v) === undefined) bad(j, `${JSON.stringify(v)} is not an integer (argument type ${argType})`, 'write a decimal or 0x hex integer');
          } else this.limit('MAX_STRING_VALUE_BYTES', utf8Length(v), `${path}.values[${j}]`, 'string bytes');
          break;
        case 'Prefix':
        case 'NotPrefix':
        case 'Postfix':
        case 'NotPostfix':
        case 'SubString':
        case 'SubStringIgnCase':
          if (argType && INT_ARG_TYPES.has(argType)) bad(j, `${op} compares strings but argument type is ${argType}`, 'use Equal / Mask / InRange for integers');
          if (v.length === 0) bad(j, 'empty string operand', 'remove it');
          if (op.endsWith('Prefix') || op.endsWith('Postfix')) this.limit('MAX_PREFIX_VALUE_BYTES', utf8Length(v), `${path}.values[${j}]`, `${op} string bytes`);
          else this.limit('MAX_STRING_VALUE_BYTES', utf8Length(v), `${path}.values[${j}]`, 'string bytes');
          break;
        case 'GreaterThan':
        case 'LessThan':
        case 'GT':
        case 'LT':
        case 'Mask':
          if (parseInteger(v) === undefined) bad(j, `${JSON.stringify(v)} is not an integer`, 'write a decimal or 0x hex integer');
          break;
        case 'InRange':
        case 'NotInRange':
          if (!parseRange(v)) bad(j, `${JSON.stringify(v)} is not a range`, 'write N or N:M with N ≤ M, e.g. 1000:2000');
          break;
        case 'SPort':
        case 'NotSPort':
        case 'DPort':
        case 'NotDPort':
          if (!parsePortRange(v)) bad(j, `${JSON.stringify(v)} is not a port or port range`, 'write a port 0..65535 or a range like 8000:8080');
          break;
        case 'SPortPriv':
        case 'NotSportPriv':
        case 'DPortPriv':
        case 'NotDPortPriv':
          break;
        case 'SAddr':
        case 'NotSAddr':
        case 'DAddr':
        case 'NotDAddr':
          if (!parseCidr(v)) bad(j, `${JSON.stringify(v)} is not an IP address or CIDR`, 'write e.g. 10.0.0.0/8, 127.0.0.1 or fd00::/8');
          break;
        case 'Protocol':
          if (parseProtocol(v) === undefined) bad(j, `${JSON.stringify(v)} is not a protocol`, 'write a number or a name like IPPROTO_TCP');
          break;
        case 'Family':
          if (parseFamily(v) === undefined) bad(j, `${JSON.stringify(v)} is not an address family`, 'write a number or a name like AF_INET');
          break;
        case 'State':
          if (parseTcpState(v) === undefined) bad(j, `${JSON.stringify(v)} is not a TCP state`, 'write a number or a name like TCP_SYN_RECV');
          break;
        case 'InMap':
        case 'NotInMap':
          if (v.startsWith('list:')) {
            const l = this.lists.get(v.slice(5));
            if (!l) this.add('UNKNOWN_LIST', `${path}.values[${j}]`, `list ${v.slice(5)} is not defined in spec.lists`, 'add it to spec.lists');
          } else if (!parseRange(v)) bad(j, `${JSON.stringify(v)} is neither list:NAME nor an integer or N:M range`, 'write list:NAME, an integer or a range');
          break;
        case 'CapabilitiesGained':
          this.checkCapability(v, `${path}.values[${j}]`);
          break;
        case 'CelExpr':
          if (values.length !== 1) bad(j, 'CelExpr takes exactly one expression', 'put the whole condition in one value');
          if (v.trim() === '') bad(j, 'empty CEL expression', 'write an expression over arg0, arg1 ...');
          this.limit('MAX_CEL_EXPR_BYTES', utf8Length(v), `${path}.values[${j}]`, 'expression bytes');
          break;
        case 'FileType':
        case 'NotFileType':
          if (!Object.hasOwn(FILE_TYPES, v)) bad(j, `${JSON.stringify(v)} is not a file type`, `use one of: ${Object.keys(FILE_TYPES).join(', ')}`);
          break;
      }
    });
  }

  checkAction(a: Located<ActionSelector>, list: HookListName): void {
    const { value: act, path } = a;
    const need = (field: keyof ActionSelector, hint: string): void => {
      if (act[field] === undefined) this.add('MISSING_FIELD', `${path}.${field}`, `${act.action} needs ${field}`, hint);
    };
    switch (act.action) {
      case 'Signal':
        need('argSig', 'add argSig: a signal number such as 9');
        break;
      case 'Override': {
        const ways = ['argNewSymbol', 'argNewAddr', 'argNewOffset'].filter((k) => act[k as keyof ActionSelector] !== undefined);
        if (ways.length > 1) this.add('CONFLICTING_FIELDS', path, `set at most one of argNewSymbol, argNewAddr and argNewOffset (found ${ways.join(', ')})`, 'keep one');
        if (ways.length + (act.argRegs ? 1 : 0) > 0 && list !== 'uprobes')
          this.add('CONFLICTING_FIELDS', path, 'argNewSymbol / argNewAddr / argNewOffset / argRegs only work on uprobes', 'use argError to override a kernel function\'s return value');
        if (act.argError === undefined && ways.length === 0 && !act.argRegs) need('argError', 'add argError: the value (e.g. -1 for EPERM) the function returns');
        break;
      }
      case 'GetUrl':
        need('argUrl', 'add argUrl: http://...');
        if (act.argUrl !== undefined && !/^https?:\/\/\S+$/.test(act.argUrl)) this.add('VALUE_FORMAT', `${path}.argUrl`, 'argUrl is not an http(s) URL', 'write http://host/path');
        break;
      case 'DnsLookup':
        need('argFqdn', 'add argFqdn: a host name');
        break;
      case 'Set':
        need('argIndex', 'add argIndex: the argument to write');
        need('argValue', 'add argValue: the value to write');
        break;
      case 'NotifyEnforcer':
        if (!this.doc.spec.enforcers?.length) this.add('MISSING_FIELD', path, 'NotifyEnforcer needs spec.enforcers', 'add spec.enforcers with the syscalls to enforce on');
        break;
      default:
        break;
    }
    if (act.argSig !== undefined && (act.argSig < 1 || act.argSig > 64)) this.add('VALUE_FORMAT', `${path}.argSig`, `signal ${act.argSig} is out of range`, 'use a signal number 1..64');
    if (act.action !== 'Post') {
      for (const f of ['rateLimit', 'rateLimitScope', 'kernelStackTrace', 'userStackTrace', 'imaHash'] as const)
        if (act[f] !== undefined && act[f] !== false) this.add('CONFLICTING_FIELDS', `${path}.${f}`, `${f} only applies to the Post action`, `remove ${f} or change the action to Post`);
    }
    if (act.rateLimit !== undefined && parseRateLimit(act.rateLimit) === undefined)
      this.add('VALUE_FORMAT', `${path}.rateLimit`, `${JSON.stringify(act.rateLimit)} is not a duration`, 'write seconds, or a number with s, m or h (e.g. 30s, 5m)');
    if (act.rateLimitScope !== undefined && !['thread', 'process', 'global'].includes(act.rateLimitScope))
      this.add('VALUE_FORMAT', `${path}.rateLimitScope`, `${JSON.stringify(act.rateLimitScope)} is not a scope`, 'use thread, process or global');
  }
}

/** Validates one parsed document (any JSON value). Returns every issue, or the typed policy. */
export function validatePolicy(doc: unknown): ValidationResult {
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc))
    return { ok: false, issues: [{ code: 'NOT_AN_OBJECT', path: '', reason: 'a policy document must be a mapping', hint: 'start the document with apiVersion: vigil.dev/v1alpha1' }] };
  const validate = schemaValidator();
  if (!validate(doc)) {
    const issues = (validate.errors ?? []).map(ajvIssue);
    for (const i of issues) {
      if (i.path === 'apiVersion' && i.code === 'SCHEMA_ENUM') i.code = 'UNSUPPORTED_API_VERSION';
      if (i.path === 'kind' && i.code === 'SCHEMA_ENUM') i.code = 'UNSUPPORTED_KIND';
    }
    return { ok: false, issues: dedupe(issues) };
  }
  const issues = new Checker(doc as TracingPolicy).run();
  return issues.length ? { ok: false, issues } : { ok: true, policy: doc as TracingPolicy, issues: [] };
}

function dedupe(issues: PolicyIssue[]): PolicyIssue[] {
  const seen = new Set<string>();
  return issues.filter((i) => {
    const k = `${i.code}\0${i.path}\0${i.reason}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

export interface DocumentResult {
  /** 0-based index of the document in the YAML stream. */
  index: number;
  result: ValidationResult;
}

/** Parses a YAML (or JSON) stream and validates every non-empty document in it. */
export function validatePolicyText(text: string): DocumentResult[] {
  const out: DocumentResult[] = [];
  const docs = parseAllDocuments(text, { prettyErrors: true });
  const list = Array.isArray(docs) ? docs : [docs];
  list.forEach((d, index) => {
    if (d.errors.length) {
      out.push({ index, result: { ok: false, issues: d.errors.map((e) => ({ code: 'PARSE_ERROR', path: '', reason: e.message.split('\n')[0] ?? e.message, hint: 'fix the YAML syntax', document: index })) } });
      return;
    }
    const value: unknown = d.toJS({ maxAliasCount: 100 });
    if (value === null || value === undefined) return;
    const result = validatePolicy(value);
    if (!result.ok) for (const i of result.issues) i.document = index;
    out.push({ index, result });
  });
  return out;
}

/** Validates and returns the typed policy, or throws PolicyValidationError with every issue. */
export function assertValidPolicy(doc: unknown): TracingPolicy {
  const r = validatePolicy(doc);
  if (!r.ok) throw new PolicyValidationError(r.issues);
  return r.policy;
}

/** Parses a single-document YAML text into a validated policy (throws PolicyValidationError). */
export function parsePolicy(text: string): TracingPolicy {
  const docs = validatePolicyText(text);
  if (docs.length !== 1) throw new PolicyValidationError([{ code: 'PARSE_ERROR', path: '', reason: `expected one policy document, found ${docs.length}`, hint: 'put one policy per file, or use validatePolicyText' }]);
  const r = (docs[0] as DocumentResult).result;
  if (!r.ok) throw new PolicyValidationError(r.issues);
  return r.policy;
}
