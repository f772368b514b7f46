/* The summary's tables, computed from an output file (see summary_table.h). */
#include "output/summary_table.h"

#include "scenario/scenario.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MC (s->mc)

const char *fl_unit_name(const fl_summary *s, fl_unit u, char *buf, size_t size) {
  switch (u) {
  case FL_UNIT_CHILDREN: return "children";
  case FL_UNIT_MONEY: return s->currency;
  case FL_UNIT_QALYS: return "QALYs";
  case FL_UNIT_PROB: return "probability";
  case FL_UNIT_MONTHS: return "months";
  case FL_UNIT_MONEY_QALY: snprintf(buf, size, "%s per QALY", s->currency); return buf;
  }
  return "";
}

/* The display label under keys (a path of mapping keys from the scenario's root), or dflt. */
static const char *label_at(const fl_scenario *sc, const char *const *keys, size_t n,
                            const char *dflt) {
  const fl_node *node = sc ? sc->root : NULL;
  for (size_t i = 0; node && i < n; i++) node = fl_map_get(node, keys[i]);
  return node && node->kind == FL_NODE_SCALAR ? node->value : dflt;
}

/* A new measure of sheet sh with every value NAN; NULL when memory runs out. */
static fl_measure *add(fl_summary *s, fl_sheet *sh, const char *name, const char *label,
                       fl_unit unit, int discounted, int per_year, int text) {
  if (sh->n == sh->cap) {
    size_t cap = sh->cap ? 2 * sh->cap : 64;
    fl_measure *grown = realloc(sh->m, cap * sizeof *grown);
    if (!grown) return NULL;
    sh->m = grown;
    sh->cap = cap;
  }
  fl_measure *m = &sh->m[sh->n];
  memset(m, 0, sizeof *m);
  snprintf(m->name, sizeof m->name, "%s", name);
  snprintf(m->label, sizeof m->label, "%s", label);
  const char *colon = strstr(label, ": ");
  snprintf(m->head, sizeof m->head, "%s", colon ? colon + 2 : label);
  m->unit = unit;
  m->discounted = discounted;
  m->per_year = per_year;
  m->interval = MC && unit != FL_UNIT_PROB;
  m->in_text = text;
  const size_t n = per_year ? s->n_rows : 1;
  double **v[4] = {&m->mean, &m->median, &m->lo, &m->hi};
  for (int k = 0; k < 4; k++) {
    if (!(*v[k] = fl_malloc_array(n, sizeof(double)))) {
      for (int j = 0; j < k; j++) free(*v[j]);
      return NULL;
    }
    for (size_t i = 0; i < n; i++) (*v[k])[i] = NAN;
  }
  sh->n++;
  return m;
}

/* Mean, median, 5% and 95% of v[R] (reordered) into row i of m. */
static void put(fl_measure *m, size_t i, double *v, size_t R) {
  double mean, lo, hi;
  fl_stats_90(v, R, &mean, &lo, &hi); /* sorts v */
  m->mean[i] = mean;
  m->median[i] = gsl_stats_median_from_sorted_data(v, 1, R);
  m->lo[i] = lo;
  m->hi[i] = hi;
}

/* The rows' steps: row y covers steps [t0(y), t1(y)) and its stocks are those at t1(y). */
static size_t row_end(const fl_summary *s, size_t y, size_t T) {
  const size_t per = (size_t)llround(12.0 / s->step_months);
  const size_t p = per < 1 || fabs((double)per * s->step_months - 12.0) > 1e-9 ? 1 : per;
  return y * p < T ? y * p : T;
}

typedef struct arm_in {
  size_t R, T, L, B;
  double *lvl, *cost, *costd, *qol, *v;
} arm_in;

/* Sums per row of x[R, T, B] over steps (and over holders b, or all when b == B) into v[R]. */
static void row_sum(const fl_summary *s, const double *x, size_t R, size_t T, size_t B, size_t b,
                    size_t y, double scale, double *v) {
  const size_t t0 = row_end(s, y - 1, T), t1 = row_end(s, y, T);
  for (size_t r = 0; r < R; r++) {
    v[r] = 0;
    for (size_t k = t0; k < t1; k++)
      for (size_t bb = 0; bb < B; bb++)
        if (b == B || bb == b) v[r] += x[(r * T + k) * B + bb] * scale;
  }
}

