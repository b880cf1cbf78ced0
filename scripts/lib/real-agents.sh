# shellcheck shell=bash
# The real Consul and Nomad dev agents for the real-agent test tier (the envtest idea: the
# real control plane, started by the test). Each caller gets its own pair on its own ports,
# with every bit of state under its own folder, so tests can run side by side.
#
# Where the binaries come from: $ROLLOUTS_AGENTS_DIR (a folder with consul, nomad and
# consul-template; scripts/test.sh sets it when it finds the agents beside the clone), else PATH.
#
# Use (sourced):
#   real_agents_require consul nomad    # exits 77 (ctest: skipped) with one line if missing
#   real_agents_start DIR PORT-COMMAND  # sets CONSUL_HTTP_ADDR, NOMAD_ADDR (http://...)
#   real_consul_start DIR PORT-COMMAND  # Consul alone (sets CONSUL_HTTP_ADDR)
#   real_agents_stop                    # SIGINT nomad (it stops its tasks), then consul
# PORT-COMMAND prints one free TCP port on 127.0.0.1 per call, never the same twice.

REAL_AGENTS_SKIP_HINT="set ROLLOUTS_AGENTS_DIR to a folder with consul, nomad and consul-template, or put them on PATH (see README, Tests)"

# real_agent_path NAME: the binary's path, or nothing.
real_agent_path() {
  local name=$1
  if [[ -n ${ROLLOUTS_AGENTS_DIR:-} && -x $ROLLOUTS_AGENTS_DIR/$name ]]; then
    echo "$ROLLOUTS_AGENTS_DIR/$name"
  else
    command -v "$name" 2>/dev/null || true
  fi
}

# real_agents_require NAME...: every named agent is found, or the calling test is skipped.
real_agents_require() {
  local name missing=()
  for name in "$@"; do
    [[ -n $(real_agent_path "$name") ]] || missing+=("$name")
  done
  if ((${#missing[@]} > 0)); then
    echo "SKIP: real agents not found (${missing[*]}): $REAL_AGENTS_SKIP_HINT"
    exit 77
  fi
}

REAL_AGENTS_DIR=""
REAL_CONSUL_PID=""
REAL_NOMAD_PID=""

# real_agents_wait SECONDS COMMAND...: polls every 0.1 s; 1 when the time is up.
real_agents_wait() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

real_consul_has_leader() {
  local leader
  leader=$(curl -sf -m 2 "$CONSUL_HTTP_ADDR/v1/status/leader") && [[ $leader == \"*:*\" ]]
}
# Ready for work: the node is ready with a healthy raw_exec driver, and Nomad's own
# client service is registered in Consul (Nomad talks to the Consul agent).
real_nomad_node_ready() {
  curl -sf -m 2 "$NOMAD_ADDR/v1/nodes" |
    jq -e '[.[] | select(.Status == "ready" and .Drivers.raw_exec.Healthy == true)] | length == 1' &&
    curl -sf -m 2 "$CONSUL_HTTP_ADDR/v1/catalog/service/nomad-client" | jq -e 'length >= 1'
}

# real_consul_start DIR PORT-COMMAND: a Consul dev agent alone (for tests that need no
# Nomad), its log in DIR; returns once it has elected itself leader.
real_consul_start() {
  local dir=$1 port=$2
  real_agents_require consul
  REAL_AGENTS_DIR=$dir
  mkdir -p "$dir"
  local c_http c_serf_lan c_serf_wan c_server
  c_http=$($port) && c_serf_lan=$($port) && c_serf_wan=$($port) && c_server=$($port) || return 1
  # setpriv --pdeathsig: if the test is killed (ctest timeout), the agents die with it.
  setpriv --pdeathsig KILL "$(real_agent_path consul)" agent -dev -bind 127.0.0.1 \
    -client 127.0.0.1 -http-port "$c_http" -dns-port -1 -grpc-port -1 \
    -serf-lan-port "$c_serf_lan" -serf-wan-port "$c_serf_wan" -server-port "$c_server" \
    -log-level warn >"$dir/consul.log" 2>&1 &
  REAL_CONSUL_PID=$!
  CONSUL_HTTP_ADDR=http://127.0.0.1:$c_http
  export CONSUL_HTTP_ADDR
  real_agents_wait 30 real_consul_has_leader || {
    tail -n 20 "$dir/consul.log" >&2
    echo "real-agents: Consul did not elect itself leader within 30 s" >&2
    return 1
  }
}

# real_agents_start DIR PORT-COMMAND: a Consul dev agent and a Nomad dev agent (server +
# client, raw_exec on, pointed at that Consul) with all their state under DIR.
real_agents_start() {
  local dir=$1 port=$2
  real_agents_require consul nomad
  real_consul_start "$dir" "$port" || return 1
  mkdir -p "$dir/nomad-client" "$dir/nomad-alloc"
  local n_http n_rpc n_serf
  n_http=$($port) && n_rpc=$($port) && n_serf=$($port) || return 1
  cat >"$dir/nomad.hcl" <<EOF
plugin "raw_exec" { config { enabled = true } }
consul { address = "${CONSUL_HTTP_ADDR#http://}" }
ports { http = $n_http rpc = $n_rpc serf = $n_serf }
client {
  state_dir = "$dir/nomad-client"
  alloc_dir = "$dir/nomad-alloc"
}
log_level = "WARN"
EOF
  setpriv --pdeathsig KILL "$(real_agent_path nomad)" agent -dev -bind 127.0.0.1 \
    -config "$dir/nomad.hcl" >"$dir/nomad.log" 2>&1 &
  REAL_NOMAD_PID=$!
  NOMAD_ADDR=http://127.0.0.1:$n_http
  export NOMAD_ADDR
  real_agents_wait 60 real_nomad_node_ready || {
    tail -n 20 "$dir/nomad.log" >&2
    echo "real-agents: the Nomad node was not ready within 60 s" >&2
    return 1
  }
}

# real_stop_pid PID TENTHS: SIGINT, up to TENTHS x 0.1 s for the process to exit, then
# SIGKILL; reaps it. Nothing to do when it is gone already.
real_stop_pid() {
  local pid=$1 tenths=$2
  kill -INT "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 "$tenths"); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# real_agents_stop: Nomad on SIGINT stops its tasks before it exits (bounded, then
# SIGKILL, and any task left is killed through its alloc dir); then Consul.
real_agents_stop() {
  local pid
  for pid in $REAL_NOMAD_PID $REAL_CONSUL_PID; do real_stop_pid "$pid" 150; done
  if [[ -n $REAL_AGENTS_DIR && -d $REAL_AGENTS_DIR/nomad-alloc ]]; then
    # raw_exec tasks are separate processes; one that outlived a killed agent is found by
    # its working folder under this test's alloc dir.
    local task
    for task in $(pgrep -f . 2>/dev/null); do
      [[ $(readlink "/proc/$task/cwd" 2>/dev/null) == "$REAL_AGENTS_DIR/nomad-alloc"* ]] &&
        kill -KILL "$task" 2>/dev/null
    done
    # Nomad mounts nothing for raw_exec, but its alloc dirs hold secrets/ tmpfs on some
    # setups: unmount before removing.
    grep -o " $REAL_AGENTS_DIR/nomad-alloc[^ ]*" /proc/mounts 2>/dev/null | xargs -r -n1 umount -l 2>/dev/null || true
  fi
  REAL_NOMAD_PID="" REAL_CONSUL_PID=""
}
