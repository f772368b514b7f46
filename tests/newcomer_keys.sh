#!/usr/bin/env bash
# The keys that let a newcomer write a scenario in their own terms: spend_per_year, years,
# horizon_years and effects as percentage changes must give exactly the model of the keys they
# stand for (the expected values of both, written by `expect`, summarised alike to the byte);
# display labels change no number. An intervention that makes escalation more likely is valid
# but warned about, and the shipped scenario gives no warning.
# Arguments: the flourish binary, the source directory.
set -euo pipefail
bin=$1 src=$2
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
minimal=$src/tests/cli_fixtures/minimal.yaml

# The minimal scenario with one arm, in the keys it is given as.
with_arm() {
  cat "$minimal"
  printf 'arms:\n  prevention:\n    interventions:\n      help:\n        levels: [universal]\n'
  printf '        budget_holder: social_work\n'
  printf '%s\n' "$@"
}
with_arm '        spend_per_month: 1000' '        months: [6, 18]' '        escalation: 0.8' \
  '        deescalation: 1.25' >"$dir/plain.yaml"
with_arm '        spend_per_year: 12000' '        years: [0.5, 1.5]' \
  '        escalation_change_percent: -20' '        deescalation_change_percent: 25' \
  >"$dir/newcomer.yaml"
steps=$(grep -o 'horizon_steps: [0-9]*' "$minimal" | grep -o '[0-9]*$')
sed -i "s/horizon_steps: $steps/horizon_years: $((steps / 12))/" "$dir/newcomer.yaml"
check test $((steps % 12)) -eq 0
check grep -q "horizon_years: $((steps / 12))" "$dir/newcomer.yaml"
# Labels are for display only.
sed -i 's/^levels: /level_labels: {looked_after: Looked after}\nlevels: /' "$dir/newcomer.yaml"
check grep -q "level_labels" "$dir/newcomer.yaml"
for s in plain newcomer; do
  check "$bin" expect "$dir/$s.yaml" -o "$dir/$s.h5" >/dev/null
  "$bin" summary "$dir/$s.h5" --csv >"$dir/$s.csv"
done
check test -s "$dir/plain.csv"
check cmp "$dir/plain.csv" "$dir/newcomer.csv"
# validate names the states reached and the spend in the scenario's currency.
"$bin" validate "$dir/newcomer.yaml" >"$dir/describe.txt"
check grep -q "reaches universal, left;" "$dir/describe.txt"
check grep -q "months 6 to 18" "$dir/describe.txt"
check grep -q "spend £1,000 a month (£12,000 a year)" "$dir/describe.txt"
check grep -q "Currency: GBP" "$dir/describe.txt"

# An intervention that raises escalation: valid (status 0), with a warning on stderr naming it.
with_arm '        escalation: 1.1' >"$dir/raises.yaml"
status=0
"$bin" validate "$dir/raises.yaml" >/dev/null 2>"$dir/warn" || status=$?
check test "$status" -eq 0
check grep -q "warning: .*raises.yaml: arms.prevention.interventions.help: it makes escalation more likely" "$dir/warn"
with_arm '        escalation_change_percent: -10' >"$dir/lowers.yaml"
"$bin" validate "$dir/lowers.yaml" >/dev/null 2>"$dir/none"
check test ! -s "$dir/none"
"$bin" validate "$src/scenarios/dundee.yaml" >/dev/null 2>"$dir/dundee"
check test ! -s "$dir/dundee"

finish newcomer_keys
