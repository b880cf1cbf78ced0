#!/usr/bin/env bash
# Process harness for the rollout integration tests: starts the agents (the real
# rollout-sandbox, or real Consul and Nomad dev agents), the real rolloutd and the hello
# demo job, observes Consul KV / Nomad over HTTP with curl, and kills every process it
# started when the test script exits (whatever the reason). Every wait is bounded;
# nothing asserts how fast anything happens.
#
# Usage (sourced): harness.sh expects ROLLOUTD, HELLO_JOB, SOURCE_DIR in the env, and
# ROLLOUTS_BACKEND: "sandbox" (the default; needs SANDBOX) or "real" (Consul and Nomad
# from $ROLLOUTS_AGENTS_DIR or PATH, see scripts/lib/real-agents.sh; without them the
# test prints one SKIP line and exits 77). With real agents, rolloutd and the test talk
# to them through tests/support/fault_proxy.py, which serves the sandbox's
# /_sandbox/faults API, so the same scripts inject the same faults on both backends.
set -u -o pipefail
ROLLOUTS_BACKEND=${ROLLOUTS_BACKEND:-sandbox}
case $ROLLOUTS_BACKEND in
  sandbox) harness_required=(SANDBOX ROLLOUTD HELLO_JOB SOURCE_DIR) ;;
  real) harness_required=(ROLLOUTD HELLO_JOB SOURCE_DIR) ;;
  *) echo "harness.sh: ROLLOUTS_BACKEND must be sandbox or real, not $ROLLOUTS_BACKEND" >&2; exit 2 ;;
esac
for required in "${harness_required[@]}"; do
  [[ -n ${!required:-} ]] || { echo "harness.sh: $required is not set" >&2; exit 2; }
done
for tool in jq curl python3 setpriv flock; do
  command -v "$tool" >/dev/null ||
    { echo "harness.sh: $tool is missing (scripts/install-deps.sh installs it)" >&2; exit 2; }
done
if [[ $ROLLOUTS_BACKEND == real ]]; then
  source "$SOURCE_DIR/scripts/lib/real-agents.sh"
  real_agents_require consul nomad # exits 77 (skipped) with one SKIP line
