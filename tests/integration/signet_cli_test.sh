#!/usr/bin/env bash
# The `signet` CLI as an operator uses it, against a throwaway SoftHSM token.
# usage: signet_cli_test.sh SIGNET_BINARY SOFTHSM_MODULE VECTORS_DIR
set -uo pipefail
SIGNET="$1"
export SIGNET_PKCS11_MODULE="$2"
VECTORS="$3"

T="$(mktemp -d "${TMPDIR:-/tmp}/signet-cli-XXXXXX")"
trap 'rm -rf "$T"' EXIT
mkdir -p "$T/tokens"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' "$T" >"$T/softhsm2.conf"
export SOFTHSM2_CONF="$T/softhsm2.conf"
(umask 077; echo "so-pin-$RANDOM$RANDOM" >"$T/so.pin"; echo "user-pin-$RANDOM$RANDOM" >"$T/user.pin"
 echo "wrong-pin-$RANDOM" >"$T/wrong.pin")
LOG="$T/all-output.log"
source "$(dirname "${BASH_SOURCE[0]}")/cli_checks.sh"
register_secret "$T/so.pin" "signet_cli_test SO PIN"
register_secret "$T/user.pin" "signet_cli_test user PIN"
register_secret "$T/wrong.pin" "signet_cli_test wrong PIN"

H=(--token signet-cli --pin-file "$T/user.pin")
expect "token init" 0 "initialized token 'signet-cli'" -- \
  "$SIGNET" token init --label signet-cli --so-pin-file "$T/so.pin" --pin-file "$T/user.pin"
expect "token init refuses a second token with the same label" 1 "already exists" -- \
  "$SIGNET" token init --label signet-cli --so-pin-file "$T/so.pin" --pin-file "$T/user.pin"
expect "token list" 0 "label 'signet-cli'" -- "$SIGNET" token list

printf 'sample data for the CLI test\n' >"$T/sample.txt"
for curve in P-256 P-384 P-521; do
  expect "key generate $curve" 0 "generated $curve key" -- \
    "$SIGNET" key generate "${H[@]}" --label "k-$curve" --curve "$curve" --public-key-out "$T/$curve.pem"
  header="$("$SIGNET" local-sign "${H[@]}" --key "k-$curve" --input "$T/sample.txt" --x5u https://x.test/c.pem)"
  param="p${curve#P-}ecdsa"
  [[ "$header" == "x5u=https://x.test/c.pem;$param="* ]] && { echo "ok:   local-sign $curve header"; passed=$((passed+1)); } \
    || { echo "FAIL: local-sign $curve header: $header"; failed=$((failed+1)); }
  expect "verify $curve header" 0 "OK: Content-Signature verifies" -- \
    "$SIGNET" verify --input "$T/sample.txt" --signature "$header" --public-key "$T/$curve.pem"
  sig="$("$SIGNET" local-sign "${H[@]}" --key "k-$curve" --input - --format signature <"$T/sample.txt")"
  [ "$curve" = P-256 ] && sig256="$sig"
  expect "verify $curve bare signature from stdin input" 0 "verifies" -- \
    "$SIGNET" verify --input "$T/sample.txt" --signature "$sig" --public-key "$T/$curve.pem"
done
expect "key list shows three keys" 0 "P-521" -- "$SIGNET" key list "${H[@]}"

# Known answer: Autograph's P-384 test vector verifies through the CLI; a changed byte does not.
printf 'foobarbaz1234abcd' >"$T/kat.txt"
KAT_SIG=qGjS1QmB2xANizjJqrGmIPoojzjBrTV5kgi01p1ELnfKwH4E3UDTZRf-9K7PCEwjt0mOzd1bBmRBKcnWZNFAMvAduBwfAPHFGpX-YKBoRSLHuA6QuiosEydnZEs5ykAR
expect "autograph vector verifies" 0 "verifies" -- \
  "$SIGNET" verify --input "$T/kat.txt" --signature "$KAT_SIG" --public-key "$VECTORS/autograph-p384-test.pub.pem"
printf 'foobarbaz1234abce' >"$T/kat-bad.txt"
expect "autograph vector with a changed byte fails" 1 "does not verify" -- \
  "$SIGNET" verify --input "$T/kat-bad.txt" --signature "$KAT_SIG" --public-key "$VECTORS/autograph-p384-test.pub.pem"

