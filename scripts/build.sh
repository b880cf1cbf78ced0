#!/usr/bin/env bash
# Configures and builds everything into build/ (Ninja, RelWithDebInfo, -Wall -Wextra).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
if [ ! -f build/build.ninja ]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo ${CMAKE_ARGS:-} >/dev/null
fi
start=$(date +%s)
cmake --build build -j "$jobs"
echo "build: done in $(( $(date +%s) - start ))s"
