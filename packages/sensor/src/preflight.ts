/** Checks run before anything is loaded, each failing with one line that names the fix. */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { SensorError } from './errors.js';
import { isBpffs } from './fs-magic.js';


export interface PreflightOptions {
  objectsDir: string;
  objects: readonly string[];
  bpffs: string;
  btfPath?: string;
  uid?: number;
}

export function preflight(o: PreflightOptions): void {
  const uid = o.uid ?? process.getuid?.() ?? 0;
  if (uid !== 0) {
    throw new SensorError('NOT_ROOT', 'must run as root (loading BPF programs needs CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN); try: sudo vigil-sensor …');
  }
  const btf = o.btfPath ?? '/sys/kernel/btf/vmlinux';
  if (!existsSync(btf)) {
    throw new SensorError('NO_BTF', `this kernel exposes no BTF (${btf} is missing); Vigil's CO-RE programs need a kernel built with CONFIG_DEBUG_INFO_BTF=y`);
  }
  if (!isBpffs(o.bpffs)) {
    throw new SensorError('NO_BPFFS', `bpffs is not mounted at ${o.bpffs}; mount it with: mount -t bpf bpf ${o.bpffs}`);
  }
  for (const name of o.objects) {
    const path = join(o.objectsDir, name);
    if (!existsSync(path)) {
      throw new SensorError('OBJECT_MISSING', `BPF object ${path} is missing; build it with: make -C bpf (or make build)`);
    }
  }
}
