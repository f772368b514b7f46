#!/usr/bin/python3
"""The reconstruction test of calibrate's disclosure control.

disclosure.py TRUE_DIR ROUNDED_DIR N POP.csv

TRUE_DIR holds calibrate's outputs without --suppress (cal.yaml, report.csv): the truth, which
gives the targets, every count from 1 to N - 1. ROUNDED_DIR holds the outputs of the same
calibration with --suppress N (cal.yaml, report.csv, report.h5). The attacker knows the rounded
outputs and the population table (an aggregate, public input) and tries every route to each
target count:

  direct       the count as published (report, scenario, HDF5 report)
  probability  the published probability times the row's published child-months
  interval     the count whose exact (Clopper-Pearson) interval, at the row's published
               child-months, is the published interval
  bands        a cell of the all-ages table less the same cell of the other age bands (and a
               whole period of the trend tables less the others)
  population   an age year's children in the population table less the scenario's universal
               children and its other recorded children of that age

A target is reconstructed when a route gives exactly its true value. As a control the same
attack is run on the true outputs with the small counts masked in the report and the scenario
(printing "<N" beside the true probability): it must reconstruct most of the transition counts,
or the attack would prove nothing. Also, a count of the same events (a cell of one age band and
of all ages, where the other bands have none) must be rounded alike everywhere, or averaging
its roundings would give it away. Prints the counts; exits 1 when any target is reconstructed
from the rounded outputs, the same events are rounded apart, or the control fails.
"""
import csv
import math
import re
import sys
from collections import defaultdict

import h5py
import numpy as np


def read_report(path):
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            rows.append(r)
    return rows


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


# The regularised incomplete beta function, by Lentz's continued fraction, and the quantile
# by bisection: enough to compute an exact binomial interval to six digits.
def betacf(a, b, x):
    qab, qap, qam = a + b, a + 1, a - 1
    c, d = 1.0, 1 - qab * x / qap
    d = 1 / (d if abs(d) > 1e-300 else 1e-300)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1 + aa / c if abs(1 + aa / c) > 1e-300 else 1e-300
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1 + aa * d
        d = 1 / (d if abs(d) > 1e-300 else 1e-300)
        c = 1 + aa / c if abs(1 + aa / c) > 1e-300 else 1e-300
        de = d * c
        h *= de
        if abs(de - 1) < 1e-15:
            break
    return h


def betainc(a, b, x):
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    lbt = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1) / (a + b + 2):
        return math.exp(lbt) * betacf(a, b, x) / a
    return 1 - math.exp(lbt) * betacf(b, a, 1 - x) / b


def beta_quantile(p, a, b):
    lo, hi = 0.0, 1.0
    for _ in range(64):
        mid = (lo + hi) / 2
        if betainc(a, b, mid) < p:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def cp_matches(k, n, lo, hi):
    """Whether the exact 95% interval of k in n is (lo, hi) to the report's six digits."""
    l2 = beta_quantile(0.025, k, n - k + 1) if k > 0 else 0.0
    if not close(l2, lo):
        return False
    return close(beta_quantile(0.975, k + 1, n - k) if k < n else 1.0, hi)


def close(x, y):
    return y is not None and abs(x - y) <= 1e-5 * max(abs(y), 1e-12) + 1e-12


def transition_cells(report):
    """{(band, from, to): (count, probability, lo, hi)} and the rows' totals."""
    cells, totals = {}, defaultdict(float)
    for r in report:
        if r["measure"] != "transition":
            continue
        key = (r["age_band"], r["from"], r["to"])
        cells[key] = (num(r["count"]), num(r["probability"]), num(r["ci_low"]), num(r["ci_high"]))
        if num(r["count"]) is not None:
            totals[(r["age_band"], r["from"])] += num(r["count"])
    return cells, totals


