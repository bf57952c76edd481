#!/usr/bin/env bash
# Soak: signetd under sustained open-loop load at ~80% of its measured peak for N minutes while its
# contentsignaturepki signer rotates, with the real binaries. `ops/dev.sh soak` builds them and calls
# this; the soak_smoke_test CTest entry runs a 40-second version.
#
#   1. Setup (quickstart_setup from ops/dev.sh): two SoftHSM tokens, PIN shares, root and
#      intermediate ceremonies, a plain P-384 key (normandy-p384), the dev mTLS PKI.
#   2. signetd with two signers: remote-settings (contentsignaturepki, P-256 end-entity keys that
#      rotate every --rotate-every seconds) and normandy (contentsignature, the fixed P-384 key).
#      --rotation internal (default): signetd's own timer rotates. validity is 1h (the config's
#      minimum) with clock_skew 0s and rotate_before 1h minus the period, checked every 2 s.
#      --rotation external: signetd only reloads (every 1 s); a loop runs
#      `signet rotate --config signetd.yaml --force` every period, as a CronJob would.
#   3. Peak: closed-loop `signet-bench daemon --verify` runs on remote-settings (one item per call,
#      --clients processes at once, 256 calls in flight each, --peak-seconds), --peak-readings
#      times back to back; the peak is the lowest reading's summed calls/s, and the load rate is
#      --load-percent (80) of it. One reading was not enough: on a shared VM one read 25% above the
#      others, and 80% of it was more than the machine then gave. With --rate R one reading runs
#      anyway, as the warm-up, and the rate is R.
#   4. Load for the whole duration: `signet-bench open-loop --verify` on remote-settings at that rate,
#      split over --clients processes (default 2: one client is one thread reading the answers and
#      verifying every signature, and on two busy cores it fell behind before signetd did), one item
#      per call, plus a light fixed background on normandy (20 calls/s of 2 items), so both
#      signer types and both curves stay loaded. Every signature is checked against the key its
#      key_id names, so signatures of rotated keys verify too. Errors count over the whole load (no
#      warm-up is excluded from the error count). Each client keeps at most 256 calls awaiting an
#      answer (signetd's stream limit per connection); past that its pacer waits and catches up
#      later, and latency still counts from the scheduled start. More than 1% of the scheduled calls
#      never started by the end fails the soak: the load was not sustained.
#      Before it, a baseline load: the same load for --baseline-load seconds (10% of the load, at
#      most 120 s; none under 5 minutes), whose errors count too, then 12 s idle and the first quiet
#      reading below; the load starts after that reading.
#   5. signetd's RSS (VmRSS, /proc/<pid>/status), judged quiet: once the baseline load's (or the peak
#      readings') calls are answered and again once the load's last call is answered, each time after
#      12 s of idling, in which signetd's health thread runs malloc_trim (every 10 s). The baseline
#      load is there because a fresh signetd's malloc arenas fill on their first minute of the load
#      and keep most of it, once (0.5-0.9 MiB in three of four probes). The readings keep 256 calls in
#      flight per client, signetd's stream limit per connection: the most calls the load can make
#      signetd hold at once, so the allocator's high-water mark is reached before the first quiet
#      reading (with 128 in all, a backlog under load later left memory behind that the baseline had
#      never held). Growth = quiet end / quiet start - 1 must stay below --max-rss-growth percent
#      ("off": not judged); the summary also splits each quiet reading into anonymous memory (heap,
#      stacks), file-backed pages (the binary and its libraries, read in on first use) and shared
#      memory, to say where any growth went, and compares signetd's mappings at the two readings
#      (quiet-start/quiet-end .smaps and .threads) to say which grew: the heap, other anonymous
#      memory (malloc's arenas), or the stacks of threads it names. Under load RSS follows the
#      backlog of calls in flight (12-18 KiB each: 31..45 MiB in one run whose quiet RSS was 30 MiB),
#      so samples under load measure the backlog, not a leak; they go every 5 s into rss.csv (with
#      threads, fds, queue depths and the rotation counters from /metrics) and the summary reports
#      the medians of the first and last fifth of the load after a warm-up (10% of the load, at least
#      5 s). --max-rss-mib bounds RSS at the end of the load (a runaway backlog). The token's object
#      files are counted before and after: each rotation adds three, which SoftHSM keeps in signetd's
#      memory (with the end-entity list, about 25-40 KiB a rotation until the prune). A quiet
#      reading used to land anywhere in a band of about 3 MiB, as glibc kept the free tops of its
#      thread arenas; signetd now turns glibc's fastbins off so those are trimmed
#      (common/malloc_tuning.h, docs/PERFORMANCE.md).
#   6. After the load: one signature verified like Firefox (`signet verify --x5u`, root pin), the
#      chain at each used key's x5u holds that key (SPKI SHA-256), SIGTERM and exit 0, no error or
#      warning in signetd's log (audit lines aside), no PIN in any file the soak wrote.
#   7. The summary (bench/soak_report.py): duration, rate target vs achieved, calls, signatures,
#      errors by code, verified, rotations, keys, RSS start/end/growth, latencies, and CPU per call
#      of signetd (/proc/<pid>/stat) and of the load generators (their getrusage) over the load.
#      Exit 1 when any call or item failed, a signature did not verify, fewer rotations happened than expected
#      (period P over a load of L seconds: at least max(1, floor(L/P) - 1)), RSS grew too much, or
#      any check above failed.
#
# usage: ops/soak.sh --signet BIN --signetd BIN --bench BIN [--dir DIR] [--minutes N] [--rate R]
#                    [--rotation internal|external] [--rotate-every S] [--peak-seconds S]
#                    [--peak-readings N] [--load-percent P] [--max-rss-growth PCT|off] [--max-rss-mib M]
#                    [--clients K] [--baseline-load S]
#        ops/soak.sh --check-usage [the same options]   (validate the options only; for ops/dev.sh)
# Defaults: --dir var/soak (removed and recreated), --minutes 10, --rotate-every 45 (for runs under
# 3 minutes: a quarter of the run, at least 5), --peak-seconds 10, --peak-readings 3, --load-percent 80,
# --max-rss-growth 5, no --max-rss-mib (a ceiling on RSS at the end), --clients 2, --baseline-load 10% of
# the load (at most 120 s; none for loads under 5 minutes).
set -uo pipefail
export LC_ALL=C  # EPOCHREALTIME's and awk's decimal point

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"

