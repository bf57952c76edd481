#!/usr/bin/env bash
# Signet developer entry point.
#   ops/dev.sh run    the quickstart: tokens, ceremonies, signetd with a rotating signer, sign and verify
#                     (all under var/quickstart/; --once stops after the demo, --fresh starts over)
#   ops/dev.sh test   install dependencies (Debian packages, examples/node's locked npm packages),
#                     configure, build (-Werror) and run the whole test suite, then the suite again
#                     under ASan+UBSan and the concurrency tests under TSan (--quick: plain suite only)
#                     and the fuzz step: build the libFuzzer targets (build-fuzz/, clang), replay their
#                     committed inputs and fuzz each one for SIGNET_FUZZ_SECONDS (default 20; 0 only replays)
#   ops/dev.sh fuzz [SECONDS] [TARGET...]   the fuzz step alone, longer: SECONDS per target (default 300)
#   ops/dev.sh bench  signetd against the HSM's ceiling and p11-kit server, one table (--quick: < 1 min)
#   ops/dev.sh soak   [--minutes N] [--rate R] [--rotation internal|external]: N minutes (default 10) of
#                     open-loop load at 80% of the measured peak (the lowest of 3 closed-loop readings)
#                     while a signer rotates; errors must be 0, signetd's RSS growth < 5%, rotations
#                     must happen (ops/soak.sh; all under var/soak/)
#   ops/dev.sh build  configure and build only
# Environment: BUILD_DIR (default build), JOBS (default nproc), SIGNET_SANITIZE (address,undefined | thread;
# builds into build-<sanitizer> unless BUILD_DIR is set), FUZZ_BUILD_DIR (default build-fuzz),
# SIGNET_FUZZ_SECONDS (test's fuzzing time per target, default 20).
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

FUZZ_BUILD_DIR="${FUZZ_BUILD_DIR:-build-fuzz}"

# shellcheck source=ops/lib/signetd.sh
source "$ROOT/ops/lib/signetd.sh"  # signet_start_signetd: start signetd, wait for its ready file

step() { printf '\n==> %s\n' "$*"; }

configure_and_build() {
  step "configure ($BUILD_DIR${SANITIZE:+, sanitizers: $SANITIZE})"
  cmake -S "$ROOT" -B "$BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNET_SANITIZE="$SANITIZE" >/dev/null
  step "build with -Werror (${JOBS} jobs)"
  cmake --build "$BUILD_DIR" -j "$JOBS" "$@"
}

# examples/node/node_modules from package-lock.json (npm ci). Skipped when it was already installed from
# this very lock: npm ci always starts over, so a stamp in node_modules records the lock it came from.
# --ignore-scripts: none of the locked packages needs an install script to work.
install_node_examples() {
  local dir="$ROOT/examples/node" want
  local stamp="$dir/node_modules/.signet-package-lock.sha256"
  want="$(sha256sum "$dir/package-lock.json" | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    echo "examples/node/node_modules: installed from this package-lock.json"
    return
  fi
  step "install the Node.js example's locked packages (npm ci --prefix examples/node)"
  npm ci --prefix "$dir" --no-audit --no-fund --ignore-scripts
  echo "$want" >"$stamp"
}

# Tests run under ThreadSanitizer: Signet's own concurrency without an in-process gRPC server — the
# batcher with its watchdog, down state and signature checks over the fault module, the session pool
# (eight threads, dead sessions, lost logins), and rotation with its HTTPS read-back. Debian's gRPC is
# not instrumented, and its callback API hands calls between threads inside the library, so in-process
# gRPC tests report races TSan cannot see the synchronization of (docs/TESTING.md).
TSAN_TARGETS=(batcher_test pkcs11_integration_test rotation_test signet_fault_pkcs11 signet_log_scan)
TSAN_TESTS='^(BatcherTest|BatcherFaultTest|Pkcs11Test|RotationTest|FailedPublicationTest)\.'

sanitizer_env() {
  export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
  export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
  export TSAN_OPTIONS="suppressions=$ROOT/tests/tsan.supp:halt_on_error=1:second_deadlock_stack=1${TSAN_OPTIONS:+:$TSAN_OPTIONS}"
}

