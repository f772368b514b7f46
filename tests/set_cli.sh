#!/usr/bin/env bash
# --set PATH=VALUE: a run, expect or validate with a value set on the command line equals the
# same command on a copy of the file edited by hand, byte for byte in every dataset, whether
# the value replaces one in the file or adds a key the file leaves at its default; the
# assignments are recorded in the output; bad paths and bad values give status 2 with a message
# naming the assignment; a checkpoint of a run with other assignments is not resumed.
# Arguments: the flourish binary, the source directory.
set -euo pipefail
bin=$1 src=$2
scenario=$src/scenarios/dundee.yaml
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
same() { h5diff "$1" "$2" /arms /arms && h5diff "$1" "$2" /comparisons /comparisons; }
differ() { ! same "$1" "$2" >/dev/null 2>&1; }

# The first arm's escalation multiplier (line "escalation: 0.90" under
# arms.community_city.interventions.community), changed to 0.80, and a decay that the file
# does not set, added after it.
path=arms.community_city.interventions.community
awk '!done && /^        escalation: 0.90/ { print "        escalation: 0.80"; print "        decay_months: 36"; done = 1; next } { print }' \
  "$scenario" >"$dir/edited.yaml"
check test "$(diff "$scenario" "$dir/edited.yaml" | grep -c '^>')" -eq 2

"$bin" run "$scenario" -o "$dir/plain.h5" -r 16 -s 9 -q
"$bin" run "$dir/edited.yaml" -o "$dir/edited.h5" -r 16 -s 9 -q
"$bin" run "$scenario" -o "$dir/set.h5" -r 16 -s 9 -q -t 2 \
  --set "$path.escalation=0.80" --set "$path.decay_months=36"
check same "$dir/edited.h5" "$dir/set.h5"
check differ "$dir/plain.h5" "$dir/set.h5"
check bash -c "h5dump -a /scenario_overrides '$dir/set.h5' | grep -q 'decay_months=36'"

"$bin" expect "$dir/edited.yaml" -o "$dir/edited_e.h5" >/dev/null
"$bin" expect "$scenario" -o "$dir/set_e.h5" --set "$path.escalation=0.80" \
  --set "$path.decay_months=36" >/dev/null
check same "$dir/edited_e.h5" "$dir/set_e.h5"

# validate describes the changed value.
check bash -c "'$bin' validate '$scenario' --set '$path.escalation=0.7' | grep -q 'escalation x0.7'"

# An arm's own rewards and rows are values like any other: --set reaches them (here the QoL of
# illness and a death rate in the treated arm of the rates example), and validate shows them.
rates=$src/scenarios/examples/rates_yearly.yaml
sed -e 's/^      ill: {qol: 0.7, cost: {nhs: 4000}}/      ill: {qol: 0.8, cost: {nhs: 4000}}/' \
  -e 's/^            ill: {well: 0.30, dead: 0.06}/            ill: {well: 0.30, dead: 0.03}/' \
  "$rates" >"$dir/rates_edited.yaml"
check test "$(diff "$rates" "$dir/rates_edited.yaml" | grep -c '^>')" -eq 2
arm=arms.treated
"$bin" run "$dir/rates_edited.yaml" -o "$dir/rates_edited.h5" -r 8 -s 5 -q
"$bin" run "$rates" -o "$dir/rates_set.h5" -r 8 -s 5 -q --set "$arm.states.ill.qol=0.8" \
  --set "$arm.transitions.tables[0].rows.ill.dead=0.03"
check same "$dir/rates_edited.h5" "$dir/rates_set.h5"
"$bin" expect "$dir/rates_edited.yaml" -o "$dir/rates_edited_e.h5" >/dev/null
"$bin" expect "$rates" -o "$dir/rates_set_e.h5" --set "$arm.states.ill.qol=0.8" \
  --set "$arm.transitions.tables[0].rows.ill.dead=0.03" >/dev/null
check same "$dir/rates_edited_e.h5" "$dir/rates_set_e.h5"
check bash -c "'$bin' validate '$rates' --set '$arm.states.ill.qol=0.8' | \
  grep -q \"state 'ill': QoL 0.800 (scenario 0.600)\""

# Bad assignments: status 2, the assignment named, no output.
bad() {
  local want=$1 status=0
  shift
  "$bin" run "$scenario" -o "$dir/bad.h5" -r 2 -q "$@" 2>"$dir/err" || status=$?
  [ "$status" -eq 2 ] && grep -q -- "$want" "$dir/err" && [ ! -e "$dir/bad.h5" ] ||
    { cat "$dir/err"; return 1; }
}
check bad "flourish: --set $path.escalation=abc: $path.escalation: expected a number" \
  --set "$path.escalation=abc"
check bad "unknown key" --set "$path.escalaton=0.8"
check bad "arms has no key 'nope'" --set arms.nope.escalation=1
check bad "is a mapping" --set "$path=1"
check bad "has no item \[7\]" --set "transitions.tables[7].rows=1"
check bad "expected PATH=VALUE" --set time.horizon_steps
check bad "expected PATH=VALUE" --set =3
check bad "expected a sequence index" --set "levels[-1]=x"
# The later of two assignments to one path is the one in force, and the one an error names.
check bad "flourish: --set discount.costs=abc:" --set discount.costs=0.5 --set discount.costs=abc

# A checkpoint belongs to its assignments.
FLOURISH_CRASH_AFTER_REPS=2 "$bin" run "$scenario" -o "$dir/c.h5" -r 6 -s 3 -q --checkpoint \
  --set "$path.escalation=0.8" || true
status=0
"$bin" run "$scenario" -o "$dir/c.h5" -r 6 -s 3 -q --resume --set "$path.escalation=0.7" \
  2>"$dir/err" || status=$?
check test "$status" -eq 2
check grep -q "different run" "$dir/err"

finish set_cli
