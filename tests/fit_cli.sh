#!/usr/bin/env bash
# flourish fit on the command line: a short fit writes the fitted scenario (which loads and has
# the posterior means in place), its draws, the summary CSV and the report; its draws are the
# same bytes on 1 and 2 threads; bad input gives status 2 with file:line:col (or the option)
# and a message: unknown measures, dates before the start or after the horizon, negative
# values, an empty series, PATHs that do not exist or are not numbers, bad priors.
# Arguments: the flourish binary, the source directory.
set -euo pipefail
bin=$1 src=$2
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cat >"$dir/two.yaml" <<'YAML'
flourish: 1
name: two
time: {step_months: 1, horizon_steps: 60, start: 2020-01}
levels: [u, l]
costs: {budget_holders: [c], per: month}
states:
  u: {level: u, qol: 0.9}
  l: {level: l, qol: 0.7}
population:
  initial:
    - {state: u, count: 9000}
    - {state: l, count: 300}
transitions:
  tables:
    - rows:
        u: {u: rest, l: 0.002}
        l: {u: 0.03, l: rest}
YAML
printf 'date,measure,value\n2020-01-01,l,300\n2021-01-01,l,420\n2022-01-01,l,470\n2022-01-01,entries:l,400\n' >"$dir/obs.csv"
p1='transitions.tables[0].rows.u.l=0.0005:0.01'
p2='transitions.tables[0].rows.l.u~lognormal(-3.5,0.5)'
short=(--walkers 8 --iterations 60 --burn-in 30 -q)

for t in 1 2; do
  "$bin" fit "$dir/two.yaml" --observed "$dir/obs.csv" --param "$p1" --param "$p2" "${short[@]}" \
    -t $t -o "$dir/fit$t.yaml" --summary-csv "$dir/sum$t.csv" --report "$dir/rep$t.h5" >"$dir/out$t.txt" 2>&1
done
check cmp "$dir/fit1.draws.csv" "$dir/fit2.draws.csv"
check cmp "$dir/sum1.csv" "$dir/sum2.csv"
check bash -c "'$bin' validate '$dir/fit1.yaml' >/dev/null"
check grep -q '^parameter,mean,sd,q05,q50,q95,rhat,ess$' "$dir/sum1.csv"
check test "$(wc -l <"$dir/sum1.csv")" -eq 3
check test "$(wc -l <"$dir/fit1.draws.csv")" -eq 481
# The posterior mean of u -> l is in the fitted scenario's row.
mean=$(awk -F, 'NR == 2 { printf "%.8g", $2 }' "$dir/sum1.csv")
check grep -q "u: {u: rest, l: $mean}" "$dir/fit1.yaml"
check grep -q 'split R-hat\|rhat' "$dir/out1.txt"
# The report file says where it came from, as a run's file does.
if command -v h5dump >/dev/null; then
  check bash -c "h5dump -a git_commit '$dir/rep1.h5' | grep -Eq '\"([0-9a-f]{7,}|unknown)\"'"
  check bash -c "h5dump -a created_utc '$dir/rep1.h5' | grep -Eq '\"20[0-9]{2}-[0-9]{2}-[0-9]{2}T'"
fi
# run --psa takes one posterior draw a block: the same bytes on 1 and 2 threads; draws of
# keys other than transitions and localities are refused.
check grep -q '^posterior_draws: fit1.draws.csv$' "$dir/fit1.yaml"
"$bin" run "$dir/fit1.yaml" --psa --psa-inner 2 -r 8 -s 3 -q -t 1 -o "$dir/psa1.h5"
"$bin" run "$dir/fit1.yaml" --psa --psa-inner 2 -r 8 -s 3 -q -t 2 -o "$dir/psa2.h5"
if command -v h5diff >/dev/null; then
  check h5diff "$dir/psa1.h5" "$dir/psa2.h5" /arms /arms
fi
# The draws, not only the means, reach the runs: the spread of the children entering l over
# the horizon, across replications each on its own block, exceeds that of runs at the
# posterior means (chance alone) by more than the F distribution allows at 0.1%.
if /usr/bin/python3 -c 'import h5py, scipy' 2>/dev/null; then
  "$bin" run "$dir/fit1.yaml" --psa -r 400 -s 5 -q -o "$dir/psa_many.h5"
  "$bin" run "$dir/fit1.yaml" -r 400 -s 5 -q -o "$dir/means.h5"
  check /usr/bin/python3 - "$dir/psa_many.h5" "$dir/means.h5" <<'PY'
import sys, h5py, numpy as np
from scipy.stats import f as fdist
v = []
for path in sys.argv[1:]:
    with h5py.File(path, "r") as h:
        v.append(h["arms/baseline/flows"][:, :, 0, 1].sum(axis=1).var(ddof=1))
