#!/usr/bin/env python3
"""State costs and QoL weights by age and by time in state (states.*.cost_by_age,
cost_by_time_in_state, qol_by_age, qol_by_time_in_state) against an independent computation
with mpmath, and the Monte Carlo mean against expectation mode.

The model: children in 'well' and 'sick' (and 'dead', absorbing), yearly steps, leaving at 12
years, an initial population spread over ages and times in state and entrants of ages 0 and 1.
Its probabilities are multiples of 2^-10, which the engine's 2^-32 thresholds hold exactly. The
reference propagates the distribution over (state, age, time in state) exactly (mpmath, 40
digits), counts at every time point what each child costs and weighs at its age and time in
state, and applies each reward convention (rewards.timing start, end, half_cycle, simpson, and
rewards.points 0..T with trapezoid weights) and the discounting itself. Expectation mode's total
discounted costs (by budget holder) and QALYs must agree to 1e-9 relative; the Monte Carlo mean
of 300 replications within 4 standard errors; a run's datasets the same bytes for 1 and 2
threads, across replications and within one, and after a stop and --resume. Also: an arm's
scalar override replaces a vector, and under --psa a draw scales the vector by draw / mean (the
Monte Carlo mean over draws of mean 1 against expectation mode, within 4 standard errors); and
a discrete heterogeneity multiplier on a move and on the rewards against the mpmath mixture of
its sub-cohorts.

The shipped example scenarios/examples/foster_allowances.yaml (Dundee's allowances by age, from
a CSV file): its first step's expected council cost against the hand-computed one, its Monte
Carlo mean against expectation mode.

Usage: rewards_reference.py FLOURISH SOURCE_DIR
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from mpmath import mp, mpf

mp.dps = 40

T = 9
MAX_AGE = 12
DISC_C, DISC_Q = mpf("0.035"), mpf("0.015")
# age-dependent cost of 'sick' to holder h (ages 0..11), and of 'well' to g by time in state
SICK_H = [120, 120, 150, 150, 150, 180, 180, 200, 200, 200, 260, 260]
WELL_G_TIS = [40, 25, 10]  # years in state 0, 1, 2+ (from a file)
WELL_QOL_AGE = [0.9, 0.9, 0.92, 0.94, 0.95, 0.95, 0.96, 0.97, 0.97, 0.98, 0.98, 0.99]
SICK_QOL_TIS = [0.5, 0.625, 0.75]  # years since onset 0, 1, 2+
SICK_G = 30  # by state
P = {"well": {"sick": mpf(128) / 1024, "dead": mpf(16) / 1024},
     "sick": {"well": mpf(256) / 1024, "dead": mpf(64) / 1024}}
# (state, count, ages, times in state: first and last, in years, ranges [lo, hi) in the scenario)
INIT = [("well", 600, (2, 6), (0, 2)), ("sick", 300, (3, 5), (0, 1))]
ENTRY = 80  # a year, ages 0-1, into 'well'


def scenario(rewards, arms="", unc=""):
    return f"""flourish: 1
name: rewards by age and time in state
time: {{step_months: 12, horizon_steps: {T}}}
levels: [a, b, c]
costs: {{budget_holders: [h, g], per: year}}
discount: {{costs: 0.035, qol: 0.015}}
rewards: {rewards}
states:
  well:
    level: a
    cost: {{h: 100}}
    cost_by_time_in_state: {{g: {{file: tis.csv, column: cost, years_column: years}}}}
    qol_by_age: {{values: {WELL_QOL_AGE}}}
  sick:
    level: b
    cost: {{g: {SICK_G}}}
    cost_by_age: {{h: {{from_years: 0, values: {SICK_H}}}}}
    qol_by_time_in_state: {{values: {SICK_QOL_TIS}}}
  dead: {{level: c, absorbing: true}}
population:
  max_age_years: {MAX_AGE}
  initial:
    - {{state: well, count: 600, age_years: [2, 7], time_in_state_months: [0, 36]}}
    - {{state: sick, count: 300, age_years: [3, 6], time_in_state_months: [0, 24]}}
  entries:
    births: {{per_year: {ENTRY}, age_years: [0, 2], states: {{well: 1}}}}
