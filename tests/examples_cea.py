#!/usr/bin/env python3
"""The textbook examples written with counting conventions and entries that vary, against
their published results and independent computations, in expectation mode and Monte Carlo.

scenarios/examples/sick_sicker.yaml (Alarid-Escudero et al., Med Decis Making 2023): the
published costs and QALYs of the four strategies (rounded to the dollar and to 0.001 QALY:
tolerances of half a unit plus the 2^-32 quantisation of probabilities, 1e-8 relative) and the
ICERs of the frontier (to the dollar); and an independent transcription of the tutorial's
algorithm (trace over time points 0..75, weights of gen_wcc, discount 1/1.03^t), which
expectation mode must match to 1e-8 relative.

scenarios/examples/hip_replacement.yaml (Briggs, Claxton and Sculpher 2006, example 3.5 and its
Excel model): the published totals per person (cost and QALYs of each prosthesis, to nine or
ten digits: half a unit of the last digit plus 1e-8 relative) and the ICER of NP1 (1e-6
relative: a ratio of differences, the 1e-9 quantisation error of QALYs of 14.7 becomes about
3e-7 of the QALY gain of 0.045), the values heemod's reproduction test records
(github.com/pierucci/heemod, tests/testthat/test_dmhee.R, "Exactly match THR model"); and an
independent transcription of the exercise's algorithm (its R code: the trace from cycle 1,
time-dependent revision risk 1 - exp(lambda ((i - 1)^gamma - i^gamma)) and mortality at age
60 + i, costs and QALYs of cycle i discounted by 1/(1 + r)^i, the prosthesis cost at time 0
undiscounted), to 1e-8 relative.

Then flourish run: each arm's mean total cost and QALYs per person over the replications, and
the paired differences, against expectation mode, with z = (mean - expectation) / MCSE; every
|z| must be below 4 (a run of R replications of 10,000 people: the tolerance is the Monte Carlo
standard error of the mean itself).

Usage: examples_cea.py FLOURISH SOURCE_DIR [REPLICATIONS]
"""
import math
import os
import subprocess
import sys
import tempfile

import h5py
import numpy as np

N = 10000  # people in each example's cohort


def sick_sicker_reference():
    """The tutorial's own computation (analysis/cSTM_time_indep.R), transcribed."""
    n = 75
    p = lambda r: 1 - math.exp(-r)
    pHS1, pS1H, pS1S2, pHD = p(0.15), p(0.5), p(0.105), p(0.002)
    pS1D, pS2D, pS1S2B = p(0.006), p(0.02), p(0.105 * 0.6)

    def P(b):
        q = pS1S2B if b else pS1S2
        return np.array([[(1 - pHD) * (1 - pHS1), (1 - pHD) * pHS1, 0, pHD],
                         [(1 - pS1D) * pS1H, (1 - pS1D) * (1 - (pS1H + q)), (1 - pS1D) * q, pS1D],
                         [0, 0, 1 - pS2D, pS2D],
                         [0, 0, 0, 1]])
    wcc = np.array([(2 / 3 if (i % 2) == 0 else 4 / 3) for i in range(1, n + 2)])
    wcc[0] = wcc[n] = 1 / 3
    disc = 1 / 1.03 ** np.arange(n + 1)
    out = {}
    for arm, b, cS1, cS2, uS1 in [("baseline", 0, 4000, 15000, 0.75),
                                  ("A", 0, 16000, 27000, 0.95),
                                  ("B", 1, 17000, 28000, 0.75),
                                  ("AB", 1, 29000, 40000, 0.95)]:
        m = np.zeros((n + 1, 4))
        m[0] = [1, 0, 0, 0]
        for t in range(n):
            m[t + 1] = m[t] @ P(b)
        c = m @ np.array([2000, cS1, cS2, 0])
        u = m @ np.array([1, uS1, 0.5, 0])
        out[arm] = (c @ (disc * wcc), u @ (disc * wcc))
    return out


SICK_SICKER_PUBLISHED = {  # the tutorial's tables: dollars, QALYs per person
    "baseline": (151580, 20.711), "A": (284805, 21.499), "B": (259100, 22.184),
    "AB": (378875, 23.137)}
SICK_SICKER_ICERS = {"B": 72988, "AB": 125764}  # on the frontier (A is dominated)


# Briggs, Claxton and Sculpher (2006), example 3.5 (the book's Excel model), as recorded in
# heemod's reproduction test: cost and QALYs per person, and the ICER of NP1.
HIP_PUBLISHED = {"baseline": (512.434658, 14.6531896), "np1": (610.311818, 14.69770986)}
HIP_PUBLISHED_ICER = 2198.486665


def hip_reference():
    """The exercise's replication code (DM4HEE exercise 3.5, in R), transcribed."""
    cycles = 60
    omr, rrr = 0.02, 0.04
    lam = math.exp(-5.490935 + 60 * -0.0367022)
    gamma = math.exp(0.3740968)
    bands = [(35, 0.00099), (45, 0.0026), (55, 0.0067), (65, 0.0193), (75, 0.0535), (85, 0.1548)]
    mort = lambda age: [q for a, q in bands if a <= age][-1]
    out = {}
    for arm, hr, prosthesis in [("baseline", 1.0, 394), ("np1", math.exp(-1.344474), 579)]:
        x = np.array([1.0, 0, 0, 0, 0])
        cost, qaly = prosthesis, 0.0
        for i in range(1, cycles + 1):
            rr = 1 - math.exp(lam * hr * ((i - 1) ** gamma - i ** gamma))
            mr = mort(60 + i)
            P = np.array([[0, 1 - omr, 0, 0, omr],
                          [0, 1 - rr - mr, rr, 0, mr],
                          [0, 0, 0, 1 - omr - mr, omr + mr],
                          [0, 0, rrr, 1 - rrr - mr, mr],
                          [0, 0, 0, 0, 1]])
            x = x @ P
            cost += x @ np.array([0, 0, 5294, 0, 0]) / 1.06 ** i
            qaly += x @ np.array([0, 0.85, 0.30, 0.75, 0]) / 1.015 ** i
        out[arm] = (cost, qaly)
    return out


