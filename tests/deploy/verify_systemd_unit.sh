#!/bin/sh
# `systemd-analyze verify` on deploy/rolloutd.service, with ExecStart pointed at a real
# binary (the built rolloutd). verify only warns about unknown or misspelt settings, so any
# output counts as a failure. Exits 77 (skipped) without systemd-analyze.
set -eu
unit="$1"
binary="$2"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze not found" >&2
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
sed "s|^ExecStart=/usr/local/bin/rolloutd|ExecStart=$binary|" "$unit" > "$work/rolloutd.service"
grep -q "^ExecStart=$binary" "$work/rolloutd.service" || { echo "no ExecStart to rewrite" >&2; exit 1; }
output="$(cd "$work" && systemd-analyze verify ./rolloutd.service 2>&1)" || {
  echo "$output" >&2
  exit 1
}
if [ -n "$output" ]; then
  echo "systemd-analyze verify reported:" >&2
  echo "$output" >&2
  exit 1
fi
echo "rolloutd.service verified"
