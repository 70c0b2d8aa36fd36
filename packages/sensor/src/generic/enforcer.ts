// Enforcers (Tetragon's spec.enforcers) as the generic engine runs them: the loader's view of one (a synthetic hook
// on generic_enforcer.bpf.o) and its status. Pure; no dependency on the engine or the composite (both use it).
import { decodeActionTable, type Bundle, type CompiledEnforcer, type CompiledHook } from '@vigil/policy-schema';
import type { HookStatus } from '../transport/protocol.js';
import { overrideRefusal } from './tracefs.js';

/** Trampoline programs are loaded (and verified) once per function: lists longer than this go to kprobes. */
export const MAX_TRAMPOLINE_TARGETS = 8;
/** Instance ids of enforcers (hook ids are 1..hooks): ENFORCER_ID0 + the enforcer's index. */
export const ENFORCER_ID0 = 0x40000000;

/** Mechanisms this engine runs enforcers on (kprobe override: not in this build; no matrix kernel has it). */
const ENFORCER_MECHANISMS = new Set(['fentry', 'tp_btf_syscall']);

/**
 * The mechanism that really serves an enforcer here: fmod_ret only on functions the kernel lets a program override
 * (its error-injection list; Debian's kernels are built without it), otherwise the sys_exit signal, with the reason.
 */
export function servedEnforcer(e: CompiledEnforcer): CompiledEnforcer & { note?: string } {
  if (e.mechanism !== 'fentry') return e;
  const refused = e.calls.map((c) => overrideRefusal(c)).find(Boolean);
  if (!refused) return e;
  return { ...e, mechanism: 'tp_btf_syscall', note: `${refused}; served at tp_btf sys_exit instead` };
}

/**
 * An enforcer as the hook the loader and attacher understand: fentry → one fmod_ret instance per guarded function;
 * tp_btf_syscall → one sys_exit program filtered by the enforcer's syscall set (its id goes into vg_prog_cfg).
 */
export function enforcerHook(compiled: CompiledEnforcer, index: number): CompiledHook {
  const e = servedEnforcer(compiled);
  return {
    id: ENFORCER_ID0 + index,
    kind: 'kprobe',
    path: e.path,
    targets: e.mechanism === 'fentry' ? e.calls : [],
    mechanism: e.mechanism,
    notes: [],
    returnProbe: e.mechanism === 'tp_btf_syscall',
    args: [],
    attach: { enforcer: true, syscallSetId: e.syscallSetId },
    ignoreMissing: false,
  } as CompiledHook;
}

/** Whether any NotifyEnforcer action of the bundle sends a signal (argSig): all an enforcer at sys_exit can do. */
export function notifiesSignal(bundle: Bundle): boolean {
  return bundle.maps.vg_actions.some((e) => decodeActionTable(e.value).some((a) => (a.action === 'NotifyEnforcer' || a.originalAction === 'NotifyEnforcer') && a.argSig !== 0));
}

/** Status of an enforcer of `bundle` on this engine (hookId 0: not a hook of the bundle). */
export function enforcerStatus(compiled: CompiledEnforcer, bundle: Bundle): HookStatus {
  const e = servedEnforcer(compiled);
  const base = { hookId: 0, path: e.path, hook: `enforcer (${e.calls.join(', ') || 'no syscalls'})`, mechanism: e.mechanism };
  if (e.mechanism === 'none') return { ...base, state: 'refused', reason: e.refusal ?? 'refused by the compiler for this node' };
  if (!ENFORCER_MECHANISMS.has(e.mechanism)) return { ...base, state: 'refused', reason: `enforcers on ${e.mechanism} (kprobe override) are not run by this sensor build; fmod_ret or tp_btf sys_exit are` };
  if (e.mechanism === 'fentry' && e.calls.length > MAX_TRAMPOLINE_TARGETS) return { ...base, state: 'refused', reason: `${e.calls.length} syscalls on fmod_ret would need one verified program each (limit ${MAX_TRAMPOLINE_TARGETS})` };
  if (e.mechanism === 'tp_btf_syscall' && !notifiesSignal(bundle))
    return { ...base, state: 'observing', reason: `${e.note ?? 'no trampolines'}: at sys_exit an enforcer can only send argSig, and no NotifyEnforcer action of the policy has one (argError cannot be returned here)` };
  return {
    ...base,
    state: 'enforcing',
    reason:
      e.mechanism === 'fentry'
        ? 'fmod_ret on each syscall: a thread a NotifyEnforcer selector named gets argError instead of the syscall, and argSig'
        : `${e.note ?? 'no trampolines'}: argSig is sent as the syscall returns (its effect stays; argError cannot be returned here)`,
  };
}
