#!/usr/bin/env bash
# Throughput of the hello demo service on loopback, keep-alive, for each server
# implementation we considered. Usage: bench/hello/run.sh [BUILD_DIR] [DURATION]
# Needs: cmake --build BUILD_DIR --target hello hello_cpprest_bench; wrk (Debian package).
set -euo pipefail
build=${1:-build}
duration=${2:-10s}
hello_bin=$build/examples/hello/hello
cpprest_bin=$build/bench/hello/hello_cpprest_bench
for bin in "$hello_bin" "$cpprest_bin"; do
  [[ -x $bin ]] || { echo "missing $bin: build it first" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk is not installed" >&2; exit 2; }

workdir=$(mktemp -d)
server_pid=
stop_server() {
  [[ -n $server_pid ]] || return 0
  kill -TERM "$server_pid" 2>/dev/null || true
  # Bounded: the cpprest server can hang in Stop() after a pool deadlock (see REPORT.md).
  for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$server_pid" 2>/dev/null; then
    echo "  (did not exit 5 s after SIGTERM; SIGKILL)"
    kill -KILL "$server_pid" 2>/dev/null || true
  fi
  wait "$server_pid" 2>/dev/null || true
  server_pid=
}
trap 'stop_server; rm -rf "$workdir"' EXIT

# start NAME CMD...: runs CMD with APP_VERSION=bench, sets $port from its stdout line.
start() {
  local name=$1; shift
  APP_VERSION=bench "$@" >"$workdir/$name.out" 2>"$workdir/$name.err" &
  server_pid=$!
  port=
  for _ in $(seq 100); do
    port=$(grep -o '127\.0\.0\.1:[0-9]*' "$workdir/$name.out" 2>/dev/null | cut -d: -f2 || true)
    [[ -n $port ]] && break
    sleep 0.1
  done
  [[ -n $port ]] || { echo "$name did not start" >&2; cat "$workdir/$name.err" >&2; exit 1; }
}

run_wrk() {
  local connections=$1
  echo "\$ wrk -t2 -c$connections -d$duration http://127.0.0.1:PORT/hello"
  # The timeout bounds a run against a server that stops answering.
  timeout 60 wrk -t2 -c"$connections" -d"$duration" "http://127.0.0.1:$port/hello" || true
}

echo "# $(date -u +%FT%TZ) $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "## hello (Boost.Beast, one Asio thread)"
start beast "$hello_bin" --port 0
curl -s "http://127.0.0.1:$port/hello" >/dev/null
run_wrk 50
stop_server
echo
echo "## hello_cpprest_bench (same HelloApp on clients/http/server.h, cpprestsdk)"
for connections in 50 20; do
  start cpprest "$cpprest_bin" 0
  curl -s "http://127.0.0.1:$port/hello" >/dev/null
  run_wrk "$connections"
  echo "  after the run: $(curl -s -m 2 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/hello" || true) from /hello (000 = no answer in 2 s)"
  stop_server
  echo
done
