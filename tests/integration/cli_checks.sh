# Sourced by the CLI shell tests: named checks that count passes and failures, and keep every
# output in $LOG (so a test can grep the whole run for a PIN). The sourcing script sets LOG.
passed=0
failed=0

# expect NAME WANT_EXIT WANT_SUBSTRING -- command...   (stdin passes through to the command)
expect() {
  local name="$1" want_exit="$2" want="$3"
  shift 4
  local out rc
  out="$("$@" 2>&1)"
  rc=$?
  printf '%s\n' "$out" >>"$LOG"
  if [ "$rc" -ne "$want_exit" ] || [[ "$out" != *"$want"* ]]; then
    echo "FAIL: $name: exit $rc (want $want_exit), output: $out (want substring: $want)"
    failed=$((failed + 1))
  else
    echo "ok:   $name"
    passed=$((passed + 1))
  fi
}

# check NAME COMMAND...   passes when the command succeeds
check() {
  local name="$1"
  shift
  if "$@"; then echo "ok:   $name"; passed=$((passed + 1)); else echo "FAIL: $name"; failed=$((failed + 1)); fi
}

# Evidence for the suite-wide log scan (ctest's no_secrets_in_logs, tests/testing/test_evidence.h).
# Under ctest, SIGNET_TEST_EVIDENCE_DIR and SIGNET_LOG_SCAN are set; run by hand, these do nothing.
# register_secret FILE LABEL: a PIN file, a share file, or a PEM private key
register_secret() {
  [ -n "${SIGNET_TEST_EVIDENCE_DIR:-}" ] || return 0
  if [ ! -x "${SIGNET_LOG_SCAN:-}" ]; then
    echo "FAIL: SIGNET_LOG_SCAN does not name the signet_log_scan binary; $2 cannot be registered"
    failed=$((failed + 1))
    return
  fi
  local kind=register-file
  grep -q -- "-----BEGIN PRIVATE KEY-----" "$1" && kind=register-key
  "$SIGNET_LOG_SCAN" "$kind" "$1" "$2" || { echo "FAIL: cannot register $2"; failed=$((failed + 1)); }
}
# keep_log NAME: keeps $LOG (everything the commands printed) for the scan
keep_log() {
  [ -n "${SIGNET_TEST_EVIDENCE_DIR:-}" ] || return 0
  mkdir -p "$SIGNET_TEST_EVIDENCE_DIR/logs" && cp "$LOG" "$SIGNET_TEST_EVIDENCE_DIR/logs/$1-$$.log"
}
