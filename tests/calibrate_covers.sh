#!/usr/bin/env bash
# Partial coverage (calibrate --covers): records of looked-after children only, as a national
# return gives them, calibrated against a template that knows the other levels. Synthetic
# Dundee records are calibrated in full; the looked-after rows alone are then calibrated with
# --covers looked_after against that scenario as template, so the template's shares and rows
# are the records' own: the scale of the escalations into care must come out close to 1, the
# uncovered rows and stocks must be the template's, and the back-cast of the looked-after
# stocks must be as good as the full calibration's. Then the same records as an SSDA903-style
# extract go through scripts/ssda903-to-episodes.py and give the same transitions. Arguments:
# the flourish binary, the source directory, python.
set -euo pipefail
bin=$1 src=$2 python=${3:-python3}
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$bin" synth "$src/scenarios/dundee.yaml" -o "$dir/ep.csv" --population "$dir/pop.csv" --seed 3
"$bin" calibrate "$dir/ep.csv" --population "$dir/pop.csv" --template "$src/scenarios/dundee.yaml" \
  -o "$dir/full.yaml" --report "$dir/full.csv" --check
{ head -1 "$dir/ep.csv"; grep ',la_' "$dir/ep.csv"; } > "$dir/lac.csv"
"$bin" calibrate "$dir/lac.csv" --population "$dir/pop.csv" --template "$dir/full.yaml" \
  -o "$dir/lac.yaml" --report "$dir/lac.rep" --check --covers looked_after 2> "$dir/lac.err"
# Said loudly, and in the report: the uncovered rows, their shares, the scales.
check grep -q "warning: --covers looked_after: the rows of universal (.*%) additional (.*%) intensive (.*%) are the template's" "$dir/lac.err"
check test "$(grep -c '^coverage_scale,,universal,la_' "$dir/lac.rep")" -eq 4
check awk -F, '$1 == "coverage_scale" { if ($6 < 0.97 || $6 > 1.03) exit 1 }' "$dir/lac.rep"
# The uncovered levels keep their children and the template's rows (escalations into care
# scaled, the rest as they were).
check grep -q "state: additional, count: .*# not covered by the records" "$dir/lac.yaml"
check grep -q "state: intensive, count: .*# not covered by the records" "$dir/lac.yaml"
row() { grep -m1 "^        $1: {" "$2" | sed 's/ *#.*//'; }
check test "$(row additional "$dir/lac.yaml" | grep -o 'universal: [0-9.e-]*, intensive: [0-9.e-]*')" = \
  "$(row additional "$dir/full.yaml" | grep -o 'universal: [0-9.e-]*, intensive: [0-9.e-]*')"
check grep -q "^        additional: {.*# not covered by the records (--covers)" "$dir/lac.yaml"
# A looked-after row's moves to no record are shared among universal, additional and intensive
# as the template shares them.
check grep -q "^        la_foster: {universal: [0-9.e-]*, additional: [0-9.e-]*, intensive: " "$dir/lac.yaml"
# The back-cast of each looked-after state is within 1 point of the full calibration's.
for s in la_home la_kinship la_foster la_residential; do
  full=$(awk -F, -v s=$s '$1 == "check_summary" && $3 == s { print $6 }' "$dir/full.csv")
  part=$(awk -F, -v s=$s '$1 == "check_summary" && $3 == s { print $6 }' "$dir/lac.rep")
  check awk -v a="$full" -v b="$part" 'BEGIN { d = a - b; exit !(d < 0.01 && d > -0.01) }'
done
# The calibrated scenario runs.
"$bin" expect "$dir/lac.yaml" -o "$dir/lac.h5" > /dev/null
check test -s "$dir/lac.h5"
# Without --covers the same file silently becomes universal <-> looked after: no additional
# children at all (what --covers is for).
"$bin" calibrate "$dir/lac.csv" --population "$dir/pop.csv" --template "$dir/full.yaml" \
  -o "$dir/lac_all.yaml" 2> /dev/null
check test -z "$(grep 'state: additional, count' "$dir/lac_all.yaml" || true)"
# Errors: a level the template does not have, the lowest level, rows of an uncovered level.
for bad in looked_afte universal; do
  status=0
  "$bin" calibrate "$dir/lac.csv" --population "$dir/pop.csv" --template "$dir/full.yaml" \
    -o "$dir/x.yaml" --covers "$bad" 2> "$dir/bad.err" || status=$?
  check test "$status" -eq 2
  check grep -q "^flourish: --covers: '$bad' is" "$dir/bad.err"
done
check grep -q "did you mean 'looked_after'?" <(
  "$bin" calibrate "$dir/lac.csv" --population "$dir/pop.csv" --template "$dir/full.yaml" \
    -o "$dir/x.yaml" --covers looked_afte 2>&1 || true)
