"""The sections of a sweep's report (scripts/report.py): the sensitivity of each result to each
parameter (tornado, with Monte Carlo errors), the two-way table of a grid's first two parameters
(heatmap), where the savings land at each point, and every point's net cost."""
import numpy as np

from report_data import get, groups as subgroups, names, text
from report_draw import EXTRA, HATCHES, SAVING, STACK, legend_below, money, money_axis, \
    new_figure

LABEL = {"delta_cost_total": "net cost against the baseline",
         "delta_qaly_total": "QALYs gained against the baseline",
         "cost_discounted": "discounted cost", "qalys_discounted": "discounted QALYs"}


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


class Sweep:
    """A sweep's file and what the sections share."""

    def __init__(self, f, tree):
        self.f = f
        self.params = names(f, "parameters")
        self.values = f["values"][()]
        self.design = text(f["design"][0])
        self.grid = self.design == "grid"
        self.saltelli = self.design == "saltelli"
        self.comps = sorted(subgroups(f["comparisons"])) if "comparisons" in f else []
        arms = names(f, "arm_names")
        self.results = [("comparisons", a, r) for a in self.comps
                        for r in ("delta_cost_total", "delta_qaly_total")] or \
            [("arms", a, r) for a in arms for r in ("cost_discounted", "qalys_discounted")]
        self.measure = "main_effect_range" if self.grid else \
            "sobol_total" if self.saltelli else "prcc"
        self.currency = text(get(tree, "costs", "currency", default="GBP"))
        self.arm_label = {a: get(tree, "arms", a, "label", default=a) for a in arms}
        self.holders = names(f, "budget_holders") if "budget_holders" in f else []
        self.holder_label = {h: get(tree, "costs", "budget_holder_labels", h, default=h)
                             for h in self.holders}


def sweep_sections(f, tree, doc):
    s = Sweep(f, tree)
    out = [tornado(s, doc)]
    if s.grid and len(s.params) >= 2 and s.results:
        out.append(heatmap(s, doc))
    if s.comps and s.holders and s.values.shape[0] <= 40:
        out.append(by_holder(s, doc))
    if s.comps:
        out.append(points(s, doc))
    return out


def tornado(s, doc):
    f, params, n = s.f, s.params, len(s.results)
    fig, axes = new_figure(9, 0.7 + 0.42 * len(params) * n + 0.6 * n, nrows=n, squeeze=False)
    rows, handles = [], {}
    for i, (kind, arm, res) in enumerate(s.results):
        base = "sensitivity/%s/%s/%s/" % (kind, arm, res)
        v, mcse = f[base + s.measure][()], f[base + s.measure + "_mcse"][()]
        order = np.argsort(np.nan_to_num(np.abs(v), nan=-1.0))
        ax = axes[i][0]
        for k, p in enumerate(order):
            # Only a correlation has a sign; a range or a Sobol index is a size.
            up = v[p] >= 0 or s.grid or s.saltelli
            h = ax.barh(k, v[p], xerr=np.nan_to_num(2 * mcse[p]), capsize=3,
                        color=SAVING if up else EXTRA, hatch="" if up else "//",
                        edgecolor="#333333", lw=0.4)
            handles.setdefault(("main-effect range" if s.grid else "total Sobol index")
                               if s.grid or s.saltelli else "positive" if up else "negative", h)
        ax.set_yticks(range(len(params)))
        ax.set_yticklabels([short(params[k]) for k in order])
        ax.axvline(0, color="#333333", lw=0.7)
        ax.set_title("%s: %s" % (s.arm_label.get(arm, arm), LABEL[res]))
        ax.grid(axis="y", visible=False)
        if not np.nanmax(np.abs(np.r_[v, 0])) > 0:
            ax.set_xlim(-1, 1)  # no parameter moves this result: a plain axis around zero
        if s.grid and "cost" in res:
            money_axis(ax, s.currency, "x")
        first, se = tornado_extras(s, ax, base, order, v, mcse)
        for k in range(len(params)):
            row = [arm, LABEL[res], params[k]]
            if s.saltelli:
                row.append(("%.4g" % first[k]) if np.isfinite(first[k]) else "n/a")
            row += [("%.4g" % v[k]) if np.isfinite(v[k]) else "n/a", fmt_se(mcse[k])]
            if not s.grid:
                row.append(fmt_se(se[k]))
            rows.append(row)
    legend_below(fig, list(handles.values()), list(handles.keys()), ncol=3)
    caption, head = tornado_words(s)
    alt = ("Horizontal bar charts, one per result, of how much each parameter moves it, longest "
           "bar at the top. %s" % "; ".join(
               "%s: %s matters most" % (LABEL[r], short(params[int(np.nanargmax(np.abs(
                   f["sensitivity/%s/%s/%s/%s" % (k, a, r, s.measure)][()])))]))
               for k, a, r in s.results[:2]))
    return ("Sensitivity of each result to each parameter", "sensitivity",
            doc.figure(fig, alt, caption) +
            doc.table("Sensitivity of each result to each parameter, with its Monte Carlo "
                      "error.", ["arm", "result", "parameter"] + head, rows, row_headers=3,
                      wide=True))


