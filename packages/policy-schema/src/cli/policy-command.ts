// `vigil policy …`: validate and compile policies from the command line. The operator's `vigil` binary dispatches
// here; everything is testable through runPolicyCommand with captured output.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { bundleToHex, bundleToJson, type Bundle } from '../compile/bundle.js';
import { compilePolicy } from '../compile/compiler.js';
import { fullNodeProfile, parseNodeProfile, tracepointOnlyNodeProfile, type NodeProfile } from '../compile/node-profile.js';
import { PolicyCompileError, type PolicyIssue } from '../errors.js';
import { validatePolicyText } from '../validate.js';

export interface CommandIo {
  /** Writes one line (no trailing newline) to standard output. */
  out(line: string): void;
  /** Writes one line to standard error. */
  err(line: string): void;
}

/** Exit codes: 0 ok, 1 invalid input (policy errors), 2 usage error or unreadable file. */
export const EXIT_OK = 0;
export const EXIT_INVALID = 1;
export const EXIT_USAGE = 2;

export const POLICY_HELP = `Usage: vigil policy <command> [options]

Commands:
  validate <file|dir>...   Validate TracingPolicy files (YAML or JSON, multi-document allowed). Directories are
                           searched recursively for *.yaml, *.yml and *.json. Prints one line per problem,
                           "file: path: reason (hint)", and exits 1 if any document is invalid.
                           Suited to a GitOps pre-commit hook.
      --quiet                only print problems
  compile <file> [options]  Validate, then compile the policy into the per-node bundle a sensor loads.
      --node-profile FILE    NodeProfile as JSON or YAML (from \`vigil-sensor probe --json\`), or one of the
                             built-in profiles: full (every mechanism) or tracepoint-only (no kprobes, fentry
                             or LSM). Default: full.
      --format json|hex      json (default): the bundle with map bytes in hex; hex: one "map key value" line per
                             map entry, as in the golden files.

Both apiVersion cilium.io/v1alpha1 (unchanged Tetragon policies) and vigil.dev/v1alpha1 are accepted.
Exit codes: 0 ok, 1 invalid policy, 2 usage error or unreadable file.`;

function collectFiles(target: string, out: string[]): void {
  const st = statSync(target);
  if (st.isDirectory()) {
    for (const name of readdirSync(target).sort()) {
      const p = join(target, name);
      if (statSync(p).isDirectory()) collectFiles(p, out);
      else if (/\.(ya?ml|json)$/.test(name)) out.push(p);
    }
  } else out.push(target);
}

function issueLine(file: string, multi: boolean, docIndex: number, i: PolicyIssue): string {
  const where = multi ? `${file} (document ${docIndex + 1})` : file;
  return `${where}: ${i.path || '(document)'}: ${i.reason} (${i.hint})`;
}

function parseFlags(args: string[], known: Record<string, boolean>): { flags: Record<string, string | true>; positional: string[]; error?: string } {
  const flags: Record<string, string | true> = {};
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i] ?? '';
    if (a === '--') {
      positional.push(...args.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const [name, inline] = a.slice(2).split('=', 2) as [string, string | undefined];
      if (!(name in known)) return { flags, positional, error: `unknown option --${name}` };
      if (known[name]) {
        const v = inline ?? args[++i];
        if (v === undefined) return { flags, positional, error: `--${name} needs a value` };
        flags[name] = v;
      } else flags[name] = true;
    } else positional.push(a);
  }
  return { flags, positional };
}

