/* Each point's results reduced to its record (means and Monte Carlo standard errors of each
 * arm's and each comparison's headline results, and the per-replication values behind the
 * sensitivity measures' errors), and the records taken into the series across points and into
 * those errors' accumulators. */
#include "analysis/sweep_internal.h"

#include "core/rng.h"
#include "output/output.h"
#include "results/results.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Adds the series prefix/arm/name of width values per point (doc: its description, borrowed),
 * zeroed, with MCSEs when with_mcse; sensitivity says whether it gets sensitivity measures. A
 * scalar has no trailing dimension, a vector one of width, which the caller may reshape. The
 * series returned moves with the next addition. NULL on no memory. */
static fl_sweep_series *table_add(fl_sweep_table *t, const char *prefix, const char *arm,
                                  const char *name, const char *doc, size_t width, int with_mcse,
                                  int sensitivity) {
  if (t->n == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 32;
    fl_sweep_series *s = realloc(t->s, cap * sizeof *s);
    if (!s) return NULL;
    t->s = s;
    t->cap = cap;
  }
  fl_sweep_series *s = &t->s[t->n];
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

static void table_free(fl_sweep_table *t) {
  for (size_t i = 0; i < t->n; i++) {
    free(t->s[i].name);
    free(t->s[i].mean);
    free(t->s[i].mcse);
  }
  free(t->s);
}

/* Copies the layout from m, so that it outlives the model. FL_ENOMEM on no memory, with what
 * was copied left in l. */
static fl_status take_layout(fl_sweep_layout *l, const fl_model *m, fl_error *err) {
  l->n_arms = m->n_arms;
  l->L = m->L;
  l->W = m->n_wtp;
  l->B = m->B;
  l->T = m->T;
  if (!(l->holder_names = fl_names_dup(m->holder_names, l->B)) ||
      !(l->level_names = fl_names_dup(m->level_names, l->L)) ||
      !(l->scenario_name = fl_strdup(m->name)) ||
      !(l->wtp = malloc((l->W ? l->W : 1) * sizeof *l->wtp)))
    return fl_sweep_oom(err);
  if (l->W) memcpy(l->wtp, m->wtp, l->W * sizeof *l->wtp);
  for (size_t a = 0; a < l->n_arms; a++)
    if (!(l->arm_names[a] = fl_strdup(m->arms[a].name))) return fl_sweep_oom(err);
  return FL_OK;
}

/* Adds the series of the layout, in the order of the record: per arm its cost, QALYs, children
 * at the end and trajectory; per comparison its net cost, QALYs gained, net monetary benefit,
 * P(saving) and net cost by budget holder. Then sizes the record and its buffer. */
static fl_status sweep_series(fl_sweep_state *w, fl_error *err) {
  const fl_sweep_layout *l = &w->lay;
  for (size_t a = 0; a < l->n_arms; a++) {
    const char *name = l->arm_names[a];
    fl_sweep_series *traj;
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
      return fl_sweep_oom(err);
    traj->trank = 2;
    traj->tdims[0] = l->T + 1;
    traj->tdims[1] = l->L;
  }
  for (size_t a = 1; a < l->n_arms; a++) {
    const char *name = l->arm_names[a];
    fl_sweep_series *by_holder;
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
      return fl_sweep_oom(err);
    by_holder->trank = 1; /* even with one budget holder */
  }
  w->rec_len = 0;
  for (size_t i = 0; i < w->t.n; i++) {
    w->rec_len += w->t.s[i].width * (w->t.s[i].mcse ? 2 : 1);
    w->n_sens += w->t.s[i].sensitivity;
  }
  w->rec_len += w->n_sens * w->Rv;
  if (!(w->rec = calloc(w->rec_len, sizeof *w->rec)) ||
      !(w->rep_buf = malloc(w->Rv * sizeof *w->rep_buf)) ||
      !(w->saving_buf = malloc(w->Rv * sizeof *w->saving_buf)))
    return fl_sweep_oom(err);
  return FL_OK;
}

#define ACCUMULATOR_BYTES ((size_t)1 << 30) /* above this, MCSEs of sensitivities are NaN */

/* Allocates the accumulators of the sensitivity measures' Monte Carlo errors (none in
 * expectation mode, and none past ACCUMULATOR_BYTES: their MCSEs are then NaN). Only rank 0,
 * which writes the file, takes the points' records in. */
static fl_status sweep_accumulators(fl_sweep_state *w, fl_error *err) {
  const fl_sweep_options *opt = w->opt;
  if (w->rank != 0 || w->Rv < 2 || !w->n_sens) return FL_OK;
  if (opt->design == FL_DESIGN_GRID) {
    for (size_t k = 0; k < w->K; k++) {
      w->lv_off[k] = w->n_lv;
      w->n_lv += opt->params[k].levels;
    }
    if ((double)w->n_sens * (double)w->n_lv * (double)w->Rv * 8.0 <= (double)ACCUMULATOR_BYTES &&
        !(w->lvl = calloc(w->n_sens * w->n_lv * w->Rv, sizeof *w->lvl)))
      return fl_sweep_oom(err);
    return FL_OK;
  }
  if (w->P <= w->K + 1) return FL_OK; /* no PRCC */
  w->B = FL_SWEEP_BOOTSTRAPS;
  if ((double)w->n_sens * (double)w->B * (double)w->P * 8.0 +
          (double)w->B * (double)w->Rv * 4.0 >
      (double)ACCUMULATOR_BYTES) {
    w->B = 0;
    return FL_OK;
  }
  w->cnt = calloc(w->B * w->Rv, sizeof *w->cnt);
  w->boot = malloc(w->n_sens * w->B * w->P * sizeof *w->boot);
  if (!w->cnt || !w->boot) return fl_sweep_oom(err);
  /* The resamples come from the sweep's own stream, keyed by the seed. */
  fl_rng r;
  fl_rng_seed(&r, fl_mix64(opt->run.seed ^ 0x424f4f5453545250ULL), 0x424f4f54ULL);
  for (size_t b = 0; b < w->B; b++)
    for (size_t i = 0; i < w->Rv; i++) w->cnt[b * w->Rv + fl_rng_bounded(&r, (uint32_t)w->Rv)]++;
  return FL_OK;
}

fl_status fl_sweep_prepare(fl_sweep_state *w, const fl_model *m0, fl_error *err) {
  fl_status st = take_layout(&w->lay, m0, err);
  if (st == FL_OK) st = sweep_series(w, err);
  if (st == FL_OK) st = sweep_accumulators(w, err);
  if (st == FL_OK && w->rank == 0) st = fl_sweep_values_alloc(w, err);
  return st;
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

/* The values a point's record is made of, per replication: column c of replication r at
 * vals[c * Rv + r]. Per arm: its discounted cost, its QALYs, and its children in each level at
 * each time ((T + 1) * L columns); per comparison: net cost, QALYs gained, the net monetary
 * benefit at each willingness to pay, and the net cost by budget holder. */
static size_t arm_cols(const fl_sweep_layout *l) { return 2 + (l->T + 1) * l->L; }
static size_t comp_cols(const fl_sweep_layout *l) {
  return 2 + (l->W ? l->W : 1) + (l->B ? l->B : 1);
}

fl_status fl_sweep_values_alloc(fl_sweep_state *w, fl_error *err) {
  const fl_sweep_layout *l = &w->lay;
  w->n_vals = l->n_arms * arm_cols(l) + (l->n_arms - 1) * comp_cols(l);
  if (!(w->vals = fl_calloc(w->n_vals * w->Rv, sizeof *w->vals)))
    return fl_sweep_oom(err);
  return FL_OK;
}

/* Sum of row `row` of array a (its cells after the replication dimension, or all of them in
 * expectation results). */
static double row_total(const fl_array *a, size_t rows, size_t row) {
  const size_t cells = fl_array_count(a) / rows;
  double s = 0;
  for (size_t c = 0; c < cells; c++) s += fl_array_get(a, row * cells + c);
  return s;
}

fl_status fl_sweep_take(fl_sweep_state *w, const fl_results *res, size_t row, size_t rep,
                        const fl_model *m, fl_error *err) {
  const fl_sweep_layout *l = &w->lay;
  const size_t Rv = w->Rv, TL = (l->T + 1) * l->L, rows = res->expectation ? 1 : res->R;
  const double step_years = m->step_months / 12.0;
  double *v = w->vals + rep;
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
    *v = row_total(costd, rows, row), v += Rv;
    *v = row_total(qold, rows, row) * step_years, v += Rv;
    for (size_t c = 0; c < TL; c++, v += Rv) *v = fl_array_get(lvl, row * TL + c);
  }
  for (size_t a = 1; a < res->n_arms; a++) {
    const fl_arm_results *g = &res->comps[a];
    const fl_array *dc = fl_group_get(g, FL_OUT_DELTA_COST_TOTAL);
    const fl_array *dq = fl_group_get(g, FL_OUT_DELTA_QALY_TOTAL);
    const fl_array *nmb = fl_group_get(g, FL_OUT_NET_MONETARY_BENEFIT);
    const fl_array *dcd = fl_group_get(g, FL_OUT_DELTA_COSTS_DISCOUNTED); /* [R, T, B] */
    if (!dc || !dq || !nmb || !dcd) {
      fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL,
                   "sweep: missing comparison results of arm %s", g->name);
      return FL_EINTERNAL;
    }
    *v = fl_array_get(dc, row), v += Rv;
    *v = fl_array_get(dq, row), v += Rv;
    const size_t W = l->W ? l->W : 1, have = fl_array_count(nmb) / rows;
    for (size_t k = 0; k < W; k++, v += Rv) *v = k < have ? fl_array_get(nmb, row * have + k) : 0;
    const size_t B = l->B ? l->B : 1;
    for (size_t b = 0; b < B; b++, v += Rv) {
      double sum = 0;
      for (size_t t = 0; l->B && t < l->T; t++) sum += fl_array_get(dcd, (row * l->T + t) * l->B + b);
      *v = sum;
    }
  }
  return FL_OK;
}

