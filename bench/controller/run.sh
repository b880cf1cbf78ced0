#!/usr/bin/env bash
# The controller at scale (REPORT.md): N Rollouts in KV, each pointing at a real Nomad job
# of the sandbox (one small `hello` process with a TCP check in the Active group). Measures
#   1. rolloutd RSS (/proc and its own process_resident_memory_bytes) and CPU over an idle
#      minute once every Rollout is Healthy and every instance passes;
#   2. a full no-op resync (--resync period): from the resync enqueueing every Rollout to
#      the work queue empty again with N more reconciles done, from rolloutd's metrics;
#   3. KV write of a new spec.version -> Standby group registered in Nomad with it, for
#      WRITES distinct Rollouts one at a time (rollout-controller-bench latency).
# Usage: bench/controller/run.sh [BUILD_DIR] [COUNT] [WRITES]
# Needs: cmake --build BUILD_DIR --target rolloutd rollout-sandbox hello rollout-controller-bench
# Env: RESYNC (default 120s), OUT (result JSON, default bench/controller/result.json),
#      KEEP_WORK=1 keeps the work dir (logs), ROLLOUTD_ENV="VAR=value ..." for rolloutd.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
count=${2:-1000}
writes=${3:-200}
resync_s=${RESYNC:-120}
out=${OUT:-$root/bench/controller/result.json}
driver=$build/bench/controller/rollout-controller-bench
for bin in "$build/controller/rolloutd" "$build/sandbox/rollout-sandbox" \
  "$build/examples/hello/hello" "$driver"; do
  [[ -x $bin ]] || { echo "missing $bin: build it first" >&2; exit 2; }
done
command -v jq >/dev/null || { echo "jq is not installed" >&2; exit 2; }

export STACK_BUILD=$build
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib/stack.sh
source "$root/scripts/lib/stack.sh"
work=$(mktemp -d "${TMPDIR:-/tmp}/controller-bench.XXXXXX")
stack_init "$work"