def tornado_extras(s, ax, base, order, v, mcse):
    first = se = None
    if s.saltelli:  # estimates can stray past 1 by their error
        ax.set_xlim(-0.05, max(1.05, float(np.nanmax(np.r_[v + 2 * mcse, 0])) + 0.05))
        first = s.f[base + "sobol_first"][()]
        se = s.f[base + "sobol_total_se_points"][()]
        ax.scatter(first[order], range(len(order)), color="#000000", marker="|", s=200,
                   zorder=3)
    elif not s.grid:
        ax.set_xlim(-1.05, 1.05)
        se = s.f[base + "prcc_se_points"][()]
    return first, se


def tornado_words(s):
    if s.grid:
        return ("Which assumptions matter: for each result, how far it moves across each "
                "parameter's range, averaged over the other parameters (a tornado diagram; "
                "longest bar first from the top; whiskers: two Monte Carlo standard errors). "
                "A bar of exactly zero means the parameter does not change that result.",
                ["main-effect range", "Monte Carlo SE"])
    if s.saltelli:
        return ("Which assumptions matter: the share of each result's variance over the "
                "parameter space that involves each parameter (the total Sobol index, bars, "
                "with two Monte Carlo standard errors), and the share it explains alone (the "
                "first-order index, black marks). A bar of exactly zero means the parameter "
                "does not change that result; the gap between the two is what it does together "
                "with the others.",
                ["first-order index", "total index", "Monte Carlo SE (total)",
                 "SE from the base rows (total)"])
    return ("Which assumptions matter: the partial rank correlation of each result with each "
            "parameter, from -1 (the result falls as the parameter rises, orange) to 1 (blue); "
            "whiskers: two Monte Carlo standard errors, from resampling the replications. The "
            "table also gives the standard error from the finite number of points, which is "
            "usually the larger.",
            ["partial rank correlation", "Monte Carlo SE", "SE from the points"])


def heatmap(s, doc):
    f = s.f
    kind, arm, res = s.results[0]
    z = f["sensitivity/%s/%s/%s/two_way_0_1" % (kind, arm, res)][()]
    a_vals, b_vals = f["axes/0"][()], f["axes/1"][()]
    fig, ax = new_figure(6.5, 4.5)
    im = ax.imshow(z, origin="lower", aspect="auto", cmap="cividis")
    ax.set_xticks(range(len(b_vals)))
    ax.set_xticklabels(["%.3g" % v for v in b_vals])
    ax.set_yticks(range(len(a_vals)))
    ax.set_yticklabels(["%.3g" % v for v in a_vals])
    ax.set_xlabel(short(s.params[1]))
    ax.set_ylabel(short(s.params[0]))
    ax.grid(False)
    bar = fig.colorbar(im, ax=ax, label=LABEL[res])
    if "cost" in res:
        money_axis(bar.ax, s.currency)
    cost = "cost" in res
    trows = [[("%.4g" % a_vals[i]), ("%.4g" % b_vals[j]),
              money(z[i, j], s.currency) if cost else "%.2f" % z[i, j]]
             for i in range(len(a_vals)) for j in range(len(b_vals))]
    lo, hi = np.unravel_index(np.nanargmin(z), z.shape), np.unravel_index(np.nanargmax(z), z.shape)
    alt = ("Heat map of %s of %s over %s (rows) and %s (columns): lowest at %.3g, %.3g; highest "
           "at %.3g, %.3g." % (LABEL[res], s.arm_label.get(arm, arm), short(s.params[0]),
                               short(s.params[1]), a_vals[lo[0]], b_vals[lo[1]], a_vals[hi[0]],
                               b_vals[hi[1]]))
    caption = ("%s of %s over the first two parameters%s. Each cell is one combination of their "
               "values; the colour scale (cividis) reads the same to every colour vision, and "
               "the table gives every value." % (LABEL[res].capitalize(), s.arm_label.get(arm, arm),
                                                 ", averaged over the others"
                                                 if len(s.params) > 2 else ""))
    return ("Two-way table: %s" % LABEL[res], "two-way",
            doc.figure(fig, alt, caption) +
            doc.table("Two-way table of %s." % LABEL[res],
                      [short(s.params[0]), short(s.params[1]), LABEL[res]], trows, row_headers=2))