usage() {
  sed -n 's/^# usage: /usage: /p; s/^#        ops\/soak.sh/       ops\/soak.sh/p; s/^#                    \[/                    [/p' \
    "${BASH_SOURCE[0]}" >&2
  exit 2
}
usage_error() {
  echo "soak: $*" >&2
  exit 2
}
is_number() { [[ "$1" =~ ^([0-9]+([.][0-9]*)?|[.][0-9]+)$ ]]; }
is_positive() { is_number "$1" && awk -v v="$1" 'BEGIN { exit !(v > 0) }'; }

SIGNET="" SIGNETD="" BENCH="" DIR="$REPO/var/soak" MINUTES=10 RATE="" ROTATION=internal ROTATE_EVERY=""
PEAK_SECONDS=10 PEAK_READINGS=3 MAX_RSS_GROWTH=5 MAX_RSS_MIB="" LOAD_PERCENT=80 CLIENTS=2 CHECK_ONLY=0
BASELINE_LOAD=""
while [ $# -gt 0 ]; do
  opt="$1"
  case "$opt" in
    --check-usage) CHECK_ONLY=1; shift; continue ;;
    --signet | --signetd | --bench | --dir | --minutes | --rate | --rotation | --rotate-every | --peak-seconds | \
      --peak-readings | --max-rss-growth | --max-rss-mib | --load-percent | --clients | --baseline-load)
      [ $# -ge 2 ] || usage_error "$opt needs a value"
      val="$2"
      shift 2
      ;;
    -h | --help) usage ;;
    *) usage_error "unknown option '$opt'" ;;
  esac
  case "$opt" in
    --signet) SIGNET="$val" ;;
    --signetd) SIGNETD="$val" ;;
    --bench) BENCH="$val" ;;
    --dir) DIR="$val" ;;
    --minutes) MINUTES="$val" ;;
    --rate) RATE="$val" ;;
    --rotation) ROTATION="$val" ;;
    --rotate-every) ROTATE_EVERY="$val" ;;
    --peak-seconds) PEAK_SECONDS="$val" ;;
    --peak-readings) PEAK_READINGS="$val" ;;
    --max-rss-growth) MAX_RSS_GROWTH="$val" ;;
    --clients) CLIENTS="$val" ;;
    --max-rss-mib) MAX_RSS_MIB="$val" ;;
    --load-percent) LOAD_PERCENT="$val" ;;
    --baseline-load) BASELINE_LOAD="$val" ;;
  esac
done

is_positive "$MINUTES" || usage_error "--minutes must be a positive number of minutes (e.g. 10 or 0.5), got '$MINUTES'"
LOAD_S="$(awk -v m="$MINUTES" 'BEGIN { printf "%d", m * 60 + 0.5 }')"
[ "$LOAD_S" -ge 30 ] || usage_error "--minutes must be at least 0.5 (30 s: time for rotations under load), got '$MINUTES'"
[ "$LOAD_S" -le $((24 * 3600)) ] || usage_error "--minutes must be at most 1440, got '$MINUTES'"
if [ -n "$RATE" ]; then
  is_positive "$RATE" || usage_error "--rate must be a positive number of calls per second, got '$RATE'"
fi
case "$ROTATION" in internal | external) ;; *) usage_error "--rotation must be internal or external, got '$ROTATION'" ;; esac
if [ -z "$ROTATE_EVERY" ]; then
  ROTATE_EVERY=45
  [ "$LOAD_S" -ge 180 ] || ROTATE_EVERY=$((LOAD_S / 4 > 5 ? LOAD_S / 4 : 5))
fi
{ [[ "$ROTATE_EVERY" =~ ^[0-9]+$ ]] && [ "$ROTATE_EVERY" -ge 5 ] && [ "$ROTATE_EVERY" -le 1800 ]; } ||
  usage_error "--rotate-every must be whole seconds, 5..1800, got '$ROTATE_EVERY'"
[ $((2 * ROTATE_EVERY)) -le "$LOAD_S" ] ||
  usage_error "--rotate-every $ROTATE_EVERY leaves no room for two rotations in a ${LOAD_S}-second load"
{ [[ "$PEAK_SECONDS" =~ ^[0-9]+$ ]] && [ "$PEAK_SECONDS" -ge 2 ] && [ "$PEAK_SECONDS" -le 600 ]; } ||
  usage_error "--peak-seconds must be whole seconds, 2..600, got '$PEAK_SECONDS'"
