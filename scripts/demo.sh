#!/usr/bin/env bash
# README command (1): installs what is missing, builds, runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
./build/controller/rolloutd --version
echo "The demo (a real rollout in the sandbox under load) comes with issue 5;"
echo "until then this command checks that the controller builds and starts."
