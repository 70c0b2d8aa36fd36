#!/usr/bin/env node
// Stable bin entry (exists before the build, so pnpm links it on a fresh install); the CLI is compiled TypeScript.
import "../dist/cli.js";
