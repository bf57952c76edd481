# shellcheck shell=bash
# Sourced by the scripts that start signetd (ops/dev.sh, the shell tests): start it and wait for its
# ready file, retrying when a side port chosen in advance was taken first.
#
# The HTTPS side port is often picked before signetd starts, because the config names it twice
# (server.http_listen and a signer's x5u_base_url). Another process (CTest runs tests in parallel) can
# bind that port in between; signetd then exits with "cannot bind 127.0.0.1:PORT: Address already in
# use", and the only fix is a new port in the config and another start.
#
#   signet_pick_port
#       prints a loopback TCP port that was free a moment ago.
#   signet_start_signetd [--keep-config] [--append-log] SIGNETD WRITE_CONFIG CONFIG READY_FILE LOG [ARG...]
#       Up to 5 attempts: WRITE_CONFIG PORT (a function name, called in this shell) writes CONFIG for the
#       side port PORT, a fresh one each attempt; then `SIGNETD --config CONFIG ARG...` starts in the
#       background with its stderr in LOG, and READY_FILE (server.ready_file) must appear, non-empty,
#       within 15 s. Only the "Address already in use" bind failure is retried.
#       --keep-config  the first attempt starts CONFIG as already written (a port chosen earlier, e.g.
#                      kept across runs); WRITE_CONFIG is called only for a retry.
#       --append-log   append to LOG instead of truncating it (each attempt's own lines are judged).
#       An empty WRITE_CONFIG starts CONFIG as it is, once (for configs with no port chosen in advance).
#       Sets SIGNETD_PID, SIGNETD_GRPC_PORT and SIGNETD_HTTP_PORT (both from READY_FILE; the side
#       port is 0 when there is none) and returns 0. On failure it says why on stderr with the end of
#       LOG, leaves no signetd running (SIGNETD_PID is empty) and returns 1. SIGNETD_PID names the
#       attempt's process while it waits, so a caller's EXIT trap can stop it. Call it directly, not
#       in $(...) or a pipeline: the variables and the child process must belong to the caller's shell.
#   signet_wait_ready PID READY_FILE [SECONDS]
#       waits (default 15 s) for a non-empty READY_FILE: 0 when it is there, 1 when PID has exited,
#       2 on timeout. Prints nothing.
#   signet_ready_port READY_FILE grpc|http
#       prints the port signetd wrote in READY_FILE (nothing if it is missing).
#
# Written for `set -uo pipefail` and for callers under `set -e` alike. Local names start with _sg_,
# since WRITE_CONFIG runs inside signet_start_signetd and sees its locals.

signet_pick_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

signet_ready_port() {
  sed -n "s/.*\"$2_port\": \([0-9]*\).*/\1/p" "$1" 2>/dev/null || true
}

signet_wait_ready() {
  local _sg_pid="$1" _sg_ready="$2" _sg_secs="${3:-15}" _sg_i
  for ((_sg_i = 0; _sg_i < _sg_secs * 10; _sg_i++)); do
    [ -s "$_sg_ready" ] && return 0
    if ! kill -0 "$_sg_pid" 2>/dev/null; then
      [ -s "$_sg_ready" ] && return 0
      return 1
    fi
    sleep 0.1
  done
  [ -s "$_sg_ready" ] && return 0
  return 2
}

# _signet_log_tail LOG FROM: the last lines LOG got from byte offset FROM on (this attempt's), indented.
_signet_log_tail() {
  echo "--- the end of $1:" >&2
  { tail -c "+$(($2 + 1))" "$1" 2>/dev/null | tail -n 20 | sed 's/^/  /' >&2; } || true
}

