#!/usr/bin/env bash
# `flourish summary`: the text, the CSV and the workbook (--xlsx) of one small Dundee run show
# the same numbers. The workbook is read back as a spreadsheet reads it (openpyxl): a sheet per
# arm under its label, years down with their calendar period, every header with its unit and
# discounting, each value equal to the CSV's, currency number formats; the measures over the
# horizon below. --set costs.currency=EUR changes the formats; bad uses give status 2 and no
# file. Arguments: the flourish binary, the source directory, the Python interpreter.
set -euo pipefail
bin=$1 src=$2 python=$3
scenario=$src/scenarios/dundee.yaml
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$bin" run "$scenario" -o "$dir/out.h5" -r 6 -s 3 -q
"$bin" summary "$dir/out.h5" --csv >"$dir/out.csv"
"$bin" summary "$dir/out.h5" >"$dir/out.txt"
check "$bin" summary "$dir/out.h5" --xlsx "$dir/out.xlsx"
check test -s "$dir/out.xlsx"
check test -z "$(find "$dir" -name 'out.xlsx.tmp.*')"
# Whole labels and readable amounts in the text; no exponent notation.
check grep -q "^Community programme, city-wide minus baseline" "$dir/out.txt"
check grep -q "Purchased placements" "$dir/out.txt"
check grep -qE "£[0-9.]+m" "$dir/out.txt"
check test -z "$(grep -E '[0-9]e[+-][0-9]' "$dir/out.txt")"
check grep -q "chance only: parameter uncertainty not included" "$dir/out.txt"
# The frontier of all arms: every arm once, the baseline's cost 0; no EVPI without --psa.
check grep -q "^cost-effectiveness frontier of all arms: mean" "$dir/out.txt"
check test "$(grep -cE "^  .* cost .* QALYs .* (on the frontier|dominated|the same as)" "$dir/out.txt")" = 4
check grep -qE "^  Baseline +cost +£0 " "$dir/out.txt"
check test -z "$(grep "perfect information" "$dir/out.txt")"

check "$python" - "$dir/out.xlsx" "$dir/out.csv" GBP <<'PY'
import csv, sys
import openpyxl

wb = openpyxl.load_workbook(sys.argv[1])
rows = list(csv.DictReader(open(sys.argv[2])))
money = {"GBP": "£#,##0;-£#,##0", "EUR": "€#,##0;-€#,##0"}[sys.argv[3]]
arms = list(dict.fromkeys(r["arm"] for r in rows))
labels = ["Baseline", "Community programme, city-wide", "City-wide, savings reinvested",
          "Community programme, four areas"]
checked = 0


def fail(msg):
    sys.exit("FAILED: " + msg)


if wb.sheetnames != labels:
    fail("sheets %r" % wb.sheetnames)
for arm, name in zip(arms, labels):
    ws = wb[name]
    head = [c.value for c in ws[4]]
    if head[:2] != ["Year", "Period"]:
        fail("%s: header starts %r" % (name, head[:2]))
    if ws["B5"].value != "Apr 2025 (start)" or ws["B6"].value != "Apr 2025 to Mar 2026":
        fail("%s: periods %r, %r" % (name, ws["B5"].value, ws["B6"].value))
    mine = [r for r in rows if r["arm"] == arm]
    yearly = list(dict.fromkeys(r["measure"] for r in mine if r["year"]))
    means = [k for k, h in enumerate(head) if h and k >= 2 and not h.endswith(("5%", "95%"))]
    if len(means) != len(yearly):
        fail("%s: %d yearly measures in the sheet, %d in the CSV" % (name, len(means), len(yearly)))
    for k, measure in zip(means, yearly):
        h = head[k]
        unit = next(r for r in mine if r["measure"] == measure)
        want = "(%s%s" % (unit["unit"], {"yes": ", discounted", "no": ", undiscounted",
                                         "": ")"}[unit["discounted"]])
        if want not in h:
            fail("%s: header %r lacks %r" % (name, h, want))
        for r in mine:
            if r["measure"] != measure or not r["year"]:
                continue
            row = 5 + int(float(r["year"]))
            cell = ws.cell(row=row, column=k + 1)
            if abs(float(cell.value) - float(r["mean"])) > 1e-6 * max(1, abs(float(r["mean"]))):
                fail("%s %s year %s: sheet %r, CSV %s" % (name, measure, r["year"], cell.value,
                                                         r["mean"]))
            fmt = money if unit["unit"] == sys.argv[3] else "0%" if unit["unit"] == "probability" \
                else "#,##0.0"
            if cell.number_format != fmt:
                fail("%s %s: format %r, expected %r" % (name, measure, cell.number_format, fmt))
            checked += 1
    # The measures over the horizon, under the yearly table.
    start = next(r for r in range(1, ws.max_row + 1) if ws.cell(r, 1).value == "Over the whole horizon")
    total = {ws.cell(r, 1).value: [ws.cell(r, c).value for c in range(3, 8)]
             for r in range(start + 1, ws.max_row + 1)}
    if arm != "baseline":
        be = next(r for r in mine if r["measure"] == "breakeven_month")
        got = total["Break-even month"]
        if got[0] != "(months)" or float(got[2]) != float(be["median"]):
            fail("%s break-even: sheet %r, CSV median %s" % (name, got, be["median"]))
        checked += 1
print("the workbook agrees with the CSV on %d numbers" % checked)
if checked < 500:
    fail("only %d numbers compared" % checked)
PY

# Another currency: the formats follow it.
"$bin" run "$scenario" -o "$dir/eur.h5" -r 2 -s 3 -q --set costs.currency=EUR
"$bin" summary "$dir/eur.h5" --csv >"$dir/eur.csv"
check "$bin" summary "$dir/eur.h5" --xlsx "$dir/eur.xlsx"
check grep -q ",EUR,no," "$dir/eur.csv"
check "$python" - "$dir/eur.xlsx" "$dir/eur.csv" EUR <<'PY'
import sys, openpyxl
ws = openpyxl.load_workbook(sys.argv[1])["Baseline"]
head = [c.value for c in ws[4]]
k = next(i for i, h in enumerate(head) if h and h.startswith("Cost in the year: total (EUR"))
sys.exit(0 if ws.cell(row=6, column=k + 1).number_format == "€#,##0;-€#,##0" else "no € format")
PY
check grep -q "€" <("$bin" summary "$dir/eur.h5")

# Bad uses: status 2, no workbook.
for args in "--csv --xlsx $dir/both.xlsx" "--xlsx" "--xlsx $dir"; do
  status=0
  # shellcheck disable=SC2086
  "$bin" summary "$dir/out.h5" $args >/dev/null 2>"$dir/err" || status=$?
  check test "$status" -eq 2
done
check test ! -e "$dir/both.xlsx"
esc=arms.community_city.interventions.community.escalation
"$bin" sweep "$scenario" -o "$dir/sweep.h5" --param "$esc=0.8:1.0:2" -r 1 -q
status=0
"$bin" summary "$dir/sweep.h5" --xlsx "$dir/sweep.xlsx" 2>"$dir/err" || status=$?
check test "$status" -eq 2
check test ! -e "$dir/sweep.xlsx"
check grep -q "for a sweep use --csv" "$dir/err"

finish summary_cli
