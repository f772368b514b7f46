#!/usr/bin/env bash
# Benchmark driver.
#   bench/run.sh                 full run: dundee and rich at 1 and 2 threads, median of 5 runs,
#                                JSON in bench/results.json
#   bench/run.sh --ci            short run for CI, plus the instruction-count regression check
#   bench/run.sh --callgrind     only the instruction-count regression check
#   bench/run.sh --update-baseline   re-measure and store the instruction-count baseline
#   bench/run.sh --fit           the cost of one likelihood evaluation of flourish fit (Dundee
#                                back-cast) against a full expect of the scenario
# Extra arguments after -- go to flourish_bench (e.g. -- --workload all --threads 1,2,4,8,16).
set -euo pipefail
cd "$(dirname "$0")/.."
build=${FLOURISH_BUILD_DIR:-build}
mode=full
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --ci) mode=ci ;;
    --callgrind) mode=callgrind ;;
    --update-baseline) mode=update ;;
    --fit) mode=fit ;;
    --) shift; extra=("$@"); break ;;
    *) echo "bench/run.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done
if [ ! -x "$build/bench/flourish_bench" ] || [ ! -x "$build/bench/fit_eval" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
  cmake --build "$build" -j"$(nproc)" --target flourish_bench fit_eval >/dev/null
fi
export FLOURISH_SOURCE_DIR=$PWD
bench=$build/bench/flourish_bench

# Instructions executed inside fl_simulate for 2 replications of the Dundee workload on one
# thread. Instruction counts are repeatable on a noisy machine; a rise of more than 3% over
# the stored baseline fails. The portable pass is forced: valgrind emulates AVX2 (not AVX-512),
# and the baseline counts the portable pass on every machine.
count_instructions() {
  local out
  out=$(mktemp)
  valgrind --tool=callgrind --toggle-collect=fl_simulate --callgrind-out-file="$out" \
    "$bench" --workload dundee --threads 1 --runs 1 --reps 2 --pass scalar --sim-only >/dev/null 2>&1
  grep -E '^(summary|totals):' "$out" | head -1 | awk '{print $2}'
  rm -f "$out"
}

callgrind_check() {
  local base now limit
  base=$(sed -n 's/.*"dundee_2reps_simulate_instructions": *\([0-9]*\).*/\1/p' bench/baseline.json)
  now=$(count_instructions)
  limit=$((base + base * 3 / 100))
  echo "instructions in fl_simulate, dundee, 2 replications: $now (baseline $base, limit $limit)"
  awk -v n="$now" -v b="$base" 'BEGIN { printf "ratio to baseline: %.4f\n", n / b }'
  if [ "$now" -gt "$limit" ]; then
    echo "FAIL: instruction count regression of more than 3%" >&2
    return 1
  fi
}

case "$mode" in
  full)
    "$bench" --runs 5 --threads 1,2 --workload dundee,rich --json bench/results.json "${extra[@]}"
    echo "JSON written to bench/results.json"
    "$build/bench/fit_eval" 500 ;;
  fit) "$build/bench/fit_eval" 500 ;;
  ci)
    "$bench" --runs 3 --reps 4 --threads 1,2 --workload dundee,rich "${extra[@]}"
    callgrind_check ;;
  callgrind) callgrind_check ;;
  update)
    now=$(count_instructions)
    printf '{\n  "dundee_2reps_simulate_instructions": %s\n}\n' "$now" > bench/baseline.json
    echo "baseline: $now" ;;
esac
