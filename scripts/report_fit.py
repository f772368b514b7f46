"""The sections of a fit's report (scripts/report.py, for the --report file of flourish fit):
each observed series against the fitted one with its 90% bands, and each parameter's posterior
with its convergence diagnostics."""
import numpy as np

from report_data import names, text
from report_draw import EXTRA, SAVING, legend_below, new_figure


def months_label(start_year, start_month, t):
    m = int(start_month) - 1 + int(t)
    return "%04d-%02d" % (int(start_year) + m // 12, m % 12 + 1)


def series_section(f, doc):
    measures = names(f, "measures")
    obs = f["observed"][()]          # value, step, measure, set the initial state
    fitted = f["fitted"][()]         # mean, q05, q95 (expected); q05, q95 (predictive)
    series = f["series"][()]         # [measure, mean|q05|q95, step]
    sampler = f["sampler"][()]
    y0, m0 = sampler[4], sampler[5]
    n = len(measures)
    fig, axes = new_figure(8, 2.6 * n + 0.6, nrows=n, squeeze=False)
    rows, inside = [], 0
    for i, name in enumerate(measures):
        ax = axes[i][0]
        mean, lo, hi = series[i]
        t = np.arange(len(mean)) / 12.0 + y0 + (m0 - 1) / 12.0
        ok = np.isfinite(mean)
        ax.fill_between(t[ok], lo[ok], hi[ok], color=SAVING, alpha=0.25, linewidth=0,
                        label="90% band of the expected value")
        ax.plot(t[ok], mean[ok], color=SAVING, label="fitted (posterior mean)")
        mine = obs[:, 2] == i
        if not name.split(":")[0] in ("entries", "exits"):
            tt = obs[mine, 1] / 12.0 + y0 + (m0 - 1) / 12.0
            ax.errorbar(tt, fitted[mine, 0], yerr=[fitted[mine, 0] - fitted[mine, 3],
                        fitted[mine, 4] - fitted[mine, 0]], fmt="none", ecolor="#555555",
                        capsize=3, label="90% predictive interval")
            ax.scatter(tt, obs[mine, 0], color=EXTRA, zorder=3, marker="D", label="observed")
        ax.set_title(name)
        ax.set_ylabel("children")
    handles, labels = axes[0][0].get_legend_handles_labels()
    legend_below(fig, handles, labels, ncol=2)
    for j in range(obs.shape[0]):
        v, t, k, init = obs[j]
        a = fitted[j]
        ins = a[3] <= v <= a[4]
        inside += ins and not init
        rows.append([months_label(y0, m0, t), measures[int(k)], "%g" % v, "%.1f" % a[0],
                     "%.1f to %.1f" % (a[1], a[2]), "%.1f to %.1f" % (a[3], a[4]),
                     "initial state" if init else ("yes" if ins else "no")])
    fitted_n = int(np.sum(obs[:, 3] == 0))
    caption = ("Observed against fitted: each measure's expected series at the posterior mean "
               "with the 90%% band of the expected value over the posterior draws, the observed "
               "values and their 90%% predictive intervals (the expected value's spread and the "
               "observation model's noise). %d of the %d fitted observations lie inside their "
               "predictive interval." % (inside, fitted_n))
    alt = ("Line charts, one per measure, of the fitted series over time with a shaded band, "
           "and the observed values as diamonds with interval bars; %d of %d observations "
           "inside their intervals." % (inside, fitted_n))
    return ("Observed and fitted series", "fit-series",
            doc.figure(fig, alt, caption) +
            doc.table("Each observation: the fitted expected value, its 90% band, the 90% "
                      "predictive interval, and whether the observation lies inside it.",
                      ["date", "measure", "observed", "fitted", "90% band (expected)",
                       "90% predictive", "inside"], rows, row_headers=2, wide=True))


def parameter_section(f, doc):
    params = names(f, "parameters")
    s = f["summary"][()]
    sampler = f["sampler"][()]
    rows = [[p] + ["%.5g" % v for v in s[k, :5]] + ["%.3f" % s[k, 5], "%.0f" % s[k, 6]]
            for k, p in enumerate(params)]
    draws = f["draws"][()]
    k = len(params)
    fig, axes = new_figure(8, 1.9 * k + 0.4, nrows=k, squeeze=False)
    for i, p in enumerate(params):
        ax = axes[i][0]
        ax.hist(draws[:, i], bins=40, color=SAVING, alpha=0.8)
        ax.axvline(s[i, 0], color=EXTRA)
        ax.set_title(p)
        ax.set_yticks([])
    caption = ("The posterior of each parameter (histogram of the draws written for run --psa; "
               "the line is the mean, written into the fitted scenario). %d walkers, %d kept "
               "iterations after %d of burn-in, acceptance %.2f." % tuple(sampler[:4]))
    return ("Parameters", "fit-parameters",
            doc.figure(fig, "Histograms of each parameter's posterior draws.", caption) +
            doc.table("Each parameter's posterior: mean, sd, quantiles, split R-hat (want at "
                      "most 1.05) and bulk effective sample size (want at least 400).",
                      ["parameter", "mean", "sd", "5%", "50%", "95%", "R-hat", "ESS"], rows,
                      wide=True))


def levels_section(f, doc):
    if "levels_series" not in f:
        return None
    levels = names(f, "levels")
    band = f["levels_series"][()]
    sampler = f["sampler"][()]
    y0, m0 = sampler[4], sampler[5]
    fig, axes = new_figure(8, 2.2 * len(levels) + 0.4, nrows=len(levels), squeeze=False)
    rows = []
    for i, name in enumerate(levels):
        mean, lo, hi = band[i]
        t = np.arange(len(mean)) / 12.0 + y0 + (m0 - 1) / 12.0
        ax = axes[i][0]
        ax.fill_between(t, lo, hi, color=SAVING, alpha=0.25, linewidth=0)
        ax.plot(t, mean, color=SAVING)
        ax.set_title(name)
        ax.set_ylabel("children")
        for j in (0, len(mean) // 2, len(mean) - 1):
            rows.append([name, months_label(y0, m0, j), "%.0f" % mean[j],
                         "%.0f to %.0f" % (lo[j], hi[j])])
    caption = ("What the fit says about every level, observed or not: the expected children at "
               "each level over the fit, posterior mean with its 90% band.")
    return ("Every level", "fit-levels",
            doc.figure(fig, "Line charts, one per level, of the expected children with a "
                       "shaded 90% band.", caption) +
            doc.table("Expected children at each level at the fit's start, middle and end.",
                      ["level", "date", "mean", "90% band"], rows, row_headers=2))


def fit_sections(f, doc):
    return [series_section(f, doc), levels_section(f, doc), parameter_section(f, doc)]


def fit_title(f):
    return "Fit of %s to %s" % (text(f.attrs.get("scenario", "?")), text(f.attrs.get("observed", "?")))
