#!/usr/bin/env bash
# The systemd units in ops/systemd/ as systemd itself reads them:
#   1. `systemd-analyze verify` accepts signetd.service, signet-rotate.service and signet-rotate.timer
#      with no message at all (verify exits 0 on an unknown or misspelt directive and only warns, so
#      any output fails the test);
#   2. `systemd-analyze security --offline` rates each service at exposure 2.0 or better;
#   3. the hardening the units promise is present, nothing carries a PIN, and the paths agree with
#      ops/config/signetd.example.yaml;
#   4. systemd-sysusers and systemd-tmpfiles, run on a throwaway --root, create the user, group and
#      directories the units expect;
#   5. each check fails on a deliberately broken copy (so a check that can never fail is caught).
#
# verify needs every ExecStart binary to exist and be executable. The shipped units name
# /usr/local/bin/signetd and /usr/local/bin/signet; the test copies the units into a temporary
# directory and points those paths at stub executables there (/bin/sh and /bin/kill, used by
# ExecStartPost and ExecReload, exist on any Debian machine).
#
# Needs systemd-analyze, systemd-sysusers and systemd-tmpfiles (Debian package `systemd`, installed
# by ops/install-deps.sh). When they are missing the test FAILS: it never skips.
#
# usage: tests/ops/systemd_units_test.sh [REPO_ROOT]
set -uo pipefail

ROOT="${1:-$(cd "$(dirname "$0")/../.." && pwd)}"
UNITS="$ROOT/ops/systemd"
CONFIG="$ROOT/ops/config/signetd.example.yaml"
ANALYZE="${SYSTEMD_ANALYZE:-systemd-analyze}"
SYSUSERS="${SYSTEMD_SYSUSERS:-systemd-sysusers}"
TMPFILES="${SYSTEMD_TMPFILES:-systemd-tmpfiles}"
SERVICES=(signetd.service signet-rotate.service)
ALL_UNITS=(signetd.service signet-rotate.service signet-rotate.timer)

failures=0
fail() { echo "FAIL: $*" >&2; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }

for tool in "$ANALYZE" "$SYSUSERS" "$TMPFILES"; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "FAIL: $tool not found. Install Debian's 'systemd' package (ops/install-deps.sh does)." >&2
    exit 1
  fi
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/signet-systemd-test.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/bin"
for b in signetd signet; do
  printf '#!/bin/sh\nexit 0\n' >"$WORK/bin/$b"
  chmod 0755 "$WORK/bin/$b"
done

# Copies the shipped units into $1 with the binaries pointed at the stubs.
stage() {
  local dir="$1"
  mkdir -p "$dir"
  for u in "${ALL_UNITS[@]}"; do
    sed -e "s#/usr/local/bin/signetd #$WORK/bin/signetd #" \
        -e "s#/usr/local/bin/signet #$WORK/bin/signet #" "$UNITS/$u" >"$dir/$u"
  done
}

