// Types for evaluate.js (the kernel matrix's verdict).
import type { SkipRecord } from '../skip.js';

export interface CapabilityResult { available: boolean; reason: string }
export interface JestAssertion { fullName: string; status: string }
export interface JestFileResult { name: string; status: string; message: string; assertionResults: JestAssertion[] }
export interface SuiteOutcome {
  ran: boolean;
  status: number | null;
  signal?: string | null;
  timedOut: boolean;
  hungAfterResults?: boolean;
  expectJest?: boolean;
  jest: { testResults: JestFileResult[] } | null;
  skips: SkipRecord[];
}
export interface Leg {
  kernel: string;
  release: string | null;
  status: number;
  timedOut: boolean;
  expect?: Record<string, boolean>;
  caps: Record<string, CapabilityResult> | null;
  probeProblems?: string[];
  suites: Record<string, SuiteOutcome>;
}
export interface Cell { status: 'pass' | 'skip' | 'fail' | 'pending'; missing?: string; reason?: string }
export interface Verdict {
  capabilities: string[];
  kernels: { name: string; release: string | null }[];
  tests: Map<string, Map<string, Cell>>;
  problems: string[];
  counts: Map<string, { pass: number; skip: number; fail: number; pending: number }>;
  capsOf: Map<string, Record<string, CapabilityResult>>;
}
export declare const testId: (suite: string, fullName: string) => string;
export declare function evaluate(legs: Leg[]): Verdict;
export declare function formatReport(result: Verdict): string;
export declare function normaliseProbe(out: unknown): { kernel: string | null; caps: Record<string, CapabilityResult> } | null;
export declare function mergeProbes(byName: Record<string, unknown>, equivalent?: string[][]):
  { kernel: string | null; caps: Record<string, CapabilityResult> | null; problems: string[] };
