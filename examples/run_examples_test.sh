#!/usr/bin/env bash
# The client examples against a real test daemon: two SoftHSM tokens, the root and intermediate
# ceremonies, a development mTLS PKI and signetd with a rotating contentsignaturepki signer whose chain
# is served at its x5u URL on the HTTPS side port, all brought up with the real binaries in a temporary
# directory. Then examples/python/sign_and_verify.py and examples/node/sign_and_verify.js each sign over
# mTLS and verify the chain and the signature, and each must fail on a wrong root pin, tampered input,
# a wrong end-entity name, an x5u server it cannot trust, and a client certificate without a grant.
# usage: run_examples_test.sh SIGNET_BINARY SIGNETD_BINARY SOFTHSM_MODULE
# Needs Debian's /usr/bin/python3 with python3-grpcio, python3-protobuf, python3-cryptography,
# protoc and grpc_python_plugin (ops/install-deps.sh), and node with examples/node/node_modules
# installed from the lock (npm ci --prefix examples/node; ops/dev.sh test does it). Missing ones FAIL.
set -uo pipefail
if [ $# -ne 3 ]; then
  echo "usage: $0 SIGNET_BINARY SIGNETD_BINARY SOFTHSM_MODULE" >&2
  exit 2
fi
SIGNET="$1"
SIGNETD="$2"
export SIGNET_PKCS11_MODULE="$3"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PYTHON="${SIGNET_EXAMPLES_PYTHON:-/usr/bin/python3}"
NODE="${SIGNET_EXAMPLES_NODE:-node}"
PY_EXAMPLE="$HERE/python/sign_and_verify.py"
NODE_EXAMPLE="$HERE/node/sign_and_verify.js"
# A loopback test: neither gRPC nor the x5u fetch may go through a proxy the environment names.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY grpc_proxy

T="$(mktemp -d "${TMPDIR:-/tmp}/signet-examples-XXXXXX")"
DAEMON_PID=""
cleanup() {
  if [ -n "$DAEMON_PID" ]; then kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null; fi
  rm -rf "$T"
}
trap cleanup EXIT
LOG="$T/all-output.log"
source "$HERE/../tests/integration/cli_checks.sh"
source "$HERE/../ops/lib/signetd.sh"
started=$SECONDS

# --- The toolchains: missing ones are failures with the fix named, never skips -------------------
preflight_ok=1
if ! "$PYTHON" -I -c 'import grpc, google.protobuf, cryptography' 2>>"$LOG"; then
  echo "FAIL: $PYTHON cannot import grpc, google.protobuf and cryptography:" \
    "install python3-grpcio python3-protobuf python3-cryptography (ops/install-deps.sh)"
  preflight_ok=0
fi
for tool in protoc grpc_python_plugin; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool not found: install protobuf-compiler and protobuf-compiler-grpc (ops/install-deps.sh)"
    preflight_ok=0
  fi
done
if ! command -v "$NODE" >/dev/null; then
  echo "FAIL: node not found: install Node.js (ops/install-deps.sh installs Debian's nodejs and npm when absent)"
  preflight_ok=0
elif ! lock_check="$(cd "$HERE/node" && "$NODE" -e '
    const fs = require("fs");
    const lock = JSON.parse(fs.readFileSync("package-lock.json", "utf8"));
    const bad = [];
    for (const [dir, entry] of Object.entries(lock.packages)) {
      if (dir === "" || entry.dev) continue;
      let have = "missing";
      try { have = JSON.parse(fs.readFileSync(dir + "/package.json", "utf8")).version; } catch (e) {}
      if (have !== entry.version) bad.push(`${dir.slice(13)} ${have} (lock: ${entry.version})`);
    }
    if (!fs.existsSync("node_modules")) { console.log("there is no node_modules"); process.exit(1); }
    if (bad.length > 3) bad.splice(3, bad.length, `and ${bad.length - 3} more`);
    if (bad.length) { console.log(bad.join(", ")); process.exit(1); }' 2>&1)"; then
  echo "FAIL: examples/node/node_modules does not match examples/node/package-lock.json: $lock_check." \
    "Install it with: npm ci --prefix examples/node --no-audit --no-fund --ignore-scripts (ops/dev.sh test does)"
  preflight_ok=0
fi
if [ "$preflight_ok" -ne 1 ]; then
  echo "passed: 0, failed: 1"
  exit 1
fi

# --- A test daemon: tokens, ceremonies, dev mTLS PKI, signetd with a rotating signer -------------
mkdir -p "$T/tokens" "$T/shares-offline" "$T/shares-online" "$T/ceremony" "$T/x5u"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >"$T/softhsm2.conf"
export SOFTHSM2_CONF="$T/softhsm2.conf"
(umask 077; for f in so-offline so-online offline online; do openssl rand -hex 16 >"$T/$f.pin"; done)
setup() {
  "$SIGNET" token init --label signet-offline --so-pin-file "$T/so-offline.pin" --pin-file "$T/offline.pin" &&
  "$SIGNET" token init --label signet-online --so-pin-file "$T/so-online.pin" --pin-file "$T/online.pin" &&
  "$SIGNET" ceremony split-pin --shares 2 --threshold 2 --pin-file "$T/offline.pin" --out-dir "$T/shares-offline" &&
  "$SIGNET" ceremony split-pin --shares 2 --threshold 2 --pin-file "$T/online.pin" --out-dir "$T/shares-online" ||
    return 1
  cat >"$T/ceremony/root.yaml" <<EOF
ceremony: root
name: examples-root
output_dir: root
token: {token: signet-offline}
key: {label: examples-root, curve: P-384}
certificate:
  subject: {common_name: Signet Examples Test Root, organization: Signet, country: US}
  validity: 87600h
EOF
  cat >"$T/ceremony/intermediate.yaml" <<EOF
ceremony: intermediate
name: examples-intermediate
output_dir: intermediate
root:
  token: {token: signet-offline}
  key_label: examples-root
  certificate: root/examples-root.crt.pem
token: {token: signet-online}
key: {label: examples-intermediate, curve: P-384}
certificate:
  subject: {common_name: Signet Examples Test Intermediate, organization: Signet, country: US}
  permitted_dns_subtree: .content-signature.signet.test
  validity: 17520h
EOF
  cat "$T/shares-offline/share-1.txt" "$T/shares-offline/share-2.txt" \
    | "$SIGNET" ceremony run "$T/ceremony/root.yaml" >"$T/root-ceremony.out" &&
  cat "$T/shares-offline/share-1.txt" "$T/shares-offline/share-2.txt" \
      "$T/shares-online/share-1.txt" "$T/shares-online/share-2.txt" \
    | "$SIGNET" ceremony run "$T/ceremony/intermediate.yaml" &&
  "$SIGNET" dev-pki --dir "$T/tls" \
    --clients "writer=spiffe://signet.test/writer,nogrants=spiffe://signet.test/nogrants"
}
quiet() { "$@" >>"$LOG" 2>&1; }
check "tokens, PIN shares, root and intermediate ceremonies, dev mTLS PKI" quiet setup
cat "$T/root-ceremony.out" >>"$LOG" 2>/dev/null
ROOT_SHA256="$(sed -n 's/^root_sha256 (the pin verifiers and signetd use): //p' "$T/root-ceremony.out" 2>/dev/null)"
check "the root ceremony printed the root SHA-256" [ "${#ROOT_SHA256}" -eq 95 ]

EE_NAME="remote-settings.content-signature.signet.test"
HTTP_PORT=""
# write_config PORT: the side port is in the config twice, so signet_start_signetd picks it and calls
# this again with another one if it was taken before signetd bound it.
write_config() {
  HTTP_PORT="$1"
  cat >"$T/signetd.yaml" <<EOF
server:
  listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:$HTTP_PORT"
  ready_file: $T/ready.json
  x5u_dir: $T/x5u
  tls: {cert_file: $T/tls/server.pem, key_file: $T/tls/server.key, client_ca_file: $T/tls/ca.pem}
hsm: {module: $SIGNET_PKCS11_MODULE, token: signet-online, pin_file: $T/online.pin}
signers:
  - id: remote-settings
    type: contentsignaturepki
    ee_name: $EE_NAME
    intermediate_key_label: examples-intermediate
    intermediate_cert_file: $T/ceremony/intermediate/examples-intermediate.crt.pem
    root_cert_file: $T/ceremony/root/examples-root.crt.pem
    root_sha256: "$ROOT_SHA256"
    x5u_base_url: "https://localhost:$HTTP_PORT/x5u/"
    publication_dir: $T/x5u
    x5u_ca_file: $T/tls/ca.pem
authorization:
  - identity: "spiffe://signet.test/writer"
    signers: [remote-settings]
rotation: {mode: internal, check_interval: 1m, reload_interval: 200ms}
EOF
}
signet_start_signetd "$SIGNETD" write_config "$T/signetd.yaml" "$T/ready.json" "$T/signetd.log"
DAEMON_PID="$SIGNETD_PID"
GRPC_PORT="$SIGNETD_GRPC_PORT"
check "signetd is up (gRPC port '$GRPC_PORT', HTTPS side port $HTTP_PORT)" [ -n "$GRPC_PORT" ]
if [ -z "$GRPC_PORT" ]; then
  echo "passed: $passed, failed: $failed"  # signet_start_signetd showed the end of signetd's log
  exit 1
fi
TARGET="localhost:$GRPC_PORT"
# signetd issues, publishes and verifies its first end-entity key at start; wait until it signs.
printf '{"hello":"from the client examples"}\n' >"$T/data.json"
signs() {
  local i
  for i in $(seq 1 100); do
    "$SIGNET" sign --server "$TARGET" --ca-file "$T/tls/ca.pem" --cert-file "$T/tls/client-writer.pem" \
      --key-file "$T/tls/client-writer.key" --signer remote-settings --input "$T/data.json" && return 0
    sleep 0.1
  done
  return 1
}
check "the rotating signer has its first key" quiet signs
# Every byte value, NULs and 0xff included: the examples must sign bytes, not text.
"$PYTHON" -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 4 + b"\x00\xff")' >"$T/binary.bin"