def totals(path, arms, step_years):
    """Per-person totals (cost, QALYs) by arm, per replication when the file has them."""
    with h5py.File(path) as f:
        out = {}
        for a in arms:
            c = f[f"arms/{a}/costs_discounted"][()]
            q = f[f"arms/{a}/qol_discounted"][()]
            if c.ndim == 3:
                out[a] = (c.sum(axis=(1, 2)) / N, q.sum(axis=1) * step_years / N)
            else:
                out[a] = (c.sum() / N, q.sum() * step_years / N)
        fr = {}
        if "frontier" in f:
            names = [x.decode() for x in f["frontier/arm"][()]]
            fr = dict(zip(names, f["frontier/icer"][()]))
        return out, fr


def main():
    flourish, src = sys.argv[1], sys.argv[2]
    R = int(sys.argv[3]) if len(sys.argv) > 3 else 200
    failures = 0

    def check(ok, text):
        nonlocal failures
        failures += not ok
        print(("ok   " if ok else "FAIL ") + text)

    with tempfile.TemporaryDirectory() as tmp:
        for name, arms, ref, published in [
                ("sick_sicker", ["baseline", "A", "B", "AB"], sick_sicker_reference(),
                 SICK_SICKER_PUBLISHED),
                ("hip_replacement", ["baseline", "np1"], hip_reference(), HIP_PUBLISHED)]:
            scen = os.path.join(src, "scenarios", "examples", name + ".yaml")
            ex, mc = os.path.join(tmp, name + ".e.h5"), os.path.join(tmp, name + ".r.h5")
            subprocess.run([flourish, "expect", scen, "-o", ex], check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            subprocess.run([flourish, "run", scen, "-o", mc, "-r", str(R), "--seed", "2023", "-t",
                            "2"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            e, icers = totals(ex, arms, 1.0)
            m, _ = totals(mc, arms, 1.0)
            for a in arms:
                (ec, eq), (rc, rq) = e[a], ref[a]
                check(abs(ec - rc) <= 1e-8 * rc and abs(eq - rq) <= 1e-8 * rq,
                      f"{name} {a}: expect {ec:.4f} {eq:.6f}, independent {rc:.4f} {rq:.6f} "
                      f"(relative {abs(ec - rc) / rc:.1e}, {abs(eq - rq) / rq:.1e})")
                if published is SICK_SICKER_PUBLISHED:
                    pc, pq = published[a]
                    check(abs(ec - pc) <= 0.5 + 1e-8 * pc and abs(eq - pq) <= 0.0005 + 1e-8 * pq,
                          f"{name} {a}: expect ${ec:,.0f} {eq:.3f} QALYs, published ${pc:,} "
                          f"{pq:.3f}")
                elif published:
                    pc, pq = published[a]
                    check(abs(ec - pc) <= 5e-7 + 1e-8 * pc and abs(eq - pq) <= 5e-8 + 1e-8 * pq,
                          f"{name} {a}: expect GBP {ec:.7f} {eq:.8f} QALYs, published GBP {pc} "
                          f"{pq}")
                for k, what in [(0, "cost"), (1, "QALYs")]:
                    x = m[a][k]
                    se = x.std(ddof=1) / math.sqrt(len(x))
                    z = (x.mean() - e[a][k]) / se
                    check(abs(z) < 4, f"{name} {a} {what}: Monte Carlo {x.mean():.4f} (MCSE "
                          f"{se:.2g}, {R} replications) against expect {e[a][k]:.4f}: z = {z:+.2f}")
            for a in arms[1:]:
                for k, what in [(0, "cost"), (1, "QALYs")]:
                    d = m[a][k] - m["baseline"][k]
                    want = e[a][k] - e["baseline"][k]
                    se = d.std(ddof=1) / math.sqrt(len(d))
                    z = (d.mean() - want) / se if se > 0 else 0.0
                    check(abs(z) < 4, f"{name} {a} - baseline {what}: Monte Carlo {d.mean():.4f} "
                          f"(paired MCSE {se:.2g}) against expect {want:.4f}: z = {z:+.2f}")
            if name == "hip_replacement":
                check(abs(icers["np1"] - HIP_PUBLISHED_ICER) <= 1e-6 * HIP_PUBLISHED_ICER,
                      f"hip_replacement ICER of np1: expect {icers['np1']:.6f}, published "
                      f"{HIP_PUBLISHED_ICER}")
            if name == "sick_sicker":
                for a, pub in SICK_SICKER_ICERS.items():
                    check(abs(icers[a] - pub) <= 0.5 + 1e-8 * pub,
                          f"sick_sicker frontier ICER of {a}: expect {icers[a]:,.2f}, published "
                          f"{pub:,}")
    if failures:
        print(f"{failures} failures")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