[[ "$PEAK_READINGS" =~ ^[1-5]$ ]] || usage_error "--peak-readings must be 1..5, got '$PEAK_READINGS'"
[[ "$CLIENTS" =~ ^[1-8]$ ]] || usage_error "--clients must be 1..8, got '$CLIENTS'"
[ "$MAX_RSS_GROWTH" = off ] || is_number "$MAX_RSS_GROWTH" ||
  usage_error "--max-rss-growth must be a percentage (e.g. 5) or off, got '$MAX_RSS_GROWTH'"
[ -z "$MAX_RSS_MIB" ] || [[ "$MAX_RSS_MIB" =~ ^[1-9][0-9]{0,5}$ ]] ||
  usage_error "--max-rss-mib must be whole MiB, got '$MAX_RSS_MIB'"
[[ "$LOAD_PERCENT" =~ ^[1-9][0-9]?$|^100$ ]] || usage_error "--load-percent must be 1..100, got '$LOAD_PERCENT'"
if [ -z "$BASELINE_LOAD" ]; then
  BASELINE_LOAD=0
  [ "$LOAD_S" -lt 300 ] || BASELINE_LOAD=$((LOAD_S / 10 < 120 ? LOAD_S / 10 : 120))
fi
{ [[ "$BASELINE_LOAD" =~ ^[0-9]+$ ]] && [ "$BASELINE_LOAD" -le 600 ]; } ||
  usage_error "--baseline-load must be whole seconds, 0..600, got '$BASELINE_LOAD'"
[ "$CHECK_ONLY" -eq 1 ] && exit 0
for b in SIGNET SIGNETD BENCH; do
  [ -n "${!b}" ] || usage_error "--${b,,} is required"
  [ -x "${!b}" ] || usage_error "--${b,,} '${!b}' is not an executable file"
