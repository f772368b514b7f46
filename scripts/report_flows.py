"""The stock-and-flow sections of a run's report (scripts/report.py): flows into and out of each
level, the decomposition of each arm's change in a level's stock into the parts due to changed
inflow and changed outflow, length of stay, re-entries, skip-level escalations and localities.

The decomposition. For a level l, the stock at the start of step t+1 is the stock at the start
of step t plus the inflow during step t (moves into l from other levels, and children entering
in a state of l) minus the outflow (moves from l to other levels, and children leaving from a
state of l): S(t+1) = S(t) + In(t) - Out(t), exactly, in every replication (moves between two
states of the same level change neither). Hence, for an arm a against the baseline b in the
same replication, at the start of step t:

    S_a(t) - S_b(t) = [S_a(0) - S_b(0)] + sum_{k<t} [In_a(k) - In_b(k)] - sum_{k<t} [Out_a(k) - Out_b(k)]

the first term being 0 (the arms start from the same children). The second term is the part of
the change due to changed inflow, the third the part due to changed outflow; they add up to the
change exactly. The same change in a stock can come from fewer arrivals or from faster
departures: the parts tell which."""
import html
import warnings

import numpy as np

from report_draw import EXTRA, SAVING, count, interval, legend_below, new_figure, pct, q, \
    signed, style


def esc(s):
    return html.escape(str(s))


def level_matrix(out):
    """[S, L] indicator of each state's level."""
    return np.eye(len(out.levels), dtype=np.int64)[out.state_level]


def level_flows(out, arm):
    """Inflow and outflow of each level in each step, [R, T, L] int64 each (see the module's
    docstring); None when the file holds neither these nor the state-to-state flows. Kept on
    out: the sections share them."""
    cache = out.__dict__.setdefault("_level_flows", {})
    if arm in cache:
        return cache[arm]
    if out.has("arms", arm, "inflow_by_level"):
        # Written by run and expect (also under --no-flows): [R, T, L], read as they are.
        cache[arm] = (out.get("arms", arm, "inflow_by_level"),
                      out.get("arms", arm, "outflow_by_level"))
        return cache[arm]
    # Files from before inflow_by_level: the level totals of the state-to-state flows.
    if not out.has("arms", arm, "flows"):
        return None
    M = level_matrix(out).astype(float)
    inflow = outflow = None
    # A block of replications at a time: the state-to-state flows, [R, T, S, S], are the
    # file's largest array (235 MB an arm at 10,000 Dundee replications), and only their
    # level totals are kept.
    for r0, flows_block in out.blocks("arms", arm, "flows"):
        # Moves between levels, [r, T, L, L]: M' F M over each step's matrix, in floating point
        # (BLAS) and exact, the counts being whole numbers far below 2^53.
        between = np.rint(M.T @ flows_block.astype(float) @ M).astype(np.int64)
        stay = np.einsum("rtll->rtl", between)
        r1 = r0 + between.shape[0]
        en = np.rint(out.rows("arms", arm, "entries", r0, r1).astype(float) @ M).astype(np.int64)
        ex = np.rint(out.rows("arms", arm, "exits", r0, r1).astype(float) @ M).astype(np.int64)
        if inflow is None:
            R = out.n_rows("arms", arm, "flows")
            # int32 (a step's flows are counts of children): the cache holds every arm's
            inflow = np.empty((R,) + stay.shape[1:], np.int32)
            outflow = np.empty_like(inflow)
        inflow[r0:r1] = between.sum(axis=2) - stay + en
        outflow[r0:r1] = between.sum(axis=3) - stay + ex
    cache[arm] = (inflow, outflow)
    return cache[arm]


def decompose(out, arm, t=None):
    """The change in each level's stock, arm minus baseline, at the start of step t (default:
    the end of the run) and its parts: a dict of [R, L] arrays total, start, inflow, outflow
    with total == start + inflow + outflow exactly; None without flows."""
    a, b = level_flows(out, arm), level_flows(out, "baseline")
    if a is None or b is None:
        return None
    sa = out.get("arms", arm, "stocks_by_level").astype(np.int64)
    sb = out.get("arms", "baseline", "stocks_by_level").astype(np.int64)
    t = sa.shape[1] - 1 if t is None else t
    return {"total": sa[:, t] - sb[:, t], "start": sa[:, 0] - sb[:, 0],
            "inflow": (a[0][:, :t] - b[0][:, :t]).sum(axis=1),
            "outflow": -(a[1][:, :t] - b[1][:, :t]).sum(axis=1)}


