// Syscall name resolution over the shipped tables. Policies spell syscalls like Tetragon does: `sys_dup`,
// `dup`, `__x64_sys_dup` (x86_64) or `__ia32_sys_dup` / `__ia32_compat_sys_dup` (32-bit compat table).
import type { SyscallAbi } from '../abi/enums.js';
import { SYSCALLS_IA32, SYSCALLS_X86_64 } from './syscall-tables.generated.js';

export interface SyscallTables {
  x86_64: Readonly<Record<string, number>>;
  ia32: Readonly<Record<string, number>>;
}

/** The tables shipped with this package (generated from Linux UAPI headers). */
export const DEFAULT_SYSCALL_TABLES: SyscallTables = { x86_64: SYSCALLS_X86_64, ia32: SYSCALLS_IA32 };

export interface ResolvedSyscall {
  abi: SyscallAbi;
  name: string;
  nr: number;
}

const PREFIXES: readonly [string, SyscallAbi][] = [
  ['__ia32_compat_sys_', 'ia32'],
  ['__ia32_sys_', 'ia32'],
  ['__x64_sys_', 'x86_64'],
  ['__se_sys_', 'x86_64'],
  ['__do_sys_', 'x86_64'],
  ['sys_', 'x86_64'],
];

/** Splits a spelled syscall into table and bare name, without looking it up. */
export function splitSyscallName(spelled: string): { abi: SyscallAbi; name: string } {
  for (const [prefix, abi] of PREFIXES) if (spelled.startsWith(prefix)) return { abi, name: spelled.slice(prefix.length) };
  return { abi: 'x86_64', name: spelled };
}

export function resolveSyscall(spelled: string, tables: SyscallTables = DEFAULT_SYSCALL_TABLES): ResolvedSyscall | undefined {
  const { abi, name } = splitSyscallName(spelled);
  const nr = tables[abi][name];
  return nr === undefined || !Object.hasOwn(tables[abi], name) ? undefined : { abi, name, nr };
}
