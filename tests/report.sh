#!/usr/bin/env bash
# `flourish report` on small Dundee runs (tests/report_check.py does the checking):
# - its tables agree with the numbers the C summary computes from the same file (an independent
#   implementation): children at the end, cost differences by budget holder, net monetary
#   benefit, break-even and the headline's net savings;
# - every level's stock changes by exactly its inflow minus its outflow, and the report's split
#   of each arm's change into inflow and outflow parts adds up to the change, replication by
#   replication;
# - every figure caption and headline says whether parameter uncertainty is included, for a
#   plain run and for a run with --psa;
# - run and expect outputs describe themselves (variable-length UTF-8 text, a description and
#   units on every numeric dataset, a dimension scale on each of its dimensions); a copy in the
#   first layout (fixed-length names) gives the
#   same summary and the same report tables;
# - an expect output and a sweep give reports (the sweep's sensitivity, two-way and by-holder
#   tables against its file); a file that is not a Flourish output gives status 2 and nothing.
# With --browser: headless Chromium loads the reports of a plain run, a --psa run and a sweep
# (tests/browser/report.mjs: figures render, alt text and captions, axe-core finds no serious
# or critical violation, print stylesheet); screenshots go to $FLOURISH_REPORT_SHOTS when set.
# Arguments: the flourish binary, the source directory, the Python interpreter [, --browser].
set -euo pipefail
bin=$1 src=$2 python=$3 mode=${4:-}
scenario=$src/scenarios/dundee.yaml
esc=arms.community_city.interventions.community.escalation
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
rc() { "$python" "$src/tests/report_check.py" "$src" "$@"; }

if [ "$mode" = --browser ]; then
  if ! command -v node >/dev/null 2>&1; then
    echo "no node: browser check skipped (sudo bash scripts/setup-browser.sh)"
    [ "${FLOURISH_REQUIRE_BROWSER:-0}" = 1 ] && exit 1
    exit 77
  fi
  "$bin" run "$scenario" -o "$dir/dundee.h5" -r 8 -s 5 -q
  "$bin" run "$scenario" -o "$dir/dundee-psa.h5" -r 8 -s 5 -q --psa --psa-inner 2
  "$bin" sweep "$scenario" -o "$dir/dundee-sweep.h5" --param "$esc=0.8:1.0:3" \
    --param states.universal.qol=0.8:0.9:2 -r 2 -q
  for f in dundee dundee-psa dundee-sweep; do "$bin" report "$dir/$f.h5" -o "$dir/$f.html"; done
  shots=${FLOURISH_REPORT_SHOTS:--}
  [ "$shots" = - ] || mkdir -p "$shots"
  status=0
  node "$src/tests/browser/report.mjs" "$shots" 10 "$dir/dundee.html" "$dir/dundee-psa.html" ||
    status=$?
  [ "$status" = 0 ] && { node "$src/tests/browser/report.mjs" "$shots" 3 "$dir/dundee-sweep.html" ||
    status=$?; }
  exit "$status"
fi

"$bin" run "$scenario" -o "$dir/out.h5" -r 16 -s 11 -q
"$bin" summary "$dir/out.h5" --csv >"$dir/summary.csv"
check "$bin" report "$dir/out.h5" -o "$dir/report.html"
check test -s "$dir/report.html"
check test -z "$(find "$dir" -name '.report-*')"
check rc tables "$dir/report.html" "$dir/summary.csv" "$dir/out.h5"
check rc flows "$dir/out.h5" "$dir/report.html"
check rc uncertainty "$dir/report.html" chance
# Self-contained: no reference to anything outside the file.
check test -z "$(grep -oE '(src|href)=["'"'"'](https?:|//|file:)[^"'"'"']*' "$dir/report.html")"
check grep -q "<svg class='chart' role='img' aria-label=" "$dir/report.html"
check grep -q "@media print" "$dir/report.html"

# With parameter uncertainty (in blocks, so the variance is split too).
"$bin" run "$scenario" -o "$dir/psa.h5" -r 8 -s 11 -q --psa --psa-inner 2
"$bin" summary "$dir/psa.h5" --csv >"$dir/psa.csv"
check "$bin" report "$dir/psa.h5" -o "$dir/psa.html"
check rc uncertainty "$dir/psa.html" psa
check rc tables "$dir/psa.html" "$dir/psa.csv" "$dir/psa.h5"
check grep -q "How much of the spread is parameter uncertainty" "$dir/psa.html"
check grep -q "^community_city,,parameter_share_delta_cost_total,probability,," "$dir/psa.csv"

