// A small subset of CEL for CRD `x-kubernetes-validations` rules: literals (bool, int, double, string, null),
// `self` (and `oldSelf` on updates) with field selection and indexing, `has(self.f)`, `size(x)` / `x.size()`,
// `!`, unary `-`, `&&`, `||`, `? :`, `== != < <= > >=`, `+ - * / %` on numbers, `+` on strings, and `in` on lists
// and maps. Expressions outside the subset throw CelUnsupported at compile time; the validator then skips the
// rule (kube-apiserver would evaluate it), which the README lists as a known difference. Property names follow
// Kubernetes' escaping: CEL reserved words must be written `__return__`, `__namespace__`…, and `_ . - /` inside
// names as `__`, `__dot__`, `__dash__`, `__slash__`; an unescaped reserved word is a compile error, as there.

export class CelUnsupported extends Error {
  override readonly name = 'CelUnsupported';
  readonly code = 'CEL_UNSUPPORTED';
}

/** Not valid CEL for kube-apiserver either (e.g. a reserved word used as a field name): the CRD is refused. */
export class CelCompileError extends Error {
  override readonly name = 'CelCompileError';
  readonly code = 'CEL_COMPILE';
}

export class CelEvalError extends Error {
  override readonly name = 'CelEvalError';
  readonly code = 'CEL_EVAL';
}

type Node =
  | { k: 'lit'; v: unknown }
  | { k: 'ident'; name: string }
  | { k: 'sel'; of: Node; field: string }
  | { k: 'index'; of: Node; index: Node }
  | { k: 'has'; of: Node; field: string }
  | { k: 'call'; fn: string; args: Node[]; target?: Node }
  | { k: 'unary'; op: string; x: Node }
  | { k: 'bin'; op: string; a: Node; b: Node }
  | { k: 'cond'; c: Node; a: Node; b: Node }
  | { k: 'list'; items: Node[] };

const RESERVED = new Set(['true', 'false', 'null', 'in', 'as', 'break', 'const', 'continue', 'else', 'for', 'function', 'if', 'import', 'let', 'loop', 'package', 'namespace', 'return', 'var', 'void', 'while']);

/** The JSON property name a CEL field name stands for. */
function unescapeField(name: string, src: string): string {
  if (RESERVED.has(name)) throw new CelCompileError(`compilation failed: ERROR: <input>: reserved identifier: ${name} (write __${name}__) in rule: ${src}`);
  const kw = /^__([a-z]+)__$/.exec(name);
  if (kw?.[1] && RESERVED.has(kw[1])) return kw[1];
  return name.replace(/__(dot|dash|slash)__/g, (_m, w: string) => (w === 'dot' ? '.' : w === 'dash' ? '-' : '/')).replace(/__/g, '_');
}

const FUNCTIONS = new Set(['size', 'startsWith', 'endsWith', 'contains', 'matches']);

