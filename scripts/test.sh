#!/usr/bin/env bash
# README command (2): installs what is missing, builds, runs every test with ctest.
# With ../shared/agents beside the clone (real Consul, Nomad and consul-template, xz), the
# real-agent tier (ctest label "real") runs against them; without it that tier skips.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# ajv (JSON Schema validator) for the schema agreement test, pinned by package-lock.json.
npm ci --no-audit --no-fund --loglevel=error
bash scripts/build.sh
if [[ -z ${ROLLOUTS_AGENTS_DIR:-} && -d ../shared/agents ]]; then
  export ROLLOUTS_AGENTS_DIR=$PWD/build/agents
  mkdir -p "$ROLLOUTS_AGENTS_DIR"
  for xz in ../shared/agents/*.xz; do
    bin=$ROLLOUTS_AGENTS_DIR/$(basename "$xz" .xz)
    [[ -x $bin && $bin -nt $xz ]] || { xz -dc "$xz" >"$bin.tmp" && chmod +x "$bin.tmp" && mv "$bin.tmp" "$bin"; }
  done
fi
if [[ -n ${ROLLOUTS_AGENTS_DIR:-} ]]; then
  echo "real-agent tier: agents from $ROLLOUTS_AGENTS_DIR ($("$ROLLOUTS_AGENTS_DIR/consul" version | head -n 1), $("$ROLLOUTS_AGENTS_DIR/nomad" version | head -n 1))"
else
  echo "real-agent tier: SKIPPED (no ../shared/agents): set ROLLOUTS_AGENTS_DIR to a folder with consul, nomad and consul-template to run it"
fi
cd build
# Tests are independent (each picks free ports on 127.0.0.1), so two run at once.
ctest --output-on-failure -j "${CTEST_JOBS:-2}" --timeout 600
