#!/usr/bin/env bash
# The whole Content-Signature PKI as security officers and operators run it, with the real binaries:
# two SoftHSM tokens, PIN shares, the root and intermediate ceremonies, signetd with a
# contentsignaturepki signer, `signet rotate`, `signet sign`, and `signet verify --x5u`.
# usage: signet_pki_cli_test.sh SIGNET_BINARY SIGNETD_BINARY SOFTHSM_MODULE VECTORS_DIR
set -uo pipefail
SIGNET="$1"
SIGNETD="$2"
export SIGNET_PKCS11_MODULE="$3"
VECTORS="$4"

T="$(mktemp -d "${TMPDIR:-/tmp}/signet-pki-cli-XXXXXX")"
DAEMON_PID=""
cleanup() {
  [ -n "$DAEMON_PID" ] && kill "$DAEMON_PID" 2>/dev/null && wait "$DAEMON_PID" 2>/dev/null
  rm -rf "$T"
}
trap cleanup EXIT
mkdir -p "$T/tokens" "$T/shares-offline" "$T/shares-online" "$T/ceremony" "$T/x5u"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >"$T/softhsm2.conf"
export SOFTHSM2_CONF="$T/softhsm2.conf"
(umask 077
 for f in so-offline so-online offline online; do echo "$f-pin-$RANDOM$RANDOM$RANDOM" >"$T/$f.pin"; done)
LOG="$T/all-output.log"
source "$(dirname "${BASH_SOURCE[0]}")/cli_checks.sh"
source "$(dirname "${BASH_SOURCE[0]}")/../../ops/lib/signetd.sh"
for f in so-offline so-online offline online; do register_secret "$T/$f.pin" "signet_pki_cli_test $f PIN"; done

# --- Tokens and the officers' shares ------------------------------------------------------------
expect "init offline token" 0 "initialized token 'signet-offline'" -- \
  "$SIGNET" token init --label signet-offline --so-pin-file "$T/so-offline.pin" --pin-file "$T/offline.pin"
expect "init online token" 0 "initialized token 'signet-online'" -- \
  "$SIGNET" token init --label signet-online --so-pin-file "$T/so-online.pin" --pin-file "$T/online.pin"
expect "split the offline PIN 2-of-3" 0 "any 2 of which recover it" -- \
  "$SIGNET" ceremony split-pin --shares 3 --threshold 2 --pin-file "$T/offline.pin" --out-dir "$T/shares-offline"
expect "split the online PIN 2-of-3" 0 "share-3.txt" -- \
  "$SIGNET" ceremony split-pin --shares 3 --threshold 2 --pin-file "$T/online.pin" --out-dir "$T/shares-online"
check "share files are 0600" [ "$(stat -c %a "$T/shares-offline/share-2.txt")" = 600 ]
for share in "$T"/shares-*/share-*.txt; do register_secret "$share" "signet_pki_cli_test officer share"; done
expect "split-pin refuses to overwrite shares" 1 "already exists" -- \
  "$SIGNET" ceremony split-pin --shares 3 --threshold 2 --pin-file "$T/online.pin" --out-dir "$T/shares-online"
expect "split-pin bounds the threshold" 2 "threshold" -- \
  "$SIGNET" ceremony split-pin --shares 3 --threshold 4 --pin-file "$T/online.pin"
expect "split-pin never takes the PIN on the command line" 2 "never given on the command line" -- \
  "$SIGNET" ceremony split-pin --shares 3 --threshold 2 --pin 1234
offline_shares() { cat "$T/shares-offline/share-1.txt" "$T/shares-offline/share-3.txt"; }
online_shares() { cat "$T/shares-online/share-2.txt" "$T/shares-online/share-3.txt"; }

# --- Ceremonies ----------------------------------------------------------------------------------
cat >"$T/ceremony/root.yaml" <<EOF
ceremony: root
name: cli-root-2026
output_dir: root
token: {token: signet-offline}
key: {label: cli-root, curve: P-384}
certificate:
  subject: {common_name: Signet CLI Test Root, organization: Signet, country: US}
  validity: 87600h
EOF
cat >"$T/ceremony/intermediate.yaml" <<EOF
ceremony: intermediate
name: cli-intermediate-2026
output_dir: intermediate
root:
  token: {token: signet-offline}
  key_label: cli-root
  certificate: root/cli-root.crt.pem
token: {token: signet-online}
key: {label: cli-intermediate, curve: P-384}
certificate:
  subject: {common_name: Signet CLI Test Intermediate, organization: Signet, country: US}
  permitted_dns_subtree: .content-signature.signet.test
  validity: 17520h
