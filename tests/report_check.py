"""Checks of `flourish report` against the file it reads (used by tests/report.sh).

python3 tests/report_check.py SOURCE_DIR CHECK ARGS...:
  tables REPORT.html SUMMARY.csv OUT.h5   the report's numbers against the C summary's
  flows OUT.h5 REPORT.html                the stock balance and the inflow/outflow split
  uncertainty REPORT.html psa|chance      every caption and headline says what it includes
  vl OUT.h5 COPY.h5                       COPY: OUT with variable-length names, dimension
                                          scales and units attributes added
Prints "NAME: N passed, M failed"; exits 1 on any failure."""
import csv
import html.parser
import re
import sys

import numpy as np

src, what, args = sys.argv[1], sys.argv[2], sys.argv[3:]
sys.path.insert(0, src + "/scripts")
sys.path.insert(0, src + "/tests")
from html_tables import tables as read_tables  # noqa: E402

passed = failed = 0


def check(ok, message):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAILED: " + message)


def num(s):
    """A number as the report prints it: £1,234, −£1.23m, +12.5, 45%."""
    s = s.replace("\u2212", "-").replace(",", "").replace("£", "").replace("+", "")
    scale = {"k": 1e3, "m": 1e6, "bn": 1e9}
    m = re.fullmatch(r"(-?[0-9.]+)(k|m|bn|%)?", s.strip())
    if not m:
        raise ValueError("not a number: %r" % s)
    v = float(m.group(1))
    return v / 100 if m.group(2) == "%" else v * scale.get(m.group(2), 1)


def table(tabs, first_header):
    """The rows of the first table whose header starts with first_header."""
    return next(t[1:] for t in tabs if t[0][:len(first_header)] == first_header)


def labels(out_path):
    """Display label -> name, for arms, levels and budget holders of the file's scenario."""
    from report_data import Output
    out = Output(out_path)
    inv = {}
    for d in (out.arm_label, out.level_label, out.holder_label, out.locality_label):
        inv.update({v: k for k, v in d.items()})
    return out, inv


def tables(report, summary_csv, out_path):
    out, name = labels(out_path)
    tabs = read_tables(report)
    summary = {}
    for row in csv.DictReader(open(summary_csv)):
        summary[(row["arm"], row["year"], row["measure"])] = row
    last = str(max(int(y) for (_, y, _) in summary if y))
    mean = lambda a, y, m: float(summary[(a, y, m)]["mean"])  # noqa: E731
    for arm, level, _, at_end, *_ in table(tabs, ["arm", "level", "at the start (mean)"]):
        got, want = num(at_end), mean(name[arm], last, "children_" + name[level])
        check(abs(got - want) <= 0.051, "%s %s at the end: report %r, summary %r"
              % (arm, level, got, want))
    for arm, holder, value, *_ in table(tabs, ["arm", "budget holder"]):
        want = mean(name[arm], last, "cumulative_net_cost" if holder == "net"
                    else "delta_cost_" + name[holder]) if holder == "net" else None
        if holder == "net":
            check(abs(num(value) - want) <= 0.51, "%s net cost: report %s, summary %r"
                  % (arm, value, want))
        else:  # by holder, over the horizon: the sum of the summary's years
            total = sum(mean(name[arm], str(y), "delta_cost_" + name[holder])
                        for y in range(1, int(last) + 1))
            check(abs(num(value) - total) <= 0.51 + 1e-9 * abs(total),
                  "%s %s: report %s, summary %r" % (arm, holder, value, total))
    for arm, wtp, value, *rest in table(tabs, ["arm", "value of a QALY"]):
        want = mean(name[arm], "", "net_monetary_benefit_at_%d" % num(wtp))
        check(abs(num(value) - want) <= 0.51, "%s NMB at %s: report %s, summary %r"
              % (arm, wtp, value, want))
        if rest:
            p = float(summary[(name[arm], "", "p_cost_effective_at_%d" % num(wtp))]["mean"])
            check(abs(float(rest[-1]) - p) <= 0.005, "%s P(CE) at %s" % (arm, wtp))
    for arm, median, *rest in table(tabs, ["arm", "break-even (median)"]):
        row = summary[(name[arm], "", "breakeven_month")]
        shown = "never" if row["median"] == "inf" else "month %g" % float(row["median"])
        check(median == shown, "%s break-even: report %s, summary %s" % (arm, median, shown))
        if len(rest) >= 3:
            never = float(summary[(name[arm], "", "p_no_breakeven")]["mean"])
            check(abs(num(rest[1]) - never) <= 0.005, "%s never breaks even" % arm)
    # The headline: net saving by year 5 and at the horizon (compact amounts: 3 figures).
    for arm in out.compared:
        heads = [t for t in tabs if t[0][:2] == ["measure", "mean"]]
        rows = {r[0]: r for r in heads[out.compared.index(arm)][1:]}
        for y in (5, int(last)):
            key = next(k for k in rows if k.startswith("net saving") and "(year %d)" % y in k)
            got, want = num(rows[key][1]), -mean(arm, str(y), "cumulative_net_cost")
            check(abs(got - want) <= 0.006 * abs(want) + 1, "%s headline %s: %r vs %r"
                  % (arm, key, got, want))
    print("report agrees with the summary")


