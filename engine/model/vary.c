/* Entries of transition rows that vary (transitions.tables[].vary): by single year of age (a
 * vector, or a column of a CSV file), or by a parametric survival form on a clock (time in
 * state, time since the start of the run, or age) turned exactly into the probability of the
 * event within the table's period. The compiler gives every year of a vector and every step of a
 * clock a band of its own, and evaluates the entry at each band's lower edge. */
#include "model/compile.h"

#include "core/csv.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Reading a vector's file: the values, the first year, and the bounds of a value (what: their
 * description in messages). */
typedef struct age_reader {
  double *values;
  size_t n, cap;
  double from_years;
  double lo, hi;
  const char *what;
  int ages; /* the years are ages (else years in a state) */
} age_reader;

static fl_status age_record(void *ctx, fl_csv *r, const char *const *f) {
  age_reader *a = ctx;
  char *end;
  double age = strtod(f[0], &end);
  if (!f[0][0] || *end || !(age >= 0 && age <= 200) || age != floor(age))
    return fl_csv_fail(r, FL_EINPUT, 0, "expected %s in whole years from 0 to 200, found '%s'",
                       a->ages ? "an age" : "a time", f[0]);
  if (a->n == 0) a->from_years = age;
  else if (age != a->from_years + (double)a->n)
    return fl_csv_fail(r, FL_EINPUT, 0,
                       "%s must be whole years one after another: expected %g, found %s",
                       a->ages ? "ages" : "times", a->from_years + (double)a->n, f[0]);
  double x = strtod(f[1], &end);
  if (!f[1][0] || *end || !(x >= a->lo && x <= a->hi) || !isfinite(x))
    return fl_csv_fail(r, FL_EINPUT, 1, "expected %s, found '%s'", a->what, f[1]);
  if (a->n == a->cap) {
    size_t ncap = a->cap ? 2 * a->cap : 128;
    double *nv = realloc(a->values, ncap * sizeof *nv);
    if (!nv) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
    a->values = nv;
    a->cap = ncap;
  }
  a->values[a->n++] = x;
  return FL_OK;
}

/* The file of a vector, relative to the scenario's folder (as given when absolute). */
static char *resolve_path(const char *scenario, const char *file) {
  const char *slash = scenario ? strrchr(scenario, '/') : NULL;
  size_t dir = file[0] == '/' || !slash ? 0 : (size_t)(slash - scenario) + 1;
  char *p = malloc(dir + strlen(file) + 1);
  if (!p) return NULL;
  memcpy(p, scenario, dir);
  strcpy(p + dir, file);
  return p;
}

fl_status fl_vector_parse(compiler *c, const fl_node *vec, const char *key, const char *pattern,
                          const char *year_column, double lo, double hi, const char *what,
                          double **values, size_t *n, double *from_years) {
  const fl_node *vals = fl_map_get(vec, "values"), *file = fl_map_get(vec, "file");
  char pat[256];
  *values = NULL;
  *n = 0;
  if (!vals == !file)
    return fl_c_bad(c, vec, key, "give values or file (with column), one of them");
  if (vals) {
    snprintf(pat, sizeof pat, "%s.from_years", pattern);
    const double from = fl_get_num(vec, pat);
    if (from != floor(from))
      return fl_c_bad(c, fl_map_get(vec, "from_years"), key,
                      "from_years must be a whole number of years, found %g", from);
    if (vals->n == 0) return fl_c_bad(c, vals, key, "values is empty: give at least one");
    *from_years = from;
    if (!(*values = fl_calloc(vals->n, sizeof **values))) return fl_c_oom(c);
    *n = vals->n;
    for (size_t k = 0; k < vals->n; k++) (*values)[k] = fl_scalar_num(vals->items[k]);
    return FL_OK;
  }
  const fl_node *col = fl_map_get(vec, "column");
  if (!col) return fl_c_bad(c, vec, key, "a file needs column, the column of values to read");
  if (fl_map_get(vec, "from_years"))
    return fl_c_bad(c, fl_map_get(vec, "from_years"), key,
                    "the file gives the years: from_years goes with values only");
  snprintf(pat, sizeof pat, "%s.%s", pattern, year_column);
  const char *names[2] = {fl_get_str(vec, pat), col->value};
  const int ages = !strcmp(year_column, "age_column");
  fl_csv_spec spec = {names, 2, 3, ages ? "age table" : "table by time in state"};
  age_reader a = {.lo = lo, .hi = hi, .what = what, .ages = ages};
  char *path = resolve_path(c->sc->path, file->value);
  if (!path) return fl_c_oom(c);
  fl_status st = fl_csv_read(path, &spec, 0, age_record, &a, c->err);
  if (st == FL_OK && a.n == 0) {
    fl_error_set(c->err, FL_EINPUT, path, 2, 1, NULL, "the table has no rows");
    st = FL_EINPUT;
  }
  free(path);
  if (st != FL_OK) {
    free(a.values);
    return st;
  }
  *values = a.values;
  *n = a.n;
  *from_years = a.from_years;
  return FL_OK;
}

