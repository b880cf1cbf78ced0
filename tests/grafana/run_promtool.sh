#!/bin/sh
# Runs promtool (first argument: its path, empty when CMake did not find it) with the
# remaining arguments; exits 77 (ctest "skipped") when promtool is not installed.
promtool="$1"
shift
if [ -z "$promtool" ] || [ ! -x "$promtool" ]; then
  echo "SKIP: promtool not found; install the Debian 'prometheus' package" >&2
  exit 77
fi
exec "$promtool" "$@"
