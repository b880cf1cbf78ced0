#!/usr/bin/env bash
# deploy/consul-template end to end with the real binaries: the real consul-template
# renders rollout-upstream.ctmpl from a real Consul agent, with the shipped
# consul-template.hcl (only its paths and the Consul address replaced), and runs
# apply-nginx-upstream.sh, which drives a real nginx on 127.0.0.1 in front of small
# backends (one python3 process answering its instance name on each instance's port).
#
# The selection rule (README.md): passing own checks and no critical node check, tagged
# active, Meta.version == activeVersion in rollouts/status/hello; before a status exists, the
# single version of the ready active instances. Asserted through a flip and its staggered
# instants: the live file's server lines, what nginx answers, when nginx reloads (only when
# the rendered file changes, never for an empty set, which keeps the last good file) and
# that consul-template keeps running across refusals.
#   consul_template_real_test.sh   (skips with 77 without consul / consul-template)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
source "$root/scripts/lib/real-agents.sh"
source "$root/scripts/lib/stack.sh"  # stack_free_port
real_agents_require consul consul-template
for tool in /usr/sbin/nginx curl jq python3 flock; do
  command -v "$tool" >/dev/null || { echo "SKIP: $tool is missing (scripts/install-deps.sh installs it)"; exit 77; }
done

dir=$(mktemp -d /tmp/ct-real-test.XXXXXX)
STACK_DIR=$dir
conf=$dir/nginx.conf
live=$dir/conf.d/hello-upstream.conf
candidate=$dir/hello.candidate.conf
ct_pid='' backend_pid=''
cleanup() {
  local pid
  # consul-template stops on SIGINT (it did not on SIGTERM in a trial); python3 on either.
  for pid in $ct_pid $backend_pid; do real_stop_pid "$pid" 50; done
  if [[ -f $dir/nginx.pid ]]; then
    /usr/sbin/nginx -p "$dir" -c "$conf" -s quit 2>/dev/null || true
    for _ in $(seq 1 50); do [[ -f $dir/nginx.pid ]] || break; sleep 0.1; done
  fi
  real_agents_stop || true
  if [[ ${fail:-1} != 0 && -f $dir/consul-template.log ]]; then
    echo "--- consul-template log (last 40 lines)"
    tail -n 40 "$dir/consul-template.log"
  fi
  rm -rf "$dir"
}
trap cleanup EXIT
mkdir -p "$dir/conf.d" "$dir/logs" "$dir/tmp" "$dir/agents"

real_consul_start "$dir/agents" stack_free_port
consul=$CONSUL_HTTP_ADDR

