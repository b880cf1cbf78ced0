#!/usr/bin/env bash
# Prints the demo's report (markdown) from wrk's output and rollout-loadcheck's samples.
#   demo-report.sh DIR T_SET_V2_MS T_SET_V3_MS T_HEALTHY_V2_MS
set -euo pipefail
dir=$1 t_v2=$2 t_v3=$3 t_healthy_v2=$4

wrk_requests=$(awk '/requests in/{print $1}' "$dir/wrk.txt")
wrk_non2xx=$(awk -F': ' '/Non-2xx/{print $2}' "$dir/wrk.txt")
wrk_sock=$(awk -F': ' '/Socket errors/{print $2}' "$dir/wrk.txt")
wrk_p50=$(awk '$1=="50%"{print $2}' "$dir/wrk.txt")
wrk_p99=$(awk '$1=="99%"{print $2}' "$dir/wrk.txt")

# One pass over every recorded response.
jq -s --argjson tv2 "$t_v2" --argjson tv3 "$t_v3" --argjson th2 "$t_healthy_v2" '
  def pct(p): if length == 0 then null else (sort | .[((length * p) | ceil) - 1 | if . < 0 then 0 else . end] / 1000) end;
  sort_by(.t) as $s
  | ($s | map(select(.version == "v2")) | first.t) as $first_v2
  | ($s | map(select(.version == "v1")) | last.t) as $last_v1
  | ($s | map(select(.version == "v3")) | first.t) as $first_v3
  | ($s | map(select(.version == "v3")) | last.t) as $last_v3
  | ($s | map(select(.t > $last_v3 and .version == "v2")) | first.t) as $back_v2
  | [[$first_v2 - 1000, $last_v1 + 1000], [($first_v3 // 0) - 1000, ($first_v3 // 0) + 1000],
     [($last_v3 // 0) - 1000, ($back_v2 // 0) + 1000]] as $windows
  | def in_flip: . as $t | any($windows[]; $t >= .[0] and $t <= .[1]);
  {
    requests: ($s | length),
    transport_errors: ($s | map(select(.status == 0)) | length),
    non2xx_by_version: ($s | map(select(.status != 0 and (.status < 200 or .status >= 300)))
                           | group_by(.version) | map({key: .[0].version, value: length}) | from_entries),
    v1_after_first_v2: ($s | map(select(.t > $first_v2 and .version == "v1")) | length),
    v1_after_healthy_v2: ($s | map(select(.t > $th2 and .version == "v1")) | length),
    flip_overlap_ms: ($last_v1 - $first_v2),
    v2_before_set_v2: ($s | map(select(.t < $tv2 and .version == "v2")) | length),
    v3_before_set_v3: ($s | map(select(.t < $tv3 and .version == "v3")) | length),
    set_v2_to_all_v2_ms: ($last_v1 - $tv2),
    set_v2_to_first_v2_ms: ($first_v2 - $tv2),
    v3_served_ms: (if $first_v3 then $last_v3 - $first_v3 else null end),
    set_v3_to_first_v3_ms: (if $first_v3 then $first_v3 - $tv3 else null end),
    steady_p50_ms: ($s | map(select(.t | in_flip | not) | .lat_us) | pct(0.50)),
    steady_p99_ms: ($s | map(select(.t | in_flip | not) | .lat_us) | pct(0.99)),
    flip_p50_ms: ($s | map(select(.t | in_flip) | .lat_us) | pct(0.50)),
    flip_p99_ms: ($s | map(select(.t | in_flip) | .lat_us) | pct(0.99))
  }' "$dir/samples.jsonl" >"$dir/report.json"

r() { jq -r "$1" "$dir/report.json"; }
cat <<MD
## Nomad Rollouts demo report

Load: wrk through ${STACK_ROUTER:-haproxy} (${LOAD_CONNECTIONS:-20} keep-alive connections$( [ "${STACK_ROUTER:-haproxy}" = nginx ] && echo "; nginx client keep-alive ${STACK_CLIENT_KEEPALIVE:-0} s, see scripts/lib/stack.sh")) plus
rollout-loadcheck recording every response (${SAMPLE_RATE:-200} req/s).

| measure | value |
| --- | --- |
| wrk requests | ${wrk_requests:-?} |
| wrk non-2xx responses | ${wrk_non2xx:-0} |
| wrk socket errors | ${wrk_sock:-none} |
| wrk latency p50 / p99 (whole run) | ${wrk_p50:-?} / ${wrk_p99:-?} |
| sampled requests | $(r .requests) |
| sampled transport errors | $(r .transport_errors) |
| sampled non-2xx by version | $(r '.non2xx_by_version | tostring') |
| v1 responses after the first v2 response | $(r .v1_after_first_v2) (old and new overlapped $(r 'if .flip_overlap_ms > 0 then .flip_overlap_ms else 0 end') ms: requests already in flight at the switch; with nginx, its old workers finishing during the reload) |
| v1 responses after the rollout reported Healthy v2 | $(r .v1_after_healthy_v2) |
| v2 responses before set-version v2 | $(r .v2_before_set_v2) |
| set-version v2 -> first v2 response | $(r .set_v2_to_first_v2_ms) ms |
| set-version v2 -> all traffic on v2 (last v1 response) | $(r .set_v2_to_all_v2_ms) ms |
| set-version v3 -> v3 promoted (first v3 response) | $(r .set_v3_to_first_v3_ms) ms |
| bad promotion -> rolled back (v3 served for) | $(r .v3_served_ms) ms |
| sampled latency p50 / p99, steady state | $(r .steady_p50_ms) / $(r .steady_p99_ms) ms |
| sampled latency p50 / p99, within 1 s of a flip | $(r .flip_p50_ms) / $(r .flip_p99_ms) ms |

Non-2xx answers from v3 are its own injected 5% errors while it was live (that is what
the analysis caught); any other non-2xx or any transport error would be a loss caused by
switching.
MD
