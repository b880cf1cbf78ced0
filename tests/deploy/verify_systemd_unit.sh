#!/bin/sh
# `systemd-analyze verify` on units from deploy/, each with ExecStart pointed at a real
# binary (the built rolloutd or rollout-router), all verified together so that units
# naming each other (Wants=, After=) are found:
#   verify_systemd_unit.sh UNIT BINARY [UNIT BINARY]...
# BINARY "-" keeps the unit's ExecStart (a system binary such as /usr/sbin/haproxy, which
# must then exist). verify only warns about unknown or misspelt settings, so any output
# counts as a failure. Exits 77 (skipped) without systemd-analyze.
set -eu
if ! command -v systemd-analyze >/dev/null 2>&1; then
  echo "SKIP: systemd-analyze not found" >&2
  exit 77
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
units=""
while [ $# -ge 2 ]; do
  unit="$1"
  binary="$2"
  shift 2
  name="$(basename "$unit")"
  if [ "$binary" = - ]; then
    command="$(sed -n 's|^ExecStart=\([^ ]*\).*|\1|p' "$unit")"
    [ -x "$command" ] || { echo "SKIP: $command (ExecStart of $name) is missing" >&2; exit 77; }
    cp "$unit" "$work/$name"
  else
    sed "s|^ExecStart=/usr/local/bin/[^ ]*|ExecStart=$binary|" "$unit" > "$work/$name"
    grep -q "^ExecStart=$binary" "$work/$name" || { echo "no ExecStart to rewrite in $name" >&2; exit 1; }
  fi
  units="$units ./$name"
done
if [ $# -ne 0 ] || [ -z "$units" ]; then
  echo "usage: $0 UNIT BINARY [UNIT BINARY]..." >&2
  exit 2
fi
# shellcheck disable=SC2086  # one word per unit
output="$(cd "$work" && systemd-analyze verify $units 2>&1)" || {
  echo "$output" >&2
  exit 1
}
if [ -n "$output" ]; then
  echo "systemd-analyze verify reported:" >&2
  echo "$output" >&2
  exit 1
fi
echo "verified:$units"
