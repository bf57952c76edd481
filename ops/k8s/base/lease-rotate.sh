#!/usr/bin/env bash
# lease-rotate.sh: one `signet rotate` pass, run only by the holder of a Kubernetes Lease
# (coordination.k8s.io/v1), so that one writer rotates at a time however many CronJob pods,
# manual Jobs or clusters-in-a-hurry start at once. The CronJob in this directory runs it.
#
#   lease-rotate.sh [extra `signet rotate` flags, e.g. --signer ID | --force]
#
# 1. Read the Lease. Absent: create it holding it (AlreadyExists = another pod won: exit 0).
# 2. Held by someone else and renewTime + leaseDurationSeconds still in the future: exit 0, no rotation.
# 3. Free (no holder), held by this pod, or expired: take it with `kubectl replace` carrying the
#    resourceVersion just read. The API server refuses a stale resourceVersion (Conflict), so of
#    two pods that read the same expired Lease exactly one wins; the other exits 0.
# 4. Run `signet rotate --config $SIGNET_CONFIG "$@"`; its exit status is this script's.
# 5. Release the Lease (clear the holder, again resourceVersion-guarded). A failed release only
#    costs the next run a wait of leaseDurationSeconds.
#
# The Lease is never renewed while signet runs: keep the Job's activeDeadlineSeconds below
# LEASE_DURATION_SECONDS, so a pod is killed before its Lease can expire under it. On SIGTERM the
# Lease is deliberately not released (signet may still be writing); it expires by itself.
# `signet rotate` also takes <publication_dir>/.signet-rotate.lock, a second guard on the same
# publication directory.
#
# Environment: LEASE_NAME (signet-rotate), POD_NAMESPACE (else the service account's namespace),
# POD_NAME (else the hostname), LEASE_DURATION_SECONDS (600), SIGNET_CONFIG
# (/etc/signetd/config/signetd.yaml), KUBECTL (kubectl), SIGNET (signet).
# The PIN is signet's business: hsm.pin_file in the config. Nothing here reads or passes it.
set -uo pipefail

KUBECTL="${KUBECTL:-kubectl}"
SIGNET="${SIGNET:-signet}"
LEASE_NAME="${LEASE_NAME:-signet-rotate}"
DURATION="${LEASE_DURATION_SECONDS:-600}"
CONFIG="${SIGNET_CONFIG:-/etc/signetd/config/signetd.yaml}"
HOLDER="${POD_NAME:-$(hostname)}"
NS="${POD_NAMESPACE:-}"
SA_NS_FILE=/var/run/secrets/kubernetes.io/serviceaccount/namespace
if [ -z "$NS" ] && [ -r "$SA_NS_FILE" ]; then NS="$(cat "$SA_NS_FILE")"; fi

