#!/usr/bin/env bash
# Replays and runs Signet's libFuzzer targets (a build directory configured with -DSIGNET_FUZZ=ON and
# built with --target fuzz_all).
#   tests/fuzz/run_fuzzers.sh BUILD_DIR SECONDS [TARGET...]
# For each target (default: all), one at a time:
#   1. replay: every file in tests/fuzz/regressions/TARGET/ and tests/fuzz/corpus/TARGET/ runs once;
#   2. with SECONDS > 0: fuzz for SECONDS on a copy of the seed corpus in a temporary directory (the
#      repository is never written to), with a dictionary from tests/fuzz/dict/ when there is one.
# Exits 1 if any input crashes, leaks, times out (-timeout=5) or exceeds -rss_limit_mb=2048. Crashing
# inputs are kept in the directory printed at the end; copy one to tests/fuzz/regressions/TARGET/ and
# give it a unit test (tests/fuzz/README.md).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2
  exit 2
fi
BUILD_DIR="$1"
SECONDS_PER_TARGET="$2"
shift 2
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

ALL_TARGETS=(config strict_yaml sign_request sign_answer base64url content_signature chain ceremony)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL_TARGETS[@]}"); fi

# Largest input each target is given while fuzzing: a few times its largest realistic seed.
max_len() {
  case "$1" in
    chain) echo 12288 ;;  # tests/fuzz/corpus/chain/normandy-dev-2021.pem is 7.7 KiB (RSA CAs)
    config | ceremony | strict_yaml) echo 4096 ;;
    sign_request | sign_answer) echo 2048 ;;
    *) echo 1024 ;;
  esac
}

COMMON=(-timeout=5 -rss_limit_mb=2048 -malloc_limit_mb=2048)
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/signet-fuzz.XXXXXX")"
failed=()
summary=()

for t in "${TARGETS[@]}"; do
  bin="$BUILD_DIR/tests/fuzz/fuzz_$t"
  if [ ! -x "$bin" ]; then
    echo "run_fuzzers: $bin not found; build it: cmake --build $BUILD_DIR --target fuzz_all" >&2
    exit 2
  fi
  mkdir -p "$WORK/$t/artifacts"

  # 1. Replay the regression inputs and the seeds, each once.
  inputs=()
  for d in "$HERE/regressions/$t" "$HERE/corpus/$t"; do
    [ -d "$d" ] || continue
    while IFS= read -r -d '' f; do inputs+=("$f"); done < <(find "$d" -type f ! -name '.*' -print0 | sort -z)
  done
  if [ ${#inputs[@]} -gt 0 ]; then
    if ! "$bin" "${COMMON[@]}" -artifact_prefix="$WORK/$t/artifacts/" "${inputs[@]}" >"$WORK/$t/replay.log" 2>&1; then
      echo "==> fuzz_$t: replay FAILED" >&2
      tail -n 40 "$WORK/$t/replay.log" >&2
      failed+=("$t (replay)")
      continue
    fi
  fi
  echo "==> fuzz_$t: replayed ${#inputs[@]} inputs"
  [ "$SECONDS_PER_TARGET" -gt 0 ] || continue

  # 2. Fuzz on a copy of the seeds.
  mkdir -p "$WORK/$t/corpus"
  [ -d "$HERE/corpus/$t" ] && cp -r "$HERE/corpus/$t/." "$WORK/$t/corpus/"
  args=("${COMMON[@]}" -max_total_time="$SECONDS_PER_TARGET" -max_len="$(max_len "$t")"
        -print_final_stats=1 -artifact_prefix="$WORK/$t/artifacts/")
  [ -f "$HERE/dict/$t.dict" ] && args+=(-dict="$HERE/dict/$t.dict")
  start=$SECONDS
  if "$bin" "${args[@]}" "$WORK/$t/corpus" >"$WORK/$t/fuzz.log" 2>&1; then
    status=ok
  else
    status=FAILED
    failed+=("$t")
    echo "==> fuzz_$t: FAILED" >&2
    grep -v -E '^#[0-9]+|NEW_FUNC|^INFO: ' "$WORK/$t/fuzz.log" | tail -n 60 >&2
  fi
  execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$WORK/$t/fuzz.log")"
  rate="$(sed -n 's/^stat::average_exec_per_sec: *//p' "$WORK/$t/fuzz.log")"
  rss="$(sed -n 's/^stat::peak_rss_mb: *//p' "$WORK/$t/fuzz.log")"
  corpus="$(find "$WORK/$t/corpus" -type f | wc -l)"
  line="$(printf '%-22s %-6s %4ss %10s execs %6s/s  corpus %5s  rss %4s MB' "fuzz_$t" "$status" \
    "$((SECONDS - start))" "${execs:-?}" "${rate:-?}" "$corpus" "${rss:-?}")"
  echo "==> $line"
  summary+=("$line")
done

if [ ${#summary[@]} -gt 0 ]; then
  echo
  echo "fuzzing summary (${SECONDS_PER_TARGET} s per target):"
  printf '  %s\n' "${summary[@]}"
fi
echo "run_fuzzers: ${#TARGETS[@]} targets in ${SECONDS} s"
# The closing line: targets, not inputs (CI reads "N passed, N failed").
if [ ${#failed[@]} -gt 0 ]; then
  echo "run_fuzzers: FAILED: ${failed[*]}; logs and crashing inputs are in $WORK" >&2
  echo "fuzz: $((${#TARGETS[@]} - ${#failed[@]})) passed, ${#failed[@]} failed"
  exit 1
fi
rm -rf "$WORK"
echo "fuzz: ${#TARGETS[@]} passed, 0 failed"
