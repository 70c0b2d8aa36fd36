/**
 * Files as the kernel identifies them: (inode number, dev_t in the kernel's internal encoding). Node's stat()
 * returns st_dev in the userspace encoding (glibc makedev: minor low byte, then 12 bits of major, then the rest
 * of minor, then the rest of major); the kernel's super_block.s_dev is MKDEV(major, minor) = major << 20 | minor.
 * Deny maps keyed by (ino, dev) must use the kernel form, or no rule ever matches.
 */
import { statSync } from 'node:fs';

export interface FileId {
  ino: bigint;
  /** kernel dev_t: major << 20 | minor */
  dev: number;
}

/** glibc's gnu_dev_major / gnu_dev_minor of a userspace dev_t. */
export function splitUserDev(dev: bigint): { major: number; minor: number } {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/** The kernel's dev_t (MKDEV) of a userspace st_dev as Node's stat() returns it. */
export function kernelDev(userDev: bigint | number): number {
  const { major, minor } = splitUserDev(BigInt(userDev));
  return ((major << 20) | (minor & 0xfffff)) >>> 0;
}

/** The kernel's (inode, dev_t) of `path`, following symlinks (what exec and open reach). */
export function fileIdOf(path: string): FileId {
  const st = statSync(path, { bigint: true });
  return { ino: st.ino, dev: kernelDev(st.dev) };
}
