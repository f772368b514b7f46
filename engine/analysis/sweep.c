/* flourish sweep. Every point is the scenario with --set assignments for the swept parameters,
 * compiled and run like `flourish run` with the same seed, so that a point is exactly the run
 * a user would get with those --set options, and differences between points come from the
 * parameters rather than from chance (common random numbers). Per point, each arm's and each
 * comparison's headline results are reduced to means and Monte Carlo standard errors; across
 * points, the sensitivity of each result to each parameter: main-effect ranges on a grid
 * (the tornado), partial rank correlations on sampled designs. */
#include "analysis/sweep.h"

#include "sim/checkpoint.h"
#include "output/output.h"
#include "core/rng.h"
#include "scenario/scenario.h"
#include "analysis/sensitivity.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

static fl_status oom(fl_error *err) {
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  return FL_ENOMEM;
}

/* ---- Per-point results ------------------------------------------------------------------ */

/* One result across points: means [P * width]; Monte Carlo standard errors likewise. */
typedef struct series {
  char *name;
  const char *doc;
  size_t width;    /* 1, or the product of tdims for vector results */
  int trank;       /* 0 (a scalar), 1 or 2: the trailing dimensions of a vector result */
  size_t tdims[2];
  double *mean, *mcse;
  int sensitivity; /* a scalar result: it gets sensitivity measures */
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
  s->trank = width > 1;
  s->tdims[0] = width;
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
 * summary computes them (so a sweep point's mean equals that run's summary mean bit for bit).
 * v is reordered. */
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

/* The layout every point shares, fixed by the first point's compiled model. */
typedef struct layout {
  size_t n_arms, L, W, B, T;
  char **holder_names;
  char *arm_names[FL_MAX_ARMS];
  char **level_names;
  double *wtp;
  char *scenario_name;
} layout;

/* The state of a sweep between points. A point's record (what the checkpoint stores) is, for
 * every series in order, its means [width] then its MCSEs [width] when it has them; then, for
 * every sensitivity series in order, its per-replication values [Rv]. Every point goes
 * through apply_record in point order, whether it was just run or read back from a
 * checkpoint, so a resumed sweep adds up the same numbers in the same order. */
typedef struct sweep {
  const fl_sweep_options *opt;
  size_t P, K, Rv;   /* points, parameters, values per replication series (1: expectation) */
  int rank;          /* MPI rank (0 without MPI): rank 0 keeps the checkpoint and writes */
  const double *values;
  layout lay;
  table t;
  size_t n_sens, rec_len;
  double *rec;       /* [rec_len] */
  double *rep_buf;   /* [Rv] */
  /* Grid: per sensitivity series j, parameter k and value i, per replication r, the sum over
   * the points at that value: lvl[(j * n_lv + lv_off[k] + i) * Rv + r]. */
  size_t n_lv, lv_off[FL_SWEEP_MAX_PARAMS];
  double *lvl;
  /* Sampled designs: bootstrap resamples of the replications (the same resample at every
   * point, which keeps the common random numbers paired): the count of each replication in
   * resample b, cnt[b * Rv + r], and each series' resampled mean at each point,
   * boot[(j * B + b) * P + p]. */
  size_t B;
  uint32_t *cnt;
  double *boot;
} sweep;

#define BOOTSTRAPS 200
#define ACCUMULATOR_BYTES ((size_t)1 << 30) /* above this, MCSEs of sensitivities are NaN */

/* Builds the series of the layout. */
static fl_status sweep_series(sweep *w, fl_error *err) {
  const layout *l = &w->lay;
  for (size_t a = 0; a < l->n_arms; a++) {
    const char *name = l->arm_names[a];
    series *traj;
    if (!table_add(&w->t, "arms", name, "cost_discounted",
                   "Discounted cost over the horizon, all budget holders (mean over "
                   "replications) at each point.", 1, 1, 1) ||
        !table_add(&w->t, "arms", name, "qalys_discounted",
                   "Discounted quality-adjusted child-years over the horizon (mean) at each "
                   "point.", 1, 1, 1) ||
        !table_add(&w->t, "arms", name, "children_end",
                   "Children at each level at the end of the run (mean) at each point.",
                   l->L, 1, 0) ||
        !(traj = table_add(&w->t, "arms", name, "children_by_level",
                           "Children at each level at the start of each step (step T: the "
                           "end), mean over replications, at each point.",
                           (l->T + 1) * l->L, 1, 0)))
      return oom(err);
    traj->trank = 2;
    traj->tdims[0] = l->T + 1;
    traj->tdims[1] = l->L;
  }
  for (size_t a = 1; a < l->n_arms; a++) {
    const char *name = l->arm_names[a];
    series *by_holder;
    if (!table_add(&w->t, "comparisons", name, "delta_cost_total",
                   "Discounted net cost of the arm against the baseline (mean) at each "
                   "point.", 1, 1, 1) ||
        !table_add(&w->t, "comparisons", name, "delta_qaly_total",
                   "Discounted quality-adjusted child-years gained against the baseline "
                   "(mean) at each point.", 1, 1, 1) ||
        !table_add(&w->t, "comparisons", name, "net_monetary_benefit",
                   "Net monetary benefit at each willingness to pay (mean) at each point.",
                   l->W ? l->W : 1, 1, 0) ||
        !table_add(&w->t, "comparisons", name, "p_saving",
                   "Share of replications in which the arm costs less than the baseline "
                   "(discounted) at each point; its MCSE is sqrt(p (1 - p) / (R - 1)).",
                   1, 1, 1) ||
        !(by_holder = table_add(&w->t, "comparisons", name, "delta_cost_by_holder",
                                "Discounted cost of the arm minus the baseline's over the "
                                "horizon, by budget holder (where the savings land; mean) at "
                                "each point.", l->B ? l->B : 1, 1, 0)))
      return oom(err);
    by_holder->trank = 1; /* even with one budget holder */
  }
  w->rec_len = 0;
  for (size_t i = 0; i < w->t.n; i++) {
    w->rec_len += w->t.s[i].width * (w->t.s[i].mcse ? 2 : 1);
    w->n_sens += w->t.s[i].sensitivity;
  }
  w->rec_len += w->n_sens * w->Rv;
  if (!(w->rec = calloc(w->rec_len, sizeof *w->rec)) ||
      !(w->rep_buf = malloc(w->Rv * sizeof *w->rep_buf)))
    return oom(err);
  return FL_OK;
}

/* Allocates the accumulators of the sensitivity measures' Monte Carlo errors (none in
 * expectation mode, and none past ACCUMULATOR_BYTES: their MCSEs are then NaN). Only rank 0,
 * which writes the file, takes the points' records in. */
static fl_status sweep_accumulators(sweep *w, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  if (w->rank != 0 || w->Rv < 2 || !w->n_sens) return FL_OK;
  if (opt->design == FL_DESIGN_GRID) {
    for (size_t k = 0; k < w->K; k++) {
      w->lv_off[k] = w->n_lv;
      w->n_lv += opt->params[k].levels;
    }
    if ((double)w->n_sens * (double)w->n_lv * (double)w->Rv * 8.0 <= (double)ACCUMULATOR_BYTES &&
        !(w->lvl = calloc(w->n_sens * w->n_lv * w->Rv, sizeof *w->lvl)))
      return oom(err);
    return FL_OK;
  }
  if (w->P <= w->K + 1) return FL_OK; /* no PRCC */
  w->B = BOOTSTRAPS;
  if ((double)w->n_sens * (double)w->B * (double)w->P * 8.0 +
          (double)w->B * (double)w->Rv * 4.0 >
      (double)ACCUMULATOR_BYTES) {
    w->B = 0;
    return FL_OK;
  }
  w->cnt = calloc(w->B * w->Rv, sizeof *w->cnt);
  w->boot = malloc(w->n_sens * w->B * w->P * sizeof *w->boot);
  if (!w->cnt || !w->boot) return oom(err);
  /* The resamples come from the sweep's own stream, keyed by the seed. */
  fl_rng r;
  fl_rng_seed(&r, fl_mix64(opt->run.seed ^ 0x424f4f5453545250ULL), 0x424f4f54ULL);
  for (size_t b = 0; b < w->B; b++)
    for (size_t i = 0; i < w->Rv; i++) w->cnt[b * w->Rv + fl_rng_bounded(&r, (uint32_t)w->Rv)]++;
  return FL_OK;
}

/* Fills w->rec from one point's results. */
static fl_status make_record(sweep *w, const fl_results *res, const fl_model *m, fl_error *err) {
  const size_t R = w->Rv, L = w->lay.L;
  const double step_years = m->step_months / 12.0;
  double *rec = w->rec, *buf = w->rep_buf;
  double *reps = rec + w->rec_len - w->n_sens * R; /* per-replication values, series by series */
  size_t off = 0, j = 0;
  /* The series are in table order: per arm cost, QALYs, children; per comparison net cost,
   * QALYs gained, NMB, P(saving). */
#define SCALAR(fill)                                                                              \
  do {                                                                                            \
    fill;                                                                                         \
    memcpy(reps + j++ * R, buf, R * sizeof *buf);                                                 \
    mean_mcse(buf, R, &rec[off], &rec[off + 1]);                                                  \
    off += 2;                                                                                     \
  } while (0)
  for (size_t a = 0; a < res->n_arms; a++) {
    const fl_arm_results *g = &res->arms[a];
    const fl_array *costd = fl_group_get(g, FL_OUT_COSTS_DISCOUNTED);
    const fl_array *qold = fl_group_get(g, FL_OUT_QOL_DISCOUNTED);
    const fl_array *lvl = fl_group_get(g, FL_OUT_STOCKS_BY_LEVEL);
    if (!costd || !qold || !lvl) {
      fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL, "sweep: missing results of arm %s",
                   g->name);
      return FL_EINTERNAL;
    }
    SCALAR(rep_totals(costd, R, buf));
    SCALAR(rep_totals(qold, R, buf); for (size_t r = 0; r < R; r++) buf[r] *= step_years);
    /* The trajectory (every step's children at each level, (T + 1) * L cells) after the
     * children at the end, which are its last row. */
    const size_t TL = fl_array_count(lvl) / R, traj = off + 2 * L;
    for (size_t c = 0; c < TL; c++) {
      for (size_t r = 0; r < R; r++) buf[r] = fl_array_get(lvl, r * TL + c);
      mean_mcse(buf, R, &rec[traj + c], &rec[traj + TL + c]);
    }
    memcpy(&rec[off], &rec[traj + TL - L], L * sizeof *rec);
    memcpy(&rec[off + L], &rec[traj + 2 * TL - L], L * sizeof *rec);
    off = traj + 2 * TL;
  }
  for (size_t a = 1; a < res->n_arms; a++) {
    const fl_arm_results *g = &res->comps[a];
    const fl_array *dc = fl_group_get(g, FL_OUT_DELTA_COST_TOTAL);
    const fl_array *dq = fl_group_get(g, FL_OUT_DELTA_QALY_TOTAL);
    const fl_array *nmb = fl_group_get(g, FL_OUT_NET_MONETARY_BENEFIT);
    if (!dc || !dq || !nmb) {
      fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL,
                   "sweep: missing comparison results of arm %s", g->name);
      return FL_EINTERNAL;
    }
    SCALAR(for (size_t r = 0; r < R; r++) buf[r] = fl_array_get(dc, r));
    SCALAR(for (size_t r = 0; r < R; r++) buf[r] = fl_array_get(dq, r));
    const size_t W = w->lay.W ? w->lay.W : 1, have = fl_array_count(nmb) / R;
    for (size_t k = 0; k < W; k++) {
      for (size_t r = 0; r < R; r++) buf[r] = k < have ? fl_array_get(nmb, r * have + k) : 0;
      mean_mcse(buf, R, &rec[off + k], &rec[off + W + k]);
    }
    off += 2 * W;
    SCALAR(for (size_t r = 0; r < R; r++) buf[r] = fl_array_get(dc, r) < 0);
    const fl_array *dcd = fl_group_get(g, FL_OUT_DELTA_COSTS_DISCOUNTED); /* [R, T, B] */
    const size_t B = w->lay.B ? w->lay.B : 1, T = w->lay.T;
    for (size_t b = 0; b < B; b++) {
      for (size_t r = 0; r < R; r++) {
        double sum = 0;
        for (size_t t = 0; dcd && w->lay.B && t < T; t++)
          sum += fl_array_get(dcd, (r * T + t) * w->lay.B + b);
        buf[r] = sum;
      }
      mean_mcse(buf, R, &rec[off + b], &rec[off + B + b]);
    }
    off += 2 * B;
  }
