#!/usr/bin/env bash
# The pre-promotion probe fails (the standby version answers half its requests with 5xx,
# ERROR_RATE set through the Rollout template): no flip, RollingBack -> Degraded with
# reason ProbeFailed, v1 still active in the same allocations.
source "$(dirname "$0")/harness.sh"

setup_v1
old_active=$(active_group_per_version | tail -n 1)
active_allocs=$(running_alloc_ids "$old_active")
flips_before=$(count_flips)

put_spec v2 '.spec.template.set["/Env/ERROR_RATE"] = "0.5"'
wait_until "$ROLLOUT_TIMEOUT" "phase Degraded" phase_is Degraded
[[ $(active_version) == v1 ]] || fail "active version is $(active_version), not v1"
reason=$(status_json | jq -r '.rollback.reason // empty')
[[ $reason == ProbeFailed ]] || fail "rollback reason is '$reason', expected ProbeFailed"
status_json | jq -e '[.analysisRuns[]? | select(.version == "v2" and .result == "Failed")] | length >= 1' \
  >/dev/null || fail "no failed analysis run of v2 recorded"
[[ $(count_flips) -eq $flips_before ]] || fail "a flip was written: $(active_group_per_version | tr '\n' ' ')"
[[ $(running_alloc_ids "$old_active") == "$active_allocs" ]] || fail "active allocations changed"
[[ $(metric rolloutd rollouts_flips_total) == 0 ]] || fail "rollouts_flips_total is not 0"
log "PASS"
