#!/usr/bin/env bash
# Sets Flourish up, builds it and runs its tests.
#
#   bash scripts/test.sh [--sanitize] [--valgrind] [--tsan] [--shared] [--all] [CTEST ARGS...]
#   bash scripts/test.sh --fuzz SECONDS
#
#   (no option)   build into build/ (Release) and run every test under ctest
#   --sanitize    also build build-asan/ (AddressSanitizer + UndefinedBehaviorSanitizer, Debug)
#                 and run every test there but the Slurm one, with the statistical runs
#                 shortened
#   --valgrind    also run test_engine, test_rng, small runs of `flourish run`, `sweep`,
#                 `fit` and a `flourish serve` session under valgrind
#   --tsan        also build build-tsan/ with clang (ThreadSanitizer, clang's libomp) and run
#                 test_engine (replications on several threads), test_fit (walkers on
#                 several threads) and a `flourish serve` session (HTTP threads, a job worker)
#   --shared      also build build-shared/ as a shared library (-DBUILD_SHARED_LIBS=ON: the
#                 CLI links libflourish.so and sees only the public API) and run every test
#                 but the Slurm one
#   --all         all of the above (what CI runs; see docs/testing.md)
#   --fuzz SECONDS  instead of the tests: build build-fuzz/ with clang (libFuzzer, ASan and
#                 UBSan) and run each harness of tests/fuzz/ for SECONDS seconds on a copy of
#                 its corpus, from a fixed seed (FLOURISH_FUZZ_SEED, default 1; 0 for a random
#                 one); any crash, leak, hang or sanitizer report fails (not in --all: CI
#                 runs it as a step of its own)
#
# Other arguments go to ctest (e.g. -R test_stat, -V). Every stage runs even if an earlier one
# failed; the exit status is 1 if any failed. Environment: those of scripts/setup.sh
# (FLOURISH_BUILD_DIR, FLOURISH_WERROR, FLOURISH_JOBS), FLOURISH_STAT_SCALE for the
# sanitizer stage (default 0.25), and FLOURISH_REQUIRE_BROWSER=1 / FLOURISH_REQUIRE_SLURM=1 to
# make a skipped browser or Slurm test a failure (CI). The Slurm test (tests/slurm.sh, label
# slurm) runs in the first stage only: it starts a cluster, and needs root and
# scripts/setup-slurm.sh's packages (without them it is skipped).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
# Debian's interpreter, which has the h5py the tests read outputs with.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

sanitize=0 valgrind=0 tsan=0 shared=0 fuzz=0
ctest_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --sanitize) sanitize=1 ;;
    --valgrind) valgrind=1 ;;
    --tsan) tsan=1 ;;
    --shared) shared=1 ;;
    --all) sanitize=1 valgrind=1 tsan=1 shared=1 ;;
    --fuzz)
      fuzz=${2:-}
      if ! [[ "$fuzz" =~ ^[1-9][0-9]*$ ]]; then
        echo "test.sh: --fuzz needs a number of seconds a harness, found '$fuzz'" >&2
        exit 2
      fi
      shift
      ;;
    -h | --help)
      sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
      exit 0
      ;;
    --) shift; ctest_args+=("$@"); break ;;
    *) ctest_args+=("$1") ;;
  esac
  shift
done

# shellcheck source=scripts/build-settings.sh
. "$(dirname "${BASH_SOURCE[0]}")/build-settings.sh"
export FLOURISH_SOURCE_DIR=$root
failed=()

section() { printf '\n======== %s ========\n' "$*"; }

# Installs missing packages and builds the Release build (fuzzing needs the packages only).
section "setup and build ($build)"
if ! FLOURISH_NO_BUILD=$([ "$fuzz" = 0 ] && echo 0 || echo 1) bash scripts/setup.sh; then
  section "result"
  echo "FAILED: setup and build"
  exit 1
fi
# The browser tests' chromium, node and pinned drivers: without them those tests skip themselves
# (and fail under FLOURISH_REQUIRE_BROWSER=1, as in CI).
section "browser-test setup"
bash scripts/setup-browser.sh || echo "browser tests will be skipped: scripts/setup-browser.sh failed"

stage_tests() {
  section "tests ($build)"
  ctest --test-dir "$build" --output-on-failure "${ctest_args[@]}"
}