/* The arm's own measures: children by level, cost by holder and in all (undiscounted and
 * discounted), QALYs; and the total cost over the horizon by holder. */
static fl_status arm_measures(fl_summary *s, fl_sheet *sh, const arm_in *a, char **levels,
                              char **holders, const fl_scenario *sc) {
  const size_t R = a->R, T = a->T, L = a->L, B = a->B;
  char name[96], label[224];
  double *v = a->v;
  for (size_t l = 0; l < L; l++) {
    const char *keys[] = {"level_labels", levels[l]};
    snprintf(name, sizeof name, "children_%s", levels[l]);
    snprintf(label, sizeof label, "Children: %s", label_at(sc, keys, 2, levels[l]));
    fl_measure *m = add(s, sh, name, label, FL_UNIT_CHILDREN, -1, 1, 1);
    if (!m) return FL_ENOMEM;
    for (size_t y = 0; y < s->n_rows; y++) {
      const size_t t = row_end(s, y, T);
      for (size_t r = 0; r < R; r++) v[r] = a->lvl[(r * (T + 1) + t) * L + l];
      put(m, y, v, R);
    }
  }
  for (size_t b = 0; b <= B; b++) {
    const char *keys[] = {"costs", "budget_holder_labels", b < B ? holders[b] : ""};
    snprintf(name, sizeof name, "cost_%s", b < B ? holders[b] : "total");
    snprintf(label, sizeof label, "Cost in the year: %s",
             b < B ? label_at(sc, keys, 3, holders[b]) : "total");
    fl_measure *m = add(s, sh, name, label, FL_UNIT_MONEY, 0, 1, b == B);
    if (!m) return FL_ENOMEM;
    if (b == B) snprintf(m->head, sizeof m->head, "cost in year");
    m->interval &= b == B; /* by holder: the means (the CSV keeps the quantiles) */
    for (size_t y = 1; y < s->n_rows; y++) {
      row_sum(s, a->cost, R, T, B, b, y, 1.0, v);
      put(m, y, v, R);
    }
  }
  fl_measure *m = add(s, sh, "cost_total_discounted", "Cost in the year: total, discounted",
                      FL_UNIT_MONEY, 1, 1, 0);
  fl_measure *qm = add(s, sh, "quality_adjusted_child_years",
                       "Quality-adjusted child-years in the year", FL_UNIT_QALYS, 0, 1, 1);
  if (!m || !qm) return FL_ENOMEM;
  snprintf(qm->head, sizeof qm->head, "QALYs in year");
  for (size_t y = 1; y < s->n_rows; y++) {
    row_sum(s, a->costd, R, T, B, B, y, 1.0, v);
    put(m, y, v, R);
    row_sum(s, a->qol, R, T, 1, 1, y, s->step_months / 12.0, v);
    put(qm, y, v, R);
  }
  for (size_t b = 0; b < B; b++) {
    const char *keys[] = {"costs", "budget_holder_labels", holders[b]};
    snprintf(name, sizeof name, "cost_%s", holders[b]);
    snprintf(label, sizeof label, "Cost over the horizon: %s", label_at(sc, keys, 3, holders[b]));
    if (!(m = add(s, sh, name, label, FL_UNIT_MONEY, 0, 0, 0))) return FL_ENOMEM;
    for (size_t r = 0; r < R; r++) {
      v[r] = 0;
      for (size_t k = 0; k < T; k++) v[r] += a->cost[(r * T + k) * B + b];
    }
    put(m, 0, v, R);
  }
  return FL_OK;
}

typedef struct comp_in {
  size_t R, T, B, K;
  double *dc, *cum, *dq, *be, *icer, *wtp, *nmb, *pce, *dct, *dqt, *vdc, *vdq, *v;
} comp_in;

/* The comparison's measures, by year: cost differences by holder and net, the cumulative net
 * cost, QALYs and P(saving so far). */