log() { printf 'lease-rotate: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# Names end up inside JSON and kubectl arguments: allow only what Kubernetes names allow.
valid_name() { [[ "$1" =~ ^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$ ]]; }
valid_name "$LEASE_NAME" || die "LEASE_NAME '$LEASE_NAME' is not a Kubernetes object name"
[ -n "$NS" ] && valid_name "$NS" || die "no namespace: set POD_NAMESPACE (downward API)"
[[ "$HOLDER" =~ ^[A-Za-z0-9._-]{1,253}$ ]] || die "holder identity '$HOLDER' must be [A-Za-z0-9._-]"
[[ "$DURATION" =~ ^[1-9][0-9]{0,5}$ ]] || die "LEASE_DURATION_SECONDS '$DURATION' must be 1..999999"

ERR="$(mktemp "${TMPDIR:-/tmp}/lease-rotate.XXXXXX")"
trap 'rm -f "$ERR"' EXIT

k() { "$KUBECTL" -n "$NS" "$@"; }

# Sets rv, holder, renew, duration from the Lease; returns 1 when it does not exist; dies otherwise.
read_lease() {
  local out
  if ! out="$(k get lease "$LEASE_NAME" \
      -o 'jsonpath={.metadata.resourceVersion}{"|"}{.spec.holderIdentity}{"|"}{.spec.renewTime}{"|"}{.spec.leaseDurationSeconds}' \
      2>"$ERR")"; then
    grep -q 'NotFound' "$ERR" && return 1
    die "kubectl get lease $LEASE_NAME: $(tr '\n' ' ' <"$ERR")"
  fi
  IFS='|' read -r rv holder renew duration <<<"$out"
  [ -n "$rv" ] || die "lease $LEASE_NAME has no resourceVersion: '$out'"
}

# The Lease as JSON. $1 holder ("" = released), $2 resourceVersion ("" = none, for create).
lease_json() {
  local who="$1" version="$2" now meta spec
  now="$(date -u +%Y-%m-%dT%H:%M:%S.%6NZ)"
  meta="\"name\":\"$LEASE_NAME\",\"namespace\":\"$NS\""
  [ -n "$version" ] && meta="$meta,\"resourceVersion\":\"$version\""
  spec="\"leaseDurationSeconds\":$DURATION"
  [ -n "$who" ] && spec="$spec,\"holderIdentity\":\"$who\",\"acquireTime\":\"$now\",\"renewTime\":\"$now\""
  printf '{"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{%s},"spec":{%s}}\n' "$meta" "$spec"
}

# Writes the Lease; returns 0 written, 2 lost the race (Conflict/AlreadyExists); dies on anything else.
write_lease() {
  local verb="$1" json="$2"
  if printf '%s' "$json" | k "$verb" -f - >/dev/null 2>"$ERR"; then return 0; fi
  if grep -Eq 'Conflict|AlreadyExists|the object has been modified|already exists' "$ERR"; then return 2; fi
  die "kubectl $verb lease $LEASE_NAME: $(tr '\n' ' ' <"$ERR")"
}

acquire() {
  local rc
  if ! read_lease; then
    # The kustomize base ships the Lease, so this needs RBAC `create` only where it was deleted.
    log "lease $NS/$LEASE_NAME does not exist; creating it"
    write_lease create "$(lease_json "$HOLDER" "")"; rc=$?
    [ $rc -eq 0 ] && { log "created lease $NS/$LEASE_NAME, held by $HOLDER"; return 0; }
    log "lease $NS/$LEASE_NAME was created by another pod meanwhile; not rotating"
    return 1
  fi
  local now expires=0
  now="$(date -u +%s)"
  [[ "$duration" =~ ^[0-9]+$ ]] || duration="$DURATION"
  if [ -n "$renew" ]; then
    expires=$(( $(date -u -d "$renew" +%s 2>/dev/null || echo 0) + duration ))
  fi
  if [ -n "$holder" ] && [ "$holder" != "$HOLDER" ] && [ "$now" -lt "$expires" ]; then
    log "lease $NS/$LEASE_NAME is held by $holder until $(date -u -d "@$expires" +%Y-%m-%dT%H:%M:%SZ); not rotating"
    return 1
  fi
  write_lease replace "$(lease_json "$HOLDER" "$rv")"; rc=$?
  if [ $rc -eq 0 ]; then
    log "took lease $NS/$LEASE_NAME (was: ${holder:-free}${holder:+, expired}) as $HOLDER"
    return 0
  fi
  log "lost lease $NS/$LEASE_NAME to another pod (resourceVersion $rv changed); not rotating"
  return 1
}

release() {
  if ! read_lease; then log "lease $NS/$LEASE_NAME vanished before release"; return; fi
  if [ "$holder" != "$HOLDER" ]; then log "lease $NS/$LEASE_NAME is now held by '${holder}'; not releasing"; return; fi
  if ( write_lease replace "$(lease_json "" "$rv")" ); then
    log "released lease $NS/$LEASE_NAME"
  else
    log "could not release lease $NS/$LEASE_NAME; it expires after ${DURATION}s"
  fi
}

acquire || exit 0
"$SIGNET" rotate --config "$CONFIG" "$@"
status=$?
[ $status -eq 0 ] || log "signet rotate exited with status $status"
release
exit $status