def flows(out_path, report):
    import report_flows
    from report_data import Output
    out = Output(out_path)
    M = report_flows.level_matrix(out)
    for arm in out.arms:
        inflow, outflow = report_flows.level_flows(out, arm)
        s = out.get("arms", arm, "stocks_by_level").astype(np.int64)
        check(np.array_equal(s[:, 1:] - s[:, :-1], inflow - outflow),
              "%s: the stocks do not change by inflow minus outflow" % arm)
        # The level stocks are the state stocks summed by level.
        st = out.get("arms", arm, "stocks").astype(np.int64)
        check(np.array_equal(st @ M, s), "%s: stocks_by_level is not stocks by level" % arm)
    tabs = read_tables(report)
    rows = table(tabs, ["arm", "level", "change in the stock (mean)"])
    _, name = labels(out_path)
    for arm in out.compared:
        d = report_flows.decompose(out, arm)
        total = (out.get("arms", arm, "stocks_by_level")[:, -1].astype(np.int64)
                 - out.get("arms", "baseline", "stocks_by_level")[:, -1].astype(np.int64))
        check(np.array_equal(d["total"], total), "%s: the split's total is not the change" % arm)
        check(np.array_equal(d["start"], np.zeros_like(d["start"])), "%s: arms differ at t=0" % arm)
        check(np.array_equal(d["total"], d["start"] + d["inflow"] + d["outflow"]),
              "%s: the parts do not add up to the change" % arm)
        check(np.abs(d["inflow"]).sum() > 0 and np.abs(d["outflow"]).sum() > 0,
              "%s: a part is zero everywhere (the check could not fail)" % arm)
        # Half-way too: the identity holds at every step, not only at the end.
        h = report_flows.decompose(out, arm, t=s.shape[1] // 2)
        check(np.array_equal(h["total"], h["start"] + h["inflow"] + h["outflow"]),
              "%s: the parts do not add up half-way" % arm)
        for r in rows:
            if name[r[0]] != arm:
                continue
            l = out.levels.index(name[r[1]])
            for k, key in enumerate(("total", "inflow", "outflow")):
                check(abs(num(r[2 + k]) - d[key][:, l].mean()) <= 0.051,
                      "%s %s %s: report %s, file %r" % (r[0], r[1], key, r[2 + k],
                                                        d[key][:, l].mean()))
    print("the inflow and outflow parts add up to each change")


class Captions(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.captions, self.leads, self.into = [], [], None

    def handle_starttag(self, tag, attrs):
        cls = dict(attrs).get("class", "")
        if tag == "figcaption" or (tag == "p" and cls == "lead"):
            self.into = [] if tag == "figcaption" else ["lead"]
            self.buf = ""

    def handle_endtag(self, tag):
        if self.into is not None and tag in ("figcaption", "p"):
            (self.leads if self.into else self.captions).append(self.buf)
            self.into = None

    def handle_data(self, data):
        if self.into is not None:
            self.buf += data


def uncertainty(report, kind):
    p = Captions()
    p.feed(open(report, encoding="utf-8").read())
    phrase = {"psa": "include parameter uncertainty", "chance": "parameter uncertainty is not "
              "included"}[kind]
    short = {"psa": "Parameter uncertainty included", "chance": "parameter uncertainty not "
             "included"}[kind]
    check(len(p.captions) >= 10, "only %d figure captions" % len(p.captions))
    for c in p.captions:
        check(phrase in c, "a caption does not say '%s': %s" % (phrase, c[:80]))
    check(len(p.leads) >= 1, "no headline paragraph")
    for lead in p.leads:
        check(short.lower() in lead.lower(), "a headline does not say '%s'" % short)
    print("every caption and headline says: %s" % phrase)


def layout(path):
    """The file describes itself: text is variable-length UTF-8, every numeric dataset has a
    description and units, and every dimension of every numeric dataset is a named dimension
    scale of its length."""
    import h5py
    seen = {"datasets": 0, "dims": 0}
    with h5py.File(path, "r") as f:
        check(f.attrs["format_version"] == "2.0", "format_version is not 2.0")
        mode = f.attrs.get_id("mode").get_type()
        check(mode.is_variable_str() and mode.get_cset() == h5py.h5t.CSET_UTF8,
              "the mode attribute is not variable-length UTF-8")

        def visit(name, obj):
            if not isinstance(obj, h5py.Dataset):
                return
            seen["datasets"] += 1
            if obj.dtype.kind in "SO":
                check(h5py.check_string_dtype(obj.dtype) is not None
                      and obj.dtype.kind == "O", "%s: text that is not variable-length" % name)
                check(h5py.check_string_dtype(obj.dtype).encoding == "utf-8",
                      "%s: text that is not UTF-8" % name)
                return  # a list of names (its coordinate, where it labels an axis, is a scale)
                for key in ("description", "units"):
                    check(key in obj.attrs, "%s: no %s attribute" % (name, key))
            if h5py.h5ds.is_scale(obj.id) or obj.ndim == 0:
                return
            for k, dim in enumerate(obj.dims):
                seen["dims"] += 1
                check(len(dim) == 1, "%s: dimension %d has %d scales" % (name, k, len(dim)))
                if len(dim) == 1:
                    check(dim[0].shape == (obj.shape[k],),
                          "%s: dimension %d's scale has the wrong length" % (name, k))
                    check(dim.label or dim[0].name, "%s: dimension %d unnamed" % (name, k))

        f.visititems(visit)
    check(seen["datasets"] > 100 and seen["dims"] > 100, "too few datasets were checked")
    print("layout: %d datasets, %d dimensions, all self-describing" % (seen["datasets"], seen["dims"]))


def fixed(out_path, copy_path):
    """Rewrites a copy of the file in the first layout (format 1): fixed-length NUL-padded
    names and mode, no format_version. summary and report must read both alike."""
    import shutil
    import h5py
    shutil.copyfile(out_path, copy_path)
    with h5py.File(copy_path, "r+") as f:
        for name in ("levels", "states", "budget_holders", "localities"):
            values = [x.decode() if isinstance(x, bytes) else x for x in f[name][()]]
            del f[name]
            f.create_dataset(name, data=np.array([v.encode() for v in values]))
        mode = f.attrs["mode"]
        f.attrs["mode"] = np.bytes_(mode.encode() if isinstance(mode, str) else mode)
        del f.attrs["format_version"]
    print("rewrote %s with fixed-length names" % copy_path)


{"tables": tables, "flows": flows, "uncertainty": uncertainty, "layout": layout, "fixed": fixed}[what](*args)
print("%s: %d passed, %d failed" % (what, passed, failed))
sys.exit(1 if failed else 0)
