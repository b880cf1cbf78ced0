#!/usr/bin/env bash
# Zero-downtime proof, routers side by side: N consecutive rollouts of the hello demo job
# under wrk load, the same rollouts seen at once through every router in ROUTERS, every
# BAD_EVERY-th version answering 5% errors so that the post-promotion analysis flips it
# back automatically. Everything runs on 127.0.0.1 (the stack of scripts/lib/stack.sh, as
# in the demo) and is stopped at the end.
#
#   bash bench/zero-downtime/run.sh            # 20 rollouts; writes REPORT.md + report.json here
#   ROLLOUTS=5 REPORT_DIR=/tmp/zd bash bench/zero-downtime/run.sh
#
# Routers (lanes), each its own rollout-router in front of the same hello instances; the
# controller waits for all of them before it calls a flip done:
#   haproxy          HAProxy driven through its runtime API (no reload), client keep-alive on
#   nginx-keepalive  nginx reloaded on every change, client keep-alive 65 s
#   nginx            nginx reloaded on every change, client keep-alive off (keepalive_timeout 0)
# Steps:
#   1. stack: rollout-sandbox running hello v1, Prometheus (hello instances), the routers,
#      rolloutd (--router-timeout 30s);
#   2. rate probe: wrk alone through each router for PROBE_SECONDS with each connection count
#      in PROBE_CONNECTIONS; the load uses, for every router, the count that gave the most
#      requests/s summed over the routers (the smallest within 3% of the best);
#   3. load: one wrk per router with that count, all at once (closed loop: each sends as fast
#      as its router answers, so the achieved rates are what the machine sustains with
#      everything else running; they are reported) + one rollout-loadcheck per router
#      recording every response at SAMPLE_RATE req/s (which version answered, latency,
#      status) for the per-flip figures;
#   4. rollouts v1 -> v2 -> ... with `rolloutctl set-version` + `rolloutctl wait`
#      (Healthy for good versions, Degraded for bad ones, whose rollback leaves the
#      previous version active and the next rollout starts from there);
#   5. reports: bench/zero-downtime/report.sh per router (lanes/<router>/), then
#      compare.sh (REPORT.md + report.json: the routers side by side).
# Needs a build (STACK_BUILD, default build/) of rolloutd rollout-sandbox rollout-router
# rolloutctl hello rollout-loadcheck, and haproxy, nginx, prometheus, wrk, jq
# (scripts/install-deps.sh).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
source scripts/lib/stack.sh
source scripts/lib/hello-stack.sh

ROLLOUTS=${ROLLOUTS:-20}
BAD_EVERY=${BAD_EVERY:-5}              # v5, v10, ... answer BAD_ERROR_RATE errors
BAD_ERROR_RATE=${BAD_ERROR_RATE:-0.05}
ROUTERS=${ROUTERS:-haproxy nginx-keepalive nginx}
PROBE_CONNECTIONS=${PROBE_CONNECTIONS:-8 16 32}
PROBE_SECONDS=${PROBE_SECONDS:-5}
SAMPLE_RATE=${SAMPLE_RATE:-100}
STEADY_SECONDS=${STEADY_SECONDS:-10}   # steady load before the first and after the last rollout
PAUSE_SECONDS=${PAUSE_SECONDS:-3}      # between two rollouts
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-5m}
REPORT_DIR=${REPORT_DIR:-$ROOT/bench/zero-downtime}
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/nomad-rollouts-zd.XXXXXX)}
[ "$ROLLOUTS" -ge 1 ] || { echo "ROLLOUTS must be at least 1" >&2; exit 2; }
if [ $(( (ROLLOUTS + 1) / BAD_EVERY )) -lt 1 ]; then
  echo "no bad version among v2..v$((ROLLOUTS + 1)) with BAD_EVERY=$BAD_EVERY" >&2
  exit 2
