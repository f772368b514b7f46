#!/usr/bin/env python3
"""Coverage of calibrate's exact 95% intervals over many synthetic datasets, by row kind.

Four known truths, each a three-level model in which every child is born (so the records'
clock of time in state agrees with the truth's) and the window starts once the population is
stationary: one without age or duration dependence, calibrated without bands; one whose rows
differ below age 3, calibrated with --age-bands 3; one whose rows differ in the first six
months in a state, with --duration-bands 6; and one with both, with both options. For each,
DATASETS synthetic extracts (flourish synth, seeds 1..DATASETS) are calibrated back and every
reported cell of the finest table (the one whose rows the truth defines) is checked: does its
95% interval hold the true probability? Cells are grouped by row kind: universal rows (whose
child-months come mostly from the population table: children without a record) and the rest.

Usage: calibration_coverage.py FLOURISH [DATASETS] [--check LO HI]
Prints one line per group; with --check, fails unless every group's coverage is in [LO, HI].
With FLOURISH_STAT_SCALE below 1 (the sanitizer and shared-library stages of scripts/test.sh)
it calibrates 4 datasets of each truth and checks no coverage: those stages look for memory
and undefined-behaviour errors on the same paths; the coverage is checked in the Release stage.
"""
import csv
import os
import subprocess
import sys
import tempfile

STATES = ["universal", "additional", "care"]
BASE = {
    "universal": {"additional": 0.01, "care": 0.001},
    "additional": {"universal": 0.06, "care": 0.01},
    "care": {"universal": 0.02, "additional": 0.02},
}
YOUNG = {  # ages 0-3
    "universal": {"additional": 0.02, "care": 0.002},
    "additional": {"universal": 0.04, "care": 0.02},
    "care": {"universal": 0.03, "additional": 0.01},
}
EARLY = {  # first six months in the state
    "universal": {"additional": 0.03, "care": 0.003},
    "additional": {"universal": 0.12, "care": 0.005},
    "care": {"universal": 0.04, "additional": 0.03},
}
EARLY_YOUNG = {  # both
    "universal": {"additional": 0.05, "care": 0.004},
    "additional": {"universal": 0.10, "care": 0.03},
    "care": {"universal": 0.05, "additional": 0.02},
}


def rows_yaml(rows, indent):
    out = []
    for s in STATES:
        cells = ", ".join("%s: %s" % (d, rows[s][d]) for d in STATES if d != s)
        out.append("%s%s: {%s: rest, %s}" % (indent, s, s, cells))
    return "\n".join(out)


def truth_yaml(age, dur):
    tables = ["    - rows:\n" + rows_yaml(BASE, "        ")]
    if age:
        tables.append("    - age_years: [0, 3]\n      rows:\n" + rows_yaml(YOUNG, "        "))
    if dur:
        tables.append("    - time_in_state_months: [0, 6]\n      rows:\n" + rows_yaml(EARLY, "        "))
    if age and dur:
        tables.append("    - age_years: [0, 3]\n      time_in_state_months: [0, 6]\n      rows:\n"
                      + rows_yaml(EARLY_YOUNG, "        "))
    return (
        "flourish: 1\nname: coverage truth\ntime: {step_months: 1, horizon_steps: 132}\n"
        "levels: [universal, additional, looked_after]\n"
        "states: {universal: {level: universal}, additional: {level: additional},\n"
        "         care: {level: looked_after}}\n"
        "population:\n  max_age_years: 6\n"
        "  initial: [{state: universal, count: 1, age_years: [0, 0]}]\n"
        "  entries: {births: {per_year: 900, states: {universal: 1}}}\n"
        "transitions:\n  tables:\n" + "\n".join(tables) + "\n")


def truth_of(age_band, s, d):
    """The true probability of s -> d in the report's band label."""
    young = "ages 0-3" in age_band
    early = "months in state 0-6" in age_band
    table = EARLY_YOUNG if young and early else YOUNG if young else EARLY if early else BASE
    if d == s:
        return 1 - sum(table[s].values())
    return table[s][d]


def finest(label, age, dur):
    """Whether a report band label is the finest table of a truth with these dependences."""
    has_age, has_dur = label.startswith("ages"), "months in state" in label
    if not age and not dur:
        return label == "all"
    return has_age == bool(age) and has_dur == bool(dur)


def main():
    args = sys.argv[1:]
    check = None
    if "--check" in args:
        i = args.index("--check")
        check = (float(args[i + 1]), float(args[i + 2]))
        del args[i:i + 3]
    flourish = args[0]
    datasets = int(args[1]) if len(args) > 1 else 50
    if float(os.environ.get("FLOURISH_STAT_SCALE", "1")) < 1:
        datasets, check = 4, None
    configs = [("no bands", 0, 0, []), ("age bands", 1, 0, ["--age-bands", "3"]),
               ("duration bands", 0, 1, ["--duration-bands", "6"]),
               ("age and duration bands", 1, 1, ["--age-bands", "3", "--duration-bands", "6"])]
    bad = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, age, dur, opts in configs:
            scen = os.path.join(tmp, "truth.yaml")
            with open(scen, "w") as f:
                f.write(truth_yaml(age, dur))
            tally = {"universal rows": [0, 0], "other rows": [0, 0]}
            for seed in range(1, datasets + 1):
                ep, pop = os.path.join(tmp, "ep.csv"), os.path.join(tmp, "pop.csv")
                rep, out = os.path.join(tmp, "rep.csv"), os.path.join(tmp, "cal.yaml")
                subprocess.run([flourish, "synth", scen, "-o", ep, "--population", pop,
                                "--seed", str(seed), "--start", "2017-01"], check=True)
                subprocess.run([flourish, "calibrate", ep, "--population", pop, "--template",
                                scen, "-o", out, "--report", rep, "--from", "2024-01-01"]
                               + opts, check=True)
                with open(rep, newline="") as f:
                    for row in csv.DictReader(f):
                        if row["measure"] != "transition" or not finest(row["age_band"], age, dur):
                            continue
                        truth = truth_of(row["age_band"], row["from"], row["to"])
                        kind = "universal rows" if row["from"] == "universal" else "other rows"
                        lo, hi = float(row["ci_low"]), float(row["ci_high"])
                        tally[kind][0] += 1
                        tally[kind][1] += lo <= truth <= hi
            for kind, (cells, covered) in tally.items():
                share = covered / cells if cells else float("nan")
                print("%-24s %-15s %5d cells over %d datasets: %.1f%% covered"
                      % (name, kind, cells, datasets, 100 * share))
                if check and not (check[0] <= share <= check[1]):
                    bad.append((name, kind, share))
    if bad:
        for name, kind, share in bad:
            print("FAILED: %s, %s: coverage %.1f%% outside [%.0f%%, %.0f%%]"
                  % (name, kind, 100 * share, 100 * check[0], 100 * check[1]))
        sys.exit(1)


if __name__ == "__main__":
    main()