# The file describes itself; and one in the first layout (fixed-length names) reads the same.
check rc layout "$dir/out.h5"
check rc layout "$dir/psa.h5"
check rc fixed "$dir/out.h5" "$dir/vl.h5"
"$bin" summary "$dir/vl.h5" --csv >"$dir/vl.csv"
check cmp "$dir/summary.csv" "$dir/vl.csv"
check "$bin" report "$dir/vl.h5" -o "$dir/vl.html"
check rc tables "$dir/vl.html" "$dir/summary.csv" "$dir/vl.h5"
check "$python" - "$dir/report.html" "$dir/vl.html" "$src" <<'PY'
import sys
sys.path.insert(0, sys.argv[3] + "/tests")
from html_tables import tables
a, b = tables(sys.argv[1]), tables(sys.argv[2])
sys.exit(0 if a == b and len(a) > 10 else "the reports' tables differ")
PY

# A sweep's report: its sensitivity table against the file.
"$bin" sweep "$scenario" -o "$dir/sweep.h5" --param "$esc=0.8:1.0:2" \
  --param states.universal.qol=0.8:0.9:2 -r 2 -q
check "$bin" report "$dir/sweep.h5" -o "$dir/sweep.html"
check "$python" - "$dir/sweep.html" "$dir/sweep.h5" "$src" <<'PY'
import sys, h5py
sys.path.insert(0, sys.argv[3] + "/tests")
sys.path.insert(0, sys.argv[3] + "/scripts")
from html_tables import tables as read_tables
from report_data import scenario_settings

f = h5py.File(sys.argv[2], "r")
tree = scenario_settings({"scenario_yaml": open(sys.argv[3] + "/scenarios/dundee.yaml").read()})
params = [x.decode() for x in f["parameters"][()]]
tabs = read_tables(sys.argv[1])
sens = next(t for t in tabs if t[0][3:4] == ["main-effect range"])[1:]
result = {"net cost against the baseline": "delta_cost_total",
          "QALYs gained against the baseline": "delta_qaly_total"}
checked = 0
for arm, res, param, value, se in sens:
    base = "sensitivity/comparisons/%s/%s/main_effect_range" % (arm, result[res])
    k = params.index(param)
    for shown, v in ((value, f[base][k]), (se, f[base + "_mcse"][k])):
        if ("%.4g" % v if shown == value else "%.2g" % v) != shown:
            sys.exit("%s %s %s: report %s, file %r" % (arm, res, param, shown, v))
        checked += 1
if len(sens) != 3 * 2 * 2:
    sys.exit("expected 12 sensitivity rows, found %d" % len(sens))
money = lambda x: ("\u2212£{:,.0f}" if x < 0 else "£{:,.0f}").format(abs(x))
# The heatmap's table is the file's two-way table of the first comparison's net cost.
two = next(t for t in tabs if t[0][2:] == ["net cost against the baseline"])[1:]
z = f["sensitivity/comparisons/community_city/delta_cost_total/two_way_0_1"][()]
a, b = f["axes/0"][()], f["axes/1"][()]
for i in range(len(a)):
    for j in range(len(b)):
        row = two[i * len(b) + j]
        if row[0] != "%.4g" % a[i] or row[1] != "%.4g" % b[j]:
            sys.exit("two-way row %r: expected values %g, %g" % (row, a[i], b[j]))
        if row[2] != money(z[i, j]):
            sys.exit("two-way cell %r: file %r" % (row, z[i, j]))
        checked += 1
# Where the savings land: each point's net cost by budget holder, under the holders' labels.
holders = [x.decode() for x in f["budget_holders"][()]]
shown = [tree["costs"]["budget_holder_labels"][h] for h in holders]
land = next(t for t in tabs if t[0][1:] == shown)[1:]
by = f["comparisons/community_city/delta_cost_by_holder"][()].reshape(-1, len(holders))
values = f["values"][()]
for p, row in enumerate(land):
    if row[0] != ", ".join("%.6g" % v for v in values[p]):
        sys.exit("savings row %d is labelled %r" % (p, row[0]))
    for h in range(len(holders)):
        if row[1 + h] != money(by[p, h]):
            sys.exit("savings at point %d, %s: report %s, file %r" % (p, holders[h], row[1 + h],
                                                                       by[p, h]))
        checked += 1
print("sweep report agrees with the file on %d numbers" % checked)
PY

# Expected values (no replication dimension) make a report too.
"$bin" expect "$scenario" -o "$dir/expect.h5" >/dev/null
check "$bin" report "$dir/expect.h5" -o "$dir/expect.html"
check rc layout "$dir/expect.h5"
check grep -q "expected values" "$dir/expect.html"

# Not a Flourish output: status 2, nothing written.
status=0
"$bin" report "$scenario" -o "$dir/bad.html" 2>"$dir/err" || status=$?
check test "$status" -eq 2
check test ! -e "$dir/bad.html"
check grep -q "cannot open the file as HDF5" "$dir/err"
status=0
"$bin" report "$dir/out.h5" 2>/dev/null || status=$?
check test "$status" -eq 2
status=0
"$bin" report "$dir/out.h5" -o "$dir/no/such/dir/r.html" 2>/dev/null || status=$?
check test "$status" -eq 2

finish report
