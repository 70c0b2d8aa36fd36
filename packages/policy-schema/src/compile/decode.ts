// Reference reader of the bundle byte grammar (compiler.ts header): what the BPF side does, written in TypeScript.
// Used by tests to prove the bytes follow the documented layout, by `vigil policy compile --format json`'s
// decoded view, and as executable documentation for the sensor.
import { ACTION, ARG_OPERATOR, ARG_TYPE, CLAUSE_KIND, HOOK_KIND, MECHANISM, SET_OPERATOR, VALUE_KIND, type AbiEnum } from '../abi/enums.js';
import { BundleError } from '../errors.js';
import { LIMITS } from '../limits.js';
import { ACTION_RECORD_BYTES, ARG_DESC_BYTES, HOOK_CONFIG_BYTES, NO_ID, SELECTOR_PROGRAM_MAGIC } from './grammar.js';

function nameOf(e: AbiEnum, code: number): string {
  for (const [k, v] of Object.entries(e.values)) if (v === code) return k;
  return `#${code}`;
}
function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}
function need(ok: boolean, what: string): void {
  if (!ok) throw new BundleError('BAD_BUNDLE', what);
}

export interface DecodedArgDesc {
  index: number;
  type: string;
  flags: number;
  sizeArgIndex: number;
  tpOffset: number;
  tpSize: number;
}
export interface DecodedHookConfig {
  hookId: number;
  kind: string;
  mechanism: string;
  policyMode: number;
  flags: number;
  policyId: number;
  identitySetId: number;
  syscallNr: number;
  syscallSetId: number;
  syscallAbi: number;
  args: DecodedArgDesc[];
  data: DecodedArgDesc[];
  returnArg: DecodedArgDesc;
}

export function decodeHookConfig(b: Uint8Array): DecodedHookConfig {
  need(b.length === HOOK_CONFIG_BYTES, `hook config is ${b.length} bytes, expected ${HOOK_CONFIG_BYTES}`);
  const v = view(b);
  const desc = (at: number): DecodedArgDesc => ({
    index: v.getUint8(at),
    type: nameOf(ARG_TYPE, v.getUint8(at + 1)),
    flags: v.getUint8(at + 2),
    sizeArgIndex: v.getUint8(at + 3),
    tpOffset: v.getUint16(at + 4, true),
    tpSize: v.getUint16(at + 6, true),
  });
  const argCount = v.getUint8(25);
  const dataCount = v.getUint8(26);
  return {
    hookId: v.getUint32(0, true),
    kind: nameOf(HOOK_KIND, v.getUint8(4)),
    mechanism: nameOf(MECHANISM, v.getUint8(5)),
    policyMode: v.getUint8(6),
    flags: v.getUint8(7),
    policyId: v.getUint32(8, true),
    identitySetId: v.getUint32(12, true),
    syscallNr: v.getInt32(16, true),
    syscallSetId: v.getUint32(20, true),
    syscallAbi: v.getUint8(24),
    args: Array.from({ length: argCount }, (_, i) => desc(32 + i * ARG_DESC_BYTES)),
    data: Array.from({ length: dataCount }, (_, i) => desc(32 + LIMITS.MAX_ARGS_PER_HOOK * ARG_DESC_BYTES + i * ARG_DESC_BYTES)),
    returnArg: desc(32 + 2 * LIMITS.MAX_ARGS_PER_HOOK * ARG_DESC_BYTES),
  };
}

export interface DecodedClause {
  kind: string;
  op: string;
  length: number;
  /** Payload bytes after the 4-byte clause header. */
  payload: Uint8Array;
  /** arg / data / return_arg clauses only. */
  arg?: { slot: number; type: string; valueKind: string; valueCount: number };
}
export interface DecodedSelector {
  actionTableId: number | null;
  returnActionTableId: number | null;
  identitySetId: number;
  flags: number;
  clauses: DecodedClause[];
}

export function decodeSelectorProgram(b: Uint8Array): { grammarVersion: number; selectors: DecodedSelector[] } {
  const v = view(b);
  need(b.length >= 12 && v.getUint32(0, true) === SELECTOR_PROGRAM_MAGIC, 'selector program magic missing');
  const total = v.getUint32(8, true);
  need(total === b.length, `selector program says ${total} bytes, has ${b.length}`);
  const count = v.getUint16(6, true);
  const selectors: DecodedSelector[] = [];
  for (let i = 0; i < count; i++) {
    const at = v.getUint32(12 + 4 * i, true);
    const len = v.getUint32(at, true);
    need(at + len <= total, 'selector overruns the program');
    const a = v.getUint32(at + 4, true);
    const r = v.getUint32(at + 8, true);
    const clauseCount = v.getUint16(at + 16, true);
    const clauses: DecodedClause[] = [];
    let c = at + 20;
    for (let k = 0; k < clauseCount; k++) {
      const kindCode = v.getUint8(c);
      const kind = nameOf(CLAUSE_KIND, kindCode);
      const clen = v.getUint16(c + 2, true);
      need(clen >= 4 && clen % 4 === 0 && c + clen <= at + len, `clause ${k} of selector ${i} has a bad length`);
      const isArg = kind === 'arg' || kind === 'data' || kind === 'return_arg';
      const op = nameOf(isArg ? ARG_OPERATOR : SET_OPERATOR, v.getUint8(c + 1));
      const clause: DecodedClause = { kind, op, length: clen, payload: b.slice(c + 4, c + clen) };
      if (isArg)
        clause.arg = { slot: v.getUint8(c + 4), type: nameOf(ARG_TYPE, v.getUint8(c + 5)), valueKind: nameOf(VALUE_KIND, v.getUint8(c + 6)), valueCount: v.getUint16(c + 8, true) };
      clauses.push(clause);
      c += clen;
    }
    need(c === at + len, `selector ${i} length does not match its clauses`);
    selectors.push({ actionTableId: a === NO_ID ? null : a, returnActionTableId: r === NO_ID ? null : r, identitySetId: v.getUint32(at + 12, true), flags: v.getUint16(at + 18, true), clauses });
  }
  return { grammarVersion: v.getUint16(4, true), selectors };
}

export interface DecodedAction {
  action: string;
  flags: number;
  rateLimitScope: number;
  originalAction: string | null;
  argError: number;
  argSig: number;
  argSockOrIndex: number;
  argValue: number;
  rateLimitMs: number;
  stringId: number | null;
}

export function decodeActionTable(b: Uint8Array): DecodedAction[] {
  const v = view(b);
  const count = v.getUint16(0, true);
  need(b.length === 4 + count * ACTION_RECORD_BYTES, 'action table length does not match its count');
  return Array.from({ length: count }, (_, i) => {
    const at = 4 + i * ACTION_RECORD_BYTES;
    const orig = v.getUint8(at + 3);
    const s = v.getUint32(at + 24, true);
    return {
      action: nameOf(ACTION, v.getUint8(at)),
      flags: v.getUint8(at + 1),
      rateLimitScope: v.getUint8(at + 2),
      originalAction: orig ? nameOf(ACTION, orig) : null,
      argError: v.getInt32(at + 4, true),
      argSig: v.getInt32(at + 8, true),
      argSockOrIndex: v.getInt32(at + 12, true),
      argValue: v.getInt32(at + 16, true),
      rateLimitMs: v.getUint32(at + 20, true),
      stringId: s === NO_ID ? null : s,
    };
  });
}