static fl_status parse_by_age(compiler *c, const fl_node *ba, const char *key, fl_vary *v) {
  fl_status st = fl_vector_parse(c, ba, key, "transitions.tables[].vary[].by_age", "age_column", 0,
                                 c->rates ? HUGE_VAL : 1,
                                 c->rates ? "a rate (a number >= 0)" : "a probability from 0 to 1",
                                 &v->values, &v->n, &v->from_years);
  if (st != FL_OK || fl_map_get(ba, "file")) return st;
  const fl_node *values = fl_map_get(ba, "values");
  for (size_t k = 0; k < v->n; k++)
    if (!c->rates && v->values[k] > 1)
      return fl_c_bad(c, values->items[k], key, "a probability must be between 0 and 1, found %s",
                      values->items[k]->value);
  return FL_OK;
}

static fl_status parse_one(compiler *c, const fl_node *table, const fl_node *e, const char *key,
                           fl_vary *v) {
  fl_model *m = c->m;
  const fl_node *from = fl_map_get(e, "from"), *to = fl_map_get(e, "to");
  char k2[320];
  long s = fl_c_find(m->state_names, m->S, from->value);
  snprintf(k2, sizeof k2, "%s.from", key);
  if (s < 0) return fl_c_unknown(c, from, k2, from->value, m->state_names, m->S, "the states");
  const fl_node *row = fl_map_get(fl_map_get(table, "rows"), from->value);
  if (!row)
    return fl_c_bad(c, from, k2, "the table has no row for '%s': give its row, with rest",
                    from->value);
  long d = fl_c_find(m->state_names, m->S, to->value);
  snprintf(k2, sizeof k2, "%s.to", key);
  if (d < 0) return fl_c_unknown(c, to, k2, to->value, m->state_names, m->S, "the states");
  if (d == s) return fl_c_bad(c, to, k2, "an entry that varies is a move: not to the from-state");
  const fl_node *given = fl_map_get(row, to->value);
  if (given && fl_scalar_is_rest(given))
    return fl_c_bad(c, to, k2, "'%s' is the row's rest entry, which takes up the difference",
                    to->value);
  int has_rest = c->rates;
  for (size_t i = 0; i < row->n; i++) has_rest |= fl_scalar_is_rest(fl_map_val(row, i));
  if (!has_rest)
    return fl_c_bad(c, from, key,
                    "the row of '%s' needs a rest entry to take up what the varying entry "
                    "changes",
                    from->value);
  v->from = (size_t)s;
  v->to = (size_t)d;
  v->hr = fl_get_num(e, "transitions.tables[].vary[].hazard_ratio");
  const char *clock = fl_get_str(e, "transitions.tables[].vary[].clock");
  v->clock = !strcmp(clock, "run")   ? FL_CLOCK_RUN
             : !strcmp(clock, "age") ? FL_CLOCK_AGE
                                     : FL_CLOCK_TIS;
  static const char *const forms[4] = {"by_age", "weibull", "gompertz", "loglogistic"};
  const fl_node *f = NULL;
  for (int k = 0; k < 4; k++) {
    const fl_node *n = fl_map_get(e, forms[k]);
    if (!n) continue;
    if (f) return fl_c_bad(c, n, key, "give one of by_age, weibull, gompertz and loglogistic");
    f = n;
    v->kind = (fl_vary_kind)k;
  }
  if (!f) return fl_c_bad(c, e, key, "give one of by_age, weibull, gompertz and loglogistic");
  snprintf(k2, sizeof k2, "%s.%s", key, forms[v->kind]);
  if (v->kind == FL_VARY_AGE) {
    if (fl_map_get(e, "clock") || fl_map_get(e, "hazard_ratio"))
      return fl_c_bad(c, e, key, "clock and hazard_ratio go with a parametric form, not by_age");
    return parse_by_age(c, f, k2, v);
  }
  if (c->rates)
    return fl_c_bad(c, f, k2,
                    "a parametric form gives probabilities: its table needs given_as: probability");
  if (v->kind == FL_VARY_WEIBULL) {
    const fl_node *l = fl_map_get(f, "lambda"), *sc = fl_map_get(f, "scale");
    if (!l == !sc) return fl_c_bad(c, f, k2, "give lambda or scale, one of them");
    v->a = fl_get_num(f, "transitions.tables[].vary[].weibull.shape");
    /* b: the factor of t^shape in the cumulative hazard */
    v->b = l ? fl_scalar_num(l) : pow(fl_scalar_num(sc), -v->a);
  } else if (v->kind == FL_VARY_GOMPERTZ) {
    v->a = fl_get_num(f, "transitions.tables[].vary[].gompertz.shape");
    v->b = fl_get_num(f, "transitions.tables[].vary[].gompertz.rate");
  } else {
    v->a = fl_get_num(f, "transitions.tables[].vary[].loglogistic.shape");
    v->b = fl_get_num(f, "transitions.tables[].vary[].loglogistic.scale");
  }
  return FL_OK;
}

