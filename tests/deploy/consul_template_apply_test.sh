#!/usr/bin/env bash
# deploy/consul-template/apply-nginx-upstream.sh against a real nginx on 127.0.0.1:
# a good candidate is installed and nginx reloads onto it; an unchanged one does not
# reload; an upstream without servers is refused and a candidate that nginx -t rejects is
# rolled back, both leaving the last good file serving; a failed reload says so;
# --always-exit-zero (consul-template's command line) reports a refusal with exit 0.
# The template rendered by the real consul-template: consul_template_real_test.sh.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
apply=$root/deploy/consul-template/apply-nginx-upstream.sh
for tool in /usr/sbin/nginx /usr/bin/curl /usr/bin/flock; do
  [ -x "$tool" ] || { echo "SKIP: $tool is missing (scripts/install-deps.sh installs it)"; exit 77; }
done
source "$root/scripts/lib/stack.sh"  # stack_free_port

dir=$(mktemp -d /tmp/ct-apply-test.XXXXXX)
conf=$dir/nginx.conf
live=$dir/conf.d/hello-upstream.conf
cleanup() {
  if [ -f "$dir/nginx.pid" ]; then
    /usr/sbin/nginx -p "$dir" -c "$conf" -s quit 2>/dev/null || true
    for _ in $(seq 1 50); do [ -f "$dir/nginx.pid" ] || break; sleep 0.1; done
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/conf.d" "$dir/logs" "$dir/tmp"
# Two "instances" (answering A and B) and the routed front port from the live file, on
# three distinct free ports (picked again if nginx cannot bind one: another process may
# bind a port between the pick and nginx's bind).
write_conf() {
  STACK_DIR=$dir
  port_a=$(stack_free_port) port_b=$(stack_free_port) front=$(stack_free_port)
  [[ -n $port_a && -n $port_b && -n $front ]] || { echo "FAIL: no free ports" >&2; exit 1; }
  stack_nginx_conf "$dir" 1 64 "$(cat <<CONF
  server { listen 127.0.0.1:$port_a; location / { return 200 "A\n"; } }
  server { listen 127.0.0.1:$port_b; location / { return 200 "B\n"; } }
  include $live;
CONF
)" >"$conf"
}

# A candidate in the template's shape, with the given server lines in the upstream.
candidate() {
  local file=$dir/candidate-$1.conf
  shift
  {
    echo "# service hello: test candidate"
    echo "upstream svc_hello_active {"
    echo "  keepalive 64;"
    for line in "$@"; do echo "  $line"; done
    echo "}"
    echo "server {"
    echo "  listen 127.0.0.1:$front;"
    echo "  location / { proxy_pass http://svc_hello_active; proxy_http_version 1.1;"
    echo "               proxy_set_header Connection \"\"; }"
    echo "}"
  } >"$file"
  echo "$file"
}
run_apply() {  # candidate file [more options]; sets rc and err
  rc=0
  err=$("$apply" --candidate "$1" --live "$live" --conf "$conf" --prefix "$dir" "${@:2}" 2>&1) || rc=$?
}
front_says() { curl -s -m 2 "http://127.0.0.1:$front/" 2>/dev/null || true; }
wait_front() {  # until the front port answers $1, at most 10 s
  for _ in $(seq 1 50); do [ "$(front_says)" = "$1" ] && return 0; sleep 0.2; done
  return 1
}
workers() { pgrep -P "$(cat "$dir/nginx.pid")" | sort | tr '\n' ' '; }
# The worker set once the previous generation has exited: after a reload the old worker
# stays a child of the master until it has closed its connections (worker_processes 1,
# so one worker is the settled state; at most 10 s).
settled_workers() {
  for _ in $(seq 1 50); do
    [ "$(pgrep -c -P "$(cat "$dir/nginx.pid")")" = 1 ] && break
    sleep 0.2
  done
  workers
}

fail=0
check() {  # description, command...
  if "${@:2}"; then echo "ok: $1"; else echo "FAILED: $1 (exit $rc: $err)"; fail=1; fi
}

make_candidates() {
  good_a=$(candidate a "server 127.0.0.1:$port_a max_fails=0;  # version v1")
  good_b=$(candidate b "server 127.0.0.1:$port_b max_fails=0;  # version v2")
  empty=$(candidate empty "# no instance")
  broken=$(candidate broken "server 127.0.0.1:$port_b max_fails=zero;")
}

