/* flourish sweep. Every point is the scenario with --set assignments for the swept parameters,
 * compiled and run like `flourish run` with the same seed, so that a point is exactly the run
 * a user would get with those --set options, and differences between points come from the
 * parameters rather than from chance (common random numbers). Per point, each arm's and each
 * comparison's headline results are reduced to means and Monte Carlo standard errors; across
 * points, the sensitivity of each result to each parameter: main-effect ranges on a grid
 * (the tornado), partial rank correlations on sampled designs. */
#include "sweep.h"

#include "internal.h"
#include "rng.h"
#include "scenario.h"

#include <gsl/gsl_multifit.h>
#include <gsl/gsl_qrng.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

#define MAX_POINTS 1000000

static fl_status oom(fl_error *err) {
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  return FL_ENOMEM;
}

size_t fl_sweep_design(const fl_sweep_options *opt, double **values, fl_error *err) {
  const size_t K = opt->n_params;
  size_t P = 1;
  *values = NULL;
  if (K == 0 || K > FL_SWEEP_MAX_PARAMS) {
    fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                 "a sweep needs 1 to %d parameters, found %zu", FL_SWEEP_MAX_PARAMS, K);
    return 0;
  }
  if (opt->design == FL_DESIGN_GRID) {
    for (size_t k = 0; k < K; k++) {
      if (opt->params[k].levels == 0 || P > MAX_POINTS / opt->params[k].levels) {
        fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                     "the grid would have more than %d points", MAX_POINTS);
        return 0;
      }
      P *= opt->params[k].levels;
    }
  } else {
    P = opt->points;
    if (P == 0 || P > MAX_POINTS) {
      fl_error_set(err, FL_EUSAGE, "--points", 0, 0, NULL,
                   "expected 1 to %d points, found %zu", MAX_POINTS, P);
      return 0;
    }
  }
  double *v = malloc(P * K * sizeof *v);
  if (!v) {
    oom(err);
    return 0;
  }
  if (opt->design == FL_DESIGN_GRID) {
    for (size_t p = 0; p < P; p++) {
      size_t idx = p;
      for (size_t k = K; k-- > 0;) {
        const fl_sweep_param *q = &opt->params[k];
        size_t i = idx % q->levels;
        idx /= q->levels;
        v[p * K + k] = q->levels == 1 ? q->lo
                       : i + 1 == q->levels
                           ? q->hi
                           : q->lo + (q->hi - q->lo) * (double)i / (double)(q->levels - 1);
      }
    }
  } else if (opt->design == FL_DESIGN_LHS) {
    /* One stratum of width 1/P per point in every dimension, strata matched at random, a
     * uniform position inside each (McKay, Beckman and Conover 1979). The stream is the
     * sweep's own, keyed by the seed. */
    size_t *perm = malloc(P * sizeof *perm);
    fl_rng r;
    if (!perm) {
      free(v);
      oom(err);
      return 0;
    }
    fl_rng_seed(&r, fl_mix64(opt->run.seed ^ 0x4c48532d73776565ULL), 0x5357454550ULL);
    for (size_t k = 0; k < K; k++) {
      const fl_sweep_param *q = &opt->params[k];
      for (size_t p = 0; p < P; p++) perm[p] = p;
      for (size_t p = P; p > 1; p--) {
        size_t j = fl_rng_bounded(&r, (uint32_t)p);
        size_t t = perm[p - 1];
        perm[p - 1] = perm[j];
        perm[j] = t;
      }
      for (size_t p = 0; p < P; p++) {
        double u = ((double)perm[p] + fl_rng_uniform(&r)) / (double)P;
        v[p * K + k] = q->lo + (q->hi - q->lo) * u;
      }
    }
    free(perm);
  } else {
    gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, (unsigned)K);
    double u[FL_SWEEP_MAX_PARAMS];
    if (!q) {
      free(v);
      oom(err);
      return 0;
    }
    for (size_t p = 0; p < P; p++) {
      gsl_qrng_get(q, u);
      for (size_t k = 0; k < K; k++)
        v[p * K + k] = opt->params[k].lo + (opt->params[k].hi - opt->params[k].lo) * u[k];
    }
    gsl_qrng_free(q);
  }
  *values = v;
  return P;
}

