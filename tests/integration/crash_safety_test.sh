#!/usr/bin/env bash
# Crash safety: kill -9 rolloutd while a rollout is in a given step, start a new one, and
# the rollout still finishes Healthy with exactly one flip and the same number of Nomad job
# versions as an uninterrupted rollout (no step repeated that writes the job twice).
source "$(dirname "$0")/harness.sh"

# A kill -9 leaves the leader session to expire (2 x TTL); no lock delay on top of that.
flags=(--leader-ttl 10s --lock-delay 0s)
setup_v1 "${flags[@]}"
restarts=0

job_version_count() { active_group_per_version | wc -l; }

# Baseline: an uninterrupted rollout, to learn how many job versions one rollout writes.
v0=$(job_version_count); f0=$(count_flips)
put_spec v2
wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v2" status_is Healthy v2
per_rollout=$(( $(job_version_count) - v0 ))
[[ $(( $(count_flips) - f0 )) -eq 1 ]] || fail "baseline rollout did not flip exactly once"
log "an uninterrupted rollout writes $per_rollout job versions"

# crashed_rollout VERSION PHASE-REGEX: roll to VERSION, kill -9 the controller as soon as the
# status shows a phase matching PHASE-REGEX, restart it, and check the result.
crashed_rollout() {
  local version=$1 phases=$2 p deadline killed_in=""
  local v_before f_before
  v_before=$(job_version_count); f_before=$(count_flips)
  put_spec "$version"
  deadline=$((SECONDS + ROLLOUT_TIMEOUT))
  while ((SECONDS < deadline)); do
    p=$(phase)
    if [[ $p =~ ^($phases)$ ]]; then killed_in=$p; break; fi
    [[ $p == Healthy && $(active_version) == "$version" ]] && break
    sleep 0.1
  done
  [[ -n $killed_in ]] || fail "rollout to $version never showed a phase in ($phases)"
  kill9 rolloutd
  log "killed in phase $killed_in (status now: $(phase))"
  restarts=$((restarts + 1))
  start_rolloutd rolloutd "${flags[@]}"
  wait_until "$ROLLOUT_TIMEOUT" "Healthy with active $version after restart" status_is Healthy "$version"
  local flips=$(( $(count_flips) - f_before ))
  local versions=$(( $(job_version_count) - v_before ))
  [[ $flips -eq 1 ]] || fail "$version (killed in $killed_in): $flips flips, expected 1"
  [[ $versions -eq $per_rollout ]] ||
    fail "$version (killed in $killed_in): $versions job versions, uninterrupted rollout writes $per_rollout"
  local old; old=$(job_json | jq -r '[.TaskGroups[] | select(.Count == 0) | .Name] | length')
  [[ $old -eq 1 ]] || fail "$version: expected one group at Count 0, found $old"
  log "$version: killed in $killed_in, finished with 1 flip and $versions job versions"
}

# (v3 is the version hello.nomad.json gives a 5% error rate: not used here.)
crashed_rollout v4 'WaitingHealthy'
crashed_rollout v5 'Promoting|Verifying|Draining'
crashed_rollout v6 'ScalingDown|Draining'
log "PASS ($restarts restarts)"