status=0
"$bin" calibrate "$dir/ep.csv" --population "$dir/pop.csv" --template "$dir/full.yaml" \
  -o "$dir/x.yaml" --covers looked_after 2> "$dir/bad.err" || status=$?
check test "$status" -eq 2
check grep -q "ep.csv:[0-9]*:2: state: 'additional' is a state of level 'additional', which --covers leaves out" "$dir/bad.err"
check test ! -e "$dir/x.yaml"
# A template whose rows differ by age and time in state keeps that structure for the uncovered
# rows: a table for each of its bands (4 age bands x 3 time-in-state bands) after the
# calibrated ones; the scenario is valid.
rich=$src/bench/workloads/rich.yaml
"$bin" synth "$rich" -o "$dir/rich.csv" --population "$dir/rich_pop.csv" --seed 2
{ head -1 "$dir/rich.csv"; grep ',la_\|,register,\|,intensive,' "$dir/rich.csv"; } > "$dir/rich_part.csv"
"$bin" calibrate "$dir/rich_part.csv" --population "$dir/rich_pop.csv" --template "$rich" \
  -o "$dir/rich_part.yaml" --covers looked_after,intensive 2> /dev/null
check test "$(grep -c "rows:   # not covered by the records (--covers): the template's rows here" "$dir/rich_part.yaml")" -eq 12
check grep -q "^    - age_years: \[12, 18\]$" "$dir/rich_part.yaml"
"$bin" validate "$dir/rich_part.yaml" > "$dir/rich_validate.txt"
check grep -q "valid" "$dir/rich_validate.txt"

# The same records as an SSDA903-style extract (a header table of children with DD/MM/YYYY
# dates of birth; an episodes table with placement codes), converted back: the same records
# (less the locality, which such extracts do not hold) and the same calibrated transitions.
awk -F, 'NR > 1 && !seen[$1]++ { split($5, d, "-"); print $1 "," d[3] "/" d[2] "/" d[1] ",1" }
         BEGIN { print "CHILD,DOB,SEX" }' "$dir/lac.csv" > "$dir/903_header.csv"
awk -F, 'function dmy(s, d) { if (s == "") return ""; split(s, d, "-"); return d[3] "/" d[2] "/" d[1] }
         BEGIN { print "CHILD,DECOM,RNE,LS,PLACE,DEC,REC"
                 code["la_home"] = "P1"; code["la_kinship"] = "U1"; code["la_foster"] = "U4"
                 code["la_residential"] = "K2" }
         NR > 1 { print $1 "," dmy($3) ",S,C2," code[$2] "," dmy($4) "," ($4 == "" ? "" : "E11") }'   "$dir/lac.csv" > "$dir/903_episodes.csv"
"$python" "$src/scripts/ssda903-to-episodes.py" "$dir/903_header.csv" "$dir/903_episodes.csv"   -o "$dir/903.csv" 2> "$dir/903.err"
check grep -q "wrote .*903.csv ($(($(wc -l < "$dir/lac.csv") - 1)) episodes of" "$dir/903.err"
check test "$(cut -d, -f1-5 "$dir/lac.csv" | md5sum)" = "$(md5sum < "$dir/903.csv")"
"$bin" calibrate "$dir/903.csv" --population "$dir/pop.csv" --template "$dir/full.yaml"   -o "$dir/903.yaml" --covers looked_after 2> /dev/null
check test "$(sed -n '/^transitions:/,$p' "$dir/903.yaml" | md5sum)" =   "$(sed -n '/^transitions:/,$p' "$dir/lac.yaml" | md5sum)"
# A placement code the map does not know is an error at its line; --map adds it.
sed '3s/,U4,/,X9,/; 3s/,P1,/,X9,/; 3s/,U1,/,X9,/; 3s/,K2,/,X9,/' "$dir/903_episodes.csv" > "$dir/903_bad.csv"
status=0
"$python" "$src/scripts/ssda903-to-episodes.py" "$dir/903_header.csv" "$dir/903_bad.csv"   -o "$dir/903x.csv" 2> "$dir/903.err" || status=$?
check test "$status" -eq 2
check grep -q "903_bad.csv:3: PLACE: 'X9' is not a placement code the map knows (give --map X9=STATE)" "$dir/903.err"
check test ! -e "$dir/903x.csv"
"$python" "$src/scripts/ssda903-to-episodes.py" "$dir/903_header.csv" "$dir/903_bad.csv"   -o "$dir/903x.csv" --map X9=la_foster 2> /dev/null
check test -s "$dir/903x.csv"
finish calibrate_covers