static fl_status comparison_by_year(fl_summary *s, fl_sheet *sh, const comp_in *c, char **holders,
                                    const fl_scenario *sc) {
  const size_t R = c->R, T = c->T, B = c->B;
  char name[96], label[224];
  double *v = c->v;
  for (size_t b = 0; b <= B; b++) {
    const char *keys[] = {"costs", "budget_holder_labels", b < B ? holders[b] : ""};
    snprintf(name, sizeof name, "delta_cost_%s", b < B ? holders[b] : "net");
    snprintf(label, sizeof label, "Minus baseline, cost in the year: %s",
             b < B ? label_at(sc, keys, 3, holders[b]) : "net");
    fl_measure *m = add(s, sh, name, label, FL_UNIT_MONEY, 0, 1, 2);
    if (!m) return FL_ENOMEM;
    if (b == B) snprintf(m->head, sizeof m->head, "net cost in year");
    m->interval &= b == B;
    for (size_t y = 1; y < s->n_rows; y++) {
      row_sum(s, c->dc, R, T, B, b, y, 1.0, v);
      put(m, y, v, R);
    }
  }
  fl_measure *cm = add(s, sh, "cumulative_net_cost", "Minus baseline, cumulative net cost",
                       FL_UNIT_MONEY, 0, 1, 2);
  fl_measure *qm =
      add(s, sh, "delta_qalys", "Minus baseline, QALYs in the year", FL_UNIT_QALYS, 0, 1, 2);
  fl_measure *pm =
      MC ? add(s, sh, "p_saving", "Probability of a net saving so far", FL_UNIT_PROB, -1, 1, 2)
         : NULL;
  if (!cm || !qm || (MC && !pm)) return FL_ENOMEM;
  snprintf(cm->head, sizeof cm->head, "cumulative net cost");
  snprintf(qm->head, sizeof qm->head, "QALYs in year");
  if (pm) snprintf(pm->head, sizeof pm->head, "P(saving so far)");
  for (size_t y = 1; y < s->n_rows; y++) {
    const size_t t = row_end(s, y, T);
    size_t saving = 0;
    for (size_t r = 0; r < R; r++) saving += (v[r] = c->cum[r * T + t - 1]) < 0;
    put(cm, y, v, R);
    row_sum(s, c->dq, R, T, 1, 1, y, 1.0, v);
    put(qm, y, v, R);
    if (pm) pm->mean[y] = (double)saving / (double)R;
  }
  return FL_OK;
}

/* The quantile p of v[n] sorted, as the lower order statistic (numpy's method "lower"): a
 * month that some replication reached, and +inf when that replication never broke even. */
static double lower_quantile(const double *v, size_t n, double p) {
  return v[(size_t)floor(p * (double)(n - 1) + 1e-9)];
}

/* Over the horizon: break-even (months from the start to the end of the step from which the
 * cumulative net cost stays at or below 0; +inf when never), its share never reached, the
 * discounted totals, ICER, net monetary benefit and P(cost-effective) at each value of a QALY,
 * and the parameter share of the variance. */
