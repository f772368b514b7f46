#!/usr/bin/env python3
"""Flourish report: one self-contained HTML file from a `flourish run` (or `expect`) output.

Usage: report.py OUT.h5 -o report.html   (OUT.h5 from flourish run, expect, sweep or fit)

A run's report opens with the headline of each arm (its investment, net saving by year 5 and at
the horizon with 90% intervals, where the savings land, break-even and cost per QALY), then:
children at each level and each arm's paired difference from the baseline; flows into and out
of each level; the same change in a stock split into its inflow and outflow parts
(report_flows.py defines the split exactly); length of stay; re-entries and skip-level
escalations; change by locality; where the savings land; break-even; cost-effectiveness; and,
with --psa in blocks, how much of the spread parameter uncertainty explains. Every figure is an
inline SVG with alt text and a numbered caption that says whether parameter uncertainty is
included, followed by the table behind it. Dates come from the scenario's time.start, amounts
from its currency, names from its labels.
For a sweep: the sensitivity of each result to each parameter (tornado), a two-way table of
the first two parameters of a grid (heatmap), where the savings land at each point (by budget
holder), and every point with its net costs.
Exit status: 0 success, 1 runtime failure, 2 bad input (not a Flourish output file).
"""
import argparse
import html
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from report_data import BadInput, Output, names, scenario_settings, text  # noqa: E402
from report_draw import Doc  # noqa: E402
import report_flows  # noqa: E402
import report_sections  # noqa: E402
import report_sweep  # noqa: E402
import report_fit  # noqa: E402
import report_value  # noqa: E402

try:
    import h5py
except ImportError as exc:  # pragma: no cover - depends on the machine
    sys.stderr.write("flourish report: %s; install Debian's python3-h5py\n" % exc)
    sys.exit(1)


def esc(s):
    return html.escape(str(s))


STYLE = """
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; max-width: 1180px;
       margin: 1.5em auto; color: #1f2328; line-height: 1.5; padding: 0 1.2em; }
h1 { font-size: 1.7em; margin-bottom: 0.2em; }
h2 { font-size: 1.3em; margin-top: 2.2em; border-bottom: 1px solid #d0d7de; padding-bottom: .2em; }
h3 { font-size: 1.1em; margin: 1.4em 0 0.3em; }
.meta { color: #4a5058; font-size: 0.9em; }
.uncertainty { border-left: 4px solid #0072B2; background: #f3f8fc; padding: .5em .8em; }
.lead { font-size: 1.02em; max-width: 70em; }
nav ol { columns: 2; margin: .3em 0; }
figure { margin: 1.2em 0; }
svg.chart { display: block; width: 100%; height: auto; }
figcaption { color: #3b4148; margin: .5em 0 .8em; max-width: 75em; }
.table-wrap { overflow-x: auto; margin-bottom: 1.2em; }
table { border-collapse: collapse; font-size: 0.86em; }
caption { text-align: left; padding: .3em 0; color: #3b4148; caption-side: top; }
th, td { border: 1px solid #d0d7de; padding: .25em .6em; text-align: right; white-space: nowrap; }
thead th { background: #eef1f4; text-align: center; white-space: normal; }
tbody th { text-align: left; font-weight: normal; background: #f8f9fa; }
section.arm { margin-bottom: 1.5em; }
footer { margin-top: 3em; color: #4a5058; font-size: .85em; }
@media print {
  @page { size: A4; margin: 14mm; }
  body { max-width: none; margin: 0; padding: 0; font-size: 9.5pt; }
  nav { display: none; }
  h2 { break-after: avoid; }
  figure, .table-wrap, section.arm { break-inside: avoid; }
  .table-wrap { overflow: visible; }
  table { font-size: 8pt; }
  svg.chart { max-width: 100% !important; }
  .uncertainty { background: none; }
}
"""

# After the page has loaded, records how many figures there are and how many rendered (a box of
# non-zero size), for the browser test.
FIGURE_SCRIPT = (
    "<script>window.addEventListener('load', function () {"
    "var figs = document.querySelectorAll('svg.chart'), n = 0;"
    "figs.forEach(function (s) { var b = s.getBBox(); if (b.width > 0 && b.height > 0) n++; });"
    "document.body.setAttribute('data-figures', figs.length);"
    "document.body.setAttribute('data-figures-loaded', n); });</script>")


def document(title, meta, sections):
    """The whole page: heading and provenance, contents, each section, the figure check."""
    sections = [s for s in sections if s]
    toc = "".join("<li><a href='#%s'>%s</a></li>" % (a, esc(h)) for h, a, _ in sections)
    parts = ["<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
             "<meta name='viewport' content='width=device-width, initial-scale=1'>",
             "<title>%s</title><style>%s</style></head><body>" % (esc(title), STYLE),
             "<header><h1>%s</h1>%s</header>" % (esc(title), meta),
             "<nav aria-label='Contents'><h2>Contents</h2><ol>%s</ol></nav><main>" % toc]
    for heading, anchor, body in sections:
        parts.append("<section id='%s' aria-labelledby='h-%s'><h2 id='h-%s'>%s</h2>%s</section>"
                     % (anchor, anchor, anchor, esc(heading), body))
    parts += ["</main><footer>Made by flourish report from the output file alone; every number "
              "can be read back from it (docs/output.md).</footer>", FIGURE_SCRIPT,
              "</body></html>"]
    return "".join(parts)


