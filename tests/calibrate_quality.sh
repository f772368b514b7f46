#!/usr/bin/env bash
# Data-quality checks of `flourish calibrate`: each problem the records can show is a counted
# warning on stderr and in the report (exit 0, with the effect stated and checked here) or an
# error (exit 2), and --strict turns every warning into an error. The table of docs/scenario.md
# ("Data-quality checks") is this file's cases. Arguments: the flourish binary, the source
# directory.
set -euo pipefail
bin=$1 src=$2
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

tmpl=$src/tests/cli_fixtures/minimal.yaml
{
  echo "date,age,count"
  for d in 2020-01-01 2021-01-01; do for a in $(seq 0 17); do echo "$d,$a,100"; done; done
} > "$dir/pop.csv"
header="child_id,state,start_date,end_date,date_of_birth"
clean="a,additional,2020-02-01,2020-06-01,2012-03-01
b,looked_after,2020-03-01,,2010-05-01
c,additional,2020-01-01,2020-09-01,2015-01-01
c,looked_after,2020-09-01,2021-03-01,2015-01-01"

# calibrate NAME [options]: runs on $dir/NAME.csv; status in $status, stderr in $dir/NAME.err,
# report in $dir/NAME.rep.
calibrate() {
  local name=$1
  shift
  status=0
  "$bin" calibrate "$dir/$name.csv" --population "$dir/pop.csv" --template "$tmpl" \
    -o "$dir/$name.yaml" --report "$dir/$name.rep" --from 2020-01-01 --to 2021-06-01 "$@" \
    2> "$dir/$name.err" || status=$?
}
# field NAME MEASURE AGE_BAND FROM: the count column of that report row ("" if none).
field() { awk -F, -v m="$2" -v b="$3" -v f="$4" '$1 == m && $2 == b && $3 == f { print $5 }' "$dir/$1.rep"; }
# case NAME BODY: writes the episodes file.
case_file() { printf '%s\n%s\n' "${3:-$header}" "$2" > "$dir/$1.csv"; }

case_file clean "$clean"
calibrate clean
check test "$status" -eq 0
check test ! -s "$dir/clean.err"
check test -z "$(grep '^data_warning' "$dir/clean.rep" || true)"
# The data-quality summary: what was read and used, the window, the coverage of each level.
check test "$(field clean data_quality "" records_read)" = 4
check test "$(field clean data_quality "" children)" = 3
check test "$(field clean data_quality "" episodes_open)" = 1
check grep -q '^data_quality,,window,,,,,,18 months: 2020-01 to 2021-06 (the extract date)$' "$dir/clean.rep"
check grep -q '^data_quality,,coverage,looked_after,,,,,covered by the records: rows estimated$' "$dir/clean.rep"
check test "$(field clean data_quality "" population_dates)" = 2

# A missing end date: c's first episode is open and followed by a later one. It is cut where
# the next starts, so the stocks are those of the clean file.
case_file open "$(printf '%s\n' "$clean" | sed 's/^c,additional,2020-01-01,2020-09-01,/c,additional,2020-01-01,,/')"
calibrate open
check test "$status" -eq 0
check test "$(field open data_quality "" episodes_open)" = 1
check grep -q "warning: .*open.csv: 1 children with an open episode (no end_date) followed by a later episode.*(line 4)" "$dir/open.err"
check test "$(field open data_warning "" open_episode_followed)" = 1
check test "$(field open stock 2021-04 additional)" = "$(field clean stock 2021-04 additional)"
check test "$(field open stock 2021-05 additional)" = "$(field clean stock 2021-05 additional)"
calibrate open --strict
check test "$status" -eq 2
check grep -q "open.csv:4: 1 children with an open episode.*--strict makes this an error" "$dir/open.err"
check test ! -e "$dir/open.yaml.new"

# Overlapping episodes: a is looked after in April within its additional episode; April goes
# to the higher level.
case_file overlap "$clean
a,looked_after,2020-04-01,2020-05-01,2012-03-01"
calibrate overlap
check test "$status" -eq 0
check grep -q "1 children with overlapping episodes: each month goes to the state of the highest level.*(line 6)" "$dir/overlap.err"
check test "$(field overlap stock 2020-04 looked_after)" = "$(($(field clean stock 2020-04 looked_after) + 1))"
check test "$(field overlap stock 2020-04 additional)" = "$(($(field clean stock 2020-04 additional) - 1))"

# An episode before birth (a pre-birth registration): the months before birth are not counted.
case_file prebirth "$clean
d,additional,2019-06-01,2020-03-01,2020-02-01"
calibrate prebirth
check test "$status" -eq 0
check grep -q "1 episodes that start before the child's month of birth.*(line 6)" "$dir/prebirth.err"
check test "$(field prebirth stock 2020-01 additional)" = "$(field clean stock 2020-01 additional)"
check test "$(field prebirth stock 2020-02 additional)" = "$(($(field clean stock 2020-02 additional) + 1))"

# Two dates of birth for one child; a child with none.
case_file dobs "$clean
a,additional,2020-08-01,2020-10-01,2012-04-01
e,additional,2020-03-01,2020-05-01,"
calibrate dobs
check test "$status" -eq 0
check grep -q "1 children given different dates of birth: the last row's is used (line 6)" "$dir/dobs.err"
check grep -q "1 children with no date of birth in any row: .* counted twice (line 7)" "$dir/dobs.err"
check test "$(field dobs data_warning "" date_of_birth_differs)" = 1
check test "$(field dobs data_warning "" no_date_of_birth)" = 1

# A child over the maximum age all through the window: its records are not used.
case_file old "$clean
f,looked_after,2020-02-01,,1990-01-01"
calibrate old
check test "$status" -eq 0
check grep -q "1 children with a record in the window but never below the template's maximum age (nor born) in it.*(line 6)" "$dir/old.err"
check test "$(field old stock 2020-06 looked_after)" = "$(field clean stock 2020-06 looked_after)"

# Errors: no date_of_birth column (the months would be counted twice); every child over the
# maximum age (dates of birth wrong or read in the wrong format).
case_file nodob "a,additional,2020-02-01,2020-06-01" "child_id,state,start_date,end_date"
calibrate nodob
check test "$status" -eq 2
check grep -q "nodob.csv:1: date_of_birth: the header has no date_of_birth column" "$dir/nodob.err"
case_file allold "a,additional,2020-02-01,2020-06-01,1990-03-01
b,looked_after,2020-03-01,,1980-05-01"
calibrate allold
check test "$status" -eq 2
check grep -q "allold.csv:2: date_of_birth: none of the 2 children with a record in the window and a date of birth is below the template's maximum age of 216 months" "$dir/allold.err"
check test ! -e "$dir/allold.yaml"

# With --suppress every warning's count in the report is rounded like the others.
calibrate dobs --suppress 5
check test "$status" -eq 0
check awk -F, '$1 == "data_warning" && $5 % 5 { exit 1 }' "$dir/dobs.rep"
finish calibrate_quality