static fl_status comparison_total(fl_summary *s, fl_sheet *sh, const comp_in *c) {
  const size_t R = c->R, K = c->K;
  double *v = c->v;
  size_t never = 0;
  fl_measure *m = add(s, sh, "breakeven_month", "Break-even month", FL_UNIT_MONTHS, -1, 0, 0);
  if (!m) return FL_ENOMEM;
  for (size_t r = 0; r < R; r++) {
    v[r] = c->be[r] >= 0 ? (c->be[r] + 1) * s->step_months : INFINITY;
    never += c->be[r] < 0;
  }
  gsl_sort(v, 1, R);
  m->mean[0] = never ? NAN : gsl_stats_mean(v, 1, R);
  m->median[0] = lower_quantile(v, R, 0.5);
  m->lo[0] = lower_quantile(v, R, 0.05);
  m->hi[0] = lower_quantile(v, R, 0.95);
  if (MC) {
    if (!(m = add(s, sh, "p_no_breakeven", "Probability of no break-even within the horizon",
                  FL_UNIT_PROB, -1, 0, 0)))
      return FL_ENOMEM;
    m->mean[0] = (double)never / (double)R;
  }
  const struct {
    const char *name, *label;
    fl_unit u;
    const double *x;
  } totals[] = {
      {"delta_cost_total", "Minus baseline, net cost over the horizon", FL_UNIT_MONEY, c->dct},
      {"delta_qaly_total", "Minus baseline, QALYs over the horizon", FL_UNIT_QALYS, c->dqt}};
  for (size_t k = 0; k < 2; k++) {
    if (!(m = add(s, sh, totals[k].name, totals[k].label, totals[k].u, 1, 0, 0))) return FL_ENOMEM;
    memcpy(v, totals[k].x, R * sizeof *v);
    put(m, 0, v, R);
  }
  if (!(m = add(s, sh, "icer", "Cost per QALY (ICER)", FL_UNIT_MONEY_QALY, 1, 0, 0)))
    return FL_ENOMEM;
  m->mean[0] = c->icer[0];
  for (size_t k = 0; k < K; k++) {
    char name[96], label[224], w[64];
    fl_money(w, sizeof w, s->currency, c->wtp[k], 0);
    snprintf(name, sizeof name, "net_monetary_benefit_at_%g", c->wtp[k]);
    snprintf(label, sizeof label, "Net monetary benefit at %s a QALY", w);
    if (!(m = add(s, sh, name, label, FL_UNIT_MONEY, 1, 0, 0))) return FL_ENOMEM;
    for (size_t r = 0; r < R; r++) v[r] = c->nmb[r * K + k];
    put(m, 0, v, R);
    if (!MC) continue;
    snprintf(name, sizeof name, "p_cost_effective_at_%g", c->wtp[k]);
    snprintf(label, sizeof label, "Probability cost-effective at %s a QALY", w);
    if (!(m = add(s, sh, name, label, FL_UNIT_PROB, -1, 0, 0))) return FL_ENOMEM;
    m->mean[0] = c->pce[k];
  }
  if (c->vdc && c->vdq) {
    fl_measure *a =
        add(s, sh, "parameter_share_delta_cost_total",
            "Parameter uncertainty's share of the net cost's variance", FL_UNIT_PROB, -1, 0, 0);
    fl_measure *b =
        add(s, sh, "parameter_share_delta_qaly_total",
            "Parameter uncertainty's share of the QALYs' variance", FL_UNIT_PROB, -1, 0, 0);
    if (!a || !b) return FL_ENOMEM;
    a->mean[0] = c->vdc[2];
    b->mean[0] = c->vdq[2];
  }
  return FL_OK;
}

/* Reading the file. */

/* Whether a dataset of rank and dims holds exactly n values. */
static int holds(int rank, const hsize_t *dims, double n) {
  return (double)fl_reader_count(rank, dims) == n;
}


/* The scenario the file keeps, parsed (NULL when it has none or it no longer parses: the
 * summary then shows names and no currency sign), and the settings read from it. */
static fl_scenario *settings(fl_reader *rd, fl_summary *s) {
  char *text = fl_reader_attr_string(rd->file, "scenario_yaml"),
       *over = fl_reader_attr_string(rd->file, "scenario_overrides");
  char *name = fl_reader_attr_string(rd->file, "scenario_name");
  fl_scenario *sc = NULL;
  fl_error ignored = {0};
  if (text && fl_scenario_parse(rd->path, text, over, &sc, &ignored) != FL_OK) sc = NULL;
  const char *cur[] = {"costs", "currency"}, *start[] = {"time", "start"};
  snprintf(s->currency, sizeof s->currency, "%s", label_at(sc, cur, 2, sc ? "GBP" : ""));
  snprintf(s->start, sizeof s->start, "%s", label_at(sc, start, 2, ""));
  snprintf(s->scenario_name, sizeof s->scenario_name, "%s", name ? name : "");
  s->psa = H5Aexists(rd->file, "parameter_uncertainty") > 0;
  const fl_node *unc = sc ? fl_map_get(sc->root, "uncertainty") : NULL;
  snprintf(s->parameter_words, sizeof s->parameter_words, "%s",
           !s->mc   ? "expected values: no uncertainty shown"
           : s->psa ? "intervals include parameter uncertainty (run --psa) and chance"
           : unc    ? "intervals show chance only: parameter uncertainty not included (the "
                      "scenario describes it; run with --psa)"
                    : "intervals show chance only (the scenario describes no parameter "
                      "uncertainty)");
  free(text);
  free(over);
  free(name);
  return sc;
}

