#!/usr/bin/env bash
# Crash safety: kill -9 rolloutd while a rollout is in a given step, start a new one, and
# the rollout still ends as an uninterrupted one does: Healthy on the new version with
# exactly one flip, or (the rollback set) Degraded on the old one with the flip undone,
# and with the same number of Nomad job versions (no step repeated that writes the job).
# Usage: crash_safety_test.sh [progress|gates|rollback]
#   progress (default): WaitingHealthy, Promoting, Draining, ScalingDown;
#   gates: DeployingStandby, Analyzing, Verifying, Paused;
#   rollback: RollingBack (the post-promotion analysis fails: flip back).
# Steps that last only as long as one job write (DeployingStandby, Promoting, ScalingDown,
# RollingBack) or one probe (Analyzing, Verifying) are held long enough to be seen: a slow
# job register in the sandbox, a slow standby under the probe; Paused needs autoPromote
# off and a promote. The sets are separate ctest entries, so they run side by side.
source "$(dirname "$0")/harness.sh"
set_name=${1:-progress}

# A kill -9 leaves the leader session to expire (2 x TTL); no lock delay on top of that.
flags=(--leader-ttl 10s --lock-delay 0s)
setup_v1 "${flags[@]}"
restarts=0

job_version_count() { active_group_per_version | wc -l; }

# The version active at the end of a rollout to NEW from OLD, given end_phase.
expected_active() { # NEW OLD
  if [[ $end_phase == Healthy ]]; then echo "$1"; else echo "$2"; fi
}

# baseline VERSION SPEC-FILTER PHASE: an uninterrupted rollout to VERSION ending in PHASE
# (Healthy on VERSION, or Degraded on the version before); sets what a crashed one must
# match: end_phase, per_rollout (job versions written) and flips_per_rollout.
baseline() {
  local version=$1 filter=$2 v0 f0
  end_phase=$3
  v0=$(job_version_count); f0=$(count_flips)
  local active_before; active_before=$(active_version)
  put_spec "$version" "$filter"
  local want; want=$(expected_active "$version" "$active_before")
  wait_until "$ROLLOUT_TIMEOUT" "$end_phase with active $want" status_is "$end_phase" "$want"
  per_rollout=$(( $(job_version_count) - v0 ))
  flips_per_rollout=$(( $(count_flips) - f0 ))
  log "an uninterrupted rollout to $version ends $end_phase after $flips_per_rollout flips and $per_rollout job versions"
}

# Hooks of one crashed rollout, set by the case before it calls crashed_rollout.
on_phase() { :; }       # PHASE: runs at each look at the status before the kill
after_kill() { :; }     # runs right after the kill -9 (e.g. lifting a fault)
after_restart() { :; }  # runs once the new controller is up (e.g. a promote)

# Job registers held 3 s by the sandbox (the controller's POST /v1/job/<id> or /v1/jobs),
# and lifted again.
slow_registers() {
  jq -n '[{agent: "nomad", method: "POST", path: "^/v1/job(s|/hello)([?]|$)", latency_ms: 3000}]' \
    >"$WORK/slow-register.json"
  set_faults "$WORK/slow-register.json"
}
no_faults() { echo '[]' >"$WORK/no-faults.json" && set_faults "$WORK/no-faults.json"; }

