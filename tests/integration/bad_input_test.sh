#!/usr/bin/env bash
# Issue 20: no input wedges the controller. Bad bytes in every kind of key rolloutd reads
# (spec, status, control, router report): garbage, wrong types, oversize, invalid UTF-8.
# The bad key's owner is told (condition, acknowledgement, event, metric); every other
# Rollout goes on; the controller recovers as soon as the key is fixed.
source "$(dirname "$0")/harness.sh"

setup_v1
status_of() { http GET "$CONSUL/v1/kv/rollouts/status/$1?raw"; }
# Raw bytes to a key (printf interprets \xHH).
kv_put_bytes() { # KEY PRINTF-FORMAT
  printf "$2" >"$WORK/bytes"
  kv_put "$1" "$WORK/bytes"
}
invalid_input() { # ROLLOUT KEY: the rollouts_invalid_input gauge's value
  curl -sS -m 5 "http://$METRICS_rolloutd/metrics" |
    awk -v r="rollout=\"$1\"" -v k="key=\"$2\"" \
      'index($1, "rollouts_invalid_input{") == 1 && index($1, r) && index($1, k) {print $NF}'
}
invalid_input_is() { [[ $(invalid_input "$1" "$2") == "$3" ]]; } # ROLLOUT KEY VALUE
status_matches() { status_of "$1" | jq -e "$2" >/dev/null 2>&1; } # ROLLOUT JQ-EXPRESSION

log "another Rollout's spec, status and control hold garbage while hello rolls to v2"
kv_put_bytes rollouts/spec/other '{"apiVersion": "rollouts.nomad.io/v1", "kind": "Rollout", "metadata": {"name": "other\xff"}}'
kv_put_bytes rollouts/control/other '{"id": 42, "verb": ["promote"]}'
put_spec v2
wait_until "$ROLLOUT_TIMEOUT" "other InvalidSpec naming the UTF-8 error" status_matches other \
  '.phase == "InvalidSpec" and ([.conditions[] | select(.type == "InvalidSpec") | .message | test("UTF-8 at byte")] | any)'
wait_until 30 "rollouts_invalid_input{other,spec} == 1" invalid_input_is other spec 1
wait_until 30 "rollouts_invalid_input{other,control} == 1" invalid_input_is other control 1
wait_until "$ROLLOUT_TIMEOUT" "hello Healthy on v2 beside the bad keys" status_is Healthy v2

log "control: a 300 KB id, then an unknown verb, then wrong types: each acknowledged as rejected"
python3 -c 'import json; print(json.dumps({"id": "x" * 300000, "verb": "promote"}))' >"$WORK/big-control.json"
kv_put rollouts/control/hello "$WORK/big-control.json"
wait_until 30 "the 300 KB id acknowledged as rejected" status_matches hello \
  '[.acknowledged[] | select(.result | startswith("rejected: the document is 300030 bytes"))] | length == 1'
size=$(status_of hello | wc -c)
((size < 65536)) || fail "the status grew to $size bytes"
kv_put_bytes rollouts/control/hello '{"id": "it-1", "verb": "rollback"}'
wait_until 30 "unknown verb acknowledged as rejected" status_matches hello \
  '[.acknowledged[] | select(.id == "it-1" and (.result | test("unknown verb")))] | length == 1'
wait_until 30 "invalid_input{hello,control} == 1" invalid_input_is hello control 1
kv_put_bytes rollouts/control/hello '{"id": "it-2", "verb": "abort"}'
wait_until 30 "a valid command handled as usual after them" status_matches hello \
  '[.events[] | select(.reason == "Control" and (.message | startswith("abort (it-2)")))] | length == 1'
wait_until 30 "invalid_input{hello,control} == 0" invalid_input_is hello control 0
status_is Healthy v2 || fail "hello left Healthy v2: $(phase) $(active_version)"

log "a router report {\"services\":\"x\"} under a live session: hello's next rollout waits, names it, and goes on once it is fixed"
printf '{"Name": "evil-router", "TTL": "300s", "Behavior": "delete"}' >"$WORK/session.json"
session=$(http PUT "$CONSUL/v1/session/create" "$WORK/session.json" | jq -r .ID) || fail "session create"
printf '{"services": "x"}' >"$WORK/evil.json"
http PUT "$CONSUL/v1/kv/rollouts/routers/evil?acquire=$session" "$WORK/evil.json" >/dev/null || fail "acquire"
wait_until 30 "hello's status names the router" status_matches hello \
  '[.conditions[] | select(.type == "RouterReportsReadable" and (.message | test("router evil: .*services")))] | length == 1'
wait_until 30 "invalid_input{hello,router_report} == 1" invalid_input_is hello router_report 1
put_spec v5
wait_until "$ROLLOUT_TIMEOUT" "the flip to v5 waiting on the unreadable router" status_matches hello \
  '.phase == "Promoting" and .activeVersion == "v5"'
sleep 3
[[ $(phase) == Promoting ]] || fail "left Promoting while a router report was unreadable: $(phase)"
printf '{"id": "evil", "services": {"hello": {"version": "v5", "appliedAt": "%s"}}}' \
  "$(date -u +%Y-%m-%dT%H:%M:%S.000Z)" >"$WORK/evil.json"
http PUT "$CONSUL/v1/kv/rollouts/routers/evil?acquire=$session" "$WORK/evil.json" >/dev/null || fail "fix"
wait_until "$ROLLOUT_TIMEOUT" "Healthy on v5 once the report reads" status_is Healthy v5
status_of hello | jq -e '[.conditions[] | select(.type == "RouterReportsReadable")] | length == 0' >/dev/null ||
  fail "the RouterReportsReadable condition stayed after the fix"
http PUT "$CONSUL/v1/session/destroy/$session" >/dev/null || true

log "hello's own status overwritten with garbage: rebuilt from the cluster, saying so"
kv_put_bytes rollouts/status/hello 'not a status \xff'
wait_until 30 "status rebuilt" status_matches hello \
  '.phase == "Healthy" and .activeVersion == "v5" and ([.events[] | select(.message | test("status unreadable"))] | length == 1)'
[[ $(invalid_input hello status) == 0 ]] || fail "invalid_input{hello,status} is $(invalid_input hello status) after the rebuild"
grep -q "keys it cannot read" "$WORK/rolloutd.log" || fail "rolloutd did not log the unreadable keys"
log "PASS"