fl_status fl_vary_parse(compiler *c, const fl_node *table, const char *at, fl_vary **out,
                        size_t *n) {
  const fl_node *list = fl_map_get(table, "vary");
  *out = NULL;
  *n = 0;
  if (!list) return FL_OK;
  if (!(*out = fl_calloc(list->n, sizeof **out))) return fl_c_oom(c);
  *n = list->n;
  for (size_t i = 0; i < list->n; i++) {
    char key[256];
    snprintf(key, sizeof key, "%s.vary[%zu]", at, i);
    fl_status st = parse_one(c, table, list->items[i], key, &(*out)[i]);
    if (st != FL_OK) return st;
    for (size_t j = 0; j < i; j++)
      if ((*out)[j].from == (*out)[i].from && (*out)[j].to == (*out)[i].to)
        return fl_c_bad(c, list->items[i], key, "the entry %s -> %s varies twice in this table",
                        c->m->state_names[(*out)[i].from], c->m->state_names[(*out)[i].to]);
  }
  return FL_OK;
}

void fl_vary_free(fl_vary *v, size_t n) {
  for (size_t i = 0; v && i < n; i++) free(v[i].values);
  free(v);
}

/* The cumulative hazard of a parametric form at t years. */
static double cum_hazard(const fl_vary *v, double t) {
  switch (v->kind) {
  case FL_VARY_WEIBULL: return v->b * pow(t, v->a);
  case FL_VARY_GOMPERTZ: return v->a == 0 ? v->b * t : v->b / v->a * expm1(v->a * t);
  case FL_VARY_LOGLOGISTIC: return log1p(pow(t / v->b, v->a));
  default: return 0;
  }
}

double fl_vary_value(const fl_model *m, const fl_vary *v, uint32_t age, uint32_t tis,
                     uint32_t period, double per_months) {
  if (v->kind == FL_VARY_AGE) {
    const double years = floor((double)age * m->step_months / 12.0 + 1e-9) - v->from_years;
    const size_t k = years <= 0 ? 0 : (size_t)years >= v->n ? v->n - 1 : (size_t)years;
    return v->values[k];
  }
  const uint32_t x = v->clock == FL_CLOCK_RUN ? period : v->clock == FL_CLOCK_AGE ? age : tis;
  const double t0 = (double)x * m->step_months / 12.0, t1 = t0 + per_months / 12.0;
  return -expm1(-v->hr * (cum_hazard(v, t1) - cum_hazard(v, t0)));
}

fl_status fl_vary_edges(compiler *c, const fl_node *table, const char *at, const fl_vary *v,
                        size_t n, void (*add)(uint32_t *, size_t *, uint32_t), uint32_t *edges[3],
                        size_t count[3], const uint32_t top[3]) {
  const fl_model *m = c->m;
  static const char *const ranges[3] = {"age_years", "time_in_state_months", "period_months"};
  static const char *const what[3] = {"ages", "times in state", "periods"};
  static const double scale[3] = {12.0, 1.0, 1.0};
  for (size_t i = 0; i < n; i++) {
    /* the dimension, and the first and last edge it needs (in steps) */
    const int k = v[i].kind == FL_VARY_AGE || v[i].clock == FL_CLOCK_AGE ? 0
                  : v[i].clock == FL_CLOCK_RUN                           ? 2
                                                                         : 1;
    uint64_t lo = 1, hi = top[k], step = 1;
    if (v[i].kind == FL_VARY_AGE) {
      const double per_year = 12.0 / m->step_months;
      if (fabs(per_year - nearbyint(per_year)) > 1e-9)
        return fl_c_bad(c, table, at,
                        "ages by single year need a whole number of steps a year, and a step is "
                        "%g months",
                        m->step_months);
      step = (uint64_t)nearbyint(per_year);
      lo = (uint64_t)v[i].from_years * step;
      hi = ((uint64_t)v[i].from_years + v[i].n - 1) * step;
      if (lo == 0) lo = step;
    }
    /* within the table's own range */
    const fl_node *r = fl_map_get(table, ranges[k]);
    if (r) {
      const double rlo = fl_scalar_num(r->items[0]) * scale[k] / m->step_months;
      const double rhi = fl_scalar_num(r->items[1]) * scale[k] / m->step_months;
      while (lo < rlo - 0.5) lo += step;
      if (isfinite(rhi) && (double)hi > rhi - 0.5) hi = (uint64_t)nearbyint(rhi);
    }
    for (uint64_t e = lo; e <= hi && e <= UINT32_MAX - 1; e += step) {
      add(edges[k], &count[k], (uint32_t)e);
      if (count[k] > 255) {
        char key[256];
        snprintf(key, sizeof key, "%s.vary[%zu]", at, i);
        return fl_c_bad(c, fl_map_get(table, "vary")->items[i], key,
                        "this entry needs a band for every %s it varies over, more than 255 "
                        "bands of %s in all; use a longer step, limit the table's %s, or a "
                        "shorter horizon",
                        k == 0 && v[i].kind == FL_VARY_AGE ? "year of age" : "step", what[k],
                        ranges[k]);
      }
    }
  }
  return FL_OK;
}
