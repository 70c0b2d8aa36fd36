// Paths shared by the kernel-matrix modules.
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const toolDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repoRoot = resolve(toolDir, '../..');
export const matrixCache = join(repoRoot, '.cache', 'kernel-matrix');
