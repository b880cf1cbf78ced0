#!/usr/bin/env bash
# End-to-end: the demo (sandbox + HAProxy or nginx + rollout-router + hello + Prometheus +
# rolloutd) under keep-alive load, then assertions on what every recorded response says:
#   - no transport error and no socket error anywhere (wrk and the sampler);
#   - the only non-2xx answers come from v3 (its injected errors while it was live);
#   - no v2 answer before set-version v2, no v1 answer once the rollout reported Healthy v2;
#   - v2 succeeded, v3 was rolled back by the post-promotion analysis.
# ROLLOUTS_BACKEND=real: on real Consul and Nomad dev agents instead of the sandbox.
# STACK_ROUTER=nginx: through nginx (client keep-alive off: its reloads would lose requests
# on idle keep-alive connections, see docs/routers.md) instead of HAProxy.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?build dir}
if [ "${ROLLOUTS_BACKEND:-sandbox}" = real ]; then
  source "$root/scripts/lib/real-agents.sh"
  real_agents_require consul nomad # one SKIP line and exit 77 without them
fi
proxy=/usr/sbin/${STACK_ROUTER:-haproxy}
for tool in "$proxy" /usr/bin/prometheus /usr/bin/wrk /usr/bin/jq; do
  if [ ! -x "$tool" ]; then
    echo "SKIP: $tool is missing (scripts/install-deps.sh installs it)"
    exit 77
  fi
done
dir=$(mktemp -d /tmp/rollouts-e2e.XXXXXX)
trap 'rm -rf "$dir"' EXIT
export DEMO_DIR=$dir/run STACK_BUILD=$build LOAD_CONNECTIONS=8 SAMPLE_RATE=100 DEMO_CHECK_DASHBOARDS=1
bash "$root/scripts/demo-run.sh"

fail=0
check() {  # description, jq expression over report.json that must be true
  if jq -e "$2" "$DEMO_DIR/report.json" >/dev/null; then
    echo "ok: $1"
  else
    echo "FAILED: $1 ($(jq -c "$2" "$DEMO_DIR/report.json" 2>&1))"
    fail=1
  fi
}
check "no transport error" '.transport_errors == 0'
check "non-2xx only from v3" '(.non2xx_by_version | keys) - ["v3"] == []'
check "no v2 answer before set-version v2" '.v2_before_set_v2 == 0'
check "no v3 answer before set-version v3" '.v3_before_set_v3 == 0'
check "no v1 answer after Healthy v2" '.v1_after_healthy_v2 == 0'
check "v3 was live (promoted) before the roll back" '.v3_served_ms != null'
if grep -q "Socket errors" "$DEMO_DIR/wrk.txt"; then
  echo "FAILED: wrk saw socket errors: $(grep 'Socket errors' "$DEMO_DIR/wrk.txt")"
  fail=1
else
  echo "ok: wrk saw no socket error"
fi
if [ "$(cat "$DEMO_DIR/dashboards.rc")" = ok ]; then
  echo "ok: every dashboard expression evaluated against the run's Prometheus ($(grep -c '' "$DEMO_DIR/dashboards.txt") lines)"
else
  echo "FAILED: dashboard expressions:"
  grep -v '^ok' "$DEMO_DIR/dashboards.txt" | head -20
  fail=1
fi
history=$(jq -r '.history | map("\(.version):\(.outcome):\(.reason // "")") | join(" ")' \
  "$DEMO_DIR/status.json")
echo "history: $history"
case "$history" in
  *"v2:Succeeded"*"v3:RolledBack:AnalysisFailed"*) echo "ok: v2 succeeded, v3 rolled back by analysis" ;;
  *) echo "FAILED: unexpected history"; fail=1 ;;
esac
exit $fail
