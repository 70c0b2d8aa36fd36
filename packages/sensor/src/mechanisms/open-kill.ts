/**
 * Open kill, the open mechanism that stays armed without LSM BPF and without the sensor's userspace:
 * bpf/progs/open_kill.bpf.o's tp_btf/sys_exit program SIGKILLs a process whose successful open syscall (openat,
 * openat2, open, creat, open_by_handle_at; x86_64 and ia32 numbers) returned an fd for a file in the deny set by
 * (inode, kernel dev_t). The caller dies before it returns to user space, so it cannot read through that fd;
 * but the open happened (O_TRUNC truncated, O_CREAT created) and another thread may use the fd first: this is
 * kill-after-open, reported as such. Where fanotify runs, FAN_OPEN_PERM gives the real EPERM first.
 *
 *   const ok = OpenKill.start({ objectPath, onDecision });
 *   ok.setDenySet([{ id: 5, path: '/etc/shadow' }]);
 */
import { FileKill, type FileKillOptions } from './file-kill.js';

export type OpenKillOptions = FileKillOptions;

export class OpenKill extends FileKill {
  private constructor(opts: OpenKillOptions) {
    super(opts, { program: 'vg_open_exit', map: 'vg_open_deny', what: 'open kill' });
  }

  static start(opts: OpenKillOptions): OpenKill {
    return new OpenKill(opts).startUp();
  }
}
