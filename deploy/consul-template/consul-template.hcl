# consul-template configuration for one service routed by nginx with the Nomad Rollouts
# selection rule (see README.md). Run with the settings the template reads:
#   ROLLOUT_SERVICE=hello ROUTER_LISTEN=0.0.0.0:80 consul-template -config consul-template.hcl
# Paths below are examples; the live file is the one nginx.conf includes.

consul {
  address = "127.0.0.1:8500"
  # token: set CONSUL_HTTP_TOKEN (read access to the service and to <prefix>status/).
}

# Render at once on every change: each second of delay here is a second in which nginx
# still routes to the old version after a flip, and the controller cannot see that delay.
wait {
  min = "0s"
  max = "0s"
}

template {
  source      = "/etc/nomad-rollouts/rollout-upstream.ctmpl"
  # The candidate: apply-nginx-upstream.sh checks it, installs it as the live file and
  # reloads nginx. Never point destination at the file nginx includes.
  destination = "/var/lib/nomad-rollouts/hello.candidate.conf"
  # --always-exit-zero: consul-template 0.25 exits when its command fails, and the wrapper
  # refuses an empty upstream in the instant of every flip (its reason goes to stderr,
  # which consul-template logs).
  command     = "/usr/local/bin/apply-nginx-upstream.sh --candidate /var/lib/nomad-rollouts/hello.candidate.conf --live /etc/nginx/conf.d/hello-upstream.conf --always-exit-zero"
  command_timeout = "60s"
  perms       = 0644
}
