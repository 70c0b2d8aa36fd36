#!/usr/bin/env node
// Stable bin entry (exists before the build, so pnpm links it on a fresh install); the CLI is compiled TypeScript.
import { runCli } from '../dist/cli.js';

process.exitCode = await runCli(process.argv.slice(2), {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
});