# --- backends: instance name -> port, one process answering "<name>\n" on every port.
declare -A port
for name in a b c e f g; do port[$name]=$(stack_free_port); done
front=$(stack_free_port)
specs=()
for n in "${!port[@]}"; do specs+=("$n:${port[$n]}"); done
setpriv --pdeathsig KILL python3 -c '
import http.server, socketserver, sys, threading
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (self.server.name + "\n").encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class S(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
servers = []
for spec in sys.argv[1:]:
    name, p = spec.split(":")
    s = S(("127.0.0.1", int(p)), H)
    s.name = name
    servers.append(s)
for s in servers[1:]:
    threading.Thread(target=s.serve_forever, daemon=True).start()
servers[0].serve_forever()
' "${specs[@]}" >"$dir/backends.log" 2>&1 &
backend_pid=$!

# --- nginx, including whatever the wrapper installs (a glob: nothing before the first run).
stack_nginx_conf "$dir" 1 64 "  include $dir/conf.d/*.conf;" >"$conf"
/usr/sbin/nginx -p "$dir" -c "$conf"

fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAILED: $1"; fail=1; }
check() { if "${@:2}"; then ok "$1"; else bad "$1"; fi; }
# waitfor SECONDS COMMAND...: polls every 0.1 s.
waitfor() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# --- Consul writes.
put() { curl -sf -m 5 -X PUT "$consul$1" ${2:+--data-binary "$2"} >/dev/null; }
# register NAME VERSION TAG CHECK-STATUS|none
register() {
  local body
  body=$(jq -cn --arg n "$1" --arg v "$2" --arg t "$3" --argjson p "${port[$1]}" '
    {ID: ("hello-" + $n), Name: "hello", Tags: [$t], Address: "127.0.0.1", Port: $p,
     Meta: {version: $v}}')
  if [[ $4 != none ]]; then
    body=$(jq -c --arg n "$1" --arg s "$4" \
      '. + {Check: {CheckID: ("hello-" + $n + "-ttl"), Name: "ttl", TTL: "10m", Status: $s}}' <<<"$body")
  fi
  put /v1/agent/service/register "$body"
}
check_status() {  # NAME passing|critical
  local verb=pass
  [[ $2 == critical ]] && verb=fail
  put "/v1/agent/check/$verb/hello-$1-ttl"
}
declare_active() { put /v1/kv/rollouts/status/hello "{\"phase\":\"Healthy\",\"activeVersion\":\"$1\"}"; }

# --- What was rendered, installed and served.
# The instance names of the server lines of FILE, sorted, space-separated.
servers_in() {
  local p n out=()
  for p in $(sed -n 's/^[ \t]*server 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$1" 2>/dev/null); do
    for n in "${!port[@]}"; do [[ ${port[$n]} == "$p" ]] && out+=("$n"); done
  done
  printf '%s\n' "${out[@]}" | sort | paste -sd' ' -
}
live_is() { [[ -f $live && $(servers_in "$live") == "$1" ]]; }
candidate_is() { [[ -f $candidate && $(servers_in "$candidate") == "$1" ]]; }
# The set of instances nginx answers from, over 12 requests (round robin over <= 3 servers).
served() {
  local i out=()
  for i in $(seq 1 12); do out+=("$(curl -s -m 2 "http://127.0.0.1:$front/" 2>/dev/null || echo -)"); done
  printf '%s\n' "${out[@]}" | sort -u | paste -sd' ' -
}
serves() { [[ $(served) == "$1" ]]; }
reloads() { grep -c 'apply-nginx-upstream: reloaded nginx' "$dir/consul-template.log" || true; }
# reloads_are N: the wrapper logs its reload just after nginx took it, so allow it 5 s.
reload_count_is() { [ "$(reloads)" = "$1" ]; }
reloads_are() { waitfor 5 reload_count_is "$1"; }
runs() { grep -c 'executing command' "$dir/consul-template.log" || true; }
workers() { pgrep -P "$(cat "$dir/nginx.pid")" | sort | paste -sd' ' -; }
settled_workers() {
  waitfor 10 bash -c "[ \"\$(pgrep -c -P $(cat "$dir/nginx.pid"))\" = 1 ]" || true
  workers
}
ct_alive() { kill -0 "$ct_pid" 2>/dev/null; }
# after_quiet: give consul-template time to see a Consul change that must not change the
# render (blocking queries return at once on a change; 2 s is many round trips).
after_quiet() { sleep 2; }

# --- Before consul-template: v1 live (a, b), v2 standby (c, g), and instances the rule
# must never pick: e (v1, active, critical), f (v1, active, no checks of its own).
register a v1 active passing
register b v1 active passing
register c v2 standby passing
register g v2 standby passing
register e v1 active critical
register f v1 active none
declare_active v1

# The shipped configuration, with this test's paths and Consul address.
hcl=$root/deploy/consul-template/consul-template.hcl
for s in 'address = "127.0.0.1:8500"' /etc/nomad-rollouts/rollout-upstream.ctmpl \
  /var/lib/nomad-rollouts/hello.candidate.conf /etc/nginx/conf.d/hello-upstream.conf \
  /usr/local/bin/apply-nginx-upstream.sh; do
  grep -qF -- "$s" "$hcl" || { echo "FAILED: $hcl no longer has '$s' (update this test)"; exit 1; }
done
sed -e "s|address = \"127.0.0.1:8500\"|address = \"${consul#http://}\"|" \
  -e "s|/etc/nomad-rollouts/rollout-upstream.ctmpl|$root/deploy/consul-template/rollout-upstream.ctmpl|" \
  -e "s|/var/lib/nomad-rollouts/hello.candidate.conf|$candidate|g" \
  -e "s|--live /etc/nginx/conf.d/hello-upstream.conf|--live $live --conf $conf --prefix $dir|" \
  -e "s|/usr/local/bin/apply-nginx-upstream.sh|$root/deploy/consul-template/apply-nginx-upstream.sh|" \
  "$hcl" >"$dir/consul-template.hcl"
ROLLOUT_SERVICE=hello ROUTER_LISTEN=127.0.0.1:$front \
  setpriv --pdeathsig KILL "$(real_agent_path consul-template)" -config "$dir/consul-template.hcl" \
  -log-level info >"$dir/consul-template.log" 2>&1 &
ct_pid=$!

echo "consul $consul, nginx front 127.0.0.1:$front, $($(real_agent_path consul-template) -version 2>&1 | head -n 1)"

# 1. First render: a and b only.
check "first render installs a, b (passing, active, declared v1)" waitfor 15 live_is "a b"
check "nginx serves a and b" waitfor 10 serves "a b"
check "the render names the declared and routed version" \
  grep -q "declared active version 'v1', routing version 'v1'" "$live"
check "one reload so far" reloads_are 1
before=$(settled_workers)

# 2. Changes the rule ignores render the same file: no command run, no reload.
runs_before=$(runs)
check_status c critical    # a standby instance fails
register g v2 active passing # the wrong version takes the active tag
put /v1/kv/rollouts/other '{"activeVersion":"v9"}'
after_quiet
check "standby health, a v2 tagged active and other keys change nothing" live_is "a b"
check "  ... and run no command" [ "$(runs)" = "$runs_before" ]
check "  ... and do not reload nginx" [ "$(workers)" = "$before" ]
check_status c passing
register g v2 standby passing

# 3. A node check going critical makes every instance not ready: an empty upstream, refused;
#    the last good file keeps serving and consul-template keeps running.
put /v1/agent/check/register '{"ID":"node-disk","Name":"node disk","TTL":"10m","Status":"critical"}'
check "critical node check: the candidate has no server" waitfor 10 candidate_is ""
check "  ... the wrapper refused it" \
  waitfor 10 grep -q "refusing $candidate: no server in upstream svc_hello_active" "$dir/consul-template.log"
check "  ... the live file still has a, b" live_is "a b"
check "  ... nginx still serves a, b without a reload" serves "a b"
check "  ... consul-template is still running" ct_alive
put /v1/agent/check/pass/node-disk
check "node check passing again: the candidate is a, b again" waitfor 10 candidate_is "a b"
check "  ... the wrapper found it unchanged" \
  waitfor 10 grep -q "unchanged: $live already has this content" "$dir/consul-template.log"
check "  ... and did not reload" [ "$(workers)" = "$before" ]
check "  ... one reload in all so far" [ "$(reloads)" = 1 ]

# 4. The flip, staggered as Nomad retags one allocation at a time.
#    4a. The status declares v2 before any v2 instance has the active tag: empty, refused.
declare_active v2
check "declared v2, no active v2 instance: the candidate is empty" waitfor 10 candidate_is ""
check "  ... nginx keeps serving v1 (a, b)" serves "a b"
check "  ... consul-template is still running" ct_alive
#    4b. c takes the tag: only c (a, b are v1, no longer the declared version).
register c v2 active passing
check "c tagged active: the live file is c alone" waitfor 10 live_is "c"
check "  ... nginx serves c only" waitfor 10 serves "c"
#    4c. g takes the tag: c and g.
register g v2 active passing
check "g tagged active: c, g" waitfor 10 live_is "c g"
check "  ... nginx serves c, g" waitfor 10 serves "c g"
check "  ... one reload per changed render (3 so far)" reloads_are 3
after=$(settled_workers)
#    4d. a, b lose the tag: nothing routed changes.
runs_before=$(runs)
register a v1 standby passing
register b v1 standby passing
after_quiet
check "v1 instances retagged standby: still c, g" live_is "c g"
check "  ... no command run" [ "$(runs)" = "$runs_before" ]
check "  ... no reload" [ "$(workers)" = "$after" ]

# 5. A routed instance fails its check: it leaves the upstream.
check_status c critical
check "c critical: g alone" waitfor 10 live_is "g"
check "  ... nginx serves g only" waitfor 10 serves "g"

# 6. No status yet (e.g. before the controller's first write): the single version of the
#    ready active instances routes; several versions route nothing.
curl -sf -m 5 -X DELETE "$consul/v1/kv/rollouts/status/hello" >/dev/null
check "no status: the version of the ready active instances (g, v2)" \
  waitfor 10 grep -q "declared active version '', routing version 'v2'" "$live"
check "  ... still g" live_is "g"
register a v1 active passing
check "no status, active instances on v1 and v2: the candidate is empty" waitfor 10 candidate_is ""
check "  ... refused, nginx keeps serving g" serves "g"
check "  ... consul-template is still running" ct_alive

# e (critical) and f (no checks of its own) were in none of the exact sets above.
echo "reloads: $(reloads), command runs: $(runs)"
exit $fail
