#!/usr/bin/env bash
# Fuzzes every decoder of outside input with libFuzzer (fuzz/README.md).
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]   (default: 60 s, every target)
#
# Builds build-fuzz/ (clang, ASan + UBSan, -DROLLOUTS_FUZZ=ON), replays the committed cases
# of fuzz/regressions/ once, then fuzzes one target after another from a corpus seeded with
# the examples, the recorded agent answers and fuzz/seeds/. Fails on any crash, leak,
# sanitizer report or input slower than 10 s; the input is kept in
# build-fuzz/artifacts/<target>/ (commit it under fuzz/regressions/<target>/ once fixed).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
seconds=${1:-60}
shift || true
all_targets=(spec status control router_report text consul nomad prometheus)
targets=("${@:-${all_targets[@]}}")
out=build-fuzz

if [ ! -f "$out/build.ninja" ]; then
  # -O1 without NDEBUG: asserts stay on, and the instrumented build stays quick.
  CC=clang CXX=clang++ cmake -S . -B "$out" -G Ninja -DROLLOUTS_FUZZ=ON -DBUILD_TESTING=OFF \
    -DROLLOUTS_BUILD_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g" >/dev/null
fi
cmake --build "$out" --target fuzzers

# The largest input each target reads: Consul refuses values over 512 KB, so no key holds
# more; agent answers get 1 MB; the small documents are refused unparsed well before that.
max_len() {
  case $1 in
    control | text) echo 8192 ;;
    router_report | spec | status) echo 524288 ;;
    *) echo 1048576 ;;
  esac
}

# Seeds: bodies of the recorded answers, the example documents, fuzz/seeds/<target>/.
fixture_bodies() {  # <dir>: each exchange's response body, as the agent sent it
  local f
  for f in "$1"/*.json; do
    jq -j 'if (.response.body | type) == "string" then .response.body
           else .response.body | tojson end' "$f" >"$corpus/$(basename "$f")"
  done
}
seed() {
  local target=$1
  corpus=$out/corpus/$target
  mkdir -p "$corpus"
  case $target in
    spec) cp crd-schemas/examples/valid/*.json crd-schemas/examples/invalid/*.json \
      examples/hello/rollout.json "$corpus/" ;;
    status) cp crd-schemas/examples/status/valid/*.json crd-schemas/examples/status/invalid/*.json \
      "$corpus/" ;;
    consul) fixture_bodies tests/fixtures/api/consul ;;
    nomad) fixture_bodies tests/fixtures/api/nomad ;;
  esac
  if [ -d "fuzz/seeds/$target" ]; then cp fuzz/seeds/"$target"/* "$corpus/"; fi
  if [ -d "fuzz/regressions/$target" ]; then cp fuzz/regressions/"$target"/* "$corpus/"; fi
}

common_flags() {  # <target>
  echo -timeout=10 -rss_limit_mb=2048 -max_len="$(max_len "$1")" -print_final_stats=1
}

failed=()
# Replay: every committed case once, before anything new is tried.
for target in "${targets[@]}"; do
  dir=fuzz/regressions/$target
  [ -d "$dir" ] && [ -n "$(ls -A "$dir")" ] || continue
  if ! "$out/fuzz/${target}_fuzzer" $(common_flags "$target") -runs=0 "$dir" \
    >"$out/$target-regressions.log" 2>&1; then
    tail -n 40 "$out/$target-regressions.log"
    echo "fuzz: $target fails on a committed case of $dir ($out/$target-regressions.log)"
    failed+=("$target(regressions)")
  fi
done

printf '%-14s %12s %8s %8s  %s\n' target executions cov crashes result
for target in "${targets[@]}"; do
  seed "$target"
  artifacts=$out/artifacts/$target
  mkdir -p "$artifacts"
  log=$out/$target.log
  stamp=$out/$target.started
  touch "$stamp"
  status=0
  # -error_exitcode/-timeout_exitcode: findings fail the run; leak detection is on (ASan's
  # default). The corpus grows in place, so a later run starts where this one ended.
  "$out/fuzz/${target}_fuzzer" $(common_flags "$target") -max_total_time="$seconds" \
    -artifact_prefix="$artifacts/" "$out/corpus/$target" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  cov=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -n 1 | sed -E 's/.*cov: ([0-9]+).*/\1/')
  crashes=$(find "$artifacts" -type f -newer "$stamp" | wc -l)
  result=ok
  if [ "$status" -ne 0 ] || [ "$crashes" -ne 0 ]; then
    result="FAILED (exit $status, $log)"
    failed+=("$target")
  fi
  printf '%-14s %12s %8s %8s  %s\n' "$target" "${execs:-?}" "${cov:-?}" "$crashes" "$result"
  if [ "$result" != ok ]; then
    grep -E -A 30 'ERROR: |runtime error|fuzz check failed|==[0-9]+==' "$log" | head -n 60 || true
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: FAILED: ${failed[*]} (inputs in $root/$out/artifacts/)"
  exit 1
fi
echo "fuzz: ${#targets[@]} targets, ${seconds}s each: no crash, leak, sanitizer report or timeout"
