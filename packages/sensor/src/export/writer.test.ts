import { afterEach, describe, expect, it } from '@jest/globals';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RotatingFileSink } from './writer.js';

let dir = '';
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('RotatingFileSink', () => {
  it('rotates by size, keeps N files and loses no line', () => {
    dir = mkdtempSync(join(tmpdir(), 'vigil-sink-'));
    const path = join(dir, 'events.log');
    const sink = new RotatingFileSink({ path, maxBytes: 1000, keep: 2 });
    const lines = Array.from({ length: 30 }, (_, i) => `line-${String(i).padStart(3, '0')}-${'x'.repeat(80)}`);
    for (const l of lines) {
      sink.write(l);
      sink.flush(); // one write per line, so rotation happens between lines
    }
    sink.close();
    expect(existsSync(`${path}.3`)).toBe(false);
    const kept = [`${path}.2`, `${path}.1`, path].flatMap((f) => readFileSync(f, 'utf8').trim().split('\n'));
    expect(kept).toEqual(lines.slice(lines.length - kept.length)); // newest lines, in order, none missing
    for (const f of [`${path}.2`, `${path}.1`, path]) expect(readFileSync(f).length).toBeLessThanOrEqual(1000);
  });
});