#undef SCALAR
  return FL_OK;
}

/* Takes point p's record into the series and the accumulators. */
static void apply_record(sweep *w, size_t p) {
  const double *rec = w->rec, *reps = rec + w->rec_len - w->n_sens * w->Rv;
  const size_t Rv = w->Rv, P = w->P;
  size_t off = 0, j = 0;
  for (size_t i = 0; i < w->t.n; i++) {
    series *s = &w->t.s[i];
    memcpy(s->mean + p * s->width, rec + off, s->width * sizeof *rec);
    off += s->width;
    if (s->mcse) {
      memcpy(s->mcse + p * s->width, rec + off, s->width * sizeof *rec);
      off += s->width;
    }
    if (!s->sensitivity) continue;
    const double *y = reps + j * Rv;
    if (w->lvl) {
      size_t idx = p;
      for (size_t k = w->K; k-- > 0;) {
        const size_t n = w->opt->params[k].levels, lv = idx % n;
        double *acc = w->lvl + (j * w->n_lv + w->lv_off[k] + lv) * Rv;
        idx /= n;
        for (size_t r = 0; r < Rv; r++) acc[r] += y[r];
      }
    }
    for (size_t b = 0; b < w->B; b++) {
      const uint32_t *c = w->cnt + b * Rv;
      double sum = 0;
      for (size_t r = 0; r < Rv; r++) sum += c[r] * y[r];
      w->boot[(j * w->B + b) * P + p] = sum / (double)Rv;
    }
    j++;
  }
}