# run_sanitized SANITIZER DIR CTEST_REGEX [TARGET...]: build (only TARGETs if given) and run the tests.
run_sanitized() {
  local san="$1" dir="$2" regex="$3" start=$SECONDS
  shift 3
  step "sanitizers: $san ($dir)"
  cmake -S "$ROOT" -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNET_SANITIZE="$san" >/dev/null
  local targets=()
  for t in "$@"; do targets+=(--target "$t"); done
  cmake --build "$dir" -j "$JOBS" "${targets[@]}"
  (
    sanitizer_env
    if [ -n "$regex" ]; then
      ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 600 -R "$regex"
    else
      ctest --test-dir "$dir" --output-on-failure -j "$JOBS" --timeout 600
    fi
  )
  echo "$san: build and tests took $((SECONDS - start)) s"
}

#   --quick  the plain build and suite only (no sanitizer or fuzz passes); CI runs the whole thing.
cmd_test() {
  local quick=0 arg
  for arg in "$@"; do
    case "$arg" in
      --quick) quick=1 ;;
      *) echo "usage: ops/dev.sh test [--quick]" >&2; exit 2 ;;
    esac
  done
  local total=$SECONDS
  step "install dependencies (Debian packages)"
  "$ROOT/ops/install-deps.sh"
  install_node_examples
  configure_and_build
  step "run the test suite"
  local start=$SECONDS
  if [ -n "$SANITIZE" ]; then
    (sanitizer_env; ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 600)
  else
    ctest --test-dir "$BUILD_DIR" --output-on-failure -j "$JOBS" --timeout 300
  fi
  echo "test suite took $((SECONDS - start)) s"
  if [ "$quick" -eq 1 ] || [ -n "$SANITIZE" ]; then return; fi
  # The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer (child processes too),
  # then the concurrency tests under ThreadSanitizer.
  run_sanitized address,undefined "$ROOT/build-asan" ""
  run_sanitized thread "$ROOT/build-tsan" "$TSAN_TESTS" "${TSAN_TARGETS[@]}"
  run_fuzz_step "${SIGNET_FUZZ_SECONDS:-20}"
  echo "ops/dev.sh test: everything passed in $((SECONDS - total)) s"
}

# The libFuzzer targets (tests/fuzz/): their own build directory, clang with ASan and UBSan, and only
# the libraries they need; then tests/fuzz/run_fuzzers.sh replays the committed regression inputs and
# seeds, and fuzzes each target for $1 seconds (0: replay only). Further arguments name targets.
run_fuzz_step() {
  local seconds="$1" start=$SECONDS
  shift
  step "configure $FUZZ_BUILD_DIR (clang, libFuzzer, ASan, UBSan)"
  cmake -S "$ROOT" -B "$FUZZ_BUILD_DIR" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSIGNET_FUZZ=ON -DSIGNET_SANITIZE= \
    -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ >/dev/null
  step "build the fuzz targets with -Werror (${JOBS} jobs)"
  cmake --build "$FUZZ_BUILD_DIR" -j "$JOBS" --target fuzz_all
  echo "fuzz build took $((SECONDS - start)) s"
  step "fuzz: replay tests/fuzz/regressions/ and the seed corpora, then ${seconds} s per target"
  "$ROOT/tests/fuzz/run_fuzzers.sh" "$FUZZ_BUILD_DIR" "$seconds" "$@"
}

cmd_fuzz() {
  local seconds="${1:-300}"
  if [ $# -gt 0 ]; then shift; fi
  case "$seconds" in
    '' | *[!0-9]*) echo "usage: ops/dev.sh fuzz [SECONDS] [TARGET...]" >&2; exit 2 ;;
  esac
  "$ROOT/ops/install-deps.sh"
  run_fuzz_step "$seconds" "$@"
}