# verify: exit status 0 and not a single line of output.
check_verify() {
  local dir="$1" out rc
  out="$(cd "$dir" && "$ANALYZE" verify --man=no --generators=no "${ALL_UNITS[@]/#/./}" 2>&1)"
  rc=$?
  if [ "$rc" -ne 0 ] || [ -n "$out" ]; then
    echo "systemd-analyze verify (exit $rc):"$'\n'"$out" >&2
    return 1
  fi
}

check_security() {
  local dir="$1" s out
  for s in "${SERVICES[@]}"; do
    # --threshold counts tenths: 20 = exposure 2.0.
    if ! out="$(cd "$dir" && "$ANALYZE" security --offline=true --threshold=20 "./$s" 2>&1)"; then
      echo "$s: $(echo "$out" | tail -n 1)" >&2
      return 1
    fi
  done
}

# The directives each service must carry, exactly as written.
REQUIRED=(
  "User=signet" "Group=signet" "NoNewPrivileges=yes" "CapabilityBoundingSet=" "AmbientCapabilities="
  "ProtectSystem=strict" "ProtectHome=yes" "PrivateTmp=yes" "PrivateDevices=yes"
  "ProtectKernelTunables=yes" "ProtectKernelModules=yes" "ProtectKernelLogs=yes" "ProtectControlGroups=yes"
  "RestrictNamespaces=yes" "LockPersonality=yes" "MemoryDenyWriteExecute=yes"
  "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6" "SystemCallFilter=@system-service"
  "UMask=0077" "LimitCORE=0" "ReadWritePaths=-/var/lib/softhsm/tokens" "StateDirectory=signetd signetd/x5u"
)
check_directives() {
  local dir="$1" s d bad=0
  for s in "${SERVICES[@]}"; do
    for d in "${REQUIRED[@]}"; do
      grep -qxF -- "$d" "$dir/$s" || { echo "$s: missing '$d'" >&2; bad=1; }
    done
    # DynamicUser would give the token files and chains a UID that changes between runs.
    if grep -q '^DynamicUser=' "$dir/$s"; then echo "$s: DynamicUser= is set" >&2; bad=1; fi
    # ReadWritePaths only where needed: the SoftHSM token directory, nothing else.
    if grep '^ReadWritePaths=' "$dir/$s" | grep -vqxF 'ReadWritePaths=-/var/lib/softhsm/tokens'; then
      echo "$s: an unexpected ReadWritePaths= line" >&2; bad=1
    fi
    # PINs come from the file named in signetd.yaml: never argv, never the unit's environment.
    if grep -Eiq -- '--pin|--so-pin|pin-env|^Environment(File)?=.*PIN' "$dir/$s"; then
      echo "$s: a PIN on the command line or in the environment" >&2; bad=1
    fi
  done
  local d1
  for d1 in "Type=exec" "ExecReload=/bin/kill -HUP \$MAINPID" "Restart=on-failure" "RestartPreventExitStatus=64 78" \
            "RuntimeDirectory=signetd" "ExecStart=$WORK/bin/signetd --config /etc/signetd/signetd.yaml" \
            "StartLimitBurst=3"; do
    grep -qxF -- "$d1" "$dir/signetd.service" || { echo "signetd.service: missing '$d1'" >&2; bad=1; }
  done
  for d1 in "Type=oneshot" "ExecStart=$WORK/bin/signet rotate --config /etc/signetd/signetd.yaml"; do
    grep -qxF -- "$d1" "$dir/signet-rotate.service" || { echo "signet-rotate.service: missing '$d1'" >&2; bad=1; }
  done
  grep -qxF "OnCalendar=hourly" "$dir/signet-rotate.timer" || { echo "timer: missing OnCalendar=hourly" >&2; bad=1; }
  return $bad
}

# The unit and the annotated config describe one installation.
check_config_agrees() {
  local bad=0
  grep -qE '^  ready_file: /run/signetd/ready\.json$' "$CONFIG" || { echo "example config: ready_file is not /run/signetd/ready.json" >&2; bad=1; }
  grep -qF '/run/signetd/ready.json' "$UNITS/signetd.service" || { echo "signetd.service does not wait for /run/signetd/ready.json" >&2; bad=1; }
  grep -qE '^  x5u_dir: /var/lib/signetd/' "$CONFIG" || { echo "example config: x5u_dir is not under /var/lib/signetd (StateDirectory)" >&2; bad=1; }
  grep -qE '^    publication_dir: /var/lib/signetd/' "$CONFIG" || { echo "example config: publication_dir is not under /var/lib/signetd" >&2; bad=1; }
  grep -qE '^  pin_file: /etc/signetd/' "$CONFIG" || { echo "example config: pin_file is not under /etc/signetd" >&2; bad=1; }
  return $bad
}

# sysusers + tmpfiles on a throwaway root: the user, its groups, and the directories with their modes.
check_sysusers_tmpfiles() {
  local src="$1" root="$2" bad=0 out
  mkdir -p "$root/etc/sysusers.d" "$root/etc/tmpfiles.d"
  printf 'root:x:0:0:root:/root:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nsofthsm:x:995:\n' >"$root/etc/group"
  cp "$src/signet.sysusers.conf" "$root/etc/sysusers.d/signet.conf"
  cp "$src/signet.tmpfiles.conf" "$root/etc/tmpfiles.d/signet.conf"
  if ! out="$("$SYSUSERS" --root="$root" signet.conf 2>&1)"; then echo "systemd-sysusers: $out" >&2; return 1; fi
  grep -qE '^signet:x:[0-9]+:[0-9]+:[^:]*:/var/lib/signetd:/usr/sbin/nologin$' "$root/etc/passwd" ||
    { echo "sysusers: no signet system user with home /var/lib/signetd and nologin" >&2; bad=1; }
  grep -qE '^softhsm:x:995:(.*,)?signet(,.*)?$' "$root/etc/group" || { echo "sysusers: signet is not in group softhsm" >&2; bad=1; }
  if ! out="$("$TMPFILES" --root="$root" --create signet.conf 2>&1)"; then echo "systemd-tmpfiles: $out" >&2; return 1; fi
  local gid
  gid="$(awk -F: '$1 == "signet" { print $3 }' "$root/etc/group")"
  for want in "/etc/signetd 750 0 $gid" "/etc/signetd/tls 750 0 $gid" "/etc/signetd/pki 755 0 0"; do
    set -- $want
    local got
    got="$(stat -c '%a %u %g' "$root$1" 2>/dev/null)"
    [ "$got" = "$2 $3 $4" ] || { echo "tmpfiles: $1 is '$got', want '$2 $3 $4'" >&2; bad=1; }
  done
  return $bad
}

# ---- The shipped units.
stage "$WORK/good"
check_verify "$WORK/good" && pass "systemd-analyze verify accepts ${ALL_UNITS[*]} without a message" || fail "verify"
check_security "$WORK/good" && pass "systemd-analyze security: exposure <= 2.0 for ${SERVICES[*]}" || fail "security"
check_directives "$WORK/good" && pass "hardening directives present, no PIN in argv or environment" || fail "directives"
check_config_agrees && pass "units and ops/config/signetd.example.yaml agree on paths" || fail "config paths"
check_sysusers_tmpfiles "$UNITS" "$WORK/root" && pass "sysusers and tmpfiles create the user, groups and directories" || fail "sysusers/tmpfiles"

# ---- Broken copies: every check above must notice.
expect_broken() {
  local what="$1"; shift
  if "$@" 2>"$WORK/last.err"; then fail "a broken copy passed: $what"; else pass "a broken copy fails: $what ($(head -n 1 "$WORK/last.err"))"; fi
}
stage "$WORK/typo"
sed -i 's/^NoNewPrivileges=yes$/NoNewPrivilege=yes/' "$WORK/typo/signetd.service"
expect_broken "misspelt directive (verify only warns)" check_verify "$WORK/typo"
expect_broken "misspelt directive (directive check)" check_directives "$WORK/typo"

stage "$WORK/nobin"
sed -i "s#^ExecStart=$WORK/bin/signet #ExecStart=$WORK/bin/missing #" "$WORK/nobin/signet-rotate.service"
expect_broken "ExecStart binary missing" check_verify "$WORK/nobin"

stage "$WORK/soft"
sed -i -e '/^ProtectSystem=/d' -e '/^ProtectHome=/d' -e '/^CapabilityBoundingSet=/d' -e '/^SystemCallFilter=/d' \
    -e '/^PrivateDevices=/d' -e '/^RestrictAddressFamilies=/d' -e '/^ProtectKernel/d' "$WORK/soft/signetd.service"
expect_broken "hardening removed (security score)" check_security "$WORK/soft"

stage "$WORK/pin"
sed -i "s#^ExecStart=$WORK/bin/signetd .*#ExecStart=$WORK/bin/signetd --config /etc/signetd/signetd.yaml --pin 1234#" \
    "$WORK/pin/signetd.service"
expect_broken "a PIN on the command line" check_directives "$WORK/pin"

mkdir -p "$WORK/badsys"
cp "$UNITS/signet.sysusers.conf" "$UNITS/signet.tmpfiles.conf" "$WORK/badsys/"
sed -i 's#^d     /etc/signetd/tls     0750#d     /etc/signetd/tls     0755#' "$WORK/badsys/signet.tmpfiles.conf"
expect_broken "tls directory world-readable" check_sysusers_tmpfiles "$WORK/badsys" "$WORK/badroot"

if [ "$failures" -ne 0 ]; then
  echo "systemd_units_test: $failures failure(s)" >&2
  exit 1
fi
echo "systemd_units_test: all checks passed"
