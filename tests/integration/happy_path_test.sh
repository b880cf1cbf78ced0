#!/usr/bin/env bash
# v1 -> v2 happy path against the sandbox with real processes: exactly one flip, the old
# group scaled to 0, status Healthy with activeVersion v2.
source "$(dirname "$0")/harness.sh"

setup_v1
flips_before=$(count_flips)
old_active=$(active_group_per_version | tail -n 1)
[[ -n $old_active ]] || fail "no active group in the job"
log "active group before: $old_active, flips so far: $flips_before"

put_spec v2
wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v2" status_is Healthy v2

new_active=$(active_group_per_version | tail -n 1)
[[ $new_active != "$old_active" && $new_active != *+* ]] || fail "active group after: '$new_active'"
flips=$(( $(count_flips) - flips_before ))
[[ $flips -eq 1 ]] || fail "expected exactly 1 flip, job versions show $flips"
[[ $(metric rolloutd rollouts_flips_total) == 1 ]] || fail "rollouts_flips_total is not 1"

count=$(group_count "$old_active")
[[ $count == 0 ]] || fail "old group $old_active has Count $count"
log "PASS"