stage_sanitize() {
  local dir=$build-asan
  section "AddressSanitizer + UndefinedBehaviorSanitizer ($dir)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Debug -DFLOURISH_SANITIZE=ON \
    -DFLOURISH_WERROR="$werror" &&
    cmake --build "$dir" -j "$jobs" &&
    FLOURISH_STAT_SCALE=${FLOURISH_STAT_SCALE:-0.25} \
      ASAN_OPTIONS=detect_leaks=1 \
      UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
      ctest --test-dir "$dir" --output-on-failure -LE slurm "${ctest_args[@]}"
}

stage_valgrind() {
  # libgomp keeps its thread stacks until exit, which valgrind reports as "possibly lost": only
  # definite leaks and memory errors count.
  local vg=(valgrind --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite
            --show-leak-kinds=definite)
  local tmp rc=0
  section "valgrind ($build)"
  tmp=$(mktemp -d)
  for t in test_engine test_rng; do
    echo "-- $t"
    "${vg[@]}" "$build/tests/$t" || rc=1
  done
  echo "-- flourish run scenarios/examples/semi_markov.yaml -r 4 -t 2"
  "${vg[@]}" "$build/flourish" run scenarios/examples/semi_markov.yaml -o "$tmp/x.h5" -r 4 -t 2 \
    -q || rc=1
  echo "-- flourish validate scenarios/dundee.yaml --set (a changed value, an added key, a bad one)"
  local path=arms.community_city.interventions.community
  "${vg[@]}" "$build/flourish" validate scenarios/dundee.yaml --set "$path.escalation=0.8" \
    --set "$path.decay_months=36" >/dev/null || rc=1
  local status=0
  "${vg[@]}" "$build/flourish" validate scenarios/dundee.yaml --set "$path.escalation=x" \
    2>/dev/null >/dev/null || status=$?
  [ "$status" -eq 2 ] || { echo "expected status 2, got $status"; rc=1; }
  echo "-- flourish sweep scenarios/examples/semi_markov.yaml (Latin hypercube, 4 points)"
  "${vg[@]}" "$build/flourish" sweep scenarios/examples/semi_markov.yaml -o "$tmp/s.h5" \
    --param discount.costs=0:0.05 --design lhs --points 4 -r 2 -t 2 -q || rc=1
  echo "-- flourish fit scenarios/dundee.yaml (one factor, a short chain, every output)"
  "${vg[@]}" "$build/flourish" fit scenarios/dundee.yaml --observed scenarios/dundee-observed.csv \
    --param 'transitions.tables[0].rows.la_*.universal|additional|intensive=0.05:3' \
    --walkers 8 --burn-in 10 --iterations 10 -t 2 -q -o "$tmp/fit.yaml" \
    --summary-csv "$tmp/fit.csv" --report "$tmp/fit.h5" >/dev/null || rc=1
  echo "-- flourish serve scenarios/dundee.yaml (expect, a run, a cancel, bad requests, SIGTERM)"
  FLOURISH_SERVE_WRAPPER="${vg[*]}" "$python" tests/serve_check.py smoke "$build/flourish" . ||
    rc=1
  rm -rf "$tmp"
  return $rc
}

stage_tsan() {
  local dir=$build-tsan
  section "ThreadSanitizer ($dir, clang)"
  # clang with its own libomp: CMake's FindOpenMP picks -fopenmp=libomp for clang.
  CC=clang cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFLOURISH_TSAN=ON -DFLOURISH_WERROR="$werror" &&
    cmake --build "$dir" -j "$jobs" --target test_engine test_fit flourish || return 1
  # libomp itself is not instrumented: ignore_noninstrumented_modules keeps its internal locking
  # from being reported, and Archer (LLVM's OpenMP tool for TSan) tells TSan about OpenMP's
  # barriers and critical sections. Races in Flourish's own code are still reported.
  local archer
  archer=$(dirname "$(readlink -f "$(command -v clang)")")/../lib/libarcher.so
  [ -f "$archer" ] || archer=
  OMP_TOOL_LIBRARIES=$archer TSAN_OPTIONS=halt_on_error=1:ignore_noninstrumented_modules=1 \
    ctest --test-dir "$dir" -R '^test_(engine|fit)$' --output-on-failure || return 1
  # flourish serve: its HTTP threads and the Monte Carlo job's worker (a report fails the check).
  OMP_TOOL_LIBRARIES=$archer TSAN_OPTIONS=halt_on_error=1:ignore_noninstrumented_modules=1 \
    "$python" tests/serve_check.py smoke "$dir/flourish" .
}

