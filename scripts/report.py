#!/usr/bin/env python3
"""Flourish report: one self-contained HTML file from a `flourish run` (or `expect`) output.

Usage: report.py OUT.h5 -o report.html   (OUT.h5 from flourish run, expect or sweep)

Figures (each with a plain-English caption and the table behind it):
  1. children at each level over time, per arm: median with 50% and 90% bands (fan charts);
  2. flows into and out of each level per year (the same stock can rise for different reasons);
  3. where the savings land: difference from the baseline by budget holder over the horizon
     (waterfall) and year by year;
  4. cumulative net cost difference with its break-even distribution;
  5. the cost-QALY plane and the cost-effectiveness acceptability curve.
For a sweep: the sensitivity of each result to each parameter (tornado), a two-way table of
the first two parameters of a grid (heatmap), where the savings land at each point (by budget
holder), and every point with its net costs.
Exit status: 0 success, 1 runtime failure, 2 bad input (not a Flourish output file).
"""
import argparse
import base64
import html
import io
import os
import sys
import tempfile

try:
    import h5py
    import numpy as np
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write(
        "flourish report: %s; install Debian's python3-h5py and python3-matplotlib\n" % exc
    )
    sys.exit(1)

COLOURS = ["#1b6ca8", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c92a2a"]


class BadInput(Exception):
    pass


def text(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def names(f, path):
    return [text(x) for x in f[path][()]]


def figure_html(fig, alt):
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode()
    return '<img class="figure" alt="%s" src="data:image/png;base64,%s">' % (html.escape(alt), data)


def table_html(header, rows):
    out = ["<table><thead><tr>"]
    out += ["<th>%s</th>" % html.escape(h) for h in header]
    out.append("</tr></thead><tbody>")
    for row in rows:
        out.append("<tr>" + "".join("<td>%s</td>" % html.escape(str(c)) for c in row) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def money(x):
    if not np.isfinite(x):
        return "n/a"
    return ("−£{:,.0f}" if x < 0 else "£{:,.0f}").format(abs(x))


def money_axis(ax, which="y"):
    """Tick labels in pounds, thousands or millions: no '1e7' offsets on a cost axis."""
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    big = max(abs(lo), abs(hi))
    scale, unit = (1e6, "m") if big >= 2e6 else (1e3, "k") if big >= 2e3 else (1.0, "")

    def fmt(v, _pos):
        return ("−" if v < 0 else "") + "£%g%s" % (abs(v) / scale, unit)

    (ax.yaxis if which == "y" else ax.xaxis).set_major_formatter(
        matplotlib.ticker.FuncFormatter(fmt))


class Output:
    """The datasets of one output file, with the replication dimension always first."""

    def __init__(self, path):
        try:
            self.f = h5py.File(path, "r")
        except (OSError, ValueError) as exc:
            raise BadInput("%s: cannot open as HDF5 (%s)" % (path, exc))
        f = self.f
        for key in ("mode", "step_months"):
            if key not in f.attrs:
                raise BadInput("%s: not a Flourish output file (no '%s' attribute)" % (path, key))
        for key in ("levels", "states", "state_level", "budget_holders", "arms"):
            if key not in f:
                raise BadInput("%s: not a Flourish output file (no /%s)" % (path, key))
        self.path = path
        self.mc = text(f.attrs["mode"]) == "monte_carlo"
        self.step = float(f.attrs["step_months"])
        self.levels = names(f, "levels")
        self.states = names(f, "states")
        self.state_level = f["state_level"][()]
        self.holders = names(f, "budget_holders")
        arms = list(f["arms"].keys())
        self.arms = ["baseline"] + [a for a in arms if a != "baseline"] if "baseline" in arms else arms
        # The arms with a comparison against the baseline.
        self.compared = [a for a in self.arms if a != "baseline" and a in f.get("comparisons", {})]

    def get(self, group, arm, name):
        d = self.f["%s/%s/%s" % (group, arm, name)][()]
        return d if self.mc else d[np.newaxis, ...]

    def years(self, T):
        per = max(1, int(round(12 / self.step)))
        return np.arange(T) / per, per


def fan_charts(out):
    """Figure 1: children by level, each arm's median and bands."""
    L = len(out.levels)
    fig, axes = plt.subplots(1, L, figsize=(4.2 * L, 3.6), squeeze=False)
    rows = []
    for ai, arm in enumerate(out.arms):
        lv = out.get("arms", arm, "stocks_by_level").astype(float)  # [R, T+1, L]
        t, per = out.years(lv.shape[1])
        for l in range(L):
            ax = axes[0][l]
            q = np.percentile(lv[:, :, l], [5, 25, 50, 75, 95], axis=0)
            c = COLOURS[ai % len(COLOURS)]
            ax.plot(t, q[2], color=c, label=arm, lw=1.6)
            if lv.shape[0] > 1:
                ax.fill_between(t, q[1], q[3], color=c, alpha=0.25, lw=0)
                ax.fill_between(t, q[0], q[4], color=c, alpha=0.10, lw=0)
            ax.set_title(out.levels[l])
            ax.set_xlabel("years")
        last = lv.shape[1] - 1
        for l in range(L):
            v = lv[:, last, l]
            rows.append([arm, out.levels[l], "%.1f" % lv[:, 0, l].mean(), "%.1f" % v.mean(),
                         "%.0f" % np.percentile(v, 5), "%.0f" % np.percentile(v, 95)])
    axes[0][0].set_ylabel("children")
    axes[0][-1].legend(fontsize=8)
    caption = ("How many children are at each level over time, for each arm. The line is the "
               "median over replications, the darker band holds the middle half of them and the "
               "lighter band nine in ten. Where the bands of two arms separate, the difference "
               "is larger than chance.")
    table = table_html(["arm", "level", "at start (mean)", "at end (mean)", "at end, 5%",
                        "at end, 95%"], rows)
    return ("Children at each level", figure_html(fig, "children by level"), caption, table)


def flows(out):
    """Figure 2: inflow and outflow of each level per year (mean over replications)."""
    if "flows" not in out.f["arms/%s" % out.arms[0]]:
        return ("Flows in and out of each level", "",
                "The file holds no flows (it was written by run --no-flows), so the flows into "
                "and out of each level are not shown.", "")
    L = len(out.levels)
    fig, axes = plt.subplots(1, L, figsize=(4.2 * L, 3.4), squeeze=False)
    rows = []
    for ai, arm in enumerate(out.arms):
        fl = out.get("arms", arm, "flows").astype(float)  # [R, T, S, S]
        en = out.get("arms", arm, "entries").astype(float)
        ex = out.get("arms", arm, "exits").astype(float)
        T = fl.shape[1]
        _, per = out.years(T)
        n_years = T // per
        lvl = out.state_level
        for l in range(L):
            into = (lvl == l)
            from_other = fl[:, :, ~into][:, :, :, into].sum(axis=(2, 3)) if (~into).any() else 0 * fl[:, :, 0, 0]
            to_other = fl[:, :, into][:, :, :, ~into].sum(axis=(2, 3)) if (~into).any() else 0 * fl[:, :, 0, 0]
            inflow = (from_other + en[:, :, into].sum(axis=2)).mean(axis=0)
            outflow = (to_other + ex[:, :, into].sum(axis=2)).mean(axis=0)
            yin = inflow[: n_years * per].reshape(n_years, per).sum(axis=1)
            yout = outflow[: n_years * per].reshape(n_years, per).sum(axis=1)
            c = COLOURS[ai % len(COLOURS)]
            x = np.arange(1, n_years + 1)
            axes[0][l].plot(x, yin, color=c, lw=1.6, label="%s in" % arm)
            axes[0][l].plot(x, yout, color=c, lw=1.6, ls="--", label="%s out" % arm)
            axes[0][l].set_title(out.levels[l])
            axes[0][l].set_xlabel("year")
            rows.append([arm, out.levels[l], "%.1f" % yin.mean(), "%.1f" % yout.mean()])
    axes[0][0].set_ylabel("children a year")
    axes[0][-1].legend(fontsize=7)
    caption = ("Children moving into (solid) and out of (dashed) each level each year, from other "
               "levels, births and arrivals, and leaving. A level's stock rises when more come in "
               "than go out: fewer arrivals and faster departures can give the same stock for "
               "different reasons.")
    table = table_html(["arm", "level", "into the level a year (mean)", "out of it a year (mean)"],
                       rows)
    return ("Flows in and out of each level", figure_html(fig, "flows"), caption, table)


def savings(out):
    """Figure 3: difference in cost by budget holder, over the horizon and year by year."""
    arms = out.compared
    if not arms:
        return None
    B = len(out.holders)
    fig, axes = plt.subplots(len(arms), 2, figsize=(11, 3.6 * len(arms)), squeeze=False,
                             layout="constrained")
    rows = []
    for i, arm in enumerate(arms):
        dc = out.get("comparisons", arm, "delta_costs")  # [R, T, B]
        total = dc.sum(axis=1).mean(axis=0)
        ax = axes[i][0]
        start = 0.0
        ends = [0.0]
        for b in range(B):
            colour = "#2b8a3e" if total[b] < 0 else "#c92a2a"
            ax.bar(b, total[b], bottom=start, color=colour)
            start += total[b]
            ends.append(start)
        ax.bar(B, start, color="#495057")
        span = max(max(ends) - min(ends), 1.0)
        ax.set_ylim(min(ends) - 0.08 * span, max(ends) + 0.08 * span)
        money_axis(ax)
        ax.set_xticks(range(B + 1))
        ax.set_xticklabels(out.holders + ["net"], rotation=30, ha="right", fontsize=8)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title("%s: over the horizon (waterfall)" % arm)
        T = dc.shape[1]
        _, per = out.years(T)
        n_years = T // per
        yearly = dc.mean(axis=0)[: n_years * per].reshape(n_years, per, B).sum(axis=1)
        ax = axes[i][1]
        pos = np.zeros(n_years)
        neg = np.zeros(n_years)
        x = np.arange(1, n_years + 1)
        for b in range(B):
            v = yearly[:, b]
            ax.bar(x, np.where(v > 0, v, 0), bottom=pos, color=COLOURS[b % len(COLOURS)],
                   label=out.holders[b])
            ax.bar(x, np.where(v < 0, v, 0), bottom=neg, color=COLOURS[b % len(COLOURS)])
            pos += np.where(v > 0, v, 0)
            neg += np.where(v < 0, v, 0)
        ax.plot(x, yearly.sum(axis=1), color="black", marker="o", lw=1, label="net")
        span = max(pos.max() - neg.min(), 1.0)
        ax.set_ylim(neg.min() - 0.08 * span, pos.max() + 0.08 * span)
        money_axis(ax)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_title("%s: year by year" % arm)
        ax.set_xlabel("year")
        if i == 0:
            ax.legend(fontsize=7, ncol=2, loc="center left", bbox_to_anchor=(1.02, 0.5))
        for b in range(B):
            rows.append([arm, out.holders[b], money(total[b])])
        rows.append([arm, "net", money(total.sum())])
    caption = ("Where the savings land: each arm's cost minus the baseline's, by budget holder "
               "(mean over replications, undiscounted). Green bars are savings, red bars extra "
               "costs; the grey bar is the net. The right-hand panels show the same year by year: "
               "costs often rise before savings appear, and savings in one budget can pay for "
               "spending in another.")
    table = table_html(["arm", "budget holder", "difference over the horizon (mean)"], rows)
    return ("Where the savings land", figure_html(fig, "savings by budget holder"), caption, table)


def breakeven(out):
    """Figure 4: cumulative net cost difference and the break-even distribution."""
    arms = out.compared
    if not arms:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6))
    rows = []
    for i, arm in enumerate(arms):
        cum = out.get("comparisons", arm, "cumulative_net_cost")  # [R, T]
        t = np.arange(1, cum.shape[1] + 1) * out.step / 12
        q = np.percentile(cum, [5, 50, 95], axis=0)
        c = COLOURS[(i + 1) % len(COLOURS)]
        axes[0].plot(t, q[1], color=c, label=arm)
        if cum.shape[0] > 1:
            axes[0].fill_between(t, q[0], q[2], color=c, alpha=0.15, lw=0)
        be = out.get("comparisons", arm, "breakeven_step").astype(float).ravel()
        hit = be[be >= 0] * out.step / 12
        if hit.size:
            axes[1].hist(hit, bins=20, color=c, alpha=0.6, label=arm)
        rows.append([arm, "%.2f" % np.median(hit) if hit.size else "none",
                     "%.0f%%" % (100 * (be < 0).mean()), money(q[1][-1])])
    axes[0].axhline(0, color="black", lw=0.6)
    axes[0].set_xlabel("years")
    axes[0].set_ylabel("cumulative net cost difference")
    money_axis(axes[0])
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("break-even (years)")
    axes[1].set_ylabel("replications")
    caption = ("The running total of each arm's extra cost (positive) or saving (negative) "
               "against the baseline, median and 90% band; and when it breaks even, that is, "
               "from when the running total stays at or below zero, across replications.")
    table = table_html(["arm", "median break-even (years)", "never breaks even",
                        "cumulative difference at the end (median)"], rows)
    return ("When the investment breaks even", figure_html(fig, "break-even"), caption, table)


def cost_effectiveness(out):
    """Figure 5: cost-QALY plane and acceptability curve."""
    arms = out.compared
    if not arms:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    rows = []
    for i, arm in enumerate(arms):
        dq = out.get("comparisons", arm, "delta_qaly_total").ravel()
        dc = out.get("comparisons", arm, "delta_cost_total").ravel()
        c = COLOURS[(i + 1) % len(COLOURS)]
        axes[0].scatter(dq, dc, s=8, color=c, alpha=0.6, label=arm)
        wtp = out.f["comparisons/%s/willingness_to_pay" % arm][()]
        nmb = out.get("comparisons", arm, "net_monetary_benefit")
        pce = (nmb > 0).mean(axis=0)
        axes[1].plot(wtp, pce, marker="o", color=c, label=arm)
        for k in range(len(wtp)):
            rows.append([arm, money(wtp[k]), money(nmb[:, k].mean()), "%.2f" % pce[k]])
    axes[0].axhline(0, color="black", lw=0.6)
    axes[0].axvline(0, color="black", lw=0.6)
    axes[0].set_xlabel("difference in quality-adjusted child-years (discounted)")
    axes[0].set_ylabel("difference in cost (discounted)")
    money_axis(axes[0])
    axes[0].legend(fontsize=8)
    axes[1].set_xlabel("value of a quality-adjusted year")
    axes[1].set_ylabel("probability cost-effective")
    axes[1].set_ylim(-0.02, 1.02)
    caption = ("Left: each replication's difference in cost against its difference in quality "
               "of life. Points below the horizontal line save money; points right of the "
               "vertical line improve quality of life. Right: the probability that the arm is "
               "worth it, for each value placed on a quality-adjusted year.")
    table = table_html(["arm", "value of a QALY", "net monetary benefit (mean)",
                        "probability cost-effective"], rows)
    return ("Costs against quality of life", figure_html(fig, "cost-effectiveness"), caption,
            table)


def short(path):
    """A parameter's path, shortened for labels: its last two parts."""
    parts = path.replace("[", ".[").split(".")
    return ".".join(parts[-2:]) if len(parts) > 2 else path


def per_point(f, path):
    """A per-point dataset as [point] (scalar results) or [point, k]: on a grid the file has a
    dimension per parameter, in the order of /values (C order)."""
    d = f[path][()]
    n = f["values"].shape[0]
    return d.reshape(n) if d.size == n else d.reshape(n, -1)


def fmt_se(x):
    return ("%.2g" % x) if np.isfinite(x) else "n/a"


def sweep_sections(f):
    """Sections of a sweep report: tornado per result (with Monte Carlo errors), heatmap of the
    two-way table of a grid's first two parameters, and the table of points."""
    params = names(f, "parameters")
    values = f["values"][()]
    design = text(f["design"][0])
    grid = design == "grid"
    comps = sorted(f["comparisons"].keys()) if "comparisons" in f else []
    arms = names(f, "arm_names")
    groups = [("comparisons", a, r) for a in comps for r in ("delta_cost_total", "delta_qaly_total")]
    if not comps:
        groups = [("arms", a, r) for a in arms for r in ("cost_discounted", "qalys_discounted")]
    label = {"delta_cost_total": "net cost against the baseline",
             "delta_qaly_total": "QALYs gained against the baseline",
             "cost_discounted": "discounted cost", "qalys_discounted": "discounted QALYs"}
    saltelli = design == "saltelli"
    measure = "main_effect_range" if grid else "sobol_total" if saltelli else "prcc"
    sections = []

    n = len(groups)
    fig, axes = plt.subplots(n, 1, figsize=(9, 0.5 + 0.45 * len(params) * n + 0.6 * n),
                             squeeze=False, layout="constrained")
    rows = []
    for i, (kind, arm, res) in enumerate(groups):
        base = "sensitivity/%s/%s/%s/" % (kind, arm, res)
        s = f[base + measure][()]
        mcse = f[base + measure + "_mcse"][()]
        order = np.argsort(np.nan_to_num(np.abs(s), nan=-1.0))
        ax = axes[i][0]
        ax.barh(range(len(params)), s[order], xerr=np.nan_to_num(2 * mcse[order]), capsize=3,
                color=[COLOURS[0] if v >= 0 else COLOURS[1] for v in s[order]])
        ax.set_yticks(range(len(params)))
        ax.set_yticklabels([short(params[k]) for k in order], fontsize=8)
        ax.axvline(0, color="black", lw=0.6)
        ax.set_title("%s: %s" % (arm, label[res]), fontsize=10)
        if grid and "cost" in res:
            money_axis(ax, "x")
        if saltelli:  # estimates can stray past 1 by their error
            ax.set_xlim(-0.05, max(1.05, float(np.nanmax(np.r_[s + 2 * mcse, 0])) + 0.05))
            first = f[base + "sobol_first"][()]
            se = f[base + "sobol_total_se_points"][()]
            ax.scatter(first[order], range(len(params)), color="black", marker="|", s=200,
                       zorder=3, label="first-order index")
            if i == 0:
                ax.legend(fontsize=8, loc="lower right")
        elif not grid:
            ax.set_xlim(-1.05, 1.05)
            se = f[base + "prcc_se_points"][()]
        for k in range(len(params)):
            row = [arm, label[res], params[k]]
            if saltelli:
                row.append(("%.4g" % first[k]) if np.isfinite(first[k]) else "n/a")
            row += [("%.4g" % s[k]) if np.isfinite(s[k]) else "n/a", fmt_se(mcse[k])]
            if not grid:
                row.append(fmt_se(se[k]))
            rows.append(row)
    if grid:
        caption = ("Which assumptions matter: for each result, how far it moves across each "
                   "parameter's range, averaged over the other parameters (a tornado diagram; "
                   "longest bar first from the top; whiskers: two Monte Carlo standard "
                   "errors). A bar of exactly zero means the parameter does not change that "
                   "result.")
        head = ["main-effect range", "Monte Carlo SE"]
    elif saltelli:
        caption = ("Which assumptions matter: the share of each result's variance over the "
                   "parameter space that involves each parameter (the total Sobol index, bars, "
                   "with two Monte Carlo standard errors), and the share it explains alone "
                   "(the first-order index, black marks). A bar of exactly zero means the "
                   "parameter does not change that result; the gap between the two is what it "
                   "does together with the others.")
        head = ["first-order index", "total index", "Monte Carlo SE (total)",
                "SE from the base rows (total)"]
    else:
        caption = ("Which assumptions matter: the partial rank correlation of each result with "
                   "each parameter, from -1 (the result falls as the parameter rises) to 1 "
                   "(whiskers: two Monte Carlo standard errors, from resampling the "
                   "replications). The table also gives the standard error from the finite "
                   "number of points, which is usually the larger.")
        head = ["partial rank correlation", "Monte Carlo SE", "SE from the points"]
    sections.append(("Sensitivity of each result to each parameter",
                     figure_html(fig, "sensitivity"), caption,
                     table_html(["arm", "result", "parameter"] + head, rows)))

    if grid and len(params) >= 2 and groups:
        kind, arm, res = groups[0]
        z = f["sensitivity/%s/%s/%s/two_way_0_1" % (kind, arm, res)][()]
        a_vals, b_vals = f["axes/0"][()], f["axes/1"][()]
        fig, ax = plt.subplots(figsize=(6.5, 4.5), layout="constrained")
        im = ax.imshow(z, origin="lower", aspect="auto", cmap="RdYlGn_r" if "cost" in res else "RdYlGn")
        ax.set_xticks(range(len(b_vals)))
        ax.set_xticklabels(["%.3g" % v for v in b_vals], fontsize=8)
        ax.set_yticks(range(len(a_vals)))
        ax.set_yticklabels(["%.3g" % v for v in a_vals], fontsize=8)
        ax.set_xlabel(short(params[1]))
        ax.set_ylabel(short(params[0]))
        fig.colorbar(im, ax=ax, label=label[res])
        trows = [[("%.4g" % a_vals[i]), ("%.4g" % b_vals[j]),
                  money(z[i, j]) if "cost" in res else "%.2f" % z[i, j]]
                 for i in range(len(a_vals)) for j in range(len(b_vals))]
        caption = ("%s of %s over the first two parameters%s. Each cell is one combination "
                   "of their values." % (label[res].capitalize(), arm,
                                         ", averaged over the others" if len(params) > 2 else ""))
        sections.append(("Two-way table: %s" % label[res], figure_html(fig, "heatmap"), caption,
                         table_html([short(params[0]), short(params[1]), label[res]], trows)))

    if comps and "budget_holders" in f and values.shape[0] <= 40:
        arm = comps[0]
        holders = names(f, "budget_holders")
        by = per_point(f, "comparisons/%s/delta_cost_by_holder" % arm).reshape(
            values.shape[0], len(holders))
        labels = [", ".join("%.6g" % v for v in values[p]) for p in range(values.shape[0])]
        fig, ax = plt.subplots(figsize=(9, 1.2 + 0.32 * len(labels)), layout="constrained")
        left_neg = np.zeros(len(labels))
        left_pos = np.zeros(len(labels))
        for h, name in enumerate(holders):
            v = by[:, h]
            left = np.where(v < 0, left_neg, left_pos)
            ax.barh(range(len(labels)), v, left=left, color=COLOURS[h % len(COLOURS)], label=name)
            left_neg += np.minimum(v, 0)
            left_pos += np.maximum(v, 0)
        ax.set_yticks(range(len(labels)))
        ax.set_yticklabels(labels, fontsize=8)
        ax.set_ylabel(", ".join(short(p) for p in params), fontsize=8)
        ax.axvline(0, color="black", lw=0.6)
        money_axis(ax, "x")
        ax.legend(fontsize=8, loc="best")
        trows = [[labels[p]] + [money(by[p, h]) for h in range(len(holders))]
                 for p in range(len(labels))]
        caption = ("Where the savings land at each point: %s's discounted cost minus the "
                   "baseline's over the horizon, by budget holder (left of zero: that holder "
                   "spends less)." % arm)
        sections.append(("Where the savings land, point by point",
                         figure_html(fig, "savings by budget holder"), caption,
                         table_html(["point (%s)" % ", ".join(short(p) for p in params)] +
                                    holders, trows)))

    if comps:
        header = [short(p) for p in params]
        cost = {a: per_point(f, "comparisons/%s/delta_cost_total" % a) for a in comps}
        cost_se = {a: per_point(f, "comparisons/%s/delta_cost_total_mcse" % a) for a in comps}
        trows = []
        for p in range(values.shape[0]):
            row = ["%.4g" % v for v in values[p]]
            for a in comps:
                row.append("%s ± %s" % (money(cost[a][p]), money(2 * cost_se[a][p])))
            trows.append(row)
        header += ["%s: net cost (± 2 MCSE)" % a for a in comps]
        caption = ("Every point of the sweep with each arm's discounted net cost against the "
                   "baseline; ± two Monte Carlo standard errors.")
        sections.append(("The points", "", caption, table_html(header, trows)))
    return sections


def document(title, intro, sections):
    """The whole HTML page: title and heading, the intro (HTML), then each section with its
    figure, caption and table, and the script that counts the figures that decoded."""
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<title>%s</title><style>%s</style></head><body>" % (html.escape(title), STYLE),
             "<h1>%s</h1>" % html.escape(title), intro]
    for heading, fig, caption, table in sections:
        parts += ["<section><h2>%s</h2>" % html.escape(heading), fig,
                  "<p class='caption'>%s</p>" % html.escape(caption), table, "</section>"]
    parts += [FIGURE_SCRIPT, "</body></html>"]
    return "".join(parts)