# _signet_stop PID: a signetd that never became ready. SIGTERM first: signetd blocks it during its start
# and acts on it once the start is over, leaving the token as a clean stop does; SIGKILL after 5 s.
_signet_stop() {
  local _sg_i
  kill -TERM "$1" 2>/dev/null || true
  for ((_sg_i = 0; _sg_i < 50; _sg_i++)); do
    kill -0 "$1" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

signet_start_signetd() {
  local _sg_keep=0 _sg_append=0
  while [ $# -gt 0 ]; do
    case "$1" in
      --keep-config) _sg_keep=1; shift ;;
      --append-log) _sg_append=1; shift ;;
      *) break ;;
    esac
  done
  if [ $# -lt 5 ]; then
    echo "usage: signet_start_signetd [--keep-config] [--append-log] SIGNETD WRITE_CONFIG CONFIG" \
      "READY_FILE LOG [ARG...]" >&2
    return 2
  fi
  local _sg_bin="$1" _sg_write="$2" _sg_config="$3" _sg_ready="$4" _sg_log="$5"
  shift 5
  local _sg_attempt _sg_attempts=5 _sg_port="" _sg_from=0 _sg_rc
  SIGNETD_PID="" SIGNETD_GRPC_PORT="" SIGNETD_HTTP_PORT=""
  [ -n "$_sg_write" ] || _sg_attempts=1  # nothing to change in the config: a retry would fail alike
  for ((_sg_attempt = 1; _sg_attempt <= _sg_attempts; _sg_attempt++)); do
    if [ -n "$_sg_write" ] && { [ "$_sg_keep" -eq 0 ] || [ "$_sg_attempt" -gt 1 ]; }; then
      _sg_port="$(signet_pick_port)" || _sg_port=""
      [ -n "$_sg_port" ] || { echo "signet_start_signetd: cannot pick a free port (python3)" >&2; return 1; }
      "$_sg_write" "$_sg_port" ||
        { echo "signet_start_signetd: '$_sg_write $_sg_port' could not write $_sg_config" >&2; return 1; }
    fi
    rm -f "$_sg_ready"
    if [ "$_sg_append" -eq 1 ]; then
      _sg_from="$(stat -c %s "$_sg_log" 2>/dev/null)" || _sg_from=0
      "$_sg_bin" --config "$_sg_config" "$@" 2>>"$_sg_log" &
    else
      _sg_from=0
      "$_sg_bin" --config "$_sg_config" "$@" 2>"$_sg_log" &
    fi
    SIGNETD_PID=$!
    _sg_rc=0
    signet_wait_ready "$SIGNETD_PID" "$_sg_ready" 15 || _sg_rc=$?
    if [ "$_sg_rc" -eq 0 ]; then
      # shellcheck disable=SC2034  # for the caller
      SIGNETD_GRPC_PORT="$(signet_ready_port "$_sg_ready" grpc)"
      # shellcheck disable=SC2034  # for the caller
      SIGNETD_HTTP_PORT="$(signet_ready_port "$_sg_ready" http)"
      return 0
    fi
    if [ "$_sg_rc" -eq 2 ]; then
      echo "signet_start_signetd: signetd (pid $SIGNETD_PID) wrote no ready file $_sg_ready in 15 s; stopping it" >&2
      _signet_log_tail "$_sg_log" "$_sg_from"
      _signet_stop "$SIGNETD_PID"
      SIGNETD_PID=""
      return 1
    fi
    _sg_rc=0
    wait "$SIGNETD_PID" 2>/dev/null || _sg_rc=$?
    SIGNETD_PID=""
    # grep without -q reads to the end: tail never dies of SIGPIPE, which pipefail would count.
    if tail -c "+$((_sg_from + 1))" "$_sg_log" 2>/dev/null | grep 'cannot bind .*Address already in use' >/dev/null
    then
      if [ "$_sg_attempt" -lt "$_sg_attempts" ]; then
        echo "signet_start_signetd: side port ${_sg_port:-of $_sg_config} was taken before signetd bound it;" \
          "again with another" >&2
        continue
      fi
      if [ -n "$_sg_write" ]; then
        echo "signet_start_signetd: the side port was taken before signetd bound it, $_sg_attempts times in a row" >&2
      fi
    fi
    echo "signet_start_signetd: signetd exited at start (exit code $_sg_rc)" >&2
    _signet_log_tail "$_sg_log" "$_sg_from"
    return 1
  done
  return 1
}
