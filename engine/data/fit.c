/* `flourish fit`, the problem: the observed series (read through core/csv.c), the parameters
 * and their priors, the fit's start, horizon and initial state, and the likelihood of a
 * parameter vector, evaluated by recompiling the scenario's tree with the parameters' values
 * written into it and running the lean expectation pass (sim/expect_series.c) over the fit's
 * horizon. Each thread has its own evaluator (a tree, its parameters' scalars, the pass's
 * buffers), so that evaluations run in parallel and their results do not depend on which
 * thread made them. */
#include "data/fit.h"

#include "core/csv.h"
#include "data/calibrate_internal.h"
#include "model/model.h"

#include <errno.h>
#include <fnmatch.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#ifdef _OPENMP
#include <omp.h>
#endif

struct fl_fit_eval {
  fl_scenario *sc;
  fl_node ***nodes;   /* [K][n] the scalars each parameter sets */
  fl_series_ws *ws;
  const fl_series *last;
};

/* ---- Parameters -------------------------------------------------------------------------- */

static int is_pattern(const char *path) { return strpbrk(path, "*?|") != NULL; }

/* Whether a mapping key matches one component of a PATH: alternatives separated by |, each a
 * shell pattern (* and ?). */
static int key_matches(const char *comp, size_t len, const char *key) {
  char alt[128];
  for (const char *p = comp, *end = comp + len; p <= end;) {
    const char *bar = memchr(p, '|', (size_t)(end - p));
    const char *stop = bar ? bar : end;
    size_t n = (size_t)(stop - p);
    if (n < sizeof alt) {
      memcpy(alt, p, n);
      alt[n] = '\0';
      if (fnmatch(alt, key, 0) == 0) return 1;
    }
    p = stop + 1;
  }
  return 0;
}

typedef struct matches {
  fl_node **nodes;
  char **keys;
  size_t n, cap;
  int oom;
} matches;

static void match_add(matches *mt, fl_node *node, const char *key) {
  if (mt->n == mt->cap) {
    size_t cap = mt->cap ? 2 * mt->cap : 8;
    fl_node **nn = realloc(mt->nodes, cap * sizeof *nn);
    if (nn) mt->nodes = nn;
    char **nk = realloc(mt->keys, cap * sizeof *nk);
    if (nk) mt->keys = nk;
    if (!nn || !nk) {
      mt->oom = 1;
      return;
    }
    mt->cap = cap;
  }
  if (!(mt->keys[mt->n] = fl_strdup(key))) {
    mt->oom = 1;
    return;
  }
  mt->nodes[mt->n++] = node;
}

/* Every node under node that the rest of the path p reaches, with its key path (walked so far
 * in key). */
static void walk(fl_node *node, const char *p, char *key, size_t klen, size_t kcap, matches *mt) {
  if (!*p) {
    match_add(mt, node, key);
    return;
  }
  if (*p == '[') {
    char *end;
    errno = 0;
    unsigned long i = strtoul(p + 1, &end, 10);
    if (errno || *end != ']' || node->kind != FL_NODE_SEQ || i >= node->n) return;
    int w = snprintf(key + klen, kcap - klen, "[%lu]", i);
    if (w > 0 && klen + (size_t)w < kcap) walk(node->items[i], end + 1, key, klen + (size_t)w, kcap, mt);
    key[klen] = '\0';
    return;
  }
  if (*p == '.') p++;
  const char *stop = p;
  while (*stop && *stop != '.' && *stop != '[') stop++;
  if (node->kind != FL_NODE_MAP || stop == p) return;
  for (size_t i = 0; i < node->n; i++) {
    const fl_node *k = fl_map_key(node, i);
    if (!key_matches(p, (size_t)(stop - p), k->value)) continue;
    int w = snprintf(key + klen, kcap - klen, "%s%s", klen ? "." : "", k->value);
    if (w > 0 && klen + (size_t)w < kcap)
      walk(node->items[2 * i + 1], stop, key, klen + (size_t)w, kcap, mt);
    key[klen] = '\0';
  }
}

/* The numeric scalars PATH names in root (a pattern's matches that are the word rest are left
 * out: they absorb the change). Fails (FL_EUSAGE, naming --param) when none is found, or when a
 * plain PATH names something that is not a number. */
