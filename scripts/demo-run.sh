#!/usr/bin/env bash
# The demo: a real rollout in the sandbox under load, then a bad version caught by
# post-promotion analysis and rolled back, with a report. Everything runs on 127.0.0.1
# and is stopped at the end (or on Ctrl-C). Needs a build (scripts/build.sh).
# ROLLOUTS_BACKEND=real runs it on real Consul and Nomad dev agents instead of the
# sandbox (see scripts/lib/real-agents.sh for where they are found).
#
#   1. rollout-sandbox (Consul + Nomad stand-in) runs the hello job: hello-blue active v1
#   2. Prometheus scrapes the hello instances, HAProxy + rollout-router route to Active
#      (STACK_ROUTER=nginx: nginx instead, see scripts/lib/stack.sh)
#   3. rolloutd; wrk load (keep-alive clients) through the router + rollout-loadcheck
#      recording every response
#   4. v1 -> v2 (healthy), v2 -> v3 (5% errors: caught after the flip, flipped back)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/stack.sh
source scripts/lib/hello-stack.sh

DEMO_DIR=${DEMO_DIR:-$(mktemp -d /tmp/nomad-rollouts-demo.XXXXXX)}
LOAD_CONNECTIONS=${LOAD_CONNECTIONS:-20}
SAMPLE_RATE=${SAMPLE_RATE:-200}
stack_init "$DEMO_DIR"
stack_log "demo workspace: $DEMO_DIR (logs of every process are there)"

stack_start_agents
stack_register_hello
stack_log "waiting for 4 ready hello instances"
hello_wait_ready 4 90 || stack_die "hello did not become ready"
hello_start_discovery

stack_start_router hello

ROLLOUTD_PORT=$(stack_free_port)
hello_start_prometheus "127.0.0.1:$ROLLOUTD_PORT"

hello_put_spec v1
stack_spawn rolloutd "$STACK_BUILD/controller/rolloutd" --consul-addr "$CONSUL_HTTP_ADDR" \
  --nomad-addr "$NOMAD_ADDR" --prometheus-addr "$PROMETHEUS_ADDR" \
  --metrics-addr "127.0.0.1:$ROLLOUTD_PORT" --router-timeout 30s
stack_wait 15 curl -sf "http://127.0.0.1:$ROLLOUTD_PORT/healthz" || stack_die "rolloutd did not start"
stack_wait_phase hello Healthy v1 60 || stack_die "rollout hello did not reach Healthy v1"

stack_log "load: wrk -c$LOAD_CONNECTIONS through ${STACK_ROUTER:-haproxy} + loadcheck at $SAMPLE_RATE req/s"
wrk -t2 -c"$LOAD_CONNECTIONS" -d3600s --latency "http://127.0.0.1:$LIVE_PORT/hello" \
  >"$DEMO_DIR/wrk.txt" 2>&1 &
WRK_PID=$!
STACK_PIDS+=("$WRK_PID:wrk")
: "${STACK_BUILD:=build}"
"$STACK_BUILD/bench/loadcheck/rollout-loadcheck" --url "http://127.0.0.1:$LIVE_PORT" --path /hello \
  --rate "$SAMPLE_RATE" --concurrency 4 --duration 0 --out "$DEMO_DIR/samples.jsonl" \
  >"$DEMO_DIR/loadcheck.json" 2>"$DEMO_DIR/loadcheck.log" &
LOADCHECK_PID=$!
STACK_PIDS+=("$LOADCHECK_PID:loadcheck")
sleep 5

stack_log "step 1: set-version v2 (healthy)"
T_SET_V2=$(stack_now_ms)
hello_put_spec v2
stack_wait_phase hello Healthy v2 300 || stack_die "v1 -> v2 did not finish"
T_HEALTHY_V2=$(stack_now_ms)
sleep 3

stack_log "step 2: set-version v3 (returns 5% errors): post-promotion analysis must flip back"
T_SET_V3=$(stack_now_ms)
hello_put_spec v3
stack_wait_phase hello Degraded v2 300 || stack_die "v3 was not rolled back"
sleep 5

if [ -n "${DEMO_CHECK_DASHBOARDS:-}" ]; then
  # Every Grafana panel expression against this run's Prometheus (rolloutd + hello +
  # rollout-router); every panel of the controller dashboard's Router row must have data.
  bash tests/grafana/check_dashboard_queries.sh "$PROMETHEUS_ADDR" hello --service hello \
    --require-series 'Request rate per version' --require-series 'Phase timeline' \
    --require-series 'panel [0-9]+ Router ' >"$DEMO_DIR/dashboards.txt" 2>&1 &&
    echo ok >"$DEMO_DIR/dashboards.rc" || echo failed >"$DEMO_DIR/dashboards.rc"
fi

kill -INT "$WRK_PID" "$LOADCHECK_PID" 2>/dev/null || true
wait "$WRK_PID" 2>/dev/null || true
wait "$LOADCHECK_PID" 2>/dev/null || true

bash scripts/lib/demo-report.sh "$DEMO_DIR" "$T_SET_V2" "$T_SET_V3" "$T_HEALTHY_V2" | tee "$DEMO_DIR/report.md"
stack_kv_get rollouts/status/hello >"$DEMO_DIR/status.json" || true
stack_log "status of the rollout: rollouts/status/hello (history below)"
stack_status hello '.history[] | "  \(.version): \(.outcome) \(.reason // "")"' >&2 || true
