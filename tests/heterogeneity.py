#!/usr/bin/env python3
"""Per-child heterogeneity (the heterogeneity section) against independent values.

A three-state model (well, ill, dead; yearly steps, a cohort and a stream of entrants) whose
well -> ill probability, state costs and QoL weights are multiplied by each child's multiplier z:

(a) flourish expect against the mixture expectation computed here
    (mpmath, 30 digits), independently of the engine: for a given z the cohort is a Markov chain with
    P(well -> ill) = min(z p, 1 - q) (the cap of an unbounded distribution), and the expected
    stocks, z-weighted stocks, costs and QALYs are integrated over z: a sum over the values of
    a discrete distribution, mpmath.quad over the density (split at the cap) otherwise. A
    discrete distribution must agree to 1e-8 (relative; the engine's probabilities are
    quantised to 2^-32); a continuous one, with the default 16 nodes, to 1e-8 where the
    quantities are polynomials in z of degree below 32 (no cap). In the capped gamma case the
    engine splits the mixture at the cap (Gauss-Legendre on the quantile function below it,
    the conditional mean above it); its error at 16 and 64 nodes must fall below the bounds in
    CAPPED_TOL. The errors with 3 nodes are printed beside them, and must be larger.
(b) flourish run: the Monte Carlo means of totals and final stocks against expect, every
    z-score (standard error from the replications) within 4.
(c) common random numbers: an arm that changes only the cost of ill moves exactly as the
    baseline, replication by replication (the multipliers drive the moves, so each child has
    the same one in both arms); a run's datasets are the same bytes with 1 and 2 threads,
    across replications and with the children of one replication split between threads, with
    the portable and the best vector pass, and after a stop and --resume.
(d) rewards counted at time points (rewards.points 0..T, trapezoid weights) weighted by the
    multipliers: expect's total cost and QALYs against the mixture computed here, point by
    point, to 1e-8, and the Monte Carlo mean cost within 4 standard errors.

    python3 tests/heterogeneity.py path/to/flourish
"""
import functools
import os
import subprocess
import sys
import tempfile

import h5py
import mpmath as mp
import numpy as np

mp.mp.dps = 30
T = 8
N0, ENTRIES = 1000, 40
P_ILL, P_DEAD_WELL = 0.1, 0.02
P_WELL, P_DEAD_ILL = 0.2, 0.1
COST = {"well": 100, "ill": 2500, "dead": 0}
QOL = {"well": 1.0, "ill": 0.6, "dead": 0.0}
STATES = ["well", "ill", "dead"]
CAPPED_TOL = {16: 2e-6, 64: 1e-8}  # relative error bounds of the capped gamma case

SCENARIO = """flourish: 1
name: heterogeneity test
time: {{step_months: 12, horizon_steps: {T}}}
levels: [well, ill, dead]
states:
  well: {{level: well, qol: 1.0, cost: {{nhs: 100}}}}
  ill:  {{level: ill, qol: 0.6, cost: {{nhs: 2500}}}}
  dead: {{level: dead, qol: 0, absorbing: true}}
costs: {{budget_holders: [nhs], per: year}}
discount: {{costs: 0, qol: 0}}
population:
  initial:
    - {{state: well, count: {N0}}}
  entries:
    new: {{per_year: {E}, states: {{well: 1}}}}
transitions:
  tables:
    - rows:
        well: {{ill: {pi}, dead: {pdw}, well: rest}}
        ill:  {{well: {pw}, dead: {pdi}, ill: rest}}
heterogeneity:
{het}  transitions:
    - {{from: well, to: ill}}
  costs: true
  qol: true
arms:
  dearer:
    states:
      ill: {{cost: {{nhs: 3000}}}}
"""


def scenario(het, p_ill=P_ILL, n0=N0):
    return SCENARIO.format(T=T, N0=n0, E=ENTRIES, pi=p_ill, pdw=P_DEAD_WELL, pw=P_WELL,
                           pdi=P_DEAD_ILL, het=het)


def chain(z, p_ill):
    """Stocks [T+1, S], z-weighted stocks, and per-step cost and QALYs of one z (exact)."""
    z = mp.mpf(z)
    pi = min(z * p_ill, 1 - mp.mpf(P_DEAD_WELL))
    x = [mp.mpf(N0), mp.mpf(0), mp.mpf(0)]
    stocks, cost, qaly = [list(x)], [], []
    for _ in range(T):
        x[0] += ENTRIES  # entrants join before the step's moves; start timing counts them
        cost.append(z * sum(x[s] * COST[STATES[s]] for s in range(3)))
        qaly.append(z * sum(x[s] * QOL[STATES[s]] for s in range(3)))
        w, i, d = x
        x = [w * (1 - pi - P_DEAD_WELL) + i * P_WELL, w * pi + i * (1 - P_WELL - P_DEAD_ILL),
             d + w * P_DEAD_WELL + i * P_DEAD_ILL]
        stocks.append(list(x))
    return stocks, cost, qaly


