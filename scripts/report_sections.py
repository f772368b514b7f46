"""The sections of a run's report (scripts/report.py) about arms and money: the headline per
arm, children at each level and each arm's paired difference, where the savings land, break-even
and cost-effectiveness. Each function takes the Output and the Doc and returns
(heading, anchor, html) or None when the file has nothing for it."""
import html

import numpy as np

from report_draw import (EXTRA, HATCHES, SAVING, STACK, count, interval, legend_below, money,
                         money_axis, new_figure, pct, q, signed, style)


def esc(s):
    return html.escape(str(s))


def cumulative_at(out, arm, years):
    """Net cost difference (undiscounted, paired) accumulated by the end of each year of years:
    {year: [R]}; years beyond the horizon are left out."""
    cum = out.get("comparisons", arm, "cumulative_net_cost")
    return {y: cum[:, y * out.per_year - 1] for y in years if y * out.per_year <= cum.shape[1]}


def breakeven_months(out, arm):
    """Months from the start to the end of the step from which the cumulative net cost stays
    at or below zero, per replication; inf where it never does within the horizon. (The C
    summary uses the same definition.)"""
    be = out.get("comparisons", arm, "breakeven_step").astype(float).ravel()
    return np.where(be >= 0, (be + 1) * out.step, np.inf)


def breakeven_words(out, months, arm_label=None):
    """The median break-even with its 90% interval and the share never breaking even."""
    med, lo, hi = (np.percentile(months, p, method="lower") for p in (50, 5, 95))

    def when(m):
        if not np.isfinite(m):
            return "not within the horizon"
        year = int(np.ceil(m / 12 - 1e-9))
        return ("in %s, year %d (after %g months)" % (out.cal.month(m - out.step), year, m)
                if out.cal.dated else "in year %d (after %g months)" % (year, m))
    def short(m):
        if not np.isfinite(m):
            return "beyond the horizon"
        return out.cal.month(m - out.step) if out.cal.dated else "month %g" % m
    never = float(np.mean(~np.isfinite(months)))
    if not out.mc:
        return "breaks even %s" % when(med)
    return ("breaks even %s (median; 90%% interval %s to %s)%s"
            % (when(med), short(lo), short(hi),
               "; it never breaks even within the horizon in %s of replications" % pct(never)
               if never > 0 else ""))


def icer_meaning(dc, dq, code):
    """Cost per QALY with its meaning spelled out (mean discounted differences)."""
    if dq > 0 and dc <= 0:
        return "dominant: it saves money and gains quality-adjusted life years"
    if dq < 0 and dc >= 0:
        return "dominated: it costs more and loses quality-adjusted life years"
    if dq > 0:
        return "%s per QALY gained" % money(dc / dq, code)
    if dq < 0:
        return "saves %s per QALY lost" % money(dc / dq, code)
    return "no difference in QALYs"


def landing(out, arm):
    """Mean difference over the horizon by budget holder (undiscounted): [B]."""
    return out.get("comparisons", arm, "delta_costs").sum(axis=1).mean(axis=0)


def headline(out, doc):
    if not out.compared:
        return None
    code, parts = out.currency, []
    for arm in out.compared:
        parts.append(headline_arm(out, doc, arm, code))
    body = ("<p>Savings are net of the investment: each arm's cost minus the baseline's, "
            "replication by replication (the arms share every child's random numbers), "
            "undiscounted unless a row says otherwise. %s</p>"
            % esc(out.uncertainty_words())) + "".join(parts)
    return ("The headline, arm by arm", "headline", body)


