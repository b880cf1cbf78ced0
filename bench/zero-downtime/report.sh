#!/usr/bin/env bash
# Turns a bench/zero-downtime/run.sh workspace into report.json and REPORT.md.
#   report.sh WORKSPACE OUT_DIR      (WORKSPACE: one router's folder of a run.sh workspace)
# Inputs (all written by run.sh): meta.json, probe.jsonl, wrk.txt (its WRK_JSON line comes
# from wrk-count.lua), samples.jsonl (rollout-loadcheck: one line per response), rollouts.jsonl
# (one line per rollout: set-version and wait times), status.jsonl (every change of the
# rollout's status key; the controller's events are taken from there), flips.jsonl (when
# the controller registered each flipped job in Nomad, from its log).
set -euo pipefail
dir=$1 out=$2
mkdir -p "$out"

sed -n 's/^WRK_JSON //p' "$dir/wrk.txt" | tail -1 >"$dir/wrk.json"
[ -s "$dir/wrk.json" ] || { echo "no WRK_JSON line in $dir/wrk.txt" >&2; exit 1; }
jq -s '[.[].status.events // [] | .[]] | unique_by([.time, .reason, .message]) | sort_by(.time)' \
  "$dir/status.jsonl" >"$dir/events.json"

jq -n --slurpfile meta "$dir/meta.json" --slurpfile probe "$dir/probe.jsonl" \
  --slurpfile wrk "$dir/wrk.json" --slurpfile rollouts "$dir/rollouts.jsonl" \
  --slurpfile events "$dir/events.json" --slurpfile samples "$dir/samples.jsonl" \
  --slurpfile jobflips "$dir/flips.jsonl" '
  def pct(p): if length == 0 then null
              else sort | .[((length * p) | ceil) - 1 | if . < 0 then 0 else . end] end;
  def ms: (.[0:19] + "Z" | fromdateiso8601) * 1000 + (.[20:23] | tonumber);
  def lat(p): map(.lat_us) | pct(p) | if . == null then null else (. / 10 | round) / 100 end;
  def dist: sort | if length == 0 then null else
    {n: length, min: first, p50: pct(0.5), p90: pct(0.9), max: last,
     mean: ((add / length) | round)} end;
  def maxn(a; b): if a == null then b elif b == null then a elif a > b then a else b end;

  $meta[0] as $m
  | $wrk[0] as $w
  | ($events[0] | map(. + {t: (.time | ms)})) as $ev
  | ($samples | map(select(.t >= $m.t_load and .t <= $m.t_end)) | sort_by(.t)) as $s
  | $rollouts as $ro
  | ($ro | map(select(.bad) | .to)) as $bad_versions
  | [range(0; $ro | length) as $k | $ro[$k] as $r
      | ((if $k + 1 < ($ro | length) then $ro[$k + 1].t_set else $m.t_end end)) as $wend
      | ($s | map(select(.t >= $r.t_set and .t < $wend))) as $win
      | ($win | map(select(.version == $r.to))) as $new
      | ($win | map(select(.version == $r.from))) as $old
      | ($new | first.t) as $first_new
      | ($new | last.t) as $last_new
      | ($ev | map(select(.t >= $r.t_set and .t <= $r.t_done))) as $rev
      | ($rev | map(select(.reason == "Promoting")) | first.t) as $t_promoting
      | ($rev | map(select(.reason == "Flipped")) | first.t) as $t_converged
      | ($jobflips | map(.t) | map(select(. >= $r.t_set and . <= $r.t_done)) | sort) as $jf
      | {i: $r.i, from: $r.from, to: $r.to, bad: $r.bad, ended: $r.phase, active_after: $r.active,
         set_to_done_ms: ($r.t_done - $r.t_set),
         set_to_first_new_ms: (if $first_new then $first_new - $r.t_set else null end),
         set_to_flip_ms: (if $t_promoting then $t_promoting - $r.t_set else null end),
         flip_to_converged_ms: (if $t_promoting and $t_converged then $t_converged - $t_promoting else null end),
         other_versions_answering: ($win | map(select(.version != "" and .version != $r.from and .version != $r.to)) | length),
         new_before_set: ($samples | map(select(.t < $r.t_set and .version == $r.to)) | length)}
      + if $r.bad | not then
          ($old | last.t) as $last_old
          | maxn($first_new; $last_old) as $all_new
          | {set_to_all_new_ms: (if $first_new then $all_new - $r.t_set else null end),
             flip_ms: (if $first_new and $t_promoting then $all_new - $t_promoting else null end),
             job_flip_ms: (if $first_new and $jf[0] then $all_new - $jf[0] else null end),
             overlap_ms: (if $first_new and $last_old and $last_old > $first_new then $last_old - $first_new else 0 end),
             old_after_done: ($samples | map(select(.t > $r.t_done and .version == $r.from)) | length),
             flips: (if $first_new then [{what: "promote", from: $r.from, to: $r.to,
                       window: [$first_new - 1000, $all_new + 1000]}] else [] end)}
        else
          (if $first_new then ($first_new + $last_new) / 2 else null end) as $mid
          | ($old | map(select($mid != null and .t < $mid)) | last.t) as $last_old_promote
          | ($old | map(select($mid != null and .t > $mid)) | first.t) as $back
          | ($rev | map(select(.type == "Warning" and (.reason == "AnalysisFailed" or .reason == "ProbeFailed"))) | first) as $fail
          | maxn($last_new; $back) as $all_back
          | {rollback_reason: ($fail.reason // null),
             promoted_to_back_ms: (if $first_new and $back then $all_back - $first_new else null end),
             rollback_flip_ms: (if $fail and $back then $all_back - $fail.t else null end),
             rollback_job_flip_ms: (if $back and $jf[1] then $all_back - $jf[1] else null end),
             rollback_overlap_ms: (if $back and $last_new and $last_new > $back then $last_new - $back else 0 end),
             bad_after_done: ($samples | map(select(.t > $r.t_done and .version == $r.to)) | length),
             flips: ((if $first_new then [{what: "promote (bad)", from: $r.from, to: $r.to,
                        window: [$first_new - 1000, maxn($first_new; $last_old_promote) + 1000]}] else [] end)
                     + (if $back then [{what: "flip back", from: $r.to, to: $r.from,
                        window: [$back - 1000, $all_back + 1000]}] else [] end))}
        end
    ] as $per
  | [$per[].flips[]] as $flips
  | ($s | map(. as $x | select(any($flips[]; $x.t >= .window[0] and $x.t <= .window[1])))) as $in_flip
  | ($s | map(. as $x | select(all($flips[]; $x.t < .window[0] or $x.t > .window[1])))) as $steady
  | ($s | map(select(.status == 0)) | length) as $transport
  | ($s | map(select(.status != 0 and (.status < 200 or .status > 299)))) as $s_non2xx
  | ($s_non2xx | map(select(.version as $v | $bad_versions | index($v) | not)) | length) as $s_lost_non2xx
  | ($w.non2xx | to_entries) as $wn
  | ($wn | map(select(.key | startswith("from:")) | select(.key[5:] as $v | $bad_versions | index($v)) | .value) | add // 0) as $w_injected
  | (($wn | map(.value) | add // 0) - $w_injected) as $w_lost_non2xx
  | ($w.errors.connect + $w.errors.read + $w.errors.write + $w.errors.timeout) as $w_socket
  | ($s | lat(0.5)) as $all_p50
  | ($steady | lat(0.5)) as $st50 | ($steady | lat(0.99)) as $st99
  | ($in_flip | lat(0.5)) as $fl50 | ($in_flip | lat(0.99)) as $fl99
  | {
      meta: $m,
      probe: $probe,
      load: {connections: $m.load_connections,
             wrk_requests: $w.requests, wrk_seconds: ($w.duration_us / 1e6 | . * 10 | round / 10),
             wrk_rate: ($w.requests * 1e6 / $w.duration_us | floor),
             wrk_latency_ms: ($w.latency_us | map_values(. / 1000 | . * 100 | round / 100)),
             sampled_requests: ($s | length), sample_rate: $m.sample_rate},
      errors: {
        lost: ($w_socket + $w_lost_non2xx + $transport + $s_lost_non2xx),
        wrk_socket: $w.errors,
        wrk_non2xx_not_injected: $w_lost_non2xx,
        wrk_injected_by_bad_versions: $w_injected,
        wrk_non2xx_by_source: $w.non2xx,
        sampled_transport_errors: $transport,
        sampled_non2xx_not_injected: $s_lost_non2xx,
        sampled_non2xx_by_version: ($s_non2xx | group_by(.version) | map({key: .[0].version, value: length}) | from_entries),
        sampled_transport_error_texts: ($s | map(select(.status == 0) | .error) | group_by(.) | map({key: .[0], value: length}) | from_entries)
      },
      routing: {
        new_version_before_set_version: ($per | map(.new_before_set) | add),
        old_version_after_rollout_done: ($per | map(.old_after_done // 0) | add),
        bad_version_after_rollback_done: ($per | map(.bad_after_done // 0) | add),
        other_versions_answering: ($per | map(.other_versions_answering) | add)
      },
      latency_ms: {steady: {p50: $st50, p99: $st99, samples: ($steady | length)},
                   flips: {p50: $fl50, p99: $fl99, samples: ($in_flip | length)},
                   ratio_flip_over_steady: {p50: (if $st50 > 0 and $fl50 != null then ($fl50 / $st50 * 100 | round / 100) else null end),
                                            p99: (if $st99 > 0 and $fl99 != null then ($fl99 / $st99 * 100 | round / 100) else null end)},
                   flip_window: "1 s before the first answer of the new version to 1 s after the last answer of the old one"},
      distributions_ms: {
        set_version_to_all_traffic_on_new: ($per | map(select(.bad | not) | .set_to_all_new_ms) | map(select(. != null)) | dist),
        flip_to_all_traffic_on_new: ($per | map(select(.bad | not) | .flip_ms) | map(select(. != null)) | dist),
        job_flip_to_all_traffic_on_new: ($per | map(select(.bad | not) | .job_flip_ms) | map(select(. != null)) | dist),
        job_flip_back_to_all_traffic_back: ($per | map(select(.bad) | .rollback_job_flip_ms) | map(select(. != null)) | dist),
        flip_overlap_old_and_new_answering: ($per | map(select(.bad | not) | .overlap_ms) | dist),
        set_version_to_controller_done: ($per | map(select(.bad | not) | .set_to_done_ms) | dist),
        bad_promoted_to_traffic_back: ($per | map(select(.bad) | .promoted_to_back_ms) | map(select(. != null)) | dist),
        analysis_failed_to_traffic_back: ($per | map(select(.bad) | .rollback_flip_ms) | map(select(. != null)) | dist)
      },
      rollouts: ($per | map(. as $p | del(.flips) + {
        flip_latency_ms: [$p.flips[] | . as $f | {what: .what,
          p50: ($s | map(select(.t >= $f.window[0] and .t <= $f.window[1])) | lat(0.5)),
          p99: ($s | map(select(.t >= $f.window[0] and .t <= $f.window[1])) | lat(0.99)),
          samples: ($s | map(select(.t >= $f.window[0] and .t <= $f.window[1])) | length)}]}))
    }' >"$out/report.json"

r() { jq -r "$1" "$out/report.json"; }
d() {  # one distribution as a table row
  jq -r --arg name "$2" ".distributions_ms.$1 | if . == null then \"| \(\$name) | - | - | - | - | - |\"
    else \"| \(\$name) | \(.n) | \(.min) | \(.p50) | \(.p90) | \(.max) |\" end" "$out/report.json"
}
{
  cat <<MD
# Zero-downtime proof through $(r .meta.router): $(r .meta.rollouts_completed) consecutive rollouts under load

Generated by \`bench/zero-downtime/run.sh\` (method and caveats: \`bench/zero-downtime/README.md\`).

- **Command:** \`$(r .meta.command)\` (ROLLOUTS=$(r .meta.rollouts_requested), BAD_EVERY=$(r .meta.bad_every)), run $(r .meta.date) at commit $(r .meta.commit)
- **Machine:** $(r .meta.cores) cores ($(r .meta.cpu)); load average before the stack started: $(r .meta.load_average.before_stack), when the load started: $(r .meta.load_average.load_start), at the end: $(r .meta.load_average.end)
- **Router:** $(r .meta.router_label), one of the routers measured side by side in this run ($(r .meta.routers))
- **Load:** \`$(r .meta.wrk_command)\` through that router, closed loop: **$(r .load.wrk_rate) requests/s achieved** over $(r .load.wrk_seconds) s, plus rollout-loadcheck recording every response at $(r .load.sample_rate) req/s
- **Rollouts:** $(r .meta.rollouts_completed) of $(r .meta.rollouts_requested) completed; $(r '[.rollouts[] | select(.bad)] | length') of them bad ($(r '[.rollouts[] | select(.bad) | .to] | join(", ")'): $(r '.meta.bad_error_rate * 100')% of answers are errors), each to be flipped back automatically by the post-promotion analysis

## Result

| measure | value |
| --- | --- |
| wrk requests | $(r .load.wrk_requests) |
| **requests lost by switching (must be 0)** | **$(r .errors.lost)** |
| wrk socket errors (connect / read / write / timeout) | $(r '.errors.wrk_socket | "\(.connect) / \(.read) / \(.write) / \(.timeout)"') |
| wrk non-2xx not injected by a bad version | $(r .errors.wrk_non2xx_not_injected) |
| wrk non-2xx injected by the bad versions while live (expected) | $(r .errors.wrk_injected_by_bad_versions) |
| sampled requests / transport errors | $(r .load.sampled_requests) / $(r .errors.sampled_transport_errors) |
| sampled non-2xx not injected by a bad version | $(r .errors.sampled_non2xx_not_injected) |
| new version answering before its set-version | $(r .routing.new_version_before_set_version) |
| old version answering after the rollout reported Healthy | $(r .routing.old_version_after_rollout_done) |
| bad version answering after the rollout reported Degraded | $(r .routing.bad_version_after_rollback_done) |
| a third version answering during a rollout | $(r .routing.other_versions_answering) |
| sampled latency p50 / p99, steady | $(r '.latency_ms.steady | "\(.p50) / \(.p99) ms (\(.samples) samples)"') |
| sampled latency p50 / p99, within flips | $(r '.latency_ms.flips | "\(.p50) / \(.p99) ms (\(.samples) samples)"') |
| ratio flip / steady, p50 / p99 | $(r '.latency_ms.ratio_flip_over_steady | "\(.p50) / \(.p99)"') |
| wrk latency p50 / p99 / max (whole run) | $(r '.load.wrk_latency_ms | "\(.p50) / \(.p99) / \(.max) ms"') |

A flip window runs from 1 s before the first answer of the new version to 1 s after the
last answer of the old one; steady is every other sampled request of the run.

## Rate probe (wrk alone through this router, $(r .meta.probe_seconds) s each, whole stack idle otherwise)

| connections | requests/s | p50 ms | p99 ms | lost |
| --- | --- | --- | --- | --- |
$(jq -r '.probe[] | "| \(.connections) | \(.rate) | \(.p50_ms) | \(.p99_ms) | \(.lost) |"' "$out/report.json")

## Flip latency distribution (ms)

| measure | n | min | p50 | p90 | max |
| --- | --- | --- | --- | --- | --- |
$(d set_version_to_all_traffic_on_new "set-version -> all traffic on the new version")
$(d flip_to_all_traffic_on_new "controller's flip (Promoting event) -> all traffic on the new version")
$(d job_flip_to_all_traffic_on_new "flipped job registered in Nomad -> all traffic on the new version")
$(d job_flip_back_to_all_traffic_back "flip back registered in Nomad -> all traffic back")
$(d flip_overlap_old_and_new_answering "old and new both answering (reload overlap)")
$(d set_version_to_controller_done "set-version -> rollout Healthy (incl. analysis, drain, scale-down)")
$(d bad_promoted_to_traffic_back "bad version promoted -> all traffic back")
$(d analysis_failed_to_traffic_back "analysis failed -> all traffic back")

## Every rollout

| # | from -> to | ended | set -> flip | set -> all new | flip -> all new | overlap | promoted -> back | flip windows p50 / p99 ms |
| --- | --- | --- | --- | --- | --- | --- | --- | --- |
$(jq -r '.rollouts[] | "| \(.i) | \(.from) -> \(.to)\(if .bad then " (bad)" else "" end) | \(.ended) \(.active_after) | \(.set_to_flip_ms // "-") | \(.set_to_all_new_ms // "-") | \(.flip_ms // "-") | \(.overlap_ms // .rollback_overlap_ms // "-") | \(.promoted_to_back_ms // "-") | \([.flip_latency_ms[] | "\(.what): \(.p50) / \(.p99)"] | join("; ")) |"' "$out/report.json")

Times in ms. "set -> flip": set-version until the controller's Promoting event (deploy,
health, pre-promotion probe); "flip -> all new": from that event until the last answer of
the old version (Consul retagging and the router's switch included); "overlap": how long old and new both answered.
MD
} >"$out/REPORT.md"