transitions:
  tables:
    - rows:
        well: {{well: rest, sick: 0.125, dead: 0.015625}}
        sick: {{sick: rest, well: 0.25, dead: 0.0625}}
{arms}{unc}"""


def same_bytes(x, y):
    """Numeric arrays: the same bytes; names (object arrays): the same values."""
    x, y = np.asarray(x), np.asarray(y)
    if x.dtype.kind == "O" or y.dtype.kind == "O":
        return x.shape == y.shape and list(x.ravel()) == list(y.ravel())
    return x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()


def value(v, k):
    return v[min(k, len(v) - 1)]


def rewards_of(s, a, d):
    """cost by holder (h, g) and QoL weight of a child in state s, age a, d years in state"""
    if s == "well":
        return (mpf(100), mpf(value(WELL_G_TIS, d))), mpf(str(WELL_QOL_AGE[a]))
    if s == "sick":
        return (mpf(SICK_H[a]), mpf(SICK_G)), mpf(str(value(SICK_QOL_TIS, d)))
    return (mpf(0), mpf(0)), mpf(1)


def reference(override_sick_h=None, override_sick_qol=None, z=1, zc=1, zq=1):
    """Per time point u: (cost h, cost g, qol) of the children at the start of step u with its
    entrants (S[u], u < T) and at the end of step u (E[u]). z multiplies the probability of
    well -> sick; zc and zq the costs and QoL weights (a sub-cohort of a multiplier)."""
    probs = {"well": {"sick": P["well"]["sick"] * z, "dead": P["well"]["dead"]},
             "sick": P["sick"]}

    def total(mass):
        c, q = [mpf(0), mpf(0)], mpf(0)
        for (s, a, d), x in mass.items():
            (ch, cg), w = rewards_of(s, a, d)
            if s == "sick" and override_sick_h is not None:
                ch = mpf(override_sick_h)
            if s == "sick" and override_sick_qol is not None:
                w = mpf(override_sick_qol)
            c[0] += x * ch * zc
            c[1] += x * cg * zc
            q += x * w * zq
        return c[0], c[1], q
    mass = {}
    for s, n, (a0, a1), (d0, d1) in INIT:
        na, nd = a1 - a0 + 1, d1 - d0 + 1
        for a in range(a0, a1 + 1):
            for d in range(d0, d1 + 1):
                mass[(s, a, d)] = mass.get((s, a, d), 0) + mpf(n) / (na * nd)
    S, E = [], []
    for t in range(T):
        for a in (0, 1):
            mass[("well", a, 0)] = mass.get(("well", a, 0), 0) + mpf(ENTRY) / 2
        S.append(total(mass))
        nxt = {}
        for (s, a, d), x in mass.items():
            if a + 1 >= MAX_AGE:
                continue
            moves = probs.get(s, {})
            stay = 1 - sum(moves.values())
            key = (s, a + 1, d + 1)
            nxt[key] = nxt.get(key, 0) + x * stay
            for dst, p in moves.items():
                key = (dst, a + 1, 0)
                nxt[key] = nxt.get(key, 0) + x * p
        mass = nxt
        E.append(total(mass))
    return S, E


def conventions(S, E):
    """{name: (rewards yaml, discounted cost h, cost g, qalys)}"""
    def disc(rate, u):
        return (1 + rate) ** (-mpf(u))
    out = {}
    for name in ("start", "end", "half_cycle", "simpson"):
        tot = [mpf(0)] * 3
        for t in range(T):
            if name == "start":
                f, when = S[t], t
            elif name == "end":
                f, when = E[t], t + 1
            elif name == "half_cycle" or (name == "simpson" and t - t % 2 + 1 >= T):
                f, when = tuple((x + y) / 2 for x, y in zip(S[t], E[t])), t + mpf(1) / 2
            else:
                k0 = t - t % 2
                f2 = S[k0 + 2] if k0 + 2 < T else E[k0 + 1]
                f = tuple((x + 4 * y + z) / 6 for x, y, z in zip(S[k0], S[k0 + 1], f2))
                when = t + mpf(1) / 2
            for i in range(3):
                tot[i] += f[i] * disc(DISC_Q if i == 2 else DISC_C, when)
        out[name] = ("{timing: %s}" % name, *tot)
    # time points 0..T, trapezoid weights, each discounted at the point
    tot = [mpf(0)] * 3
    for u in range(T + 1):
        f = S[u] if u < T else E[T - 1]
        w = mpf(1) / 2 if u in (0, T) else mpf(1)
        for i in range(3):
            tot[i] += w * f[i] * disc(DISC_Q if i == 2 else DISC_C, u)
    out["points"] = ("{points: 0..T, weights: trapezoid}", *tot)
    return out


def run(flourish, *args):
    subprocess.run([flourish, *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def totals(path, arm="baseline"):
    """(cost h, cost g, qalys), discounted, per replication (one row in expectation mode)"""
    with h5py.File(path) as f:
        c = f[f"arms/{arm}/costs_discounted"][()]
        q = f[f"arms/{arm}/qol_discounted"][()]
    if c.ndim == 2:
        c, q = c[None], q[None]
    return np.stack([c[:, :, 0].sum(axis=1), c[:, :, 1].sum(axis=1), q.sum(axis=1)], axis=1)


def main():
    flourish = sys.argv[1]
    failures = 0

    def check(ok, msg):
        nonlocal failures
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} {msg}")

    S, E = reference()
    conv = conventions(S, E)
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "tis.csv"), "w") as f:
            f.write("years,cost\n" + "".join(f"{k},{v}\n" for k, v in enumerate(WELL_G_TIS)))
        path = os.path.join(tmp, "s.yaml")
        for name, (rw, *want) in conv.items():
            with open(path, "w") as f:
                f.write(scenario(rw))
            ex, mc = os.path.join(tmp, "e.h5"), os.path.join(tmp, "r.h5")
            run(flourish, "expect", path, "-o", ex)
            run(flourish, "run", path, "-o", mc, "-q", "-r", "300", "-s", "5", "-t", "2")
            got = totals(ex)[0]
            per_rep = totals(mc)
            labels = ("cost h (by age)", "cost g (by time in state)", "QALYs (both)")
            for i, what in enumerate(labels):
                rel = abs(got[i] - float(want[i])) / float(want[i])
                check(rel < 1e-9, f"{name}, {what}: expect {got[i]:.10g}, mpmath "
                                  f"{float(want[i]):.10g} (relative {rel:.1e})")
                mean = per_rep[:, i].mean()
                se = per_rep[:, i].std(ddof=1) / np.sqrt(len(per_rep))
                z = (mean - got[i]) / se
                check(abs(z) < 4, f"{name}, {what}: Monte Carlo {mean:.6g} against {got[i]:.6g} "
                                  f"(z = {z:+.2f}, 300 replications)")
        # The same bytes for any number of threads, across replications and within one.
        with open(path, "w") as f:
            f.write(scenario("{timing: half_cycle}"))
        for reps in ("1", "4"):
            files = []
            for th in ("1", "2"):
                files.append(os.path.join(tmp, f"t{reps}_{th}.h5"))
                run(flourish, "run", path, "-o", files[-1], "-q", "-r", reps, "-s", "9", "-t", th)
            with h5py.File(files[0]) as a, h5py.File(files[1]) as b:
                names = []
                a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
                diff = [n for n in names if not same_bytes(a[n][()], b[n][()])]
                has = "arms/baseline/rewards/class_stocks" in names
            check(not diff and has, f"{reps} replication(s): {len(names)} datasets (with "
                                    f"rewards/class_stocks: {has}), {len(diff)} differ between 1 "
                                    f"and 2 threads {diff[:5]}")
        # A run stopped after 5 of 12 replications and resumed from its checkpoint: the class
        # tallies come back with the rest.
        ref, res = os.path.join(tmp, "ref.h5"), os.path.join(tmp, "resumed.h5")
        run(flourish, "run", path, "-o", ref, "-q", "-r", "12", "-s", "3")
        stopped = subprocess.run([flourish, "run", path, "-o", res, "-q", "-r", "12", "-s", "3",
                                  "-t", "2", "--checkpoint"], capture_output=True,
                                 env=dict(os.environ, FLOURISH_CRASH_AFTER_REPS="5"))
        run(flourish, "run", path, "-o", res, "-q", "-r", "12", "-s", "3", "-t", "1", "--resume")
        with h5py.File(ref) as a, h5py.File(res) as b:
            names = []
            a["arms"].visititems(lambda n, o: names.append("arms/" + n)
                                 if isinstance(o, h5py.Dataset) else None)
            diff = [n for n in names if not same_bytes(a[n][()], b[n][()])]
        check(stopped.returncode == 137 and not diff and
              "arms/baseline/rewards/class_stocks" in names,
              f"stopped ({stopped.returncode}) and resumed: {len(names)} datasets, "
              f"{len(diff)} differ {diff[:5]}")
        # An arm's scalar cost (QoL weight) replaces the vector; under --psa a draw of mean 1
        # scales it.
        arms = """arms:
  flat:
    states: {sick: {cost: {h: 175}, qol: 0.7}}
