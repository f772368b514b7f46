#!/usr/bin/env bash
# The Monte Carlo standard errors a sweep gives its sensitivity measures are right: the same
# sweep (same design) with many seeds spreads its main-effect ranges, partial rank
# correlations and total Sobol indices as their MCSEs say. With N seeds, (N - 1) s^2 / MCSE^2 follows a chi-square
# law with N - 1 degrees of freedom; each tested measure must fall inside its two-sided
# 1e-4 / (number of measures) interval (Wilson-Hilferty quantiles). Near +-1 a correlation's
# or an index's bootstrap MCSE is conservative (the resampled values are skewed against the
# bound), so there only the upper end is tested: the MCSE must not understate the spread.
# Arguments: the flourish binary, the source directory, the Python interpreter.
set -euo pipefail
bin=$1 src=$2 python=$3
# shellcheck source=tests/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

check "$python" - "$bin" "$src/scenarios/examples/semi_markov.yaml" "$dir" <<'PY'
import math, subprocess, sys
import h5py, numpy as np

binary, scenario, tmp = sys.argv[1:4]
N = 40  # seeds
esc, cost = "localities.north.escalation_multiplier", "states.high.cost.council"
ok = True


def sweep(seed, design):
    out = "%s/s%d.h5" % (tmp, seed)
    cmd = [binary, "sweep", scenario, "-o", out, "-r", "30", "-s", str(seed), "-q", "-t", "2"]
    if design == "grid":
        cmd += ["--param", esc + "=1.0:1.6:2", "--param", cost + "=600:1200:2"]
    elif design == "saltelli":  # nor do Saltelli's: the indices' spread is the replications'
        cmd += ["--design", "saltelli", "--points", "8", "--param", esc + "=1.0:1.02",
                "--param", "states.mid.qol=0.799:0.801"]
    else:  # Sobol points do not depend on the seed: only the replications change. Small
        # effects, so that chance reorders the points and the correlations vary.
        cmd += ["--design", "sobol", "--points", "16", "--param", esc + "=1.0:1.02",
                "--param", "states.mid.qol=0.799:0.801", "--param", cost + "=890:910"]
    subprocess.run(cmd, check=True)
    return h5py.File(out, "r")


def norm_ppf(p):  # Acklam's rational approximation is more than we need: bisection on erf
    lo, hi = -10.0, 10.0
    for _ in range(200):
        mid = (lo + hi) / 2
        if 0.5 * (1 + math.erf(mid / math.sqrt(2))) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def chi2_ppf(p, k):  # Wilson-Hilferty
    z = norm_ppf(p)
    return k * (1 - 2 / (9 * k) + z * math.sqrt(2 / (9 * k))) ** 3


def test(design, measure, names):
    global ok
    est, se = {}, {}
    for seed in range(1, N + 1):
        f = sweep(seed, design)
        for n in names:
            base = "sensitivity/arms/baseline/%s/" % n
            est.setdefault(n, []).append(f[base + measure][()])
            se.setdefault(n, []).append(f[base + measure + "_mcse"][()])
    tested = [(n, k) for n in names for k in range(len(est[n][0]))
              if np.mean(np.array(se[n])[:, k]) > 0]
    alpha = 1e-4 / len(tested)
    lo, hi = chi2_ppf(alpha / 2, N - 1), chi2_ppf(1 - alpha / 2, N - 1)
    for n, k in tested:
        e, s = np.array(est[n])[:, k], np.array(se[n])[:, k]
        stat = (N - 1) * e.var(ddof=1) / np.mean(s ** 2)
        near_bound = measure != "main_effect_range" and abs(e.mean()) > 0.9
        good = (near_bound or lo <= stat) and stat <= hi
        ok &= good
        print("%s %s %s[%d] = %.3g: sd over seeds %.4g, MCSE %.4g, chi2 %.1f in [%s, %.1f]%s"
              % (design, n, measure, k, e.mean(), e.std(ddof=1), np.sqrt(np.mean(s ** 2)), stat,
                 "-" if near_bound else "%.1f" % lo, hi, "" if good else "  FAILED"))
    # A parameter without effect: exactly zero, with zero error (QoL ignores the cost).
    if design == "grid":
        z = np.array(est["qalys_discounted"])[:, 1], np.array(se["qalys_discounted"])[:, 1]
        good = np.all(z[0] == 0) and np.all(z[1] == 0)
        ok &= good
        print("grid: a cost has no effect on QALYs: %s" % ("exactly 0" if good else "FAILED"))


test("grid", "main_effect_range", ["cost_discounted", "qalys_discounted"])
test("sobol", "prcc", ["cost_discounted", "qalys_discounted"])
test("saltelli", "sobol_total", ["qalys_discounted"])
sys.exit(0 if ok else 1)
PY
finish sweep_mcse