fi
CONSUL=""
NOMAD=""
# Where the job version recorder reads /v1/job/hello/versions: the agent itself when the
# test's requests go through the fault proxy, so that injected faults do not slow it.
NOMAD_VERSIONS_SOURCE=""

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
  for f in "$WORK"/agents/*.log; do
    [[ -f $f ]] || continue
    echo "===== agents/$(basename "$f") (last 20 lines) =====" >&2
    tail -n 20 "$f" >&2
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
  # Real Nomad stops the hello tasks on SIGINT, then Consul goes (bounded, see real-agents.sh).
  [[ $ROLLOUTS_BACKEND == real ]] && real_agents_stop
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

# A port for a real agent: 10000-19999, below Nomad's dynamic task ports (20000-32000)
# and Linux's ephemeral range (so an outgoing connection cannot take it before the agent
# binds it), free for TCP and UDP (serf), never handed out twice within this test.
agent_port() {
  local p
  for _ in $(seq 1 100); do
    p=$(shuf -i 10000-19999 -n 1)
    grep -qx "$p" "$WORK/.agent-ports" 2>/dev/null && continue
    [[ -z $(ss -Htuan "sport = :$p") ]] || continue
    echo "$p" >>"$WORK/.agent-ports"
    echo "$p"
    return 0
  done
  echo "agent_port: no free port in 10000-19999 after 100 tries" >&2
  return 1
}

# --- agents ----------------------------------------------------------------------------

# start_agents: the backend's Consul and Nomad; sets CONSUL and NOMAD (base URLs).
start_agents() {
  case $ROLLOUTS_BACKEND in
    sandbox) start_sandbox ;;
    real) start_real_agents ;;
  esac
}

# Real Consul + Nomad dev agents (their own pair, on their own ports, state under $WORK),
# with the fault proxy in front of both. Real Nomad staggers its task starts by itself (the
# sandbox's --stagger has no equivalent).
start_real_agents() {
  command -v ss >/dev/null || fail "ss (iproute2) is missing"
  real_agents_start "$WORK/agents" agent_port || fail "the real agents did not start"
  setpriv --pdeathsig KILL python3 "$SOURCE_DIR/tests/support/fault_proxy.py" \
    --consul-upstream "$CONSUL_HTTP_ADDR" --nomad-upstream "$NOMAD_ADDR" \
    >"$WORK/fault-proxy.out" 2>"$WORK/fault-proxy.log" &
  PIDS[fault-proxy]=$!
  local deadline=$((SECONDS + 15))
  while ((SECONDS < deadline)); do
    CONSUL=$(awk '$1=="consul"{print $2}' "$WORK/fault-proxy.out" 2>/dev/null)
    NOMAD=$(awk '$1=="nomad"{print $2}' "$WORK/fault-proxy.out" 2>/dev/null)
    [[ -n $CONSUL && -n $NOMAD ]] && break
    kill -0 "${PIDS[fault-proxy]}" 2>/dev/null || fail "the fault proxy exited at start"
    sleep 0.1
  done
  [[ -n ${CONSUL:-} && -n ${NOMAD:-} ]] || fail "the fault proxy did not print its addresses"
  NOMAD_VERSIONS_SOURCE=$NOMAD_ADDR
  log "real agents consul=$CONSUL_HTTP_ADDR nomad=$NOMAD_ADDR, through the fault proxy consul=$CONSUL nomad=$NOMAD"
}

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
  NOMAD_VERSIONS_SOURCE=$NOMAD
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
  start_version_recorder
  wait_until 60 "4 running hello allocations" allocs_running_at_least 4
  # The task runs the built hello (hello-job's absolute command path) and serves its
  # check: the agent's Consul checks pass for every instance.
  wait_until 60 "4 hello instances passing their Consul checks" hello_passing_at_least 4
}
# Instances whose own checks exist and all pass (a bare ?passing also counts an instance
# with only the node's serfHealth check registered so far).
hello_passing_at_least() {
  local n; n=$(http GET "$CONSUL/v1/health/service/hello" | jq '[.[] | select(.Service.ID as $id |
    [.Checks[] | select(.ServiceID == $id)] | length > 0 and all(.Status == "passing"))] | length') || return 1
  ((n >= $1))
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
# Every version of the job ever written, recorded as "VERSION<TAB>ACTIVE-GROUPS" lines in
# $WORK/job-versions.tsv: Nomad keeps only the last 6 versions of a job (JobTrackedVersions,
# plus the latest stable one), so /v1/job/hello/versions alone undercounts flips and
# versions over a longer test. A background recorder follows the versions with blocking
# queries and appends each answer (a stored version never changes, so a version number
# seen twice is the same line); every read adds one fresh listing first, so the versions
# written up to that moment are all in.
VERSIONS_FILE=""
# versions_lines: the versions in a /versions answer (stdin) as recorder lines.
versions_lines() {
  jq -r '.Versions[] | "\(.Version)\t" +
    ([.TaskGroups[] | select(any(.Services[]?; (.Tags // []) | index("active"))) | .Name] | join("+"))'
}
versions_append() { # LINES
  [[ -n $1 ]] || return 0
  { flock 9 && printf '%s\n' "$1" >>"$VERSIONS_FILE"; } 9>>"$VERSIONS_FILE.lock"
}
start_version_recorder() {
  VERSIONS_FILE=$WORK/job-versions.tsv
  : >"$VERSIONS_FILE"
  (
    index=0
    while :; do
      # pdeathsig: a query parked in the agent dies with the recorder, not 30 s later.
      out=$(setpriv --pdeathsig TERM curl -sS -m 45 -w '\n%{http_code} %header{x-nomad-index}' \
        "$NOMAD_VERSIONS_SOURCE/v1/job/hello/versions?index=$index&wait=30s") || { sleep 0.2; continue; }
      meta=${out##*$'\n'}
      if [[ ${meta%% *} == 200 ]]; then
        versions_append "$(versions_lines <<<"${out%$'\n'*}")"
        new=${meta#* }
        # An index that went backwards (a restored agent) starts the watch again.
        if [[ $new =~ ^[0-9]+$ ]] && ((new >= index)); then index=$new; else index=0; fi
      else
        sleep 0.2
      fi
    done
  ) >>"$WORK/version-recorder.log" 2>&1 &
  PIDS[version-recorder]=$!
}
# The group that carries the "active" service tag in each job version, oldest first.
active_group_per_version() {
  [[ -n $VERSIONS_FILE ]] || fail "active_group_per_version before register_hello_job"
  local now
  now=$(http GET "$NOMAD_VERSIONS_SOURCE/v1/job/hello/versions" | versions_lines) ||
    fail "could not list the job versions"
  versions_append "$now"
  sort -t $'\t' -k1,1n -u "$VERSIONS_FILE" | cut -f2
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

# Common start: agents, job with both groups at v1, controller, spec v1 adopted.
setup_v1() {
  start_agents
  register_hello_job
  start_rolloutd rolloutd "$@"
  put_spec v1
  wait_until "$ROLLOUT_TIMEOUT" "Healthy with active v1" status_is Healthy v1
}
