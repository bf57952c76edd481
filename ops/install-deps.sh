#!/usr/bin/env bash
# Installs Signet's build and test dependencies from Debian 12 packages only.
# Idempotent: when every package is already present it does nothing (no apt-get update).
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git ca-certificates curl
  libssl-dev openssl
  libp11-dev libp11-kit-dev softhsm2 opensc p11-kit
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev
  libyaml-cpp-dev libcpp-httplib-dev libgfshare-dev
  python3-grpcio python3-protobuf python3-cryptography
  systemd python3-yaml   # tests/ops: systemd-analyze verify on ops/systemd, YAML of ops/k8s and ops/alerts
  clang libclang-rt-14-dev  # the fuzz build (tests/fuzz): clang 14 and its libFuzzer, ASan and UBSan runtimes
)
# Node.js for examples/node: Debian's nodejs and npm, but only when there is no node at all. Installing
# Debian's nodejs where another Node.js already is (NodeSource's package, nvm, a tarball) would replace
# or shadow it.
if ! command -v node >/dev/null 2>&1; then
  PACKAGES+=(nodejs npm)
elif ! command -v npm >/dev/null 2>&1; then
  echo "install-deps: $(command -v node) has no npm beside it; install the npm that comes with that Node.js" >&2
fi

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
