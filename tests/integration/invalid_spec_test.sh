#!/usr/bin/env bash
# An invalid Rollout document ends InvalidSpec and the Nomad job is not touched.
source "$(dirname "$0")/harness.sh"

setup_v1
index_before=$(job_modify_index)
versions_before=$(active_group_per_version | wc -l)
# Invalid: a blue/green Rollout needs exactly two groups.
put_spec v2 '.spec.nomad.groups = ["hello-blue"]'
wait_until "$ROLLOUT_TIMEOUT" "phase InvalidSpec" phase_is InvalidSpec
# Let a few resyncs (--resync 5s) pass: an invalid spec must never reach Nomad.
sleep 12
phase_is InvalidSpec || fail "phase left InvalidSpec: $(phase)"
[[ $(job_modify_index) == "$index_before" ]] || fail "JobModifyIndex changed"
[[ $(active_group_per_version | wc -l) == "$versions_before" ]] || fail "job versions changed"
[[ $(active_version) == v1 ]] || fail "active version is $(active_version)"
log "PASS"
