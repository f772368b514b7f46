#!/usr/bin/env bash
# Damaged and foreign files: `flourish summary` and `flourish report` refuse each variant made by
# tests/damage.py with exit status 2 and one line (never a traceback), and leave no report; and
# every documented kind of output (run, --no-flows, expect, --psa, a sweep) gives a report.
# Arguments: the flourish binary, the source directory, the Python with h5py.
set -uo pipefail
bin=$1 src=$2 python=${3:-python3}
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
s=$src/scenarios/dundee.yaml
"$bin" run "$s" -o "$dir/run.h5" -r 3 -q --set time.horizon_steps=24
"$python" "$src/tests/damage.py" "$dir/run.h5" "$dir/bad"
one_line_2() { # COMMAND...: exit 2 and exactly one line on stderr
  local status=0
  "$@" >/dev/null 2>"$dir/err" || status=$?
  [ "$status" -eq 2 ] && [ "$(wc -l < "$dir/err")" -eq 1 ] && ! grep -q Traceback "$dir/err" ||
    { echo "status $status: $(cat "$dir/err")"; return 1; }
}
for f in "$dir"/bad/*.h5; do
  check one_line_2 "$bin" summary "$f"
  check one_line_2 "$bin" report "$f" -o "$dir/r.html"
  check test ! -e "$dir/r.html"
done
# Every kind of output gives a report.
"$bin" run "$s" -o "$dir/noflows.h5" -r 3 -q --no-flows --set time.horizon_steps=24
"$bin" expect "$s" -o "$dir/expect.h5" --set time.horizon_steps=24
"$bin" run "$s" -o "$dir/psa.h5" -r 4 -q --psa --psa-inner 2 --set time.horizon_steps=24
"$bin" sweep "$src/scenarios/examples/semi_markov.yaml" -o "$dir/sweep.h5" \
  --param discount.costs=0:0.05:3 -r 2 -q
for k in run noflows expect psa sweep; do
  check "$bin" report "$dir/$k.h5" -o "$dir/$k.html"
  check test -s "$dir/$k.html"
done
finish damaged_cli