def flows(out, doc):
    """The baseline's inflow, outflow and net flow of each level per year, with bands."""
    base = level_flows(out, "baseline")
    if base is None:
        return ("Flows in and out of each level", "flows",
                "<p>The file holds no flows of the levels, so the flows "
                "into and out of each level are not shown.</p>")
    L = len(out.levels)
    fig, axes = new_figure(2.9 * L, 3.3, ncols=L, squeeze=False)
    yin, yout = out.yearly(base[0]).astype(float), out.yearly(base[1]).astype(float)
    x = out.cal.x(np.arange(yin.shape[1]) * out.per_year) + 0.5
    kinds = [("into the level", yin, 1), ("out of it", yout, 2), ("net (in minus out)",
                                                                  yin - yout, 0)]
    handles = []
    for l in range(L):
        ax = axes[0][l]
        for name, v, si in kinds:
            st = style(si)
            lo, mid, hi = q(v[:, :, l])
            line, = ax.plot(x, v[:, :, l].mean(axis=0), markersize=4, **st)
            if v.shape[0] > 1:
                ax.fill_between(x, lo, hi, color=st["color"], alpha=0.12, lw=0)
            if l == 0:
                handles.append(line)
        ax.axhline(0, color="#555555", lw=0.7)
        ax.set_title(out.level_label[out.levels[l]])
        out.cal.axis(ax)
    axes[0][0].set_ylabel("children a year (baseline)")
    legend_below(fig, handles, [k[0] for k in kinds], ncol=3)
    rows = flow_rows(out, base)
    alt = ("Line charts, one per level, of the baseline's children moving into and out of the "
           "level each year and the net flow. %s" % "; ".join(
               "%s: %s in and %s out a year" % (out.level_label[out.levels[l]],
                                               count(yin[:, :, l].mean()),
                                               count(yout[:, :, l].mean())) for l in range(L)))
    caption = ("Children moving into each level in the baseline each year (from other levels, "
               "births and arrivals), out of it (to other levels, moving away and growing up), "
               "and the net flow, which is the change in the level's stock: mean and 90%% band "
               "over replications. Moves between two states of one level are not flows of the "
               "level. %s" % esc(out.uncertainty_words()))
    head = ["arm", "level", "in a year (mean)", "out a year (mean)", "net a year (mean)"] + \
        (["net a year, 90% interval"] if out.mc else [])
    return ("Flows in and out of each level", "flows",
            doc.figure(fig, alt, caption) +
            doc.table("Flows into and out of each level, mean a year over the horizon.", head,
                      rows, row_headers=2))


def flow_rows(out, base):
    rows = []
    for arm in out.arms:
        inf, outf = base if arm == "baseline" else level_flows(out, arm)
        yin, yout = out.yearly(inf).mean(axis=1), out.yearly(outf).mean(axis=1)  # [R, L]
        for l in range(len(out.levels)):
            net = yin[:, l] - yout[:, l]
            rows.append([out.arm_label[arm], out.level_label[out.levels[l]],
                         count(yin[:, l].mean(), 1), count(yout[:, l].mean(), 1),
                         signed(net.mean(), 1)]
                        + ([interval(*q(net)[[0, 2]], lambda v: signed(v, 1))] if out.mc else []))
    return rows


