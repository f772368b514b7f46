#!/usr/bin/env python3
"""Entries of transition rows that vary (transitions.tables[].vary) against an independent
computation with mpmath, and the Monte Carlo mean against expectation mode.

Each case is a cohort in one state, 'risk', whose moves to 'event' (and for one case also to
'dead') vary: by a Weibull (lambda or scale form, with a hazard ratio), Gompertz or log-logistic
survival on time in state, time since the start of the run or age, or by single year of age
(inline or from a CSV file, with ages outside the vector). No one re-enters 'risk', so in step
t every child in it has time in state t and age a0 + t, and expectation mode's
flows[t, risk, event] / stocks[t, risk] is the step probability the engine compiled, which must
be 1 - (S(t + d) / S(t))^hr (d the table's period: the step, or in one case a year of monthly
steps, converted to the month at a constant hazard) to within the 2^-32 quantisation of
probabilities (2e-9 absolute). Then flourish run: the mean number of events
over the run must be within 4 Monte Carlo standard errors of the expectation.

Usage: vary_reference.py FLOURISH
"""
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np
from mpmath import mp, mpf, exp, log, power

mp.dps = 40

HEAD = """flourish: 1
name: vary {name}
time: {{step_months: {step}, horizon_steps: {T}}}
levels: [a, b, c]
costs: {{budget_holders: [h], per: year}}
states:
  risk: {{level: a, cost: {{h: 100}}}}
  event: {{level: b, absorbing: true}}
  dead: {{level: c, absorbing: true}}
population:
  initial:
    - {{state: risk, count: 2000, age_years: [{age}, {age}]}}
transitions:
  per_months: {per}
  tables:
    - rows:
        risk: {{risk: rest, event: 0.01, dead: 0.002}}
      vary:
{vary}
"""


def weibull_lambda(shape, lam):
    return lambda t: exp(-lam * power(t, shape))


def weibull_scale(shape, scale):
    return lambda t: exp(-power(t / scale, shape))


def gompertz(shape, rate):
    return lambda t: exp(-(rate / shape) * (exp(shape * t) - 1))


def loglogistic(shape, scale):
    return lambda t: 1 / (1 + power(t / scale, shape))


def survival_p(S, t0, d, hr=1):
    return 1 - power(S(t0 + d) / S(t0), hr)


def cases(tmp):
    """(name, step months, horizon, start age, vary text, {to-state: function of step t})"""
    life = os.path.join(tmp, "life.csv")
    with open(life, "w") as f:
        f.write("age,qx\n")
        for a in range(40, 46):
            f.write(f"{a},{0.001 * (a - 38)}\n")
    out = []
    mp_ = lambda x: mpf(str(x))
    S = weibull_lambda(mp_(1.45), mp_(0.0046))
    out.append(("weibull lambda, time in state", 12, 30, 60,
                "        - {from: risk, to: event, weibull: {shape: 1.45, lambda: 0.0046}}",
                {"event": lambda t, S=S: survival_p(S, mpf(t), 1)}))
    S = weibull_scale(mp_(1.1), 1 / mp_(0.08))
    out.append(("weibull scale, run clock, hazard ratio", 12, 40, 25,
                "        - {from: risk, to: event, clock: run, hazard_ratio: 0.6,\n"
                "           weibull: {shape: 1.1, scale: 12.5}}",
                {"event": lambda t, S=S: survival_p(S, mpf(t), 1, mp_(0.6))}))
    S = gompertz(mp_(0.09), mp_(0.00002))
    out.append(("gompertz, age clock", 12, 50, 40,
                "        - {from: risk, to: event, clock: age, gompertz: {shape: 0.09, rate: 0.00002}}",
                {"event": lambda t, S=S: survival_p(S, mpf(40 + t), 1)}))
    S = gompertz(mp_(-0.3), mp_(0.2))
    out.append(("gompertz, falling hazard", 12, 20, 0,
                "        - {from: risk, to: event, gompertz: {shape: -0.3, rate: 0.2}}",
                {"event": lambda t, S=S: survival_p(S, mpf(t), 1)}))
    S = loglogistic(mp_(2.5), mp_(3))
    out.append(("loglogistic, monthly steps", 1, 60, 0,
                "        - {from: risk, to: event, loglogistic: {shape: 2.5, scale: 3}}",
                {"event": lambda t, S=S: survival_p(S, mpf(t) / 12, mpf(1) / 12)}))
    # A yearly Weibull in a table of monthly steps whose period is a year (per_months: 12): the
    # year's probability from the time in state, converted to the month at a constant hazard
    # (the row's other entries are 0, so the month's probability is 1 - (1 - p_year)^(1/12)).
    S = weibull_lambda(mp_(1.3), mp_(0.2))
    out.append(("weibull over a year, monthly steps", 1, 48, 0,
                "        - {from: risk, to: event, weibull: {shape: 1.3, lambda: 0.2}}\n"
                "        - {from: risk, to: dead, by_age: {values: [0]}}",
                {"event": lambda t, S=S: 1 - power(1 - survival_p(S, mpf(t) / 12, 1), mpf(1) / 12)},
                12))
    vec = [0.01, 0.02, 0.03, 0.05]
    out.append(("age vector and weibull together", 12, 12, 28,
                "        - {from: risk, to: dead, by_age: {from_years: 30, values: [0.01, 0.02, 0.03, 0.05]}}\n"
                "        - {from: risk, to: event, weibull: {shape: 0.8, lambda: 0.05}}",
                {"dead": lambda t: mp_(vec[min(max(28 + t - 30, 0), 3)]),
                 "event": lambda t, S=weibull_lambda(mp_(0.8), mp_(0.05)): survival_p(S, mpf(t), 1)}))
    out.append(("age table from a file", 12, 10, 38,
                f"        - {{from: risk, to: dead, by_age: {{file: {os.path.basename(life)}, column: qx}}}}",
                {"dead": lambda t: mp_(0.001 * (min(max(38 + t, 40), 45) - 38))}))
    return out


