/**
 * Node facts the compiler needs for tracepoint hooks and generated lists, read from the running kernel:
 * tracefs `format` files (Tetragon's tracepoint argument model: `args[].index` counts the format's fields,
 * common_* included) and the functions kprobes may attach to (available_filter_functions / kallsyms).
 */
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';
import { join } from 'node:path';
import type { NodeProfile, TracepointField, TracingPolicy } from '@vigil/policy-schema';

export const TRACEFS_ROOTS = ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'];

export function tracefsRoot(): string | undefined {
  return TRACEFS_ROOTS.find((r) => existsSync(join(r, 'events')));
}

/** Parses a tracefs `format` file into its fields, in file order. */
export function parseTracepointFormat(text: string): TracepointField[] {
  const out: TracepointField[] = [];
  for (const line of text.split('\n')) {
    const m = /^\s*field:(.+?);\s*offset:(\d+);\s*size:(\d+);\s*signed:(\d+);/.exec(line);
    if (!m) continue;
    const decl = (m[1] ?? '').replace(/\[[^\]]*\]\s*$/, '').trim();
    const name = /([A-Za-z_][A-Za-z0-9_]*)\s*$/.exec(decl)?.[1] ?? decl;
    out.push({ name, offset: Number(m[2]), size: Number(m[3]), signed: m[4] === '1' });
  }
  return out;
}

/** The format of `subsystem/event` on this kernel, or undefined when tracefs or the event is missing. */
export function readTracepointFormat(key: string, root = tracefsRoot()): TracepointField[] | undefined {
  if (!root) return undefined;
  const [sub, ev] = key.split('/');
  if (!sub || !ev || sub.includes('..') || ev.includes('..')) return undefined;
  try {
    return parseTracepointFormat(readFileSync(join(root, 'events', sub, ev, 'format'), 'utf8'));
  } catch {
    return undefined;
  }
}

/** Adds to `profile` the tracefs formats of every tracepoint the policies name (those this kernel has). */
export function withTracepointFormats(profile: NodeProfile, policies: readonly TracingPolicy[]): NodeProfile {
  const tracepoints = { ...profile.tracepoints };
  for (const p of policies) {
    for (const tp of p.spec.tracepoints ?? []) {
      const key = `${tp.subsystem}/${tp.event}`;
      if (tracepoints[key]) continue;
      const f = readTracepointFormat(key);
      if (f) tracepoints[key] = f;
    }
  }
  return { ...profile, tracepoints };
}

let traceable: Set<string> | undefined;

/** Kernel functions kprobes can attach to (available_filter_functions; module suffixes dropped). */
export function traceableFunctions(): Set<string> {
  if (traceable) return traceable;
  const out = new Set<string>();
  const root = tracefsRoot();
  try {
    if (!root) throw new Error('no tracefs');
    for (const line of readFileSync(join(root, 'available_filter_functions'), 'utf8').split('\n')) {
      const name = line.split(/\s/)[0];
      if (name) out.add(name);
    }
  } catch {
    try {
      for (const line of readFileSync('/proc/kallsyms', 'utf8').split('\n')) {
        const parts = line.split(/\s+/);
        if (parts[1] === 't' || parts[1] === 'T') out.add(parts[2] ?? '');
      }
    } catch {
      /* neither: every lookup misses, attach reports why */
    }
  }
  traceable = out;
  return out;
}

/** Expands a generated list: every syscall entry function of this kernel, or functions matching `pattern`. */
export function expandGeneratedList(type: 'generated_syscalls' | 'generated_ftrace', pattern?: string): string[] {
  const fns = traceableFunctions();
  if (type === 'generated_syscalls') return [...fns].filter((f) => /^__x64_sys_/.test(f)).sort();
  if (!pattern) return [];
  const re = new RegExp(pattern);
  return [...fns].filter((f) => re.test(f)).sort();
}

/**
 * The kernel symbol a kprobe on `call` attaches to: `sys_*` names of syscalls become the arch wrapper
 * (__x64_sys_*) the kernel has, other names stay as written.
 */
export function kernelSymbolFor(call: string): string {
  const fns = traceableFunctions();
  if (fns.has(call) || fns.size === 0) return call;
  if (call.startsWith('sys_') && fns.has(`__x64_${call}`)) return `__x64_${call}`;
  if (!call.startsWith('__') && fns.has(`__x64_sys_${call}`)) return `__x64_sys_${call}`;
  return call;
}

let injectable: Set<string> | null | undefined;
let injectionConfig: boolean | undefined | null;

/** CONFIG_FUNCTION_ERROR_INJECTION of the running kernel from /proc/config.gz or /boot/config-<release>; null unknown. */
function errorInjectionConfigured(): boolean | null {
  if (injectionConfig !== undefined) return injectionConfig;
  let text: string | undefined;
  try {
    text = gunzipSync(readFileSync('/proc/config.gz')).toString('utf8');
  } catch {
    try {
      text = readFileSync(`/boot/config-${release()}`, 'utf8');
    } catch {
      text = undefined;
    }
  }
  injectionConfig = text === undefined ? null : /^CONFIG_FUNCTION_ERROR_INJECTION=y$/m.test(text);
  return injectionConfig;
}

/**
 * Whether `fn` may have its return value replaced (kprobe override, fmod_ret), or why not: LSM hooks (security_*)
 * always can through fmod_ret; other functions only when they are in the kernel's error-injection list (debugfs
 * shows it; without debugfs, syscall entry points are in it exactly when CONFIG_FUNCTION_ERROR_INJECTION is set,
 * which Debian's kernels leave unset).
 */
export function overrideRefusal(fn: string): string | undefined {
  if (fn.startsWith('security_')) return undefined;
  if (injectable === undefined) {
    try {
      injectable = new Set(
        readFileSync('/sys/kernel/debug/error_injection/list', 'utf8')
          .split('\n')
          .map((l) => l.split(/\s/)[0] ?? '')
          .filter(Boolean),
      );
    } catch {
      injectable = null;
    }
  }
  if (injectable) return injectable.has(fn) ? undefined : `Override on ${fn}: the function is not in this kernel's error-injection list, so neither kprobe override nor fmod_ret can change its return value (security_* hooks can)`;
  const configured = errorInjectionConfigured();
  if (configured === true && /^(__x64_|__ia32_)?sys_/.test(fn)) return undefined;
  if (configured === false) return `Override on ${fn}: this kernel is built without CONFIG_FUNCTION_ERROR_INJECTION, so only LSM hooks (security_*, lsmhooks) can have their return value replaced`;
  return `Override on ${fn}: only functions in the kernel's error-injection list can be overridden; neither that list (debugfs) nor the kernel config is readable here, and ${fn} is not a security_* hook`;
}