# The quickstart. Everything lives under var/quickstart/; a second run reuses it (--fresh starts over).
#   --once   stop signetd after the demo instead of serving in the foreground (used by tests)
#   --fresh  remove var/quickstart/ first
cmd_run() {
  local once=0 fresh=0 arg
  for arg in "$@"; do
    case "$arg" in
      --once) once=1 ;;
      --fresh) fresh=1 ;;
      *) echo "usage: ops/dev.sh run [--once] [--fresh]" >&2; exit 2 ;;
    esac
  done
  "$ROOT/ops/install-deps.sh"
  configure_and_build --target signet --target signetd
  local signet="$BUILD_DIR/keymgmt/signet" signetd="$BUILD_DIR/daemon/signetd"
  case "$BUILD_DIR" in /*) ;; *) signet="$ROOT/$signet"; signetd="$ROOT/$signetd" ;; esac
  local q="$ROOT/var/quickstart"
  [ "$fresh" -eq 1 ] && rm -rf "$q"
  export SOFTHSM2_CONF="$q/softhsm2.conf"
  export SIGNET_PKCS11_MODULE="${SIGNET_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

  if [ -s "$q/signetd.yaml" ]; then
    step "reusing var/quickstart/ (tokens, ceremonies, PKI, config); ops/dev.sh run --fresh starts over"
  else
    quickstart_setup "$q" "$signet"
  fi
  "$signetd" --config "$q/signetd.yaml" --check-config

  step "start signetd: gRPC over mTLS, HTTPS side port serving /x5u/, internal rotation"
  # The config keeps the ports it was given (README); only a side port taken since is replaced.
  trap 'kill ${SIGNETD_PID:-} 2>/dev/null || true' EXIT
  signet_start_signetd --keep-config --append-log "$signetd" quickstart_set_http_port \
    "$q/signetd.yaml" "$q/ready.json" "$q/signetd.log" ||
    { echo "signetd did not start; see var/quickstart/signetd.log" >&2; exit 1; }
  local pid="$SIGNETD_PID" i
  local grpc_port="$SIGNETD_GRPC_PORT" http_port="$SIGNETD_HTTP_PORT"
  export SIGNET_SERVER="localhost:$grpc_port" SIGNET_CA_FILE="$q/tls/ca.pem" \
    SIGNET_CERT_FILE="$q/tls/client-demo.pem" SIGNET_KEY_FILE="$q/tls/client-demo.key"
  local pin
  pin="$(cat "$q/root.sha256")"

  step "sign a sample through gRPC with the rotating signer (its first key was issued, published and verified at start)"
  printf '{"hello":"from Signet","at":"%s"}\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$q/sample.json"
  local header=""
  for i in $(seq 1 100); do
    header="$("$signet" sign --signer remote-settings --input "$q/sample.json" --request-id "quickstart-$i" 2>/dev/null)" && break
    sleep 0.1
  done
  [ -n "$header" ] || { echo "remote-settings has no key; see var/quickstart/signetd.log" >&2; exit 1; }
  echo "Content-Signature: $header"
  local x5u
  x5u="$(printf '%s' "$header" | sed -n 's/^x5u=\([^;]*\);.*/\1/p')"

  step "fetch the chain from its x5u URL and verify it like Firefox, against the pinned root SHA-256"
  echo "x5u: $x5u"
  curl -sS --cacert "$q/tls/ca.pem" "$x5u" | openssl crl2pkcs7 -nocrl -certfile /dev/stdin \
    | openssl pkcs7 -print_certs -noout | sed -n 's/^subject=/  /p'
  "$signet" verify --input "$q/sample.json" --signature "$header" --x5u "$x5u" --ca-file "$q/tls/ca.pem" \
    --root-sha256 "$pin" --name remote-settings.content-signature.signet.localhost

  step "sign with the plain contentsignature signer and verify with its public key"
  local plain
  plain="$("$signet" sign --signer normandy --input "$q/sample.json")"
  echo "Content-Signature: $plain"
  "$signet" verify --input "$q/sample.json" --signature "$plain" --public-key "$q/ceremony/keys/normandy-p384.pub.pem"

  step "a client of the same CA without a grant is refused (and logged at WARN)"
  if "$signet" sign --cert-file "$q/tls/client-nogrants.pem" --key-file "$q/tls/client-nogrants.key" \
    --signer remote-settings --input "$q/sample.json"; then
    echo "ERROR: an ungranted client was allowed to sign" >&2
    exit 1
  fi

  step "health: https://localhost:$http_port/__heartbeat__"
  curl -sS --cacert "$q/tls/ca.pem" "https://localhost:$http_port/__heartbeat__" && echo

  cat <<EOF

