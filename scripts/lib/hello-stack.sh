# shellcheck shell=bash
# The hello demo job on the local stack of scripts/lib/stack.sh (source that first): its
# readiness as Consul shows it, Prometheus scraping its instances, and its Rollout spec.
# Used by scripts/demo-run.sh and bench/zero-downtime/run.sh.

# Instances of hello whose own checks exist and all pass (docs/design.md "Lessons": `?passing`
# also counts an instance that has only the node's serfHealth check so far).
hello_ready_count() {
  curl -sf "$CONSUL_HTTP_ADDR/v1/health/service/hello" |
    jq '[.[] | select(.Service.ID as $id | [.Checks[] | select(.ServiceID == $id)]
                      | length > 0 and all(.Status == "passing"))] | length'
}

# Waits until $1 hello instances are ready, at most $2 seconds.
hello_wait_ready() {
  local want=$1 timeout=$2
  local deadline=$(( $(date +%s) + timeout ))
  until [ "$(hello_ready_count 2>/dev/null)" = "$want" ]; do
    [ "$(date +%s)" -lt "$deadline" ] || return 1
    sleep 0.2
  done
}

# Debian's Prometheus is built without Consul discovery, so a loop turns Consul's view of
# the hello instances into a file_sd targets file (label group_version: the Meta version).
hello_start_discovery() {
  local d=$STACK_DIR/prometheus
  mkdir -p "$d"
  (
    while :; do
      curl -sf "$CONSUL_HTTP_ADDR/v1/health/service/hello" |
        jq '[.[] | {targets: ["\(.Service.Address // .Node.Address):\(.Service.Port)"],
                     labels: {instance_id: .Service.ID, group_version: (.Service.Meta.version // "")}}]' \
          >"$d/targets.tmp" 2>/dev/null && mv "$d/targets.tmp" "$d/targets.json"
      sleep 1
    done
  ) &
  STACK_PIDS+=("$!:discovery")
}

# Prometheus scraping the hello instances (via hello_start_discovery) every second, rolloutd
# at $1 ("host:port"; empty: none) as job "rolloutd" (the dashboards' default), and
# rollout-router when stack_start_router gave it a metrics port. Sets PROMETHEUS_ADDR.
hello_start_prometheus() {
  local rolloutd=${1:-} d=$STACK_DIR/prometheus
  mkdir -p "$d"
  {
    cat <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: hello
    file_sd_configs:
      - files: ["$d/targets.json"]
        refresh_interval: 1s
YML
    if [ -n "$rolloutd" ]; then
      cat <<YML
  - job_name: rolloutd
    static_configs:
      - targets: ["$rolloutd"]
YML
    fi
    if [ -n "${ROUTER_METRICS_PORT:-}" ]; then stack_router_scrape_job; fi
  } >"$d/prometheus.yml"
  stack_spawn_prometheus
}

# Writes the demo's Rollout of hello with spec.version $1 to rollouts/spec/hello: the
# example with a 10 s scaleDownDelay, and a pre-promotion probe that is a smoke test
# (20 requests, tolerates a little noise): the error rate over real traffic after the
# flip is the gate that must catch a bad version. $2 (optional): a further jq filter.
hello_put_spec() {
  local version=$1 extra=${2:-.}
  jq --arg v "$version" '.spec.version = $v | .spec.strategy.blueGreen.scaleDownDelay = "10s"
    | .spec.analysis.prePromotion.probe.requests = 20
    | .spec.analysis.prePromotion.probe.maxErrorRate = 0.25' \
    "$STACK_ROOT/examples/hello/rollout.json" | jq "$extra" >"$STACK_DIR/spec-$version.json"
  stack_kv_put rollouts/spec/hello "$STACK_DIR/spec-$version.json"
}
