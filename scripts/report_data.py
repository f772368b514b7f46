"""Reading a Flourish output for the report (scripts/report.py): its datasets with the
replication dimension always first, and the scenario settings the report shows (calendar start,
currency, display labels, the interventions' costs), read from the scenario text the file keeps
(root attribute scenario_yaml) with its --set assignments (scenario_overrides) applied."""
import calendar as _calendar

import matplotlib.ticker
import numpy as np

try:
    import h5py
    import yaml
except ImportError as exc:  # pragma: no cover - depends on the machine
    raise SystemExit("flourish report: %s; install Debian's python3-h5py, python3-matplotlib "
                     "and python3-yaml" % exc)


class BadInput(Exception):
    pass


def text(value):
    """A string from an HDF5 string of either kind: fixed-length (bytes, NUL-padded) or
    variable-length (bytes or str)."""
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value[()]
    if isinstance(value, bytes):
        return value.decode("utf-8").rstrip("\0")
    return str(value)


def names(f, path):
    return [text(x) for x in f[path][()]]


def groups(g):
    """The names of the subgroups of g (datasets beside them, such as dimension scales, are not
    arms or comparisons)."""
    return [k for k in g.keys() if isinstance(g[k], h5py.Group)]


def scenario_settings(attrs):
    """The scenario of a file's root attributes (attrs) as a tree of strings (YAML read without
    type guessing, as the engine reads it), with its --set assignments applied; {} when there
    is none or it cannot be read."""
    try:
        tree = yaml.load(text(attrs.get("scenario_yaml", "")), Loader=yaml.BaseLoader) or {}
    except yaml.YAMLError:
        return {}
    if not isinstance(tree, dict):
        return {}
    for line in text(attrs.get("scenario_overrides", "")).splitlines():
        path, eq, value = line.partition("=")
        if eq:
            apply_set(tree, path, value)
    return tree


def apply_set(tree, path, value):
    """Sets PATH (keys joined by dots, list items [i]) to value, as `run --set` did."""
    node, steps = tree, []
    for part in path.split("."):
        key, _, rest = part.partition("[")
        steps.append(key)
        steps += [int(i) for i in rest.rstrip("]").split("][")] if rest else []
    for s in steps[:-1]:
        try:
            node = node.setdefault(s, {}) if isinstance(node, dict) else node[s]
        except (IndexError, TypeError):
            return
    if isinstance(node, dict):
        node[steps[-1]] = value
    elif isinstance(node, list) and isinstance(steps[-1], int) and steps[-1] < len(node):
        node[steps[-1]] = value


def get(tree, *path, default=None):
    for p in path:
        if not isinstance(tree, dict) or p not in tree:
            return default
        tree = tree[p]
    return tree


class Calendar:
    """Steps as calendar months from time.start (YYYY-MM or YYYY-MM-DD), or as months and years
    from the start of the run when the scenario gives none."""

    def __init__(self, start, step_months):
        self.step = step_months
        self.y0 = self.m0 = None
        try:
            y, m = str(start).split("-")[:2]
            if 1 <= int(m) <= 12:
                self.y0, self.m0 = int(y), int(m)
        except (ValueError, AttributeError):
            pass

    @property
    def dated(self):
        return self.y0 is not None

    def month(self, months):
        """The calendar month that starts `months` after the start ("Apr 2027"), or "month N"."""
        if not self.dated:
            return "month %g" % months
        k = self.m0 - 1 + int(round(months))
        return "%s %d" % (_calendar.month_abbr[k % 12 + 1], self.y0 + k // 12)

    def x(self, steps):
        """Positions on a time axis: decimal calendar years, or years since the start."""
        years = np.asarray(steps, dtype=float) * self.step / 12.0
        return years + (self.y0 + (self.m0 - 1) / 12.0 if self.dated else 0.0)

    def axis(self, ax):
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(nbins=5, integer=True))
        ax.set_xlabel("" if self.dated else "years from the start")

    def by_end_of_year(self, y):
        """"by Mar 2030 (year 5)", the end of the run's year y."""
        if not self.dated:
            return "by the end of year %d" % y
        return "by %s (year %d)" % (self.month(12 * y - 1), y)

    def year_span(self, y):
        """The run's year y (1-based): "Apr 2029 to Mar 2030", or "year 5"."""
        if not self.dated:
            return "year %d" % y
        return "%s to %s" % (self.month(12 * (y - 1)), self.month(12 * y - 1))

    def start_words(self):
        return ("from %s" % self.month(0)) if self.dated else "from the start"