static fl_status resolve(const fl_scenario *sc, const char *path, matches *out, fl_error *err) {
  char key[512] = "";
  matches mt = {0};
  walk(sc->root, path, key, 0, sizeof key, &mt);
  if (mt.oom) goto oom;
  size_t kept = 0;
  for (size_t i = 0; i < mt.n; i++) {
    fl_node *n = mt.nodes[i];
    const int numeric = n->kind == FL_NODE_SCALAR && !n->quoted && !fl_scalar_is_rest(n) &&
                        isfinite(fl_scalar_num(n));
    if (!numeric && !is_pattern(path)) {
      fl_error_set(err, FL_EUSAGE, sc->path, n->line, n->col, mt.keys[i],
                   "--param %s: a parameter must be a number in the scenario; this is %s", path,
                   n->kind == FL_NODE_MAP   ? "a mapping"
                   : n->kind == FL_NODE_SEQ ? "a sequence"
                   : fl_scalar_is_rest(n)   ? "the word rest (it absorbs the row's other entries)"
                                            : "not a number");
      goto fail;
    }
    if (!numeric) {
      free(mt.keys[i]);
      continue;
    }
    mt.nodes[kept] = n;
    mt.keys[kept++] = mt.keys[i];
  }
  mt.n = kept;
  if (!kept) {
    fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                 "'%s' names no numeric value of %s (a key path as --set takes it, such as "
                 "transitions.tables[0].rows.intensive.additional; * ? and | match several keys)",
                 path, sc->path);
    goto fail;
  }
  *out = mt;
  return FL_OK;
oom:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
fail:
  for (size_t i = 0; i < mt.n; i++) free(mt.keys[i]);
  free(mt.keys);
  free(mt.nodes);
  return err->code;
}

/* "PATH=LO:HI" or "PATH~NAME(a,b)". */
static fl_status parse_param(const char *text, fl_fit_param *par, fl_error *err) {
  const char *tilde = strchr(text, '~'), *eq = strchr(text, '=');
  const char *cut = tilde && (!eq || tilde < eq) ? tilde : eq;
  char rest[200];
  if (!cut || cut == text || strlen(cut + 1) >= sizeof rest) goto usage;
  if (!(par->path = malloc((size_t)(cut - text) + 1))) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  memcpy(par->path, text, (size_t)(cut - text));
  par->path[cut - text] = '\0';
  strcpy(rest, cut + 1);
  char tail;
  if (*cut == '=') {
    par->prior = FL_PRIOR_UNIFORM;
    if (sscanf(rest, "%lf:%lf%c", &par->a, &par->b, &tail) != 2 || !isfinite(par->a) ||
        !isfinite(par->b) || !(par->a < par->b))
      goto usage;
    return FL_OK;
  }
  static const char *const names[] = {"lognormal", "beta", "normal"};
  static const fl_prior kinds[] = {FL_PRIOR_LOGNORMAL, FL_PRIOR_BETA, FL_PRIOR_NORMAL};
  for (size_t k = 0; k < 3; k++) {
    size_t n = strlen(names[k]);
    if (strncmp(rest, names[k], n) || rest[n] != '(') continue;
    if (sscanf(rest + n, "(%lf,%lf)%c", &par->a, &par->b, &tail) != 2 || !isfinite(par->a) ||
        !isfinite(par->b) || !(par->b > 0) || (kinds[k] == FL_PRIOR_BETA && !(par->a > 0)))
      goto usage;
    par->prior = kinds[k];
    return FL_OK;
  }
usage:
  fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
               "expected PATH=LO:HI (LO < HI) or PATH~lognormal(mu,sigma), PATH~beta(a,b) "
               "(a, b > 0) or PATH~normal(m,s) (s > 0), found '%s'",
               text);
  return FL_EUSAGE;
}

double fl_fit_log_prior(const fl_fit_problem *p, const double *theta) {
  double lp = 0;
  for (size_t k = 0; k < p->K; k++) {
    const fl_fit_param *q = &p->par[k];
    const double x = theta[k];
    if (!isfinite(x)) return -INFINITY;
    switch (q->prior) {
    case FL_PRIOR_UNIFORM:
      if (x < q->a || x > q->b) return -INFINITY;
      lp -= log(q->b - q->a);
      break;
    case FL_PRIOR_LOGNORMAL:
      if (!(x > 0)) return -INFINITY;
      lp += -log(x * q->b) - 0.5 * log(2 * M_PI) -
            0.5 * (log(x) - q->a) * (log(x) - q->a) / (q->b * q->b);
      break;
    case FL_PRIOR_BETA:
      if (!(x > 0 && x < 1)) return -INFINITY;
      lp += (q->a - 1) * log(x) + (q->b - 1) * log1p(-x) - (lgamma(q->a) + lgamma(q->b) -
                                                             lgamma(q->a + q->b));
      break;
    case FL_PRIOR_NORMAL:
      lp += -log(q->b) - 0.5 * log(2 * M_PI) - 0.5 * (x - q->a) * (x - q->a) / (q->b * q->b);
      break;
    }
  }
  return lp;
}

/* ---- Observations ------------------------------------------------------------------------ */

