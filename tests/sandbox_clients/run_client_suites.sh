#!/usr/bin/env bash
# The foundation's opt-in real-agent suites (Consul and Nomad clients) against a backend:
#   sandbox  a rollout-sandbox (code that works against the fixtures must work against it)
#   real     a private pair of real Consul and Nomad dev agents (scripts/lib/real-agents.sh;
#            skipped with exit 77 and one line when the binaries are not found)
# Either way every test must run: a skipped test would hide a missing feature of the backend.
#   run_client_suites.sh BUILD_DIR [sandbox|real] [consul|nomad|all]
set -euo pipefail
build=${1:?build dir}
backend=${2:-sandbox}
which=${3:-all}
root=$(cd "$(dirname "$0")/../.." && pwd)
case $which in
  consul) suites=("$build/tests/consul/consul_live_test") ;;
  nomad) suites=("$build/tests/nomad/nomad_agent_test") ;;
  all) suites=("$build/tests/consul/consul_live_test" "$build/tests/nomad/nomad_agent_test") ;;
  *) echo "unknown suite '$which' (consul, nomad or all)" >&2; exit 2 ;;
esac

case $backend in
  sandbox)
    dir=$(mktemp -d /tmp/sandbox-clients.XXXXXX)
    "$build/sandbox/rollout-sandbox" --consul-addr 127.0.0.1:0 --nomad-addr 127.0.0.1:0 \
      --data-dir "$dir/data" >"$dir/sandbox.log" 2>&1 &
    pid=$!
    cleanup() {
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -KILL "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      rm -rf "$dir"
    }
    trap cleanup EXIT
    for _ in $(seq 1 100); do grep -q '^nomad ' "$dir/sandbox.log" && break; sleep 0.1; done
    CONSUL_HTTP_ADDR=$(awk '$1=="consul"{print $2; exit}' "$dir/sandbox.log")
    NOMAD_ADDR=$(awk '$1=="nomad"{print $2; exit}' "$dir/sandbox.log")
    [ -n "$CONSUL_HTTP_ADDR" ] && [ -n "$NOMAD_ADDR" ] || { cat "$dir/sandbox.log"; exit 1; }
    export CONSUL_HTTP_ADDR NOMAD_ADDR
    ;;
  real)
    source "$root/scripts/lib/real-agents.sh"
    source "$root/scripts/lib/stack.sh"  # stack_free_port
    if [[ $which == consul ]]; then real_agents_require consul; else real_agents_require consul nomad; fi
    dir=$(mktemp -d /tmp/real-clients.XXXXXX)
    STACK_DIR=$dir
    cleanup() {
      real_agents_stop || true
      rm -rf "$dir"
    }
    trap cleanup EXIT
    # The Consul suite alone needs no Nomad (which takes seconds and CPU to start).
    if [[ $which == consul ]]; then
      real_consul_start "$dir/agents" stack_free_port
    else
      real_agents_start "$dir/agents" stack_free_port
    fi
    ;;
  *) echo "unknown backend '$backend' (sandbox or real)" >&2; exit 2 ;;
esac
echo "$backend: consul ${CONSUL_HTTP_ADDR:-} nomad ${NOMAD_ADDR:-}"
for suite in "${suites[@]}"; do
  out=$("$suite" 2>&1) || { echo "$out"; exit 1; }
  echo "$out" | tail -3
  if grep -q '\[  SKIPPED \]' <<<"$out"; then
    echo "$out" | grep -A1 '\[ *SKIPPED' | head -20
    echo "FAILED: $(basename "$suite") skipped tests against the $backend"
    exit 1
  fi
done
