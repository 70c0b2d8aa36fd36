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
import { FileKill, type FileKillOptions } from './file-kill.js';

export type ExecKillOptions = FileKillOptions;

export class ExecKill extends FileKill {
  private constructor(opts: ExecKillOptions) {
    super(opts, { program: 'vg_exec_kill', map: 'vg_exec_deny', what: 'exec kill' });
  }

  static start(opts: ExecKillOptions): ExecKill {
    return new ExecKill(opts).startUp();
  }
}
