#!/usr/bin/env bash
# Input tables of every shape `flourish calibrate` may be given: each broken one exits with
# status 2 and one line naming the file, its physical line (blank lines and the lines inside
# quoted fields counted) and column where there is one, and a message; no output is written.
# Excel's byte-order mark and CRLF or CR line ends are read as the plain file is.
# Other separators (--delimiter) and date formats (--date-format) read as the plain file; a date
# of another format gets the --date-format that reads it.
# Arguments: the flourish binary, the source directory.
set -uo pipefail
bin=$1 src=$2
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
s=$src/scenarios/dundee.yaml
cd "$dir" || exit 1
"$bin" synth "$s" -o ep.csv --population pop.csv --seed 4
head -1 ep.csv > header.csv
rec=$(sed -n 2p ep.csv)       # a good record
popline=$(sed -n 2p pop.csv)  # a good population row

# bad NAME WHERE FRAGMENT [EPISODES [POPULATION [OPTION...]]]: exit 2, one line starting
# "flourish: WHERE" and holding FRAGMENT, no calibrated scenario.
bad() {
  local name=$1 where=$2 fragment=$3 ep=${4:-ep.csv} pop=${5:-pop.csv} status=0
  shift $(($# < 5 ? $# : 5))
  "$bin" calibrate "$ep" --population "$pop" --template "$s" -o out.yaml "$@" >/dev/null \
    2>err.txt || status=$?
  if [ "$status" -eq 2 ] && [ "$(wc -l < err.txt)" -eq 1 ] &&
     grep -qF -- "flourish: $where" err.txt && grep -qF -- "$fragment" err.txt &&
     [ ! -e out.yaml ]; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED ($name): status $status: $(cat err.txt)"
  fi
  rm -f out.yaml
}
# good NAME EPISODES [POPULATION [OPTION...]]: reads, and gives the scenario of the plain files.
"$bin" calibrate ep.csv --population pop.csv --template "$s" -o plain.yaml
good() {
  local name=$1 ep=$2 pop=${3:-pop.csv}
  shift $(($# < 3 ? $# : 3))
  rm -f g.yaml
  if "$bin" calibrate "$ep" --population "$pop" --template "$s" -o g.yaml "$@" 2>err.txt &&
     cmp -s <(grep -v '^#' plain.yaml) <(grep -v '^#' g.yaml); then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    echo "FAILED ($name): $(cat err.txt)"
  fi
}

# Byte-order mark, CRLF, blank lines: read as the plain file.
{ printf '\xEF\xBB\xBF'; cat ep.csv; } > bom.csv
good "byte-order mark" bom.csv
sed 's/$/\r/' ep.csv > crlf.csv
good "CRLF line ends" crlf.csv
{ printf '\xEF\xBB\xBF'; sed 's/$/\r/' pop.csv; } > pop_bom_crlf.csv
good "population with BOM and CRLF" ep.csv pop_bom_crlf.csv
awk 'NR == 3 { print "" } { print }' ep.csv > blank.csv
good "a blank line" blank.csv
{ printf '\xEF\xBB\xBF'; sed 's/$/\r/' ep.csv; } > bom_crlf.csv
good "byte-order mark and CRLF" bom_crlf.csv
tr '\n' '\r' < ep.csv > cr.csv
good "CR line ends (classic Mac)" cr.csv

# Physical lines: a record after a blank line and a quoted field over two lines.
{ cat header.csv; echo "$rec"; echo; echo 'S1,"additional",2019-04-01,,2010-07-01,"Strath'
  echo 'martine"'; } > multiline.csv
bad "a quoted newline, reported on one line" "multiline.csv:4:6:" "'Strath\\nmartine'" \
  multiline.csv
{ cat header.csv; echo "$rec"; echo 'S1,"additional",2019-04-01,,"2010-07-01",Lochee'
  echo; echo 'S2,additional,2019-04-01,,2010-07-01,Lochee,"a note'; echo 'over two lines"'
  echo; echo 'S3,banana,2019-04-01,,,Lochee'; } > lines.csv
bad "the line after quoted newlines and blank lines" "lines.csv:8:2:" "state: 'banana'" lines.csv
tr '\n' '\r' < lines.csv > lines_cr.csv
bad "the same with CR line ends" "lines_cr.csv:8:2:" "state: 'banana'" lines_cr.csv
# A value after a quoted newline in the same record: the line its value is on, CRLF counted once.
{ cat header.csv; echo "$rec"; echo '"S4 first'; echo 'second",additional,2019-13-01,,2010-07-01,Lochee'
  echo "$rec"; } | sed 's/$/\r/' > later.csv
bad "a value on the second line of a record" "later.csv:4:3: start_date:" "'2019-13-01'" later.csv

# Headers.
{ sed 's/$/,state/' header.csv; echo "$rec,x"; } > dupcol.csv
bad "a column named twice" "dupcol.csv:1:7:" "names the column 'state' twice" dupcol.csv
{ sed 's/child_id/CHILD_ID/; s/$/,Child_Id/' header.csv; echo "$rec,x"; } > dupcase.csv
bad "a column named twice, in other case" "dupcase.csv:1:7:" "'child_id' twice" dupcase.csv
{ sed 's/start_date,//' header.csv; echo "$rec"; } > nostart.csv
bad "no start_date" "nostart.csv:1:1:" "no 'start_date' column (required: child_id, state" \
  nostart.csv
tr ',' ';' < ep.csv > semicolon.csv
bad "separated by ;" "semicolon.csv:1:1:" "the header has one column, 'child_id;state;start\
_date;end_date;date_of_birth;locality': the file looks separated by ';', but episode records \
are read separated by commas (--delimiter ';' reads it)" semicolon.csv
tr ',' ';' < pop.csv > pop_semicolon.csv
good "--delimiter ';'" semicolon.csv pop_semicolon.csv --delimiter ';'
bad "--delimiter ';' and a comma-separated table" "pop.csv:1:1:" "the file looks separated by \
commas, but population tables are read separated by ';' (--delimiter ',' reads it)" \
  semicolon.csv pop.csv --delimiter ';'
tr ',' '\t' < ep.csv > tabs.csv
bad "separated by tabs" "tabs.csv:1:1:" "looks separated by tabs, but episode records are \
read separated by commas (--delimiter tab reads it)" tabs.csv
tr ',' '\t' < pop.csv > pop_tabs.csv
good "--delimiter tab" tabs.csv pop_tabs.csv --delimiter tab
status=0
"$bin" calibrate ep.csv --population pop.csv --template "$s" -o out.yaml --delimiter : \
  2>err.txt || status=$?
if [ "$status" -eq 2 ] && grep -qF "flourish calibrate: --delimiter: expected , ; tab or |, \
found ':'" err.txt && [ ! -e out.yaml ]; then
  passed=$((passed + 1))
else
  failed=$((failed + 1))
  echo "FAILED (--delimiter :): status $status: $(cat err.txt)"
fi
{ sed 's/count/number/' pop.csv; } > pop_nocount.csv
bad "population without count" "pop_nocount.csv:1:1:" "no 'count' column" ep.csv pop_nocount.csv
{ sed '1s/$/,age/' pop.csv; } > pop_dupage.csv
bad "population with age twice" "pop_dupage.csv:1:5:" "'age' twice" ep.csv pop_dupage.csv
: > empty.csv
bad "an empty file" "empty.csv:1:1:" "the file is empty" empty.csv
cp header.csv headeronly.csv
bad "a header and no records" "headeronly.csv:2:1:" "no records" headeronly.csv

# Bytes that are not CSV text.
iconv -f UTF-8 -t UTF-16 ep.csv > utf16.csv
bad "UTF-16" "utf16.csv:1:" "the file is UTF-16 text (as Excel saves 'Unicode Text'); save it as \
'CSV UTF-8'" utf16.csv
{ cat header.csv; printf 'S1,additional,2019-04-01,,2010-07-01,Loc\x00hee\n'; } > nul.csv
bad "a NUL byte" "nul.csv:2:" "NUL byte" nul.csv
{ cat header.csv; printf 'S1,addi\xff\xfetional,2019-04-01,,2010-07-01,Lochee\n'; } > latin.csv
bad "not UTF-8" "latin.csv:2:2:" "field 2 is not valid UTF-8 text" latin.csv
{ cat header.csv; echo "$rec"; printf 'S1,additional,"2019-04-01,,2010-07-01,Lochee\n'; } \
  > unclosed.csv
bad "an unclosed quote" "unclosed.csv:3:" "malformed CSV" unclosed.csv
{ cat header.csv; echo "$rec"; head -c 1100000 /dev/zero | tr '\0' 'x'; echo; } > longline.csv
bad "a line over 1 MiB" "longline.csv:3:" "line 3 is longer than" longline.csv
{ cat header.csv; printf 'S1,"'; for i in $(seq 1 9000); do printf '%0500d\n' 0; done; } \
  > longrecord.csv
bad "a quoted field over 4 MiB" "longrecord.csv:2:" "a record longer than" longrecord.csv
{ cat header.csv; printf 'S1,additional,2019-04-01,,2010-07-01,Lochee,"a"b\n'; } > badquote.csv
bad "a quote inside a field" "badquote.csv:2:" "malformed CSV" badquote.csv

# Values.
{ cat header.csv; echo ',additional,2019-04-01,,2010-07-01,Lochee'; } > noid.csv
bad "an empty child_id" "noid.csv:2:1:" "the identifier is empty" noid.csv
{ cat header.csv; echo 'S1,additional,2019-02-30,,2010-07-01,Lochee'; } > feb30.csv
bad "30 February" "feb30.csv:2:3: start_date:" \
  "expected a date YYYY-MM-DD, found '2019-02-30': February 2019 has 28 days" feb30.csv
{ cat header.csv; echo 'S1,additional,01/04/2019,,2010-07-01,Lochee'; } > ukdate.csv
bad "a DD/MM/YYYY date" "ukdate.csv:2:3: start_date:" "expected a date YYYY-MM-DD, found \
'01/04/2019'; it reads as DD/MM/YYYY or MM/DD/YYYY: give --date-format '%d/%m/%Y' or '%m/%d/%Y'" \
  ukdate.csv
{ cat header.csv; echo 'S1,additional,2019-04-13,,2010-07-01,Lochee'
  echo 'S1,additional,13/04/2019,,2010-07-01,Lochee'; } > ukdate13.csv
bad "a day-first date after an ISO one" "ukdate13.csv:3:3: start_date:" "expected a date \
YYYY-MM-DD, found '13/04/2019'; it reads as DD/MM/YYYY: give --date-format '%d/%m/%Y'" ukdate13.csv

# --date-format: day first, month first and date-times read as the plain file; the population
# table's YYYY-MM-DD reads whatever the format.
# as FORMAT FILE OUT: FILE's dates written in FORMAT, the time of day (when the format has one)
# 13:45:07. (The synthetic dates are all the first of a month.)
as() {
  awk -F, -v OFS=, -v fmt="$1" 'NR > 1 {
      for (i = 1; i <= NF; i++) if ($i ~ /^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]$/) {
        split($i, d, "-"); v = fmt
        sub(/%Y/, d[1], v); sub(/%m/, d[2], v); sub(/%d/, d[3], v)
        sub(/%H/, "13", v); sub(/%M/, "45", v); sub(/%S/, "07", v); $i = v } }
    { print }' "$2" > "$3"
}
as %d/%m/%Y ep.csv ep_dmy.csv
as %d/%m/%Y pop.csv pop_dmy.csv
good "--date-format %d/%m/%Y" ep_dmy.csv pop.csv --date-format %d/%m/%Y
good "--date-format %d/%m/%Y, both files" ep_dmy.csv pop_dmy.csv --date-format %d/%m/%Y
bad "DD/MM/YYYY without --date-format" "ep_dmy.csv:2:3: start_date:" "expected a date \
YYYY-MM-DD, found '01/10/2016'; it reads as DD/MM/YYYY or MM/DD/YYYY: give --date-format \
'%d/%m/%Y' or '%m/%d/%Y'" ep_dmy.csv
as %m/%d/%Y ep.csv ep_mdy.csv
good "--date-format %m/%d/%Y" ep_mdy.csv pop.csv --date-format %m/%d/%Y
as '%Y-%m-%d %H:%M:%S' ep.csv ep_datetime.csv
good "date-times" ep_datetime.csv pop.csv --date-format '%Y-%m-%d %H:%M:%S'
bad "date-times without --date-format" "ep_datetime.csv:2:3: start_date:" "found '2016-10-01 \
13:45:07'; it reads as YYYY-MM-DD HH:MM:SS: give --date-format '%Y-%m-%d %H:%M:%S'" ep_datetime.csv
as '%Y-%m-%dT%H:%M:%S' ep.csv ep_iso8601.csv
good "ISO 8601 date-times" ep_iso8601.csv pop.csv --date-format %Y-%m-%dT%H:%M:%S
as '%d/%m/%Y %H:%M' ep.csv ep_dmy_hm.csv
sed 's/$/\r/' ep_dmy_hm.csv > ep_dmy_hm_crlf.csv
good "day-first date-times, CRLF" ep_dmy_hm_crlf.csv pop.csv --date-format '%d/%m/%Y %H:%M'
bad "a day-first date-time with the time left out" "ep_dmy_hm.csv:2:3: start_date:" \
  "found '01/10/2016 13:45'; it reads as DD/MM/YYYY HH:MM or MM/DD/YYYY HH:MM: give \
--date-format '%d/%m/%Y %H:%M' or '%m/%d/%Y %H:%M'" \
  ep_dmy_hm.csv pop.csv --date-format %d/%m/%Y
{ cat header.csv; echo "$rec"; echo 'S1,additional,31/02/2024,,01/07/2010,Lochee'; } > feb31.csv
bad "31/02/2024" "feb31.csv:3:3: start_date:" "expected a date DD/MM/YYYY (--date-format \
'%d/%m/%Y') or YYYY-MM-DD, found '31/02/2024': February 2024 has 29 days" feb31.csv pop.csv \
  --date-format %d/%m/%Y
{ cat header.csv; echo 'S1,additional,01/04/2019,01/13/2019,01/07/2010,Lochee'; } > month13.csv
bad "month 13, day first" "month13.csv:2:4: end_date:" "found '01/13/2019': there is no month \
13; it reads as MM/DD/YYYY: give --date-format '%m/%d/%Y'" month13.csv pop.csv --date-format %d/%m/%Y
{ cat header.csv; echo "$rec"; echo 'S1,"addi'; echo 'tional",01/04/2019T10:00,,2010-07-01,Lochee'; } \
  | sed 's/$/\r/' > dt_after_quote.csv
bad "a date-time after a quoted newline, CRLF" "dt_after_quote.csv:4:3: start_date:" \
  "found '01/04/2019T10:00'" dt_after_quote.csv pop.csv --date-format '%d/%m/%Y %H:%M'
bad "--date-format %y" "--date-format:" "found '%d/%m/%y': '%y' is not one of %Y %m %d %H %M %S"\
  ep.csv pop.csv --date-format %d/%m/%y
bad "--date-format DD/MM/YYYY" "--date-format:" "DD/MM/YYYY is '%d/%m/%Y'" ep.csv pop.csv \
  --date-format DD/MM/YYYY
bad "--date-format without a day" "--date-format:" "it has no %d" ep.csv pop.csv --date-format %Y-%m
{ cat header.csv; echo 'S1,additional,2019-04-01,2019-03-01,2010-07-01,Lochee'; } > backwards.csv
bad "an end before the start" "backwards.csv:2:4:" "ends before it starts" backwards.csv
{ cat header.csv; echo 'S1,additional,2019-04-01,,2010-07-01,Atlantis'; } > locality.csv
bad "an unknown locality" "locality.csv:2:6:" "'Atlantis' is not one of the template's" locality.csv
{ cat header.csv; echo 'S1,additional,2019-04-01,,2010-13-01,Lochee'; } > dob.csv
bad "month 13 in a date of birth" "dob.csv:2:5: date_of_birth:" \
  "found '2010-13-01': there is no month 13" dob.csv
{ cat pop.csv; echo "$popline"; } > pop_twice.csv
bad "a population row twice" "pop_twice.csv:$(($(wc -l < pop.csv) + 1)):" "twice (lines 2 and" \
  ep.csv pop_twice.csv
{ cat pop.csv; echo "$popline" | awk -F, -v OFS=, '{ $3 = ""; print }'; } > pop_total.csv
bad "a total beside the localities" "pop_total.csv:" "both for the whole area" ep.csv pop_total.csv
{ head -1 pop.csv; echo "2015-04-01,3,Lochee,1e300"; } > pop_huge.csv
bad "1e300 children" "pop_huge.csv:2:4:" "more than any area has" ep.csv pop_huge.csv
{ head -1 pop.csv; echo "2015-04-01,3,Lochee,-4"; } > pop_negative.csv
bad "a negative count" "pop_negative.csv:2:4:" "'-4' is not a number of children" ep.csv \
  pop_negative.csv
{ head -1 pop.csv; echo "2015-04-01,3,Lochee,12.5"; } > pop_fraction.csv
bad "a fraction of a child" "pop_fraction.csv:2:4:" "'12.5' is not a whole number of children" \
  ep.csv pop_fraction.csv
{ head -1 pop.csv; echo "2015-04-01,three,Lochee,40"; } > pop_age.csv
bad "an age in words" "pop_age.csv:2:2:" "'three' is not a whole number of years" ep.csv pop_age.csv
{ head -1 pop.csv; echo "2015-04-01,3,Lochee,nan"; } > pop_nan.csv
bad "a count of nan" "pop_nan.csv:2:4:" "'nan' is not a number of children" ep.csv pop_nan.csv
{ head -1 pop.csv; echo "2015-04-01,3,Lochee,inf"; } > pop_inf.csv
bad "an infinite count" "pop_inf.csv:2:4:" "'inf' is not a number of children" ep.csv pop_inf.csv
{ head -1 pop.csv; echo "2015-04-01,99999999999999999999,Lochee,4"; } > pop_bigage.csv
bad "an age beyond long" "pop_bigage.csv:2:2:" "is not a whole number of years" ep.csv \
  pop_bigage.csv
finish csv_cli