started=false
for attempt in 1 2 3 4 5; do
  write_conf
  make_candidates
  rm -f "$live" "$live.last-good"
  # nginx is not running yet: the file passes nginx -t and is installed, the reload fails.
  run_apply "$good_a"
  boot_rc=$rc boot_err=$err
  if /usr/sbin/nginx -p "$dir" -c "$conf" 2>"$dir/start.err"; then
    started=true
    break
  fi
  echo "nginx did not start (attempt $attempt): $(tail -1 "$dir/start.err")"
done
rc=$boot_rc err=$boot_err
check "reload failure (nginx not running) exits 5" [ "$rc" = 5 ]
check "reload failure is explained" grep -q "reload failed" <<<"$err"
check "the tested file is in place" cmp -s "$good_a" "$live"
check "nginx started" $started
check "nginx serves the first file" wait_front A

run_apply "$good_b"
check "good candidate: exit 0" [ "$rc" = 0 ]
check "good candidate: live file replaced" cmp -s "$good_b" "$live"
check "good candidate: nginx reloaded onto it" wait_front B
before=$(settled_workers)

run_apply "$good_b"
check "unchanged candidate: exit 0" [ "$rc" = 0 ]
check "unchanged candidate: says so" grep -q unchanged <<<"$err"
sleep 0.5
check "unchanged candidate: no reload (same workers)" [ "$(workers)" = "$before" ]

run_apply "$empty"
check "empty upstream: refused with exit 3" [ "$rc" = 3 ]
check "empty upstream: names the upstream" grep -q "no server in upstream svc_hello_active" <<<"$err"
check "empty upstream: last good file kept" cmp -s "$good_b" "$live"
check "empty upstream: still serving B" [ "$(front_says)" = B ]
check "empty upstream: no reload" [ "$(workers)" = "$before" ]

run_apply "$empty" --always-exit-zero
check "empty upstream, --always-exit-zero: exit 0" [ "$rc" = 0 ]
check "empty upstream, --always-exit-zero: still refused, and says so" \
  grep -q "no server in upstream svc_hello_active" <<<"$err"
check "empty upstream, --always-exit-zero: last good file kept" cmp -s "$good_b" "$live"
check "empty upstream, --always-exit-zero: no reload" [ "$(workers)" = "$before" ]

run_apply "$broken"
check "nginx -t failure: exit 4" [ "$rc" = 4 ]
check "nginx -t failure: nginx's message is passed on" grep -q "nginx -t rejected.*max_fails" <<<"$err"
check "nginx -t failure: last good file back in place" cmp -s "$good_b" "$live"
check "nginx -t failure: the configuration on disk passes nginx -t" \
  /usr/sbin/nginx -p "$dir" -c "$conf" -t -q
check "nginx -t failure: still serving B" [ "$(front_says)" = B ]
check "nginx -t failure: no reload" [ "$(workers)" = "$before" ]
run_apply "$broken" --always-exit-zero
check "nginx -t failure, --always-exit-zero: exit 0, rolled back" \
  bash -c '[ "$1" = 0 ] && cmp -s "$2" "$3"' _ "$rc" "$good_b" "$live"

run_apply "$good_a"
check "after refusals a good candidate applies again" [ "$rc" = 0 ]
check "and nginx serves it" wait_front A

run_apply "$dir/does-not-exist.conf"
check "missing candidate: refused with exit 3" [ "$rc" = 3 ]
check "missing candidate: live file kept" cmp -s "$good_a" "$live"

# The template queries the unfiltered service (no tag filter, no passing filter: both are
# applied inside the template, docs/design.md "Lessons").
tmpl=$root/deploy/consul-template/rollout-upstream.ctmpl
queries=$(sed '\|{{- /\*|,\|\*/ -}}|d' "$tmpl" | grep -o 'service ([^)]*)\|service "[^"]*"' || true)
rc=0 err=$queries
check "the template has exactly one service query" [ "$(grep -c . <<<"$queries")" = 1 ]
check "that query is NAME|any without a tag" grep -qx 'service (printf "%s|any" $service)' <<<"$queries"

exit $fail
