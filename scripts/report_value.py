"""The sections of a run's report (scripts/report.py) on value for money: the running total
and break-even, the cost-QALY plane and acceptability curve, and the split of the variance
between parameter uncertainty and chance."""
import html

import numpy as np

from report_draw import interval, legend_below, money, money_axis, new_figure, pct, q, \
    style
from report_sections import breakeven_months


def esc(s):
    return html.escape(str(s))


def arm_index(out, arm):
    return out.arms.index(arm)


def breakeven(out, doc):
    """The cumulative net cost difference (paired) with its band, and the share of
    replications broken even by each date."""
    if not out.compared:
        return None
    code = out.currency
    fig, axes = new_figure(10.5, 3.6, ncols=2)
    handles, labels, rows = [], [], []
    for arm in out.compared:
        st = style(arm_index(out, arm))
        cum = out.get("comparisons", arm, "cumulative_net_cost")
        t = out.cal.x(np.arange(1, cum.shape[1] + 1))
        lo, mid, hi = q(cum)
        line, = axes[0].plot(t, mid, markevery=12 * out.per_year, markersize=4, **st)
        if cum.shape[0] > 1:
            axes[0].fill_between(t, lo, hi, color=st["color"], alpha=0.12, lw=0)
        months = breakeven_months(out, arm)
        grid = np.arange(1, cum.shape[1] + 1) * out.step
        share = (months[:, None] <= grid[None, :]).mean(axis=0)
        axes[1].step(out.cal.x(grid / out.step), share, where="post", color=st["color"],
                     linestyle=st["linestyle"], lw=1.8)
        handles.append(line)
        labels.append(out.arm_label[arm])
        pm = lambda p: np.percentile(months, p, method="lower")  # noqa: E731
        fmt = lambda m: "month %g" % m if np.isfinite(m) else "never"  # noqa: E731
        rows.append([out.arm_label[arm], fmt(pm(50))]
                    + ([interval(pm(5), pm(95), fmt), pct(np.mean(~np.isfinite(months)))]
                       if out.mc else [])
                    + [money(np.median(cum[:, -1]), code)])
    axes[0].axhline(0, color="#333333", lw=0.7)
    axes[0].set_ylabel("cumulative net cost, arm minus baseline")
    money_axis(axes[0], code)
    axes[1].set_ylabel("share of replications broken even")
    axes[1].set_ylim(-0.02, 1.02)
    for ax in axes:
        out.cal.axis(ax)
    legend_below(fig, handles, labels)
    alt = ("Left, line charts of each arm's running total of cost minus the baseline's; right, "
           "step charts of the share of replications that have broken even by each date. %s"
           % "; ".join("%s: median break-even %s" % (r[0], r[1]) for r in rows))
    caption = ("Left: the running total of each arm's extra cost (above zero) or saving (below) "
               "against the baseline, undiscounted, median and 90%% band of the paired "
               "difference. Right: the share of replications that have broken even by each "
               "date, break-even being the end of the month from which the running total stays "
               "at or below zero. %s" % esc(out.uncertainty_words()))
    head = ["arm", "break-even (median)"] + (["90% interval", "never within the horizon"]
                                            if out.mc else []) + \
        ["cumulative difference at the end (median)"]
    return ("When the investment breaks even", "breakeven",
            doc.figure(fig, alt, caption) +
            doc.table("Break-even month (months from the start) and the cumulative net cost "
                      "difference at the end of the horizon (undiscounted).", head, rows))


def cost_effectiveness(out, doc):
    """The cost-QALY plane (discounted totals per replication) and the acceptability curve."""
    if not out.compared:
        return None
    code = out.currency
    fig, axes = new_figure(10.5, 3.9, ncols=2)
    handles, labels, rows = [], [], []
    for arm in out.compared:
        st = style(arm_index(out, arm))
        dq = out.get("comparisons", arm, "delta_qaly_total").ravel()
        dc = out.get("comparisons", arm, "delta_cost_total").ravel()
        pts = axes[0].scatter(dq, dc, s=10, color=st["color"], marker=st["marker"], alpha=0.5,
                              lw=0)
        wtp = out.f["comparisons/%s/willingness_to_pay" % arm][()]
        nmb = out.get("comparisons", arm, "net_monetary_benefit")
        pce = (nmb > 0).mean(axis=0)
        axes[1].plot(wtp, pce, markersize=5, **st)
        handles.append(pts)
        labels.append(out.arm_label[arm])
        for k in range(len(wtp)):
            lo, _, hi = q(nmb[:, k])
            rows.append([out.arm_label[arm], money(wtp[k], code), money(nmb[:, k].mean(), code)]
                        + ([interval(lo, hi, lambda v: money(v, code)), "%.2f" % pce[k]]
                           if out.mc else []))
    axes[0].axhline(0, color="#333333", lw=0.7)
    axes[0].axvline(0, color="#333333", lw=0.7)
    axes[0].set_xlabel("QALYs gained (discounted)")
    axes[0].set_ylabel("net cost (discounted)")
    money_axis(axes[0], code)
    axes[1].set_xlabel("value of a QALY")
    axes[1].set_ylabel("probability cost-effective")
    money_axis(axes[1], code, "x")
    axes[1].set_ylim(-0.02, 1.02)
    legend_below(fig, handles, labels)
    alt = ("Left, a scatter of each replication's discounted net cost against QALYs gained, one "
           "marker shape per arm; right, each arm's probability of being cost-effective at each "
           "value of a QALY. %s" % "; ".join(
               "%s: %d%% of points below zero cost" % (out.arm_label[a], round(100 * np.mean(
                   out.get("comparisons", a, "delta_cost_total") < 0))) for a in out.compared))
    caption = ("Left: each replication's discounted net cost against its QALYs gained, arm "
               "minus baseline (below the line: a saving; right of the line: a gain). Right: "
               "the cost-effectiveness acceptability curve, the share of replications whose net "
               "monetary benefit is positive at each value of a QALY. %s"
               % esc(out.uncertainty_words()))
    head = ["arm", "value of a QALY", "net monetary benefit (mean)"] + \
        (["90% interval", "probability cost-effective"] if out.mc else [])
    return ("Cost-effectiveness", "cost-effectiveness",
            doc.figure(fig, alt, caption) +
            doc.table("Net monetary benefit at each value of a QALY (discounted).", head, rows,
                      row_headers=2))


def variance_split(out, doc):
    """With --psa in blocks: the shares of the variance that parameter uncertainty explains."""
    rows = []
    for arm in out.compared:
        base = "comparisons/%s/variance_decomposition/" % arm
        if base + "delta_cost_total" not in out.f:
            continue
        vc, vq = out.f[base + "delta_cost_total"][()], out.f[base + "delta_qaly_total"][()]
        rows.append([out.arm_label[arm], pct(vc[2]), pct(vq[2])])
    if not rows:
        return None
    body = doc.table(
        "The share of the variance across replications of each arm's discounted net cost and "
        "QALYs gained that parameter uncertainty explains (the rest is chance): replications in "
        "blocks of %d share a parameter draw." % out.psa_inner,
        ["arm", "net cost: parameter share", "QALYs gained: parameter share"], rows)
    return ("How much of the spread is parameter uncertainty", "variance", body)