# Stops rolloutd, then the sandbox with time to stop its N tasks, then any task left over
# (found by its working directory under this run's sandbox data dir), then the rest.
bench_stop() {
  local pid f
  for name in rolloutd sandbox; do
    [[ -f $work/$name.pid ]] || continue
    pid=$(cat "$work/$name.pid")
    kill -TERM "$pid" 2>/dev/null || continue
    for _ in $(seq 1 600); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  for f in /proc/[0-9]*/cwd; do
    if [[ $(readlink "$f" 2>/dev/null) == "$work/sandbox"* ]]; then
      pid=${f#/proc/}
      pid=${pid%/cwd}
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  stack_stop
  if [[ -z ${KEEP_WORK:-} ]]; then rm -rf "$work"; else echo "work dir kept: $work" >&2; fi
}
trap bench_stop EXIT

ticks=$(getconf CLK_TCK)
# CPU seconds (user+system) of pid $1, from /proc/PID/stat fields 14 and 15.
cpu_s() { awk -v t="$ticks" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t}' "/proc/$1/stat"; }
rss_kb() { awk '$1=="VmRSS:"{print $2}' "/proc/$1/status"; }
hwm_kb() { awk '$1=="VmHWM:"{print $2}' "/proc/$1/status"; }
threads() { awk '$1=="Threads:"{print $2}' "/proc/$1/status"; }
metrics() { curl -sf -m 10 "http://$ROLLOUTD_METRICS/metrics"; }
# Sum of every series of metric $1 in a /metrics text on stdin.
metric_sum() {
  awk -v m="$1" '$1==m || index($1, m"{")==1 {s+=$NF} END {printf "%.6f", s+0}'
}
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

echo "# controller bench: $count Rollouts, $writes writes, resync ${resync_s}s, rolloutd env: ${ROLLOUTD_ENV:-none}" >&2
echo "# $(date -u +%FT%TZ), $(nproc) cores, load average $(loadavg)" >&2
stack_start_sandbox
sandbox_pid=$(cat "$work/sandbox.pid")
# Like stack_start_rolloutd, but a lost race for the port (another process binding it
# between the pick and rolloutd's bind) is retried.
read -r -a rolloutd_env <<<"${ROLLOUTD_ENV:-}"
for attempt in 1 2 3 4 5; do
  port=$(stack_free_port)
  stack_spawn rolloutd env "${rolloutd_env[@]}" "$build/controller/rolloutd" \
    --consul-addr "$CONSUL_HTTP_ADDR" \
    --nomad-addr "$NOMAD_ADDR" --metrics-addr "127.0.0.1:$port" --resync "${resync_s}s"
  ROLLOUTD_METRICS=127.0.0.1:$port
  stack_wait 10 curl -sf "http://$ROLLOUTD_METRICS/healthz" && break
  stack_log "rolloutd did not start on $port (attempt $attempt): $(tail -1 "$work/rolloutd.log")"
  kill -TERM "$(cat "$work/rolloutd.pid")" 2>/dev/null || true
  ROLLOUTD_METRICS=
done
[[ -n $ROLLOUTD_METRICS ]] || stack_die "rolloutd did not start"
stack_log "rolloutd: metrics on $ROLLOUTD_METRICS"
rolloutd_pid=$(cat "$work/rolloutd.pid")
rolloutd_t0=$(date +%s.%N)   # the resync timer starts about now (runtime->Start)

# --- 1. N Rollouts Healthy, N instances passing ------------------------------------------
stack_log "setup: $count jobs + Rollouts"
setup_json=$("$driver" --consul "$CONSUL_HTTP_ADDR" --nomad "$NOMAD_ADDR" --count "$count" \
  setup --hello "$build/examples/hello/hello")
stack_log "setup done: $setup_json"
rss_after_setup_kb=$(rss_kb "$rolloutd_pid")

# --- 2. the next resync, measured from rolloutd's metrics (4 samples a second) -----------
now=$(date +%s.%N)
next_resync=$(awk -v t0="$rolloutd_t0" -v now="$now" -v p="$resync_s" \
  'BEGIN { k = int((now - t0) / p) + 1; printf "%.3f", t0 + k * p }')
wait_s=$(awk -v r="$next_resync" -v now="$now" 'BEGIN { printf "%.3f", r - now - 3 }')
stack_log "waiting ${wait_s}s for the resync due at $(date -u -d "@$next_resync" +%T)"
if awk -v w="$wait_s" 'BEGIN { exit !(w > 0) }'; then sleep "$wait_s"; fi
samples=$work/resync-samples.tsv
: >"$samples"
deadline=$(( $(date +%s) + resync_s - 5 ))
start_adds=""
while [[ $(date +%s) -lt $deadline ]]; do
  m=$(metrics) || { sleep 0.25; continue; }
  t=$(date +%s.%N)
  depth=$(metric_sum rollouts_workqueue_depth <<<"$m")
  adds=$(metric_sum rollouts_workqueue_adds_total <<<"$m")
  rec=$(metric_sum rollouts_reconcile_total <<<"$m")
  rec_sum=$(metric_sum rollouts_reconcile_duration_seconds_sum <<<"$m")
  api=$(metric_sum rollouts_api_requests_total <<<"$m")
  printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$t" "$depth" "$adds" "$rec" "$rec_sum" "$api" >>"$samples"
  [[ -n $start_adds ]] || start_adds=$adds
  # Done once the resync has happened (adds jumped by >= N/2 since the first sample),
  # the queue is empty and N more reconciles have finished.
  if awk -v a="$adds" -v a0="$start_adds" -v d="$depth" -v n="$count" \
    'BEGIN { exit !(a - a0 >= n / 2 && d == 0) }'; then
    jump_line=$(awk -F'\t' -v n="$count" 'NR==1 {a0=$3} $3 - a0 >= n/2 {print NR; exit}' "$samples")
    before_rec=$(awk -F'\t' -v l="$jump_line" 'NR==l-1 {print $4}' "$samples")
    awk -v r="$rec" -v b="$before_rec" -v n="$count" 'BEGIN { exit !(r - b >= n) }' && break
  fi
  sleep 0.25
done
resync_json=$(awk -F'\t' -v n="$count" '
  NR==1 {a0=$3}
  { t[NR]=$1; d[NR]=$2; a[NR]=$3; r[NR]=$4; s[NR]=$5; api[NR]=$6 }
  END {
    for (i = 1; i <= NR; i++) if (a[i] - a0 >= n/2) { j = i; break }
    if (!j || j == 1) { print "{\"error\": \"no resync seen\"}"; exit }
    for (i = j; i <= NR; i++) if (d[i] > maxd) maxd = d[i]
    e = NR
    rec = r[e] - r[j-1]
    printf "{\"resync_s\": %.2f, \"resolution_s\": %.2f, \"reconciles\": %d, ", \
      t[e] - t[j-1], t[j] - t[j-1], rec
    printf "\"max_queue_depth\": %d, \"mean_reconcile_ms\": %.2f, \"api_requests\": %d}", \
      maxd, (rec > 0 ? 1000 * (s[e] - s[j-1]) / rec : 0), api[e] - api[j-1]
  }' "$samples")
stack_log "resync: $resync_json"

# --- 3. an idle minute (between two resyncs) ---------------------------------------------
sleep 5
m0=$(metrics)
cpu0=$(cpu_s "$rolloutd_pid")
sandbox_cpu0=$(cpu_s "$sandbox_pid")
t0=$(date +%s.%N)
rss_samples=()
for _ in $(seq 1 12); do
  sleep 5
  rss_samples+=("$(rss_kb "$rolloutd_pid")")
done
t1=$(date +%s.%N)
cpu1=$(cpu_s "$rolloutd_pid")
sandbox_cpu1=$(cpu_s "$sandbox_pid")
m1=$(metrics)
idle_json=$(jq -n \
  --argjson t0 "$t0" --argjson t1 "$t1" --argjson cpu0 "$cpu0" --argjson cpu1 "$cpu1" \
  --argjson scpu0 "$sandbox_cpu0" --argjson scpu1 "$sandbox_cpu1" \
  --argjson rss "$(printf '%s\n' "${rss_samples[@]}" | jq -s .)" \
  --argjson hwm "$(hwm_kb "$rolloutd_pid")" --argjson threads "$(threads "$rolloutd_pid")" \
  --argjson metric_rss "$(metric_sum process_resident_memory_bytes <<<"$m1")" \
  --argjson metric_cpu0 "$(metric_sum process_cpu_seconds_total <<<"$m0")" \
  --argjson metric_cpu1 "$(metric_sum process_cpu_seconds_total <<<"$m1")" \
  --argjson rec0 "$(metric_sum rollouts_reconcile_total <<<"$m0")" \
  --argjson rec1 "$(metric_sum rollouts_reconcile_total <<<"$m1")" \
  --argjson api0 "$(metric_sum rollouts_api_requests_total <<<"$m0")" \
  --argjson api1 "$(metric_sum rollouts_api_requests_total <<<"$m1")" \
  --argjson metrics_bytes "$(wc -c <<<"$m1")" \
  '{window_s: ($t1 - $t0), cpu_s: ($cpu1 - $cpu0), cpu_percent: (100 * ($cpu1 - $cpu0) / ($t1 - $t0)),
    metric_cpu_s: ($metric_cpu1 - $metric_cpu0),
    sandbox_cpu_s: ($scpu1 - $scpu0),
    rss_kb_samples: $rss, rss_mb_max: (($rss | max) / 1024), hwm_mb: ($hwm / 1024),
    metric_rss_mb: ($metric_rss / 1048576), threads: $threads,
    reconciles: ($rec1 - $rec0), api_requests: ($api1 - $api0), metrics_text_bytes: $metrics_bytes}')
stack_log "idle: $idle_json"

# --- 4. KV write -> Standby registered ----------------------------------------------------
stack_log "latency: $writes writes"
"$driver" --consul "$CONSUL_HTTP_ADDR" --nomad "$NOMAD_ADDR" --count "$count" \
  latency --writes "$writes" --out "$work/latency.json" >&2
m2=$(metrics)
stack_log "waiting for the $writes rollouts to finish (Healthy on v2)"
settle_json=$("$driver" --consul "$CONSUL_HTTP_ADDR" --nomad "$NOMAD_ADDR" --count "$count" \
  settle --writes "$writes") || settle_json='{"error": "not all Healthy on v2 in time"}'
stack_log "settled: $settle_json"
m3=$(metrics)

# API request durations by backend/endpoint while the latency writes ran (m1 -> m2).
api_table() {
  awk '/^rollouts_api_request_duration_seconds_(sum|count)\{/ {
         match($0, /backend="[^"]*"/); b = substr($0, RSTART + 9, RLENGTH - 10)
         match($0, /endpoint="[^"]*"/); e = substr($0, RSTART + 10, RLENGTH - 11)
         k = b " " e
         if ($1 ~ /_sum\{/) s[k] += $NF; else c[k] += $NF
       } END { for (k in c) print k, c[k], s[k] }' <<<"$1"
}
# An endpoint first used in the latency phase (the job register) has no m1 series: 0.
api_json=$(join -j1 -a 2 -e 0 -o 0,1.2,1.3,2.2,2.3 \
  <(api_table "$m1" | awk '{print $1"|"$2, $3, $4}' | sort) \
  <(api_table "$m2" | awk '{print $1"|"$2, $3, $4}' | sort) |
  awk '{n = $4 - $2; if (n > 0) printf "%s\t%d\t%.3f\n", $1, n, 1000 * ($5 - $3) / n}' |
  jq -R -s 'split("\n") | map(select(length > 0) | split("\t") |
    {endpoint: .[0], requests: (.[1] | tonumber), mean_ms: (.[2] | tonumber)})')

jq -n --arg date "$(date -u +%FT%TZ)" --arg cpu "$(lscpu | awk -F: '/Model name/ {gsub(/^ +/, "", $2); print $2; exit}')" \
  --argjson nproc "$(nproc)" --arg load "$(loadavg)" --argjson count "$count" \
  --argjson resync_period "$resync_s" --argjson setup "$setup_json" \
  --argjson rss_after_setup_kb "$rss_after_setup_kb" \
  --argjson resync "$resync_json" --argjson idle "$idle_json" \
  --slurpfile latency "$work/latency.json" --argjson settle "$settle_json" \
  --argjson api "$api_json" \
  --argjson rss_end_kb "$(rss_kb "$rolloutd_pid")" --argjson hwm_end_kb "$(hwm_kb "$rolloutd_pid")" \
  --argjson metric_rss_end "$(metric_sum process_resident_memory_bytes <<<"$m3")" \
  '{date: $date, machine: {cpu: $cpu, cores: $nproc, load_average_at_end: $load},
    rollouts: $count, resync_period_s: $resync_period, setup: $setup,
    rss_after_setup_mb: ($rss_after_setup_kb / 1024),
    resync: $resync, idle: $idle,
    latency: ($latency[0] | del(.samples)), latency_samples: $latency[0].samples,
    api_during_latency: $api, after_rollouts: $settle,
    rss_end_mb: ($rss_end_kb / 1024), hwm_end_mb: ($hwm_end_kb / 1024),
    metric_rss_end_mb: ($metric_rss_end / 1048576)}' >"$out"
stack_log "wrote $out"
jq 'del(.latency_samples)' "$out"
