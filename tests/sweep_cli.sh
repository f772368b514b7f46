#!/usr/bin/env bash
# flourish sweep through the command line: a grid over an arm's escalation multiplier and the
# universal level's QoL weight. A point equals the plain run with the same --set options bit
# for bit; the QoL weight has exactly zero effect on costs (main-effect range 0) while the
# multiplier has one; the file does not depend on the thread count; a Latin hypercube gives
# partial rank correlations in [-1, 1], near 1 for the multiplier (cost rises with it) and 0
# for the QoL weight, with Monte Carlo errors; an interrupted sweep resumes to the same file;
# bad parameters give status 2 and no file.
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
same() { for g in /arms /axes /comparisons /sensitivity /values; do h5diff "$1" "$2" $g $g || return 1; done; }
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
# A dimension per parameter, labelled by a dimension scale holding its values.
d = g["comparisons/community_city/delta_cost_total"]
want(d.shape == (2, 2), "one dimension per parameter: %r" % (d.shape,))
for k, path in enumerate(["arms.community_city.interventions.community.escalation",
                          "states.universal.qol"]):
    want(list(d.dims[k].keys()) == [path], "dimension %d is labelled %r" % (k, path))
    want(np.array_equal(d.dims[k][0][()], np.unique(g["values"][:, k])), "axis %d values" % k)
want(g["arms/community_city/children_end"].shape == (2, 2, 4), "children: a trailing level axis")
for name in ("delta_cost_total", "delta_qaly_total"):
    s = g["comparisons/community_city/" + name][0, 1]
    r = p["comparisons/community_city/summary/%s/mean" % name][()]
    want(s == r, "%s at point 1: sweep %r, run %r (must be equal bit for bit)" % (name, s, r))
    s = g["comparisons/community_city/%s_mcse" % name][0, 1]
    r = p["comparisons/community_city/summary/%s/mcse" % name][()]
    want(s == r, "%s mcse at point 1" % name)
end = p["arms/community_city/summary/stocks_by_level/mean"][-1]
want(np.array_equal(g["arms/community_city/children_end"][0, 1], end), "children at the end")
sens = "sensitivity/comparisons/community_city/delta_cost_total/"
rng, rse = g[sens + "main_effect_range"][()], g[sens + "main_effect_range_mcse"][()]
want(rng[1] == 0.0 and rse[1] == 0.0, "QoL weight has no effect on cost: %r ± %r" % (rng[1], rse[1]))
want(rng[0] > 0.0 and rse[0] > 0.0, "escalation changes cost: %r ± %r" % (rng[0], rse[0]))
# The MCSE of the range is that of the paired difference between the two escalation values
# (each averaged over the QoL weight), recomputed from the runs of those points.
want(np.isclose(rng[0], abs(d[1].mean() - d[0].mean()), rtol=1e-12, atol=0), "range = |mean diff|")
# Where the savings land, per point: the budget holders' shares add up to the net cost; the
# trajectory of children by level ends at children_end.
by = g["comparisons/community_city/delta_cost_by_holder"][()]
want(by.shape == (2, 2, 6) and np.allclose(by.sum(axis=2), d[()], rtol=1e-12, atol=1e-3),
     "net cost by budget holder adds up to the net cost")
traj = g["arms/community_city/children_by_level"]
want(traj.shape == (2, 2, 121, 4) and np.array_equal(traj[:, :, -1, :],
     g["arms/community_city/children_end"][()]), "the trajectory ends at children_end")
two = g[sens + "two_way_0_1"][()]
want(np.array_equal(two, d[()]), "with two parameters, the two-way table is the grid itself")
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
s = 'sensitivity/comparisons/community_city/delta_cost_total/'
r, mc, se = f[s + 'prcc'][()], f[s + 'prcc_mcse'][()], f[s + 'prcc_se_points'][()]
assert f['values'].shape == (8, 2) and f['design'][0] == b'latin_hypercube', 'layout'
assert f['comparisons/community_city/delta_cost_total'].shape == (8,), 'one point dimension'
assert np.all(np.abs(r) <= 1) and r[0] > 0.9 and r[1] == 0, r
assert np.all(mc >= 0) and mc[1] == 0, mc
assert np.allclose(se, (1 - r ** 2) / np.sqrt(8 - 2 - 2)), se
"

# Saltelli's design: the QoL weight has no effect on costs, so its Sobol indices are exactly 0
# with zero errors, and the multiplier's are 1 in truth: the estimates must be within four of
# their reported standard errors (base rows and replications) of 1. The report and the summary
# read the file.
"$bin" sweep "$scenario" -o "$dir/saltelli.h5" --param "$esc=0.7:1.0" --param "$qol=0.8:0.9" \
  --design saltelli --points 8 -r 3 -q