def same_stock(out, doc):
    """Each arm's change in each level's stock against the baseline, split into the parts due
    to changed inflow and changed outflow (the module's docstring defines them)."""
    if not out.compared or level_flows(out, "baseline") is None:
        return None
    L, n = len(out.levels), len(out.compared)
    fig, axes = new_figure(3.4 * n + 0.8, 0.55 * L + 1.6, ncols=n, squeeze=False, sharey=True)
    rows, y = [], np.arange(L)[::-1]
    for i, arm in enumerate(out.compared):
        d = decompose(out, arm)
        ax = axes[0][i]
        inf, outf, tot = (d[k].mean(axis=0) for k in ("inflow", "outflow", "total"))
        h_in = ax.barh(y + 0.18, inf, height=0.34, color=SAVING, edgecolor="#333333", lw=0.4)
        h_out = ax.barh(y - 0.18, outf, height=0.34, color=EXTRA, hatch="//",
                        edgecolor="#333333", lw=0.4)
        lo, _, hi = q(d["total"])
        h_tot = ax.errorbar(tot, y, xerr=[tot - lo, hi - tot] if out.mc else None, fmt="D",
                            color="#000000", markersize=6, capsize=3, lw=1.2)
        ax.axvline(0, color="#333333", lw=0.7)
        ax.set_title(out.arm_label[arm])
        ax.set_xlabel("children, arm minus baseline")
        ax.grid(axis="y", visible=False)
        for l in range(L):
            rows.append(decomposition_row(out, arm, l, d))
    axes[0][0].set_yticks(y)
    axes[0][0].set_yticklabels([out.level_label[v] for v in out.levels])
    legend_below(fig, [h_in, h_out, h_tot], ["part due to changed inflow",
                                             "part due to changed outflow",
                                             "change in the stock" +
                                             (" (mean, 90% interval)" if out.mc else "")], ncol=3)
    first = out.compared[0]
    d = decompose(out, first)
    top = L - 1
    alt = ("Horizontal bar charts, one per arm, splitting each level's change in children at the "
           "end (arm minus baseline) into the part due to changed inflow and the part due to "
           "changed outflow. For %s, %s changes by %s: %s from inflow and %s from outflow."
           % (out.arm_label[first], out.level_label[out.levels[top]],
              signed(d["total"][:, top].mean(), 1), signed(d["inflow"][:, top].mean(), 1),
              signed(d["outflow"][:, top].mean(), 1)))
    caption = ("Same stock, different flows: each arm's change in each level's stock at the end "
               "of the horizon against the baseline (black diamond), split into the part due "
               "to changed inflow, the sum over the months of (arm's inflow minus baseline's), "
               "and the part due to changed outflow, minus the sum of (arm's outflow minus "
               "baseline's). Because every level's stock changes each month by exactly its "
               "inflow minus its outflow, the two parts add up to the change in every "
               "replication. A level can fall because fewer children arrive or because more "
               "leave: the bars say which. Means over replications of the paired "
               "differences. %s" % esc(out.uncertainty_words()))
    head = ["arm", "level", "change in the stock (mean)", "due to changed inflow (mean)",
            "due to changed outflow (mean)"] + (["change, 90% interval", "inflow part, 90%",
                                                 "outflow part, 90%"] if out.mc else [])
    return ("Same stock, different flows", "same-stock",
            doc.figure(fig, alt, caption) +
            doc.table("Each level's change in stock at the end of the horizon, arm minus "
                      "baseline, and its parts due to changed inflow and outflow (they add up "
                      "to the change).", head, rows, row_headers=2, wide=True))


def decomposition_row(out, arm, l, d):
    f = lambda v: signed(v, 1)  # noqa: E731
    row = [out.arm_label[arm], out.level_label[out.levels[l]]] + \
        [f(d[k][:, l].mean()) for k in ("total", "inflow", "outflow")]
    if out.mc:
        row += [interval(*q(d[k][:, l])[[0, 2]], f) for k in ("total", "inflow", "outflow")]
    return row