/* The MCSE of a main-effect range: the range is the mean over replications of d_r, the
 * difference between replication r's averages at the highest and at the lowest value
 * (paired by the common random numbers); its standard error is sd(d) / sqrt(R). The choice
 * of the two values is taken as given. */
static double main_effect_mcse(const sweep *w, size_t j, size_t k, size_t i_hi, size_t i_lo) {
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

static void sweep_free(sweep *w) {
  table_free(&w->t);
  for (size_t a = 0; a < FL_MAX_ARMS; a++) free(w->lay.arm_names[a]);
  fl_names_free(w->lay.level_names, w->lay.L);
  fl_names_free(w->lay.holder_names, w->lay.B);
  free(w->lay.wtp);
  free(w->lay.scenario_name);
  free(w->rec);
  free(w->rep_buf);
  free(w->lvl);
  free(w->cnt);
  free(w->boot);
}

static fl_status take_layout(layout *l, const fl_model *m, fl_error *err) {
  l->n_arms = m->n_arms;
  l->L = m->L;
  l->W = m->n_wtp;
  l->B = m->B;
  l->T = m->T;
  if (!(l->holder_names = fl_names_dup(m->holder_names, l->B)) ||
      !(l->level_names = fl_names_dup(m->level_names, l->L)) ||
      !(l->scenario_name = fl_strdup(m->name)) ||
      !(l->wtp = malloc((l->W ? l->W : 1) * sizeof *l->wtp)))
    return oom(err);
  if (l->W) memcpy(l->wtp, m->wtp, l->W * sizeof *l->wtp);
  for (size_t a = 0; a < l->n_arms; a++)
    if (!(l->arm_names[a] = fl_strdup(m->arms[a].name))) return oom(err);
  return FL_OK;
}

/* The checkpoint's key: everything that decides what the points' records hold. */
static uint64_t sweep_key(const sweep *w, const fl_model *m) {
  const fl_sweep_options *opt = w->opt;
  const uint64_t ids[6] = {opt->run.seed, opt->run.replications, (uint64_t)opt->expect,
                           (uint64_t)opt->design, w->P, w->rec_len};
  uint64_t h = fl_fnv1a(FL_FNV_BASIS, ids, sizeof ids);
  h = fl_fnv1a(h, FL_VERSION_STRING, strlen(FL_VERSION_STRING));
  h = fl_fnv1a(h, m->scenario_text, strlen(m->scenario_text));
  for (size_t i = 0; i < opt->n_sets; i++) h = fl_fnv1a(h, opt->sets[i], strlen(opt->sets[i]) + 1);
  for (size_t k = 0; k < w->K; k++)
    h = fl_fnv1a(h, opt->params[k].path, strlen(opt->params[k].path) + 1);
  return fl_fnv1a(h, w->values, w->P * w->K * sizeof *w->values);
}

/* Compiles the scenario at point p (its assignments in sets[n_sets ...]). */
static fl_status point_model(const char *scenario, const sweep *w, size_t p, const char **sets,
                             char *assign, const size_t *slot, fl_model **m, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  for (size_t k = 0; k < w->K; k++) {
    /* "%.17g" is at most 24 characters: the slot always holds the whole assignment. */
    snprintf(assign + slot[k], slot[k + 1] - slot[k], "%s=%.17g", opt->params[k].path,
             w->values[p * w->K + k]);
    sets[opt->n_sets + k] = assign + slot[k];
  }
  fl_scenario *sc = NULL;
  fl_status st = fl_scenario_load_with(scenario, sets, opt->n_sets + w->K, &sc, err);
  if (st == FL_OK && (st = fl_model_compile(sc, m, err)) != FL_OK) fl_scenario_blame(sc, err);
  fl_scenario_free(sc);
  return st;
}

static int mpi_rank(void) {
  int rank = 0;
#ifdef FLOURISH_MPI
  int on = 0;
  MPI_Initialized(&on);
  if (on) MPI_Comm_rank(MPI_COMM_WORLD, &rank);
#endif
  return rank;
}

/* Under MPI only rank 0 opens, reads and writes the checkpoint: its status (on opening and
 * after each point) goes to every rank, so that a failure there stops them all rather than
 * leaving them waiting in the next point's run. */
static fl_status share_status(fl_status st, const char *path, fl_error *err) {
#ifdef FLOURISH_MPI
  int on = 0;
  MPI_Initialized(&on);
  if (on) {
    int code = (int)st;
    MPI_Bcast(&code, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (code != FL_OK && st == FL_OK)
      fl_error_set(err, (fl_status)code, path, 0, 0, NULL, "rank 0 could not use the checkpoint");
    return (fl_status)code;
  }
#else
  (void)path;
  (void)err;
#endif
  return st;
}

/* Opens the sweep's checkpoint (rank 0 alone writes it: every rank holds every point's
 * results) and tells every rank which points it holds. */
static fl_status open_checkpoint(sweep *w, const fl_model *m0, unsigned char *done,
                                 fl_recfile **ck, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  fl_status st = FL_OK;
  if (w->rank == 0)
    st = fl_recfile_open(opt->checkpoint, "FLSWEEP1", sweep_key(w, m0), w->P,
                         w->rec_len * sizeof(double),
                         opt->resume ? FL_RECFILE_RESUME : FL_RECFILE_CREATE,
                         "--resume: the checkpoint was made by a different sweep (scenario, "
                         "parameters, design, seed, replications or Flourish version differ); "
                         "run without --resume to start again",
                         "FLOURISH_CRASH_AFTER_POINTS", done, ck, err);
  st = share_status(st, opt->checkpoint, err);
#ifdef FLOURISH_MPI
  int on = 0;
  MPI_Initialized(&on);
  if (on && st == FL_OK) MPI_Bcast(done, (int)w->P, MPI_UNSIGNED_CHAR, 0, MPI_COMM_WORLD);
#endif
  return st;
}

static fl_status write_sweep(sweep *w, const char *scenario, const char *out, fl_error *err);

fl_status fl_sweep(const char *scenario, const fl_sweep_options *opt, const char *out,
                   fl_error *err) {
  const size_t K = opt->n_params;
  sweep w = {.opt = opt, .K = K, .Rv = opt->expect ? 1 : opt->run.replications,
             .rank = mpi_rank()};
  double *values = NULL;
  if (opt->design == FL_DESIGN_GRID && K + 2 > FL_MAX_RANK) { /* + a result's 2 dimensions */
    fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                 "a grid gives each parameter a dimension of the output and takes at most %d "
                 "parameters, found %zu; use --design lhs or sobol",
                 FL_MAX_RANK - 2, K);
    return FL_EUSAGE;
  }
  w.P = fl_sweep_design(opt, &values, err);
  if (!w.P) return err->code;
  w.values = values;
  w.t.P = w.P;

  const char **sets = malloc((opt->n_sets + K) * sizeof *sets);
  size_t slot[FL_SWEEP_MAX_PARAMS + 1] = {0}; /* offsets of each parameter's assignment */
  for (size_t k = 0; k < K; k++) slot[k + 1] = slot[k] + strlen(opt->params[k].path) + 32;
  char *assign = malloc(slot[K] ? slot[K] : 1);
  unsigned char *done = calloc(w.P, 1);
  fl_recfile *ck = NULL;
  fl_model *m = NULL;
  fl_status st = FL_OK;
  size_t p = 0;
  if (!sets || !assign || !done) {
    st = oom(err);
    goto out;
  }
  for (size_t i = 0; i < opt->n_sets; i++) sets[i] = opt->sets[i];

  /* The first point's model fixes the layout: arms, levels, values of a QALY. */
  if ((st = point_model(scenario, &w, 0, sets, assign, slot, &m, err)) != FL_OK ||
      (st = take_layout(&w.lay, m, err)) != FL_OK || (st = sweep_series(&w, err)) != FL_OK ||
      (st = sweep_accumulators(&w, err)) != FL_OK)
    goto point_failed;
  if (opt->checkpoint && (st = open_checkpoint(&w, m, done, &ck, err)) != FL_OK) goto out;

  for (p = 0; p < w.P; p++) {
    if (done[p]) {
      if (w.rank == 0) {
        if (fl_recfile_read(ck, p, w.rec) != FL_OK) {
          fl_error_set(err, FL_EIO, opt->checkpoint, 0, 0, NULL, "cannot read the checkpoint");
          st = FL_EIO;
        } else {
          apply_record(&w, p);
        }
      }
      if ((st = share_status(st, opt->checkpoint, err)) != FL_OK) goto out;
    } else {
      fl_results *res = NULL;
      if (!m) st = point_model(scenario, &w, p, sets, assign, slot, &m, err);
      if (st == FL_OK && (m->n_arms != w.lay.n_arms || m->L != w.lay.L || m->n_wtp != w.lay.W ||
                          m->B != w.lay.B || m->T != w.lay.T)) {
        fl_error_set(err, FL_EINPUT, NULL, 0, 0, NULL,
                     "sweep: the arms, levels, budget holders, horizon or values of a QALY "
                     "changed between points");
        st = FL_EINPUT;
      }
      if (st == FL_OK)
        st = opt->expect ? fl_expect(m, &res, err) : fl_run(m, &opt->run, &res, err);
      if (st == FL_OK) st = make_record(&w, res, m, err);
      fl_results_free(res);
      if (st != FL_OK) goto point_failed;
      if (w.rank == 0) apply_record(&w, p);
      if (ck && (st = fl_recfile_write(ck, p, w.rec)) != FL_OK)
        fl_error_set(err, st, opt->checkpoint, 0, 0, NULL, "cannot write the checkpoint");
      if (opt->checkpoint && (st = share_status(st, opt->checkpoint, err)) != FL_OK) goto out;
    }
    fl_model_free(m);
    m = NULL;
    if (opt->progress) opt->progress(opt->progress_ctx, p + 1, w.P);
  }
  if (ck && (st = fl_recfile_finish(ck)) != FL_OK)
    fl_error_set(err, st, opt->checkpoint, 0, 0, NULL, "cannot write the checkpoint");
  if (opt->checkpoint && (st = share_status(st, opt->checkpoint, err)) != FL_OK) goto out;
  if (w.rank == 0) st = write_sweep(&w, scenario, out, err);
  if (st == FL_OK && ck) unlink(opt->checkpoint); /* the output now holds everything */
  goto out;

point_failed: {
  /* Say which point failed: its assignments. */
  char where[sizeof err->message + 400];
  snprintf(where, sizeof where, "at sweep point %zu (%.300s%s): %s", p, sets[opt->n_sets],
           K > 1 ? ", ..." : "", err->message);
  where[sizeof err->message - 1] = '\0';
  memcpy(err->message, where, sizeof err->message);
}
out:
  fl_model_free(m);
  fl_recfile_close(ck);
  sweep_free(&w);
  free(done);
  free(assign);
  free(sets);
  free(values);
  return st;
}

/* ---- Output ----------------------------------------------------------------------------- */

/* A list of datasets with the names and buffers they own. */
typedef struct dlist {
  fl_h5_dataset *ds;
  size_t n, cap;
  char **names;
  double **bufs;
  size_t n_names, n_bufs;
} dlist;

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

/* A buffer freed with the list. */
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

static fl_status write_sweep(sweep *w, const char *scenario, const char *out, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  const size_t P = w->P, K = w->K;
  const int grid = opt->design == FL_DESIGN_GRID;
  dlist d = {0};
  fl_status st = FL_OK;
  char *fixed = NULL;
  fl_prcc_plan plan;
  int have_plan = 0;
  uint32_t *rows = NULL; /* bootstrap resamples of a Saltelli design's base rows */
  /* Per-point datasets have one dimension per parameter on a grid, one point dimension
   * otherwise; a trailing one for vector results. */
  size_t pdims[FL_MAX_RANK];
  int prank = grid ? (int)K : 1;
  if (grid)
    for (size_t k = 0; k < K; k++) pdims[k] = opt->params[k].levels;
  else
    pdims[0] = P;
  size_t axis[FL_SWEEP_MAX_PARAMS]; /* 1 + index of each parameter's scale dataset */
  size_t levels[FL_SWEEP_MAX_PARAMS];
  for (size_t k = 0; k < K; k++) levels[k] = opt->params[k].levels;
  const size_t dims_pk[2] = {P, K}, dims_k[1] = {K};

#define ADD(...)                                                                                  \
  do {                                                                                            \
    if (!dl_add(&d, __VA_ARGS__)) goto nomem;                                                     \
  } while (0)
  ADD("Parameter values at each point [point, parameter]; on a grid, the points in C order "
      "(the last parameter varies fastest).", 2, dims_pk, w->values, "values");
  if (w->lay.W) {
    const size_t dw[1] = {w->lay.W};
    ADD("Values of a QALY: the last dimension of net_monetary_benefit.", 1, dw, w->lay.wtp,
        "willingness_to_pay");
  }
  if (grid) {
    double *shape = dl_buf(&d, K);
    if (!shape) goto nomem;
    for (size_t k = 0; k < K; k++) {
      const size_t n = opt->params[k].levels, dn[1] = {n};
      double *v = dl_buf(&d, n);
      if (!v) goto nomem;
      shape[k] = (double)n;
      size_t stride = 1;
      for (size_t j = k + 1; j < K; j++) stride *= opt->params[j].levels;
      for (size_t i = 0; i < n; i++) v[i] = w->values[i * stride * K + k];
      fl_h5_dataset *x = dl_add(&d, "The values of one parameter along its dimension of the "
                                "per-point datasets (an HDF5 dimension scale named by the "
                                "parameter's key path).", 1, dn, v, "axes/%zu", k);
      if (!x) goto nomem;
      x->scale = opt->params[k].path;
      axis[k] = d.n;
    }
    ADD("Points along each parameter: the shape of the per-point datasets.", 1, dims_k, shape,
        "grid_shape");
  }
  for (size_t i = 0; i < w->t.n; i++) {
    const series *s = &w->t.s[i];
    size_t dims[FL_MAX_RANK];
    int rank = prank;
    memcpy(dims, pdims, sizeof dims);
    for (int td = 0; td < s->trank; td++) dims[rank++] = s->tdims[td];
    for (int v = 0; v < 2; v++) {
      const double *data = v ? s->mcse : s->mean;
      if (!data) continue;
      fl_h5_dataset *x = v ? dl_add(&d, "Monte Carlo standard error of the mean beside it.",
                                    rank, dims, data, "%s_mcse", s->name)
                           : dl_add(&d, s->doc, rank, dims, data, "%s", s->name);
      if (!x) goto nomem;
      for (size_t k = 0; grid && k < K; k++) x->attach[k] = axis[k];
    }
  }

  /* Sensitivity of every scalar result to every parameter. */
  const int saltelli = opt->design == FL_DESIGN_SALTELLI;
  if (!grid && !saltelli && P > K + 1) {
    if ((st = fl_prcc_plan_init(&plan, w->values, P, K, err)) != FL_OK) goto done;
    have_plan = 1;
  }
  if (saltelli && !(rows = malloc(P / (K + 2) * sizeof *rows))) goto nomem;
  for (size_t i = 0, j = 0; i < w->t.n; i++) {
    const series *s = &w->t.s[i];
    if (!s->sensitivity) continue;
    double *m1 = dl_buf(&d, K), *m2 = dl_buf(&d, K);
    if (!m1 || !m2) goto nomem;
    if (grid) {
      for (size_t k = 0; k < K; k++) {
        size_t hi, lo;
        m1[k] = fl_main_effect_range(levels, K, s->mean, k, &hi, &lo);
        m2[k] = main_effect_mcse(w, j, k, hi, lo);
      }
      ADD(doc_range, 1, dims_k, m1, "sensitivity/%s/main_effect_range", s->name);
      ADD(doc_range_mcse, 1, dims_k, m2, "sensitivity/%s/main_effect_range_mcse", s->name);
      for (size_t a = 0; a < K; a++)
        for (size_t b = a + 1; b < K; b++) {
          const size_t dab[2] = {opt->params[a].levels, opt->params[b].levels};
          double *tw = dl_buf(&d, dab[0] * dab[1]);
          if (!tw) goto nomem;
          fl_two_way(levels, K, s->mean, a, b, tw);
          fl_h5_dataset *x = dl_add(&d, doc_two_way, 2, dab, tw, "sensitivity/%s/two_way_%zu_%zu",
                                    s->name, a, b);
          if (!x) goto nomem;
          x->attach[0] = axis[a];
          x->attach[1] = axis[b];
        }
    } else if (saltelli) {
      const size_t N = P / (K + 2);
      double *f = m1, *t = m2, *buf = dl_buf(&d, 4 * K), r1[FL_SWEEP_MAX_PARAMS],
             r2[FL_SWEEP_MAX_PARAMS];
      if (!buf) goto nomem;
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
      for (size_t b = 0; b < BOOTSTRAPS; b++) {
        for (size_t row = 0; row < N; row++) rows[row] = fl_rng_bounded(&r, (uint32_t)N);
        fl_sobol_indices(s->mean, N, K, rows, r1, r2);
        spread_add(&pf, r1, K);
        spread_add(&pt, r2, K);
      }
      spread_sd(&pf, K, f_se);
      spread_sd(&pt, K, t_se);
      ADD(doc_first, 1, dims_k, f, "sensitivity/%s/sobol_first", s->name);
      ADD(doc_sobol_mcse, 1, dims_k, f_mc, "sensitivity/%s/sobol_first_mcse", s->name);
      ADD(doc_sobol_se, 1, dims_k, f_se, "sensitivity/%s/sobol_first_se_points", s->name);
      ADD(doc_total, 1, dims_k, t, "sensitivity/%s/sobol_total", s->name);
      ADD(doc_sobol_mcse, 1, dims_k, t_mc, "sensitivity/%s/sobol_total_mcse", s->name);
      ADD(doc_sobol_se, 1, dims_k, t_se, "sensitivity/%s/sobol_total_se_points", s->name);
    } else {
      double *se = dl_buf(&d, K);
      if (!se) goto nomem;
      for (size_t k = 0; k < K; k++) m1[k] = m2[k] = se[k] = NAN;
      if (have_plan) {
        fl_prcc_eval(&plan, s->mean, 1, m1);
        for (size_t k = 0; k < K; k++) {
          se[k] = P > K + 2 ? (1 - m1[k] * m1[k]) / sqrt((double)(P - K - 2)) : NAN;
          m2[k] = opt->expect ? 0.0 : NAN;
        }
        if (w->B) { /* sd of the PRCCs over the replications' bootstrap resamples */
          double r[FL_SWEEP_MAX_PARAMS];
          spread sp = {.n = {0}};
          for (size_t b = 0; b < w->B; b++) {
            fl_prcc_eval(&plan, w->boot + (j * w->B + b) * P, 1, r);
            spread_add(&sp, r, K);
          }
          spread_sd(&sp, K, m2);
        }
      }
      ADD(doc_prcc, 1, dims_k, m1, "sensitivity/%s/prcc", s->name);
      ADD(doc_prcc_mcse, 1, dims_k, m2, "sensitivity/%s/prcc_mcse", s->name);
      ADD(doc_prcc_se, 1, dims_k, se, "sensitivity/%s/prcc_se_points", s->name);
    }
    j++;
  }
#undef ADD

  {
    size_t flen = 1;
    for (size_t i = 0; i < opt->n_sets; i++) flen += strlen(opt->sets[i]) + 1;
    if (!(fixed = calloc(flen, 1))) goto nomem;
    for (size_t i = 0; i < opt->n_sets; i++) strcat(strcat(fixed, opt->sets[i]), "\n");
    char *pnames[FL_SWEEP_MAX_PARAMS];
    static char grid_s[] = "grid", lhs[] = "latin_hypercube", sobol[] = "sobol",
                saltelli_s[] = "saltelli";
    char *design[1] = {grid                              ? grid_s
                       : opt->design == FL_DESIGN_LHS    ? lhs
                       : opt->design == FL_DESIGN_SOBOL  ? sobol
                                                         : saltelli_s};
    for (size_t k = 0; k < K; k++) pnames[k] = (char *)opt->params[k].path;
    const fl_h5_names names[5] = {{"parameters", pnames, K},
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
    st = fl_h5_write_simple(out, d.ds, d.n, names, 5, attrs, sizeof attrs / sizeof *attrs, err);
  }
  goto done;
nomem:
  st = oom(err);
done:
  free(rows);
  if (have_plan) fl_prcc_plan_free(&plan);
  free(fixed);
  dl_free(&d);
  return st;
}
