#!/usr/bin/env bash
# Post-promotion analysis fails (its probe asks v2 for a path it does not serve): after the
# flip to v2 the controller flips back, v1 is active again in its old group, the rollout
# ends Degraded; two flips in all (the flip and the flip back).
source "$(dirname "$0")/harness.sh"

setup_v1
old_active=$(active_group_per_version | tail -n 1)
flips_before=$(count_flips)
put_spec v2 '.spec.analysis.postPromotion = {interval: "1s", count: 2, failureLimit: 0,
  probe: {path: "/no-such-path", requests: 5, maxErrorRate: 0.0, timeout: "2s"}}'
saw_v2_active=0
deadline=$((SECONDS + ROLLOUT_TIMEOUT))
while ((SECONDS < deadline)); do
  s=$(status_json) || { sleep 0.3; continue; }
  [[ $(jq -r .activeVersion <<<"$s") == v2 ]] && saw_v2_active=1
  [[ $(jq -r .phase <<<"$s") == Degraded ]] && break
  [[ $(jq -r .phase <<<"$s") == Healthy && $(jq -r .activeVersion <<<"$s") == v2 ]] &&
    fail "v2 stayed active although its post-promotion analysis fails"
  sleep 0.3
done
phase_is Degraded || fail "did not end Degraded (phase $(phase))"
[[ $(active_version) == v1 ]] || fail "active version is $(active_version), not v1"
[[ $(active_group_per_version | tail -n 1) == "$old_active" ]] || fail "v1's group $old_active is not active"
flips=$(( $(count_flips) - flips_before ))
[[ $flips -eq 2 ]] || fail "expected the flip and the flip back (2), job versions show $flips"
# The job versions prove v2 was active for a while even if no status poll caught it.
log "v2 seen active in status: $saw_v2_active; rollback reason: $(status_json | jq -r .rollback.reason)"
[[ $(group_count "$old_active") -gt 0 ]] || fail "v1's group has Count 0"
log "PASS"