def length_of_stay(out, doc):
    """Mean length of completed spells in the states of each level, per arm."""
    if not out.mc or not out.has("arms", "baseline", "spells/length_of_stay"):
        return None
    L = len(out.levels)
    fig, ax = new_figure(7.5, 0.5 * L + 1.6)
    y = np.arange(L)[::-1]
    handles, rows = [], []
    M = level_matrix(out)
    n_arms = len(out.arms)
    for ai, arm in enumerate(out.arms):
        # [R, L, K] from the [R, S, K] histogram, a block of replications at a time
        by_level = np.concatenate([np.einsum("rsk,sl->rlk", b.astype(float), M) for _, b in
                                   out.blocks("arms", arm, "spells/length_of_stay")])
        k = (np.arange(by_level.shape[2]) + 1) * out.step
        spells = by_level.sum(axis=2)
        with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
            # A level without completed spells (absorbing states, say) has no mean: n/a.
            warnings.simplefilter("ignore", RuntimeWarning)
            mean = (by_level * k).sum(axis=2) / spells  # [R, L]
            mid = np.nanmean(mean, axis=0)
            lo, hi = np.nanpercentile(mean, 5, axis=0), np.nanpercentile(mean, 95, axis=0)
        st = style(ai)
        off = (ai - (n_arms - 1) / 2) * 0.14
        h = ax.errorbar(mid, y + off, xerr=[mid - lo, hi - mid], fmt=st["marker"],
                        color=st["color"], markersize=5, capsize=2, lw=1)
        handles.append(h)
        open_share = by_level[:, :, -1].sum(axis=0) / np.maximum(spells.sum(axis=0), 1)
        for l in range(L):
            rows.append([out.arm_label[arm], out.level_label[out.levels[l]],
                         count(mid[l], 1), interval(lo[l], hi[l], lambda v: count(v, 1)),
                         count(spells[:, l].mean()), pct(open_share[l])])
    ax.set_yticks(y)
    ax.set_yticklabels([out.level_label[v] for v in out.levels])
    ax.set_xlabel("mean length of a completed spell (months)")
    ax.grid(axis="y", visible=False)
    legend_below(fig, handles, [out.arm_label[a] for a in out.arms])
    alt = ("Dot chart of the mean length of completed spells in each level's states, one marker "
           "per arm with its 90%% interval. Baseline: %s." % "; ".join(
               "%s %s months" % (r[1], r[2]) for r in rows[:L]))
    caption = ("Length of stay: the mean length of the spells in a state of each level that "
               "began and ended within the horizon (a move to another state of the same level "
               "ends one spell and starts another), with the 90%% interval over replications. "
               "Spells still open at the end are not counted, so long stays are under-"
               "represented over a short horizon. %s" % esc(out.uncertainty_words()))
    head = ["arm", "level", "mean spell (months)", "90% interval", "completed spells (mean)",
            "share in the longest bin"]
    return ("Length of stay", "length-of-stay",
            doc.figure(fig, alt, caption) +
            doc.table("Completed spells in the states of each level.", head, rows,
                      row_headers=2))


def journeys(out, doc):
    """Re-entries within 12 months and skip-level escalations per year, per arm."""
    if not out.mc or not out.has("arms", "baseline", "spells/reentries_12m"):
        return None
    fig, axes = new_figure(10.5, 3.4, ncols=2)
    handles, rows = [], []
    base = {}
    for ai, arm in enumerate(out.arms):
        re = out.yearly(out.get("arms", arm, "spells/reentries_12m").astype(float)).sum(axis=2)
        sk = out.yearly(out.get("arms", arm, "spells/skip_level_escalations")
                        .astype(float)[:, :, None])[:, :, 0]
        x = out.cal.x(np.arange(re.shape[1]) * out.per_year) + 0.5
        st = style(ai)
        line, = axes[0].plot(x, re.mean(axis=0), markersize=4, **st)
        axes[1].plot(x, sk.mean(axis=0), markersize=4, **st)
        handles.append(line)
        tot_re, tot_sk = re.sum(axis=1), sk.sum(axis=1)
        if arm == "baseline":
            base = {"re": tot_re, "sk": tot_sk}
        dre, dsk = tot_re - base["re"], tot_sk - base["sk"]
        rows.append([out.arm_label[arm], count(tot_re.mean()),
                     interval(*q(tot_re)[[0, 2]], count),
                     "" if arm == "baseline" else signed(dre.mean(), 1),
                     count(tot_sk.mean()), interval(*q(tot_sk)[[0, 2]], count),
                     "" if arm == "baseline" else signed(dsk.mean(), 1)])
    axes[0].set_ylabel("re-entries within 12 months a year")
    axes[1].set_ylabel("skip-level escalations a year")
    for ax in axes:
        out.cal.axis(ax)
        ax.set_ylim(bottom=0)
    legend_below(fig, handles, [out.arm_label[a] for a in out.arms])
    alt = ("Line charts per arm of re-entries within 12 months and skip-level escalations each "
           "year. Baseline totals over the horizon: %s re-entries and %s skip-level "
           "escalations." % (rows[0][1], rows[0][4]))
    caption = ("Left: moves back into a level that the child had left within the previous 12 "
               "months, all levels, each year (mean over replications). Right: escalations "
               "that skip at least one level (such as universal straight to looked after) each "
               "year. The table gives the totals over the horizon and each arm's paired "
               "difference from the baseline. %s" % esc(out.uncertainty_words()))
    head = ["arm", "re-entries (mean)", "90% interval", "minus baseline (mean)",
            "skip-level escalations (mean)", "90% interval", "minus baseline (mean)"]
    return ("Re-entries and skip-level escalations", "journeys",
            doc.figure(fig, alt, caption) +
            doc.table("Re-entries within 12 months and skip-level escalations over the "
                      "horizon.", head, rows, wide=True))