class Output:
    """One run or expect output: names, labels, settings, and datasets as [R, ...] arrays."""

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
        self.state_level = np.asarray(f["state_level"][()]).astype(int)
        self.holders = names(f, "budget_holders")
        self.localities = names(f, "localities") if "localities" in f else ["all"]
        arms = groups(f["arms"])
        self.arms = (["baseline"] + [a for a in arms if a != "baseline"]) if "baseline" in arms \
            else arms
        comps = groups(f["comparisons"]) if "comparisons" in f else []
        self.compared = [a for a in self.arms if a != "baseline" and a in comps]
        self.tree = scenario_settings(f.attrs)
        self.currency = text(get(self.tree, "costs", "currency", default="GBP"))
        self.cal = Calendar(get(self.tree, "time", "start"), self.step)
        self.psa = "parameter_uncertainty" in f.attrs
        self.psa_inner = int(f.attrs.get("psa_inner", 1)) if self.psa else 0
        self.n_uncertain = len(get(self.tree, "uncertainty", default=[]) or [])
        self.per_year = max(1, int(round(12 / self.step)))
        self._labels()

    def _labels(self):
        t = self.tree
        self.level_label = {l: get(t, "level_labels", l, default=l) for l in self.levels}
        self.holder_label = {h: get(t, "costs", "budget_holder_labels", h, default=h)
                             for h in self.holders}
        self.state_label = {s: get(t, "states", s, "label", default=s) for s in self.states}
        self.locality_label = {l: get(t, "localities", l, "label", default=l)
                               for l in self.localities}
        self.arm_label = {a: get(t, "arms", a, "label", default=a) for a in self.arms}
        self.arm_label["baseline"] = "Baseline"

    # Arrays up to this size are read once and kept: several sections draw the same stocks
    # and costs. Larger ones are read when asked for (and reduced by block where they are
    # largest: blocks, at_step).
    CACHE_BYTES = 32 << 20

    def get(self, group, arm, name):
        """An array of the file, [R, ...] (R = 1 in expectation mode), read-only."""
        key = "%s/%s/%s" % (group, arm, name)
        cache = self.__dict__.setdefault("_arrays", {})
        if key in cache:
            return cache[key]
        ds = self.f[key]
        d = ds[()]
        d = d if self.mc else d[np.newaxis, ...]
        d.flags.writeable = False
        if ds.nbytes <= self.CACHE_BYTES:
            cache[key] = d
        return d

    def n_rows(self, group, arm, name):
        """The replications of an array (1 in expectation mode)."""
        return self.f["%s/%s/%s" % (group, arm, name)].shape[0] if self.mc else 1

    def rows(self, group, arm, name, r0, r1):
        """Replications r0 to r1 of an array, as get gives them all."""
        d = self.f["%s/%s/%s" % (group, arm, name)]
        return d[r0:r1] if self.mc else d[()][np.newaxis, ...]

    def at_step(self, group, arm, name, t):
        """An array's values at one step t (negative: from the end) of every replication,
        [R, ...], read without the other steps."""
        d = self.f["%s/%s/%s" % (group, arm, name)]
        return d[:, t] if self.mc else d[t][np.newaxis, ...]

    def blocks(self, group, arm, name, rows=256):
        """(r0, the array's replications r0 to r0 + rows) in turn, to bound the memory of a
        large array that is reduced replication by replication."""
        R = self.n_rows(group, arm, name)
        for r0 in range(0, R, rows):
            yield r0, self.rows(group, arm, name, r0, min(R, r0 + rows))

    def has(self, group, arm, name):
        return "%s/%s/%s" % (group, arm, name) in self.f

    def n_years(self, T):
        return T // self.per_year

    def yearly(self, v):
        """Sums a [R, T, ...] per-step array into whole years: [R, Y, ...]."""
        Y = self.n_years(v.shape[1])
        return v[:, : Y * self.per_year].reshape((v.shape[0], Y, self.per_year) + v.shape[2:]) \
            .sum(axis=2)

    def uncertainty_words(self):
        """What the intervals include, in one sentence (figures and the headline say it)."""
        if not self.mc:
            return ("These are expected values (flourish expect): no interval, and no "
                    "uncertainty, is shown.")
        if self.psa:
            return ("Intervals include parameter uncertainty (run --psa: the %d distribution%s "
                    "of the scenario's uncertainty section, and any transition counts, drawn "
                    "afresh for every %s) as well as chance."
                    % (self.n_uncertain, "" if self.n_uncertain == 1 else "s",
                       "replication" if self.psa_inner <= 1 else
                       "block of %d replications" % self.psa_inner))
        if self.n_uncertain:
            return ("Intervals show chance alone: parameter uncertainty is not included, "
                    "although the scenario describes it (run with --psa to include it); they "
                    "understate what is not known.")
        return ("Intervals show chance alone: the scenario describes no parameter "
                "uncertainty, so they understate what is not known.")

    def uncertainty_short(self):
        if not self.mc:
            return "expected values, no uncertainty"
        return "parameter uncertainty included" if self.psa else \
            "chance only, parameter uncertainty not included"

    def investment(self, arm):
        """What the arm's interventions cost per step, [R, T]: their spend (with any reinvested
        savings), the cost per child reached and the set-up costs, from the file's spend and
        reach and the scenario's set-up and per-child costs (interventions in scenario order)."""
        if not self.has("arms", arm, "interventions/spend"):
            return None
        spend = self.get("arms", arm, "interventions/spend").astype(float)  # [R, T, I]
        total = spend.sum(axis=2)
        ivs = get(self.tree, "arms", arm, "interventions", default={}) or {}
        reached = self.get("arms", arm, "interventions/reached").astype(float) \
            if self.has("arms", arm, "interventions/reached") else None
        for i, (_name, iv) in enumerate(ivs.items()):
            if not isinstance(iv, dict) or i >= spend.shape[2]:
                continue
            per_child = float(iv.get("cost_per_child_month", 0))
            if per_child and reached is not None:
                total += per_child * self.step * reached[:, :, i]
            setup = float(iv.get("setup_cost", 0))
            start = iv.get("months", iv.get("years", ["0"]))[0]
            start_months = float(start) * (12 if "years" in iv and "months" not in iv else 1)
            k = int(start_months // self.step)
            if setup and k < total.shape[1]:
                total[:, k] += setup
        return total