/* Average ranks (1-based) of v[i * stride], ties sharing the mean of their ranks. */
typedef struct {
  double v;
  size_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

static void ranks(const double *v, size_t stride, size_t P, ranked *tmp, double *out) {
  for (size_t i = 0; i < P; i++) tmp[i] = (ranked){v[i * stride], i};
  qsort(tmp, P, sizeof *tmp, cmp_ranked);
  for (size_t i = 0; i < P;) {
    size_t j = i;
    while (j + 1 < P && tmp[j + 1].v == tmp[i].v) j++;
    for (size_t t = i; t <= j; t++) out[tmp[t].i] = 0.5 * (double)(i + j) + 1.0;
    i = j + 1;
  }
}

/* Residuals of y on [1, X without column skip] by least squares. */
static int residuals(const gsl_matrix *X, size_t skip, const double *y, size_t P, double *res) {
  const size_t K = X->size2;
  gsl_matrix *A = gsl_matrix_alloc(P, K);
  gsl_vector *b = gsl_vector_alloc(P), *c = gsl_vector_alloc(K), *r = gsl_vector_alloc(P);
  gsl_matrix *cov = gsl_matrix_alloc(K, K);
  gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(P, K);
  int ok = A && b && c && r && cov && w;
  if (ok) {
    for (size_t i = 0; i < P; i++) {
      gsl_matrix_set(A, i, 0, 1.0);
      for (size_t k = 0, col = 1; k < K; k++)
        if (k != skip) gsl_matrix_set(A, i, col++, gsl_matrix_get(X, i, k));
      gsl_vector_set(b, i, y[i]);
    }
    double chisq;
    ok = gsl_multifit_linear(A, b, c, cov, &chisq, w) == 0 &&
         gsl_multifit_linear_residuals(A, b, c, r) == 0;
    for (size_t i = 0; ok && i < P; i++) res[i] = gsl_vector_get(r, i);
  }
  gsl_multifit_linear_free(w);
  gsl_matrix_free(cov);
  gsl_vector_free(r);
  gsl_vector_free(c);
  gsl_vector_free(b);
  gsl_matrix_free(A);
  return ok;
}

/* The partial rank correlation coefficient (Blower and Dowlatabadi 1994): rank every
 * parameter and the output, remove from the ranks of parameter k and of the output what the
 * other parameters' ranks explain linearly, and correlate what is left. */
fl_status fl_prcc(const double *x, const double *y, size_t P, size_t K, double *out,
                  fl_error *err) {
  for (size_t k = 0; k < K; k++) out[k] = NAN;
  if (P <= K + 1) return FL_OK;
  ranked *tmp = malloc(P * sizeof *tmp);
  double *ry = malloc(P * sizeof *ry), *col = malloc(P * sizeof *col);
  double *ex = malloc(P * sizeof *ex), *ey = malloc(P * sizeof *ey);
  gsl_matrix *X = gsl_matrix_alloc(P, K);
  fl_status st = FL_OK;
  if (!tmp || !ry || !col || !ex || !ey || !X) {
    st = oom(err);
    goto out;
  }
  for (size_t k = 0; k < K; k++) {
    ranks(x + k, K, P, tmp, col);
    for (size_t i = 0; i < P; i++) gsl_matrix_set(X, i, k, col[i]);
  }
  ranks(y, 1, P, tmp, ry);
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  for (size_t k = 0; k < K; k++) {
    /* X's column k becomes the response; the design matrix is the intercept and the others. */
    for (size_t i = 0; i < P; i++) col[i] = gsl_matrix_get(X, i, k);
    if (!residuals(X, k, col, P, ex) || !residuals(X, k, ry, P, ey)) continue;
    double sxy = 0, sxx = 0, syy = 0;
    for (size_t i = 0; i < P; i++) {
      sxy += ex[i] * ey[i];
      sxx += ex[i] * ex[i];
      syy += ey[i] * ey[i];
    }
    /* A constant parameter or output leaves only rounding in its residuals. */
    const double scale = (double)P * (double)P * (double)P;
    if (sxx > 1e-12 * scale && syy > 1e-12 * scale) out[k] = sxy / sqrt(sxx * syy);
    else if (sxx > 1e-12 * scale) out[k] = 0.0;
  }
  gsl_set_error_handler(old);
out:
  gsl_matrix_free(X);
  free(ey);
  free(ex);
  free(col);
  free(ry);
  free(tmp);
  return st;
}

/* ---- Per-point results ------------------------------------------------------------------ */

/* One result series across points: values [P * width]; mcse likewise when present. */
typedef struct series {
  char *name;
  const char *doc;
  size_t width; /* 1, or L or W for vector results */
  double *mean, *mcse;
  int sensitivity; /* scalar results get sensitivity measures */
} series;

typedef struct table {
  series *s;
  size_t n, cap;
  size_t P;
} table;

static series *table_add(table *t, const char *prefix, const char *arm, const char *name,
                         const char *doc, size_t width, int with_mcse, int sensitivity) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 32;
    series *s = realloc(t->s, cap * sizeof *s);
    if (!s) return NULL;
    t->s = s;
    t->cap = cap;
  }
  series *s = &t->s[t->n];
  memset(s, 0, sizeof *s);
  size_t len = strlen(prefix) + strlen(arm) + strlen(name) + 3;
  s->name = malloc(len);
  s->mean = calloc(t->P * width, sizeof *s->mean);
  s->mcse = with_mcse ? calloc(t->P * width, sizeof *s->mcse) : NULL;
  if (!s->name || !s->mean || (with_mcse && !s->mcse)) {
    free(s->name);
    free(s->mean);
    free(s->mcse);
    return NULL;
  }
  snprintf(s->name, len, "%s/%s/%s", prefix, arm, name);
  s->doc = doc;
  s->width = width;
  s->sensitivity = sensitivity;
  t->n++;
  return s;
}

