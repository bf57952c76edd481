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