def main():
    flourish = sys.argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, step, T, age, vary, want, *rest in cases(tmp):
            per = rest[0] if rest else step
            path = os.path.join(tmp, "s.yaml")
            with open(path, "w") as f:
                f.write(HEAD.format(name=name, step=step, T=T, age=age, vary=vary, per=per))
            ex, mc = os.path.join(tmp, "e.h5"), os.path.join(tmp, "r.h5")
            subprocess.run([flourish, "expect", path, "-o", ex], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([flourish, "run", path, "-o", mc, "-r", "200", "--seed", "11", "-t",
                            "2"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            with h5py.File(ex) as f:
                g = f["arms/baseline"]
                states = [s.decode() if isinstance(s, bytes) else s for s in g["state"][()]]
                flows, stocks = g["flows"][()], g["stocks"][()]
            with h5py.File(mc) as f:
                mflows = f["arms/baseline/flows"][()]
            r = states.index("risk")
            worst = 0.0
            for dest, fn in want.items():
                d = states.index(dest)
                for t in range(T):
                    if stocks[t, r] < 1e-6:
                        continue
                    got = flows[t, r, d] / stocks[t, r]
                    err = abs(got - float(fn(t)))
                    worst = max(worst, err)
                    if err > 2e-9:
                        failures += 1
                        print(f"FAIL {name}: step {t}, to {dest}: engine {got:.12g}, "
                              f"mpmath {float(fn(t)):.12g}")
                exp_total = flows[:, r, d].sum()
                per_rep = mflows[:, :, r, d].sum(axis=1)
                mean, se = per_rep.mean(), per_rep.std(ddof=1) / np.sqrt(len(per_rep))
                z = (mean - exp_total) / se
                ok = abs(z) < 4
                failures += not ok
                print(f"{'ok  ' if ok else 'FAIL'} {name}, to {dest}: step probabilities within "
                      f"{worst:.1e} of mpmath over {T} steps; events expected {exp_total:.3f}, "
                      f"Monte Carlo {mean:.3f} (z = {z:+.2f}, 200 replications)")
        # A file whose ages skip a year: an error naming the file, line and column, status 2.
        bad = os.path.join(tmp, "gap.csv")
        with open(bad, "w") as f:
            f.write("age,qx\n40,0.01\n41,0.02\n43,0.03\n")
        path = os.path.join(tmp, "gap.yaml")
        with open(path, "w") as f:
            f.write(HEAD.format(name="gap", step=12, T=5, age=40, per=12,
                                vary="        - {from: risk, to: dead, by_age: {file: gap.csv, "
                                     "column: qx}}"))
        r = subprocess.run([flourish, "validate", path], capture_output=True, text=True)
        want = f"flourish: {bad}:4:1: age: ages must be whole years one after another: expected 42, found 43"
        ok = r.returncode == 2 and r.stderr.strip() == want
        failures += not ok
        print(f"{'ok  ' if ok else 'FAIL'} a file with a gap in its ages: status {r.returncode}, "
              f"{r.stderr.strip()!r}")
    if failures:
        print(f"{failures} failures")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
