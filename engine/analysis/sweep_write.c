/* The sweep's file: per-point datasets (one dimension per parameter on a grid, labelled by
 * dimension scales; a point dimension otherwise), the sensitivity of every scalar result to
 * every parameter with its Monte Carlo error (main-effect ranges and two-way tables on a grid,
 * partial rank correlations on sampled designs, Sobol indices on Saltelli's design), and the
 * provenance. */
#include "analysis/sweep_internal.h"

#include "analysis/sensitivity.h"
#include "core/rng.h"
#include "output/output.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A list of datasets with the names and buffers they own. */
typedef struct dlist {
  fl_h5_dataset *ds;
  size_t n, cap;
  char **names;
  double **bufs;
  size_t n_names, n_bufs;
} dlist;

/* Adds the dataset named by fmt (the name is the list's; doc and data are borrowed, dims
 * copied) and returns it, to be completed until the next addition moves it. NULL on no
 * memory. */
static fl_h5_dataset *dl_add(dlist *d, const char *doc, int rank, const size_t *dims,
                             const double *data, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static fl_h5_dataset *dl_add(dlist *d, const char *doc, int rank, const size_t *dims,
                             const double *data, const char *fmt, ...) {
  if (d->n == d->cap) {
    size_t cap = d->cap ? 2 * d->cap : 64;
    fl_h5_dataset *ds = realloc(d->ds, cap * sizeof *ds);
    char **names = realloc(d->names, cap * sizeof *names);
    if (ds) d->ds = ds;
    if (names) d->names = names;
    if (!ds || !names) return NULL;
    d->cap = cap;
  }
  va_list ap;
  va_start(ap, fmt);
  int len = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *name = malloc((size_t)len + 1);
  if (!name) return NULL;
  va_start(ap, fmt);
  vsnprintf(name, (size_t)len + 1, fmt, ap);
  va_end(ap);
  d->names[d->n_names++] = name;
  fl_h5_dataset *x = &d->ds[d->n++];
  memset(x, 0, sizeof *x);
  x->name = name;
  x->doc = doc;
  x->rank = rank;
  for (int i = 0; i < rank; i++) x->dims[i] = dims[i];
  x->data = data;
  return x;
}

/* A zeroed buffer of n doubles, freed with the list; NULL on no memory. */
static double *dl_buf(dlist *d, size_t n) {
  double **bufs = realloc(d->bufs, (d->n_bufs + 1) * sizeof *bufs);
  if (!bufs) return NULL;
  d->bufs = bufs;
  return d->bufs[d->n_bufs++] = calloc(n ? n : 1, sizeof(double));
}

static void dl_free(dlist *d) {
  for (size_t i = 0; i < d->n_names; i++) free(d->names[i]);
  for (size_t i = 0; i < d->n_bufs; i++) free(d->bufs[i]);
  free(d->names);
  free(d->bufs);
  free(d->ds);
}

static const char doc_range[] =
    "For each parameter, the range (max - min) over its grid values of the result averaged "
    "over the other parameters: the tornado bar. Exactly 0 when the parameter does not change "
    "the result.";
static const char doc_range_mcse[] =
    "Monte Carlo standard error of main_effect_range: sd over replications of the paired "
    "difference between the averages at the highest and the lowest value, over sqrt(R) (0 in "
    "expectation mode; NaN with one replication or when the sweep was too large to keep the "
    "per-replication sums).";
static const char doc_prcc[] =
    "For each parameter, the partial rank correlation of the result with it (NaN where there "
    "are too few points or the parameter is constant).";
static const char doc_prcc_mcse[] =
    "Monte Carlo standard error of prcc from the finite replications: the sd of the PRCC over "
    "200 bootstrap resamples of the replications (the same resample at every point). 0 in "
    "expectation mode; NaN with one replication or when the sweep was too large to keep the "
    "resamples.";
static const char doc_prcc_se[] =
    "Standard error of prcc from the finite number of points, (1 - prcc^2) / sqrt(points - "
    "parameters - 2) (Fisher's z, to first order); NaN with too few points.";
static const char doc_two_way[] =
    "The result averaged over the other parameters at each pair of values of two parameters "
    "(the numbers in the name index /parameters; rows: the first).";

/* The spread (standard deviation) of a statistic of K values over resamples, NaN resamples
 * left out (Welford). */
typedef struct spread {
  double mean[FL_SWEEP_MAX_PARAMS], ss[FL_SWEEP_MAX_PARAMS];
  size_t n[FL_SWEEP_MAX_PARAMS];
} spread;

static void spread_add(spread *sp, const double *x, size_t K) {
  for (size_t k = 0; k < K; k++) {
    if (isnan(x[k])) continue;
    const double delta = x[k] - sp->mean[k];
    sp->mean[k] += delta / (double)++sp->n[k];
    sp->ss[k] += delta * (x[k] - sp->mean[k]);
  }
}

static void spread_sd(const spread *sp, size_t K, double *out) {
  for (size_t k = 0; k < K; k++)
    out[k] = sp->n[k] > 1 ? sqrt(sp->ss[k] / (double)(sp->n[k] - 1)) : NAN;
}

static const char doc_first[] =
    "For each parameter, the first-order variance-based (Sobol) index: the share of the "
    "result's variance over the parameter space that the parameter explains alone (Saltelli "
    "et al. 2010); exactly 0 for a parameter without effect.";
static const char doc_total[] =
    "For each parameter, the total-order Sobol index: the share of the variance that involves "
    "the parameter, alone or with others (Jansen 1999); exactly 0 for a parameter without "
    "effect.";
static const char doc_sobol_mcse[] =
    "Monte Carlo standard error of the index beside it from the finite replications: its sd "
    "over 200 bootstrap resamples of the replications (the same at every point).";
static const char doc_sobol_se[] =
    "Standard error of the index beside it from the finite number of base rows: its sd over "
    "200 bootstrap resamples of the rows.";

/* The MCSE of a main-effect range: the range is the mean over replications of d_r, the
 * difference between replication r's averages at the highest and at the lowest value
 * (paired by the common random numbers); its standard error is sd(d) / sqrt(R). The choice
 * of the two values is taken as given. */
static double main_effect_mcse(const fl_sweep_state *w, size_t j, size_t k, size_t i_hi,
                               size_t i_lo) {
  if (w->opt->expect) return 0.0; /* no Monte Carlo */
  if (w->Rv < 2 || !w->lvl) return NAN;
  const size_t Rv = w->Rv, per_value = w->P / w->opt->params[k].levels;
  const double *h = w->lvl + (j * w->n_lv + w->lv_off[k] + i_hi) * Rv;
  const double *l = w->lvl + (j * w->n_lv + w->lv_off[k] + i_lo) * Rv;
  double mean = 0, m2 = 0;
  for (size_t r = 0; r < Rv; r++) { /* Welford */
    const double d = (h[r] - l[r]) / (double)per_value, delta = d - mean;
    mean += delta / (double)(r + 1);
    m2 += delta * (d - mean);
  }
  return sqrt(m2 / (double)(Rv - 1) / (double)Rv);
}

/* The file being put together: its datasets, and what the per-point and the sensitivity
 * datasets share. */
typedef struct writer {
  const fl_sweep_state *w;
  dlist d;
  int grid;
  /* Per-point datasets have one dimension per parameter on a grid, one point dimension
   * otherwise; a trailing one for vector results. */
  int prank;
  size_t pdims[FL_MAX_RANK];
  size_t levels[FL_SWEEP_MAX_PARAMS]; /* each parameter's number of grid values */
  size_t axis[FL_SWEEP_MAX_PARAMS];   /* grid: 1 + index of each parameter's scale dataset */
} writer;

/* An empty file for w's datasets (fl_sweep checked that a grid's dimensions fit FL_MAX_RANK). */
static void writer_init(writer *o, const fl_sweep_state *w) {
  const fl_sweep_options *opt = w->opt;
  memset(o, 0, sizeof *o);
  o->w = w;
  o->grid = opt->design == FL_DESIGN_GRID;
  for (size_t k = 0; k < w->K; k++) o->levels[k] = opt->params[k].levels;
  o->prank = o->grid ? (int)w->K : 1;
  if (o->grid) memcpy(o->pdims, o->levels, w->K * sizeof *o->levels);
  else o->pdims[0] = w->P;
}

/* Adds the design: the parameter values at each point and the values of a QALY; on a grid,
 * each parameter's values as the dimension scale of its dimension (setting o->axis) and the
 * grid's shape. FL_ENOMEM on no memory. */
static fl_status add_design(writer *o, fl_error *err) {
  const fl_sweep_state *w = o->w;
  const fl_sweep_options *opt = w->opt;
  const size_t K = w->K, dims_pk[2] = {w->P, K}, dims_k[1] = {K};
  if (!dl_add(&o->d,
              "Parameter values at each point [point, parameter]; on a grid, the points "
              "in C order (the last parameter varies fastest).",
              2, dims_pk, w->values, "values"))
    return fl_sweep_oom(err);
  if (w->lay.W) {
    const size_t dw[1] = {w->lay.W};
    if (!dl_add(&o->d, "Values of a QALY: the last dimension of net_monetary_benefit.", 1, dw,
                w->lay.wtp, "willingness_to_pay"))
      return fl_sweep_oom(err);
  }
  if (!o->grid) return FL_OK;
  double *shape = dl_buf(&o->d, K);
  if (!shape) return fl_sweep_oom(err);
  for (size_t k = 0; k < K; k++) {
    const size_t n = opt->params[k].levels, dn[1] = {n};
    double *v = dl_buf(&o->d, n);
    if (!v) return fl_sweep_oom(err);
    shape[k] = (double)n;
    size_t stride = 1;
    for (size_t j = k + 1; j < K; j++) stride *= opt->params[j].levels;
    for (size_t i = 0; i < n; i++) v[i] = w->values[i * stride * K + k];
    fl_h5_dataset *x = dl_add(&o->d,
                              "The values of one parameter along its dimension of the "
                              "per-point datasets (an HDF5 dimension scale named by the "
                              "parameter's key path).",
                              1, dn, v, "axes/%zu", k);
    if (!x) return fl_sweep_oom(err);
    x->scale = opt->params[k].path;
    o->axis[k] = o->d.n;
  }
  if (!dl_add(&o->d, "Points along each parameter: the shape of the per-point datasets.", 1, dims_k,
              shape, "grid_shape"))
    return fl_sweep_oom(err);
  return FL_OK;
}

/* Adds every series' means and MCSEs at each point, on a grid labelled by the axes (after
 * add_design). FL_ENOMEM on no memory. */
static fl_status add_series(writer *o, fl_error *err) {
  const fl_sweep_state *w = o->w;
  for (size_t i = 0; i < w->t.n; i++) {
    const fl_sweep_series *s = &w->t.s[i];
    size_t dims[FL_MAX_RANK];
    int rank = o->prank;
    memcpy(dims, o->pdims, sizeof dims);
    for (int td = 0; td < s->trank; td++) dims[rank++] = s->tdims[td];
    for (int v = 0; v < 2; v++) {
      const double *data = v ? s->mcse : s->mean;
      if (!data) continue;
      fl_h5_dataset *x = v ? dl_add(&o->d, "Monte Carlo standard error of the mean beside it.",
                                    rank, dims, data, "%s_mcse", s->name)
                           : dl_add(&o->d, s->doc, rank, dims, data, "%s", s->name);
      if (!x) return fl_sweep_oom(err);
      for (size_t k = 0; o->grid && k < w->K; k++) x->attach[k] = o->axis[k];
    }
  }
  return FL_OK;
}

/* Adds the grid's measures of sensitivity series s (the j-th): each parameter's main-effect
 * range with its MCSE, and the two-way table of every pair of parameters. FL_ENOMEM on no
 * memory. */
static fl_status add_main_effects(writer *o, const fl_sweep_series *s, size_t j, fl_error *err) {
  const fl_sweep_state *w = o->w;
  const size_t K = w->K, dims_k[1] = {K};
  double *range = dl_buf(&o->d, K), *range_mcse = dl_buf(&o->d, K);
  if (!range || !range_mcse) return fl_sweep_oom(err);
  for (size_t k = 0; k < K; k++) {
    size_t hi, lo;
    range[k] = fl_main_effect_range(o->levels, K, s->mean, k, &hi, &lo);
    range_mcse[k] = main_effect_mcse(w, j, k, hi, lo);
  }
  if (!dl_add(&o->d, doc_range, 1, dims_k, range, "sensitivity/%s/main_effect_range", s->name) ||
      !dl_add(&o->d, doc_range_mcse, 1, dims_k, range_mcse, "sensitivity/%s/main_effect_range_mcse",
              s->name))
    return fl_sweep_oom(err);
  for (size_t a = 0; a < K; a++)
    for (size_t b = a + 1; b < K; b++) {
      const size_t dab[2] = {o->levels[a], o->levels[b]};
      double *tw = dl_buf(&o->d, dab[0] * dab[1]);
      if (!tw) return fl_sweep_oom(err);
      fl_two_way(o->levels, K, s->mean, a, b, tw);
      fl_h5_dataset *x =
          dl_add(&o->d, doc_two_way, 2, dab, tw, "sensitivity/%s/two_way_%zu_%zu", s->name, a, b);
      if (!x) return fl_sweep_oom(err);
      x->attach[0] = o->axis[a];
      x->attach[1] = o->axis[b];
    }
  return FL_OK;
}

/* Adds the Sobol indices of sensitivity series s (the j-th) from Saltelli's design: first-order
 * and total, each with its MCSE (the spread over the replications' bootstrap resamples) and
 * its standard error from the base rows (the spread over resamples of the rows, drawn into
 * rows[N]). FL_ENOMEM on no memory. */
static fl_status add_sobol_indices(writer *o, const fl_sweep_series *s, size_t j, uint32_t *rows,
                                   fl_error *err) {
  const fl_sweep_state *w = o->w;
  const fl_sweep_options *opt = w->opt;
  const size_t P = w->P, K = w->K, N = P / (K + 2), dims_k[1] = {K};
  double *f = dl_buf(&o->d, K), *t = dl_buf(&o->d, K), *buf = dl_buf(&o->d, 4 * K),
         r1[FL_SWEEP_MAX_PARAMS], r2[FL_SWEEP_MAX_PARAMS];
  if (!f || !t || !buf) return fl_sweep_oom(err);
  double *f_mc = buf, *t_mc = buf + K, *f_se = buf + 2 * K, *t_se = buf + 3 * K;
  fl_sobol_indices(s->mean, N, K, NULL, f, t);
  spread sf = {.n = {0}}, stt = {.n = {0}};
  for (size_t b = 0; b < w->B; b++) { /* the replications resampled */
    fl_sobol_indices(w->boot + (j * w->B + b) * P, N, K, NULL, r1, r2);
    spread_add(&sf, r1, K);
    spread_add(&stt, r2, K);
  }
  spread_sd(&sf, K, f_mc);
  spread_sd(&stt, K, t_mc);
  if (opt->expect) /* no Monte Carlo; one replication has no estimate (NaN) */
    for (size_t k = 0; k < K; k++) f_mc[k] = t_mc[k] = 0.0;
  /* The base rows resampled, from the sweep's own stream keyed by the seed. */
  fl_rng r;
  fl_rng_seed(&r, fl_mix64(opt->run.seed ^ 0x524f57534241534bULL), 0x524f5753ULL);
  spread pf = {.n = {0}}, pt = {.n = {0}};
  for (size_t b = 0; b < FL_SWEEP_BOOTSTRAPS; b++) {
    for (size_t row = 0; row < N; row++) rows[row] = fl_rng_bounded(&r, (uint32_t)N);
    fl_sobol_indices(s->mean, N, K, rows, r1, r2);
    spread_add(&pf, r1, K);
    spread_add(&pt, r2, K);
  }
  spread_sd(&pf, K, f_se);
  spread_sd(&pt, K, t_se);
  if (!dl_add(&o->d, doc_first, 1, dims_k, f, "sensitivity/%s/sobol_first", s->name) ||
      !dl_add(&o->d, doc_sobol_mcse, 1, dims_k, f_mc, "sensitivity/%s/sobol_first_mcse", s->name) ||
      !dl_add(&o->d, doc_sobol_se, 1, dims_k, f_se, "sensitivity/%s/sobol_first_se_points",
              s->name) ||
      !dl_add(&o->d, doc_total, 1, dims_k, t, "sensitivity/%s/sobol_total", s->name) ||
      !dl_add(&o->d, doc_sobol_mcse, 1, dims_k, t_mc, "sensitivity/%s/sobol_total_mcse", s->name) ||
      !dl_add(&o->d, doc_sobol_se, 1, dims_k, t_se, "sensitivity/%s/sobol_total_se_points",
              s->name))
    return fl_sweep_oom(err);
  return FL_OK;
}

/* Adds the partial rank correlations of sensitivity series s (the j-th) on a sampled design,
 * with their MCSEs (the spread over the replications' bootstrap resamples) and their standard
 * errors from the finite points. plan: the design's, NULL when there are too few points (every
 * value NaN). FL_ENOMEM on no memory. */
static fl_status add_prcc(writer *o, const fl_sweep_series *s, size_t j, fl_prcc_plan *plan,
                          fl_error *err) {
  const fl_sweep_state *w = o->w;
  const size_t P = w->P, K = w->K, dims_k[1] = {K};
  double *prcc = dl_buf(&o->d, K), *mcse = dl_buf(&o->d, K), *se = dl_buf(&o->d, K);
  if (!prcc || !mcse || !se) return fl_sweep_oom(err);
  for (size_t k = 0; k < K; k++) prcc[k] = mcse[k] = se[k] = NAN;
  if (plan) {
    fl_prcc_eval(plan, s->mean, 1, prcc);
    for (size_t k = 0; k < K; k++) {
      se[k] = P > K + 2 ? (1 - prcc[k] * prcc[k]) / sqrt((double)(P - K - 2)) : NAN;
      mcse[k] = w->opt->expect ? 0.0 : NAN;
    }
    if (w->B) { /* sd of the PRCCs over the replications' bootstrap resamples */
      double r[FL_SWEEP_MAX_PARAMS];
      spread sp = {.n = {0}};
      for (size_t b = 0; b < w->B; b++) {
        fl_prcc_eval(plan, w->boot + (j * w->B + b) * P, 1, r);
        spread_add(&sp, r, K);
      }
      spread_sd(&sp, K, mcse);
    }
  }
  if (!dl_add(&o->d, doc_prcc, 1, dims_k, prcc, "sensitivity/%s/prcc", s->name) ||
      !dl_add(&o->d, doc_prcc_mcse, 1, dims_k, mcse, "sensitivity/%s/prcc_mcse", s->name) ||
      !dl_add(&o->d, doc_prcc_se, 1, dims_k, se, "sensitivity/%s/prcc_se_points", s->name))
    return fl_sweep_oom(err);
  return FL_OK;
}

/* Adds the sensitivity of every scalar result to every parameter, as the design allows: main
 * effects on a grid, Sobol indices on Saltelli's design, partial rank correlations on the
 * others. FL_ENOMEM on no memory, or fl_prcc_plan_init's error. */
static fl_status add_sensitivities(writer *o, fl_error *err) {
  const fl_sweep_state *w = o->w;
  const size_t P = w->P, K = w->K;
  const int saltelli = w->opt->design == FL_DESIGN_SALTELLI;
  fl_status st = FL_OK;
  fl_prcc_plan plan;
  int have_plan = 0;
  uint32_t *rows = NULL; /* bootstrap resamples of a Saltelli design's base rows */
  if (!o->grid && !saltelli && P > K + 1) {
    if ((st = fl_prcc_plan_init(&plan, w->values, P, K, err)) != FL_OK) return st;
    have_plan = 1;
  }
  if (saltelli && !(rows = malloc(P / (K + 2) * sizeof *rows))) st = fl_sweep_oom(err);
  for (size_t i = 0, j = 0; st == FL_OK && i < w->t.n; i++) {
    const fl_sweep_series *s = &w->t.s[i];
    if (!s->sensitivity) continue;
    if (o->grid) st = add_main_effects(o, s, j, err);
    else if (saltelli) st = add_sobol_indices(o, s, j, rows, err);
    else st = add_prcc(o, s, j, have_plan ? &plan : NULL, err);
    j++;
  }
  free(rows);
  if (have_plan) fl_prcc_plan_free(&plan);
  return st;
}

/* Writes the datasets to out with the names (parameters, arms, levels, budget holders, the
 * design) and the provenance: the scenario's name and path, the --set options fixed at every
 * point, the seed, the replications (0 in expectation mode), the time, the commit and the
 * command line. */
static fl_status write_file(const writer *o, const char *scenario, const char *out, fl_error *err) {
  const fl_sweep_state *w = o->w;
  const fl_sweep_options *opt = w->opt;
  size_t flen = 1;
  for (size_t i = 0; i < opt->n_sets; i++) flen += strlen(opt->sets[i]) + 1;
  char *fixed = calloc(flen, 1);
  if (!fixed) return fl_sweep_oom(err);
  for (size_t i = 0; i < opt->n_sets; i++) strcat(strcat(fixed, opt->sets[i]), "\n");
  char *pnames[FL_SWEEP_MAX_PARAMS];
  static char grid_s[] = "grid", lhs[] = "latin_hypercube", sobol[] = "sobol",
              saltelli_s[] = "saltelli";
  char *design[1] = {o->grid                          ? grid_s
                     : opt->design == FL_DESIGN_LHS   ? lhs
                     : opt->design == FL_DESIGN_SOBOL ? sobol
                                                      : saltelli_s};
  for (size_t k = 0; k < w->K; k++) pnames[k] = (char *)opt->params[k].path;
  const fl_h5_names names[5] = {{"parameters", pnames, w->K},
                                {"arm_names", w->lay.arm_names, w->lay.n_arms},
                                {"levels", w->lay.level_names, w->lay.L},
                                {"budget_holders", w->lay.holder_names, w->lay.B},
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
                                  {"scenario_name", w->lay.scenario_name},
                                  {"scenario_path", scenario},
                                  {"scenario_overrides", fixed},
                                  {"seed", seed},
                                  {"replications", reps},
                                  {"created_utc", stamp},
                                  {"git_commit", opt->git_commit ? opt->git_commit : "unknown"},
                                  {"command_line", opt->command_line ? opt->command_line : ""}};
  fl_status st =
      fl_h5_write_simple(out, o->d.ds, o->d.n, names, 5, attrs, sizeof attrs / sizeof *attrs, err);
  free(fixed);
  return st;
}

fl_status fl_sweep_write(const fl_sweep_state *w, const char *scenario, const char *out,
                         fl_error *err) {
  writer o;
  writer_init(&o, w);
  fl_status st = add_design(&o, err);
  if (st == FL_OK) st = add_series(&o, err);
  if (st == FL_OK) st = add_sensitivities(&o, err);
  if (st == FL_OK) st = write_file(&o, scenario, out, err);
  dl_free(&o.d);
  return st;
}