def build_sweep(f, path):
    a = f.attrs
    intro = (
        "<p class='meta'>Flourish %s (git %s); %s design, %d points over %s; %s replications "
        "at each point; seed %s (the same at every point); results created %s; report from "
        "<code>%s</code>.</p>"
        % (html.escape(text(a.get("flourish_version", "?"))),
           html.escape(text(a.get("git_commit", "?"))), html.escape(text(f["design"][0])),
           f["values"].shape[0], html.escape(", ".join(names(f, "parameters"))),
           text(a.get("replications", "?")), text(a.get("seed", "?")),
           html.escape(text(a.get("created_utc", "?"))), html.escape(os.path.basename(path))))
    title = "%s: sensitivity sweep" % text(a.get("scenario_name", "Flourish"))
    return document(title, intro, sweep_sections(f))


STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1180px; margin: 2em auto; color: #212529;
       line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #dee2e6; }
.figure { max-width: 100%; } .caption { color: #495057; margin: 0.4em 0 0.8em; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1em; }
th, td { border: 1px solid #dee2e6; padding: 0.25em 0.6em; text-align: right; }
td { white-space: nowrap; }
th { background: #f1f3f5; } td:first-child, td:nth-child(2) { text-align: left; }
.meta { color: #495057; font-size: 0.9em; }
"""


FIGURE_SCRIPT = (
    "<script>window.addEventListener('load', function () {"
    "var imgs = document.querySelectorAll('img.figure'), n = 0;"
    "imgs.forEach(function (i) { if (i.complete && i.naturalWidth > 0) n++; });"
    "document.body.setAttribute('data-figures', imgs.length);"
    "document.body.setAttribute('data-figures-loaded', n); });</script>")


def build(path):
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise BadInput("%s: cannot open as HDF5 (%s)" % (path, exc))
    with f:
        if text(f.attrs.get("mode", "")) == "sweep":
            return build_sweep(f, path)
    out = Output(path)
    f = out.f
    a = f.attrs
    sections = [fan_charts(out), flows(out), savings(out), breakeven(out), cost_effectiveness(out)]
    sections = [s for s in sections if s]
    intro = (
        "<p class='meta'>Flourish %s (git %s); %s; seed %s; %s replications; horizon %s months; "
        "results created %s; report from <code>%s</code>.</p>"
        % (html.escape(text(a.get("flourish_version", "?"))), html.escape(text(a.get("git_commit", "?"))),
           "Monte Carlo" if out.mc else "expected values", text(a.get("seed", "?")),
           text(a.get("replications", "?")), text(a.get("horizon_months", "?")),
           html.escape(text(a.get("created_utc", "?"))), html.escape(os.path.basename(path)))
        + "<p>Arms: %s. Costs are in the scenario's currency; differences are each arm minus the "
        "baseline, replication by replication (the arms share every child's random numbers)."
        "</p>" % html.escape(", ".join(out.arms)))
    return document(text(a.get("scenario_name", "Flourish results")), intro, sections)


def main(argv):
    p = argparse.ArgumentParser(prog="flourish report", description=__doc__.split("\n")[0])
    p.add_argument("input")
    p.add_argument("-o", "--output", required=True)
    args = p.parse_args(argv)
    try:
        doc = build(args.input)
    except BadInput as exc:
        sys.stderr.write("flourish report: %s\n" % exc)
        return 2
    except KeyError as exc:
        sys.stderr.write("flourish report: %s: not a complete Flourish output file (missing %s)\n"
                         % (args.input, exc))
        return 2
    except (ValueError, IndexError, TypeError, ZeroDivisionError, OSError) as exc:
        # Contents of the wrong shape or type: a damaged file, reported in one line.
        sys.stderr.write("flourish report: %s: not a readable Flourish output file (%s: %s)\n"
                         % (args.input, type(exc).__name__, exc))
        return 2
    except Exception as exc:  # a fault of the report itself: still one line, no traceback
        sys.stderr.write("flourish report: %s: the report failed (%s: %s)\n"
                         % (args.input, type(exc).__name__, exc))
        return 1
    directory = os.path.dirname(os.path.abspath(args.output))
    # Replace only a regular file (flourish report checked this; it is checked again here, as
    # the file is moved into place).
    if os.path.lexists(args.output) and not (os.path.isfile(args.output)
                                             and not os.path.islink(args.output)):
        sys.stderr.write("flourish report: %s: -o: not a regular file; give the path of a new "
                         "file\n" % args.output)
        return 2
    fd, tmp = tempfile.mkstemp(prefix=".report-", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(doc)
        os.chmod(tmp, 0o644)
        os.replace(tmp, args.output)
    except OSError as exc:
        os.unlink(tmp)
        sys.stderr.write("flourish report: %s: %s\n" % (args.output, exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