"""
        with open(path, "w") as f:
            f.write(scenario("{timing: start}", arms=arms))
        ex = os.path.join(tmp, "arm.h5")
        run(flourish, "expect", path, "-o", ex)
        S2, _ = reference(override_sick_h=175, override_sick_qol="0.7")
        got = totals(ex, "flat")[0]
        for i, what, rate in ((0, "cost by age", DISC_C), (2, "QoL by time in state", DISC_Q)):
            want = sum(S2[t][i] * (1 + rate) ** (-t) for t in range(T))
            rel = abs(got[i] - float(want)) / float(want)
            check(rel < 1e-9, f"arm override of a {what}: expect {got[i]:.10g}, mpmath "
                              f"{float(want):.10g} (relative {rel:.1e})")
        unc = """uncertainty:
  - {key: states.sick.cost.h, distribution: gamma, mean: 1, sd: 0.2}
"""
        with open(path, "w") as f:
            f.write(scenario("{timing: start}", unc=unc))
        ex, mc = os.path.join(tmp, "pe.h5"), os.path.join(tmp, "pr.h5")
        run(flourish, "expect", path, "-o", ex)
        run(flourish, "run", path, "-o", mc, "-q", "-r", "400", "-s", "3", "-t", "2", "--psa")
        got = totals(ex)[0][0]
        want = sum(S[t][0] * (1 + DISC_C) ** (-t) for t in range(T))
        per_rep = totals(mc)[:, 0]
        with h5py.File(mc) as f:
            drawn = f["arms/baseline/parameters/drawn"][()][:, 0]
        # (each replication's cost is its draw times the vector's: against the draw's mean 1)
        mean, se = per_rep.mean(), per_rep.std(ddof=1) / np.sqrt(len(per_rep))
        z = (mean - got) / se
        rel = abs(got - float(want)) / float(want)
        check(rel < 1e-9 and abs(z) < 4,
              f"--psa scales a cost by age by draw / mean: expect {got:.8g} (mpmath relative "
              f"{rel:.1e}), Monte Carlo {mean:.8g} (z = {z:+.2f}, 400 draws, mean draw "
              f"{drawn.mean():.4f})")
        # A bad cell of a file of costs by time in state: the file, line and column, status 2.
        bad = os.path.join(tmp, "tis.csv")
        with open(bad, "w") as f:
            f.write("years,cost\n0,40\n1,ten\n2,10\n")
        with open(path, "w") as f:
            f.write(scenario("{timing: start}"))
        r = subprocess.run([flourish, "validate", path], capture_output=True, text=True)
        want = f"flourish: {bad}:3:2: cost: expected a cost (a number >= 0), found 'ten'"
        check(r.returncode == 2 and r.stderr.strip() == want,
              f"a bad cell in a file of costs: status {r.returncode}, {r.stderr.strip()!r}")
    # The example: 400 children placed at ages uniform over 0-17 years, 15 entrants a quarter at
    # 0-15 years, each costing its age's weekly allowance times 52 / 4 in the first quarter.
    src = sys.argv[2]
    weekly = [171.68] * 5 + [199.73] * 6 + [210.37] * 5 + [268.41] * 2
    want = (400 * sum(weekly) / 18 + 15 * sum(weekly[:16]) / 16) * 52 / 4
    ex_path = os.path.join(src, "scenarios/examples/foster_allowances.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        ex, mc = os.path.join(tmp, "e.h5"), os.path.join(tmp, "r.h5")
        run(flourish, "expect", ex_path, "-o", ex)
        run(flourish, "run", ex_path, "-o", mc, "-q", "-r", "200", "-s", "2", "-t", "2")
        with h5py.File(ex) as f:
            first = f["arms/baseline/costs"][0, 0]
            total = f["arms/baseline/costs_discounted"][()].sum()
        with h5py.File(mc) as f:
            per_rep = f["arms/baseline/costs_discounted"][()].sum(axis=(1, 2))
        rel = abs(first - want) / want
        check(rel < 1e-9, f"foster_allowances: first quarter's council cost {first:.2f}, by hand "
                          f"{want:.2f} (relative {rel:.1e})")
        mean, se = per_rep.mean(), per_rep.std(ddof=1) / np.sqrt(len(per_rep))
        z = (mean - total) / se
        check(abs(z) < 4, f"foster_allowances: discounted cost over 5 years, Monte Carlo "
                          f"{mean:.6g} against expect {total:.6g} (z = {z:+.2f}, 200 replications)")
        # A discrete heterogeneity multiplier on well -> sick and on the costs and QoL weights:
        # the mixture of sub-cohorts, each child's rewards counted as its multiplier.
        het = """heterogeneity:
  distribution: discrete
  values: [0.5, 1, 2]
  probabilities: [0.25, 0.5, 0.25]
  transitions: [{from: well, to: sick}]
  costs: true
  qol: true