==> signetd is serving (pid $pid)
  gRPC (mTLS):     localhost:$grpc_port   signers: remote-settings (rotating, x5u), normandy (fixed key)
  HTTPS side port: https://localhost:$http_port/   /x5u/  /__heartbeat__  /__version__  /metrics
  client cert:     $q/tls/client-demo.pem  (key: client-demo.key, CA: ca.pem)
  root SHA-256:    $pin
  config, log:     var/quickstart/signetd.yaml, var/quickstart/signetd.log

Sign a file (copy-paste):
  SIGNET_SERVER=localhost:$grpc_port SIGNET_CA_FILE=$q/tls/ca.pem \\
  SIGNET_CERT_FILE=$q/tls/client-demo.pem SIGNET_KEY_FILE=$q/tls/client-demo.key \\
    $signet sign --signer remote-settings --input README.md
EOF
  if [ "$once" -eq 1 ]; then
    kill -TERM "$pid"
    wait "$pid" || true
  else
    echo
    echo "Press Ctrl-C to stop."
    trap 'kill -TERM '"$pid"' 2>/dev/null || true' INT TERM
    wait "$pid" || true
    wait "$pid" 2>/dev/null || true  # the first wait returns when a signal arrives
  fi
  trap - EXIT INT TERM
  if grep -q 'signetd: stopped cleanly' "$q/signetd.log"; then
    echo "signetd: stopped cleanly (everything stays in var/quickstart/; ops/dev.sh run serves it again)"
  fi
}

# signet_start_signetd's retry when var/quickstart/signetd.yaml's side port was taken: the new port $1
# in server.http_listen and the x5u URLs; the rest of the file (edits included) stays as it is.
quickstart_set_http_port() {
  local f="$ROOT/var/quickstart/signetd.yaml" old
  old="$(sed -n 's/^  http_listen: "127\.0\.0\.1:\([0-9]*\)"$/\1/p' "$f")"
  [ -n "$old" ] || { echo "$f: no 'http_listen: \"127.0.0.1:PORT\"' line to change" >&2; return 1; }
  sed -i -e "s|^  http_listen: \"127\.0\.0\.1:$old\"\$|  http_listen: \"127.0.0.1:$1\"|" \
    -e "s|https://localhost:$old/|https://localhost:$1/|g" "$f"
}