done
case "$DIR" in /*) ;; *) DIR="$PWD/$DIR" ;; esac

# Warm-up before the RSS baseline: 10% of the load, at least 5 s.
WARMUP_S=$((LOAD_S / 10 > 5 ? LOAD_S / 10 : 5))
EXPECTED_ROTATIONS=$((LOAD_S / ROTATE_EVERY - 1))
[ "$EXPECTED_ROTATIONS" -ge 1 ] || EXPECTED_ROTATIONS=1
BG_RATE=20 BG_ITEMS=2      # the normandy (P-384, fixed key) background stream
PEAK_IN_FLIGHT=256         # per peak client: signetd's stream limit per connection (daemon/server.cc)
SAMPLE_EVERY_S=5
SIGNER=remote-settings BG_SIGNER=normandy
EE_NAME=remote-settings.content-signature.signet.localhost
export SIGNET_PKCS11_MODULE="${SIGNET_PKCS11_MODULE:-/usr/lib/softhsm/libsofthsm2.so}"

step() { printf '\n==> %s\n' "$*"; }
now_ms() { local t=$EPOCHREALTIME; echo $((${t%.*} * 1000 + 10#${t#*.} / 1000)); }
sleep_until_ms() {
  local d=$(($1 - $(now_ms)))
  [ "$d" -gt 0 ] && sleep "$((d / 1000)).$(printf '%03d' $((d % 1000)))"
  return 0
}
die() {
  echo "soak: FAILED: $*" >&2
  [ -f "$DIR/signetd.log" ] && { echo "--- signetd log (tail, without audit lines)" >&2
    grep -v '"signet.audit"' "$DIR/signetd.log" | tail -n 10 >&2; }
  exit 1
}

PIDS=()  # everything this script started in the background; stopped on exit
SIGNETD_PID=""
cleanup() {
  local p
  touch "$DIR/stop" 2>/dev/null
  for p in "${PIDS[@]}" $SIGNETD_PID; do kill "$p" 2>/dev/null; done
  for p in "${PIDS[@]}" $SIGNETD_PID; do wait "$p" 2>/dev/null; done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- 1. Setup: tokens, PIN shares, ceremonies, dev mTLS PKI (ops/dev.sh's quickstart_setup) -------
step "setup under $DIR: tokens, PIN shares, root and intermediate ceremonies, normandy-p384, dev mTLS PKI"
rm -rf "$DIR"
mkdir -p "$DIR"
chmod 700 "$DIR"
P="$DIR/pki"
export SOFTHSM2_CONF="$P/softhsm2.conf"
# shellcheck source=ops/dev.sh
source "$HERE/dev.sh"  # defines quickstart_setup (and step); dev.sh runs nothing when sourced
set +e                 # dev.sh sets -e; this script checks each step itself and keeps going to report
(set -e; quickstart_setup "$P" "$SIGNET") >"$DIR/setup.log" 2>&1 &
wait $! || { tail -n 20 "$DIR/setup.log" >&2; die "setup failed; see $DIR/setup.log"; }
rm -f "$P/signetd.yaml"  # the quickstart's; the soak writes its own
ROOT_SHA256="$(cat "$P/root.sha256")"
echo "tokens signet-offline and signet-online, root SHA-256 $ROOT_SHA256 (log: setup.log)"

# --- 2. signetd ----------------------------------------------------------------------------------
if [ "$ROTATION" = internal ]; then
  PKI_TIMES="validity: 1h, clock_skew: 0s, rotate_before: $((3600 - ROTATE_EVERY))s"
  ROTATION_YAML="{mode: internal, check_interval: 2s, reload_interval: 1s}"
else
  PKI_TIMES="validity: 1h, clock_skew: 0s, rotate_before: 30m"
  ROTATION_YAML="{mode: external, reload_interval: 1s}"
fi
NL=$'\n'
PKI_TIMES_YAML="${PKI_TIMES//, /$NL    }"  # one key a line, indented under the signer
# The HTTP side port is in the config (x5u_base_url names it), so it is chosen before signetd starts:
# signet_start_signetd (ops/lib/signetd.sh, via dev.sh) picks it, calls write_config PORT, and starts
# again on another port if another process (CTest runs tests in parallel) took it first.
write_config() {
HTTP_PORT="$1"
cat >"$DIR/signetd.yaml" <<EOF
# signetd for the soak (ops/soak.sh): every key is described in ops/config/signetd.example.yaml.
server:
  listen: "127.0.0.1:0"
  http_listen: "127.0.0.1:$HTTP_PORT"
  ready_file: $DIR/ready.json
  x5u_dir: $P/x5u
  tls: {cert_file: $P/tls/server.pem, key_file: $P/tls/server.key, client_ca_file: $P/tls/ca.pem}
hsm: {module: $SIGNET_PKCS11_MODULE, token: signet-online, pin_file: $P/secrets/online.pin}
signers:
  - id: $SIGNER
    type: contentsignaturepki
    curve: P-256
    # SoftHSM serializes one P-256 key's signatures: one worker signs for it (docs/PERFORMANCE.md).
    hsm_concurrency: 1
    ee_name: $EE_NAME
    intermediate_key_label: quickstart-intermediate
    intermediate_cert_file: $P/ceremony/intermediate/quickstart-intermediate.crt.pem
    root_cert_file: $P/ceremony/root/quickstart-root.crt.pem
    root_sha256: "$ROOT_SHA256"
    x5u_base_url: "https://localhost:$HTTP_PORT/x5u/"
    publication_dir: $P/x5u
    x5u_ca_file: $P/tls/ca.pem
    # A new key every ${ROTATE_EVERY} s ($ROTATION rotation).
    $PKI_TIMES_YAML
  - id: $BG_SIGNER
    type: contentsignature
    key_label: normandy-p384
authorization:
  - identity: "spiffe://signet.localhost/demo"
    signers: [$SIGNER, $BG_SIGNER]
rotation: $ROTATION_YAML
logging: {level: info}
EOF
}
step "start signetd ($ROTATION rotation, a new remote-settings key every ${ROTATE_EVERY} s)"
HTTP_PORT=""
# Each config written is checked first, so a config signetd refuses fails with its own message.
write_checked_config() {
  write_config "$1"
  "$SIGNETD" --config "$DIR/signetd.yaml" --check-config >"$DIR/check-config.log" 2>&1 ||
    { cat "$DIR/check-config.log" >&2; echo "signetd --check-config refused the soak's config" >&2; return 1; }
}
signet_start_signetd "$SIGNETD" write_checked_config "$DIR/signetd.yaml" "$DIR/ready.json" "$DIR/signetd.log" ||
  die "signetd did not start (the reason is above; its log: $DIR/signetd.log)"
GRPC_PORT="$SIGNETD_GRPC_PORT"
CLIENT=(--ca-file "$P/tls/ca.pem" --cert-file "$P/tls/client-demo.pem" --key-file "$P/tls/client-demo.key")
METRICS_URL="https://localhost:$HTTP_PORT/metrics"
scrape() { curl -sS --max-time 5 --cacert "$P/tls/ca.pem" "$METRICS_URL"; }
rss_kib() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$SIGNETD_PID/status" 2>/dev/null; }
# memory_snapshot NAME: signetd's mappings (/proc/<pid>/smaps) and its threads with their stack
# pointers (name and the next-to-last field of /proc/<pid>/task/*/syscall), as NAME.smaps and
# NAME.threads, so the summary can say which mappings and whose stacks grew between the quiet readings.
memory_snapshot() {
  cat "/proc/$SIGNETD_PID/smaps" >"$DIR/$1.smaps" 2>/dev/null
  local t
  for t in /proc/"$SIGNETD_PID"/task/*; do
    printf '%s %s\n' "$(cat "$t/comm" 2>/dev/null)" "$(awk '{ print $(NF - 1) }' "$t/syscall" 2>/dev/null)"
  done >"$DIR/$1.threads"
}
# RSS in its parts, KiB: anonymous (the heap, stacks), file-backed (code and data pages of the binary
# and its libraries, read in on first use) and shared memory, as anon/file/shmem.
rss_parts() {
  awk '/^RssAnon:/ { a = $2 } /^RssFile:/ { f = $2 } /^RssShmem:/ { s = $2 } END { print a "/" f "/" s }' \
    "/proc/$SIGNETD_PID/status" 2>/dev/null
}
# CPU in clock ticks (USER_HZ): signetd's own (utime + stime), and the machine's busy and total.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$SIGNETD_PID/stat" 2>/dev/null; }
machine_ticks() { awk '$1 == "cpu" { t = 0; for (i = 2; i <= NF; i++) t += $i; print t - $5 - $6, t; exit }' /proc/stat; }
echo "signetd pid $SIGNETD_PID: gRPC localhost:$GRPC_PORT, metrics $METRICS_URL; RSS $(rss_kib) KiB"
RSS_AT_START="$(rss_kib)"

# Every SAMPLE_EVERY_S: RSS and friends, and a few counters from /metrics, until $DIR/stop exists.
sampler() {
  local next t m
  next=$(now_ms)
  echo "unix_ms,elapsed_s,phase,rss_kib,hwm_kib,threads,fds,key_changes,rotations_ok,rotations_failed,signatures_p256,signatures_p384,queue_p256,queue_p384" \
    >"$DIR/rss.csv"
  while [ ! -e "$DIR/stop" ]; do
    t=$(now_ms)
    if [ "$t" -ge "$next" ]; then
      m="$(scrape 2>/dev/null | awk -v s="$SIGNER" -v b="$BG_SIGNER" '
        $1 == "signet_signer_key_changes_total{signer=\"" s "\"}" { kc = $2 }
        $1 == "signet_rotations_total{signer=\"" s "\",result=\"rotated\"}" { ro = $2 }
        $1 == "signet_rotations_total{signer=\"" s "\",result=\"failed\"}" { rf = $2 }
        $1 == "signet_signatures_total{signer=\"" s "\"}" { sa = $2 }
        $1 == "signet_signatures_total{signer=\"" b "\"}" { sb = $2 }
        $1 == "signet_queue_depth{signer=\"" s "\"}" { qa = $2 }
        $1 == "signet_queue_depth{signer=\"" b "\"}" { qb = $2 }
        END { printf "%d,%d,%d,%d,%d,%d,%d", kc, ro, rf, sa, sb, qa, qb }')"
      awk -v t="$t" -v t0="$SOAK_T0" -v phase="$(cat "$DIR/phase" 2>/dev/null)" -v m="$m" \
        -v fds="$(find "/proc/$SIGNETD_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)" '
        /^VmRSS:/ { rss = $2 } /^VmHWM:/ { hwm = $2 } /^Threads:/ { th = $2 }
        END { if (rss != "") printf "%s,%.1f,%s,%d,%d,%d,%d,%s\n", t, (t - t0) / 1000, phase, rss, hwm, th, fds, m }' \
        "/proc/$SIGNETD_PID/status" >>"$DIR/rss.csv" 2>/dev/null
      next=$((next + SAMPLE_EVERY_S * 1000))
    fi
    sleep 0.5
  done
}
SOAK_T0=$(now_ms)
echo setup >"$DIR/phase"
sampler &
PIDS+=("$!")

# The first remote-settings key: issued by signetd itself at start (internal), or by `signet rotate`.
if [ "$ROTATION" = external ]; then
  "$SIGNET" rotate --config "$DIR/signetd.yaml" >>"$DIR/rotate.log" 2>&1 || die "the first signet rotate failed; see rotate.log"
fi
printf 'soak sample\n' >"$DIR/sample.txt"
for _ in $(seq 1 100); do
  "$SIGNET" sign --server "localhost:$GRPC_PORT" "${CLIENT[@]}" --signer "$SIGNER" --input "$DIR/sample.txt" \
    >/dev/null 2>>"$DIR/sign.err" && break
  sleep 0.1
done || true
"$SIGNET" sign --server "localhost:$GRPC_PORT" "${CLIENT[@]}" --signer "$SIGNER" --input "$DIR/sample.txt" \
  >/dev/null 2>>"$DIR/sign.err" || die "$SIGNER has no key 10 s after start; see sign.err"

# --- 3. Peak -----------------------------------------------------------------------------------------
RATE_GIVEN=0
[ -n "$RATE" ] && RATE_GIVEN=1
BENCH_COMMON=(--server "localhost:$GRPC_PORT" "${CLIENT[@]}" --channels 1 --verify)
# The open-loop clients keep at most PEAK_IN_FLIGHT calls awaiting an answer, as many as signetd
# takes on their one connection. Past that their pacer waits (and counts the lag) instead of queueing
# calls in the client: when the shared machine slowed for a moment, such calls waited there past
# their 30-s deadline, and the work signetd then spent on them was lost, so it never caught up
# (a 10-minute soak with 437 629 failed calls at 80% of its peak, on a machine 95% busy).
OPEN_LOOP_COMMON=("${BENCH_COMMON[@]}" --max-in-flight "$PEAK_IN_FLIGHT")
# peak_readings N: N closed-loop readings back to back; PEAK = the lowest, its reports in peak-<client>.json.
peak_readings() {
  PEAK="" PEAK_READINGS_SEEN=""
  for r in $(seq 1 "$1"); do
    pids=()
    for c in $(seq 1 "$CLIENTS"); do
      "$BENCH" daemon "${BENCH_COMMON[@]}" --signer "$SIGNER" --items 1 --concurrency "$PEAK_IN_FLIGHT" \
        --duration "${PEAK_SECONDS}s" --warmup 1s >"$DIR/peak-r$r-$c.json" 2>"$DIR/peak-r$r-$c.err" &
      pids+=("$!")
    done
    for c in $(seq 1 "$CLIENTS"); do
      wait "${pids[$((c - 1))]}" || { cat "$DIR/peak-r$r-$c.err" >&2; die "peak reading $r failed"; }
    done
    reading="$(cat "$DIR"/peak-r"$r"-*.json | python3 -c 'import json,sys; print(round(sum(json.loads(l)["calls_per_s"] for l in sys.stdin if l.startswith("{")), 1))')" ||
      die "peak reading $r printed no calls_per_s"
    echo "  reading $r: $reading calls/s"
    PEAK_READINGS_SEEN="$PEAK_READINGS_SEEN${PEAK_READINGS_SEEN:+/}$reading"
    # The lowest reading is the peak; its clients' reports become peak-<client>.json for the summary.
    if [ -z "$PEAK" ] || awk -v a="$reading" -v b="$PEAK" 'BEGIN { exit !(a < b) }'; then
      PEAK="$reading"
      for c in $(seq 1 "$CLIENTS"); do cp "$DIR/peak-r$r-$c.json" "$DIR/peak-$c.json"; done
    fi
  done
}
if [ -n "$RATE" ]; then
  step "rate: $RATE calls/s (given); warm-up: one closed-loop reading on $SIGNER, ${PEAK_SECONDS} s, not used for the rate"
  echo peak >"$DIR/phase"
  peak_readings 1
else
  step "peak: closed loop on $SIGNER, $PEAK_READINGS reading(s) of ${PEAK_SECONDS} s, $CLIENTS clients x $PEAK_IN_FLIGHT calls in flight, 1 item per call, --verify; the lowest counts"
  echo peak >"$DIR/phase"
  peak_readings "$PEAK_READINGS"
  RATE="$(awk -v p="$PEAK" -v f="$LOAD_PERCENT" 'BEGIN { r = int(f / 100 * p); print (r > 1 ? r : 1) }')"
  echo "peak: $PEAK calls/s (the lowest of $PEAK_READINGS_SEEN); load rate: $LOAD_PERCENT% = $RATE calls/s"
fi
CLIENT_RATE="$(awk -v r="$RATE" -v n="$CLIENTS" 'BEGIN { printf "%.3f", r / n }')"

# wait_for_clients END_MS PID...: wait until the given load clients have exited. They end when
# their last call has an answer; calls have a 30 s deadline, so a client still running 45 s after
# END_MS (its load's end) means an overloaded signetd (or client): all are stopped, and it returns 1.
wait_for_clients() {
  local end_ms="$1" p alive
  shift
  while :; do
    alive=0
    for p in "$@"; do kill -0 "$p" 2>/dev/null && alive=1; done
    [ "$alive" -eq 1 ] || return 0
    if [ "$(now_ms)" -gt $((end_ms + 45000)) ]; then
      echo "the load clients still wait for answers 45 s after the load's end: stopping them" >&2
      kill "$@" 2>/dev/null
      return 1
    fi
    sleep 0.5
  done
}

# start_load SECONDS PREFIX: the load's clients in the background, for SECONDS: CLIENTS on SIGNER at
# CLIENT_RATE each, then one on BG_SIGNER. Output in PREFIX-<signer>[-<c>].json/.err; their PIDs in
# LOAD_PIDS, in that order.
start_load() {
  local seconds="$1" prefix="$2" c
  LOAD_PIDS=()
  for c in $(seq 1 "$CLIENTS"); do
    "$BENCH" open-loop "${OPEN_LOOP_COMMON[@]}" --signer "$SIGNER" --items 1 --rate "$CLIENT_RATE" \
      --duration "${seconds}s" --warmup 0s >"$DIR/$prefix-$SIGNER-$c.json" 2>"$DIR/$prefix-$SIGNER-$c.err" &
    LOAD_PIDS+=("$!")
    PIDS+=("$!")
  done
  "$BENCH" open-loop "${OPEN_LOOP_COMMON[@]}" --signer "$BG_SIGNER" --items "$BG_ITEMS" --rate "$BG_RATE" \
    --duration "${seconds}s" --warmup 0s >"$DIR/$prefix-$BG_SIGNER.json" 2>"$DIR/$prefix-$BG_SIGNER.err" &
  LOAD_PIDS+=("$!")
  PIDS+=("$!")
}

# collect_rcs PREFIX: the exit codes of start_load's clients (LOAD_PIDS, in their order) in LOAD_RCS
# (" rc rc ..."), and the stderr of each that failed.
collect_rcs() {
  local prefix="$1" i rc err
  LOAD_RCS=""
  for i in "${!LOAD_PIDS[@]}"; do
    wait "${LOAD_PIDS[$i]}"
    rc=$?
    LOAD_RCS="$LOAD_RCS $rc"
    if [ "$rc" -ne 0 ]; then
      err="$DIR/$prefix-$BG_SIGNER.err"
      [ "$i" -lt "$CLIENTS" ] && err="$DIR/$prefix-$SIGNER-$((i + 1)).err"
      cat "$err" >&2
    fi
  done
}

# The baseline load: the load itself (same rates, clients and rotations) for --baseline-load seconds,
# before the quiet reading that RSS growth is judged from. A fresh signetd's malloc arenas fill on
# their first minute of this load and keep most of it: quiet RSS rose by 0.5-0.9 MiB after the first
# 45-s load in three of four probes, and about 0.3 MiB on average (-1.5..+2.6) after later ones
# (docs/PERFORMANCE.md). Without it, that one-off filling counts as growth. Its calls count like the
# load's: every error fails.
BASELINE_RCS="" BASELINE_STUCK=0
if [ "$BASELINE_LOAD" -gt 0 ]; then
  step "baseline load: $RATE calls/s on $SIGNER + $BG_RATE calls/s x $BG_ITEMS items on $BG_SIGNER, ${BASELINE_LOAD} s, before the quiet reading"
  scrape >"$DIR/metrics-before-baseline.txt" || die "cannot read $METRICS_URL"
  echo baseline >"$DIR/phase"
  BASELINE_T0=$(now_ms)
  start_load "$BASELINE_LOAD" baseline
  wait_for_clients $((BASELINE_T0 + BASELINE_LOAD * 1000)) "${LOAD_PIDS[@]}" || BASELINE_STUCK=1
  collect_rcs baseline
  BASELINE_RCS="$LOAD_RCS"
  echo "baseline load done: signet-bench exit codes$BASELINE_RCS ($SIGNER clients, then $BG_SIGNER)"
fi

# Quiet RSS before the load: every call of the baseline load (or of the readings) is answered; 12 s
# idle cover a malloc_trim.
QUIET_S=12
QUIET_AFTER="the readings"
[ "$BASELINE_LOAD" -eq 0 ] || QUIET_AFTER="the baseline load"
echo quiet >"$DIR/phase"
sleep "$QUIET_S"
RSS_QUIET_START="$(rss_kib)" RSS_QUIET_START_PARTS="$(rss_parts)"
memory_snapshot quiet-start
token_objects() { find "$P/tokens" -name '*.object' 2>/dev/null | wc -l; }
OBJECTS_BEFORE="$(token_objects)"
echo "RSS quiet before the load (${QUIET_S} s after $QUIET_AFTER): $RSS_QUIET_START KiB (anon/file/shmem $RSS_QUIET_START_PARTS)"

# --- 4-5. Load, rotations, RSS -------------------------------------------------------------------------
step "load: $RATE calls/s on $SIGNER ($CLIENTS clients) + $BG_RATE calls/s x $BG_ITEMS items on $BG_SIGNER, open loop, --verify, ${LOAD_S} s"
echo "RSS samples every ${SAMPLE_EVERY_S} s in rss.csv (under load: reported after ${WARMUP_S} s of warm-up); expecting >= $EXPECTED_ROTATIONS rotations"
scrape >"$DIR/metrics-before-load.txt" || die "cannot read $METRICS_URL"
echo warmup >"$DIR/phase"
LOAD_T0=$(now_ms)
CPU_T0="$(cpu_ticks)" MACHINE_T0="$(machine_ticks)"
start_load "$LOAD_S" load
if [ "$ROTATION" = external ]; then
  # The CronJob's part, every ROTATE_EVERY s while the load runs (not in its last 2 s).
  (
    next=$((LOAD_T0 + ROTATE_EVERY * 1000))
    while [ $next -lt $((LOAD_T0 + LOAD_S * 1000 - 2000)) ] && [ ! -e "$DIR/stop" ]; do
      sleep_until_ms "$next"
      if "$SIGNET" rotate --config "$DIR/signetd.yaml" --force >>"$DIR/rotate.log" 2>&1; then
        echo "soak: rotate ok at $(now_ms)" >>"$DIR/rotate.log"
      else
        echo "soak: rotate FAILED at $(now_ms)" >>"$DIR/rotate.log"
      fi
      next=$((next + ROTATE_EVERY * 1000))
    done
  ) &
  PIDS+=("$!")
fi

sleep_until_ms $((LOAD_T0 + WARMUP_S * 1000))
RSS_START="$(rss_kib)"
RSS_START_MS=$(now_ms)
echo load >"$DIR/phase"
echo "RSS at the end of the warm-up: $RSS_START KiB"
# Progress once a minute (long runs), then the end sample 2 s before the load stops.
t=$((LOAD_T0 + 60000))
while [ $t -lt $((LOAD_T0 + LOAD_S * 1000 - 2000)) ]; do
  sleep_until_ms $t
  kill -0 "${LOAD_PIDS[0]}" 2>/dev/null || break
  echo "  $(((t - LOAD_T0) / 1000)) s: RSS $(rss_kib) KiB, $(tail -n 1 "$DIR/rss.csv" | cut -d, -f8) key changes so far"
  t=$((t + 60000))
done
sleep_until_ms $((LOAD_T0 + LOAD_S * 1000 - 2000))
RSS_END="$(rss_kib)"
RSS_END_MS=$(now_ms)
echo "RSS 2 s before the end: $RSS_END KiB"
# The load clients end when their last call has an answer (stopped, and a failure, if stuck).
GENERATOR_STUCK=0
wait_for_clients $((LOAD_T0 + LOAD_S * 1000)) "${LOAD_PIDS[@]}" || GENERATOR_STUCK=1
collect_rcs load
read -r -a load_rcs <<<"$LOAD_RCS"
MAIN_RCS=" ${load_rcs[*]:0:$CLIENTS}"
BG_RC="${load_rcs[$CLIENTS]}"
LOAD_END_MS=$(now_ms)
CPU_T1="$(cpu_ticks)" MACHINE_T1="$(machine_ticks)"
echo after >"$DIR/phase"
scrape >"$DIR/metrics-after-load.txt" || die "cannot read $METRICS_URL after the load"
# Quiet RSS after the load: its last call is answered (the clients have exited); 12 s cover a malloc_trim.
echo quiet-after >"$DIR/phase"
sleep "$QUIET_S"
RSS_QUIET_END="$(rss_kib)" RSS_QUIET_END_PARTS="$(rss_parts)"
memory_snapshot quiet-end
OBJECTS_AFTER="$(token_objects)"
echo "RSS quiet after the load (${QUIET_S} s after its last answer): $RSS_QUIET_END KiB (anon/file/shmem $RSS_QUIET_END_PARTS)"
echo after >"$DIR/phase"
echo "signet-bench exit codes: $SIGNER$MAIN_RCS, $BG_SIGNER $BG_RC"

# --- 6. Afterwards: Firefox's verification, chains of the used keys, clean stop, logs, PINs ----------
step "after the load: verify like Firefox, the used keys' chains, SIGTERM, logs, PINs"
FIREFOX_OK=0
if header="$("$SIGNET" sign --server "localhost:$GRPC_PORT" "${CLIENT[@]}" --signer "$SIGNER" \
  --input "$DIR/sample.txt" 2>>"$DIR/sign.err")"; then
  x5u="$(printf '%s' "$header" | sed -n 's/^x5u=\([^;]*\);.*/\1/p')"
  "$SIGNET" verify --input "$DIR/sample.txt" --signature "$header" --x5u "$x5u" --ca-file "$P/tls/ca.pem" \
    --root-sha256 "$ROOT_SHA256" --name "$EE_NAME" >"$DIR/verify.log" 2>&1 && FIREFOX_OK=1
  cat "$DIR/verify.log"
fi
# Each key that signed under load: its x5u chain's end-entity SPKI must be the key's.
CHAINS_OK=0 CHAINS_BAD=0
while read -r key_id x5u spki; do
  [ -n "$key_id" ] || continue
  got="$(curl -sf --max-time 5 --cacert "$P/tls/ca.pem" "$x5u" | openssl x509 -pubkey -noout 2>/dev/null |
    openssl pkey -pubin -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1)"
  if [ "$got" = "$spki" ]; then
    CHAINS_OK=$((CHAINS_OK + 1))
  else
    CHAINS_BAD=$((CHAINS_BAD + 1))
    echo "key $key_id: the chain at $x5u does not hold its key (SPKI $got, want $spki)" >&2
  fi