def provenance(a, path, what):
    return ("<p class='meta'>Flourish %s (git %s); %s; results created %s; report from "
            "<code>%s</code>.</p>" % (esc(text(a.get("flourish_version", "?"))),
                                      esc(text(a.get("git_commit", "?"))), what,
                                      esc(text(a.get("created_utc", "?"))),
                                      esc(os.path.basename(path))))


def build_run(path):
    out = Output(path)
    a, doc = out.f.attrs, Doc()
    what = ("%s replications, seed %s, %s" % (text(a.get("replications", "?")),
                                               text(a.get("seed", "?")),
                                               out.uncertainty_short())) if out.mc \
        else "expected values (flourish expect)"
    horizon = float(a.get("horizon_months", 0))
    what += "; %g years %s; amounts in %s" % (horizon / 12, out.cal.start_words(),
                                            out.currency)
    meta = provenance(a, path, esc(what)) + \
        "<p class='uncertainty'>%s</p>" % esc(out.uncertainty_words())
    S = report_sections
    F = report_flows
    V = report_value
    makers = [S.headline, S.children_by_level, S.differences, F.flows, F.same_stock,
              F.length_of_stay, F.journeys, F.localities, S.savings, V.breakeven,
              V.cost_effectiveness, V.variance_split]
    progress = Progress(len(makers))
    sections = []
    for m in makers:
        progress.step(m.__name__.replace("_", " "))
        sections.append(m(out, doc))
    progress.done()
    return document(text(a.get("scenario_name", "Flourish results")), meta, sections)


class Progress:
    """Where the report is, on stderr: one line rewritten in place on a terminal; otherwise (a
    batch job's log) a line when a section starts 10 s or more after the last line."""

    def __init__(self, n):
        self.n, self.k, self.tty = n, 0, sys.stderr.isatty()
        self.start = self.last = time.monotonic()

    def step(self, name):
        self.k += 1
        now = time.monotonic()
        line = "flourish report: section %d/%d (%s), %.0f s" % (self.k, self.n, name,
                                                                 now - self.start)
        if self.tty:
            sys.stderr.write("\r\033[K" + line)
            sys.stderr.flush()
        elif now - self.last >= 10:
            sys.stderr.write(line + "\n")
            self.last = now

    def done(self):
        if self.tty:
            sys.stderr.write("\r\033[K")
            sys.stderr.flush()


def build_sweep(f, path):
    a = f.attrs
    tree = {}
    scenario = text(a.get("scenario_path", ""))
    if scenario and os.path.isfile(scenario):
        # A sweep's file keeps the scenario's path, not its text: its labels and currency come
        # from that file when it is still there.
        tree = scenario_settings({"scenario_yaml": open(scenario, encoding="utf-8").read(),
                                  "scenario_overrides": text(a.get("scenario_overrides", ""))})
    points = ("expected values at each point (sweep --expect)"
              if text(a.get("point_mode", "")) == "expectation" else
              "%s replications at each point; seed %s (the same at every point); chance only, "
              "parameter uncertainty not drawn" % (text(a.get("replications", "?")),
                                                   text(a.get("seed", "?"))))
    what = "%s design, %d points over %s; %s" % (
        text(f["design"][0]), f["values"].shape[0], ", ".join(names(f, "parameters")), points)
    title = "%s: sensitivity sweep" % text(a.get("scenario_name", "Flourish"))
    return document(title, provenance(a, path, esc(what)),
                    report_sweep.sweep_sections(f, tree, Doc()))


def build_fit(f, path):
    what = "posterior of %s" % esc(", ".join(names(f, "parameters")))
    return document(report_fit.fit_title(f), provenance(f.attrs, path, what),
                    report_fit.fit_sections(f, Doc()))


def build(path):
    try:
        f = h5py.File(path, "r")
    except (OSError, ValueError) as exc:
        raise BadInput("%s: cannot open as HDF5 (%s)" % (path, exc))
    with f:
        if text(f.attrs.get("mode", "")) == "sweep":
            return build_sweep(f, path)
        if text(f.attrs.get("mode", "")) == "fit":
            return build_fit(f, path)
    return build_run(path)


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
    size = os.path.getsize(args.output)
    sys.stderr.write("flourish report: wrote %s (%s)\n" % (
        args.output, "%.1f MB" % (size / 1e6) if size >= 1e6 else "%.0f kB" % (size / 1e3)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
