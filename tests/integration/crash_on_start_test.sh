#!/usr/bin/env bash
# v2 crashes on start (CRASH_ON_START set through the Rollout template for the standby
# group only): the rollout rolls back and ends Degraded; the Active v1 group keeps the
# very same allocations and no flip is ever written.
source "$(dirname "$0")/harness.sh"

setup_v1
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
  status_json | grep -q 'RollingBack\|rollback' || fail "no RollingBack seen or recorded"
fi
status_json | jq -e '.rollback.reason | length > 0' >/dev/null || fail "no rollback reason in status"
[[ $(count_flips) -eq $flips_before ]] || fail "a flip was written: $(active_group_per_version | tr '\n' ' ')"
[[ $(active_group_per_version | tail -n 1) == "$old_active" ]] || fail "active group changed"
[[ $(running_alloc_ids "$old_active") == "$active_allocs" ]] || fail "active allocations changed"
[[ $(metric rolloutd rollouts_flips_total) == 0 ]] || fail "rollouts_flips_total is not 0"
log "PASS (rollback reason: $(status_json | jq -r .rollback.reason))"