static double *read_ds(fl_reader *rd, const char *group, const char *arm, fl_output id, int *rank,
                       hsize_t *dims) {
  char path[512];
  snprintf(path, sizeof path, "/%s/%s/%s", group, arm, fl_outputs[id].name);
  return fl_reader_doubles(rd, path, rank, dims);
}

/* The rows: the start, then each year (the last one possibly shorter). */
static void set_rows(fl_summary *s, size_t T) {
  size_t n = 1;
  while (row_end(s, n - 1, T) < T) n++;
  s->n_rows = n;
  s->T = T;
}

static fl_status read_arm(fl_reader *rd, fl_summary *s, fl_sheet *sh, char **levels, size_t L,
                          char **holders, size_t B, const fl_scenario *sc) {
  int rl, rc, rcd, rq;
  hsize_t dl[FL_MAX_RANK], dc[FL_MAX_RANK], dcd[FL_MAX_RANK], dq[FL_MAX_RANK];
  const int mc = s->mc;
  arm_in a = {.L = L, .B = B};
  fl_status st = FL_OK;
  char name[512];
  a.lvl = read_ds(rd, "arms", sh->arm, FL_OUT_STOCKS_BY_LEVEL, &rl, dl);
  a.cost = read_ds(rd, "arms", sh->arm, FL_OUT_COSTS, &rc, dc);
  a.costd = read_ds(rd, "arms", sh->arm, FL_OUT_COSTS_DISCOUNTED, &rcd, dcd);
  a.qol = read_ds(rd, "arms", sh->arm, FL_OUT_QOL, &rq, dq);
  snprintf(name, sizeof name, "/arms/%s/%s", sh->arm, fl_outputs[FL_OUT_STOCKS_BY_LEVEL].name);
  if (!a.lvl || !a.cost || !a.costd || !a.qol || rl != 2 + mc || rc != 2 + mc || rcd != rc ||
      rq != 1 + mc) {
    st = fl_reader_bad(rd, "stocks_by_level, costs or qol missing or of the wrong shape");
    goto out;
  }
  a.R = mc ? dl[0] : 1;
  a.T = dl[mc] - 1;
  if (!s->n_rows) set_rows(s, a.T);
  if (dl[mc + 1] != L || dc[mc + 1] != B || dc[mc] != a.T || dq[mc] != a.T ||
      memcmp(dc, dcd, sizeof(hsize_t) * (size_t)rc) || (mc && (dc[0] != a.R || dq[0] != a.R)) ||
      row_end(s, s->n_rows - 1, a.T) != a.T || a.T == 0) {
    st = fl_reader_bad(rd, "dataset shapes disagree with /levels, /budget_holders or each other");
    goto out;
  }
  if ((mc && !fl_reader_is_integer(rd, name)) || !fl_all_finite(a.lvl, fl_reader_count(rl, dl)) ||
      !fl_all_finite(a.cost, fl_reader_count(rc, dc)) ||
      !fl_all_finite(a.costd, fl_reader_count(rcd, dcd)) ||
      !fl_all_finite(a.qol, fl_reader_count(rq, dq))) {
    st = fl_reader_bad(rd, "counts that are not whole numbers, or values that are not finite");
    goto out;
  }
  if (!(a.v = fl_malloc_array(a.R, sizeof *a.v))) st = FL_ENOMEM;
  else st = arm_measures(s, sh, &a, levels, holders, sc);
out:
  free(a.lvl);
  free(a.cost);
  free(a.costd);
  free(a.qol);
  free(a.v);
  return st;
}

