#!/usr/bin/env bash
# `flourish report`: the HTML report of a small Dundee run. Its tables must agree with the
# numbers the C summary computes from the same file (an independent implementation); the
# report of an expect output must build too; a file that is not a Flourish output is refused
# with status 2 and leaves nothing behind. With --browser, a headless Chromium loads the
# report and every embedded figure must decode (skipped, status 77, without Chromium). A
# sweep's report is checked against its file the same way.
# Arguments: the flourish binary, the source directory, the Python interpreter [, --browser].
set -euo pipefail
bin=$1 src=$2 python=$3 mode=${4:-}
scenario=$src/scenarios/dundee.yaml
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [ "$mode" = --browser ]; then
  browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)
  if [ -z "$browser" ]; then
    echo "no Chromium: browser check skipped"
    [ "${FLOURISH_REQUIRE_BROWSER:-0}" = 1 ] && exit 1
    exit 77
  fi
  "$bin" run "$scenario" -o "$dir/out.h5" -r 8 -s 5 -q
  "$bin" report "$dir/out.h5" -o "$dir/report.html"
  # --dump-dom prints the document after the load event, when the inline script has counted
  # the figures that decoded.
  dom=$(timeout 120 "$browser" --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$dir/profile" --virtual-time-budget=10000 \
        --dump-dom "file://$dir/report.html" 2>/dev/null)
  total=$(grep -o 'data-figures="[0-9]*"' <<<"$dom" | grep -o '[0-9]\+' || true)
  loaded=$(grep -o 'data-figures-loaded="[0-9]*"' <<<"$dom" | grep -o '[0-9]\+' || true)
  echo "figures: $total, decoded: $loaded"
  [ -n "$total" ] && [ "$total" -ge 5 ] && [ "$loaded" = "$total" ] || exit 1
  # No serious or critical accessibility violation (axe-core, tests/browser/a11y.mjs).
  node "$src/tests/browser/a11y.mjs" "$dir/report.html"
  exit
fi

export PYTHONPATH="$src/tests${PYTHONPATH:+:$PYTHONPATH}"

"$bin" run "$scenario" -o "$dir/out.h5" -r 24 -s 11 -q
"$bin" summary "$dir/out.h5" --csv >"$dir/summary.csv"
check "$bin" report "$dir/out.h5" -o "$dir/report.html"
check test -s "$dir/report.html"
check test -z "$(find "$dir" -name '.report-*')"

# The report's tables against the summary: children at the end by arm and level, the net
# cost difference over the horizon, the net monetary benefit at each value of a QALY.
check "$python" - "$dir/report.html" "$dir/summary.csv" <<'PY'
import csv, re, sys
from html_tables import tables as read_tables

tables = {tuple(t[0]): t[1:] for t in read_tables(sys.argv[1])}
summary = {}
for row in csv.DictReader(open(sys.argv[2])):
    summary[(row["arm"], row["year"], row["measure"])] = float(row["mean"])
last = str(max(int(y) for (_, y, _) in summary if y != "all"))
num = lambda s: float(re.sub("[£,]", "", s).replace("−", "-"))
checked = 0

def close(a, b, tol, what):
    global checked
    checked += 1
    if abs(a - b) > tol:
        sys.exit("%s: report %r, summary %r" % (what, a, b))

end = next(v for k, v in tables.items() if k[:4] == ("arm", "level", "at start (mean)", "at end (mean)"))
for arm, level, _, at_end, *_ in end:
    close(num(at_end), summary[(arm, last, "children_" + level)], 0.051, arm + " " + level)
diff = next(v for k, v in tables.items() if k[1:2] == ("budget holder",))
for arm, holder, value in diff:
    if holder == "net":
        close(num(value), summary[(arm, last, "cumulative_net_cost")], 0.51, arm + " net cost")
nmb = next(v for k, v in tables.items() if "net monetary benefit (mean)" in k)
for arm, wtp, value, _ in nmb:
    close(num(value), summary[(arm, "all", "net_monetary_benefit_at_%d" % num(wtp))], 0.51,
          arm + " NMB at " + wtp)
if checked < 20:
    sys.exit("only %d numbers compared" % checked)
print("report agrees with summary on %d numbers" % checked)
PY

# A sweep's report: its sensitivity table against the file.
esc=arms.community_city.interventions.community.escalation
"$bin" sweep "$scenario" -o "$dir/sweep.h5" --param "$esc=0.8:1.0:2" \
  --param states.universal.qol=0.8:0.9:2 -r 2 -q
check "$bin" report "$dir/sweep.h5" -o "$dir/sweep.html"
check "$python" - "$dir/sweep.html" "$dir/sweep.h5" <<'PY'
import sys, h5py
from html_tables import tables as read_tables

f = h5py.File(sys.argv[2], "r")
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
# The heatmap's table is the file's two-way table of the first comparison's net cost.
two = next(t for t in tabs if t[0][2:] == ["net cost against the baseline"])[1:]
z = f["sensitivity/comparisons/community_city/delta_cost_total/two_way_0_1"][()]
a, b = f["axes/0"][()], f["axes/1"][()]
for i in range(len(a)):
    for j in range(len(b)):
        row = two[i * len(b) + j]
        if row[0] != "%.4g" % a[i] or row[1] != "%.4g" % b[j]:
            sys.exit("two-way row %r: expected values %g, %g" % (row, a[i], b[j]))
        money = ("−£{:,.0f}" if z[i, j] < 0 else "£{:,.0f}").format(abs(z[i, j]))
        if row[2] != money:
            sys.exit("two-way cell %r: file %r" % (row, z[i, j]))
        checked += 1
# Where the savings land: each point's net cost by budget holder.
holders = [x.decode() for x in f["budget_holders"][()]]
land = next(t for t in tabs if t[0][1:] == holders)[1:]
by = f["comparisons/community_city/delta_cost_by_holder"][()].reshape(-1, len(holders))
values = f["values"][()]
for p, row in enumerate(land):
    if row[0] != ", ".join("%.6g" % v for v in values[p]):
        sys.exit("savings row %d is labelled %r" % (p, row[0]))
    for h in range(len(holders)):
        money = ("−£{:,.0f}" if by[p, h] < 0 else "£{:,.0f}").format(abs(by[p, h]))
        if row[1 + h] != money:
            sys.exit("savings at point %d, %s: report %s, file %r" % (p, holders[h], row[1 + h],
                                                                       by[p, h]))
        checked += 1
print("sweep report agrees with the file on %d numbers" % checked)
PY

# Expected values (no replication dimension) make a report too.
"$bin" expect "$scenario" -o "$dir/expect.h5" >/dev/null
check "$bin" report "$dir/expect.h5" -o "$dir/expect.html"
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
