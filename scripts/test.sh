#!/usr/bin/env bash
# README command (2): installs what is missing, builds, runs every test with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
# ajv (JSON Schema validator) for the schema agreement test, pinned by package-lock.json.
npm ci --no-audit --no-fund --loglevel=error
bash scripts/build.sh
cd build
# Tests are independent (each picks free ports on 127.0.0.1), so two run at once.
ctest --output-on-failure -j "${CTEST_JOBS:-2}" --timeout 600