done < <(python3 -c '
import json, sys
keys = {}
for path in sys.argv[1:]:
    try:
        r = json.loads(open(path).read().strip().splitlines()[-1])
    except Exception:
        continue
    for k in r["keys"]:
        keys[k["key_id"]] = (k["x5u"], k["spki_sha256"])
for key_id, (x5u, spki) in sorted(keys.items()):
    print(key_id, x5u, spki)' "$DIR"/load-$SIGNER-*.json)
PUBLISHED="$(find "$P/x5u" -name "$SIGNER-*.pem" | wc -l)"

kill -TERM "$SIGNETD_PID"
wait "$SIGNETD_PID"
SIGNETD_RC=$?
SIGNETD_PID=""
touch "$DIR/stop"
STOPPED_CLEANLY=0
grep -q 'signetd: stopped cleanly' "$DIR/signetd.log" && STOPPED_CLEANLY=1
# mozlog Severity: 3 error, 4 warning (audit lines are Severity 6 and left out anyway).
LOG_ERRORS="$(grep -v '"signet.audit"' "$DIR/signetd.log" | grep -c '"Severity":[0-3],')"
LOG_WARNINGS="$(grep -v '"signet.audit"' "$DIR/signetd.log" | grep -c '"Severity":4,')"
ROTATE_FAILURES="$(grep -c 'soak: rotate FAILED' "$DIR/rotate.log" 2>/dev/null)"
PIN_LEAKS=0
for pin in "$P"/secrets/*.pin; do
  if grep -rqF --exclude-dir=secrets "$(cat "$pin")" "$DIR"; then
    echo "the PIN in $(basename "$pin") appears in a file the soak wrote" >&2
    PIN_LEAKS=$((PIN_LEAKS + 1))
  fi
done

cat >"$DIR/facts.env" <<EOF
minutes=$MINUTES
load_s=$LOAD_S
warmup_s=$WARMUP_S
baseline_load_s=$BASELINE_LOAD
baseline_rcs=${BASELINE_RCS# }
baseline_stuck=$BASELINE_STUCK
rate=$RATE
rate_given=$RATE_GIVEN
bg_rate=$BG_RATE
bg_items=$BG_ITEMS
rotation=$ROTATION
rotate_every=$ROTATE_EVERY
expected_rotations=$EXPECTED_ROTATIONS
max_rss_growth=$MAX_RSS_GROWTH
max_rss_mib=$MAX_RSS_MIB
load_percent=$LOAD_PERCENT
peak_readings=${PEAK_READINGS_SEEN:-}
rss_at_start_kib=$RSS_AT_START
rss_start_kib=$RSS_START
rss_end_kib=$RSS_END
rss_quiet_start_kib=$RSS_QUIET_START
rss_quiet_end_kib=$RSS_QUIET_END
rss_quiet_start_parts_kib=$RSS_QUIET_START_PARTS
rss_quiet_end_parts_kib=$RSS_QUIET_END_PARTS
quiet_s=$QUIET_S
token_objects_before=$OBJECTS_BEFORE
token_objects_after=$OBJECTS_AFTER
rss_start_ms=$RSS_START_MS
rss_end_ms=$RSS_END_MS
load_t0_ms=$LOAD_T0
load_end_ms=$LOAD_END_MS
clk_tck=$(getconf CLK_TCK)
signetd_cpu_ticks_load=$((CPU_T1 - CPU_T0))
machine_busy_ticks_load=$((${MACHINE_T1% *} - ${MACHINE_T0% *}))
machine_total_ticks_load=$((${MACHINE_T1#* } - ${MACHINE_T0#* }))
clients=$CLIENTS
main_rcs=${MAIN_RCS# }
bg_rc=$BG_RC
firefox_verify_ok=$FIREFOX_OK
chains_ok=$CHAINS_OK
chains_bad=$CHAINS_BAD
published_chains=$PUBLISHED
signetd_rc=$SIGNETD_RC
stopped_cleanly=$STOPPED_CLEANLY
log_errors=$LOG_ERRORS
log_warnings=$LOG_WARNINGS
rotate_failures=${ROTATE_FAILURES:-0}
pin_leaks=$PIN_LEAKS
generator_stuck=$GENERATOR_STUCK
cores=$(nproc)
loadavg=$(cut -d' ' -f1-3 /proc/loadavg | tr ' ' /)
EOF

# --- 7. The summary -------------------------------------------------------------------------------
step "summary (files: $DIR)"
python3 "$REPO/bench/soak_report.py" "$DIR" "$SIGNER" "$BG_SIGNER"
