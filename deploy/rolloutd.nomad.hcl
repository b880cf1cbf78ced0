# rolloutd on Nomad: two instances for HA. Both run all the time; they elect a leader
# themselves through a Consul session lock on <kv-prefix>leader, and only the leader
# reconciles (the standby keeps its watches warm and takes over within
# 2 x leader-ttl + lock-delay when the leader dies). See docs/operations.md.
#
# deploy/rolloutd.nomad.json is the same job in the JSON API form, runnable by the sandbox
# (raw_exec, no Vault): tests/deploy registers it and waits for both instances healthy.
#
# Adjust: datacenters, the binary path (or an artifact stanza), the agent addresses, the
# Vault roles in the template, --allowed-jobs.

job "rolloutd" {
  datacenters = ["dc1"]
  type        = "service"
  # Where the job itself runs; the Nomad namespace rolloutd manages is NOMAD_NAMESPACE.
  namespace = "default"

  # One instance at a time, so a bad upgrade never takes both down: the new version must
  # pass its /healthz check for 10s before the second instance is replaced.
  update {
    max_parallel      = 1
    health_check      = "checks"
    min_healthy_time  = "10s"
    healthy_deadline  = "2m"
    progress_deadline = "5m"
    auto_revert       = true
  }

  group "rolloutd" {
    count = 2

    # Two instances on one client would die together.
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
      # /metrics, /healthz, /readyz on one port (--metrics-addr).
      port "metrics" {}
    }

    service {
      name = "rolloutd"
      port = "metrics"
      # deploy/prometheus-scrape.yml scrapes services tagged "metrics".
      tags = ["metrics"]

      # Liveness only: /healthz answers 200 while the process serves. /readyz (leader, or
      # warm standby with live watches) goes 503 during a Consul outage; restarting the
      # instances for that would only add leader churn, so it is not the health check.
      check {
        name     = "rolloutd-healthz"
        type     = "http"
        path     = "/healthz"
        interval = "10s"
        timeout  = "2s"
      }
    }

    task "rolloutd" {
      driver = "exec"

      config {
        command = "/usr/local/bin/rolloutd"
        args = [
          "--metrics-addr", "${NOMAD_ADDR_metrics}",
          "--kv-prefix", "rollouts/",
          "--workers", "4",
          "--leader-ttl", "15s",
          "--lock-delay", "15s",
          "--allowed-jobs", "default/*",
          "--log-level", "info",
        ]
      }

      # Agent addresses follow the HashiCorp variables. Use https:// addresses and the
      # *_CACERT variables when the agents serve TLS (docs/operations.md "TLS").
      env {
        CONSUL_HTTP_ADDR = "http://${attr.unique.network.ip-address}:8500"
        NOMAD_ADDR       = "http://${attr.unique.network.ip-address}:4646"
        NOMAD_NAMESPACE  = "default"
      }

      # Tokens never go on the command line (they would show in `ps`) or in the job file:
      # Vault's Consul and Nomad secrets engines issue short-lived tokens bound to the
      # policies in deploy/acl/, rendered into the task's secrets dir and exported as
      # environment variables. When Vault rotates them the task restarts with the new ones.
      vault {
        policies    = ["rolloutd"]
        change_mode = "restart"
      }

      template {
        destination = "secrets/agent-tokens.env"
        env         = true
        change_mode = "restart"
        perms       = "0400"
        data        = <<-EOT
          CONSUL_HTTP_TOKEN={{ with secret "consul/creds/rolloutd" }}{{ .Data.token }}{{ end }}
          NOMAD_TOKEN={{ with secret "nomad/creds/rolloutd" }}{{ .Data.secret_id }}{{ end }}
        EOT
      }
      # Without Vault, keep the tokens in Consul KV under a path only the Nomad clients'
      # token can read, and render them the same way:
      #   CONSUL_HTTP_TOKEN={{ key "secrets/rolloutd/consul-token" }}
      #   NOMAD_TOKEN={{ key "secrets/rolloutd/nomad-token" }}

      # SIGTERM: stop taking work, let in-flight reconciles finish, release the leader lock
      # so the standby takes over without waiting for the session TTL.
      kill_signal  = "SIGTERM"
      kill_timeout = "30s"

      resources {
        cpu    = 200 # MHz; a reconcile is mostly waiting on HTTP
        memory = 128 # MB; see docs/operations.md "Sizing"
      }

      logs {
        max_files     = 5
        max_file_size = 20
      }
    }
  }
}