check "$python" -c "
import h5py, numpy as np
f = h5py.File('$dir/saltelli.h5', 'r')
s = 'sensitivity/comparisons/community_city/delta_cost_total/'
assert f['values'].shape == (32, 2) and f['design'][0] == b'saltelli', 'layout'
for name in ('sobol_first', 'sobol_total'):
    v, mc, se = (f[s + name + x][()] for x in ('', '_mcse', '_se_points'))
    assert v[1] == 0 and mc[1] == 0 and se[1] == 0, (name, v, mc, se)
    assert abs(v[0] - 1) < 4 * (mc[0] + se[0]), (name, v, mc, se)
"
check "$bin" report "$dir/saltelli.h5" -o "$dir/saltelli.html"
check grep -q "total Sobol index" "$dir/saltelli.html"
"$bin" summary "$dir/saltelli.h5" >"$dir/saltelli.txt"
check grep -q "sobol_total" "$dir/saltelli.txt"

# flourish summary reads a sweep: text with the sensitivity table, and a CSV whose numbers are
# the file's.
check "$bin" summary "$dir/grid.h5" >"$dir/summary.txt"
check grep -q "Sensitivity: main-effect range" "$dir/summary.txt"
"$bin" summary --csv "$dir/grid.h5" >"$dir/summary.csv"
check "$python" - "$dir/grid.h5" "$dir/summary.csv" <<'PY'
import csv, sys, h5py, numpy as np
f = h5py.File(sys.argv[1], "r")
rows = list(csv.DictReader(open(sys.argv[2])))
n = 0
for r in rows:
    if r["section"] == "point":
        d = f["comparisons/%s/%s" % (r["arm"], r["result"])][()].reshape(-1)
        m = f["comparisons/%s/%s_mcse" % (r["arm"], r["result"])][()].reshape(-1)
        p = int(r["point"])
        vals = [float(x) for x in r["parameters"].split(";")]
        assert np.allclose(vals, f["values"][p], rtol=1e-9), r
        assert np.isclose(float(r["value"]), d[p], rtol=1e-9, atol=1e-6), r
        assert np.isclose(float(r["mcse"]), m[p], rtol=1e-9, atol=1e-9), r
    else:
        assert r["section"] == "main_effect_range", r
        k = [x.decode() for x in f["parameters"][()]].index(r["parameters"])
        base = "sensitivity/comparisons/%s/%s/main_effect_range" % (r["arm"], r["result"])
        assert np.isclose(float(r["value"]), f[base][k], rtol=1e-9, atol=1e-6), r
        assert np.isclose(float(r["mcse"]), f[base + "_mcse"][k], rtol=1e-9, atol=1e-9), r
    n += 1
assert n == 3 * 2 * 4 + 3 * 2 * 2, n
print("sweep summary agrees with the file on %d rows" % n)
PY

# Resumable: stopped after two of four points were stored, then resumed (on one thread, with the
# portable inner loop), the sweep writes what an uninterrupted sweep writes; the checkpoint goes
# when the output is complete.
status=0
FLOURISH_CRASH_AFTER_POINTS=2 "$bin" sweep "$scenario" -o "$dir/resumed.h5" \
  --param "$esc=0.8:1.0:2" --param "$qol=0.8:0.9:2" -r 8 -s 4 -q -t 2 --checkpoint || status=$?
check test "$status" -eq 137
check test ! -e "$dir/resumed.h5"
check test -s "$dir/resumed.h5.ckpt"
"$bin" sweep "$scenario" -o "$dir/resumed.h5" --param "$esc=0.8:1.0:2" --param "$qol=0.8:0.9:2" \
  -r 8 -s 4 -q -t 1 --pass scalar --resume
check same "$dir/grid.h5" "$dir/resumed.h5"
check test ! -e "$dir/resumed.h5.ckpt"
# A checkpoint of another sweep (here another seed) is refused.
FLOURISH_CRASH_AFTER_POINTS=1 "$bin" sweep "$scenario" -o "$dir/other.h5" \
  --param "$esc=0.8:1.0:2" -r 4 -s 4 -q --checkpoint || true
status=0
"$bin" sweep "$scenario" -o "$dir/other.h5" --param "$esc=0.8:1.0:2" -r 4 -s 5 -q --resume \
  2>"$dir/err" || status=$?
check test "$status" -eq 2
check grep -q "different sweep" "$dir/err"
check test ! -e "$dir/other.h5"

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
check bad "expected grid, lhs, sobol or saltelli" --param "$esc=0:1" --design random
check bad "expected auto, scalar, avx2 or avx512" --param "$esc=0:1" --pass sse
check bad "at most 20 parameters" --design saltelli $(for k in $(seq 1 21); do printf -- '--param p%d=0:1 ' "$k"; done)
check bad "set the same value" --param "$esc=0.8:1:2" --param "$esc=0.9:0.9:1"
check bad "at most 6 parameters" --param a=0:1:1 --param b=0:1:1 --param c=0:1:1 \
  --param d=0:1:1 --param e=0:1:1 --param f=0:1:1 --param g=0:1:1
check bad "set the same value" --param "$esc=0.8:1:2" --set "$esc=0.9"

finish sweep_cli