const TOKEN = /\s*(?:(\d+\.\d+(?:[eE][+-]?\d+)?)|(\d+)u?|("(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|([A-Za-z_][A-Za-z0-9_]*)|(&&|\|\||==|!=|<=|>=|[-+*/%!<>?:.,()[\]]))/y;

function tokenize(src: string): string[] {
  const out: string[] = [];
  TOKEN.lastIndex = 0;
  let pos = 0;
  while (pos < src.length) {
    if (/^\s*$/.test(src.slice(pos))) break;
    TOKEN.lastIndex = pos;
    const m = TOKEN.exec(src);
    if (!m) throw new CelUnsupported(`cannot tokenize CEL at ${pos}: ${src}`);
    out.push(m[0].trim());
    pos = TOKEN.lastIndex;
  }
  return out;
}

class Parser {
  private i = 0;
  constructor(private readonly t: string[], private readonly src: string) {}

  private peek(): string | undefined {
    return this.t[this.i];
  }
  private next(): string {
    const v = this.t[this.i++];
    if (v === undefined) throw new CelUnsupported(`unexpected end of CEL: ${this.src}`);
    return v;
  }
  private expect(s: string): void {
    const v = this.next();
    if (v !== s) throw new CelUnsupported(`expected ${s}, found ${v} in CEL: ${this.src}`);
  }

  parse(): Node {
    const n = this.cond();
    if (this.i !== this.t.length) throw new CelUnsupported(`unexpected ${this.peek()} in CEL: ${this.src}`);
    return n;
  }

  private cond(): Node {
    const c = this.or();
    if (this.peek() !== '?') return c;
    this.next();
    const a = this.cond();
    this.expect(':');
    return { k: 'cond', c, a, b: this.cond() };
  }

  private binary(ops: string[], sub: () => Node): Node {
    let a = sub();
    while (ops.includes(this.peek() ?? '')) {
      const op = this.next();
      a = { k: 'bin', op, a, b: sub() };
    }
    return a;
  }

  private or(): Node {
    return this.binary(['||'], () => this.and());
  }
  private and(): Node {
    return this.binary(['&&'], () => this.rel());
  }
  private rel(): Node {
    return this.binary(['==', '!=', '<', '<=', '>', '>=', 'in'], () => this.add());
  }
  private add(): Node {
    return this.binary(['+', '-'], () => this.mul());
  }
  private mul(): Node {
    return this.binary(['*', '/', '%'], () => this.unary());
  }
  private unary(): Node {
    const p = this.peek();
    if (p === '!' || p === '-') {
      this.next();
      return { k: 'unary', op: p, x: this.unary() };
    }
    return this.member();
  }
  private member(): Node {
    let n = this.primary();
    for (;;) {
      const p = this.peek();
      if (p === '.') {
        this.next();
        const name = this.next();
        if (this.peek() === '(') {
          if (!FUNCTIONS.has(name)) throw new CelUnsupported(`function or macro ${name}() is outside the supported CEL subset: ${this.src}`);
          n = { k: 'call', fn: name, target: n, args: this.args() };
        } else n = { k: 'sel', of: n, field: unescapeField(name, this.src) };
      } else if (p === '[') {
        this.next();
        const index = this.cond();
        this.expect(']');
        n = { k: 'index', of: n, index };
      } else return n;
    }
  }
  private args(): Node[] {
    this.expect('(');
    const out: Node[] = [];
    while (this.peek() !== ')') {
      out.push(this.cond());
      if (this.peek() === ',') this.next();
    }
    this.expect(')');
    return out;
  }
  private primary(): Node {
    const v = this.next();
    if (v === '(') {
      const n = this.cond();
      this.expect(')');
      return n;
    }
    if (v === '[') {
      const items: Node[] = [];
      while (this.peek() !== ']') {
        items.push(this.cond());
        if (this.peek() === ',') this.next();
      }
      this.expect(']');
      return { k: 'list', items };
    }
    if (v === 'true' || v === 'false') return { k: 'lit', v: v === 'true' };
    if (v === 'null') return { k: 'lit', v: null };
    if (/^\d/.test(v)) return { k: 'lit', v: Number(v) };
    if (/^["']/.test(v)) return { k: 'lit', v: JSON.parse(`"${v.slice(1, -1).replace(/"/g, '\\"')}"`) as string };
    if (/^[A-Za-z_]/.test(v)) {
      if (this.peek() === '(') {
        const args = this.args();
        if (v === 'has') {
          const arg = args[0];
          if (args.length !== 1 || !arg || arg.k !== 'sel') throw new CelUnsupported(`has() needs a field selection in CEL: ${this.src}`);
          return { k: 'has', of: arg.of, field: arg.field };
        }
        if (!FUNCTIONS.has(v)) throw new CelUnsupported(`function ${v}() is outside the supported CEL subset: ${this.src}`);
        return { k: 'call', fn: v, args };
      }
      if (v !== 'self' && v !== 'oldSelf') throw new CelUnsupported(`identifier ${v} is outside the supported CEL subset: ${this.src}`);
      return { k: 'ident', name: v };
    }
    throw new CelUnsupported(`unexpected ${v} in CEL: ${this.src}`);
  }
}

function isMap(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function equal(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function evaluate(n: Node, vars: Record<string, unknown>): unknown {
  switch (n.k) {
    case 'lit':
      return n.v;
    case 'ident':
      if (!(n.name in vars)) throw new CelEvalError(`undeclared reference to '${n.name}'`);
      return vars[n.name];
    case 'list':
      return n.items.map((i) => evaluate(i, vars));
    case 'sel': {
      const o = evaluate(n.of, vars);
      if (!isMap(o) || !(n.field in o)) throw new CelEvalError(`no such key: ${n.field}`);
      return o[n.field];
    }
    case 'has': {
      const o = evaluate(n.of, vars);
      // null-valued fields count as absent
      return isMap(o) && n.field in o && o[n.field] !== undefined && o[n.field] !== null;
    }
    case 'index': {
      const o = evaluate(n.of, vars);
      const i = evaluate(n.index, vars);
      if (Array.isArray(o) && typeof i === 'number') {
        if (i < 0 || i >= o.length) throw new CelEvalError(`index out of bounds: ${i}`);
        return o[i];
      }
      if (isMap(o) && typeof i === 'string') {
        if (!(i in o)) throw new CelEvalError(`no such key: ${i}`);
        return o[i];
      }
      throw new CelEvalError('invalid index');
    }
    case 'call': {
      const target = n.target ? evaluate(n.target, vars) : undefined;
      const args = n.args.map((a) => evaluate(a, vars));
      const subject = n.target ? target : args[0];
      switch (n.fn) {
        case 'size':
          if (typeof subject === 'string' || Array.isArray(subject)) return subject.length;
          if (isMap(subject)) return Object.keys(subject).length;
          throw new CelEvalError('size() of an unsupported type');
        case 'startsWith':
          return typeof target === 'string' && typeof args[0] === 'string' && target.startsWith(args[0]);
        case 'endsWith':
          return typeof target === 'string' && typeof args[0] === 'string' && target.endsWith(args[0]);
        case 'contains':
          return typeof target === 'string' && typeof args[0] === 'string' && target.includes(args[0]);
        case 'matches':
          return typeof target === 'string' && typeof args[0] === 'string' && new RegExp(args[0], 'u').test(target);
        default:
          throw new CelEvalError(`unsupported function ${n.fn}`);
      }
    }
    case 'unary': {
      const x = evaluate(n.x, vars);
      if (n.op === '!') {
        if (typeof x !== 'boolean') throw new CelEvalError("no such overload for '!'");
        return !x;
      }
      if (typeof x !== 'number') throw new CelEvalError("no such overload for '-'");
      return -x;
    }
    case 'cond':
      return evaluate(n.c, vars) === true ? evaluate(n.a, vars) : evaluate(n.b, vars);
    case 'bin': {
      if (n.op === '&&' || n.op === '||') {
        // CEL's commutative logic: an error on one side is absorbed if the other side decides
        let a: unknown;
        let aErr: unknown;
        try {
          a = evaluate(n.a, vars);
        } catch (e) {
          aErr = e;
        }
        const decisive = n.op === '&&' ? false : true;
        if (a === decisive) return decisive;
        const b = evaluate(n.b, vars);
        if (b === decisive) return decisive;
        if (aErr) throw aErr;
        return !decisive;
      }
      const a = evaluate(n.a, vars);
      const b = evaluate(n.b, vars);
      switch (n.op) {
        case '==':
          return equal(a, b);
        case '!=':
          return !equal(a, b);
        case 'in':
          if (Array.isArray(b)) return b.some((x) => equal(x, a));
          if (isMap(b) && typeof a === 'string') return a in b;
          throw new CelEvalError("no such overload for 'in'");
      }
      if (n.op === '+' && typeof a === 'string' && typeof b === 'string') return a + b;
      if (n.op === '+' && Array.isArray(a) && Array.isArray(b)) return [...a, ...b];
      if (typeof a !== 'number' || typeof b !== 'number') {
        if (typeof a === 'string' && typeof b === 'string' && ['<', '<=', '>', '>='].includes(n.op)) {
          return n.op === '<' ? a < b : n.op === '<=' ? a <= b : n.op === '>' ? a > b : a >= b;
        }
        throw new CelEvalError(`no such overload for '${n.op}'`);
      }
      switch (n.op) {
        case '<':
          return a < b;
        case '<=':
          return a <= b;
        case '>':
          return a > b;
        case '>=':
          return a >= b;
        case '+':
          return a + b;
        case '-':
          return a - b;
        case '*':
          return a * b;
        case '/':
          if (b === 0) throw new CelEvalError('division by zero');
          return Number.isInteger(a) && Number.isInteger(b) ? Math.trunc(a / b) : a / b;
        default:
          if (b === 0) throw new CelEvalError('modulus by zero');
          return a % b;
      }
    }
  }
}

export interface CompiledRule {
  usesOldSelf: boolean;
  eval(self: unknown, oldSelf?: unknown): unknown;
}

const cache = new Map<string, CompiledRule>();

/** Compiles a rule (cached); throws CelUnsupported outside the subset. */
export function compileCel(rule: string): CompiledRule {
  const hit = cache.get(rule);
  if (hit) return hit;
  const tokens = tokenize(rule);
  const ast = new Parser(tokens, rule).parse();
  const compiled: CompiledRule = {
    usesOldSelf: tokens.includes('oldSelf'),
    eval: (self, oldSelf) => evaluate(ast, oldSelf === undefined ? { self } : { self, oldSelf }),
  };
  cache.set(rule, compiled);
  return compiled;
}
