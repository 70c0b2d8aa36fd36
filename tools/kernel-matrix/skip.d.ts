// Types for skip.js, so TypeScript tests anywhere in the workspace can record capability skips.
export declare const SKIP_PREFIX: 'VIGIL-SKIP ';
export interface SkipRecord { test: string; missing: string; reason: string }
/** Records that `test` (jest's full name: expect.getState().currentTestName) was skipped because `missing` is. */
export declare function skipMissing(test: string | undefined, missing: string, reason: unknown): void;
export declare function parseSkips(text: string): SkipRecord[];