static fl_status read_comparison(fl_reader *rd, fl_summary *s, fl_sheet *sh, char **holders,
                                 size_t B, const fl_scenario *sc) {
  int rk[10];
  hsize_t d[10][FL_MAX_RANK];
  const int mc = s->mc;
  comp_in c = {.B = B};
  fl_status st = FL_OK;
  const char *arm = sh->arm;
  c.dc = read_ds(rd, "comparisons", arm, FL_OUT_DELTA_COSTS, &rk[0], d[0]);
  c.cum = read_ds(rd, "comparisons", arm, FL_OUT_CUMULATIVE_NET_COST, &rk[1], d[1]);
  c.dq = read_ds(rd, "comparisons", arm, FL_OUT_DELTA_QALYS, &rk[2], d[2]);
  c.be = read_ds(rd, "comparisons", arm, FL_OUT_BREAKEVEN_STEP, &rk[3], d[3]);
  c.icer = read_ds(rd, "comparisons", arm, FL_OUT_ICER, &rk[4], d[4]);
  c.wtp = read_ds(rd, "comparisons", arm, FL_OUT_WILLINGNESS_TO_PAY, &rk[5], d[5]);
  c.nmb = read_ds(rd, "comparisons", arm, FL_OUT_NET_MONETARY_BENEFIT, &rk[6], d[6]);
  c.pce = mc ? read_ds(rd, "comparisons", arm, FL_OUT_P_COST_EFFECTIVE, &rk[7], d[7]) : NULL;
  c.dct = read_ds(rd, "comparisons", arm, FL_OUT_DELTA_COST_TOTAL, &rk[8], d[8]);
  c.dqt = read_ds(rd, "comparisons", arm, FL_OUT_DELTA_QALY_TOTAL, &rk[9], d[9]);
  int rv = 0, rv2 = 0;
  hsize_t dv[FL_MAX_RANK], dv2[FL_MAX_RANK];
  c.vdc = read_ds(rd, "comparisons", arm, FL_OUT_VD_DELTA_COST_TOTAL, &rv, dv);
  c.vdq = read_ds(rd, "comparisons", arm, FL_OUT_VD_DELTA_QALY_TOTAL, &rv2, dv2);
  if (!c.dc || !c.cum || !c.dq || !c.be || !c.icer || !c.wtp || !c.nmb || (mc && !c.pce) ||
      !c.dct || !c.dqt || rk[0] != 2 + mc || d[0][mc + 1] != B || rk[5] != 1) {
    st = fl_reader_bad(rd, "a comparison group is incomplete");
    goto out;
  }
  c.R = mc ? d[0][0] : 1;
  c.T = d[0][mc];
  c.K = d[5][0];
  /* Everything below is indexed by these sizes: each dataset must hold what they imply. */
  const double RT = (double)c.R * (double)c.T, R = (double)c.R, K = (double)c.K;
  if (!holds(rk[1], d[1], RT) || !holds(rk[2], d[2], RT) || !holds(rk[3], d[3], R) ||
      fl_reader_count(rk[4], d[4]) < 1 || !holds(rk[6], d[6], R * K) ||
      (mc && !holds(rk[7], d[7], K)) || !holds(rk[8], d[8], R) || !holds(rk[9], d[9], R) ||
      row_end(s, s->n_rows - 1, c.T) != c.T) {
    st = fl_reader_bad(rd, "a comparison's datasets disagree in shape");
    goto out;
  }
  if (!c.vdc != !c.vdq || (c.vdc && (fl_reader_count(rv, dv) < 3 || fl_reader_count(rv2, dv2) < 3))) {
    st = fl_reader_bad(rd, "a comparison's variance split is incomplete");
    goto out;
  }
  if (!(c.v = fl_malloc_array(c.R, sizeof *c.v))) st = FL_ENOMEM;
  else if ((st = comparison_by_year(s, sh, &c, holders, sc)) == FL_OK)
    st = comparison_total(s, sh, &c);
out:
  free(c.dc), free(c.cum), free(c.dq), free(c.be), free(c.icer), free(c.wtp), free(c.nmb);
  free(c.pce), free(c.dct), free(c.dqt), free(c.vdc), free(c.vdq), free(c.v);
  return st;
}

/* /states and /state_level agree (one level, within /levels, for each state). */
static fl_status check_states(fl_reader *rd, size_t L) {
  size_t S = 0;
  int rank;
  hsize_t dims[FL_MAX_RANK];
  char **states = fl_reader_names(rd, "/states", &S);
  double *level = fl_reader_doubles(rd, "/state_level", &rank, dims);
  int ok = states && level && rank == 1 && dims[0] == S && S > 0;
  for (size_t i = 0; ok && i < S; i++)
    ok = level[i] >= 0 && level[i] < (double)L && level[i] == floor(level[i]);
  fl_names_free(states, S);
  free(level);
  return ok ? FL_OK : fl_reader_bad(rd, "/states and /state_level are missing or disagree");
}