enum { OBS_DATE, OBS_MEASURE, OBS_VALUE, OBS_LOC, OBS_SD, OBS_COLS };
static const char *const obs_cols[OBS_COLS] = {"date", "measure", "value", "locality", "sd"};
static const fl_csv_spec obs_spec = {obs_cols, OBS_COLS,
                                     (1u << OBS_DATE) | (1u << OBS_MEASURE) | (1u << OBS_VALUE),
                                     "observed series"};

typedef struct obs_reader {
  fl_fit_problem *p;
  const fl_model *m;
  size_t cap;
  double *pos; /* [n] each date's position in months */
} obs_reader;

static int days_in(int y, int m) {
  static const int md[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return md[m - 1] + (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
}

/* A date YYYY-MM-DD or YYYY-MM as a position in months since year 0 (the first of a month is
 * its whole number); -1 when it is not one. */
static double date_position(const char *s) {
  long month;
  char full[16];
  if (strlen(s) == 7) {
    snprintf(full, sizeof full, "%s-01", s);
    s = full;
  }
  if (fl_cal_parse_date(s, &month) < 0) return -1;
  const int y = (int)(month / 12), mo = (int)(month % 12) + 1, d = atoi(s + 8);
  return (double)month + (d - 1.0) / days_in(y, mo);
}

/* The states that NAME (a state or a level) counts; 0 when it is neither. */
static uint64_t states_of(const fl_model *m, const char *name) {
  uint64_t set = 0;
  for (size_t l = 0; l < m->L; l++)
    if (!strcmp(m->level_names[l], name))
      for (size_t s = 0; s < m->S; s++)
        if (m->state_level[s] == l) set |= (uint64_t)1 << s;
  if (set) return set;
  for (size_t s = 0; s < m->S; s++)
    if (!strcmp(m->state_names[s], name)) return (uint64_t)1 << s;
  return 0;
}

static fl_status obs_record(void *ctx, fl_csv *r, const char *const *f) {
  obs_reader *rd = ctx;
  fl_fit_problem *p = rd->p;
  const fl_model *m = rd->m;
  fl_obs o = {.loc = -1, .line = fl_csv_line(r), .date_col = fl_csv_column(r, OBS_DATE),
              .measure_col = fl_csv_column(r, OBS_MEASURE)};
  double pos = date_position(f[OBS_DATE]);
  if (pos < 0 || strlen(f[OBS_DATE]) >= sizeof o.date)
    return fl_csv_fail(r, FL_EINPUT, OBS_DATE, "expected a date YYYY-MM-DD or YYYY-MM, found '%.40s'",
                       f[OBS_DATE]);
  strcpy(o.date, f[OBS_DATE]);
  const char *name = f[OBS_MEASURE];
  if (!strncmp(name, "entries:", 8)) o.kind = FL_OBS_ENTRIES, name += 8;
  else if (!strncmp(name, "exits:", 6)) o.kind = FL_OBS_EXITS, name += 6;
  if (!strcmp(name, "total")) o.states = m->S >= 64 ? ~(uint64_t)0 : ((uint64_t)1 << m->S) - 1;
  else o.states = states_of(m, name);
  if (!o.states || strlen(f[OBS_MEASURE]) >= sizeof o.measure) {
    const char *near = fl_closest(name, m->level_names, m->L);
    if (!near) near = fl_closest(name, m->state_names, m->S);
    return fl_csv_fail(r, FL_EINPUT, OBS_MEASURE,
                       "unknown measure '%.60s': expected a state or level of the scenario, "
                       "entries:NAME, exits:NAME or total%s%s%s",
                       f[OBS_MEASURE], near ? " (did you mean '" : "", near ? near : "",
                       near ? "'?)" : "");
  }
  strcpy(o.measure, f[OBS_MEASURE]);
  char *end;
  errno = 0;
  o.value = strtod(f[OBS_VALUE], &end);
  if (!f[OBS_VALUE][0] || *end || errno || !isfinite(o.value))
    return fl_csv_fail(r, FL_EINPUT, OBS_VALUE, "expected a number of children, found '%.40s'",
                       f[OBS_VALUE]);
  if (o.value < 0)
    return fl_csv_fail(r, FL_EINPUT, OBS_VALUE, "a count of children cannot be negative (%g)",
                       o.value);
  if (f[OBS_LOC] && f[OBS_LOC][0]) {
    for (size_t l = 0; l < m->NLOC; l++)
      if (!strcmp(m->loc_names[l], f[OBS_LOC])) o.loc = (int)l;
    if (o.loc < 0) {
      const char *near = fl_closest(f[OBS_LOC], m->loc_names, m->NLOC);
      return fl_csv_fail(r, FL_EINPUT, OBS_LOC, "'%.60s' is not a locality of the scenario%s%s%s",
                         f[OBS_LOC], near ? " (did you mean '" : "", near ? near : "",
                         near ? "'?)" : "");
    }
  }
  if (f[OBS_SD] && f[OBS_SD][0]) {
    errno = 0;
    o.sd = strtod(f[OBS_SD], &end);
    if (*end || errno || !isfinite(o.sd) || !(o.sd > 0))
      return fl_csv_fail(r, FL_EINPUT, OBS_SD, "expected a standard deviation above 0, found '%.40s'",
                         f[OBS_SD]);
  }
  if (p->n_obs == rd->cap) {
    size_t cap = rd->cap ? 2 * rd->cap : 64;
    fl_obs *no = realloc(p->obs, cap * sizeof *no);
    if (no) p->obs = no;
    double *np = realloc(rd->pos, cap * sizeof *np);
    if (np) rd->pos = np;
    if (!no || !np) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
    rd->cap = cap;
  }
  rd->pos[p->n_obs] = pos;
  p->obs[p->n_obs++] = o;
  return FL_OK;
}

static int same_measure(const fl_obs *a, const fl_obs *b) {
  return a->kind == b->kind && a->states == b->states && a->loc == b->loc;
}

/* Places the dates on the fit's steps, checks them (inside the horizon, flows over a period,
 * one value a date) and numbers the measures. */
static fl_status place_dates(fl_fit_problem *p, const fl_model *m, const double *pos,
                             const char *from, const char *path, fl_error *err) {
  const double step = m->step_months;
  double first = pos[0];
  for (size_t i = 1; i < p->n_obs; i++)
    if (pos[i] < first) first = pos[i];
  double start = nearbyint(first);
  if (from) {
    double f = date_position(from);
    if (f < 0) {
      fl_error_set(err, FL_EUSAGE, "--from", 0, 0, NULL,
                   "expected a date YYYY-MM-DD or YYYY-MM, found '%s'", from);
      return FL_EUSAGE;
    }
    start = nearbyint(f);
  }
  const double scen_start = (double)m->start_year * 12 + m->start_month - 1;
  const double scen_end = scen_start + (double)m->T * step;
  size_t T = 0;
  for (size_t i = 0; i < p->n_obs; i++) {
    fl_obs *o = &p->obs[i];
    const double t = nearbyint((pos[i] - start) / step);
    if (t < 0) {
      fl_error_set(err, FL_EINPUT, path, (int)o->line, o->date_col, "date",
                   "%s is before the start of the fit (%s%s)", o->date,
                   from ? "--from " : "the first date, ", from ? from : "");
      return FL_EINPUT;
    }
    if (start + t * step > scen_end + 1e-9) {
      fl_error_set(err, FL_EINPUT, path, (int)o->line, o->date_col, "date",
                   "%s is after the end of the scenario's horizon (time.start %s plus %zu "
                   "steps of %g months)",
                   o->date, m->start_label, m->T, step);
      return FL_EINPUT;
    }
    o->t = (size_t)t;
    if (o->t > T) T = o->t;
  }
  if (T == 0) {
    fl_error_set(err, FL_EINPUT, path, (int)p->obs[0].line, p->obs[0].date_col, "date",
                 "every observation is on the first date (%s): the series cover no time",
                 p->obs[0].date);
    return FL_EINPUT;
  }
  p->T = T;
  p->start_month = (long)start;
  p->step_months = step;
  /* Measures, and the period of each flow: since the previous date of the same measure (the
   * start of the fit for its first). Rows of a measure need not be in date order. */
  for (size_t i = 0; i < p->n_obs; i++) {
    fl_obs *o = &p->obs[i];
    size_t prev = 0;
    int has_prev = 0;
    o->series = p->n_series;
    for (size_t j = 0; j < p->n_obs; j++) {
      const fl_obs *q = &p->obs[j];
      if (j == i || !same_measure(o, q)) continue;
      if (j < i) o->series = q->series;
      if (q->t == o->t) {
        if (j < i) {
          fl_error_set(err, FL_EINPUT, path, (int)o->line, o->date_col, "date",
                       "%s of %s%s%s is also on line %zu (the same step of the fit)", o->date,
                       o->measure, o->loc >= 0 ? " in " : "", o->loc >= 0 ? m->loc_names[o->loc] : "",
                       q->line);
          return FL_EINPUT;
        }
        continue;
      }
      if (q->t < o->t && (!has_prev || q->t > prev)) prev = q->t, has_prev = 1;
    }
    if (o->series == p->n_series) p->n_series++;
    o->t0 = has_prev ? prev : 0;
    if (o->kind != FL_OBS_STOCK && o->t == 0) {
      fl_error_set(err, FL_EINPUT, path, (int)o->line, o->date_col, "date",
                   "%s of %s is a flow on the first date of the fit: it covers no time (a flow "
                   "counts the children since the previous date of its measure, or since the "
                   "start of the fit)",
                   o->date, o->measure);
      return FL_EINPUT;
    }
  }
  return FL_OK;
}

/* ---- Evaluators -------------------------------------------------------------------------- */

static void map_remove(fl_node *map, const char *key) {
  if (!map || map->kind != FL_NODE_MAP) return;
  for (size_t i = 0; i < map->n; i++) {
    if (strcmp(map->items[2 * i]->value, key)) continue;
    fl_yaml_free(map->items[2 * i]);
    fl_yaml_free(map->items[2 * i + 1]);
    memmove(map->items + 2 * i, map->items + 2 * i + 2,
            (map->nitems - 2 * i - 2) * sizeof *map->items);
    map->nitems -= 2;
    map->n--;
    return;
  }
}

/* The scenario as the fit evaluates it: the fit's assignments, without arms, the uncertainty
 * section or posterior draws (the fit concerns the scenario's baseline as written), one
 * horizon key. */
static fl_status fit_scenario(const fl_fit_problem *p, fl_scenario **out, fl_error *err) {
  fl_status st = fl_scenario_load_text(p->scenario_path, p->text, strlen(p->text),
                                       (const char *const *)p->sets, p->n_sets, out, err);
  if (st != FL_OK) return st;
  fl_node *root = (*out)->root;
  map_remove(root, "arms");
  map_remove(root, "uncertainty");
  map_remove(root, "posterior_draws"); /* an earlier fit's: not the fit's business */
  map_remove((fl_node *)fl_map_get(root, "time"), "horizon_years");
  return FL_OK;
}

static void eval_free(fl_fit_eval *e, size_t K) {
  if (!e) return;
  for (size_t k = 0; e->nodes && k < K; k++) free(e->nodes[k]);
  free(e->nodes);
  fl_series_ws_free(e->ws);
  fl_scenario_free(e->sc);
  free(e);
}

/* An evaluator; the first one (first nonzero) also fills the parameters' keys and values. */
static fl_status eval_create(fl_fit_problem *p, int first, fl_fit_eval **out, fl_error *err) {
  fl_fit_eval *e = calloc(1, sizeof *e);
  fl_model *m = NULL;
  fl_status st;
  *out = NULL;
  if (!e || !(e->nodes = calloc(p->K, sizeof *e->nodes))) {
    eval_free(e, p->K);
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  if ((st = fit_scenario(p, &e->sc, err)) != FL_OK) goto fail;
  for (size_t k = 0; k < p->K; k++) {
    fl_fit_param *q = &p->par[k];
    matches mt = {0};
    if ((st = resolve(e->sc, q->path, &mt, err)) != FL_OK) goto fail;
    e->nodes[k] = mt.nodes;
    if (first) {
      q->n = mt.n;
      q->keys = mt.keys;
      q->scale = is_pattern(q->path);
      q->base = fl_calloc(mt.n, sizeof *q->base);
      q->whole = fl_calloc(mt.n, sizeof *q->whole);
      if (!q->base || !q->whole) {
        fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
        st = FL_ENOMEM;
        goto fail;
      }
      for (size_t i = 0; i < mt.n; i++) {
        q->base[i] = fl_scalar_num(mt.nodes[i]);
        q->whole[i] = strstr(q->keys[i], "].count") != NULL &&
                      !strncmp(q->keys[i], "population.initial[", 19);
      }
      q->start = q->scale ? 1.0 : q->base[0];
    } else {
      for (size_t i = 0; i < mt.n; i++) free(mt.keys[i]);
      free(mt.keys);
    }
    /* Room for any number's text. */
    for (size_t i = 0; i < p->par[k].n; i++) {
      char *v = realloc(e->nodes[k][i]->value, 40);
      if (!v) {
        fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
        st = FL_ENOMEM;
        goto fail;
      }
      e->nodes[k][i]->value = v;
    }
  }
  if ((st = fl_model_compile(e->sc, &m, err)) != FL_OK) goto fail;
  /* The lean pass follows one cohort per cell: a mixture of sub-cohorts by multiplier is
   * expectation mode's alone. */
  if (m->het.dist != FL_HET_NONE) {
    const fl_node *h = fl_map_get(e->sc->root, "heterogeneity");
    fl_error_set(err, FL_EUSAGE, e->sc->path, h ? h->line : 0, h ? h->col : 0, "heterogeneity",
                 "fit does not follow per-child heterogeneity (the heterogeneity section); "
                 "fit the scenario without it");
    st = FL_EUSAGE;
    goto fail;
  }
  if (!(e->ws = fl_series_ws_create(m))) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory for the fit's expectation pass");
    st = FL_ENOMEM;
    goto fail;
  }
  fl_model_free(m);
  *out = e;
  return FL_OK;
fail:
  fl_model_free(m);
  eval_free(e, p->K);
  return st;
}

/* The value scalar i of parameter k takes at theta. */
static double param_value(const fl_fit_param *q, size_t i, double theta) {
  double v = q->scale ? q->base[i] * theta : theta;
  return q->whole[i] ? nearbyint(v) : v;
}

static double obs_expected(const fl_fit_problem *p, const fl_series *sr, const fl_obs *o) {
  const size_t S = p->S, NLOC = p->NLOC;
  double x = 0;
  const size_t l0 = o->loc >= 0 ? (size_t)o->loc : 0, l1 = o->loc >= 0 ? l0 + 1 : NLOC;
  if (o->kind == FL_OBS_STOCK) {
    for (size_t l = l0; l < l1; l++)
      for (size_t s = 0; s < S; s++)
        if (o->states >> s & 1) x += sr->stocks[(o->t * NLOC + l) * S + s];
    return x;
  }
  for (size_t t = o->t0; t < o->t; t++)
    for (size_t l = l0; l < l1; l++)
      for (size_t s = 0; s < S; s++) {
        const int in = o->states >> s & 1;
        const double *fl = sr->flows + ((t * NLOC + l) * S + s) * S;
        if (o->kind == FL_OBS_ENTRIES) {
          if (in) x += sr->entries[(t * NLOC + l) * S + s];
          for (size_t d = 0; d < S; d++)
            if (!in && (o->states >> d & 1)) x += fl[d];
        } else if (in) {
          x += sr->exits[(t * NLOC + l) * S + s];
          for (size_t d = 0; d < S; d++)
            if (!(o->states >> d & 1)) x += fl[d];
        }
      }
  return x;
}

double fl_fit_obs_var(const fl_fit_problem *p, const fl_obs *o, double mu) {
  if (o->sd > 0) return o->sd * o->sd;
  return p->noise == FL_NOISE_NEGBIN ? mu + mu * mu / p->dispersion : mu;
}

/* Poisson (lgamma generalises the factorial to counts that are not whole), negative binomial
 * with variance mu + mu^2 / k, or normal with the row's sd. */
double fl_fit_obs_logpdf(const fl_fit_problem *p, const fl_obs *o, double mu) {
  const double y = o->value;
  if (o->sd > 0) {
    const double z = (y - mu) / o->sd;
    return -0.5 * z * z - log(o->sd) - 0.5 * log(2 * M_PI);
  }
  if (!(mu > 0)) return y == 0 ? 0 : -INFINITY;
  if (p->noise == FL_NOISE_NEGBIN) {
    const double k = p->dispersion;
    return lgamma(y + k) - lgamma(k) - lgamma(y + 1) + k * log(k / (k + mu)) +
           y * log(mu / (k + mu));
  }
  return y * log(mu) - mu - lgamma(y + 1);
}

fl_status fl_fit_loglik(fl_fit_problem *p, size_t i, const double *theta, double *ll, double *mu,
                        fl_error *err) {
  fl_fit_eval *e = p->ev[i];
  fl_model *m = NULL;
  fl_error why;
  fl_status st;
  *ll = -INFINITY;
  e->last = NULL;
  for (size_t k = 0; k < p->K; k++)
    for (size_t j = 0; j < p->par[k].n; j++)
      snprintf(e->nodes[k][j]->value, 40, "%.17g", param_value(&p->par[k], j, theta[k]));
  /* Bounds of the keys and the rows' sums: a value outside them is outside the model. */
  if ((st = fl_schema_check(e->sc->path, e->sc->root, &why)) != FL_OK ||
      (st = fl_model_compile_threaded(e->sc, &m, &why)) != FL_OK) {
    if (fl_err_exit_code(st) != 2) {
      *err = why;
      return st;
    }
#pragma omp critical(fl_fit_invalid)
    {
      if (!p->n_invalid++) fl_error_format(&why, p->first_invalid, sizeof p->first_invalid);
    }
    return FL_OK;
  }
  st = fl_expect_series(m, e->ws, &e->last, err);
  fl_model_free(m);
  if (st != FL_OK) return st;
  double sum = 0;
  for (size_t j = 0; j < p->n_obs; j++) {
    const double x = obs_expected(p, e->last, &p->obs[j]);
    if (mu) mu[j] = x;
    if (!p->obs[j].used_initial) sum += fl_fit_obs_logpdf(p, &p->obs[j], x);
  }
  *ll = sum;
  return FL_OK;
}

void fl_fit_series_of(const fl_fit_problem *p, size_t i, size_t j, double *out) {
  fl_fit_series_obs(p, i, &p->obs[j], out);
}

void fl_fit_series_obs(const fl_fit_problem *p, size_t i, const fl_obs *measure, double *out) {
  const fl_series *sr = p->ev[i]->last;
  fl_obs o = *measure;
  if (!sr) return;
  if (o.kind == FL_OBS_STOCK) {
    for (size_t t = 0; t <= p->T; t++) {
      o.t = t;
      out[t] = obs_expected(p, sr, &o);
    }
    return;
  }
  for (size_t t = 0; t < p->T; t++) {
    o.t0 = t;
    o.t = t + 1;
    out[t] = obs_expected(p, sr, &o);
  }
}

/* ---- The problem ------------------------------------------------------------------------- */

void fl_fit_problem_free(fl_fit_problem *p) {
  if (!p) return;
  for (size_t i = 0; i < p->n_ev; i++) eval_free(p->ev[i], p->K);
  free(p->ev);
  for (size_t k = 0; k < p->K; k++) {
    for (size_t i = 0; i < p->par[k].n; i++) free(p->par[k].keys[i]);
    free(p->par[k].keys);
    free(p->par[k].base);
    free(p->par[k].whole);
    free(p->par[k].path);
  }
  free(p->par);
  for (size_t i = 0; i < p->n_sets; i++) free(p->sets[i]);
  free(p->sets);
  fl_names_free(p->state_names, p->S);
  fl_names_free(p->loc_names, p->NLOC);
  fl_names_free(p->level_names, p->L);
  free(p->level_states);
  free(p->obs);
  free(p->text);
  free(p->scenario_path);
  free(p);
}

static fl_status add_set(fl_fit_problem *p, fl_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static fl_status add_set(fl_fit_problem *p, fl_error *err, const char *fmt, ...) {
  char buf[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  char **grown = realloc(p->sets, (p->n_sets + 1) * sizeof *grown);
  if (grown) p->sets = grown;
  if (!grown || !(p->sets[p->n_sets] = fl_strdup(buf))) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  p->n_sets++;
  return FL_OK;
}

/* The initial state at the fit's start: each group of the initial population whose state a
 * stock observed on the first date counts (all localities, or the group's own) is rescaled so
 * that those groups add up to the observation (rounded to whole children); the observation
 * then sets the initial state and is left out of the likelihood. */
static fl_status rescale_initial(fl_fit_problem *p, const fl_scenario *sc, const fl_model *m,
                                 const char *obs_path, fl_error *err) {
  const fl_node *init = fl_map_get(fl_map_get(sc->root, "population"), "initial");
  if (!init || init->kind != FL_NODE_SEQ) return FL_OK;
  const size_t G = init->n;
  double *count = fl_calloc(G ? G : 1, sizeof *count);
  int *state = fl_calloc(G ? G : 1, sizeof *state), *loc = fl_calloc(G ? G : 1, sizeof *loc);
  fl_status st = FL_OK;
  if (!count || !state || !loc) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    st = FL_ENOMEM;
    goto out;
  }
  for (size_t g = 0; g < G; g++) {
    const fl_node *grp = init->items[g], *ln = fl_map_get(grp, "locality");
    const char *sn = fl_get_str(grp, "population.initial[].state");
    count[g] = fl_get_num(grp, "population.initial[].count");
    state[g] = loc[g] = -1;
    for (size_t s = 0; s < m->S; s++)
      if (sn && !strcmp(sn, m->state_names[s])) state[g] = (int)s;
    for (size_t l = 0; ln && l < m->NLOC; l++)
      if (!strcmp(ln->value, m->loc_names[l])) loc[g] = (int)l;
  }
  for (size_t j = 0; j < p->n_obs; j++) {
    fl_obs *o = &p->obs[j];
    if (o->t != 0 || o->kind != FL_OBS_STOCK) continue;
    double sum = 0;
    int any = 0;
    for (size_t g = 0; g < G; g++)
      if (state[g] >= 0 && (o->states >> state[g] & 1) && (o->loc < 0 || loc[g] == o->loc))
        sum += count[g], any = 1;
    if (!any || (sum == 0 && o->value > 0)) {
      fl_error_set(err, FL_EINPUT, obs_path, (int)o->line, o->measure_col, "measure",
                   "%s on %s sets the initial state of the fit, but no group of the "
                   "scenario's initial population%s is in it to rescale (give --initial "
                   "as-written to keep the population as written)",
                   o->measure, o->date, o->loc >= 0 ? " with its locality" : "");
      st = FL_EINPUT;
      goto out;
    }
    const double f = sum > 0 ? o->value / sum : 0;
    for (size_t g = 0; g < G; g++)
      if (state[g] >= 0 && (o->states >> state[g] & 1) && (o->loc < 0 || loc[g] == o->loc)) {
        count[g] *= f;
        if ((st = add_set(p, err, "population.initial[%zu].count=%.0f", g, nearbyint(count[g]))) != FL_OK)
          goto out;
      }
    o->used_initial = 1;
  }
out:
  free(count);
  free(state);
  free(loc);
  return st;
}

fl_status fl_fit_problem_create(const fl_fit_options *opt, fl_fit_problem **out, fl_error *err) {
  fl_fit_problem *p = calloc(1, sizeof *p);
  fl_scenario *sc = NULL;
  fl_model *m = NULL;
  obs_reader rd = {0};
  fl_status st;
  *out = NULL;
  if (!p || !(p->scenario_path = fl_strdup(opt->scenario))) {
    free(p);
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  if (!opt->n_params) {
    fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL, "give at least one --param to fit");
    st = FL_EUSAGE;
    goto fail;
  }
  if (opt->n_params > FL_FIT_MAX_PARAMS) {
    fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL, "at most %d parameters, found %zu",
                 FL_FIT_MAX_PARAMS, opt->n_params);
    st = FL_EUSAGE;
    goto fail;
  }
  p->noise = FL_NOISE_POISSON;
  if (opt->noise && strcmp(opt->noise, "poisson")) {
    char *end;
    if (strncmp(opt->noise, "negbin:", 7) ||
        !((p->dispersion = strtod(opt->noise + 7, &end)) > 0) || *end || !isfinite(p->dispersion)) {
      fl_error_set(err, FL_EUSAGE, "--noise", 0, 0, NULL,
                   "expected poisson or negbin:K with K > 0 (variance mu + mu^2/K), found '%s'",
                   opt->noise);
      st = FL_EUSAGE;
      goto fail;
    }
    p->noise = FL_NOISE_NEGBIN;
  }
  if (!(p->par = calloc(opt->n_params, sizeof *p->par))) goto oom;
  for (size_t k = 0; k < opt->n_params; k++, p->K++)
    if ((st = parse_param(opt->params[k], &p->par[k], err)) != FL_OK) {
      p->K++;
      goto fail;
    }
  if ((st = fl_scenario_load(opt->scenario, &sc, err)) != FL_OK ||
      (st = fl_model_compile(sc, &m, err)) != FL_OK)
    goto fail;
  if (!m->start_year) {
    fl_error_set(err, FL_ESCHEMA, opt->scenario, 0, 0, "time.start",
                 "the fit places the observations' dates on the scenario's calendar: give "
                 "time.start (YYYY-MM)");
    st = FL_ESCHEMA;
    goto fail;
  }
  if (!(p->text = fl_strdup(sc->text))) goto oom;
  p->S = m->S;
  p->NLOC = m->NLOC;
  p->L = m->L;
  if (!(p->state_names = fl_names_dup(m->state_names, m->S)) ||
      !(p->loc_names = fl_names_dup(m->loc_names, m->NLOC)) ||
      !(p->level_names = fl_names_dup(m->level_names, m->L)) ||
      !(p->level_states = fl_calloc(m->L, sizeof *p->level_states)))
    goto oom;
  for (size_t s = 0; s < m->S; s++) p->level_states[m->state_level[s]] |= (uint64_t)1 << s;
  rd.p = p;
  rd.m = m;
  if ((st = fl_csv_read(opt->observed, &obs_spec, ',', obs_record, &rd, err)) != FL_OK) goto fail;
  if (!p->n_obs) {
    fl_error_set(err, FL_EINPUT, opt->observed, 1, 1, NULL,
                 "the observed series is empty: it has a header but no observations");
    st = FL_EINPUT;
    goto fail;
  }
  if ((st = place_dates(p, m, rd.pos, opt->from, opt->observed, err)) != FL_OK) goto fail;
  if ((st = add_set(p, err, "time.start=%04ld-%02ld", p->start_month / 12,
                    p->start_month % 12 + 1)) != FL_OK ||
      (st = add_set(p, err, "time.horizon_steps=%zu", p->T)) != FL_OK)
    goto fail;
  if (!opt->initial_as_written && (st = rescale_initial(p, sc, m, opt->observed, err)) != FL_OK)
    goto fail;
  int in_lik = 0;
  for (size_t j = 0; j < p->n_obs; j++) in_lik |= !p->obs[j].used_initial;
  if (!in_lik) {
    fl_error_set(err, FL_EINPUT, opt->observed, (int)p->obs[0].line, 1, NULL,
                 "every observation sets the initial state: nothing is left to fit to");
    st = FL_EINPUT;
    goto fail;
  }
  int threads = opt->threads;
#ifdef _OPENMP
  if (threads <= 0) threads = omp_get_max_threads();
#endif
  if (threads <= 0) threads = 1;
  p->n_ev = (size_t)threads;
  if (!(p->ev = calloc(p->n_ev, sizeof *p->ev))) goto oom;
  for (size_t i = 0; i < p->n_ev; i++)
    if ((st = eval_create(p, i == 0, &p->ev[i], err)) != FL_OK) goto fail;
  fl_model_free(m);
  fl_scenario_free(sc);
  free(rd.pos);
  *out = p;
  return FL_OK;
oom:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  st = FL_ENOMEM;
fail:
  fl_model_free(m);
  fl_scenario_free(sc);
  free(rd.pos);
  fl_fit_problem_free(p);
  return st;
}
