"""Drawing and HTML helpers of the Flourish report (scripts/report.py): the colour-blind-safe
palette, figures as inline SVG with their alt text, numbered figures and tables with captions,
and amounts in the scenario's currency."""
import html
import io
import re

import numpy as np
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

# The series colours: Okabe and Ito's palette (Color Universal Design, 2008), black first (the
# baseline), in an order whose neighbours stay apart under deuteranopia, protanopia and
# tritanopia (tests/palette.py simulates each and checks every pair). Yellow is left out: it
# is too light on white. Every series also gets its own line style and marker, so no reading
# rests on colour alone.
SERIES = ["#000000", "#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]
LINESTYLES = ["-", "--", "-.", ":", (0, (5, 1, 1, 1, 1, 1)), (0, (1, 1)), (0, (8, 2))]
MARKERS = ["o", "s", "^", "D", "v", "P", "X"]
# Stacks (budget holders): the same colours less black, each with a hatch as well.
STACK = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442"]
HATCHES = ["", "//", "..", "xx", "\\\\", "++", "--"]
# Two-way meanings: a saving (or a fall) is blue, an extra cost (or a rise) orange; the pair
# that every colour-vision deficiency keeps apart.
SAVING, EXTRA = "#0072B2", "#E69F00"

matplotlib.rcParams.update({
    "font.size": 10, "axes.titlesize": 10.5, "axes.labelsize": 10, "legend.fontsize": 9,
    "xtick.labelsize": 9, "ytick.labelsize": 9, "axes.spines.top": False,
    "axes.spines.right": False, "svg.fonttype": "none", "svg.hashsalt": "flourish",
    "lines.linewidth": 1.8, "axes.grid": True, "grid.color": "#dddddd", "grid.linewidth": 0.6,
    "axes.axisbelow": True, "font.family": ["DejaVu Sans", "sans-serif"],
})


def style(i):
    """Colour, line style and marker of series i (0: the baseline)."""
    return dict(color=SERIES[i % len(SERIES)], linestyle=LINESTYLES[i % len(LINESTYLES)],
                marker=MARKERS[i % len(MARKERS)])


def new_figure(width, height, **kw):
    """A figure whose layout leaves room for a legend outside the axes."""
    return plt.subplots(figsize=(width, height), layout="constrained", **kw)


def legend_below(fig, handles, labels, ncol=None):
    """The figure's legend in a band below every axis, outside the data: the layout keeps the
    axes above the band."""
    # As many columns as fit the figure's width (about 0.075 in a character at 9 pt).
    if not labels:
        return
    entry = max(len(str(l)) for l in labels) * 0.075 + 0.6
    fit = max(1, int(fig.get_figwidth() // entry))
    ncol = min(ncol or 4, fit, len(labels))
    rows = -(-len(labels) // ncol)
    band = (0.26 * rows + 0.12) / fig.get_figheight()
    fig.get_layout_engine().set(rect=(0, band, 1, 1 - band))
    fig.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, band), frameon=False,
               ncol=ncol, markerscale=1.6)


class Doc:
    """Numbers the figures and tables of one report, in the order they are made."""

    def __init__(self):
        self.figures = 0
        self.tables = 0

    def figure(self, fig, alt, caption):
        """The figure as inline SVG inside <figure>, with alt text (what it shows, in words)
        and a numbered caption (HTML)."""
        self.figures += 1
        n = self.figures
        return ("<figure id='figure-%d'>%s<figcaption><strong>Figure %d.</strong> %s"
                "</figcaption></figure>" % (n, svg(fig, alt, n), n, caption))

    def table(self, caption, header, rows, row_headers=1, wide=False):
        """A numbered table: caption, column headers (scope col) and row headers (the first
        row_headers cells of each row, scope row). Cells are text; they are escaped here."""
        self.tables += 1
        out = ["<div class='table-wrap%s'><table id='table-%d'><caption><strong>Table %d."
               "</strong> %s</caption><thead><tr>"
               % (" wide" if wide else "", self.tables, self.tables, caption)]
        out += ["<th scope='col'>%s</th>" % html.escape(h) for h in header]
        out.append("</tr></thead><tbody>")
        for row in rows:
            cells = []
            for k, c in enumerate(row):
                tag = "th scope='row'" if k < row_headers else "td"
                cells.append("<%s>%s</%s>" % (tag, html.escape(str(c)), tag.split()[0]))
            out.append("<tr>%s</tr>" % "".join(cells))
        out.append("</tbody></table></div>")
        return "".join(out)


def svg(fig, alt, n):
    """fig as an <svg> element to inline: role img with alt as its name, ids made unique within
    the page (figure n), natural size as its largest, scaling down with the page."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                             "Type": None})
    plt.close(fig)
    s = buf.getvalue()
    s = s[s.index("<svg"):]
    s = re.sub(r"<metadata>.*?</metadata>", "", s, flags=re.S)
    prefix = "f%d-" % n
    s = re.sub(r'\bid="([^"]+)"', lambda m: 'id="%s%s"' % (prefix, m.group(1)), s)
    s = re.sub(r"url\(#([^)]+)\)", lambda m: "url(#%s%s)" % (prefix, m.group(1)), s)
    s = re.sub(r'xlink:href="#([^"]+)"', lambda m: 'xlink:href="#%s%s"' % (prefix, m.group(1)), s)
    width = re.search(r'<svg[^>]*\swidth="([0-9.]+)pt"', s)
    s = re.sub(r'(<svg[^>]*?)\s(width|height)="[0-9.]+pt"', r"\1", s, count=2)
    s = s.replace("<svg ", "<svg class='chart' role='img' aria-label=\"%s\" style='max-width: "
                  "%.0fpt' " % (html.escape(alt, quote=True),
                                float(width.group(1)) if width else 800), 1)
    return s


MINUS = "\u2212"


def currency_symbol(code):
    """The sign before an amount: £ for GBP, € for EUR, $ for USD, else the code and a space
    (as the C summary writes them, engine/core/money.c)."""
    return {"GBP": "£", "EUR": "€", "USD": "$"}.get(code, (code + " ") if code else "")


def money(x, code, compact=False):
    """An amount: whole units with grouped digits (−£25,000), or compact with three
    significant figures (−£1.23m)."""
    if x is None or not np.isfinite(x):
        return "n/a"
    a, sym = abs(float(x)), currency_symbol(code)
    if compact and a >= 999.5:
        for scale, suffix in ((1e9, "bn"), (1e6, "m"), (1e3, "k")):
            v = a / scale
            if v >= 0.9995:
                num = "%.*f%s" % (0 if v >= 99.95 else 1 if v >= 9.995 else 2, v, suffix)
                break
    elif a < 100 and a != int(a):
        num = "%.2f" % a
    else:
        num = "{:,.0f}".format(a)
    return (MINUS if x < 0 and num.strip("0.,") else "") + sym + num


def money_axis(ax, code, which="y"):
    """Tick labels in the currency, in thousands or millions: no '1e7' offsets."""
    axis = ax.yaxis if which == "y" else ax.xaxis
    lo, hi = ax.get_ylim() if which == "y" else ax.get_xlim()
    big = max(abs(lo), abs(hi))
    scale, unit = (1e6, "m") if big >= 2e6 else (1e3, "k") if big >= 2e3 else (1.0, "")
    sym = currency_symbol(code)
    axis.set_major_formatter(matplotlib.ticker.FuncFormatter(
        lambda v, _pos: (MINUS if v < 0 else "") + "%s%g%s" % (sym, abs(v) / scale, unit)
        if v else "0"))


def count(x, digits=0):
    """A count or mean count with grouped digits and a real minus sign."""
    if x is None or not np.isfinite(x):
        return "n/a"
    s = "{:,.{d}f}".format(abs(x), d=digits)
    return (MINUS if x < 0 and s.strip("0.,") else "") + s


def signed(x, digits=0):
    """A difference with its sign: +12, −3.4."""
    if x is None or not np.isfinite(x):
        return "n/a"
    return ("+" if x > 0 else "") + count(x, digits)


def interval(lo, hi, fmt):
    """"a to b" of two formatted bounds."""
    return "%s to %s" % (fmt(lo), fmt(hi))


def q(v, axis=0):
    """The 5%, 50% and 95% quantiles of v over axis (replications)."""
    return np.percentile(v, [5, 50, 95], axis=axis)


def pct(p):
    return "n/a" if p is None or not np.isfinite(p) else "%.0f%%" % (100 * p)