COMMON=(--target "$TARGET" --ca "$T/tls/ca.pem" --signer remote-settings --ee-name "$EE_NAME")
WRITER=(--cert "$T/tls/client-writer.pem" --key "$T/tls/client-writer.key")
NOGRANTS=(--cert "$T/tls/client-nogrants.pem" --key "$T/tls/client-nogrants.key")
PIN=(--root-sha256 "$ROOT_SHA256" --x5u-ca "$T/tls/ca.pem")
WRONG_PIN="$(printf '%s' "$ROOT_SHA256" | tr -d : | tr 0-9A-F 1-9A-F0)"  # every digit changed
OK_LINE="OK: Content-Signature verifies (P-384) with a chain from x5u under the pinned root"

for lang in python node; do
  if [ "$lang" = python ]; then run=("$PYTHON" "$PY_EXAMPLE"); else run=("$NODE" "$NODE_EXAMPLE"); fi
  expect "$lang: signs a file over mTLS, fetches the chain by x5u and verifies it" 0 "$OK_LINE" -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" "${PIN[@]}" --input "$T/data.json"
  out="$(tail -n 40 "$LOG")"
  for rule in validity issuer-signature root-self-signed ca root-pin code-signing-eku ee-name ee-key signature tamper; do
    check "$lang: reports rule $rule as ok" grep -q "^  ok   $rule: " <<<"$out"
  done
  header="$(sed -n 's/^header: *Content-Signature: //p' <<<"$out" | tail -n 1)"
  x5u="$(printf '%s' "$header" | sed -n 's/^x5u=\([^;]*\);p384ecdsa=.*/\1/p')"
  case "$x5u" in
    "https://localhost:$HTTP_PORT/x5u/remote-settings-"*.pem) check "$lang: the header carries the side port's x5u" true ;;
    *) check "$lang: the header carries the side port's x5u (header '$header')" false ;;
  esac
  expect "$lang: signet verify agrees with the header it printed" 0 "OK: Content-Signature verifies (P-384)" -- \
    "$SIGNET" verify --input "$T/data.json" --signature "$header" --x5u "$x5u" --ca-file "$T/tls/ca.pem" \
    --root-sha256 "$ROOT_SHA256" --name "$EE_NAME"
  expect "$lang: signs binary input (every byte value) from stdin and verifies it" 0 "$OK_LINE" -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" "${PIN[@]}" --input - <"$T/binary.bin"
  expect "$lang: signs --text and verifies it" 0 "$OK_LINE" -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" "${PIN[@]}" --text "héllo, Content-Signature"
  expect "$lang: the pin may be 64 lower-case hex digits" 0 "$OK_LINE" -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" --x5u-ca "$T/tls/ca.pem" --input "$T/data.json" \
    --root-sha256 "$(printf '%s' "$ROOT_SHA256" | tr -d : | tr A-F a-f)"
  expect "$lang: a wrong root pin fails" 1 "FAIL: rule root-pin: " -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" --x5u-ca "$T/tls/ca.pem" --input "$T/data.json" --root-sha256 "$WRONG_PIN"
  expect "$lang: tampered input fails" 1 "FAIL: rule signature: " -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" "${PIN[@]}" --input "$T/data.json" --tamper
  expect "$lang: another end-entity name fails" 1 "FAIL: rule ee-name: " -- \
    "${run[@]}" "${COMMON[@]/$EE_NAME/normandy.content-signature.signet.test}" "${WRITER[@]}" "${PIN[@]}" \
    --input "$T/data.json"
  expect "$lang: an x5u server it cannot trust fails (the system CAs do not know the dev CA)" 4 "FAIL: fetching the chain" -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" --root-sha256 "$ROOT_SHA256" --input "$T/data.json"
  expect "$lang: a client without a grant is refused" 4 "PERMISSION_DENIED" -- \
    "${run[@]}" "${COMMON[@]}" "${NOGRANTS[@]}" "${PIN[@]}" --input "$T/data.json"
  expect "$lang: a bad pin is a usage error" 2 "root-sha256" -- \
    "${run[@]}" "${COMMON[@]}" "${WRITER[@]}" --x5u-ca "$T/tls/ca.pem" --input "$T/data.json" --root-sha256 abc