def by_holder(s, doc):
    f, arm = s.f, s.comps[0]
    H = len(s.holders)
    by = per_point(f, "comparisons/%s/delta_cost_by_holder" % arm).reshape(s.values.shape[0], H)
    labels = [", ".join("%.6g" % v for v in s.values[p]) for p in range(s.values.shape[0])]
    fig, ax = new_figure(9, 1.6 + 0.32 * len(labels))
    left_neg, left_pos = np.zeros(len(labels)), np.zeros(len(labels))
    handles = []
    for h in range(H):
        v = by[:, h]
        handles.append(ax.barh(range(len(labels)), v, left=np.where(v < 0, left_neg, left_pos),
                               color=STACK[h % len(STACK)], hatch=HATCHES[h % len(HATCHES)],
                               edgecolor="#333333", lw=0.4))
        left_neg += np.minimum(v, 0)
        left_pos += np.maximum(v, 0)
    ax.set_yticks(range(len(labels)))
    ax.set_yticklabels(labels)
    ax.set_ylabel(", ".join(short(p) for p in s.params))
    ax.axvline(0, color="#333333", lw=0.7)
    ax.grid(axis="y", visible=False)
    money_axis(ax, s.currency, "x")
    legend_below(fig, handles, [s.holder_label[h] for h in s.holders], ncol=3)
    trows = [[labels[p]] + [money(by[p, h], s.currency) for h in range(H)]
             for p in range(len(labels))]
    alt = ("Stacked horizontal bars, one per point of the sweep, of %s's discounted cost minus "
           "the baseline's by budget holder." % s.arm_label.get(arm, arm))
    caption = ("Where the savings land at each point: %s's discounted cost minus the baseline's "
               "over the horizon, by budget holder (left of zero: that holder spends less)."
               % s.arm_label.get(arm, arm))
    return ("Where the savings land, point by point", "savings-by-point",
            doc.figure(fig, alt, caption) +
            doc.table("Discounted cost minus the baseline's by budget holder at each point.",
                      ["point (%s)" % ", ".join(short(p) for p in s.params)] +
                      [s.holder_label[h] for h in s.holders], trows, wide=True))


def points(s, doc):
    f = s.f
    cost = {a: per_point(f, "comparisons/%s/delta_cost_total" % a) for a in s.comps}
    cost_se = {a: per_point(f, "comparisons/%s/delta_cost_total_mcse" % a) for a in s.comps}
    trows = []
    for p in range(s.values.shape[0]):
        row = ["%.4g" % v for v in s.values[p]]
        for a in s.comps:
            row.append("%s ± %s" % (money(cost[a][p], s.currency),
                                    money(2 * cost_se[a][p], s.currency)))
        trows.append(row)
    header = [short(p) for p in s.params] + \
        ["%s: net cost (± 2 MCSE)" % s.arm_label.get(a, a) for a in s.comps]
    return ("The points", "points",
            doc.table("Every point of the sweep with each arm's discounted net cost against "
                      "the baseline; ± two Monte Carlo standard errors.", header, trows,
                      row_headers=len(s.params), wide=True))
