#!/usr/bin/env bash
# flourish sweep through the command line: a grid over an arm's escalation multiplier and the
# universal level's QoL weight. A point equals the plain run with the same --set options bit
# for bit; the QoL weight has exactly zero effect on costs (main-effect range 0) while the
# multiplier has one; the file does not depend on the thread count; a Latin hypercube gives
# partial rank correlations in [-1, 1], near 1 for the multiplier (cost rises with it) and 0
# for the QoL weight; bad parameters give status 2 and no file.
# Arguments: the flourish binary, the source directory, the Python interpreter.
set -euo pipefail
bin=$1 src=$2 python=$3
scenario=$src/scenarios/dundee.yaml
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

esc=arms.community_city.interventions.community.escalation
qol=states.universal.qol
"$bin" sweep "$scenario" -o "$dir/grid.h5" --param "$esc=0.8:1.0:2" --param "$qol=0.8:0.9:2" \
  -r 8 -s 4 -q -t 1
"$bin" sweep "$scenario" -o "$dir/grid2.h5" --param "$esc=0.8:1.0:2" --param "$qol=0.8:0.9:2" \
  -r 8 -s 4 -q -t 2
# Every dataset (the root's attributes hold the date and command line, which differ).
same() { for g in /arms /comparisons /sensitivity /values; do h5diff "$1" "$2" $g $g || return 1; done; }
check same "$dir/grid.h5" "$dir/grid2.h5"
# Point 1 of the grid is (0.8, 0.9): the last parameter varies fastest.
"$bin" run "$scenario" -o "$dir/point.h5" -r 8 -s 4 -q --set "$esc=0.8" --set "$qol=0.9"

check "$python" - "$dir/grid.h5" "$dir/point.h5" <<'PY'
import sys, h5py, numpy as np
g, p = h5py.File(sys.argv[1], "r"), h5py.File(sys.argv[2], "r")
ok = True
def want(cond, what):
    global ok
    if not cond:
        print("FAILED:", what); ok = False
want([x.decode() for x in g["parameters"][()]] ==
     ["arms.community_city.interventions.community.escalation", "states.universal.qol"],
     "parameter names")
want(np.array_equal(g["values"][1], [0.8, 0.9]), "point 1 is (0.8, 0.9)")
for name in ("delta_cost_total", "delta_qaly_total"):
    s = g["comparisons/community_city/" + name][1]
    r = p["comparisons/community_city/summary/%s/mean" % name][()]
    want(s == r, "%s at point 1: sweep %r, run %r (must be equal bit for bit)" % (name, s, r))
    s = g["comparisons/community_city/%s_mcse" % name][1]
    r = p["comparisons/community_city/summary/%s/mcse" % name][()]
    want(s == r, "%s mcse at point 1" % name)
end = p["arms/community_city/summary/stocks_by_level/mean"][-1]
want(np.array_equal(g["arms/community_city/children_end"][1], end), "children at the end")
rng = g["sensitivity/comparisons/community_city/delta_cost_total/main_effect_range"][()]
want(rng[1] == 0.0, "QoL weight has no effect on cost: range %r" % rng[1])
want(rng[0] > 0.0, "escalation changes cost: range %r" % rng[0])
rq = g["sensitivity/comparisons/community_city/delta_qaly_total/main_effect_range"][()]
want(rq[1] > 0.0, "QoL weight changes QALYs")
base = g["sensitivity/arms/baseline/cost_discounted/main_effect_range"][()]
want(np.all(base == 0.0), "the baseline ignores an arm's multiplier and QoL: %r" % base)
sys.exit(0 if ok else 1)
PY

"$bin" sweep "$scenario" -o "$dir/lhs.h5" --param "$esc=0.7:1.0" --param "$qol=0.8:0.9" \
  --design lhs --points 8 -r 2 -q
check "$python" -c "
import sys, h5py, numpy as np
f = h5py.File('$dir/lhs.h5', 'r')
r = f['sensitivity/comparisons/community_city/delta_cost_total/prcc'][()]
assert f['values'].shape == (8, 2) and f['design'][0] == b'latin_hypercube', 'layout'
assert np.all(np.abs(r) <= 1) and r[0] > 0.9 and r[1] == 0, r
"

bad() {
  local want=$1 status=0
  shift
  "$bin" sweep "$scenario" -o "$dir/bad.h5" -r 2 -q "$@" 2>"$dir/err" || status=$?
  [ "$status" -eq 2 ] && grep -q -- "$want" "$dir/err" && [ ! -e "$dir/bad.h5" ] ||
    { echo "status $status"; cat "$dir/err"; return 1; }
}
check bad "give at least one --param"
check bad "expected PATH=LO:HI" --param "$esc"
check bad "LO <= HI" --param "$esc=1:0.5"
check bad "at sweep point 0" --param "arms.nope.escalation=0:1:2"
check bad "expected grid, lhs or sobol" --param "$esc=0:1" --design random
check bad "set the same value" --param "$esc=0.8:1:2" --param "$esc=0.9:0.9:1"
check bad "set the same value" --param "$esc=0.8:1:2" --set "$esc=0.9"

finish sweep_cli