def localities(out, doc):
    """Each arm's difference from the baseline at the end, by locality: children above the
    lowest level."""
    if len(out.localities) < 2 or not out.compared or \
            not out.has("arms", "baseline", "stocks_by_locality"):
        return None
    above = out.state_level > 0
    # [R, LOC] at the start and the end of the run, read without the other steps
    base0, base = (out.at_step("arms", "baseline", "stocks_by_locality", t)[:, :, above]
                   .sum(axis=-1).astype(float) for t in (0, -1))
    N = len(out.localities)
    fig, ax = new_figure(7.5, 0.38 * N + 1.6)
    y = np.arange(N)[::-1]
    handles, cols = [], {}
    for ai, arm in enumerate(out.compared):
        v = out.at_step("arms", arm, "stocks_by_locality", -1)[:, :, above].sum(axis=-1) \
            .astype(float)
        d = v - base
        st = style(out.arms.index(arm))
        off = (ai - (len(out.compared) - 1) / 2) * 0.18
        lo, mid, hi = q(d)
        mean = d.mean(axis=0)
        h = ax.errorbar(mean, y + off, xerr=[mean - lo, hi - mean] if out.mc else None,
                        fmt=st["marker"], color=st["color"], markersize=5, capsize=2, lw=1)
        handles.append(h)
        cols[arm] = (mean, lo, hi)
    ax.axvline(0, color="#333333", lw=0.7)
    ax.set_yticks(y)
    ax.set_yticklabels([out.locality_label[l] for l in out.localities])
    ax.set_xlabel("children above %s at the end, arm minus baseline"
                  % out.level_label[out.levels[0]])
    ax.grid(axis="y", visible=False)
    legend_below(fig, handles, [out.arm_label[a] for a in out.compared])
    rows = []
    for k, loc in enumerate(out.localities):
        rows.append([out.locality_label[loc], count(base0[:, k].mean(), 1),
                     count(base[:, k].mean(), 1)] +
                    [signed(cols[a][0][k], 1) for a in out.compared])
    best = {a: out.locality_label[out.localities[int(np.argmin(cols[a][0]))]]
            for a in out.compared}
    alt = ("Dot chart by locality of each arm's difference from the baseline in children above "
           "the lowest level at the end, with 90%% intervals. Largest fall: %s."
           % "; ".join("%s in %s" % (out.arm_label[a], best[a]) for a in out.compared))
    caption = ("Change by locality: each arm's difference from the baseline, at the end of the "
               "horizon, in the children of each locality at any level above %s (mean and 90%% "
               "interval of the paired difference). An arm that targets some localities should "
               "move only those. %s" % (esc(out.level_label[out.levels[0]]),
                                        esc(out.uncertainty_words())))
    head = ["locality", "baseline at the start", "baseline at the end"] + \
        ["%s minus baseline" % out.arm_label[a] for a in out.compared]
    return ("Change by locality", "localities",
            doc.figure(fig, alt, caption) +
            doc.table("Children above %s by locality (mean), and each arm's difference at the "
                      "end." % esc(out.level_label[out.levels[0]]), head, rows, wide=True))