# crashed_rollout VERSION PHASE-REGEX [SPEC-FILTER]: roll to VERSION (the spec edited by
# SPEC-FILTER), kill -9 the controller as soon as the status shows a phase matching
# PHASE-REGEX, restart it, and check the result.
crashed_rollout() {
  local version=$1 phases=$2 filter=${3:-.} s p deadline killed_in=""
  local v_before f_before active_before want
  v_before=$(job_version_count); f_before=$(count_flips); active_before=$(active_version)
  want=$(expected_active "$version" "$active_before")
  put_spec "$version" "$filter"
  deadline=$((SECONDS + ROLLOUT_TIMEOUT))
  while ((SECONDS < deadline)); do
    # One read of the status per look: phase, active and target from separate reads can
    # mix the old document (Degraded on v1, the rollback set's end state) with the new one
    # (target v4) and pass for a rollout that ended without the phase.
    s=$(status_json) || s='{}'
    p=$(jq -r '.phase // empty' <<<"$s" 2>/dev/null)
    if [[ $p =~ ^($phases)$ ]]; then killed_in=$p; break; fi
    on_phase "$p"
    # Ended without passing through PHASE-REGEX (the old end state does not count).
    [[ $p == "$end_phase" && $(jq -r '.activeVersion // empty' <<<"$s") == "$want" &&
       $(jq -r '.targetVersion // empty' <<<"$s") == "$version" ]] && break
    sleep 0.1
  done
  [[ -n $killed_in ]] || fail "rollout to $version never showed a phase in ($phases)"
  kill9 rolloutd
  log "killed in phase $killed_in (status now: $(phase))"
  after_kill
  restarts=$((restarts + 1))
  start_rolloutd rolloutd "${flags[@]}"
  after_restart
  wait_until "$ROLLOUT_TIMEOUT" "$end_phase with active $want after restart" status_is "$end_phase" "$want"
  local flips=$(( $(count_flips) - f_before ))
  local versions=$(( $(job_version_count) - v_before ))
  [[ $flips -eq $flips_per_rollout ]] ||
    fail "$version (killed in $killed_in): $flips flips, an uninterrupted rollout makes $flips_per_rollout"
  [[ $versions -eq $per_rollout ]] ||
    fail "$version (killed in $killed_in): $versions job versions, an uninterrupted rollout writes $per_rollout"
  local old; old=$(job_json | jq -r '[.TaskGroups[] | select(.Count == 0) | .Name] | length')
  [[ $old -eq 1 ]] || fail "$version: expected one group at Count 0, found $old"
  log "$version: killed in $killed_in, ended $end_phase on $want after $flips flips and $versions job versions"
  on_phase() { :; }
  after_kill() { :; }
  after_restart() { :; }
}

# Holds the job registers from PHASE on (see slow_registers), lifted after the kill.
hold_registers_from() { # PHASE
  hold_from=$1 held=""
  on_phase() { [[ $1 != "$hold_from" || -n $held ]] || { held=1; slow_registers; }; }
  after_kill() { no_faults; }
}

# (v3 is the version hello.nomad.json gives a 5% error rate: not used here.)
case $set_name in
  progress)
    baseline v2 . Healthy
    crashed_rollout v4 'WaitingHealthy'
    # Promoting and ScalingDown last as long as their job register (the flip, the old
    # group's scale-down): held from the step before on, so the controller dies with the
    # register in flight (the agent may still apply it).
    hold_registers_from WaitingHealthy
    crashed_rollout v5 'Promoting'
    crashed_rollout v6 'Draining'
    hold_registers_from Draining
    crashed_rollout v7 'ScalingDown'
    ;;
  gates)
    baseline v2 . Healthy
    # DeployingStandby lasts as long as the standby's job register: held from the start.
    slow_registers
    after_kill() { no_faults; }
    crashed_rollout v4 'DeployingStandby'
    # Analyzing and Verifying last while their probe runs: each of the 20 requests per
    # instance waits 150 ms in the new version (LATENCY_MS).
    slow='.spec.template.set["/Env/LATENCY_MS"] = "150"'
    crashed_rollout v5 'Analyzing' "$slow"
    crashed_rollout v6 'Verifying' "$slow | .spec.analysis.postPromotion = {interval: \"1s\",
      count: 1, failureLimit: 0,
      probe: {path: \"/hello\", requests: 20, maxErrorRate: 0.0, timeout: \"2s\"}}"
    # Paused (autoPromote off) until a promote, sent to the restarted controller.
    promote() {
      jq -n '{id: "crash-safety-promote-v7", verb: "promote"}' >"$WORK/promote.json"
      kv_put rollouts/control/hello "$WORK/promote.json"
    }
    after_restart() { promote; }
    crashed_rollout v7 'Paused' '.spec.strategy.blueGreen.autoPromote = false'
    ;;
  rollback)
    # The post-promotion probe asks for a path hello does not serve: after the flip the
    # controller flips back and ends Degraded with the old version active.
    failing='.spec.analysis.postPromotion = {interval: "1s", count: 2, failureLimit: 0,
      probe: {path: "/no-such-path", requests: 5, maxErrorRate: 0.0, timeout: "2s"}}'
    baseline v2 "$failing" Degraded
    # RollingBack lasts as long as the flip back's register: held from WaitingHealthy on
    # (a phase that lasts; Verifying is over within one look at the status here).
    hold_registers_from WaitingHealthy
    crashed_rollout v4 'RollingBack' "$failing"
    ;;
  *) fail "unknown case set $set_name (progress, gates or rollback)" ;;
esac
log "PASS ($set_name: $restarts restarts)"
