#!/usr/bin/env bash
# API faults: the sandbox (or the fault proxy in front of real agents) answers 20% of the
# controller's Consul and Nomad calls with 503 and delays the rest; the v1 -> v2 happy
# path still completes with exactly one flip and every Nomad job version keeps exactly
# one active group. (The observer's own requests retry on 5xx, see harness.sh http.)
source "$(dirname "$0")/harness.sh"

start_agents
register_hello_job
cat >"$WORK/faults.json" <<'JSON'
[{"agent": "consul", "path": "^/v1/(kv|session|health|catalog|txn)/", "rate": 0.2, "status": 503},
 {"agent": "nomad", "path": "^/v1/(job|jobs|allocation|allocations|deployment|evaluation)", "rate": 0.2, "status": 503},
 {"path": "^/v1/", "rate": 0.5, "latency_ms": 100}]
JSON
set_faults "$WORK/faults.json"
http GET "$CONSUL/_sandbox/faults" | jq -e 'length == 3' >/dev/null || fail "faults not installed"

start_rolloutd rolloutd --leader-ttl 10s --lock-delay 1s
put_spec v1
wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v1" status_is Healthy v1
flips_before=$(count_flips)
old_active=$(active_group_per_version | tail -n 1)
put_spec v2
wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v2" status_is Healthy v2

# The faults really reached the controller.
grep -q '503' "$WORK/rolloutd.log" || fail "rolloutd never saw a 503: faults not applied?"
log "rolloutd saw $(grep -c '503' "$WORK/rolloutd.log") log lines with 503"
# Invariant: every job version the controller wrote has exactly one active group.
bad=$(active_group_per_version | grep -c -v '^hello-\(blue\|green\)$' || true)
[[ $bad -eq 0 ]] || fail "job versions without exactly one active group: $(active_group_per_version | tr '\n' ' ')"
flips=$(( $(count_flips) - flips_before ))
[[ $flips -eq 1 ]] || fail "expected exactly 1 flip, job versions show $flips"
count=$(group_count "$old_active")
[[ $count == 0 ]] || fail "old group $old_active has Count $count"
log "PASS"
