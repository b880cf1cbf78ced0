#!/usr/bin/env bash
# The unit, sandbox and integration tests once more, built with AddressSanitizer (+ LeakSanitizer)
# and UndefinedBehaviorSanitizer (-DROLLOUTS_SANITIZE=ON) and -Werror, in build-san/ (separate
# from build/). Any sanitizer report fails the run, whether it comes from a test binary or from a
# process a test started (rollout-sandbox, rolloutd, rolloutctl, hello tasks).
#
#   bash scripts/test-sanitizers.sh [extra ctest arguments, e.g. -R integration_happy_path]
#
# Left out: the e2e test (label e2e: nginx + Prometheus + wrk at full load, whose throughput and
# latency figures mean nothing at ASan's 2-3x slowdown, and 5+ minutes serial) and the real-agent
# tier (label real: it exercises the same client code the sandbox tier runs under the sanitizers
# here, against Consul/Nomad binaries that are not ours). Label live is the real-agent client
# suites on their own, which skip without agents; sandbox_runs_client_suites (label sandbox)
# runs them against a sanitized rollout-sandbox.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bash scripts/install-deps.sh

build=${SAN_BUILD_DIR:-build-san}
jobs=${JOBS:-$(nproc)}
start=$(date +%s)
if [[ ! -f $build/build.ninja ]]; then
  # Debug (assertions on) at -O1, as ASan's documentation advises: much faster than -O0, and
  # frames are still where the source has them. -g1 (line tables: function, file and line in
  # every stack trace, no variables) compiles ~25% faster than -g.
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g1" \
    -DROLLOUTS_SANITIZE=ON -DROLLOUTS_WERROR=ON -DROLLOUTS_BUILD_BENCH=OFF >/dev/null
fi
# SANITIZERS_NO_BUILD=1: run the tests of an existing build-san as it is.
# SANITIZERS_BUILD_ONLY=1: build and stop (CI builds while the main tests run).
if [[ -z ${SANITIZERS_NO_BUILD:-} ]]; then
  cmake --build "$build" -j "$jobs"
  echo "sanitizers: build done in $(($(date +%s) - start))s"
fi
[[ -z ${SANITIZERS_BUILD_ONLY:-} ]] || exit 0

# Every process writes its reports to files in $reports instead of (only) its stderr: a test's
# children log to files the test deletes when it passes, and the harnesses stop them whatever
# their exit status. ASan and LSan: asan.<exe>.<pid> (log_path); UBSan: ubsan.<exe>.<pid>
# (tests/sanitizers/report_hooks.cpp), its stack trace on the process's stderr. A test binary's
# own finding also fails that test: every finding is fatal (-fno-sanitize-recover=all).
reports=$root/$build/sanitizer-reports
rm -rf "$reports"
mkdir -p "$reports"
supp=$root/tests/sanitizers
export ROLLOUTS_UBSAN_REPORT_DIR=$reports
export ASAN_OPTIONS="log_path=$reports/asan:log_exe_name=1:halt_on_error=1:detect_leaks=1:check_initialization_order=1:strict_init_order=1"
export LSAN_OPTIONS="suppressions=$supp/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

start=$(date +%s)
status=0
# The sanitizers slow everything 2-3x: one test at a time per core, as in scripts/test.sh.
ctest --test-dir "$build" --output-on-failure -j "${CTEST_JOBS:-2}" --timeout 600 \
  -L '^(unit|sandbox|integration|hello)$' -LE '^(e2e|real|live)$' "$@" || status=$?
echo "sanitizers: ctest done in $(($(date +%s) - start))s (exit $status)"

shopt -s nullglob
found=("$reports"/*)
if ((${#found[@]} > 0)); then
  for f in "${found[@]}"; do
    echo "===== sanitizer report: $(basename "$f") ====="
    cat "$f"
  done
  echo "sanitizers: FAILED: ${#found[@]} report(s) in $reports (above)"
  exit 1
fi
if ((status != 0)); then
  echo "sanitizers: FAILED: ctest failed"
  exit "$status"
fi
echo "sanitizers: passed, no sanitizer report"