@functools.lru_cache(maxsize=None)
def summary(z, p_ill):
    """The quantities compared, as one vector: stocks, weighted stocks, cost, QALYs (kept for
    each z: mpmath.quad evaluates every quantity at the same points)."""
    stocks, cost, qaly = chain(z, p_ill)
    v = [s for row in stocks for s in row] + [z * s for row in stocks for s in row]
    return v + cost + qaly


def mixture(dist, p_ill):
    """E over z of summary(z): exact sums, or mpmath.quad over the density."""
    kind = dist["distribution"]
    if kind == "discrete":
        parts = [[p * c for c in summary(mp.mpf(v), p_ill)]
                 for v, p in zip(dist["values"], dist["probabilities"])]
        return [sum(col) for col in zip(*parts)]
    if kind == "uniform":
        lo, hi = mp.mpf(dist["low"]), mp.mpf(dist["high"])
        pdf, support = (lambda z: 1 / (hi - lo)), [lo, hi]
    elif kind == "gamma":
        k = mp.mpf(dist["mean"]) ** 2 / mp.mpf(dist["sd"]) ** 2
        th = mp.mpf(dist["sd"]) ** 2 / mp.mpf(dist["mean"])
        pdf = lambda z: z ** (k - 1) * mp.exp(-z / th) / (mp.gamma(k) * th ** k)
        support = [0, mp.inf]
    elif kind == "lognormal":
        s2 = mp.log(1 + mp.mpf(dist["sd"]) ** 2 / mp.mpf(dist["mean"]) ** 2)
        mu, sg = mp.log(dist["mean"]) - s2 / 2, mp.sqrt(s2)
        pdf = lambda z: mp.exp(-(mp.log(z) - mu) ** 2 / (2 * s2)) / (z * sg * mp.sqrt(2 * mp.pi))
        support = [0, mp.inf]
    else:  # beta
        m, sd = mp.mpf(dist["mean"]), mp.mpf(dist["sd"])
        nu = m * (1 - m) / sd ** 2 - 1
        a, b = m * nu, (1 - m) * nu
        pdf = lambda z: z ** (a - 1) * (1 - z) ** (b - 1) / mp.beta(a, b)
        support = [0, 1]
    cap = (1 - mp.mpf(P_DEAD_WELL)) / p_ill
    pts = [support[0]] + ([cap] if support[0] < cap < support[1] else []) + [support[1]]
    n = len(summary(mp.mpf(1), p_ill))
    return [mp.quad(lambda z, j=j: summary(z, p_ill)[j] * pdf(z), pts) for j in range(n)]


def het_yaml(dist, nodes=None):
    lines = []
    for key, val in dist.items():
        lines.append(f"  {key}: {val}")
    if nodes:
        lines.append(f"  nodes: {nodes}")
    return "\n".join(lines) + "\n"


