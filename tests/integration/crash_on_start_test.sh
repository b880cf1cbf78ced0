#!/usr/bin/env bash
# v2 crashes on start (CRASH_ON_START set through the Rollout template for the standby
# group only): the rollout rolls back and ends Degraded; the Active v1 group keeps the
# very same allocations and no flip is ever written. Then rolloutd is killed and a new
# process takes over: the resting Degraded Rollout (no status write) is on its /metrics.
source "$(dirname "$0")/harness.sh"

# A kill -9 leaves the leader session to expire (2 x TTL); no lock delay on top of that.
flags=(--leader-ttl 10s --lock-delay 0s)
setup_v1 "${flags[@]}"
old_active=$(active_group_per_version | tail -n 1)
active_allocs=$(running_alloc_ids "$old_active")
[[ -n $active_allocs ]] || fail "no running allocations in $old_active"
flips_before=$(count_flips)

put_spec v2 '.spec.template.set["/Env/CRASH_ON_START"] = "true"'
saw_rolling_back=0
deadline=$((SECONDS + ROLLOUT_TIMEOUT))
while ((SECONDS < deadline)); do
  p=$(phase)
  [[ $p == RollingBack ]] && saw_rolling_back=1
  [[ $p == Degraded ]] && break
  [[ $p == Healthy && $(active_version) == v2 ]] && fail "crashing v2 was promoted"
  sleep 0.3
done
[[ $(phase) == Degraded ]] || fail "did not end Degraded (phase $(phase))"
[[ $(active_version) == v1 ]] || fail "active version is $(active_version), not v1"
# RollingBack may be passed between two polls; the status history must then show it.
if ((saw_rolling_back == 0)); then
  grep -q 'RollingBack\|rollback' <<<"$(status_json)" || fail "no RollingBack seen or recorded"
fi
status_json | jq -e '.rollback.reason | length > 0' >/dev/null || fail "no rollback reason in status"
[[ $(count_flips) -eq $flips_before ]] || fail "a flip was written: $(active_group_per_version | tr '\n' ' ')"
[[ $(active_group_per_version | tail -n 1) == "$old_active" ]] || fail "active group changed"
[[ $(running_alloc_ids "$old_active") == "$active_allocs" ]] || fail "active allocations changed"
[[ $(metric rolloutd rollouts_flips_total) == 0 ]] || fail "rollouts_flips_total is not 0"
[[ $(metric rolloutd rollouts_rollout_degraded) == 1 ]] || fail "rollouts_rollout_degraded is not 1"

# --- Restart: a new process shows the resting Degraded Rollout without writing its status.
status_index() { http GET "$CONSUL/v1/kv/rollouts/status/hello" | jq -r '.[0].ModifyIndex'; }
index_before=$(status_index)
kill9 rolloutd
start_rolloutd rolloutd2 "${flags[@]}"
is_leader() { [[ $(metric "$1" rollouts_leader) == 1 ]]; }
# Session TTL 10 s: Consul invalidates the dead leader's session at the latest 2 x TTL later.
wait_until 90 "rolloutd2 takes the leader lock" is_leader rolloutd2
scrape2() { curl -sS -m 5 "http://$METRICS_rolloutd2/metrics" 2>/dev/null; }
# Matched on a captured scrape, never `scrape2 | grep -q`: grep -q exits at the first match,
# curl then fails writing the rest (EPIPE) and pipefail turns the match into a failure.
scraped() { grep -q "$1" <<<"$(scrape2)"; }
degraded_visible() { scraped '^rollouts_rollout_phase{phase="Degraded",rollout="hello"} 1$'; }
wait_until 30 "rolloutd2 exports the Degraded phase of hello" degraded_visible
[[ $(metric rolloutd2 rollouts_rollout_degraded) == 1 ]] ||
  fail "rolloutd2: rollouts_rollout_degraded is $(metric rolloutd2 rollouts_rollout_degraded), not 1"
reason=$(status_json | jq -r '[.conditions[]? | select(.type=="Degraded") | .reason][0] // .rollback.reason')
scraped "^rollouts_rollout_degraded{reason=\"$reason\",rollout=\"hello\"} 1$" ||
  fail "rolloutd2 does not export reason $reason: $(scrape2 | grep '^rollouts_rollout_degraded')"
scraped '^rollouts_rollout_info{active_version="v1",rollout="hello",target_version="v2"} 1$' ||
  fail "rolloutd2 has no info series v1 -> v2: $(scrape2 | grep '^rollouts_rollout_info')"
# Seeded from what it read: the status was not written again, and nothing is counted twice.
[[ $(status_index) == "$index_before" ]] || fail "the status was written again after the restart"
[[ -z $(metric rolloutd2 rollouts_rollbacks_total) ]] || fail "rolloutd2 counted the roll-back again"
[[ -z $(metric rolloutd2 rollouts_rollout_transitions_total) ]] ||
  fail "rolloutd2 counted a transition: $(scrape2 | grep '^rollouts_rollout_transitions_total')"
log "PASS (rollback reason: $(status_json | jq -r .rollback.reason); Degraded reason $reason after restart)"
