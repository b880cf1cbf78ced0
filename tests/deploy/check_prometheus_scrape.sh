#!/bin/sh
# `promtool check config` on deploy/prometheus-scrape.yml. Debian's Prometheus is built
# without Consul service discovery, so its promtool rejects consul_sd_configs as an unknown
# field; each consul_sd_configs block is therefore replaced by an equivalent
# static_configs block before the check (everything else - globals, jobs, relabel rules -
# is checked as written). Exits 77 (skipped) without promtool.
set -eu
promtool="$1"
config="$2"
if [ -z "$promtool" ] || [ ! -x "$promtool" ]; then
  echo "SKIP: promtool not found; install the Debian 'prometheus' package" >&2
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
grep -q 'consul_sd_configs:' "$config" || { echo "no consul_sd_configs in $config" >&2; exit 1; }
awk '
  function indent(s) { match(s, /^ */); return RLENGTH }
  skipping && (NF == 0 || indent($0) > block_indent) { next }
  { skipping = 0 }
  /^ *consul_sd_configs:/ {
    block_indent = indent($0); skipping = 1
    printf "%*sstatic_configs: [{targets: [\"127.0.0.1:9464\"]}]\n", block_indent, ""
    next
  }
  { print }
' "$config" > "$work/prometheus.yml"
if grep -q consul_sd_configs "$work/prometheus.yml"; then
  echo "consul_sd_configs left after rewriting" >&2
  exit 1
fi
"$promtool" check config "$work/prometheus.yml"
