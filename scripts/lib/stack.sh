# shellcheck shell=bash
# Starts and stops the local stack of the demo and the end-to-end tests, all on
# 127.0.0.1 with free ports: rollout-sandbox (Consul + Nomad stand-in), Prometheus,
# HAProxy or nginx + rollout-router, the demo job and rolloutd. Everything started is recorded and
# stopped by stack_stop (installed as an EXIT trap by stack_init).
#
# Use: source scripts/lib/stack.sh; stack_init DIR; stack_start_agents; ...
# stack_start_agents starts the backend ROLLOUTS_BACKEND names: "sandbox" (the default)
# or "real" (Consul and Nomad dev agents from $ROLLOUTS_AGENTS_DIR or PATH, see
# scripts/lib/real-agents.sh).

STACK_ROOT=${STACK_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
STACK_BUILD=${STACK_BUILD:-$STACK_ROOT/build}
STACK_PIDS=()
STACK_NGINX_DIRS=()

stack_log() { printf '[%6.1fs] %s\n' "$(stack_elapsed)" "$*" >&2; }
stack_elapsed() { echo "$(( $(date +%s%N) / 1000000 - STACK_T0 ))" | awk '{printf "%.1f", $1/1000}'; }
stack_now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

stack_die() {
  stack_log "FAILED: $*"
  exit 1
}

# A free TCP port on 127.0.0.1: below the sandbox's (and Nomad's) dynamic port range
# (20000-32000) and below Linux's ephemeral range (32768-60999), so neither a task nor the
# local end of an outgoing connection can take it between this pick and the bind (the old
# range 33000-39999 was inside the ephemeral one: a Prometheus once failed to bind).
stack_free_port() {
  # Fail closed: without ss every port would look free.
  command -v ss >/dev/null || { echo "stack_free_port: ss (iproute2) is missing" >&2; return 1; }
  # Ports already handed out by this stack (each call runs in a subshell, so a variable
  # could not remember them): two calls in a row must not return the same port.
  local picked=${STACK_DIR:+$STACK_DIR/.picked-ports} p
  for _ in $(seq 1 100); do
    p=$(shuf -i 10000-19999 -n 1)
    [[ -n $picked ]] && grep -qx "$p" "$picked" 2>/dev/null && continue
    if [[ -z $(ss -Htan "sport = :$p") ]]; then
      [[ -n $picked ]] && echo "$p" >>"$picked"
      echo "$p"
      return 0
    fi
  done
  echo "stack_free_port: no free port in 10000-19999 after 100 tries" >&2
  return 1
}

stack_init() {
  STACK_DIR=$1
  mkdir -p "$STACK_DIR"
  STACK_T0=$(stack_now_ms)
  trap stack_stop EXIT
  trap 'exit 130' INT TERM
}

stack_spawn() {  # name command... ; logs to $STACK_DIR/name.log
  local name=$1
  shift
  "$@" >"$STACK_DIR/$name.log" 2>&1 &
  local pid=$!
  STACK_PIDS+=("$pid:$name")
  echo "$pid" >"$STACK_DIR/$name.pid"
}

stack_stop() {
  local entry pid name
  # Reverse order: controller and router before the sandbox that runs the tasks.
  for (( i=${#STACK_PIDS[@]}-1; i>=0; i-- )); do
    entry=${STACK_PIDS[$i]}
    pid=${entry%%:*}
    name=${entry#*:}
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    : "$name"
  done
  STACK_PIDS=()
  local d
  for d in "${STACK_NGINX_DIRS[@]}"; do
    [ -f "$d/nginx.pid" ] || continue
    /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" -s quit 2>/dev/null || true
    for _ in $(seq 1 50); do [ -f "$d/nginx.pid" ] || break; sleep 0.1; done
  done
  STACK_NGINX_DIRS=()
  # Real agents last: Nomad stops the tasks it runs on SIGINT (see real-agents.sh).
  if [ -n "${STACK_REAL_AGENTS:-}" ]; then
    real_agents_stop || true
    STACK_REAL_AGENTS=""
  fi
}

# Waits until "cmd..." succeeds, at most $1 seconds.
stack_wait() {
  local timeout=$1
  shift
  local deadline=$(( $(date +%s) + timeout ))
  until "$@" >/dev/null 2>&1; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

stack_start_sandbox() {
  stack_spawn sandbox "$STACK_BUILD/sandbox/rollout-sandbox" \
    --consul-addr 127.0.0.1:0 --nomad-addr 127.0.0.1:0 --data-dir "$STACK_DIR/sandbox"
  stack_wait 10 grep -q '^nomad ' "$STACK_DIR/sandbox.log" || stack_die "sandbox did not start"
  CONSUL_HTTP_ADDR=$(awk '$1=="consul"{print $2; exit}' "$STACK_DIR/sandbox.log")
  NOMAD_ADDR=$(awk '$1=="nomad"{print $2; exit}' "$STACK_DIR/sandbox.log")
  export CONSUL_HTTP_ADDR NOMAD_ADDR
  stack_log "sandbox: consul $CONSUL_HTTP_ADDR, nomad $NOMAD_ADDR"
}

# Real Consul and Nomad dev agents (their own pair on free ports, state under
# $STACK_DIR/agents), stopped by stack_stop. Exits 77 with one SKIP line when the agents
# are not found.
stack_start_real_agents() {
  source "$STACK_ROOT/scripts/lib/real-agents.sh"
  real_agents_require consul nomad
  STACK_REAL_AGENTS=1
  real_agents_start "$STACK_DIR/agents" stack_free_port || stack_die "the real agents did not start"
  stack_log "real agents: consul $CONSUL_HTTP_ADDR, nomad $NOMAD_ADDR"
}

stack_start_agents() {
  case ${ROLLOUTS_BACKEND:-sandbox} in
    sandbox) stack_start_sandbox ;;
    real) stack_start_real_agents ;;
    *) stack_die "ROLLOUTS_BACKEND must be sandbox or real, not $ROLLOUTS_BACKEND" ;;
  esac
}

# KV helpers (Consul HTTP API; the same calls work against a real agent).
stack_kv_put() { curl -sf -X PUT --data-binary "@$2" "$CONSUL_HTTP_ADDR/v1/kv/$1" >/dev/null; }
stack_kv_get() { curl -sf "$CONSUL_HTTP_ADDR/v1/kv/$1?raw"; }

# Runs Prometheus on a free port with the config the caller wrote to
# $STACK_DIR/prometheus/prometheus.yml (Debian's Prometheus has no Consul discovery: see
# hello_start_discovery in hello-stack.sh) and waits until it is ready. Sets PROMETHEUS_ADDR.
stack_spawn_prometheus() {
  PROMETHEUS_PORT=$(stack_free_port)
  stack_spawn prometheus /usr/bin/prometheus --config.file="$STACK_DIR/prometheus/prometheus.yml" \
    --storage.tsdb.path="$STACK_DIR/prometheus/data" \
    --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" --log.level=warn
  PROMETHEUS_ADDR=http://127.0.0.1:$PROMETHEUS_PORT
  stack_wait 30 curl -sf "$PROMETHEUS_ADDR/-/ready" || stack_die "prometheus did not start"
  stack_log "prometheus: $PROMETHEUS_ADDR"
}

# A scrape_configs entry for the router started by stack_start_router.
stack_router_scrape_job() {
  cat <<YML
  - job_name: rollout-router
    static_configs:
      - targets: ["127.0.0.1:$ROUTER_METRICS_PORT"]
YML
}

# stack_nginx_conf DIR WORKERS CONNECTIONS HTTP-BODY: an nginx.conf that keeps everything
# (pid, logs, temp files) under DIR, on stdout.
stack_nginx_conf() {
  local d=$1
  cat <<CONF
worker_processes $2;
pid $d/nginx.pid;
error_log $d/logs/error.log warn;
events { worker_connections $3; }
http {
  access_log off;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
$4
}
CONF
}

# The router in front of the demo job: STACK_ROUTER=haproxy (the default: routes change
# through HAProxy's runtime API, no reload, client keep-alive on) or nginx (a reload per
# change; STACK_CLIENT_KEEPALIVE seconds of client keep-alive, 0 by default, see
# stack_start_nginx_router). Sets LIVE_PORT, PREVIEW_PORT and ROUTER_METRICS_PORT.
stack_start_router() {
  local service=$1
  LIVE_PORT=$(stack_free_port)
  PREVIEW_PORT=$(stack_free_port)
  case ${STACK_ROUTER:-haproxy} in
    haproxy) stack_start_haproxy_router demo-router "$service" "$LIVE_PORT" "$PREVIEW_PORT" ;;
    nginx)
      stack_start_nginx_router demo-router "$service" "$LIVE_PORT" "$PREVIEW_PORT" \
        "${STACK_CLIENT_KEEPALIVE:-0}"
      ;;
    *) stack_die "STACK_ROUTER must be haproxy or nginx, not $STACK_ROUTER" ;;
  esac
  ROUTER_METRICS_PORT=$(cat "$STACK_DIR/demo-router.metrics-port")
}

