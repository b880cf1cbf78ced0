#!/usr/bin/env bash
# Process harness for the rollout integration tests: starts the real rollout-sandbox, the
# real rolloutd and the hello demo job, observes Consul KV / Nomad over HTTP with curl,
# and kills every process it started when the test script exits (whatever the reason).
# Every wait is bounded; nothing asserts how fast anything happens.
#
# Usage (sourced): harness.sh expects SANDBOX, ROLLOUTD, HELLO_JOB, SOURCE_DIR in the env.
set -u -o pipefail
for required in SANDBOX ROLLOUTD HELLO_JOB SOURCE_DIR; do
  [[ -n ${!required:-} ]] || { echo "harness.sh: $required is not set" >&2; exit 2; }
done
CONSUL=""
NOMAD=""

WORK=$(mktemp -d "${TMPDIR:-/tmp}/rollouts-it.XXXXXX")
declare -A PIDS=()   # name -> pid of every process this test started
ROLLOUT_TIMEOUT=${ROLLOUT_TIMEOUT:-90}

log() { echo "[$(date -u +%H:%M:%S)] $*" >&2; }

dump_logs() {
  for f in "$WORK"/*.log; do
    [[ -f $f ]] || continue
    echo "===== $(basename "$f") (last 40 lines) =====" >&2
    tail -n 40 "$f" >&2
  done
  if [[ -n $CONSUL ]]; then
    echo "===== status =====" >&2
    status_json >&2 || true
  fi
  echo >&2
}

fail() {
  log "FAIL: $*"
  dump_logs
  exit 1
}

cleanup() {
  local rc=$?
  for name in "${!PIDS[@]}"; do
    kill -TERM "${PIDS[$name]}" 2>/dev/null || true
  done
  for name in "${!PIDS[@]}"; do
    # Bounded: the sandbox stops its tasks on SIGTERM; escalate after 10 s.
    for _ in $(seq 1 100); do
      kill -0 "${PIDS[$name]}" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "${PIDS[$name]}" 2>/dev/null || true
  done
  # Tasks the sandbox spawned are in their own process groups only if it put them there;
  # any hello left over from a killed sandbox is found by its unique data dir path.
  if [[ $rc -eq 0 && -z ${KEEP_WORK:-} ]]; then rm -rf "$WORK"; else log "work dir kept: $WORK"; fi
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until TIMEOUT DESCRIPTION COMMAND...: polls COMMAND every 0.5 s until it succeeds.
wait_until() {
  local timeout=$1 what=$2; shift 2
  local deadline=$((SECONDS + timeout))
  while ((SECONDS < deadline)); do
    if "$@"; then return 0; fi
    sleep 0.5
  done
  fail "timed out after ${timeout}s waiting for: $what"
}

# --- sandbox ---------------------------------------------------------------------------

start_sandbox() {
  mkdir -p "$WORK/sandbox-data"
  # --pdeathsig: if this script is killed (ctest timeout), its children die with it.
  setpriv --pdeathsig KILL "$SANDBOX" --consul-addr 127.0.0.1:0 --nomad-addr 127.0.0.1:0 --data-dir "$WORK/sandbox-data" \
    --stagger 200 >"$WORK/sandbox.out" 2>"$WORK/sandbox.log" &
  PIDS[sandbox]=$!
  local deadline=$((SECONDS + 30))
  while ((SECONDS < deadline)); do
    CONSUL=$(awk '$1=="consul"{print $2}' "$WORK/sandbox.out" 2>/dev/null)
    NOMAD=$(awk '$1=="nomad"{print $2}' "$WORK/sandbox.out" 2>/dev/null)
    [[ -n $CONSUL && -n $NOMAD ]] && break
    kill -0 "${PIDS[sandbox]}" 2>/dev/null || fail "sandbox exited at start"
    sleep 0.2
  done
  [[ -n ${CONSUL:-} && -n ${NOMAD:-} ]] || fail "sandbox did not print its addresses"
  log "sandbox consul=$CONSUL nomad=$NOMAD"
}

# Observer requests retry (the API fault test injects 5xx on the agents' paths too).
http() { # METHOD URL [BODY-FILE]
  local method=$1 url=$2 body=${3:-} out code
  for _ in $(seq 1 20); do
    if [[ -n $body ]]; then
      out=$(curl -sS -m 10 -X "$method" --data-binary @"$body" -w '\n%{http_code}' "$url") || { sleep 0.2; continue; }
    else
      out=$(curl -sS -m 10 -X "$method" -w '\n%{http_code}' "$url") || { sleep 0.2; continue; }
    fi
    code=${out##*$'\n'}
    if [[ $code == 5* ]]; then sleep 0.2; continue; fi
    printf '%s' "${out%$'\n'*}"
    [[ $code == 2* ]] && return 0
    return 1
  done
  return 1
}

set_faults() { # JSON-FILE
  http PUT "$CONSUL/_sandbox/faults" "$1" >/dev/null || fail "could not set faults"
}

# --- KV --------------------------------------------------------------------------------

kv_put() { # KEY FILE
  http PUT "$CONSUL/v1/kv/$1" "$2" >/dev/null || fail "kv put $1"
}
status_json() { http GET "$CONSUL/v1/kv/rollouts/status/hello?raw"; }
phase() { status_json | jq -r '.phase // empty' 2>/dev/null; }
phase_is() { [[ $(phase) == "$1" ]]; }
active_version() { status_json | jq -r '.activeVersion // empty' 2>/dev/null; }
status_is() { # PHASE ACTIVE-VERSION
  local s; s=$(status_json) || return 1
  [[ $(jq -r '.phase // empty' <<<"$s") == "$1" && $(jq -r '.activeVersion // empty' <<<"$s") == "$2" ]]
}

# Writes a test Rollout (short durations, built-in probe only) for VERSION to the spec key.
# Extra jq filter (optional) edits the document, e.g. to add template values.
put_spec() { # VERSION [JQ-FILTER]
  local version=$1 filter=${2:-.}
  jq --arg v "$version" '
    .spec.version = $v
    | .spec.strategy.blueGreen.scaleDownDelay = "2s"
    | .spec.health = {minHealthyTime: "1s", healthyDeadline: "30s", progressDeadline: "80s"}
    | .spec.analysis = {prePromotion: {probe: {path: "/hello", requests: 20, maxErrorRate: 0.0, timeout: "2s"}}}
  ' "$SOURCE_DIR/examples/hello/rollout.json" | jq "$filter" >"$WORK/spec-$version.json" \
    || fail "could not build spec $version"
  kv_put rollouts/spec/hello "$WORK/spec-$version.json"
}

# --- Nomad -----------------------------------------------------------------------------

register_hello_job() {
  "$HELLO_JOB" --job "$SOURCE_DIR/examples/hello/hello.nomad.json" >"$WORK/hello.job.json" \
    || fail "hello-job failed"
  http PUT "$NOMAD/v1/jobs" "$WORK/hello.job.json" >/dev/null || fail "job register"
  wait_until 60 "4 running hello allocations" allocs_running_at_least 4
}
job_json() { http GET "$NOMAD/v1/job/hello"; }
job_modify_index() { job_json | jq -r '.JobModifyIndex'; }
group_count() { job_json | jq -r --arg g "$1" '.TaskGroups[] | select(.Name==$g) | .Count'; }
allocs_running_at_least() {
  local n; n=$(http GET "$NOMAD/v1/job/hello/allocations" | jq '[.[] | select(.ClientStatus=="running")] | length') || return 1
  ((n >= $1))
}
running_alloc_ids() { # GROUP
  http GET "$NOMAD/v1/job/hello/allocations" |
    jq -r --arg g "$1" '[.[] | select(.TaskGroup==$g and .ClientStatus=="running") | .ID] | sort | join(",")'
}
# The group that carries the "active" service tag in each stored job version, oldest first.
active_group_per_version() {
  http GET "$NOMAD/v1/job/hello/versions" |
    jq -r '.Versions | sort_by(.Version) | .[] |
      ([.TaskGroups[] | select(any(.Services[]?; (.Tags // []) | index("active"))) | .Name] | join("+"))'
}
# Flips = how often the active group changed between consecutive job versions.
count_flips() {
  active_group_per_version | awk 'NR>1 && $0!=prev {n++} {prev=$0} END {print n+0}'
}

# --- rolloutd --------------------------------------------------------------------------

start_rolloutd() { # NAME [EXTRA FLAGS...]
  local name=$1; shift
  local port attempt
  # The metrics port is picked free a moment before use; if another test took it in
  # between, rolloutd exits and the next attempt uses another port.
  for attempt in 1 2 3; do
    port=$(free_port)
    setpriv --pdeathsig KILL "$ROLLOUTD" --consul-addr "$CONSUL" --nomad-addr "$NOMAD" \
      --metrics-addr "127.0.0.1:$port" --resync 5s --log-level debug "$@" >>"$WORK/$name.log" 2>&1 &
    PIDS[$name]=$!
    declare -g "METRICS_$name=127.0.0.1:$port"
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
      if curl -sS -m 2 -o /dev/null "http://127.0.0.1:$port/metrics" 2>/dev/null; then
        log "$name pid ${PIDS[$name]} metrics 127.0.0.1:$port"
        return 0
      fi
      kill -0 "${PIDS[$name]}" 2>/dev/null || break
      sleep 0.2
    done
    kill -KILL "${PIDS[$name]}" 2>/dev/null || true
    wait "${PIDS[$name]}" 2>/dev/null || true
    unset "PIDS[$name]"
    log "$name did not serve /metrics on port $port (attempt $attempt)"
  done
  fail "could not start $name"
}
kill9() { # NAME
  kill -KILL "${PIDS[$1]}" 2>/dev/null || true
  wait "${PIDS[$1]}" 2>/dev/null || true
  unset "PIDS[$1]"
  log "killed -9 $1"
}
metric() { # NAME METRIC-NAME: sum of all series of that metric ("" when unreachable)
  local var="METRICS_$1"
  curl -sS -m 5 "http://${!var}/metrics" 2>/dev/null |
    awk -v m="$2" '$1==m || index($1, m"{")==1 {s+=$NF; found=1} END {if (found) print s}'
}

# Common start: sandbox, job with both groups at v1, controller, spec v1 adopted.
setup_v1() {
  start_sandbox
  register_hello_job
  start_rolloutd rolloutd "$@"
  put_spec v1
  wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v1" status_is Healthy v1
}