# Tokens, PIN shares, ceremonies, the dev mTLS PKI and signetd.yaml under $1, with the signet binary $2.
quickstart_setup() {
  local q="$1" signet="$2"
  rm -rf "$q"
  mkdir -p "$q/tokens" "$q/secrets" "$q/ceremony" "$q/x5u"
  chmod 700 "$q" "$q/secrets"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n' \
    "$q" >"$SOFTHSM2_CONF"

  step "two SoftHSM tokens: signet-offline (the root) and signet-online (intermediate and signing keys)"
  # Demo PINs in 0600 files. In production the HSM vendor's procedure sets them, and the offline
  # token's PIN exists only as officers' shares.
  (umask 077; for f in so-offline offline so-online online; do openssl rand -hex 16 >"$q/secrets/$f.pin"; done)
  "$signet" token init --label signet-offline --so-pin-file "$q/secrets/so-offline.pin" --pin-file "$q/secrets/offline.pin"
  "$signet" token init --label signet-online --so-pin-file "$q/secrets/so-online.pin" --pin-file "$q/secrets/online.pin"

  step "two-person rule: each token PIN split into 3 officer shares, any 2 of which recover it"
  mkdir -p "$q/secrets/shares-offline" "$q/secrets/shares-online"
  "$signet" ceremony split-pin --shares 3 --threshold 2 --pin-file "$q/secrets/offline.pin" \
    --out-dir "$q/secrets/shares-offline"
  "$signet" ceremony split-pin --shares 3 --threshold 2 --pin-file "$q/secrets/online.pin" \
    --out-dir "$q/secrets/shares-online"
  rm -f "$q/secrets/offline.pin"  # from here on only the officers' shares unlock the offline token
  echo "(demo: the shares are piped in below; in a real ceremony each officer types theirs, unechoed)"

  cat >"$q/ceremony/root.yaml" <<EOF
ceremony: root
name: quickstart-root
output_dir: root
token: {token: signet-offline}
key: {label: quickstart-root, curve: P-384}
certificate:
  subject: {common_name: Signet Quickstart Root, organization: Signet Quickstart, country: US}
  validity: 87600h
EOF
  cat >"$q/ceremony/intermediate.yaml" <<EOF
ceremony: intermediate
name: quickstart-intermediate
output_dir: intermediate
root:
  token: {token: signet-offline}
  key_label: quickstart-root
  certificate: root/quickstart-root.crt.pem
token: {token: signet-online}
key: {label: quickstart-intermediate, curve: P-384}
certificate:
  subject: {common_name: Signet Quickstart Intermediate, organization: Signet Quickstart, country: US}
  permitted_dns_subtree: .content-signature.signet.localhost
  validity: 17520h
EOF
  cat >"$q/ceremony/normandy-key.yaml" <<EOF
ceremony: key
name: quickstart-normandy-key
output_dir: keys
token: {token: signet-online}
key: {label: normandy-p384, curve: P-384}
EOF
  local offline_shares online_shares
  offline_shares="$(cat "$q/secrets/shares-offline/share-1.txt" "$q/secrets/shares-offline/share-3.txt")"
  online_shares="$(cat "$q/secrets/shares-online/share-1.txt" "$q/secrets/shares-online/share-2.txt")"
  step "root ceremony on the offline token (ops/ceremony/README.md explains each step)"
  printf '%s\n' "$offline_shares" | "$signet" ceremony run "$q/ceremony/root.yaml" 2>/dev/null | tee "$q/ceremony/root.out"
  sed -n 's/^root_sha256 (the pin verifiers and signetd use): //p' "$q/ceremony/root.out" >"$q/root.sha256"
  [ -s "$q/root.sha256" ] || { echo "the root ceremony failed" >&2; exit 1; }
  step "intermediate ceremony: the root issues the online intermediate (permitted: .content-signature.signet.localhost)"
  printf '%s\n%s\n' "$offline_shares" "$online_shares" | "$signet" ceremony run "$q/ceremony/intermediate.yaml" 2>/dev/null
  step "key ceremony: a plain P-384 signing key for a contentsignature signer"
  printf '%s\n' "$online_shares" | "$signet" ceremony run "$q/ceremony/normandy-key.yaml" 2>/dev/null

  step "development mTLS PKI: server, a granted client (demo) and one with no grants (nogrants)"
  "$signet" dev-pki --dir "$q/tls" --clients "demo=spiffe://signet.localhost/demo,nogrants=spiffe://signet.localhost/nogrants"

  # Fixed ports for this var/quickstart/ (the x5u URLs carry the side port): two free ones, chosen now.
  # cmd_run replaces the side port only if another process has taken it by the time signetd starts.
  local grpc_port http_port
  read -r grpc_port http_port < <(python3 -c '
import socket
ss = [socket.socket() for _ in range(2)]
for s in ss: s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in ss])')
  cat >"$q/signetd.yaml" <<EOF
# signetd for the quickstart; every key is described in ops/config/signetd.example.yaml.
server:
  listen: "127.0.0.1:$grpc_port"
  http_listen: "127.0.0.1:$http_port"
  ready_file: $q/ready.json
  x5u_dir: $q/x5u
  tls: {cert_file: $q/tls/server.pem, key_file: $q/tls/server.key, client_ca_file: $q/tls/ca.pem}
hsm: {module: $SIGNET_PKCS11_MODULE, token: signet-online, pin_file: $q/secrets/online.pin}
signers:
  - id: remote-settings
    type: contentsignaturepki
    ee_name: remote-settings.content-signature.signet.localhost
    intermediate_key_label: quickstart-intermediate
    intermediate_cert_file: $q/ceremony/intermediate/quickstart-intermediate.crt.pem
    root_cert_file: $q/ceremony/root/quickstart-root.crt.pem
    root_sha256: "$(cat "$q/root.sha256")"
    x5u_base_url: "https://localhost:$http_port/x5u/"
    publication_dir: $q/x5u
    x5u_ca_file: $q/tls/ca.pem
  - id: normandy
    type: contentsignature
    key_label: normandy-p384
authorization:
  - identity: "spiffe://signet.localhost/demo"
    signers: [remote-settings, normandy]
