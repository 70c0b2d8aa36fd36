// Entry of the vigil-oci-hook binary (see hook.ts).
import { readFileSync } from 'node:fs';
import { runHook } from './hook.js';

const code = await runHook(process.argv.slice(2), readFileSync(0, 'utf8'), (l) => process.stderr.write(l + '\n'));
process.exit(code);
