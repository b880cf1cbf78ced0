#!/usr/bin/env bash
# A newer spec.version before the flip supersedes the running rollout: the standby group is
# redeployed with the newer version, which ends active after exactly one flip; the
# superseded version is recorded in history and never becomes active.
source "$(dirname "$0")/harness.sh"

setup_v1
flips_before=$(count_flips)
put_spec v2
deadline=$((SECONDS + ROLLOUT_TIMEOUT)); p=""
while ((SECONDS < deadline)); do
  p=$(phase)
  [[ $p =~ ^(DeployingStandby|WaitingHealthy|Analyzing)$ ]] && break
  [[ $p == Healthy && $(active_version) == v2 ]] && fail "v2 finished before it could be superseded"
  sleep 0.1
done
[[ $p =~ ^(DeployingStandby|WaitingHealthy|Analyzing)$ ]] || fail "never saw v2 under way"
log "superseding v2 in phase $p"
put_spec v4
saw_v2_active=0
deadline=$((SECONDS + ROLLOUT_TIMEOUT))
while ((SECONDS < deadline)); do
  s=$(status_json) || { sleep 0.3; continue; }
  [[ $(jq -r .activeVersion <<<"$s") == v2 ]] && saw_v2_active=1
  [[ $(jq -r .phase <<<"$s") == Healthy && $(jq -r .activeVersion <<<"$s") == v4 ]] && break
  sleep 0.3
done
status_is Healthy v4 || fail "did not end Healthy with active v4"
((saw_v2_active == 0)) || fail "superseded v2 became active"
flips=$(( $(count_flips) - flips_before ))
[[ $flips -eq 1 ]] || fail "expected exactly 1 flip, job versions show $flips"
status_json | jq -e '[.history[] | select(.version == "v2")] | length == 1' >/dev/null ||
  fail "superseded v2 not recorded once in history"
log "PASS (v2 history: $(status_json | jq -c '[.history[] | select(.version == "v2") | .outcome]'))"