static void table_free(table *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->s[i].name);
    free(t->s[i].mean);
    free(t->s[i].mcse);
  }
  free(t->s);
}

/* Mean and Monte Carlo standard error of per-replication values, computed as the run's own
 * summary computes them (so a sweep point's mean equals that run's summary mean bit for bit). */
static void mean_mcse(double *v, size_t R, double *mean, double *mcse) {
  double stats[3 + FL_N_QUANTILES];
  fl_summarise_cell(v, R, 0, NULL, 0, stats, 1, 0);
  *mean = stats[0];
  *mcse = stats[2];
}

/* Per-replication totals of a [R, ...] array: sum over each replication's cells. */
static void rep_totals(const fl_array *a, size_t R, double *v) {
  size_t cells = fl_array_count(a) / R;
  for (size_t r = 0; r < R; r++) {
    double s = 0;
    for (size_t c = 0; c < cells; c++) s += fl_array_get(a, r * cells + c);
    v[r] = s;
  }
}

typedef struct slots {
  series *cost, *qaly, *children; /* per arm */
} slots;
typedef struct cslots {
  series *dcost, *dqaly, *nmb, *psave;
} cslots;

static fl_status record_point(const fl_results *res, const fl_model *m, size_t p,
                              const slots *as, const cslots *cs, double *buf, fl_error *err) {
  const size_t R = res->R ? res->R : 1, L = m->L;
  const double step_years = m->step_months / 12.0;
  for (size_t a = 0; a < res->n_arms; a++) {
    const fl_arm_results *g = &res->arms[a];
    const fl_array *costd = fl_group_find(g, "costs_discounted");
    const fl_array *qold = fl_group_find(g, "qol_discounted");
    const fl_array *lvl = fl_group_find(g, "stocks_by_level");
    if (!costd || !qold || !lvl) {
      fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL, "sweep: missing results of arm %s",
                   g->name);
      return FL_EINTERNAL;
    }
    rep_totals(costd, R, buf);
    mean_mcse(buf, R, &as[a].cost->mean[p], &as[a].cost->mcse[p]);
    rep_totals(qold, R, buf);
    for (size_t r = 0; r < R; r++) buf[r] *= step_years;
    mean_mcse(buf, R, &as[a].qaly->mean[p], &as[a].qaly->mcse[p]);
    const size_t per_rep = fl_array_count(lvl) / R; /* (T + 1) * L */
    for (size_t l = 0; l < L; l++) {
      for (size_t r = 0; r < R; r++) buf[r] = fl_array_get(lvl, r * per_rep + per_rep - L + l);
      mean_mcse(buf, R, &as[a].children->mean[p * L + l], &as[a].children->mcse[p * L + l]);
    }
  }
  for (size_t a = 1; a < res->n_arms; a++) {
    const fl_arm_results *g = &res->comps[a];
    const fl_array *dc = fl_group_find(g, "delta_cost_total");
    const fl_array *dq = fl_group_find(g, "delta_qaly_total");
    const fl_array *nmb = fl_group_find(g, "net_monetary_benefit");
    if (!dc || !dq || !nmb) {
      fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL,
                   "sweep: missing comparison results of arm %s", g->name);
      return FL_EINTERNAL;
    }
    size_t saving = 0;
    for (size_t r = 0; r < R; r++) saving += (buf[r] = fl_array_get(dc, r)) < 0;
    mean_mcse(buf, R, &cs[a].dcost->mean[p], &cs[a].dcost->mcse[p]);
    cs[a].psave->mean[p] = (double)saving / (double)R;
    for (size_t r = 0; r < R; r++) buf[r] = fl_array_get(dq, r);
    mean_mcse(buf, R, &cs[a].dqaly->mean[p], &cs[a].dqaly->mcse[p]);
    const size_t W = cs[a].nmb->width, have = fl_array_count(nmb) / R;
    for (size_t w = 0; w < W && w < have; w++) {
      for (size_t r = 0; r < R; r++) buf[r] = fl_array_get(nmb, r * have + w);
      mean_mcse(buf, R, &cs[a].nmb->mean[p * W + w], &cs[a].nmb->mcse[p * W + w]);
    }
  }
  return FL_OK;
}

