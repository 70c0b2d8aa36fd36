// jest config for kernel-matrix legs: the root config plus the matrix's own tests under tools/kernel-matrix
// (the real-kernel capability tests in guest-tests/ and the matrix rules' unit test in lib/). The plain host
// `pnpm test` does not pick them up; `pnpm test:kernels` runs them (docs/kernel-matrix.md).
import base from '../../jest.config.js';

/** @type {import('jest').Config} */
export default {
  ...base,
  rootDir: '../..',
  testMatch: [...base.testMatch, '<rootDir>/tools/kernel-matrix/**/*.test.ts'],
};