fi
for tool in /usr/sbin/haproxy /usr/sbin/nginx /usr/bin/prometheus /usr/bin/wrk /usr/bin/jq; do
  [ -x "$tool" ] || { echo "$tool is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
done
for bin in controller/rolloutd sandbox/rollout-sandbox router/rollout-router cli/rolloutctl \
  examples/hello/hello bench/loadcheck/rollout-loadcheck; do
  [ -x "$STACK_BUILD/$bin" ] || { echo "missing $STACK_BUILD/$bin: build it first" >&2; exit 2; }
done
ROLLOUTCTL=$STACK_BUILD/cli/rolloutctl
LUA=$ROOT/bench/zero-downtime/wrk-count.lua

LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
stack_init "$BENCH_DIR"
stack_log "workspace: $BENCH_DIR (logs of every process are there)"

# --- 1. the stack ------------------------------------------------------------------------
bad_versions=()
for (( v = 2; v <= ROLLOUTS + 1; v++ )); do
  if (( v % BAD_EVERY == 0 )); then bad_versions+=("v$v"); fi
done
error_table=$(printf "%s=$BAD_ERROR_RATE," "${bad_versions[@]}")
error_table=${error_table%,}

stack_start_sandbox
stack_register_hello
stack_log "waiting for 4 ready hello instances"
hello_wait_ready 4 90 || stack_die "hello did not become ready"
hello_start_discovery
hello_start_prometheus ""
declare -A LANE_URL
for lane in $ROUTERS; do
  live=$(stack_free_port)
  preview=$(stack_free_port)
  case $lane in
    haproxy) stack_start_haproxy_router "zd-$lane" hello "$live" "$preview" ;;
    nginx-keepalive) stack_start_nginx_router "zd-$lane" hello "$live" "$preview" 65 ;;
    nginx) stack_start_nginx_router "zd-$lane" hello "$live" "$preview" 0 ;;
    *) stack_die "unknown router lane $lane (haproxy, nginx-keepalive, nginx)" ;;
  esac
  LANE_URL[$lane]=http://127.0.0.1:$live
  mkdir -p "$BENCH_DIR/$lane"
done
# Every version the controller deploys gets the same error table (the Rollout's template
# writes it into the task's env with APP_VERSION), so only the bad versions inject errors.
hello_put_spec v1 ".spec.template.set[\"/Env/ERROR_RATE_BY_VERSION\"] = \"$error_table\""
stack_start_rolloutd rolloutd --router-timeout 30s
stack_wait_phase hello Healthy v1 60 || stack_die "rollout hello did not reach Healthy v1"

