#!/usr/bin/env node
// `pnpm bench`: runs every compiled benchmark (packages/*/dist/bench/*.bench.js), each in its own process,
// one after another (this is a 2-core VM: never two at once). A benchmark prints result lines to stdout as JSON:
//   {"bench":"sensor.decode","metric":"events/s","value":2.4e6,"baseline":null,"ratio":null,"goal":">= 1000000","pass":true,"note":"..."}
// `ratio` is value/baseline where the benchmark took a same-run baseline. Anything else it prints passes through.
// Options: --filter SUBSTR (only matching files), --write (replace the results block in docs/benchmarks.md).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';

const args = process.argv.slice(2);
const filterIdx = args.indexOf('--filter');
const filter = filterIdx >= 0 ? args[filterIdx + 1] : undefined;
const write = args.includes('--write');

const files = [];
for (const pkg of readdirSync('packages')) {
  const dir = join('packages', pkg, 'dist', 'bench');
  if (!existsSync(dir)) continue;
  for (const f of readdirSync(dir).sort()) {
    if (f.endsWith('.bench.js') && (!filter || join(dir, f).includes(filter))) files.push(join(dir, f));
  }
}
if (files.length === 0) {
  console.error('bench: no compiled benchmarks found; run `pnpm build` first');
  process.exit(1);
}

const results = [];
let failedRuns = 0;
for (const file of files) {
  console.error(`\n=== ${file}`);
  const r = spawnSync(process.execPath, ['--expose-gc', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  for (const line of r.stdout.split('\n')) {
    const t = line.trim();
    if (t.startsWith('{') && t.includes('"bench"')) {
      try { results.push({ ...JSON.parse(t), file }); continue; } catch { /* fall through */ }
    }
    if (t) console.log(t);
  }
  if (r.status !== 0) { failedRuns++; console.error(`bench: ${file} exited with ${r.status ?? r.signal}`); }
}

const fmt = (v) => (v === null || v === undefined ? '' : typeof v === 'number' ? (Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(3)) : String(v));
const rows = results.map((r) => `| ${r.bench} | ${r.metric} | ${fmt(r.value)} | ${fmt(r.baseline)} | ${fmt(r.ratio)} | ${r.goal ?? ''} | ${r.pass === undefined ? '' : r.pass ? 'yes' : '**no**'} | ${r.note ?? ''} |`);
const table = ['| benchmark | metric | value | same-run baseline | ratio | goal | met | note |', '|---|---|---|---|---|---|---|---|', ...rows].join('\n');
console.log('\n' + table);

if (write) {
  const path = 'docs/benchmarks.md';
  const begin = '<!-- bench:begin -->';
  const end = '<!-- bench:end -->';
  const doc = existsSync(path) ? readFileSync(path, 'utf8') : `# Benchmarks\n\n${begin}\n${end}\n`;
  const stamp = `Produced by \`pnpm bench --write\` on ${new Date().toISOString().slice(0, 10)} (kernel ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}, ${process.version}).`;
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  const next = i >= 0 && j > i ? `${doc.slice(0, i + begin.length)}\n${stamp}\n\n${table}\n${doc.slice(j)}` : `${doc}\n${begin}\n${stamp}\n\n${table}\n${end}\n`;
  writeFileSync(path, next);
  console.error(`bench: wrote ${path}`);
}
process.exit(failedRuns > 0 ? 1 : 0);