/* Main effect of parameter k on a grid: the mean of the result over the points at each of
 * the parameter's values; its range (max - min) is the tornado bar. */
static double main_effect_range(const fl_sweep_options *opt, const double *y, size_t P,
                                size_t k) {
  const size_t n = opt->params[k].levels;
  size_t stride = 1;
  for (size_t j = k + 1; j < opt->n_params; j++) stride *= opt->params[j].levels;
  double lo = INFINITY, hi = -INFINITY;
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    size_t c = 0;
    for (size_t p = 0; p < P; p++)
      if ((p / stride) % n == i) {
        s += y[p];
        c++;
      }
    lo = fmin(lo, s / (double)c);
    hi = fmax(hi, s / (double)c);
  }
  return hi - lo;
}

fl_status fl_sweep(const char *scenario, const fl_sweep_options *opt, const char *out,
                   fl_error *err) {
  const size_t K = opt->n_params;
  double *values = NULL;
  const size_t P = fl_sweep_design(opt, &values, err);
  if (!P) return err->code;

  table t = {.P = P};
  slots as[FL_MAX_ARMS];
  cslots cs[FL_MAX_ARMS];
  char *arm_names[FL_MAX_ARMS] = {0}, **level_names = NULL;
  size_t n_arms = 0, L = 0;
  const char **sets = malloc((opt->n_sets + K) * sizeof *sets);
  size_t slot[FL_SWEEP_MAX_PARAMS + 1] = {0}; /* offsets of each parameter's assignment */
  for (size_t k = 0; k < K; k++) slot[k + 1] = slot[k] + strlen(opt->params[k].path) + 32;
  char *assign = malloc(slot[K] ? slot[K] : 1);
  double *buf = NULL, *wtp = NULL;
  size_t wtp_n = 0;
  char *scenario_name = NULL, *fixed = NULL;
  fl_h5_dataset *ds = NULL;
  double *sens = NULL;
  fl_status st = FL_OK;
  if (!sets || !assign) {
    st = oom(err);
    goto out;
  }
  size_t flen = 1;
  for (size_t i = 0; i < opt->n_sets; i++) {
    sets[i] = opt->sets[i];
    flen += strlen(opt->sets[i]) + 1;
  }
  if (!(fixed = calloc(flen, 1))) {
    st = oom(err);
    goto out;
  }
  for (size_t i = 0; i < opt->n_sets; i++) strcat(strcat(fixed, opt->sets[i]), "\n");

  for (size_t p = 0; p < P; p++) {
    for (size_t k = 0; k < K; k++) {
      /* "%.17g" is at most 24 characters: the slot always holds the whole assignment. */
      snprintf(assign + slot[k], slot[k + 1] - slot[k], "%s=%.17g", opt->params[k].path,
               values[p * K + k]);
      sets[opt->n_sets + k] = assign + slot[k];
    }
    fl_scenario *sc = NULL;
    fl_model *m = NULL;
    fl_results *res = NULL;
    st = fl_scenario_load_with(scenario, sets, opt->n_sets + K, &sc, err);
    if (st == FL_OK && (st = fl_model_compile(sc, &m, err)) != FL_OK) fl_scenario_blame(sc, err);
    fl_scenario_free(sc);
    if (st == FL_OK) st = opt->expect ? fl_expect(m, &res, err) : fl_run(m, &opt->run, &res, err);
    if (st == FL_OK && p == 0) {
      /* The first point fixes the layout: arms, levels, values of a QALY. */
      n_arms = res->n_arms;
      L = m->L;
      if (!(scenario_name = fl_strdup(m->name))) st = oom(err);
      buf = malloc((res->R ? res->R : 1) * sizeof *buf);
      level_names = calloc(L, sizeof *level_names);
      if (!buf || !level_names) st = oom(err);
      for (size_t l = 0; st == FL_OK && l < L; l++)
        if (!(level_names[l] = fl_strdup(m->level_names[l]))) st = oom(err);
      for (size_t a = 0; st == FL_OK && a < n_arms; a++) {
        const char *name = res->arms[a].name;
        if (!(arm_names[a] = fl_strdup(name)) ||
            !(as[a].cost = table_add(&t, "arms", name, "cost_discounted",
                                     "Discounted cost over the horizon, all budget holders "
                                     "(mean over replications) at each point.", 1, 1, 1)) ||
            !(as[a].qaly = table_add(&t, "arms", name, "qalys_discounted",
                                     "Discounted quality-adjusted child-years over the horizon "
                                     "(mean) at each point.", 1, 1, 1)) ||
            !(as[a].children = table_add(&t, "arms", name, "children_end",
                                         "Children at each level at the end of the run (mean) "
                                         "at each point.", L, 1, 0)))
          st = oom(err);
        if (st == FL_OK && a >= 1) {
          const fl_array *w = fl_group_find(&res->comps[a], "willingness_to_pay");
          const size_t W = w ? w->dims[0] : 0;
          if (a == 1 && W && !wtp_n) {
            if (!(wtp = malloc(W * sizeof *wtp))) st = oom(err);
            else memcpy(wtp, w->data, W * sizeof *wtp);
            wtp_n = wtp ? W : 0;
          }
          if (!(cs[a].dcost = table_add(&t, "comparisons", name, "delta_cost_total",
                                        "Discounted net cost of the arm against the baseline "
                                        "(mean) at each point.", 1, 1, 1)) ||
              !(cs[a].dqaly = table_add(&t, "comparisons", name, "delta_qaly_total",
                                        "Discounted quality-adjusted child-years gained against "
                                        "the baseline (mean) at each point.", 1, 1, 1)) ||
              !(cs[a].nmb = table_add(&t, "comparisons", name, "net_monetary_benefit",
                                      "Net monetary benefit at each willingness to pay (mean) "
                                      "at each point.", W ? W : 1, 1, 0)) ||
              !(cs[a].psave = table_add(&t, "comparisons", name, "p_saving",
                                        "Share of replications in which the arm costs less "
                                        "than the baseline (discounted) at each point.", 1, 0,
                                        1)))
            st = oom(err);
        }
      }
    }
    if (st == FL_OK && res->n_arms != n_arms) {
      fl_error_set(err, FL_EINPUT, NULL, 0, 0, NULL, "sweep: the arms changed between points");
      st = FL_EINPUT;
    }
    if (st == FL_OK) st = record_point(res, m, p, as, cs, buf, err);
    fl_results_free(res);
    fl_model_free(m);
    if (st != FL_OK) {
      /* Say which point failed: its assignments. */
      char where[sizeof err->message + 400];
      snprintf(where, sizeof where, "at sweep point %zu (%.300s%s): %s", p, sets[opt->n_sets],
               K > 1 ? ", ..." : "", err->message);
      where[sizeof err->message - 1] = '\0';
      memcpy(err->message, where, sizeof err->message);
      goto out;
    }
    if (opt->progress) opt->progress(opt->progress_ctx, p + 1, P);
  }

  /* Sensitivity of every scalar result to every parameter. */
  size_t n_sens = 0;
  for (size_t i = 0; i < t.n; i++) n_sens += t.s[i].sensitivity;
  sens = malloc((n_sens ? n_sens : 1) * K * sizeof *sens);
  ds = calloc(3 * t.n + n_sens + 3, sizeof *ds);
  char **snames = calloc(t.n + 1, sizeof *snames);
  if (!sens || !ds || !snames) {
    free(snames);
    st = oom(err);
    goto out;
  }
  size_t nd = 0, si = 0;
  ds[nd++] = (fl_h5_dataset){"values", "Parameter values at each point [point, parameter].",
                             2, {P, K}, values};
  double shape[FL_SWEEP_MAX_PARAMS];
  if (wtp_n)
    ds[nd++] = (fl_h5_dataset){"willingness_to_pay", "Values of a QALY: the columns of "
                               "net_monetary_benefit.", 1, {wtp_n}, wtp};
  if (opt->design == FL_DESIGN_GRID) {
    for (size_t k = 0; k < K; k++) shape[k] = (double)opt->params[k].levels;
    ds[nd++] = (fl_h5_dataset){"grid_shape", "Points along each parameter: values is the grid "
                               "in C order (the last parameter varies fastest).", 1, {K},
                               shape};
  }
  for (size_t i = 0; i < t.n && st == FL_OK; i++) {
    series *s = &t.s[i];
    int rank = s->width > 1 ? 2 : 1;
    ds[nd++] = (fl_h5_dataset){s->name, s->doc, rank, {P, s->width}, s->mean};
    if (s->mcse) {
      char *n = malloc(strlen(s->name) + 6);
      if (!n) {
        st = oom(err);
        break;
      }
      sprintf(n, "%s_mcse", s->name);
      snames[si] = n; /* freed below with the sensitivity names */
      ds[nd++] = (fl_h5_dataset){n, "Monte Carlo standard error of the mean beside it.", rank,
                                 {P, s->width}, s->mcse};
      si++;
    }
  }
  size_t n_aux = si;
  char **sens_names = calloc(n_sens + 1, sizeof *sens_names);
  for (size_t i = 0, j = 0; i < t.n && st == FL_OK && sens_names; i++) {
    series *s = &t.s[i];
    if (!s->sensitivity) continue;
    double *out_k = sens + j * K;
    if (opt->design == FL_DESIGN_GRID) {
      for (size_t k = 0; k < K; k++) out_k[k] = main_effect_range(opt, s->mean, P, k);
    } else if ((st = fl_prcc(values, s->mean, P, K, out_k, err)) != FL_OK) {
      break;
    }
    const char *what = opt->design == FL_DESIGN_GRID ? "main_effect_range" : "prcc";
    sens_names[j] = malloc(strlen(s->name) + 32);
    if (!sens_names[j]) {
      st = oom(err);
      break;
    }
    sprintf(sens_names[j], "sensitivity/%s/%s", s->name, what);
    ds[nd++] = (fl_h5_dataset){
        sens_names[j],
        opt->design == FL_DESIGN_GRID
            ? "For each parameter, the range (max - min) over its grid values of the result "
              "averaged over the other parameters: the tornado bar. Exactly 0 when the "
              "parameter does not change the result."
            : "For each parameter, the partial rank correlation of the result with it (NaN "
              "where there are too few points); its standard error is about "
              "1/sqrt(points - parameters - 2) on the Fisher z scale.",
        1, {K}, out_k};
    j++;
  }
  if (!sens_names && st == FL_OK) st = oom(err);
  int rank = 0;
#ifdef FLOURISH_MPI
  /* Under MPI every rank holds every point's results (run gathers them); rank 0 writes. */
  int mpi_on = 0;
  MPI_Initialized(&mpi_on);
  if (mpi_on) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
#endif
  if (st == FL_OK && rank == 0) {
    char *pnames[FL_SWEEP_MAX_PARAMS];
    static char grid[] = "grid", lhs[] = "latin_hypercube", sobol[] = "sobol";
    char *design[1] = {opt->design == FL_DESIGN_GRID ? grid : opt->design == FL_DESIGN_LHS ? lhs
                                                                                           : sobol};
    for (size_t k = 0; k < K; k++) pnames[k] = (char *)opt->params[k].path;
    const fl_h5_names names[4] = {{"parameters", pnames, K},
                                  {"arm_names", arm_names, n_arms},
                                  {"levels", level_names, L},
                                  {"design", design, 1}};
    char seed[32], reps[32], stamp[32];
    time_t now = time(NULL);
    struct tm tmv;
    gmtime_r(&now, &tmv);
    strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)opt->run.seed);
    snprintf(reps, sizeof reps, "%zu", opt->expect ? (size_t)0 : opt->run.replications);
    const char *const attrs[][2] = {{"mode", "sweep"},
                                    {"point_mode", opt->expect ? "expectation" : "monte_carlo"},
                                    {"scenario_name", scenario_name ? scenario_name : ""},
                                    {"scenario_path", scenario},
                                    {"scenario_overrides", fixed ? fixed : ""},
                                    {"seed", seed},
                                    {"replications", reps},
                                    {"created_utc", stamp},
                                    {"git_commit", opt->git_commit ? opt->git_commit : "unknown"},
                                    {"command_line", opt->command_line ? opt->command_line : ""}};
    st = fl_h5_write_simple(out, ds, nd, names, 4, attrs, sizeof attrs / sizeof *attrs, err);
  }
  for (size_t i = 0; i < n_aux; i++) free(snames[i]);
  for (size_t i = 0; sens_names && i < n_sens; i++) free(sens_names[i]);
  free(sens_names);
  free(snames);
out:
  free(ds);
  free(sens);
  table_free(&t);
  for (size_t a = 0; a < FL_MAX_ARMS; a++) free(arm_names[a]);
  for (size_t l = 0; level_names && l < L; l++) free(level_names[l]);
  free(level_names);
  free(buf);
  free(wtp);
  free(scenario_name);
  free(fixed);
  free(assign);
  free(sets);
  free(values);
  return st;
}