def headline_arm(out, doc, arm, code):
    label = out.arm_label[arm]
    T = out.get("comparisons", arm, "cumulative_net_cost").shape[1]
    Y = out.n_years(T)
    inv = out.investment(arm)
    inv_total = inv.sum(axis=1) if inv is not None else np.zeros(1)
    per_year = inv_total.mean() / max(Y, 1)
    marks = sorted({y for y in (5, Y) if 1 <= y <= Y})
    cum = cumulative_at(out, arm, marks)
    land = landing(out, arm)
    order = np.argsort(land)
    saves = [b for b in order if land[b] < 0][:2]
    costs = [b for b in order[::-1] if land[b] > 0][:2]
    months = breakeven_months(out, arm)
    dc = float(out.get("comparisons", arm, "delta_cost_total").mean())
    dq = float(out.get("comparisons", arm, "delta_qaly_total").mean())
    p_save = out.f["comparisons/%s/p_saving_by_year" % arm][()] if out.mc else None
    say = ["Investing %s a year (%s over %d years) " % (money(per_year, code, True),
                                                      money(inv_total.mean(), code, True), Y)]
    for k, y in enumerate(marks):
        v = -cum[y]
        lo, mid, hi = q(v)
        say.append("%s%s %s %s%s" % (
            "and " if k else "", "saves" if np.mean(v) >= 0 else "costs a net",
            money(abs(np.mean(v)), code, True), out.cal.by_end_of_year(y),
            " (90%% interval of the saving %s)" % interval(lo, hi, lambda x: money(x, code, True))
            if out.mc else ""))
    text = say[0] + ", ".join(say[1:]) + ". "
    if saves:
        text += "The savings land mostly in %s; " % " and ".join(
            "%s (%s)" % (out.holder_label[out.holders[b]], money(-land[b], code, True))
            for b in saves)
    if costs:
        text += "the extra cost falls on %s. " % " and ".join(
            "%s (%s)" % (out.holder_label[out.holders[b]], money(land[b], code, True))
            for b in costs)
    text += "It %s. " % breakeven_words(out, months)
    if p_save is not None and len(p_save):
        text += "The probability of a net saving %s is %s. " % (
            out.cal.by_end_of_year(len(p_save)), pct(p_save[-1]))
    text += "Cost per quality-adjusted life year (discounted): %s. (%s.)" % (
        icer_meaning(dc, dq, code), out.uncertainty_short().capitalize())
    rows = headline_rows(out, arm, code, inv_total, per_year, cum, marks, months, p_save, dc, dq)
    head = ["measure", "mean", "90% interval"] if out.mc else ["measure", "expected value"]
    table = doc.table("%s against the baseline: the headline numbers (%s)."
                      % (esc(label), esc(out.uncertainty_short())), head,
                      [r[:len(head)] for r in rows])
    return "<section class='arm'><h3>%s</h3><p class='lead'>%s</p>%s</section>" % (
        esc(label), esc(text), table)


def headline_rows(out, arm, code, inv_total, per_year, cum, marks, months, p_save, dc, dq):
    m = lambda x: money(x, code, compact=True)  # noqa: E731
    spread = lambda v: interval(*q(v)[[0, 2]], m) if out.mc and np.ptp(v) > 0 else ""  # noqa
    rows = [["investment a year (undiscounted)", m(per_year), ""],
            ["investment in total (undiscounted)", m(inv_total.mean()), spread(inv_total)]]
    for y in marks:
        rows.append(["net saving %s" % out.cal.by_end_of_year(y), m(-cum[y].mean()),
                     spread(-cum[y])])
    land = landing(out, arm)
    for b in np.argsort(land):
        if land[b] != 0:
            rows.append(["%s %s over the horizon" % ("saving in" if land[b] < 0 else
                                                    "extra cost to",
                                                    out.holder_label[out.holders[b]]),
                         m(abs(land[b])), ""])
    med = np.percentile(months, 50, method="lower")
    lo, hi = (np.percentile(months, p, method="lower") for p in (5, 95))
    fmt = lambda x: ("month %g" % x) if np.isfinite(x) else "never"  # noqa: E731
    rows.append(["break-even (median)" if out.mc else "break-even", fmt(med),
                 interval(lo, hi, fmt) if out.mc else ""])
    if out.mc:
        rows.append(["never breaks even within the horizon", pct(np.mean(~np.isfinite(months))),
                     ""])
    if p_save is not None:
        for y in marks:
            if y <= len(p_save):
                rows.append(["probability of a net saving %s" % out.cal.by_end_of_year(y),
                             pct(p_save[y - 1]), ""])
    rows.append(["net cost over the horizon (discounted)", m(dc), ""])
    rows.append(["QALYs gained (discounted)", count(dq, 1), ""])
    rows.append(["cost per QALY (discounted)", icer_meaning(dc, dq, code), ""])
    return rows