ratio, crit = v[0] / v[1], fdist.ppf(0.999, 399, 399)
print("variance ratio %.2f (F 0.999 critical %.2f)" % (ratio, crit))
sys.exit(0 if ratio > crit else 1)
PY
fi
printf 'draw,population.initial[0].count\n0,5\n' >"$dir/bad.draws.csv"
sed 's/^posterior_draws: .*/posterior_draws: bad.draws.csv/' "$dir/fit1.yaml" >"$dir/badpost.yaml"
rc=0; "$bin" validate "$dir/badpost.yaml" >"$dir/badpost.out" 2>&1 || rc=$?
check test "$rc" -eq 2
check grep -q "bad.draws.csv:1:1: population.initial\[0\].count: run --psa draws transition probabilities" "$dir/badpost.out"
if command -v h5dump >/dev/null; then
  check bash -c "h5dump -H '$dir/rep1.h5' | grep -q 'DATASET \"series\"'"
fi
# summary reads the report back: the summary CSV's numbers; report draws it.
"$bin" summary "$dir/rep1.h5" --csv >"$dir/sum_from_h5.csv"
check cmp "$dir/sum1.csv" "$dir/sum_from_h5.csv"
if /usr/bin/python3 -c 'import h5py, matplotlib, yaml' 2>/dev/null; then
  FLOURISH_PYTHON=/usr/bin/python3 "$bin" report "$dir/rep1.h5" -o "$dir/fit.html" 2>/dev/null
  check grep -q 'Observed and fitted series' "$dir/fit.html"
fi

# Bad input: status 2 and the expected message.
bad() {
  local want=$1
  shift
  local rc=0
  "$bin" fit "$@" -o "$dir/bad.yaml" "${short[@]}" >"$dir/bad.out" 2>&1 || rc=$?
  if [ "$rc" -ne 2 ] || ! grep -q -- "$want" "$dir/bad.out"; then
    echo "expected status 2 and '$want', got $rc:"
    cat "$dir/bad.out"
    return 1
  fi
}
obs() { printf 'date,measure,value\n2020-01-01,l,300\n%s\n' "$1" >"$dir/o.csv"; }
obs '2021-01-01,looked,400'
check bad "o.csv:3:2: measure: unknown measure 'looked'" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1"
obs '2021-01-01,entries:x,400'
check bad "o.csv:3:2: measure: unknown measure 'entries:x'" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1"
obs '2021-01-01,l,-4'
check bad "o.csv:3:3: value: a count of children cannot be negative" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1"
obs '2031-01-01,l,400'
check bad "o.csv:3:1: date: 2031-01-01 is after the end of the scenario's horizon" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1"
printf 'measure,value,date\nl,300,2020-01-01\nl,400,2031-01-01\n' >"$dir/o.csv"
check bad "o.csv:3:3: date: 2031-01-01 is after the end of the scenario's horizon" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1"
obs '2019-01-01,l,400'
check bad "o.csv:3:1: date: 2019-01-01 is before the start of the fit" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1" --from 2020-01
obs '2021-13-01,l,400'
check bad "o.csv:3:1: date: expected a date" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1"
obs $'2020-01-01,entries:l,40\n2021-01-01,l,400'
check bad "o.csv:3:1: date: 2020-01-01 of entries:l is a flow on the first date" "$dir/two.yaml" --observed "$dir/o.csv" --param "$p1"
printf 'date,measure,value\n' >"$dir/empty.csv"
check bad "empty.csv:1:1: the observed series is empty" "$dir/two.yaml" --observed "$dir/empty.csv" --param "$p1"
check bad "\-\-param: 'transitions.tables\[0\].rows.u.x' names no numeric value" "$dir/two.yaml" --observed "$dir/obs.csv" --param 'transitions.tables[0].rows.u.x=0:1'
check bad "two.yaml:16:16: transitions.tables\[0\].rows.u.u: --param transitions.tables\[0\].rows.u.u: a parameter must be a number" "$dir/two.yaml" --observed "$dir/obs.csv" --param 'transitions.tables[0].rows.u.u=0:1'
check bad "two.yaml:2:7: name: --param name: a parameter must be a number" "$dir/two.yaml" --observed "$dir/obs.csv" --param 'name=0:1'
check bad "\-\-param: expected PATH=LO:HI" "$dir/two.yaml" --observed "$dir/obs.csv" --param 'transitions.tables[0].rows.u.l=0.5:0.1'
check bad "\-\-param: expected PATH=LO:HI" "$dir/two.yaml" --observed "$dir/obs.csv" --param 'transitions.tables[0].rows.u.l~gamma(1,2)'
check bad "\-\-noise: expected poisson or negbin:K" "$dir/two.yaml" --observed "$dir/obs.csv" --param "$p1" --noise negbin:0
# A scenario with per-child heterogeneity: the lean pass does not follow its sub-cohorts.
sed 's/^time: {step_months: 12, horizon_steps: 20}/time: {step_months: 12, horizon_steps: 20, start: 2025-01}/' \
  "$src/scenarios/examples/frailty.yaml" >"$dir/frailty.yaml"
printf 'date,measure,value\n2026-01,ill,300\n2027-01,ill,290\n' >"$dir/frail.csv"
check bad "frailty.yaml:[0-9]*:[0-9]*: heterogeneity: fit does not follow per-child heterogeneity" \
  "$dir/frailty.yaml" --observed "$dir/frail.csv" --param 'transitions.tables[0].rows.well.ill=0.01:0.5' \
  --initial as-written
finish fit_cli
