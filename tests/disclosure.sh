#!/usr/bin/env bash
# Disclosure control end to end: a synthetic Dundee extract calibrated with and without
# --suppress, and tests/disclosure.py's attack on the rounded outputs for N = 5 and N = 10. Also:
# the same records give the same rounded files. Arguments: the flourish binary, the source
# directory, the Python with h5py.
set -euo pipefail
bin=$1 src=$2 py=$3
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

"$bin" synth "$src/scenarios/dundee.yaml" -o "$dir/episodes.csv" --population "$dir/pop.csv" \
  --seed 11 --start 2016-04
cal() { # cal DIR [--suppress N]: the calibration with every output
  mkdir -p "$1"
  "$bin" calibrate "$dir/episodes.csv" --population "$dir/pop.csv" \
    --template "$src/scenarios/dundee.yaml" -o "$1/cal.yaml" --report "$1/report.csv" \
    --report-h5 "$1/report.h5" --age-bands 2,5,12 --duration-bands 6,24 --period-months 12 \
    --check "${@:2}"
}
cal "$dir/true"
for n in 5 10; do
  cal "$dir/r$n" --suppress "$n"
  check "$py" "$src/tests/disclosure.py" "$dir/true" "$dir/r$n" "$n" "$dir/pop.csv"
  # The rounded scenario is a scenario: it validates and runs.
  check "$bin" validate "$dir/r$n/cal.yaml" > /dev/null
  check "$bin" run "$dir/r$n/cal.yaml" -o "$dir/r$n/run.h5" -r 2 -q
done
# The same records, the same rounding.
cal "$dir/again" --suppress 5
check cmp "$dir/r5/cal.yaml" "$dir/again/cal.yaml"
check cmp "$dir/r5/report.csv" "$dir/again/report.csv"
finish disclosure
