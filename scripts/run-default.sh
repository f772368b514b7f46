#!/usr/bin/env bash
# Sets Flourish up and runs the shipped default scenario (Dundee, ten years, monthly steps).
#
#   sudo bash scripts/run-default.sh
#
# Environment (all optional):
#   FLOURISH_REPLICATIONS  number of replications (default: 1000)
#   FLOURISH_SEED          master seed (default: 20250401)
#   FLOURISH_OUTPUT        output file (default: out/dundee.h5; the HTML report goes beside
#                          it, with .html in place of .h5)
#   FLOURISH_SCENARIO      scenario file (default: scenarios/dundee.yaml)
#   FLOURISH_THREADS       OpenMP threads (default: all cores; results do not depend on it)
#   FLOURISH_PSA           auto (default): draw parameter uncertainty (run --psa, a parameter
#                          draw per block of 10 replications) when the scenario has an
#                          uncertainty section; 0: never (the intervals then show chance alone)
# and those of scripts/setup.sh (FLOURISH_BUILD_DIR, FLOURISH_WERROR, ...).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

bash scripts/setup.sh

build=${FLOURISH_BUILD_DIR:-build}
reps=${FLOURISH_REPLICATIONS:-1000}
seed=${FLOURISH_SEED:-20250401}
out=${FLOURISH_OUTPUT:-out/dundee.h5}
scenario=${FLOURISH_SCENARIO:-scenarios/dundee.yaml}
report=${out%.h5}.html
threads=()
[ -n "${FLOURISH_THREADS:-}" ] && threads=(--threads "$FLOURISH_THREADS")

outdir=$(dirname "$out")
mkdir -p "$outdir"
case "$out" in
  /*) where=$out ;;
  *) where=$root/$out ;;
esac

# Parameter uncertainty whenever the scenario states it: intervals without it show chance alone
# and understate what is not known. (validate says whether the scenario has any.)
psa=()
if [ "${FLOURISH_PSA:-auto}" != 0 ] &&
   "$build/flourish" validate "$scenario" | grep -q '^Parameter uncertainty:'; then
  psa=(--psa --psa-inner 10)
fi

echo "== Running $scenario: $reps replications, seed $seed${psa:+, with parameter uncertainty}"
"$build/flourish" run "$scenario" -o "$out" --replications "$reps" --seed "$seed" "${threads[@]}" \
  "${psa[@]}"
echo "== Writing the report $report"
"$build/flourish" report "$out" -o "$report"

# Under sudo, the results belong to the user who asked for them.
if [ "$(id -u)" -eq 0 ] && [ -n "${SUDO_USER:-}" ] && [ "$SUDO_USER" != root ]; then
  chown "$SUDO_USER:$(id -gn "$SUDO_USER")" "$out" "$report"
  [ "$outdir" = out ] && chown "$SUDO_USER:$(id -gn "$SUDO_USER")" "$outdir"
fi

echo
echo "== Summary"
"$build/flourish" summary "$out"

cat <<EOF

== Done
Results: $where
Report:  ${where%.h5}.html (open it in a browser: figures, captions and their tables)
  (HDF5: every dataset, and reading it from Python and R, in docs/output.md)
This table again, as CSV, or as a workbook for a committee:
  $build/flourish summary $out [--csv | --xlsx ${out%.h5}.xlsx]
Every dataset in the file:
  h5ls -r $out
EOF