# Every change of the status key (Consul blocking query), for the controller's event times.
(
  idx=0
  while :; do
    hdr=$(curl -s -m 40 -D - -o "$BENCH_DIR/status.tmp" \
      "$CONSUL_HTTP_ADDR/v1/kv/rollouts/status/hello?index=$idx&wait=30s") || { sleep 0.5; continue; }
    new=$(printf '%s' "$hdr" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-consul-index" {print $2}')
    if [ -n "$new" ] && [ "$new" != "$idx" ] && [ -s "$BENCH_DIR/status.tmp" ]; then
      jq -c --argjson t "$(stack_now_ms)" '{t: $t, status: (.[0].Value | @base64d | fromjson)}' \
        "$BENCH_DIR/status.tmp" >>"$BENCH_DIR/status.jsonl" 2>/dev/null || true
    fi
    if [ -z "$new" ] || [ "${new:-0}" -lt "$idx" ]; then idx=0; else idx=$new; fi
  done
) &
STACK_PIDS+=("$!:status-watch")

# --- 2. rate probe -----------------------------------------------------------------------
for lane in $ROUTERS; do
  : >"$BENCH_DIR/$lane/probe.jsonl"
  for c in $PROBE_CONNECTIONS; do
    wrk -t1 -c"$c" -d"${PROBE_SECONDS}s" -s "$LUA" "${LANE_URL[$lane]}/hello" \
      >"$BENCH_DIR/$lane/probe-c$c.txt" 2>&1 || true
    sed -n 's/^WRK_JSON //p' "$BENCH_DIR/$lane/probe-c$c.txt" |
      jq -c --argjson c "$c" '{connections: $c, requests, rate: (.requests * 1e6 / .duration_us | floor),
        p50_ms: (.latency_us.p50 / 1000), p99_ms: (.latency_us.p99 / 1000),
        lost: ((.errors.connect + .errors.read + .errors.write + .errors.timeout)
               + (.non2xx | to_entries | map(.value) | add // 0))}' >>"$BENCH_DIR/$lane/probe.jsonl"
    stack_log "probe $lane: wrk -c$c: $(jq -r "select(.connections == $c) | \"\(.rate) req/s, p99 \(.p99_ms) ms\"" "$BENCH_DIR/$lane/probe.jsonl")"
  done
done
# The same count for every router: the one with the most requests/s over all of them.
LOAD_CONNECTIONS=$(for lane in $ROUTERS; do cat "$BENCH_DIR/$lane/probe.jsonl"; done |
  jq -s 'group_by(.connections) | map({connections: .[0].connections, rate: (map(.rate) | add)})
    | (map(.rate) | max) as $best | map(select(.rate >= 0.97 * $best)) | min_by(.connections)
    | .connections')
[ "$LOAD_CONNECTIONS" != null ] || stack_die "the probe measured nothing (see $BENCH_DIR/*/probe-c*.txt)"
stack_log "load: wrk -c$LOAD_CONNECTIONS through each router at once + loadcheck at $SAMPLE_RATE req/s each"

# --- 3. load -----------------------------------------------------------------------------
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
T_LOAD=$(stack_now_ms)
LOAD_PIDS=()
for lane in $ROUTERS; do
  wrk -t1 -c"$LOAD_CONNECTIONS" -d3600s --latency -s "$LUA" "${LANE_URL[$lane]}/hello" \
    >"$BENCH_DIR/$lane/wrk.txt" 2>&1 &
  LOAD_PIDS+=("$!")
  STACK_PIDS+=("$!:wrk-$lane")
  "$STACK_BUILD/bench/loadcheck/rollout-loadcheck" --url "${LANE_URL[$lane]}" --path /hello \
    --rate "$SAMPLE_RATE" --concurrency 4 --duration 0 --out "$BENCH_DIR/$lane/samples.jsonl" \
    >"$BENCH_DIR/$lane/loadcheck.json" 2>"$BENCH_DIR/$lane/loadcheck.log" &
  LOAD_PIDS+=("$!")
  STACK_PIDS+=("$!:loadcheck-$lane")
done
sleep "$STEADY_SECONDS"

# --- 4. rollouts -------------------------------------------------------------------------
: >"$BENCH_DIR/rollouts.jsonl"
active=v1
completed=0
for (( i = 1; i <= ROLLOUTS; i++ )); do
  to=v$((i + 1))
  bad=false want=Healthy expect=$to
  if (( (i + 1) % BAD_EVERY == 0 )); then bad=true want=Degraded expect=$active; fi
  stack_log "rollout $i/$ROLLOUTS: $active -> $to$([ $bad = true ] && echo " (bad: $BAD_ERROR_RATE errors, must be flipped back)")"
  t_set=$(stack_now_ms)
  "$ROLLOUTCTL" set-version hello "$to" >>"$BENCH_DIR/rolloutctl.log" 2>&1 ||
    stack_die "rolloutctl set-version hello $to failed (see rolloutctl.log)"
  rc=0
  "$ROLLOUTCTL" wait hello --for "$want" --timeout "$ROLLOUT_TIMEOUT" >>"$BENCH_DIR/rolloutctl.log" 2>&1 || rc=$?
  t_done=$(stack_now_ms)
  phase=$(stack_status hello .phase)
  now_active=$(stack_status hello .activeVersion)
  jq -nc --argjson i "$i" --arg from "$active" --arg to "$to" --argjson bad "$bad" \
    --argjson t_set "$t_set" --argjson t_done "$t_done" --arg want "$want" --argjson rc "$rc" \
    --arg phase "$phase" --arg active "$now_active" \
    '{i: $i, from: $from, to: $to, bad: $bad, t_set: $t_set, t_done: $t_done, waited_for: $want,
      wait_rc: $rc, phase: $phase, active: $active}' >>"$BENCH_DIR/rollouts.jsonl"
  if [ "$rc" != 0 ] || [ "$phase" != "$want" ] || [ "$now_active" != "$expect" ]; then
    stack_log "rollout $i did not end as expected: wait exit $rc, phase $phase, active $now_active (wanted $want, $expect); stopping here"
    break
  fi
  stack_log "  -> $phase, active $now_active after $(( (t_done - t_set) / 1000 )) s"
  completed=$i
  active=$expect
  sleep "$PAUSE_SECONDS"
done
sleep "$STEADY_SECONDS"

kill -INT "${LOAD_PIDS[@]}" 2>/dev/null || true
for pid in "${LOAD_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
T_END=$(stack_now_ms)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
stack_kv_get rollouts/status/hello >"$BENCH_DIR/status-final.json" || true

# --- 5. report ---------------------------------------------------------------------------
# When the controller registered each flipped job in Nomad (its log, glog's local time).
: >"$BENCH_DIR/flips.jsonl"
grep -a 'registered job hello (flip' "$BENCH_DIR/rolloutd.log" | while read -r lvl_date time _; do
  d=${lvl_date:1}
  t=$(date -d "${d:0:4}-${d:4:2}-${d:6:2} $time" +%s%3N)
  jq -nc --argjson t "$t" '{t: $t}' >>"$BENCH_DIR/flips.jsonl"
done
commit=${BENCH_COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
for lane in $ROUTERS; do
  case $lane in
    haproxy) label="HAProxy (runtime API, no reload; client keep-alive on)" ;;
    nginx-keepalive) label="nginx (reload per change; client keep-alive 65 s)" ;;
    nginx) label="nginx (reload per change; client keep-alive off)" ;;
  esac
  ln -sf ../rollouts.jsonl ../status.jsonl ../flips.jsonl "$BENCH_DIR/$lane/" 2>/dev/null || true
  jq -n --arg command "bash bench/zero-downtime/run.sh" --arg router "$lane" --arg rlabel "$label" \
    --arg wrk "wrk -t1 -c$LOAD_CONNECTIONS -d3600s --latency -s bench/zero-downtime/wrk-count.lua http://127.0.0.1:PORT/hello" \
    --arg routers "$ROUTERS" \
    --argjson rollouts "$ROLLOUTS" --argjson completed "$completed" --argjson bad_every "$BAD_EVERY" \
    --arg bad_rate "$BAD_ERROR_RATE" --argjson connections "$LOAD_CONNECTIONS" \
    --argjson sample_rate "$SAMPLE_RATE" --argjson t_load "$T_LOAD" --argjson t_end "$T_END" \
    --arg date "$(date -u +%FT%TZ)" --argjson cores "$(nproc)" --arg cpu "$(awk -F': ' '/model name/{print $2; exit}' /proc/cpuinfo)" \
    --arg load_before "$LOAD_BEFORE" --arg load_start "$LOAD_START" --arg load_end "$LOAD_END" \
    --arg probe_seconds "$PROBE_SECONDS" --arg build "$STACK_BUILD" --arg commit "$commit" \
    '{command: $command, router: $router, router_label: $rlabel, routers: $routers, wrk_command: $wrk,
      rollouts_requested: $rollouts, rollouts_completed: $completed,
      bad_every: $bad_every, bad_error_rate: ($bad_rate | tonumber), load_connections: $connections,
      sample_rate: $sample_rate, t_load: $t_load, t_end: $t_end, date: $date, cores: $cores, cpu: $cpu,
      load_average: {before_stack: $load_before, load_start: $load_start, end: $load_end},
      probe_seconds: ($probe_seconds | tonumber), build: $build, commit: $commit}' >"$BENCH_DIR/$lane/meta.json"
  bash "$ROOT/bench/zero-downtime/report.sh" "$BENCH_DIR/$lane" "$REPORT_DIR/lanes/$lane"
  # The router's own share of a switch: from Consul's answer to the proxy serving it.
  grep -ao "[0-9.]* ms after Consul's change arrived" "$BENCH_DIR/zd-$lane.log" | cut -d' ' -f1 |
    jq -s 'sort | if length == 0 then null else {n: length, p50: .[(length * 0.5 | ceil) - 1],
      p90: .[(length * 0.9 | ceil) - 1], max: last} end' >"$REPORT_DIR/lanes/$lane/switch-latency.json"
done
# shellcheck disable=SC2086
bash "$ROOT/bench/zero-downtime/compare.sh" "$REPORT_DIR" $ROUTERS
stack_log "report: $REPORT_DIR/REPORT.md and $REPORT_DIR/report.json (each router: $REPORT_DIR/lanes/)"
[ "$completed" = "$ROLLOUTS" ] || { stack_log "only $completed of $ROLLOUTS rollouts completed"; exit 1; }
[ "$(jq '.routers.haproxy.lost // 0' "$REPORT_DIR/report.json")" = 0 ] ||
  { stack_log "requests were lost through HAProxy (see the report)"; exit 1; }