done

kill "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=""
cat "$T/signetd.log" >>"$LOG"
for lang in python node; do
  # The file, binary stdin, --text, the lower-case pin, the wrong pin, the tamper run, the other name
  # and the untrusted x5u each signed once, for the granted identity: 8 audited ok items.
  n="$(grep '"signet.audit"' "$T/signetd.log" | grep '"identity":"spiffe://signet.test/writer"' \
         | grep '"result":"ok"' | grep -c "\"request_id\":\"example-$lang\"")"
  check "$lang: signetd audited its 8 signatures (found $n)" [ "$n" -eq 8 ]
done
# The client without a grant is stopped at its first call (GetSigner), once per language.
n="$(grep '"signet.authz.denied"' "$T/signetd.log" | grep -c '"identity":"spiffe://signet.test/nogrants"')"
check "signetd logged both refusals of the client without a grant (found $n)" [ "$n" -eq 2 ]
n="$(grep '"signet.audit"' "$T/signetd.log" | grep -c 'spiffe://signet.test/nogrants')"
check "nothing was signed for the client without a grant (found $n)" [ "$n" -eq 0 ]
for pin in offline online so-offline so-online; do
  check "no $pin PIN in any output or log" bash -c "! grep -qF '$(cat "$T/$pin.pin")' '$LOG'"
done
echo "took $((SECONDS - started)) s"
echo "passed: $passed, failed: $failed"
[ "$failed" -eq 0 ]
