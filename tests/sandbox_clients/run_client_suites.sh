#!/usr/bin/env bash
# The foundation's opt-in real-agent suites (Consul and Nomad clients) run against a
# rollout-sandbox: code that works against the fixtures must work against the sandbox.
#   run_client_suites.sh BUILD_DIR
set -euo pipefail
build=${1:?build dir}
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
echo "sandbox: consul $CONSUL_HTTP_ADDR nomad $NOMAD_ADDR"
# A skipped test here would hide a missing sandbox feature: fail on any skip.
for suite in "$build/tests/consul/consul_live_test" "$build/tests/nomad/nomad_agent_test"; do
  out=$("$suite" 2>&1) || { echo "$out"; exit 1; }
  echo "$out" | tail -3
  if grep -q '\[  SKIPPED \]' <<<"$out"; then
    echo "FAILED: $(basename "$suite") skipped tests against the sandbox"
    exit 1
  fi
done
