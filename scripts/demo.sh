#!/usr/bin/env bash
# README command (1): installs what is missing, builds, runs the demo (a real rollout in
# the sandbox under load, a bad version rolled back, a report). See scripts/demo-run.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
exec bash scripts/demo-run.sh