def children_by_level(out, doc):
    """The baseline's children at each level with bands, and every arm's median."""
    L = len(out.levels)
    fig, axes = new_figure(2.9 * L, 3.2, ncols=L, squeeze=False)
    handles, labels, rows = [], [], []
    base = out.get("arms", "baseline", "stocks_by_level").astype(float)
    x = out.cal.x(np.arange(base.shape[1]))
    for l in range(L):
        ax = axes[0][l]
        lo, mid, hi = q(base[:, :, l])
        if base.shape[0] > 1:
            band = ax.fill_between(x, lo, hi, color="#000000", alpha=0.13, lw=0)
        for ai, arm in enumerate(out.arms):
            v = base if arm == "baseline" else \
                out.get("arms", arm, "stocks_by_level").astype(float)
            line, = ax.plot(x, np.median(v[:, :, l], axis=0), markevery=12 * out.per_year,
                            markersize=4, **style(ai))
            if l == 0:
                handles.append(line)
                labels.append(out.arm_label[arm])
            last = v[:, -1, l]
            rows.append([out.arm_label[arm], out.level_label[out.levels[l]],
                         count(v[:, 0, l].mean(), 1), count(last.mean(), 1)]
                        + ([count(np.percentile(last, 5)), count(np.percentile(last, 95))]
                           if out.mc else []))
        ax.set_title(out.level_label[out.levels[l]])
        out.cal.axis(ax)
    axes[0][0].set_ylabel("children")
    if base.shape[0] > 1:
        handles.append(band)
        labels.append("baseline, 90% of replications")
    legend_below(fig, handles, labels)
    top = out.levels[-1]
    ends = ", ".join("%s %s" % (out.arm_label[a], count(np.median(
        out.get("arms", a, "stocks_by_level")[:, -1, -1]))) for a in out.arms)
    alt = ("Line charts, one per level, of the children at each level over time %s, each arm's "
           "median and the baseline's 90%% band. %s at the start: %s; at the end: %s."
           % (out.cal.start_words(), out.level_label[top], count(base[:, 0, -1].mean()), ends))
    caption = ("Children at each level over time, %s, for every arm: the median over "
               "replications, and for the baseline the band holding 90%% of replications. %s%s"
               % (esc(out.cal.start_words()),
                  "The band shows how much the baseline itself varies, not whether an arm "
                  "differs from it: an arm's difference is paired (the same children, with the "
                  "same random numbers), so it is far less uncertain than this band; Figure %d "
                  "shows it. " % (doc.figures + 2) if out.compared else "",
                  esc(out.uncertainty_words())))
    head = ["arm", "level", "at the start (mean)", "at the end (mean)"] + \
        (["at the end, 5%", "at the end, 95%"] if out.mc else [])
    return ("Children at each level", "levels",
            doc.figure(fig, alt, caption) +
            doc.table("Children at each level at the start and the end of the horizon.", head,
                      rows, row_headers=2))


def differences(out, doc):
    """Each arm minus the baseline in children at each level: paired, replication by
    replication."""
    if not out.compared:
        return None
    L = len(out.levels)
    fig, axes = new_figure(2.9 * L, 3.2, ncols=L, squeeze=False)
    base = out.get("arms", "baseline", "stocks_by_level").astype(float)
    x = out.cal.x(np.arange(base.shape[1]))
    handles, labels, rows = [], [], []
    for ai, arm in enumerate(out.arms):
        if arm not in out.compared:
            continue
        d = out.get("arms", arm, "stocks_by_level").astype(float) - base
        for l in range(L):
            ax = axes[0][l]
            lo, mid, hi = q(d[:, :, l])
            st = style(ai)
            line, = ax.plot(x, mid, markevery=12 * out.per_year, markersize=4, **st)
            if d.shape[0] > 1:
                ax.fill_between(x, lo, hi, color=st["color"], alpha=0.12, lw=0)
            if l == 0:
                handles.append(line)
                labels.append(out.arm_label[arm])
            e = d[:, -1, l]
            rows.append([out.arm_label[arm], out.level_label[out.levels[l]], signed(e.mean(), 1)]
                        + ([interval(np.percentile(e, 5), np.percentile(e, 95), signed),
                            pct(np.mean(e < 0))] if out.mc else []))
    for l in range(L):
        axes[0][l].axhline(0, color="#555555", lw=0.8)
        axes[0][l].set_title(out.level_label[out.levels[l]])
        out.cal.axis(axes[0][l])
    axes[0][0].set_ylabel("children, arm minus baseline")
    legend_below(fig, handles, labels)
    top = out.levels[-1]
    ends = {a: (out.get("arms", a, "stocks_by_level")[:, -1, -1] - base[:, -1, -1]).mean()
            for a in out.compared}
    alt = ("Line charts, one per level, of each arm's difference from the baseline in children "
           "at that level, with 90%% bands. At the end, %s: %s." % (
               out.level_label[top], ", ".join("%s %s" % (out.arm_label[a], signed(v, 1))
                                               for a, v in ends.items())))
    caption = ("Each arm minus the baseline in children at each level (median and 90%% band of "
               "the paired difference: the same children, with the same random numbers, in "
               "both). Where the band excludes zero, the difference is larger than chance%s. "
               "%s" % (" and the parameter uncertainty drawn" if out.psa else "",
                       esc(out.uncertainty_words())))
    head = ["arm", "level", "difference at the end (mean)"] + \
        (["90% interval", "share of replications below zero"] if out.mc else [])
    return ("Each arm's difference from the baseline", "differences",
            doc.figure(fig, alt, caption) +
            doc.table("Children at each level at the end of the horizon, arm minus baseline "
                      "(paired).", head, rows, row_headers=2))