function validateCommand(args: string[], io: CommandIo): number {
  const { flags, positional, error } = parseFlags(args, { quiet: false, help: false });
  if (flags['help']) {
    io.out(POLICY_HELP);
    return EXIT_OK;
  }
  if (error || positional.length === 0) {
    io.err(`vigil policy validate: ${error ?? 'name at least one file or directory'}`);
    io.err('Run `vigil policy --help` for usage.');
    return EXIT_USAGE;
  }
  const files: string[] = [];
  for (const p of positional) {
    try {
      collectFiles(p, files);
    } catch (e) {
      io.err(`${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return EXIT_USAGE;
    }
  }
  let invalidDocs = 0;
  let docs = 0;
  for (const file of files) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (e) {
      io.err(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
      return EXIT_USAGE;
    }
    const results = validatePolicyText(text);
    if (results.length === 0) {
      io.out(`${file}: (document): no policy document found (add a TracingPolicy or remove the file from the check)`);
      invalidDocs++;
      continue;
    }
    for (const d of results) {
      docs++;
      if (d.result.ok) continue;
      invalidDocs++;
      for (const i of d.result.issues) io.out(issueLine(file, results.length > 1, d.index, i));
    }
  }
  if (!flags['quiet'] || invalidDocs) io.err(`${files.length} file(s), ${docs} document(s): ${invalidDocs ? `${invalidDocs} invalid` : 'all valid'}`);
  return invalidDocs ? EXIT_INVALID : EXIT_OK;
}

function loadProfile(spec: string | undefined): NodeProfile {
  if (spec === undefined || spec === 'full') return fullNodeProfile();
  if (spec === 'tracepoint-only') return tracepointOnlyNodeProfile();
  const text = readFileSync(spec, 'utf8');
  return parseNodeProfile(parseYaml(text) as unknown);
}

function compileCommand(args: string[], io: CommandIo): number {
  const { flags, positional, error } = parseFlags(args, { 'node-profile': true, format: true, help: false });
  if (flags['help']) {
    io.out(POLICY_HELP);
    return EXIT_OK;
  }
  const format = flags['format'] ?? 'json';
  if (error || positional.length !== 1 || (format !== 'json' && format !== 'hex')) {
    io.err(`vigil policy compile: ${error ?? (positional.length !== 1 ? 'name exactly one policy file' : `--format must be json or hex, not ${String(format)}`)}`);
    io.err('Run `vigil policy --help` for usage.');
    return EXIT_USAGE;
  }
  const file = positional[0] ?? '';
  let text: string;
  let profile: NodeProfile;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    io.err(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    return EXIT_USAGE;
  }
  const profileArg = flags['node-profile'];
  try {
    profile = loadProfile(typeof profileArg === 'string' ? profileArg : undefined);
  } catch (e) {
    if (e instanceof PolicyCompileError) io.err(`${String(profileArg)}: ${e.message}`);
    else io.err(`${String(profileArg)}: cannot read node profile (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    return EXIT_USAGE;
  }
  const results = validatePolicyText(text);
  const bad = results.filter((d) => !d.result.ok);
  if (results.length === 0) {
    io.out(`${file}: (document): no policy document found (write a TracingPolicy into the file)`);
    return EXIT_INVALID;
  }
  if (bad.length) {
    for (const d of bad) if (!d.result.ok) for (const i of d.result.issues) io.out(issueLine(file, results.length > 1, d.index, i));
    return EXIT_INVALID;
  }
  const bundles: Bundle[] = [];
  for (const d of results) {
    if (!d.result.ok) continue;
    try {
      bundles.push(compilePolicy(d.result.policy, profile));
    } catch (e) {
      if (!(e instanceof PolicyCompileError)) throw e;
      io.out(`${file}: ${e.path}: ${e.message.replace(`${e.path}: `, '')}`);
      return EXIT_INVALID;
    }
  }
  if (format === 'hex') for (const b of bundles) io.out(bundleToHex(b).trimEnd());
  else {
    const json = bundles.map(bundleToJson);
    io.out(JSON.stringify(json.length === 1 ? json[0] : json, null, 2));
  }
  for (const b of bundles) for (const h of b.hooks) if (h.refusal) io.err(`${file}: ${h.path}: not attached on this node: ${h.refusal}`);
  return EXIT_OK;
}

/** Runs `vigil policy <argv…>` and returns the exit code. Never calls process.exit. */
export function runPolicyCommand(argv: readonly string[], io: CommandIo): number {
  const [sub, ...rest] = argv;
  switch (sub) {
    case 'validate':
      return validateCommand(rest, io);
    case 'compile':
      return compileCommand(rest, io);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      io.out(POLICY_HELP);
      return sub === undefined ? EXIT_USAGE : EXIT_OK;
    default:
      io.err(`vigil policy: unknown command ${JSON.stringify(sub)}`);
      io.err('Run `vigil policy --help` for usage.');
      return EXIT_USAGE;
  }
}