# stack_start_haproxy_router ID SERVICE LIVE-PORT PREVIEW-PORT: rollout-router ID writes
# the HAProxy config into $STACK_DIR/ID/ and HAProxy is started on it (the router then
# drives it through the runtime API only). Both are stopped by stack_stop.
stack_start_haproxy_router() {
  local id=$1 service=$2 live=$3 preview=$4 d=$STACK_DIR/$1
  mkdir -p "$d"
  stack_spawn_router "$id" --backend haproxy --haproxy-dir "$d" \
    --service "$service=127.0.0.1:$live,preview=127.0.0.1:$preview"
  stack_wait 10 test -s "$d/haproxy.cfg" || stack_die "$id did not write $d/haproxy.cfg"
  stack_spawn "$id-haproxy" /usr/sbin/haproxy -db -f "$d/haproxy.cfg"
  stack_wait 10 test -S "$d/admin.sock" ||
    stack_die "HAProxy did not start: $(tail -3 "$STACK_DIR/$id-haproxy.log")"
  stack_wait_router "$id"
  stack_log "$id: HAProxy live 127.0.0.1:$live, preview 127.0.0.1:$preview (runtime API $d/admin.sock)"
}

# stack_start_nginx_router ID SERVICE LIVE-PORT PREVIEW-PORT CLIENT-KEEPALIVE-SECONDS: an
# nginx under $STACK_DIR/ID/ and rollout-router ID rewriting its routes and reloading it.
stack_start_nginx_router() {
  local id=$1 service=$2 live=$3 preview=$4 keepalive=$5 d=$STACK_DIR/$1
  mkdir -p "$d/logs" "$d/tmp"
  : >"$d/routes.conf"
  stack_nginx_conf "$d" 2 4096 "$(cat <<CONF
  # keepalive_timeout 0 (the default here) closes each client connection after one
  # response: on a reload (every flip) nginx's old workers finish the requests they are
  # serving but close idle keep-alive connections at once, and a request the client sent
  # on one at that instant is lost (a "read" socket error in wrk). With a new connection
  # per request, the shared listening socket hands each one to a live worker and no
  # request is lost. Upstream connections (nginx -> instances) stay pooled either way.
  keepalive_timeout $keepalive;
  include $d/routes.conf;
CONF
)" >"$d/nginx.conf"
  /usr/sbin/nginx -p "$d" -c "$d/nginx.conf" || stack_die "nginx did not start"
  STACK_NGINX_DIRS+=("$d")
  stack_spawn_router "$id" --backend nginx --nginx-conf "$d/nginx.conf" --nginx-prefix "$d" \
    --routes-file "$d/routes.conf" --service "$service=127.0.0.1:$live,preview=127.0.0.1:$preview"
  stack_wait_router "$id"
  stack_log "$id: nginx live 127.0.0.1:$live, preview 127.0.0.1:$preview (client keep-alive ${keepalive}s)"
}