def savings(out, doc):
    """Where the savings land: a waterfall over the horizon and stacked bars by year."""
    if not out.compared:
        return None
    code, B, n = out.currency, len(out.holders), len(out.compared)
    fig, axes = new_figure(10.5, 3.3 * n, nrows=n, ncols=2, squeeze=False)
    rows, handles = [], {}
    for i, arm in enumerate(out.compared):
        dc = out.get("comparisons", arm, "delta_costs")
        total = dc.sum(axis=1)
        waterfall(axes[i][0], total.mean(axis=0), out, code)
        axes[i][0].set_title("%s: over the horizon" % out.arm_label[arm])
        yearly = out.yearly(dc).mean(axis=0)
        stacked_years(axes[i][1], yearly, out, code, handles)
        axes[i][1].set_title("%s: year by year" % out.arm_label[arm])
        for b in range(B):
            lo, _, hi = q(total[:, b])
            rows.append([out.arm_label[arm], out.holder_label[out.holders[b]],
                         money(total[:, b].mean(), code)]
                        + ([interval(lo, hi, lambda v: money(v, code))] if out.mc else []))
        net = total.sum(axis=1)
        rows.append([out.arm_label[arm], "net", money(net.mean(), code)]
                    + ([interval(*q(net)[[0, 2]], lambda v: money(v, code))] if out.mc else []))
    legend_below(fig, list(handles.values()), list(handles.keys()), ncol=4)
    first = out.compared[0]
    land = landing(out, first)
    alt = ("Waterfall and stacked bar charts of each arm's cost minus the baseline's by budget "
           "holder. For %s the largest saving is in %s (%s) and the largest extra cost in %s "
           "(%s)." % (out.arm_label[first], out.holder_label[out.holders[int(np.argmin(land))]],
                      money(-land.min(), code, True),
                      out.holder_label[out.holders[int(np.argmax(land))]],
                      money(land.max(), code, True)))
    caption = ("Whose budget? Each arm's cost minus the baseline's by budget holder, mean over "
               "replications, undiscounted. Left: over the whole horizon, blue bars are savings "
               "and orange bars extra costs, built up holder by holder to the net (black). "
               "Right: the same year by year, savings below zero and extra costs above, with "
               "the net (black line); costs often come first and savings later, and savings in "
               "one budget can pay for spending in another. %s" % esc(out.uncertainty_words()))
    head = ["arm", "budget holder", "difference over the horizon (mean)"] + \
        (["90% interval"] if out.mc else [])
    return ("Where the savings land", "savings",
            doc.figure(fig, alt, caption) +
            doc.table("Cost minus the baseline's over the horizon by budget holder "
                      "(undiscounted; negative is a saving).", head, rows, row_headers=2))


def waterfall(ax, total, out, code):
    B = len(total)
    start, ends = 0.0, [0.0]
    for b in range(B):
        ax.bar(b, total[b], bottom=start, color=SAVING if total[b] < 0 else EXTRA,
               edgecolor="#333333", lw=0.4)
        start += total[b]
        ends.append(start)
    ax.bar(B, start, color="#000000")
    span = max(max(ends) - min(ends), 1.0)
    ax.set_ylim(min(ends) - 0.08 * span, max(ends) + 0.08 * span)
    money_axis(ax, code)
    ax.set_xticks(range(B + 1))
    ax.set_xticklabels([out.holder_label[h] for h in out.holders] + ["net"], rotation=30,
                       ha="right")
    ax.axhline(0, color="#333333", lw=0.7)
    ax.grid(axis="x", visible=False)


def stacked_years(ax, yearly, out, code, handles):
    Y, B = yearly.shape
    pos, neg, x = np.zeros(Y), np.zeros(Y), out.cal.x(np.arange(Y) * out.per_year) + 0.5
    for b in range(B):
        v = yearly[:, b]
        kw = dict(color=STACK[b % len(STACK)], hatch=HATCHES[b % len(HATCHES)],
                  edgecolor="#333333", lw=0.4, width=0.8)
        bar = ax.bar(x, np.where(v > 0, v, 0), bottom=pos, **kw)
        ax.bar(x, np.where(v < 0, v, 0), bottom=neg, **kw)
        pos += np.maximum(v, 0)
        neg += np.minimum(v, 0)
        handles.setdefault(out.holder_label[out.holders[b]], bar)
    line, = ax.plot(x, yearly.sum(axis=1), color="#000000", marker="o", markersize=4, lw=1.2)
    handles.setdefault("net", line)
    span = max(pos.max() - neg.min(), 1.0)
    ax.set_ylim(neg.min() - 0.08 * span, pos.max() + 0.08 * span)
    money_axis(ax, code)
    ax.axhline(0, color="#333333", lw=0.7)
    out.cal.axis(ax)