def partitions(cells):
    """The tables whose cells sum to a whole table's: [(whole, [parts])]. The age bands, the
    time-in-state bands and the calendar periods each partition all ages; the time-in-state
    bands of an age band partition it, and the age bands of a time-in-state band."""
    labels = sorted({band for band, _, _ in cells})
    ages = [b for b in labels if b.startswith("ages") and ";" not in b]
    durs = [b for b in labels if b.startswith("months in state")]
    periods = [b for b in labels if b.startswith("period")]
    out = [("all", group) for group in (ages, durs, periods) if group]
    for a in ages:
        out.append((a, [b for b in labels if b.startswith(a + ";")]))
    for m in durs:
        out.append((m, [b for b in labels if ";" in b and b.endswith("; " + m)]))
    return [(w, p) for w, p in out if p]


def initial_groups(yaml_path):
    """{(state, age, locality, tis): count} of the scenario's initial population."""
    groups = {}
    pat = re.compile(r"\{state: (\w+), count: (\d+), age_years: \[([\d.]+), ([\d.]+)\]"
                     r"(?:, locality: (\w+))?(?:, time_in_state_months: \[([\d.]+), ([\d.]+)\])?\}")
    for line in open(yaml_path):
        m = pat.search(line)
        if m:
            key = (m.group(1), m.group(3), m.group(5) or "", m.group(6) or "")
            groups[key] = groups.get(key, 0) + int(m.group(2))
    return groups


def attack(truth, out, N, pop_path, masked):
    """Returns (targets, reconstructed, by route) for the outputs in out (dicts of parsed
    files). masked: the control, where small counts are hidden but everything else is true."""
    t_cells, _ = transition_cells(truth["report"])
    o_cells, o_totals = transition_cells(out["report"])
    targets = {}
    for key, (count, _, _, _) in t_cells.items():
        if count is not None and 1 <= count < N:
            targets[("transition",) + key] = count
    for key, count in truth["initial"].items():
        if 1 <= count < N and key[0] != "universal":
            targets[("initial",) + key] = count
    for r in truth["report"]:
        c = num(r["count"])
        if r["measure"] in ("stock", "moves_per_child", "skip_level_escalations", "reentries_12m",
                            "mean_months_in_level") and c is not None and 1 <= c < N:
            targets[(r["measure"], r["age_band"], r["from"])] = c
    recovered, routes = set(), defaultdict(int)

    def hit(key, value, route):
        if value is not None and abs(value - targets[key]) < 1e-9:
            if key not in recovered:
                routes[route] += 1
            recovered.add(key)

    # Rows' totals as published: the scenario's rows when masked counts hide the report's.
    for key in targets:
        kind = key[0]
        if kind == "transition":
            band, s, d = key[1:]
            pub = o_cells.get((band, s, d))
            if pub is None:
                continue
            count, p, lo, hi = pub
            hit(key, count, "direct")
            n = o_totals.get((band, s))
            if masked:  # the control: the row's child-months are known from the large cells
                n = sum(c for (b2, s2, _), (c, _, _, _) in t_cells.items() if b2 == band and s2 == s)
            if n and p is not None:
                hit(key, round(p * n), "probability")
            if n and lo is not None and hi is not None:
                for k in range(0, 2 * N + 1):
                    if cp_matches(k, n, lo, hi):
                        hit(key, k, "interval")
            # A whole table's cell less the other parts of a partition that holds this one.
            for whole, parts in partitions(o_cells):
                if band not in parts:
                    continue
                w = o_cells.get((whole, s, d), (None,))[0]
                others = [o_cells.get((b2, s, d), (0,))[0] for b2 in parts if b2 != band]
                if w is not None and all(c is not None for c in others):
                    hit(key, w - sum(others), "bands")
        elif kind == "initial":
            hit(key, out["initial"].get(key[1:]), "direct")
            # The population table's children of that age, less the universal and the others.
            state, age, loc, tis = key[1:]
            total = out["pop_at_extract"].get(age)
            if total is not None:
                uni = sum(c for k2, c in out["initial"].items() if k2[0] == "universal" and k2[1] == age)
                rest = sum(c for k2, c in out["initial"].items()
                           if k2[0] != "universal" and k2[1] == age and k2 != key[1:])
                hit(key, total - uni - rest, "population")
        else:
            for r in out["report"]:
                if (r["measure"], r["age_band"], r["from"]) == key:
                    hit(key, num(r["count"]), "direct")
    if out.get("h5") is not None and not masked:
        with h5py.File(out["h5"], "r") as f:
            values = np.concatenate([f[k][()].ravel() for k in ("transitions/counts", "stocks/observed")
                                     if k in f])
        small = values[(values >= 1) & (values < N)]
        routes["h5 small values"] = int(small.size)
    return targets, recovered, routes


