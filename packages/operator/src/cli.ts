#!/usr/bin/env node
// `vigil`: the command-line entry point. A thin dispatcher: each top-level command lives in the package that owns
// it and is registered in COMMANDS below (add e.g. `dev-cluster` with one entry).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { runPolicyCommand, type CommandIo } from '@vigil/policy-schema';
import { runOperatorCommand } from './cli/operator-command.js';
import { runDevClusterCommand } from './dev/dev-cluster.js';

export interface CliCommand {
  summary: string;
  run(argv: readonly string[], io: CommandIo): number | Promise<number>;
}

export const COMMANDS: Readonly<Record<string, CliCommand>> = {
  policy: { summary: 'validate and compile TracingPolicy files', run: runPolicyCommand },
  operator: { summary: 'run the operator (policies → bundles over NATS → status)', run: runOperatorCommand },
  'dev-cluster': { summary: 'API server, NATS, operator and a sensor on this machine, to try Vigil without a cluster', run: runDevClusterCommand },
};

function help(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((k) => k.length));
  return [
    'Usage: vigil <command> [options]',
    '',
    'Commands:',
    ...Object.entries(COMMANDS).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Run `vigil <command> --help` for the options of a command.',
  ].join('\n');
}

export async function runCli(argv: readonly string[], io: CommandIo): Promise<number> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    io.out(help());
    return name === undefined ? 2 : 0;
  }
  const cmd = COMMANDS[name];
  if (!cmd) {
    io.err(`vigil: unknown command ${JSON.stringify(name)}\n\n${help()}`);
    return 2;
  }
  return cmd.run(rest, io);
}

// Run only when executed (directly or through the pnpm bin symlink), so tests and other commands can import this.
const entry = process.argv[1];
if (entry !== undefined && realpathSync(entry) === fileURLToPath(import.meta.url)) {
  const io: CommandIo = { out: (line) => process.stdout.write(`${line}\n`), err: (line) => process.stderr.write(`${line}\n`) };
  process.exitCode = await runCli(process.argv.slice(2), io);
}