/* The arms under /arms: every group, the baseline first (other members, such as dimension
 * scales, are not arms). */
static herr_t collect_arm(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  fl_summary *s = data;
  H5O_info_t oi;
  (void)info;
  if (H5Oget_info_by_name(g, name, &oi, H5P_DEFAULT) < 0 || oi.type != H5O_TYPE_GROUP) return 0;
  fl_sheet *grown = realloc(s->sheets, (s->n_sheets + 1) * sizeof *grown);
  if (!grown) return -1;
  s->sheets = grown;
  fl_sheet *sh = &s->sheets[s->n_sheets];
  memset(sh, 0, sizeof *sh);
  if (!(sh->arm = fl_strdup(name))) return -1;
  s->n_sheets++;
  if (!strcmp(name, "baseline") && s->n_sheets > 1) { /* to the front */
    fl_sheet b = *sh;
    memmove(s->sheets + 1, s->sheets, (s->n_sheets - 1) * sizeof *sh);
    s->sheets[0] = b;
  }
  return 0;
}

fl_status fl_summary_read(fl_reader *rd, const char *mode, double step, fl_summary *s) {
  char **levels = NULL, **holders = NULL;
  size_t L = 0, B = 0;
  fl_scenario *sc = NULL;
  fl_status st = FL_OK;
  hid_t g = -1;
  memset(s, 0, sizeof *s);
  s->path = rd->path;
  snprintf(s->mode, sizeof s->mode, "%s", mode);
  s->mc = !strcmp(mode, "monte_carlo");
  s->step_months = step;
  levels = fl_reader_names(rd, "/levels", &L);
  holders = fl_reader_names(rd, "/budget_holders", &B);
  if (strcmp(mode, "monte_carlo") && strcmp(mode, "expectation")) {
    st = fl_reader_bad(rd, "the root attribute 'mode' is missing");
    goto out;
  }
  if (!levels || !holders || !(step > 0)) {
    st = fl_reader_bad(rd, "/levels, /budget_holders or the step_months attribute is missing");
    goto out;
  }
  if ((st = check_states(rd, L)) != FL_OK) goto out;
  g = H5Gopen2(rd->file, "/arms", H5P_DEFAULT);
  if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_arm, s) < 0 ||
      !s->n_sheets) {
    st = fl_reader_bad(rd, "no arms under /arms");
    goto out;
  }
  sc = settings(rd, s);
  for (size_t i = 0; i < s->n_sheets && st == FL_OK; i++) {
    fl_sheet *sh = &s->sheets[i];
    const char *keys[] = {"arms", sh->arm, "label"};
    sh->compared = strcmp(sh->arm, "baseline") != 0;
    if (!(sh->label = fl_strdup(sh->compared ? label_at(sc, keys, 3, sh->arm) : "Baseline"))) {
      st = FL_ENOMEM;
      break;
    }
    st = read_arm(rd, s, sh, levels, L, holders, B, sc);
    if (st == FL_OK && sh->compared) st = read_comparison(rd, s, sh, holders, B, sc);
  }
  if (st == FL_OK && !(s->year_end = fl_malloc_array(s->n_rows, sizeof *s->year_end)))
    st = FL_ENOMEM;
  for (size_t y = 0; st == FL_OK && y < s->n_rows; y++)
    s->year_end[y] = (double)row_end(s, y, s->T) * step / 12.0;
out:
  if (st == FL_ENOMEM) fl_error_set(rd->err, FL_ENOMEM, rd->path, 0, 0, NULL, "out of memory");
  if (g >= 0) H5Gclose(g);
  fl_scenario_free(sc);
  fl_names_free(levels, L);
  fl_names_free(holders, B);
  return st;
}

void fl_summary_free(fl_summary *s) {
  for (size_t i = 0; s->sheets && i < s->n_sheets; i++) {
    fl_sheet *sh = &s->sheets[i];
    for (size_t k = 0; k < sh->n; k++) {
      free(sh->m[k].mean);
      free(sh->m[k].median);
      free(sh->m[k].lo);
      free(sh->m[k].hi);
    }
    free(sh->m);
    free(sh->arm);
    free(sh->label);
  }
  free(s->sheets);
  free(s->year_end);
  memset(s, 0, sizeof *s);
}