def load(directory, pop_path, masked_n=None):
    report = read_report(directory + "/report.csv")
    if masked_n is not None:
        for r in report:
            c = num(r["count"])
            if c is not None and 1 <= c < masked_n:
                r["count"] = "<%d" % masked_n
    initial = initial_groups(directory + "/cal.yaml")
    if masked_n is not None:
        initial = {k: v for k, v in initial.items() if not (1 <= v < masked_n)}
    # The population table at the scenario's extract date: the latest date it gives.
    pop = defaultdict(float)
    with open(pop_path, newline="") as f:
        rows = list(csv.DictReader(f))
    last = max(r["date"] for r in rows)
    for r in rows:
        if r["date"] == last:
            a = float(r["age"])
            pop["%g" % a] += float(r["count"])
    h5 = directory + "/report.h5"
    try:
        open(h5).close()
    except OSError:
        h5 = None
    return {"report": report, "initial": initial, "pop_at_extract": pop, "h5": h5}


def same_events(truth, out):
    """The pairs of a part's cell and its whole's (partitions) that count the same events
    (equal true counts: the other parts have none), and how many of them the outputs round
    apart."""
    t_cells, _ = transition_cells(truth["report"])
    o_cells, _ = transition_cells(out["report"])
    pairs = apart = 0
    for whole, parts in partitions(t_cells):
        for band in parts:
            for (b, s, d), (count, _, _, _) in t_cells.items():
                w = t_cells.get((whole, s, d))
                if b != band or not count or not w or w[0] != count:
                    continue
                pairs += 1
                apart += o_cells.get((band, s, d), (0,))[0] != o_cells.get((whole, s, d), (0,))[0]
    return pairs, apart


def main():
    true_dir, rounded_dir, N, pop_path = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    truth = load(true_dir, pop_path)
    failed = 0
    control = load(true_dir, pop_path, masked_n=N)
    targets, recovered, routes = attack(truth, control, N, pop_path, masked=True)
    tr = [k for k in targets if k[0] == "transition"]
    tr_rec = [k for k in recovered if k[0] == "transition"]
    print("control (small counts printed as <%d, the rest true): %d of %d reconstructed, %d of %d "
          "transition counts (%s)" % (N, len(recovered), len(targets), len(tr_rec), len(tr),
                                      ", ".join("%s %d" % kv for kv in sorted(routes.items()))))
    if len(tr) < 20 or len(tr_rec) < 0.9 * len(tr):
        print("FAILED: the control should reconstruct most transition counts")
        failed = 1
    rounded = load(rounded_dir, pop_path)
    targets, recovered, routes = attack(truth, rounded, N, pop_path, masked=False)
    print("--suppress %d (random rounding to base %d): %d of %d reconstructed; %d values from 1 "
          "to %d in the HDF5 report" % (N, N, len(recovered), len(targets),
                                        routes.get("h5 small values", 0), N - 1))
    if recovered or routes.get("h5 small values", 0):
        for k in sorted(recovered)[:10]:
            print("  reconstructed:", k)
        failed = 1
    pairs, apart = same_events(truth, rounded)
    print("counts of the same events in two tables: %d, rounded apart: %d" % (pairs, apart))
    failed |= pairs < 10 or apart > 0
    # Every count the rounded outputs publish is a multiple of N.
    bad = [r for r in rounded["report"] if num(r["count"]) is not None and num(r["count"]) % N]
    bad += [k for k, v in rounded["initial"].items() if k[0] != "universal" and v % N]
    print("published counts that are not multiples of %d: %d" % (N, len(bad)))
    failed |= bool(bad)
    sys.exit(failed)


if __name__ == "__main__":
    main()
