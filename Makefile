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

test: setup
	pnpm lint
	pnpm typecheck
	pnpm test
	./scripts/test-node24.sh
	pnpm test:kernels --jobs 2

# The real-kernel suites on the host kernel and stock Debian kernels in qemu guests (docs/kernel-matrix.md).
test-kernels: setup
	pnpm test:kernels

bench: setup
	pnpm bench

clean:
	rm -rf packages/*/dist packages/*/tsconfig.tsbuildinfo bpf/.output
