#!/usr/bin/env bash
# The Scotland-size back-cast of calibration: synthetic records of bench/workloads/scotland.yaml
# (the Dundee model with 1,000,000 children and its eight localities with their escalation
# multipliers) over ten years, calibrated back with `--check`, which runs the calibrated model
# over the window from the stocks observed at its start. Prints the back-cast's mean absolute
# error over the observed mean for each recorded state and for the looked-after level (the sum
# of its placements), and the time and memory of the calibration.
# Usage: bench/calibration_backcast.sh [FLOURISH] [SEED]
set -euo pipefail
bin=${1:-build/flourish} seed=${2:-1}
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
"$bin" synth "$src/bench/workloads/scotland.yaml" -o "$dir/ep.csv" --population "$dir/pop.csv" \
  --seed "$seed" --start 2015-04
echo "records: $(($(wc -l < "$dir/ep.csv") - 1))"
/usr/bin/time -f "calibrate: %e s, %M kB" "$bin" calibrate "$dir/ep.csv" --population "$dir/pop.csv" \
  --template "$src/bench/workloads/scotland.yaml" -o "$dir/cal.yaml" --report "$dir/rep.csv" --check
awk -F, '$1 == "check_summary" { printf "%-16s %.2f%%\n", $3, 100 * $6 }
         $1 == "check" && $3 ~ /^la_/ { obs[$2] += $5; ex[$2] += $6 }
         END { for (m in obs) { d = obs[m] - ex[m]; err += d < 0 ? -d : d; tot += obs[m]; n++ }
               printf "%-16s %.2f%%\n", "looked_after", 100 * err / tot }' "$dir/rep.csv"