def flourish(*args):
    r = subprocess.run([FLOURISH, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"flourish {' '.join(args)} failed ({r.returncode}): {r.stderr}")


def engine_vector(path, arm="baseline"):
    with h5py.File(path) as f:
        g = f["arms/" + arm]
        stocks = g["stocks"][()].reshape(-1)
        weighted = g["heterogeneity/weighted_stocks"][()].reshape(-1)
        return np.concatenate([stocks, weighted, g["costs"][()].reshape(-1),
                               g["qol"][()].reshape(-1)])


def expect(work, name, dist, p_ill=P_ILL, nodes=None):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write(scenario(het_yaml(dist, nodes), p_ill))
    out = os.path.join(work, f"{name}_{nodes}.h5")
    flourish("expect", path, "-o", out)
    return path, engine_vector(out)


def same_bytes(x, y):
    """Numeric arrays: the same bytes; names (object arrays): the same values."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "O" or y.dtype.kind == "O":
        return x.shape == y.shape and list(x.ravel()) == list(y.ravel())
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def rel_error(got, want):
    want = np.array([float(w) for w in want])
    return float(np.max(np.abs(got - want) / np.maximum(np.abs(want), 1.0)))


CASES = [
    ("discrete", {"distribution": "discrete", "values": "[0.25, 1, 2.5]",
                  "probabilities": "[0.3, 0.5, 0.2]"}, P_ILL),
    ("uniform", {"distribution": "uniform", "low": 0.5, "high": 1.5}, P_ILL),
    ("gamma", {"distribution": "gamma", "mean": 1, "sd": 0.5}, P_ILL),
    ("lognormal", {"distribution": "lognormal", "mean": 1, "sd": 0.4}, P_ILL),
    ("beta", {"distribution": "beta", "mean": 0.6, "sd": 0.2}, P_ILL),
    # A gamma multiplier that fills the well row (capped above z = 0.98 / 0.3, about 5.6% of
    # children): the quantities have a kink there, so the Gauss rule converges slowly.
    ("gamma_capped", {"distribution": "gamma", "mean": 1, "sd": 1.2}, 0.3),
]


def parse_list(text):
    return [mp.mpf(x) for x in text.strip("[]").split(",")]


def main():
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        print("(a) expect against the independent mixture (largest relative error):")
        paths = {}
        for name, dist, p_ill in CASES:
            ref_dist = dict(dist)
            if name == "discrete":
                ref_dist = {"distribution": "discrete", "values": parse_list(dist["values"]),
                            "probabilities": parse_list(dist["probabilities"])}
            want = mixture(ref_dist, p_ill)
            errs = {}
            for nodes in ([None] if name == "discrete" else [3, 16, 64]):
                path, got = expect(work, name, dist, p_ill, nodes)
                errs[nodes] = rel_error(got, want)
            paths[name] = (path, p_ill)
            print(f"  {name:13s} " + ", ".join(f"{'exact' if k is None else f'{k} nodes'}: "
                                              f"{v:.3g}" for k, v in errs.items()))
            if name == "discrete" or name != "gamma_capped":
                key = None if name == "discrete" else 16
                if not errs[key] < 1e-8:
                    print(f"FAIL: {name}: relative error {errs[key]:.3g} above 1e-8")
                    failures += 1
            else:
                for nodes, tol in CAPPED_TOL.items():
                    if not errs[nodes] < tol:
                        print(f"FAIL: {name}: {nodes} nodes, relative error {errs[nodes]:.3g} "
                              f"above {tol}")
                        failures += 1
            if name != "discrete" and not errs[3] > errs[16] * 0.999:
                print(f"FAIL: {name}: 16 nodes no better than 3")
                failures += 1

        print("(b) Monte Carlo means against expect (largest |z| of totals and final stocks):")
        R = 300
        for name, _, _ in CASES:
            path, _ = paths[name]
            nodes = "64" if name == "gamma_capped" else "16"
            e_out, r_out = os.path.join(work, name + "_e.h5"), os.path.join(work, name + "_r.h5")
            flourish("expect", path, "-o", e_out, "--set", "heterogeneity.nodes=" + nodes)
            flourish("run", path, "-o", r_out, "-q", "-r", str(R), "-s", "11", "-t", "2",
                     "--set", "heterogeneity.nodes=" + nodes)
            zmax = 0.0
            with h5py.File(e_out) as fe, h5py.File(r_out) as fr:
                for arm in ("baseline", "dearer"):
                    ge, gr = fe["arms/" + arm], fr["arms/" + arm]
                    quantities = [
                        (ge["costs"][()].sum(), gr["costs"][()].sum(axis=(1, 2))),
                        (ge["qol"][()].sum(), gr["qol"][()].sum(axis=1)),
                    ]
                    for s in range(3):
                        quantities.append((ge["stocks"][()][T, s], gr["stocks"][()][:, T, s]))
                        quantities.append((ge["heterogeneity/weighted_stocks"][()][T, s],
                                           gr["heterogeneity/weighted_stocks"][()][:, T, s]))
                    for ev, reps in quantities:
                        se = reps.std(ddof=1) / np.sqrt(R)
                        if se > 0:
                            zmax = max(zmax, abs(reps.mean() - ev) / se)
            print(f"  {name:13s} max |z| = {zmax:.2f}")
            if not zmax <= 4:
                print(f"FAIL: {name}: a Monte Carlo mean {zmax:.2f} standard errors from expect")
                failures += 1

        print("(c) common random numbers and threads:")
        path, _ = paths["gamma"]
        out = os.path.join(work, "crn.h5")
        flourish("run", path, "-o", out, "-q", "-r", "20", "-s", "5")
        with h5py.File(out) as f:
            same = all(np.array_equal(f["arms/baseline/" + k][()], f["arms/dearer/" + k][()])
                       for k in ("stocks", "flows", "exits", "heterogeneity/weighted_stocks"))
            differ = not np.array_equal(f["arms/baseline/costs"][()], f["arms/dearer/costs"][()])
        print(f"  arms move alike: {same}; their costs differ: {differ}")
        if not (same and differ):
            failures += 1
            print("FAIL: the arms do not share the children's multipliers")
        # gamma (every child of a row with a chosen move is an event) and uniform (only those
        # whose draw is above the row's staying threshold for the largest multiplier).
        for name, dist, _ in (CASES[2], CASES[1]):
            big = os.path.join(work, f"big_{name}.yaml")
            with open(big, "w") as f:
                f.write(scenario(het_yaml(dist), P_ILL, n0=24000))
            for reps, a_opts, b_opts, what in (
                    ("1", ["-t", "1"], ["-t", "2"], "1 against 2 threads"),
                    ("4", ["-t", "1"], ["-t", "2"], "1 against 2 threads"),
                    ("2", ["--pass", "scalar"], ["--pass", "auto"], "portable against best pass")):
                files = []
                for opts in (a_opts, b_opts):
                    files.append(os.path.join(work, f"{name}_{reps}_{len(files)}.h5"))
                    flourish("run", big, "-o", files[-1], "-q", "-r", reps, "-s", "9", *opts)
                with h5py.File(files[0]) as a, h5py.File(files[1]) as b:
                    names = []
                    a.visititems(lambda n, o: names.append(n)
                                 if isinstance(o, h5py.Dataset) else None)
                    diff = [n for n in names if not same_bytes(a[n][()], b[n][()])]
                print(f"  {name}, {reps} replication(s), {what}: {len(names)} datasets, "
                      f"{len(diff)} differ")
                if diff or not names:
                    failures += 1
                    print("FAIL: datasets differ: " + ", ".join(diff[:5]))
        # A run stopped after 5 of 12 replications and resumed from its checkpoint.
        ref, res = os.path.join(work, "ref.h5"), os.path.join(work, "resumed.h5")
        flourish("run", path, "-o", ref, "-q", "-r", "12", "-s", "3")
        stopped = subprocess.run([FLOURISH, "run", path, "-o", res, "-q", "-r", "12", "-s", "3",
                                  "-t", "2", "--checkpoint"], capture_output=True,
                                 env=dict(os.environ, FLOURISH_CRASH_AFTER_REPS="5"))
        flourish("run", path, "-o", res, "-q", "-r", "12", "-s", "3", "-t", "1", "--resume")
        with h5py.File(ref) as a, h5py.File(res) as b:
            names = []
            a["arms"].visititems(lambda n, o: names.append("arms/" + n)
                                 if isinstance(o, h5py.Dataset) else None)
            diff = [n for n in names if not same_bytes(a[n][()], b[n][()])]
        print(f"  stopped ({stopped.returncode}) and resumed: {len(names)} datasets, "
              f"{len(diff)} differ")
        if stopped.returncode != 137 or diff:
            failures += 1
            print("FAIL: the resumed run differs: " + ", ".join(diff[:5]))
        # (d) Multipliers weighting the rewards counted at time points (rewards.points 0..T,
        # trapezoid weights): the total cost and QALYs of a discrete mixture, computed here
        # from the exact chain, point by point (a point u < T counts the step's entrants).
        print("(d) rewards at time points (0..T, trapezoid) weighted by the multipliers:")
        values, probs = [0.25, 1, 2.5], [0.3, 0.5, 0.2]
        want_c = want_q = mp.mpf(0)
        for v, pr in zip(values, probs):
            stocks, _, _ = chain(mp.mpf(v), P_ILL)
            for u in range(T + 1):
                x = list(stocks[u])
                if u < T:
                    x[0] += ENTRIES
                w = mp.mpf(0.5) if u in (0, T) else 1
                want_c += pr * w * v * sum(x[s] * COST[STATES[s]] for s in range(3))
                want_q += pr * w * v * sum(x[s] * QOL[STATES[s]] for s in range(3))
        dist = {"distribution": "discrete", "values": str(values), "probabilities": str(probs)}
        pts = os.path.join(work, "points.yaml")
        with open(pts, "w") as f:
            f.write(scenario(het_yaml(dist), P_ILL).replace(
                "discount:", "rewards: {points: 0..T, weights: trapezoid}\ndiscount:"))
        e_out, r_out = os.path.join(work, "points_e.h5"), os.path.join(work, "points_r.h5")
        flourish("expect", pts, "-o", e_out)
        flourish("run", pts, "-o", r_out, "-q", "-r", "300", "-s", "13", "-t", "2")
        with h5py.File(e_out) as fe, h5py.File(r_out) as fr:
            got_c, got_q = fe["arms/baseline/costs"][()].sum(), fe["arms/baseline/qol"][()].sum()
            err = max(rel_error(np.array([got_c]), [want_c]), rel_error(np.array([got_q]), [want_q]))
            reps = fr["arms/baseline/costs"][()].sum(axis=(1, 2))
            z = abs(reps.mean() - got_c) / (reps.std(ddof=1) / np.sqrt(len(reps)))
        print(f"  expect against the mixture: relative error {err:.3g}; Monte Carlo cost |z| = {z:.2f}")
        if not (err < 1e-8 and z <= 4):
            failures += 1
            print("FAIL: weighted rewards at time points")
    if failures:
        sys.exit(f"{failures} failure(s)")
    print("all passed")


if __name__ == "__main__":
    FLOURISH = sys.argv[1]
    main()