# Error paths: each gives a clear message and a non-zero exit, never a crash.
expect "PIN on argv refused" 2 "never given on the command line" -- "$SIGNET" key list --token signet-cli --pin 1234
cp "$T/user.pin" "$T/loose.pin"; chmod 644 "$T/loose.pin"
expect "group/world-readable PIN file refused" 1 "chmod 600" -- "$SIGNET" key list --token signet-cli --pin-file "$T/loose.pin"
chmod 640 "$T/loose.pin"
expect "group-readable PIN file refused" 1 "mode 640 lets group or others access it" -- \
  "$SIGNET" key list --token signet-cli --pin-file "$T/loose.pin"
ln -s "$T/user.pin" "$T/link.pin"
expect "PIN file through a symlink refused" 2 "is a symbolic link" -- \
  "$SIGNET" key list --token signet-cli --pin-file "$T/link.pin"
expect "loose SO PIN file refused by token init" 1 "chmod 600" -- \
  "$SIGNET" token init --label other --so-pin-file "$T/loose.pin" --pin-file "$T/user.pin"

# Core dumps are off in the CLI while it holds a PIN: local-sign reads its input (here a FIFO we hold
# open) before it logs in, so its limits can be read while it waits.
mkfifo "$T/input.fifo"
"$SIGNET" local-sign "${H[@]}" --key k-P-256 --input - <"$T/input.fifo" >"$T/fifo-sign.out" 2>&1 &
cli_pid=$!
exec 3>"$T/input.fifo"
core=""
for _ in $(seq 1 250); do
  core="$(awk '/^Max core file size/ {print $5, $6}' "/proc/$cli_pid/limits" 2>/dev/null)"
  [ "$core" = "0 0" ] && break
  sleep 0.02
done
printf 'fifo input' >&3
exec 3>&-
wait "$cli_pid"
cat "$T/fifo-sign.out" >>"$LOG"
check "signet CLI runs with core file size 0/0 (got '$core')" [ "$core" = "0 0" ]
expect "missing PIN file named" 1 "$T/nope.pin" -- "$SIGNET" key list --token signet-cli --pin-file "$T/nope.pin"
expect "missing token lists what is present" 1 "no token matches token=other; present: 'signet-cli'" -- \
  "$SIGNET" key list --token other --pin-file "$T/user.pin"
expect "missing module named" 1 "/nonexistent/module.so" -- \
  "$SIGNET" key list "${H[@]}" --module /nonexistent/module.so
expect "duplicate label refused" 1 "'k-P-256' already exists" -- \
  "$SIGNET" key generate "${H[@]}" --label k-P-256 --curve P-256
expect "existing output file refused" 1 "already exists" -- \
  "$SIGNET" key generate "${H[@]}" --label fresh --curve P-256 --public-key-out "$T/P-256.pem"
expect "no orphan key after the refused output" 1 "no EC private key with label 'fresh'" -- \
  "$SIGNET" local-sign "${H[@]}" --key fresh --input "$T/sample.txt"
expect "bad curve named" 2 "--curve: unsupported curve 'P-999'" -- \
  "$SIGNET" key generate "${H[@]}" --label x --curve P-999
expect "missing key label" 1 "no EC private key with label 'absent'" -- \
  "$SIGNET" local-sign "${H[@]}" --key absent --input "$T/sample.txt"
expect "malformed base64url" 2 "base64url" -- \
  "$SIGNET" verify --input "$T/sample.txt" --signature 'not*base64' --public-key "$T/P-384.pem"
expect "signature for another curve" 2 "p256ecdsa but the public key is P-384" -- \
  "$SIGNET" verify --input "$T/sample.txt" --signature "p256ecdsa=$sig256" --public-key "$T/P-384.pem"
expect "unknown flag" 2 "unknown flag --colour" -- "$SIGNET" key list "${H[@]}" --colour red
expect "unknown command" 2 "unknown command 'frobnicate'" -- "$SIGNET" frobnicate
expect "wrong PIN is reported by its CKR_ name" 1 "CKR_PIN_INCORRECT" -- \
  "$SIGNET" key list --token signet-cli --pin-file "$T/wrong.pin"

# No PIN ever reaches the output.
for f in so.pin user.pin wrong.pin; do
  if grep -qF "$(cat "$T/$f")" "$LOG"; then
    echo "FAIL: the content of $f appears in the CLI output"; failed=$((failed + 1))
  else
    echo "ok:   $f never printed"; passed=$((passed + 1))
  fi
done

keep_log signet_cli_test
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
