#!/usr/bin/env bash
# Signet developer entry point.
#   ops/dev.sh run    build, then sign and verify a sample with a key that never leaves a SoftHSM token
#   ops/dev.sh test   install dependencies, configure, build (-Werror) and run the whole test suite
#   ops/dev.sh build  configure and build only
# Environment: BUILD_DIR (default build), JOBS (default nproc), SIGNET_SANITIZE (address,undefined | thread;
# builds into build-<sanitizer> unless BUILD_DIR is set).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
JOBS="${JOBS:-$(nproc)}"
SANITIZE="${SIGNET_SANITIZE:-}"
if [ -n "$SANITIZE" ]; then
  BUILD_DIR="${BUILD_DIR:-build-${SANITIZE//,/-}}"
else
  BUILD_DIR="${BUILD_DIR:-build}"
fi

step() { printf '\n==> %s\n' "$*"; }

configure_and_build() {
  step "configure ($BUILD_DIR${SANITIZE:+, sanitizers: $SANITIZE})"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNET_SANITIZE="$SANITIZE" >/dev/null
  step "build with -Werror (${JOBS} jobs)"
  cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
}

cmd_test() {
  step "install dependencies (Debian packages)"
  "$ROOT/ops/install-deps.sh"
  configure_and_build
  step "run the test suite"
  if [ -n "$SANITIZE" ]; then
    export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
    export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  fi
  local start=$SECONDS
  ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 300
  echo "test suite took $((SECONDS - start)) s"
}

cmd_run() {
  "$ROOT/ops/install-deps.sh"
  configure_and_build --target signet --target signetd
  local signet="$BUILD_DIR/keymgmt/signet"
  local signetd="$BUILD_DIR/daemon/signetd"
  local var="$ROOT/var/dev"

  step "create a throwaway SoftHSM token under var/dev/"
  rm -rf "$var"
  mkdir -p "$var/tokens"
  chmod 700 "$var"
  cat >"$var/softhsm2.conf" <<CONF
directories.tokendir = $var/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
  export SOFTHSM2_CONF="$var/softhsm2.conf"
  export SIGNET_PKCS11_MODULE="${SIGNET_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"
  # PINs live in 0600 files, never on a command line.
  (umask 077; openssl rand -hex 16 >"$var/so.pin"; openssl rand -hex 16 >"$var/user.pin")
  "$signet" token init --label signet-dev --so-pin-file "$var/so.pin" --pin-file "$var/user.pin"

  step "generate a P-384 key inside the token (CKA_SENSITIVE, not extractable)"
  "$signet" key generate --token signet-dev --pin-file "$var/user.pin" --label dev-p384 --curve P-384 \
    --public-key-out "$var/dev-p384.pub.pem"

  step "sign a sample with Content-Signature (the HSM signs SHA-384 of \"Content-Signature:\\0\" || data)"
  printf 'Hello from Signet: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$var/sample.txt"
  echo "sample: $(cat "$var/sample.txt")"
  local header
  header="$("$signet" local-sign --token signet-dev --pin-file "$var/user.pin" --key dev-p384 \
    --input "$var/sample.txt" --x5u "https://example.invalid/chains/dev.pem")"
  echo "Content-Signature: $header"

  step "verify it with the public key"
  "$signet" verify --input "$var/sample.txt" --signature "$header" --public-key "$var/dev-p384.pub.pem"

  step "tamper with the sample: verification must fail"
  printf 'tampered' >>"$var/sample.txt"
  if "$signet" verify --input "$var/sample.txt" --signature "$header" --public-key "$var/dev-p384.pub.pem"; then
    echo "ERROR: a tampered sample verified" >&2
    exit 1
  fi
  echo "tampered sample rejected, as it must be"
  printf 'Hello from Signet: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$var/sample.txt"

  step "create a development mTLS PKI (CA, server, a granted client and one with no grants)"
  "$signet" dev-pki --dir "$var/pki" --clients "demo=spiffe://signet.dev/demo,nogrants=spiffe://signet.dev/nogrants"

  step "start signetd (gRPC over mTLS, HTTPS side port) on free loopback ports"
  cat >"$var/signetd.yaml" <<CONF
server:
  listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:0"
  ready_file: $var/ready.json
  tls:
    cert_file: $var/pki/server.pem
    key_file: $var/pki/server.key
    client_ca_file: $var/pki/ca.pem
hsm:
  module: $SIGNET_PKCS11_MODULE
  token: signet-dev
  pin_file: $var/user.pin
signers:
  - id: dev-p384
    type: contentsignature
    key_label: dev-p384
    x5u: "https://example.invalid/chains/dev.pem"
authorization:
  - identity: "spiffe://signet.dev/demo"
    signers: [dev-p384]
logging:
  level: info
  format: mozlog
CONF
  "$signetd" --config "$var/signetd.yaml" --check-config
  "$signetd" --config "$var/signetd.yaml" 2>"$var/signetd.log" &
  local pid=$!
  trap "kill $pid 2>/dev/null || true" EXIT
  local i
  for i in $(seq 1 100); do
    [ -s "$var/ready.json" ] && break
    kill -0 "$pid" 2>/dev/null || { echo "signetd exited:" >&2; cat "$var/signetd.log" >&2; exit 1; }
    sleep 0.1
  done
  [ -s "$var/ready.json" ] || { echo "signetd did not become ready" >&2; cat "$var/signetd.log" >&2; exit 1; }
  local grpc_port http_port
  grpc_port="$(sed -n 's/.*"grpc_port": \([0-9]*\).*/\1/p' "$var/ready.json")"
  http_port="$(sed -n 's/.*"http_port": \([0-9]*\).*/\1/p' "$var/ready.json")"
  echo "signetd pid $pid: gRPC localhost:$grpc_port, HTTPS https://localhost:$http_port (log: var/dev/signetd.log)"

  step "sign through signetd as the granted client"
  export SIGNET_SERVER="localhost:$grpc_port" SIGNET_CA_FILE="$var/pki/ca.pem"
  header="$("$signet" sign --cert-file "$var/pki/client-demo.pem" --key-file "$var/pki/client-demo.key" \
    --signer dev-p384 --input "$var/sample.txt" --request-id quickstart-1)"
  echo "Content-Signature: $header"
  "$signet" verify --input "$var/sample.txt" --signature "$header" --public-key "$var/dev-p384.pub.pem"

  step "the audit line signetd wrote for it"
  grep '"signet.audit"' "$var/signetd.log" | grep quickstart-1

  step "a client of the same CA without a grant is refused"
  if "$signet" sign --cert-file "$var/pki/client-nogrants.pem" --key-file "$var/pki/client-nogrants.key" \
    --signer dev-p384 --input "$var/sample.txt"; then
    echo "ERROR: an ungranted client was allowed to sign" >&2
    exit 1
  fi

  step "health: https://localhost:$http_port/__heartbeat__"
  curl -sS --cacert "$var/pki/ca.pem" "https://localhost:$http_port/__heartbeat__" && echo

  step "stop signetd (SIGTERM drains in-flight calls)"
  kill -TERM "$pid"
  wait "$pid"
  trap - EXIT
  grep -o '"msg":"signetd: stopped cleanly"' "$var/signetd.log"
  step "done: token, PINs, PKI, config and logs are in var/dev/ (SOFTHSM2_CONF=$SOFTHSM2_CONF)"
}

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  build) shift; "$ROOT/ops/install-deps.sh"; configure_and_build "$@" ;;
  *)
    echo "usage: ops/dev.sh run|test|build" >&2
    exit 2
    ;;
esac
