# Two entry points for a newcomer on a fresh Debian 12 machine (as root):
#   make run    set everything up, then run the sensor on examples/policies with compact output
#   make test   set everything up, then run the whole test suite
.PHONY: setup build run test test-kernels bench lint typecheck clean
SHELL := /bin/bash
export COREPACK_INTEGRITY_KEYS := 0

setup:
	@MAKE_TARGET=$(MAKECMDGOALS) ./scripts/setup.sh

build:
	pnpm run build

run: setup
	pnpm exec vigil-sensor run --policy-dir examples/policies --output compact

# Each stage has a time limit (timeout(1)), so a hung test fails CI with its output instead of eating the 90 min.
test: setup
	timeout --kill-after=30 600 pnpm lint
	timeout --kill-after=30 600 pnpm typecheck
	timeout --kill-after=30 1200 pnpm test
	timeout --kill-after=30 1200 ./scripts/test-node24.sh
	timeout --kill-after=60 2700 pnpm test:kernels --jobs 2

# The real-kernel suites on the host kernel and stock Debian kernels in qemu guests (docs/kernel-matrix.md).
test-kernels: setup
	pnpm test:kernels

bench: setup
	pnpm bench

clean:
	rm -rf packages/*/dist packages/*/tsconfig.tsbuildinfo bpf/.output
