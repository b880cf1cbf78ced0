#!/usr/bin/env bash
# Leader election: two rolloutd share the leader lock; only the leader reconciles (writes
# status). kill -9 the leader mid-rollout; the other one takes the lock once the dead
# leader's session expires and finishes the rollout with exactly one flip.
source "$(dirname "$0")/harness.sh"

flags=(--leader-ttl 10s --lock-delay 1s)
start_agents
register_hello_job
start_rolloutd a "${flags[@]}"
start_rolloutd b "${flags[@]}"

leaders() { echo "$(metric a rollouts_leader) $(metric b rollouts_leader)"; }
one_leader() { local l; l=$(leaders); [[ $l == "1 0" || $l == "0 1" ]]; }
wait_until 60 "exactly one leader (a b = $(leaders))" one_leader
if [[ $(metric a rollouts_leader) == 1 ]]; then leader=a follower=b; else leader=b follower=a; fi
log "leader: $leader, follower: $follower"

put_spec v1
wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v1" status_is Healthy v1
one_leader || fail "not exactly one leader: $(leaders)"
status_writes() { grep -c 'PUT /v1/kv/rollouts/status/' "$WORK/$1.log"; }
[[ $(status_writes "$follower") -eq 0 ]] || fail "the follower $follower wrote status"
[[ $(status_writes "$leader") -gt 0 ]] || fail "the leader $leader never wrote status"

flips_before=$(count_flips)
put_spec v2
deadline=$((SECONDS + ROLLOUT_TIMEOUT)); p=""
while ((SECONDS < deadline)); do
  p=$(phase)
  [[ $p =~ ^(DeployingStandby|WaitingHealthy|Analyzing)$ ]] && break
  [[ $p == Healthy && $(active_version) == v2 ]] && fail "rollout finished before the kill"
  sleep 0.1
done
[[ $p =~ ^(DeployingStandby|WaitingHealthy|Analyzing)$ ]] || fail "never saw the rollout under way"
[[ $(status_writes "$follower") -eq 0 ]] || fail "the follower $follower wrote status before takeover"
kill9 "$leader"
log "killed the leader in phase $p"

is_leader() { [[ $(metric "$1" rollouts_leader) == 1 ]]; }
# Session TTL 10 s: Consul invalidates it at the latest 2 x TTL later, then the lock delay.
wait_until 90 "$follower takes the leader lock" is_leader "$follower"
log "$follower is the leader now"
wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v2 under the new leader" status_is Healthy v2
[[ $(status_writes "$follower") -gt 0 ]] || fail "the new leader $follower never wrote status"
flips=$(( $(count_flips) - flips_before ))
[[ $flips -eq 1 ]] || fail "expected exactly 1 flip, job versions show $flips"
log "PASS"