# stack_spawn_router ID FLAGS...: rollout-router reporting to rollouts/routers/ID, with
# /metrics on a free port written to $STACK_DIR/ID.metrics-port.
stack_spawn_router() {
  local id=$1 port
  shift
  port=$(stack_free_port)
  echo "$port" >"$STACK_DIR/$id.metrics-port"
  stack_spawn "$id" "$STACK_BUILD/router/rollout-router" --consul-addr "$CONSUL_HTTP_ADDR" \
    --id "$id" --metrics-addr "127.0.0.1:$port" "$@"
}

# Ready = the report is written and the proxy serves the selected routes.
stack_wait_router() {
  local id=$1 port
  port=$(cat "$STACK_DIR/$id.metrics-port")
  stack_wait 15 curl -sf "$CONSUL_HTTP_ADDR/v1/kv/rollouts/routers/$id" ||
    stack_die "router $id did not report"
  stack_wait 15 curl -sf "http://127.0.0.1:$port/readyz" ||
    stack_die "router $id is not ready: $(curl -s "http://127.0.0.1:$port/readyz")"
}

# Registers examples/hello/hello.nomad.json with the hello binary's absolute path.
stack_register_hello() {
  local job=$STACK_DIR/hello.job.json
  jq --arg bin "$STACK_BUILD/examples/hello/hello" \
    '(.Job.TaskGroups[].Tasks[] | select(.Driver=="raw_exec") | .Config.command) = $bin' \
    "$STACK_ROOT/examples/hello/hello.nomad.json" >"$job"
  curl -sf -X POST --data-binary "@$job" "$NOMAD_ADDR/v1/jobs" >/dev/null ||
    stack_die "registering the hello job failed"
  stack_log "registered job hello"
}

