#!/usr/bin/env bash
# Runs every PromQL expression of the Grafana dashboards against a real Prometheus.
#
#   check_dashboard_queries.sh PROMETHEUS_URL ROLLOUT [options]
#     --service NAME        value of $service (default: ROLLOUT)
#     --job NAME            value of $job (default: rolloutd)
#     --dashboards DIR      default: grafana/dashboards next to this script's repository
#     --require-series RE   fail when an expression whose "dashboard: panel" name matches
#                           the extended regex RE returned no series (repeatable)
#
# Variables are filled in the way Grafana would: $rollout, $service, $job from the
# arguments, other dashboard variables from their saved current value, Grafana's built-ins
# ($__rate_interval, $__interval, $__range, ...) with fixed windows. Each expression goes to
# /api/v1/query (evaluated now). Prints one line per expression: "ok N", "empty" or
# "ERROR <message>". Exit status: 0 when every expression evaluated (and every required one
# returned series), 1 otherwise, 2 for usage errors. Needs curl and jq.
set -euo pipefail

usage() {
  sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# -ge 2 ]] || usage
prometheus_url="${1%/}"
rollout="$2"
shift 2
service="$rollout"
job="rolloutd"
script_dir="$(cd "$(dirname "$0")" && pwd)"
dashboards_dir="$script_dir/../../grafana/dashboards"
required=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --service) service="$2"; shift 2 ;;
    --job) job="$2"; shift 2 ;;
    --dashboards) dashboards_dir="$2"; shift 2 ;;
    --require-series) required+=("$2"); shift 2 ;;
    *) usage ;;
  esac
done

for tool in curl jq; do
  command -v "$tool" >/dev/null || { echo "check_dashboard_queries: $tool not found" >&2; exit 2; }
done

# "name<TAB>query" for every expression of one dashboard, variables substituted.
expressions() {
  local file="$1"
  jq -r --arg rollout "$rollout" --arg service "$service" --arg job "$job" '
    def vars:
      ([.templating.list[] | {key: .name, value: (.current.value // "" | tostring)}] | from_entries)
      + {rollout: $rollout, service: $service, job: $job,
         "__rate_interval": "1m", "__interval": "1m", "__range": "1h", "__range_s": "3600",
         "__interval_ms": "60000", "__range_ms": "3600000"};
    def fill($v):
      reduce ($v | keys | sort_by(-length))[] as $k (.;
        gsub("\\$\\{" + $k + "(:[^}]*)?\\}"; $v[$k])
        | gsub("\\[\\[" + $k + "\\]\\]"; $v[$k])
        | gsub("\\$" + $k + "(?![A-Za-z0-9_])"; $v[$k]));
    . as $d | vars as $v |
    ( [.. | objects | select(has("targets")) | . as $p | .targets[]
        | {name: ("panel " + ($p.id | tostring) + " " + $p.title + " [" + .refId + "]"), expr: .expr}]
      + [.annotations.list[] | select(has("expr")) | {name: ("annotation " + .name), expr: .expr}] )
    | .[] | (.name | gsub("\t"; " ")) + "\t" + (.expr | fill($v) | gsub("\n"; " "))
  ' "$file"
}

failures=0
total=0
empty=0
with_series=0
shopt -s nullglob
files=("$dashboards_dir"/*.json)
[[ ${#files[@]} -gt 0 ]] || { echo "check_dashboard_queries: no dashboards in $dashboards_dir" >&2; exit 2; }
for file in "${files[@]}"; do
  dashboard="$(basename "$file" .json)"
  while IFS=$'\t' read -r name query; do
    total=$((total + 1))
    label="$dashboard: $name"
    if ! answer="$(curl -sS --max-time 30 --data-urlencode "query=$query" \
                     "$prometheus_url/api/v1/query" 2>&1)"; then
      echo "ERROR $label: request failed: $answer"
      failures=$((failures + 1))
      continue
    fi
    status="$(jq -r '.status // "invalid"' <<<"$answer" 2>/dev/null || echo invalid)"
    if [[ "$status" != "success" ]]; then
      echo "ERROR $label: $(jq -r '.error // .' <<<"$answer" 2>/dev/null || echo "$answer")"
      echo "      query: $query"
      failures=$((failures + 1))
      continue
    fi
    series="$(jq -r 'if .data.resultType == "scalar" or .data.resultType == "string"
                     then 1 else (.data.result | length) end' <<<"$answer")"
    if [[ "$series" -gt 0 ]]; then
      with_series=$((with_series + 1))
      echo "ok $series $label"
    else
      empty=$((empty + 1))
      echo "empty $label"
      for re in "${required[@]}"; do
        if [[ "$label" =~ $re ]]; then
          echo "ERROR $label: returned no series but matches --require-series '$re'"
          failures=$((failures + 1))
          break
        fi
      done
    fi
  done < <(expressions "$file")
done

echo "check_dashboard_queries: $total expressions, $with_series with series," \
     "$empty empty, $failures failed"
[[ $total -gt 0 && $failures -eq 0 ]]