rotation: {mode: internal, check_interval: 1m, reload_interval: 5s}
EOF
}

# The benchmark: one token with P-256 and P-384 keys, `p11-kit server` in front of it (the peer), and
# signetd; then the ceiling, the peer and signetd (closed and open loop) in one run, repetitions
# interleaved, medians in one table. All under var/bench/.
#   --quick  one short repetition (under a minute); the default is five of 3 s each
cmd_bench() {
  local reps=5 duration=3s warmup=500ms arg
  for arg in "$@"; do
    case "$arg" in
      --quick) reps=1 duration=1s warmup=300ms ;;
      *) echo "usage: ops/dev.sh bench [--quick]" >&2; exit 2 ;;
    esac
  done
  "$ROOT/ops/install-deps.sh"
  configure_and_build --target signet --target signetd --target signet-bench
  local bin="$BUILD_DIR"
  case "$bin" in /*) ;; *) bin="$ROOT/$bin" ;; esac
  local signet="$bin/keymgmt/signet" signetd="$bin/daemon/signetd" bench="$bin/bench/signet-bench"
  local b="$ROOT/var/bench"
  rm -rf "$b"
  mkdir -p "$b/tokens" "$b/run"
  chmod 700 "$b" "$b/run"
  export SOFTHSM2_CONF="$b/softhsm2.conf" XDG_RUNTIME_DIR="$b/run"
  printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$b" >"$SOFTHSM2_CONF"
  (umask 077; openssl rand -hex 16 >"$b/so.pin"; openssl rand -hex 16 >"$b/user.pin")
  local softhsm=/usr/lib/softhsm/libsofthsm2.so
  local client=/usr/lib/x86_64-linux-gnu/pkcs11/p11-kit-client.so

  step "token 'bench' with a P-256 and a P-384 key; dev mTLS PKI"
  "$signet" token init --label bench --so-pin-file "$b/so.pin" --pin-file "$b/user.pin" >/dev/null
  "$signet" key generate --token bench --pin-file "$b/user.pin" --label p256 --curve P-256 >/dev/null
  "$signet" key generate --token bench --pin-file "$b/user.pin" --label p384 --curve P-384 >/dev/null
  "$signet" dev-pki --dir "$b/tls" --clients "bench=spiffe://signet.bench/client" >/dev/null 2>&1

  step "start p11-kit server (the peer: PKCS#11 forwarded over a Unix socket) and signetd"
  eval "$(p11-kit server --provider "$softhsm" -s 'pkcs11:token=bench' 2>/dev/null)"
  local p11_pid="$P11_KIT_SERVER_PID"
  cat >"$b/signetd.yaml" <<EOF
server:
  listen: "127.0.0.1:0"
  http_listen: ""
  ready_file: $b/ready.json
  tls: {cert_file: $b/tls/server.pem, key_file: $b/tls/server.key, client_ca_file: $b/tls/ca.pem}
hsm: {module: $softhsm, token: bench, pin_file: $b/user.pin}
signers:
  # Four workers (two per core); each signer may use two of them, one per core: more would only take
  # turns on the cores, which also run the gRPC threads and the load generator (docs/PERFORMANCE.md).
  - {id: p256, type: contentsignature, key_label: p256, hsm_concurrency: 2}
  - {id: p384, type: contentsignature, key_label: p384, hsm_concurrency: 2}
authorization:
  - identity: "spiffe://signet.bench/client"
    signers: [p256, p384]
logging: {level: info}
EOF
  trap 'kill ${SIGNETD_PID:-} '"$p11_pid"' 2>/dev/null || true' EXIT
  # gRPC on port 0 and no side port: no port chosen in advance, so nothing to retry.
  signet_start_signetd "$signetd" "" "$b/signetd.yaml" "$b/ready.json" "$b/signetd.log" ||
    { echo "signetd did not start; see var/bench/signetd.log" >&2; exit 1; }
  local pid="$SIGNETD_PID" port="$SIGNETD_GRPC_PORT"
  local daemon_args=(--server "localhost:$port" --ca-file "$b/tls/ca.pem" --cert-file "$b/tls/client-bench.pem"
                     --key-file "$b/tls/client-bench.key" --channels 1 --duration "$duration" --warmup "$warmup")
  local module_args=(--token bench --pin-file "$b/user.pin" --duration "$duration")
  local out="$b/results.jsonl"
  : >"$out"

  step "measure: $reps repetition(s), modes interleaved (ceiling, peer, signetd k=1/16/64 per curve)"
  # Each line gets its repetition number: the table pairs every signetd run with the ceiling and the peer
  # of its own repetition, so the machine's drift between repetitions cancels out of the ratios. Each
  # repetition measures the ceiling and the peer before and after signetd's runs, and the table takes
  # the mean of the two, so drift within one cancels too (single 3-s runs moved by up to 35% here).
  local rep curve key k
  tag() { sed "s/^{/{\"rep\":$rep,/" | tee -a "$out"; }
  baselines() {
    # The ceiling and the peer at their best: each at the thread count that serves it best.
    for t in 1 2; do "$bench" ceiling --module "$softhsm" --key "$key" --threads "$t" "${module_args[@]}" | tag; done
    for t in 2 4; do "$bench" peer --module "$client" --key "$key" --threads "$t" "${module_args[@]}" | tag; done
  }
  for rep in $(seq 1 "$reps"); do
    for curve in P-256 P-384; do
      key="p${curve#P-}"
      baselines
      for k in 1 16 64; do
        "$bench" daemon "${daemon_args[@]}" --signer "$key" --items "$k" --concurrency $(( k == 1 ? 128 : (k == 16 ? 8 : 4) )) \
          | tag
      done
      baselines
    done
  done

  step "open loop at 50% of the median k=1 peak, per curve, $reps repetition(s)"
  local rate256 rate384
  rate256="$(python3 "$ROOT/bench/bench_table.py" "$out" --half-peak P-256)"
  rate384="$(python3 "$ROOT/bench/bench_table.py" "$out" --half-peak P-384)"
  for rep in $(seq 1 "$reps"); do
    "$bench" open-loop "${daemon_args[@]}" --signer p256 --items 1 --rate "$rate256" | tag
    "$bench" open-loop "${daemon_args[@]}" --signer p384 --items 1 --rate "$rate384" | tag
  done

  local rss
  rss="$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$pid/status")"
  kill -TERM "$pid" "$p11_pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  trap - EXIT
  step "results (raw runs: var/bench/results.jsonl)"
  echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
  python3 "$ROOT/bench/bench_table.py" "$out" --rss-kib "$rss"
}

# The soak (ops/soak.sh does the work, given the binaries). Options are checked before the build.
#   --minutes N  minutes of load (default 10; fractions allowed, at least 0.5)
#   --rate R     calls per second instead of 80% of the measured peak
#   (and ops/soak.sh's other options, e.g. --peak-readings N: see ops/soak.sh --help)
#   --rotation internal|external   signetd's own timer (default) or `signet rotate --force` in a loop
cmd_soak() {
  "$ROOT/ops/soak.sh" --check-usage "$@"
  "$ROOT/ops/install-deps.sh"
  configure_and_build --target signet --target signetd --target signet-bench
  local bin="$BUILD_DIR"
  case "$bin" in /*) ;; *) bin="$ROOT/$bin" ;; esac
  exec "$ROOT/ops/soak.sh" --signet "$bin/keymgmt/signet" --signetd "$bin/daemon/signetd" \
    --bench "$bin/bench/signet-bench" --dir "$ROOT/var/soak" "$@"
}

# Sourced (ops/soak.sh takes quickstart_setup from here): define the functions, run nothing.
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

case "${1:-}" in
  run) shift; cmd_run "$@" ;;
  test) shift; cmd_test "$@" ;;
  bench) shift; cmd_bench "$@" ;;
  fuzz) shift; cmd_fuzz "$@" ;;
  soak) shift; cmd_soak "$@" ;;
  build) shift; "$ROOT/ops/install-deps.sh"; configure_and_build "$@" ;;
  *)
    echo "usage: ops/dev.sh run [--once] [--fresh] | test [--quick] | bench [--quick] | fuzz [SECONDS] [TARGET...] | soak [--minutes N] [--rate R] [--rotation internal|external] | build" >&2
    exit 2
    ;;
esac
