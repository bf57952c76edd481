#!/usr/bin/env bash
# How signetd's throughput and latency grow with workers, items per call and concurrency, on the
# token, keys, PKI and config that `ops/dev.sh bench` left in var/bench/ (run that first).
# usage: bench/sweep.sh [BUILD_DIR]        prints one line per run
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
B="$ROOT/var/bench"
[ -s "$B/signetd.yaml" ] || { echo "run ops/dev.sh bench first (it sets up var/bench/)" >&2; exit 2; }
export SOFTHSM2_CONF="$B/softhsm2.conf"
DURATION="${DURATION:-3s}"
# shellcheck source=ops/lib/signetd.sh
source "$ROOT/ops/lib/signetd.sh"  # signet_start_signetd

run() {  # run WORKERS "signer:items:concurrency ..."
  local workers="$1" cfg="$B/sweep.yaml"
  sed '/^batching:/,$d' "$B/signetd.yaml" >"$cfg"
  echo "batching: {workers: $workers}" >>"$cfg"
  # gRPC on port 0 and no side port: nothing chosen in advance, so one start and the shared wait.
  signet_start_signetd "$BUILD/daemon/signetd" "" "$cfg" "$B/ready.json" "$B/sweep-signetd.log" || exit 1
  local pid="$SIGNETD_PID" port="$SIGNETD_GRPC_PORT"
  local spec signer items conc
  for spec in $2; do
    IFS=: read -r signer items conc <<<"$spec"
    "$BUILD/bench/signet-bench" daemon --server "localhost:$port" --ca-file "$B/tls/ca.pem" \
      --cert-file "$B/tls/client-bench.pem" --key-file "$B/tls/client-bench.key" --channels 1 \
      --signer "$signer" --items "$items" --concurrency "$conc" --duration "$DURATION" --warmup 1s |
      python3 -c 'import json,sys; r=json.loads(sys.stdin.read()); print("workers=%s %s items=%-3d concurrency=%-4d %7.0f sig/s %7.0f calls/s  p50 %7.2f ms  p99 %7.2f ms  errors %s" % (sys.argv[1], r["curve"], r["items"], r["concurrency"], r["sigs_per_s"], r["calls_per_s"], r["p50_ms"], r["p99_ms"], r["errors"] or "none"))' "$workers"
  done
  kill -TERM "$pid"
  wait "$pid" 2>/dev/null || true
}

for w in 1 2 4; do run "$w" "p256:1:128 p256:16:8 p256:64:4 p384:1:128 p384:16:8 p384:64:4"; done
run 2 "p256:1:16 p256:1:64 p256:1:256 p384:1:16 p384:1:64 p384:1:256"
