/** Result lines for tools/bench/run.js: one JSON object per measured number. */
export interface BenchResult {
  bench: string;
  metric: string;
  value: number;
  baseline?: number | null;
  ratio?: number | null;
  goal?: string;
  pass?: boolean;
  note?: string;
}

export function report(r: BenchResult): void {
  process.stdout.write(`${JSON.stringify({ baseline: null, ratio: null, ...r })}\n`);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

export const OBJECTS_DIR = new URL('../../../../bpf/.output/', import.meta.url).pathname;
