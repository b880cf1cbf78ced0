#!/usr/bin/env bash
# Configures and builds everything into build/ (Ninja, RelWithDebInfo, -Wall -Wextra, and
# -Werror: the supported toolchain is Debian 12's, on which the tree builds without a
# warning; CMAKE_ARGS=-DROLLOUTS_WERROR=OFF for a build that only warns).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-$(nproc)}
if [ ! -f build/build.ninja ]; then
  # shellcheck disable=SC2086 # CMAKE_ARGS is a list of arguments
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROLLOUTS_WERROR=ON \
    ${CMAKE_ARGS:-} >/dev/null
fi
start=$(date +%s)
cmake --build build -j "$jobs"
echo "build: done in $(( $(date +%s) - start ))s"