stage_shared() {
  local dir=$build-shared
  section "shared library ($dir)"
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON \
    -DFLOURISH_WERROR="$werror" &&
    cmake --build "$dir" -j "$jobs" &&
    [[ "$(ldd "$dir/flourish")" == *libflourish.so* ]] &&
    FLOURISH_STAT_SCALE=${FLOURISH_STAT_SCALE:-0.25} \
      ctest --test-dir "$dir" --output-on-failure -LE slurm "${ctest_args[@]}"
}

stage_fuzz() {
  local dir=$build-fuzz tmp rc=0 h
  # A fixed seed by default, so that a run is repeatable and a slower machine runs a prefix
  # of the same inputs (FLOURISH_FUZZ_SEED=0: a new random seed each run, for exploring).
  local fuzz_seed=${FLOURISH_FUZZ_SEED:-1}
  section "fuzzing ($dir, clang, $fuzz s a harness, seed $fuzz_seed)"
  # Only the harnesses: the engine is instrumented for libFuzzer and the sanitizers, without
  # OpenMP and MPI, which the harnessed code does not use.
  CC=clang cmake -S . -B "$dir" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DFLOURISH_FUZZ=ON -DFLOURISH_OPENMP=OFF -DFLOURISH_MPI=OFF -DFLOURISH_BUILD_TESTS=OFF \
    -DFLOURISH_BUILD_BENCH=OFF -DFLOURISH_WERROR="$werror" &&
    cmake --build "$dir" -j "$jobs" || return 1
  tmp=$(mktemp -d)
  for h in fuzz_scenario fuzz_episodes fuzz_population fuzz_h5reader; do
    local args=(-max_total_time="$fuzz" -timeout=20 -print_final_stats=1 -artifact_prefix="$tmp/$h-"
                -seed="$fuzz_seed")
    [ "$h" = fuzz_scenario ] && args+=(-dict=tests/fuzz/scenario.dict)
    # A copy of the corpus, so that what the fuzzer adds stays out of the repository.
    cp -r "tests/fuzz/corpus/$h" "$tmp/$h"
    local status=0 log=$tmp/$h.log
    UBSAN_OPTIONS=print_stacktrace=1 "$dir/tests/fuzz/$h" "${args[@]}" "$tmp/$h" >"$log" 2>&1 ||
      status=$?
    local runs speed
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    speed=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    printf '%-16s %9s executions (%s a second), corpus %s -> %s inputs\n' "$h" "${runs:-?}" \
      "${speed:-?}" "$(find "tests/fuzz/corpus/$h" -type f | wc -l)" \
      "$(find "$tmp/$h" -type f | wc -l)"
    if [ "$status" -ne 0 ]; then
      rc=1
      grep -E -A40 '^==[0-9]+== ?(ERROR|WARNING)|^fuzz: |runtime error|ALARM|out-of-memory' "$log" |
        head -60
      echo "** $h failed (status $status)"
      local artifact
      for artifact in "$tmp/$h"-*; do
        [ -e "$artifact" ] || continue
        mkdir -p "$dir/artifacts"
        cp "$artifact" "$dir/artifacts/"
        echo "   the input: $dir/artifacts/$(basename "$artifact"); run it again with"
        echo "   $dir/tests/fuzz/$h $dir/artifacts/$(basename "$artifact")"
      done
    fi
  done
  rm -rf "$tmp"
  return $rc
}

run_stage() {
  local name=$1
  shift
  if ! "$@"; then
    failed+=("$name")
    echo "** $name FAILED" >&2
  fi
}

[ "$fuzz" = 0 ] && run_stage tests stage_tests
[ $sanitize = 1 ] && run_stage sanitize stage_sanitize
[ $valgrind = 1 ] && run_stage valgrind stage_valgrind
[ $tsan = 1 ] && run_stage tsan stage_tsan
[ $shared = 1 ] && run_stage shared stage_shared
[ "$fuzz" != 0 ] && run_stage fuzz stage_fuzz

section "result"
if [ ${#failed[@]} -gt 0 ]; then
  echo "FAILED: ${failed[*]}"
  exit 1
fi
echo "all passed"