EOF
expect "root ceremony with too few shares" 1 "only 1 of 2 shares entered" -- \
  "$SIGNET" ceremony run "$T/ceremony/root.yaml" <"$T/shares-offline/share-1.txt"
expect "root ceremony with shares of two different PINs" 2 "different PIN splits" -- \
  "$SIGNET" ceremony run "$T/ceremony/root.yaml" < <(cat "$T/shares-offline/share-1.txt" "$T/shares-online/share-2.txt")
expect "root ceremony" 0 "ceremony 'cli-root-2026' complete" -- \
  "$SIGNET" ceremony run "$T/ceremony/root.yaml" < <(offline_shares)
ROOT_SHA256="$(sed -n 's/^root_sha256 (the pin verifiers and signetd use): //p' "$LOG" | tail -n 1)"
check "the root ceremony printed the root SHA-256" [ "${#ROOT_SHA256}" -eq 95 ]
check "the root transcript is saved next to the outputs" grep -q "result:   OK" "$T/ceremony/root/cli-root-2026.transcript.txt"
check "the transcript records the certificate file's SHA-256" \
  grep -q "$(sha256sum "$T/ceremony/root/cli-root.crt.pem" | cut -d' ' -f1)" "$T/ceremony/root/cli-root-2026.transcript.txt"
expect "the root ceremony refuses to run twice" 1 "never overwrites" -- \
  "$SIGNET" ceremony run "$T/ceremony/root.yaml" < <(offline_shares)
expect "intermediate ceremony (offline shares, then online shares)" 0 "complete" -- \
  "$SIGNET" ceremony run "$T/ceremony/intermediate.yaml" < <(offline_shares; online_shares)
expect "the online token holds only the intermediate key" 0 "cli-intermediate" -- \
  "$SIGNET" key list --token signet-online --pin-file "$T/online.pin"
check "the root key is not on the online token" \
  bash -c "! '$SIGNET' key list --token signet-online --pin-file '$T/online.pin' | grep -q cli-root"
expect "openssl verifies the intermediate under the root" 0 "OK" -- \
  openssl verify -x509_strict -CAfile "$T/ceremony/root/cli-root.crt.pem" "$T/ceremony/intermediate/cli-intermediate.crt.pem"

# --- signetd with a contentsignaturepki signer, rotated by `signet rotate` ------------------------
"$SIGNET" dev-pki --dir "$T/tls" --clients "writer=spiffe://signet.test/writer" >>"$LOG" 2>&1
for key in "$T"/tls/*.key; do register_secret "$key" "signet_pki_cli_test dev-pki TLS key $(basename "$key")"; done
# write_config PORT: the side port is in the config twice; signet_start_signetd calls this again with
# another port if this one was taken before signetd bound it.
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
    ee_name: remote-settings.content-signature.signet.test
    intermediate_key_label: cli-intermediate
    intermediate_cert_file: $T/ceremony/intermediate/cli-intermediate.crt.pem
    root_cert_file: $T/ceremony/root/cli-root.crt.pem
    root_sha256: "$ROOT_SHA256"
    x5u_base_url: "https://localhost:$HTTP_PORT/x5u/"
    publication_dir: $T/x5u
    x5u_ca_file: $T/tls/ca.pem
authorization:
  - identity: "spiffe://signet.test/writer"
    signers: [remote-settings]
rotation: {mode: external, reload_interval: 200ms}
EOF
}
write_config "$(signet_pick_port)"
expect "signetd --check-config accepts the pki signer" 0 "" -- "$SIGNETD" --config "$T/signetd.yaml" --check-config
expect "rotate with nothing serving x5u never activates" 1 "step 'fetch' failed" -- \
  "$SIGNET" rotate --config "$T/signetd.yaml"
# --keep-config: the first start uses the config the two steps above checked.
signet_start_signetd --keep-config "$SIGNETD" write_config "$T/signetd.yaml" "$T/ready.json" "$T/signetd.log"
DAEMON_PID="$SIGNETD_PID"
GRPC_PORT="$SIGNETD_GRPC_PORT"
check "signetd is up" [ -n "$GRPC_PORT" ]
export SIGNET_SERVER="localhost:$GRPC_PORT" SIGNET_CA_FILE="$T/tls/ca.pem" \
  SIGNET_CERT_FILE="$T/tls/client-writer.pem" SIGNET_KEY_FILE="$T/tls/client-writer.key"
printf 'remote settings payload\n' >"$T/data.json"
expect "before any rotation the signer is unavailable" 1 "has no active key" -- \
  "$SIGNET" sign --signer remote-settings --input "$T/data.json"
expect "signet rotate" 0 "signer 'remote-settings': rotated" -- "$SIGNET" rotate --config "$T/signetd.yaml"
expect "a second pass is not due" 0 "not rotated (not due" -- "$SIGNET" rotate --config "$T/signetd.yaml"
header=""
for _ in $(seq 1 50); do
  header="$("$SIGNET" sign --signer remote-settings --input "$T/data.json" 2>/dev/null)" && break
  sleep 0.1
done
check "signetd picked up the new key without a restart" [ -n "$header" ]
X5U="$(printf '%s' "$header" | sed -n 's/^x5u=\([^;]*\);.*/\1/p')"
case "$X5U" in
  "https://localhost:$HTTP_PORT/x5u/remote-settings-"*.pem) check "the signature carries an x5u URL on the side port" true ;;
  *) check "the signature carries an x5u URL on the side port (got '$X5U')" false ;;
