# rollout-router with HAProxy on Nomad: one group, two tasks sharing the allocation
# directory. The router (a prestart sidecar) writes haproxy.cfg and routes.map there and
# drives HAProxy through the runtime API socket it also puts there; HAProxy (the main
# task) runs on those files and is never reloaded by the router. How a change is applied
# and what it guarantees: docs/routers.md.
#
# deploy/rollout-router-haproxy.nomad.json is the same job in the JSON API form, runnable
# by the sandbox (raw_exec, no Vault, dynamic ports): tests/deploy registers it with the
# real rollout-router and HAProxy and sends a request through it.
#
# Adjust: datacenters, the routed services (--service, one per line, and their ports),
# the binary path (or an artifact stanza), the Consul address, the Vault role.

job "rollout-router-haproxy" {
  datacenters = ["dc1"]
  type        = "service"
  namespace   = "default"

  # One edge host at a time: the other keeps serving while one allocation is replaced.
  # The check below is /readyz, so an allocation only counts as healthy once its HAProxy
  # serves the routes its router selected (not merely once the processes run).
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }

  group "edge" {
    # Two edge hosts behind DNS or an L4 balancer. A "system" job (one per client) works
    # too; it would put an edge on every client, so it needs a node constraint.
    count = 2

    # The front ports are static: two allocations on one client could not both bind them,
    # and would die together anyway.
    constraint {
      operator = "distinct_hosts"
      value    = "true"
    }

    restart {
      attempts = 5
      interval = "5m"
      delay    = "10s"
      mode     = "delay"
    }

    network {
      # What clients connect to: fixed, so DNS / the balancer in front can point at it.
      port "http" {
        static = 8080
      }
      port "preview" {
        static = 8081
      }
      # The router's /metrics, /healthz, /readyz.
      port "router_metrics" {}
    }

    service {
      name = "rollout-router"
      port = "router_metrics"
      # deploy/prometheus-scrape.yml scrapes rollout-router services tagged "metrics".
      tags = ["metrics"]

      # /readyz: the report is written and HAProxy serves the selected routes (the 503 body
      # says why not). It gates deployments (update.health_check = "checks"). There is no
      # check_restart: restarting on a Consul outage or a HAProxy restart would not help,
      # and HAProxy keeps serving the last applied routes meanwhile.
      check {
        name     = "rollout-router-readyz"
        type     = "http"
        path     = "/readyz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    # Prestart sidecar: Nomad starts it before HAProxy and keeps it running beside it. If
    # the router dies, Nomad restarts only the router; HAProxy keeps serving the last
    # applied routes and the restarted router compares and puts right within one resync.
    task "rollout-router" {
      driver = "exec"

      lifecycle {
        hook    = "prestart"
        sidecar = true
      }

      config {
        command = "/usr/local/bin/rollout-router"
        args = [
          "--backend", "haproxy",
          # The allocation directory is the one folder both tasks see (/alloc under the
          # exec driver); the router does not create folders, and Nomad creates this one.
          # haproxy.cfg, routes.map and admin.sock (the runtime API) go there.
          "--haproxy-dir", "${NOMAD_ALLOC_DIR}",
          "--service", "hello=${NOMAD_ADDR_http},preview=${NOMAD_ADDR_preview}",
          "--metrics-addr", "${NOMAD_ADDR_router_metrics}",
          "--kv-prefix", "rollouts/",
          # The report key rollouts/routers/<id> names the allocation, so a report leads
          # to `nomad alloc status <id>`; it stays the same across task restarts.
          "--id", "${NOMAD_ALLOC_ID}",
        ]
      }

      env {
        CONSUL_HTTP_ADDR = "http://${attr.unique.network.ip-address}:8500"
      }

      # The Consul token (policy deploy/acl/consul-router.hcl) comes from Vault, never from
      # the job file or the command line; see deploy/rolloutd.nomad.hcl for the pattern.
      vault {
        policies    = ["rollout-router"]
        change_mode = "restart"
      }

      template {
        destination = "secrets/consul-token.env"
        env         = true
        change_mode = "restart"
        perms       = "0400"
        data        = <<-EOT
          CONSUL_HTTP_TOKEN={{ with secret "consul/creds/rollout-router" }}{{ .Data.token }}{{ end }}
        EOT
      }

      # SIGTERM: the router destroys its session, so its report disappears at once and
      # the controller does not wait for a router that is gone.
      kill_signal  = "SIGTERM"
      kill_timeout = "10s"

      resources {
        cpu    = 100 # MHz; blocking queries and a few socket exchanges per change
        memory = 64  # MB
      }

      logs {
        max_files     = 5
        max_file_size = 10
      }
    }

    task "haproxy" {
      driver = "exec"

      # The sidecar is started first but Nomad does not wait for its files: the router
      # writes them within milliseconds of starting, before it contacts Consul, so wait
      # for the config (written after the map, each by rename, so a non-empty file is
      # whole) for at most 30 s, then fail and let the restart policy try again.
      # -W: master-worker (the mode HAProxy recommends under a supervisor): an operator
      # can still have HAProxy re-read the file without closing the listeners with
      # `nomad alloc signal -s SIGUSR2 -task haproxy <alloc>`. Routes never need it, and
      # a change of --service is a job update with new allocations (docs/routers.md).
      # -db: stay in the foreground, as Nomad expects.
      config {
        command = "/bin/sh"
        args = [
          "-c",
          "cfg=${NOMAD_ALLOC_DIR}/haproxy.cfg; n=0; until [ -s $cfg ]; do n=$((n+1)); if [ $n -gt 300 ]; then echo \"no $cfg after 30 s: is rollout-router running?\" >&2; exit 1; fi; sleep 0.1; done; exec /usr/sbin/haproxy -W -db -f $cfg",
        ]
      }

      # SIGUSR1: soft stop. HAProxy stops listening and lets in-flight requests finish
      # (SIGTERM would cut them); kill_timeout bounds it.
      kill_signal  = "SIGUSR1"
      kill_timeout = "30s"

      resources {
        cpu    = 500 # MHz
        memory = 256 # MB
      }

      logs {
        max_files     = 5
        max_file_size = 20
      }
    }
  }
}