/* Fills w->rec from the values of a point's replications (fl_sweep_take). */
fl_status fl_sweep_record(fl_sweep_state *w, const fl_model *m, fl_error *err) {
  const fl_sweep_layout *l = &w->lay;
  const size_t R = w->Rv, L = l->L, TL = (l->T + 1) * L;
  double *rec = w->rec, *buf = w->rep_buf;
  double *reps = rec + w->rec_len - w->n_sens * R; /* per-replication values, series by series */
  const double *v = w->vals;
  size_t off = 0, j = 0;
  (void)m;
  (void)err;
  /* The series are in the order sweep_series adds them: per arm cost, QALYs, children and
   * their trajectory; per comparison net cost, QALYs gained, NMB, P(saving), net cost by
   * budget holder. A sensitivity series keeps its values; fl_summarise_cell reorders its copy. */
#define COLUMN(src) (memcpy(buf, (src), R * sizeof *buf), buf)
#define SCALAR(src)                                                                               \
  do {                                                                                            \
    memcpy(reps + j++ * R, (src), R * sizeof *buf);                                               \
    mean_mcse(COLUMN(src), R, &rec[off], &rec[off + 1]);                                          \
    off += 2;                                                                                     \
  } while (0)
  for (size_t a = 0; a < l->n_arms; a++, v += arm_cols(l) * R) {
    SCALAR(v);
    SCALAR(v + R);
    /* The trajectory (every step's children at each level) after the children at the end,
     * which are its last row. */
    const size_t traj = off + 2 * L;
    for (size_t c = 0; c < TL; c++)
      mean_mcse(COLUMN(v + (2 + c) * R), R, &rec[traj + c], &rec[traj + TL + c]);
    memcpy(&rec[off], &rec[traj + TL - L], L * sizeof *rec);
    memcpy(&rec[off + L], &rec[traj + 2 * TL - L], L * sizeof *rec);
    off = traj + 2 * TL;
  }
  for (size_t a = 1; a < l->n_arms; a++, v += comp_cols(l) * R) {
    SCALAR(v);
    SCALAR(v + R);
    const size_t W = l->W ? l->W : 1, B = l->B ? l->B : 1;
    for (size_t k = 0; k < W; k++)
      mean_mcse(COLUMN(v + (2 + k) * R), R, &rec[off + k], &rec[off + W + k]);
    off += 2 * W;
    double *saving = w->saving_buf;
    for (size_t r = 0; r < R; r++) saving[r] = v[r] < 0;
    SCALAR(saving);
    for (size_t b = 0; b < B; b++)
      mean_mcse(COLUMN(v + (2 + W + b) * R), R, &rec[off + b], &rec[off + B + b]);
    off += 2 * B;
  }
#undef SCALAR
#undef COLUMN
  return FL_OK;
}

/* Takes point p's record into the series and the accumulators. */
void fl_sweep_apply(fl_sweep_state *w, size_t p) {
  const double *rec = w->rec, *reps = rec + w->rec_len - w->n_sens * w->Rv;
  const size_t Rv = w->Rv, P = w->P;
  size_t off = 0, j = 0;
  for (size_t i = 0; i < w->t.n; i++) {
    fl_sweep_series *s = &w->t.s[i];
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

void fl_sweep_state_free(fl_sweep_state *w) {
  table_free(&w->t);
  for (size_t a = 0; a < FL_MAX_ARMS; a++) free(w->lay.arm_names[a]);
  fl_names_free(w->lay.level_names, w->lay.L);
  fl_names_free(w->lay.holder_names, w->lay.B);
  free(w->lay.wtp);
  free(w->lay.scenario_name);
  free(w->rec);
  free(w->rep_buf);
  free(w->saving_buf);
  free(w->vals);
  free(w->lvl);
  free(w->cnt);
  free(w->boot);
}
