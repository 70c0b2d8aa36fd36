import { LibbpfError } from './errors.js';
import { loadNative, negErrno } from './native.js';

/** bpf_obj_get: an fd for a pinned program, map or link. The caller closes it with closeFd. */
export function objGet(path: string): number {
  const n = loadNative();
  const fd = n.bpf.bpf_obj_get(path);
  if (fd < 0) throw new LibbpfError('PIN_FAILED', `cannot open pinned object ${path}`, negErrno(fd) || n.errno());
  return fd;
}

export function objPin(fd: number, path: string): void {
  const err = negErrno(loadNative().bpf.bpf_obj_pin(fd, path));
  if (err) throw new LibbpfError('PIN_FAILED', `cannot pin fd ${fd} at ${path}`, err);
}

/** Creates a readable fd for an attached iterator link (read it to run the iterator). */
export function iterCreate(linkFd: number): number {
  const fd = loadNative().bpf.bpf_iter_create(linkFd);
  if (fd < 0) throw new LibbpfError('SYSCALL_FAILED', 'bpf_iter_create failed', negErrno(fd));
  return fd;
}

export function closeFd(fd: number): void {
  loadNative().libc.close(fd);
}

export function possibleCpus(): number {
  const n = loadNative().bpf.libbpf_num_possible_cpus();
  if (n <= 0) throw new LibbpfError('SYSCALL_FAILED', 'cannot read the number of possible CPUs', -n);
  return n;
}

export function libbpfVersion(): string {
  const b = loadNative().bpf;
  return `${b.libbpf_major_version()}.${b.libbpf_minor_version()}`;
}