"""
        path = os.path.join(tmp, "s.yaml")
        with open(os.path.join(tmp, "tis.csv"), "w") as f:
            f.write("years,cost\n" + "".join(f"{k},{v}\n" for k, v in enumerate(WELL_G_TIS)))
        mix = {}
        for zv, pz in ((mpf("0.5"), mpf("0.25")), (mpf(1), mpf("0.5")), (mpf(2), mpf("0.25"))):
            Sz, Ez = reference(z=zv, zc=zv, zq=zv)
            for name, (rw, *tot) in conventions(Sz, Ez).items():
                if name in ("half_cycle", "points"):
                    acc = mix.setdefault(name, (rw, [mpf(0)] * 3))[1]
                    for i in range(3):
                        acc[i] += pz * tot[i]
        for name, (rw, want) in mix.items():
            with open(path, "w") as f:
                f.write(scenario(rw, unc=het))
            ex, mc = os.path.join(tmp, "he.h5"), os.path.join(tmp, "hr.h5")
            run(flourish, "expect", path, "-o", ex)
            run(flourish, "run", path, "-o", mc, "-q", "-r", "300", "-s", "8", "-t", "2")
            got, per_rep = totals(ex)[0], totals(mc)
            for i, what in enumerate(("cost h", "cost g", "QALYs")):
                rel = abs(got[i] - float(want[i])) / float(want[i])
                mean = per_rep[:, i].mean()
                se = per_rep[:, i].std(ddof=1) / np.sqrt(len(per_rep))
                z = (mean - got[i]) / se
                check(rel < 1e-9 and abs(z) < 4,
                      f"heterogeneity on rewards by age and time in state, {name}, {what}: "
                      f"expect {got[i]:.10g}, mpmath mixture {float(want[i]):.10g} (relative "
                      f"{rel:.1e}); Monte Carlo {mean:.6g} (z = {z:+.2f}, 300 replications)")
        # (the sums of the multipliers by class: the same bytes for 1 and 2 threads, within a
        # replication)
        files = []
        for th in ("1", "2"):
            files.append(os.path.join(tmp, f"ht{th}.h5"))
            run(flourish, "run", path, "-o", files[-1], "-q", "-r", "1", "-s", "4", "-t", th)
        with h5py.File(files[0]) as a, h5py.File(files[1]) as b:
            names = []
            a.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
            diff = [n for n in names if not same_bytes(a[n][()], b[n][()])]
            has = "arms/baseline/heterogeneity/weighted_class_stocks" in names
        check(not diff and has, f"heterogeneity: {len(names)} datasets (with "
                                f"weighted_class_stocks: {has}), {len(diff)} differ between 1 and "
                                f"2 threads {diff[:5]}")
    if failures:
        print(f"{failures} failures")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