stack_start_rolloutd() {
  local name=${1:-rolloutd}
  shift || true
  local port
  port=$(stack_free_port)
  stack_spawn "$name" "$STACK_BUILD/controller/rolloutd" \
    --consul-addr "$CONSUL_HTTP_ADDR" --nomad-addr "$NOMAD_ADDR" \
    --prometheus-addr "${PROMETHEUS_ADDR:-}" --metrics-addr "127.0.0.1:$port" "$@"
  eval "${name^^}_METRICS=127.0.0.1:$port"
  stack_wait 10 curl -sf "http://127.0.0.1:$port/healthz" || stack_die "$name did not start"
  stack_log "$name: metrics on 127.0.0.1:$port"
}

# The status field $2 of rollout $1 (jq path, e.g. .phase).
stack_status() { stack_kv_get "rollouts/status/$1" 2>/dev/null | jq -r "$2" 2>/dev/null; }

# Waits until rollout $1 is in phase $2 with activeVersion $3 (if given), at most $4 s.
stack_wait_phase() {
  local name=$1 phase=$2 version=${3:-} timeout=${4:-120}
  local deadline=$(( $(date +%s) + timeout )) last=""
  while :; do
    local now_phase now_active
    now_phase=$(stack_status "$name" .phase)
    now_active=$(stack_status "$name" .activeVersion)
    if [ "$now_phase" != "$last" ]; then
      stack_log "  $name: $now_phase (active $now_active)"
      last=$now_phase
    fi
    if [ "$now_phase" = "$phase" ] && { [ -z "$version" ] || [ "$now_active" = "$version" ]; }; then
      return 0
    fi
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}
