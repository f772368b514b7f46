#!/usr/bin/env bash
# The data officer's path end to end: synthetic records of the Dundee scenario, calibrated back
# with a report (counts rounded for disclosure control), validated and run. No identifier may appear in any
# output. Arguments: the flourish binary, the source directory.
set -euo pipefail
bin=$1 src=$2
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$bin" synth "$src/scenarios/dundee.yaml" -o "$dir/episodes.csv" --population "$dir/pop.csv" \
  --seed 3 --start 2015-04
check test "$(head -1 "$dir/episodes.csv")" = "child_id,state,start_date,end_date,date_of_birth,locality"
check test "$(wc -l < "$dir/episodes.csv")" -gt 10000
"$bin" calibrate "$dir/episodes.csv" --population "$dir/pop.csv" \
  --template "$src/scenarios/dundee.yaml" -o "$dir/cal.yaml" --report "$dir/report.csv" \
  --report-h5 "$dir/report.h5" --age-bands 5,12 --duration-bands 6 --suppress 5 --check --period-months 36
check grep -q "^transitions:" "$dir/cal.yaml"
# The rows are estimated from all localities together: the template's locality multipliers
# are left out (not applied twice), with the reason, and the shares and labels kept.
check test -z "$(grep escalation_multiplier "$dir/cal.yaml" | grep -v '^#' || true)"
check grep -q "^# The template's escalation_multiplier of each locality is left out" "$dir/cal.yaml"
check grep -q '^  North_East: {label: "North East", share: 3835}$' "$dir/cal.yaml"
# The back-cast of the window reproduces the observed stock of the largest recorded state
# to within 10% on average (it is the truth simulated again from the same start).
check awk -F, '$1 == "check_summary" && $3 == "additional" { exit !($6 < 0.1) }' "$dir/report.csv"
check grep -q "^check,2016-01,additional," "$dir/report.csv"
check grep -q "^transition,period 2015-04 to 2018-03,universal,additional," "$dir/report.csv"
# --suppress 5: every count of the report is a multiple of 5 (tests/disclosure.sh attacks them).
check awk -F, 'NR > 1 && $1 != "check" && $1 != "check_summary" && $5 != "" && $5 % 5 { exit 1 }' "$dir/report.csv"
check test -z "$(grep -l 'S0000' "$dir/cal.yaml" "$dir/report.csv" || true)"
check h5ls "$dir/report.h5/transitions/counts"
check h5ls "$dir/report.h5/check/expected_stocks"
check test -z "$(h5dump "$dir/report.h5" | grep 'S0000' || true)"
"$bin" validate "$dir/cal.yaml" > "$dir/validate.txt"
check grep -q "valid" "$dir/validate.txt"
"$bin" run "$dir/cal.yaml" -o "$dir/cal.h5" -r 2 -q
check test -s "$dir/cal.h5"
# The same records as a council's Excel exports them (byte-order mark, CRLF, ';', day-first
# date-times; the population table separated by ';' too, as --delimiter is for both files):
# the same scenario with --delimiter and --date-format; without them, status 2 and a message
# naming the option that reads the file.
"$bin" calibrate "$dir/episodes.csv" --population "$dir/pop.csv" \
  --template "$src/scenarios/dundee.yaml" -o "$dir/plain.yaml"
{ printf '\xEF\xBB\xBF'
  awk -F, -v OFS=';' 'NR > 1 { for (i = 3; i <= 5; i++) if ($i != "") {
      split($i, d, "-"); $i = d[3] "/" d[2] "/" d[1] " 00:00" } } { $1 = $1; print }' \
    "$dir/episodes.csv" | sed 's/$/\r/'; } > "$dir/excel.csv"
tr ',' ';' < "$dir/pop.csv" > "$dir/excel_pop.csv"
check grep -q '^S0000000[0-9];[a-z_]*;[0-3][0-9]/[01][0-9]/20[0-9][0-9] 00:00;' "$dir/excel.csv"
"$bin" calibrate "$dir/excel.csv" --population "$dir/excel_pop.csv" \
  --template "$src/scenarios/dundee.yaml" -o "$dir/excel.yaml" --delimiter ';' \
  --date-format '%d/%m/%Y %H:%M'
check cmp <(grep -v '^#' "$dir/plain.yaml") <(grep -v '^#' "$dir/excel.yaml")
status=0
"$bin" calibrate "$dir/excel.csv" --population "$dir/excel_pop.csv" \
  --template "$src/scenarios/dundee.yaml" -o "$dir/x.yaml" 2> "$dir/err.txt" || status=$?
check test "$status" -eq 2
check grep -qF "excel_pop.csv:1:1: the header has one column" "$dir/err.txt"
check grep -qF "(--delimiter ';' reads it)" "$dir/err.txt"
check test ! -e "$dir/x.yaml"
status=0
"$bin" calibrate "$dir/excel.csv" --population "$dir/excel_pop.csv" --delimiter ';' \
  --template "$src/scenarios/dundee.yaml" -o "$dir/x.yaml" 2> "$dir/err.txt" || status=$?
check test "$status" -eq 2
check grep -qE "excel.csv:2:3: start_date: expected a date YYYY-MM-DD, \
found '01/[01][0-9]/20[0-9]{2} 00:00'" "$dir/err.txt"
check grep -qF "give --date-format '%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M'" "$dir/err.txt"
check test ! -e "$dir/x.yaml"
# Usage errors: status 2, nothing written.
status=0
"$bin" calibrate "$dir/episodes.csv" --population "$dir/pop.csv" -o "$dir/x.yaml" 2>/dev/null || status=$?
check test "$status" -eq 2
check test ! -e "$dir/x.yaml"
finish calibrate_cli