esac
VERIFY=(--input "$T/data.json" --signature "$header" --x5u "$X5U" --ca-file "$T/tls/ca.pem"
        --name remote-settings.content-signature.signet.test)
expect "signet verify --x5u" 0 "OK: Content-Signature verifies (P-384)" -- \
  "$SIGNET" verify "${VERIFY[@]}" --root-sha256 "$ROOT_SHA256"
expect "the pin is compared without colons and case" 0 "OK" -- \
  "$SIGNET" verify "${VERIFY[@]}" --root-sha256 "$(printf '%s' "$ROOT_SHA256" | tr -d : | tr A-F a-f)"
expect "verify with another root pin" 1 "rule root-pin" -- \
  "$SIGNET" verify "${VERIFY[@]}" --root-sha256 "$(printf '%064d' 0)"
expect "verify for another name" 1 "rule ee-name" -- \
  "$SIGNET" verify "${VERIFY[@]/remote-settings.content-signature.signet.test/other.content-signature.signet.test}" \
  --root-sha256 "$ROOT_SHA256"
expect "verify a year from now" 1 "rule validity" -- \
  "$SIGNET" verify "${VERIFY[@]}" --root-sha256 "$ROOT_SHA256" --at "$(date -u -d '+1 year' +%Y-%m-%dT%H:%M:%SZ)"
printf 'tampered\n' >>"$T/data.json"
expect "a tampered input fails" 1 "rule signature" -- "$SIGNET" verify "${VERIFY[@]}" --root-sha256 "$ROOT_SHA256"
curl -sf --cacert "$T/tls/ca.pem" "$X5U" -o "$T/chain.pem"
check "the x5u chain (three certificates) is served on the side port" \
  bash -c "[ \"\$(grep -c 'BEGIN CERTIFICATE' '$T/chain.pem')\" = 3 ]"
expect "verify --chain with the fetched file" 1 "rule signature" -- \
  "$SIGNET" verify --input "$T/data.json" --signature "$header" --chain "$T/chain.pem" \
  --root-sha256 "$ROOT_SHA256" --name remote-settings.content-signature.signet.test
expect "verify needs exactly one key source" 2 "exactly one of" -- \
  "$SIGNET" verify --input "$T/data.json" --signature "$header" --chain "$T/chain.pem" --x5u "$X5U"
expect "verify needs the pin" 2 "--root-sha256 is required" -- \
  "$SIGNET" verify --input "$T/data.json" --signature "$header" --chain "$T/chain.pem" --name x.test
expect "verify rejects a bad --at" 2 "--at must be an RFC 3339 time" -- \
  "$SIGNET" verify "${VERIFY[@]}" --root-sha256 "$ROOT_SHA256" --at yesterday
expect "the normandy dev chain fails today" 1 "rule validity" -- \
  "$SIGNET" verify --input "$T/data.json" --signature "$header" --chain "$VECTORS/normandy-dev-2021.chain.pem" \
  --root-sha256 4C:35:B1:C3:E3:12:D9:55:E7:78:ED:D0:A7:E7:8A:38:83:04:EF:01:BF:FA:03:29:B2:46:9F:3C:C5:EC:36:04 \
  --name normandy.content-signature.mozilla.org
expect "rotate --signer names an unknown signer" 2 "no contentsignaturepki signer 'nope'" -- \
  "$SIGNET" rotate --config "$T/signetd.yaml" --signer nope

kill "$DAEMON_PID"
wait "$DAEMON_PID"
DAEMON_PID=""
cat "$T/signetd.log" >>"$LOG"
check "signetd logged the key switch" grep -q '"signet.signers"' "$T/signetd.log"
for pin in offline online so-offline so-online; do
  check "no $pin PIN in any output or log" bash -c "! grep -qFf '$T/$pin.pin' '$LOG'"
done

keep_log signet_pki_cli_test
echo "passed: $passed, failed: $failed"
[ "$failed" -eq 0 ]
