/**
 * Exec kill, the exec mechanism that stays armed without LSM BPF and without the sensor's userspace:
 * bpf/progs/exec_kill.bpf.o's tp_btf/sched_process_exec program SIGKILLs a process whose new executable (for a
 * `#!` script: its interpreter) is in the deny set by (inode, kernel dev_t). The process dies before the new
 * image runs any user code: the parent sees signal 9 (exit 137 in a shell). The exec itself has succeeded
 * (setuid credentials are committed, the old image is gone): this is kill-at-exec, not EPERM. Where fanotify
 * runs, FAN_OPEN_EXEC_PERM gives the real EPERM first (mechanisms/fanotify).
 *
 *   const ek = ExecKill.start({ objectPath, onDecision });
 *   ek.setDenySet([{ id: 3, path: '/usr/bin/nc' }]);   // live, no reload
 */
import { readFileSync } from 'node:fs';
import { EnforceError } from './errors.js';
import { FileKill, type FileKillOptions } from './file-kill.js';

let prepareExec: boolean | undefined;

/**
 * Whether this kernel has the sched_prepare_exec tracepoint (>= 6.10), where the caller's executable still exists:
 * exec kill needs it for matchBinaries (the binary that calls execve). Read from the kernel's BTF, once.
 */
export function hasPrepareExec(): boolean {
  if (prepareExec === undefined) {
    try {
      prepareExec = readFileSync('/sys/kernel/btf/vmlinux').includes('\0btf_trace_sched_prepare_exec\0');
    } catch {
      prepareExec = false;
    }
  }
  return prepareExec;
}

export type ExecKillOptions = FileKillOptions;

export class ExecKill extends FileKill {
  private constructor(opts: ExecKillOptions) {
    super(opts, { program: 'vg_exec_kill', map: 'vg_exec_deny', what: 'exec kill', optional: [{ program: 'vg_exec_prepare', available: hasPrepareExec() }] });
  }

  /** Whether rules may carry `binaries` (the calling binary): only with sched_prepare_exec (kernel >= 6.10). */
  static callerBinaries(): boolean {
    return hasPrepareExec();
  }

  override setDenySet(rules: Parameters<FileKill['setDenySet']>[0]): void {
    const scoped = rules.find((r) => r.binaries && r.binaries.length > 0);
    if (scoped && !hasPrepareExec()) {
      throw new EnforceError('UNSUPPORTED', `exec rule ${scoped.id}: matchBinaries (the calling binary) needs the sched_prepare_exec tracepoint (kernel >= 6.10); this kernel has none`);
    }
    super.setDenySet(rules);
  }

  static start(opts: ExecKillOptions): ExecKill {
    return new ExecKill(opts).startUp();
  }
}
