/* Paired comparisons of every arm with the baseline. All arms of a replication share every
 * child's random numbers, so arm - baseline differences are taken replication by replication:
 * where the savings land (costs by budget holder), when (cumulative net cost and break-even),
 * and whether it is worth it (QALYs, ICER, net monetary benefit). */
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static double *add_f64(fl_arm_results *g, const char *name, const char *doc, int rank,
                       const size_t *dims, int no_summary) {
  double *p = fl_results_add(g, name, doc, FL_F64, rank, dims);
  if (p) g->arrays[g->n_arrays - 1].no_summary = no_summary;
  return p;
}

fl_status fl_results_compare(fl_results *res, const fl_model *m, fl_error *err) {
  const int mc = !res->expectation;
  const size_t R = mc ? res->R : 1, T = m->T, B = m->B, K = m->n_wtp;
  const double step_years = m->step_months / 12.0;
  const size_t per_year = m->step_months >= 12 ? 1 : (size_t)llround(12.0 / m->step_months);
  const size_t Y = (T + per_year - 1) / per_year;
  const fl_array *base_c = fl_results_find_const(res, 0, "costs");
  const fl_array *base_cd = fl_results_find_const(res, 0, "costs_discounted");
  const fl_array *base_q = fl_results_find_const(res, 0, "qol");
  const fl_array *base_qd = fl_results_find_const(res, 0, "qol_discounted");
  for (size_t a = 1; a < res->n_arms; a++) {
    fl_arm_results *g = &res->comps[a];
    const double *ac = fl_results_find_const(res, a, "costs")->data;
    const double *acd = fl_results_find_const(res, a, "costs_discounted")->data;
    const double *aq = fl_results_find_const(res, a, "qol")->data;
    const double *aqd = fl_results_find_const(res, a, "qol_discounted")->data;
    const double *bc = base_c->data, *bcd = base_cd->data, *bq = base_q->data;
    const double *bqd = base_qd->data;
    const size_t d_tb[3] = {R, T, B}, d_t[2] = {R, T}, d_r[1] = {R}, d_k[2] = {R, K};
    const size_t *o_tb = mc ? d_tb : d_tb + 1, *o_t = mc ? d_t : d_t + 1, *o_k = mc ? d_k : d_k + 1;
    const int rk = mc ? 1 : 0;
    if (!(g->name = fl_strdup(res->arms[a].name))) goto nomem;
    double *dc = add_f64(g, "delta_costs", "Arm minus baseline cost of each step by budget "
                         "holder, undiscounted: negative is a saving.", 2 + rk, o_tb, 0);
    double *dcd = add_f64(g, "delta_costs_discounted", "delta_costs, discounted.", 2 + rk, o_tb, 0);
    double *cum = add_f64(g, "cumulative_net_cost", "Arm minus baseline cost summed over budget "
                          "holders and over the steps so far, undiscounted.", 1 + rk, o_t, 0);
    double *cumd = add_f64(g, "cumulative_net_cost_discounted", "cumulative_net_cost, "
                           "discounted.", 1 + rk, o_t, 0);
    double *dq = add_f64(g, "delta_qalys", "Arm minus baseline quality-adjusted child-years in "
                         "each step, undiscounted.", 1 + rk, o_t, 0);
    double *ctot = add_f64(g, "delta_cost_total", "Discounted net cost of the arm over the "
                           "horizon, minus the baseline's.", rk, d_r, 0);
    double *qtot = add_f64(g, "delta_qaly_total", "Discounted quality-adjusted child-years of "
                           "the arm over the horizon, minus the baseline's.", rk, d_r, 0);
    double *nmb = add_f64(g, "net_monetary_benefit", "willingness_to_pay x delta_qaly_total - "
                          "delta_cost_total, for each willingness to pay.", 1 + rk, o_k, 0);
    int32_t *be = mc ? fl_results_add(g, "breakeven_step", "First step from which the "
                                      "cumulative net cost stays at or below 0 to the end of the "
                                      "run; -1: never.", FL_I32, 1, d_r)
                     : NULL;
    double *be_exp = mc ? NULL : add_f64(g, "breakeven_step", "First step from which the "
                                         "expected cumulative net cost stays at or below 0; -1: "
                                         "never.", 0, d_r, 0);
    const size_t one = 1, d_K = K, d_Y = Y;
    double *wtp = add_f64(g, "willingness_to_pay", "Values of a QALY (economics."
                          "willingness_to_pay).", 1, &d_K, 1);
    double *icer = add_f64(g, "icer", "Incremental cost per quality-adjusted child-year: mean "
                           "delta_cost_total / mean delta_qaly_total (discounted).", 1, &one, 1);
    double *psave = mc ? add_f64(g, "p_saving_by_year", "Share of replications whose "
                                 "cumulative net cost (undiscounted) is below 0 at the end of "
                                 "each year.", 1, &d_Y, 1)
                       : NULL;
    double *pce = mc ? add_f64(g, "p_cost_effective", "Share of replications with a positive "
                               "net monetary benefit at each willingness to pay (the "
                               "acceptability curve).", 1, &d_K, 1)
                     : NULL;
    if (!dc || !dcd || !cum || !cumd || !dq || !ctot || !qtot || !nmb || !wtp || !icer ||
        (mc && (!be || !psave || !pce)) || (!mc && !be_exp))
      goto nomem;
    memcpy(wtp, m->wtp, K * sizeof *wtp);
    /* Replications split between threads (each writes its own rows); the sums for the ICER
     * after, in replication order, so their bits do not depend on the threads. */
#pragma omp parallel for schedule(static) if (R > 1) num_threads(fl_results_threads(res))
    for (size_t r = 0; r < R; r++) {
      double run = 0, rund = 0, total_c = 0, total_q = 0;
      long last_positive = -1;
      for (size_t t = 0; t < T; t++) {
        const size_t i = r * T + t;
        double net = 0, netd = 0;
        for (size_t b = 0; b < B; b++) {
          dc[i * B + b] = ac[i * B + b] - bc[i * B + b];
          dcd[i * B + b] = acd[i * B + b] - bcd[i * B + b];
          net += dc[i * B + b];
          netd += dcd[i * B + b];
        }
        run += net;
        rund += netd;
        cum[i] = run;
        cumd[i] = rund;
        dq[i] = (aq[i] - bq[i]) * step_years;
        total_c += netd;
        total_q += (aqd[i] - bqd[i]) * step_years;
        if (run > 0) last_positive = (long)t;
      }
      const double breakeven = last_positive + 1 < (long)T ? (double)(last_positive + 1) : -1;
      if (mc) be[r] = (int32_t)breakeven;
      else *be_exp = breakeven;
      ctot[r] = total_c;
      qtot[r] = total_q;
      for (size_t k = 0; k < K; k++) nmb[r * K + k] = m->wtp[k] * total_q - total_c;
    }
    double sum_c = 0, sum_q = 0;
    for (size_t r = 0; r < R; r++) {
      sum_c += ctot[r];
      sum_q += qtot[r];
    }
    *icer = sum_q != 0 ? sum_c / sum_q : (sum_c > 0 ? HUGE_VAL : sum_c < 0 ? -HUGE_VAL : NAN);
    if (mc) {
      for (size_t y = 0; y < Y; y++) {
        const size_t t = ((y + 1) * per_year < T ? (y + 1) * per_year : T) - 1;
        size_t n = 0;
        for (size_t r = 0; r < R; r++) n += cum[r * T + t] < 0;
        psave[y] = (double)n / (double)R;
      }
      for (size_t k = 0; k < K; k++) {
        size_t n = 0;
        for (size_t r = 0; r < R; r++) n += nmb[r * K + k] > 0;
        pce[k] = (double)n / (double)R;
      }
    }
  }
  return FL_OK;
nomem:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory comparing arms");
  return FL_ENOMEM;
}

/* One-way analysis of variance of y[R] in blocks of K replications that share their parameter
 * draw: the chance variance is the mean square within blocks, the parameter variance the part
 * of the between-block mean square it does not explain, (MS_between - MS_within) / K (0 when
 * negative). out: parameter variance, chance variance, parameter share of their sum. */
static void decompose(const double *y, size_t R, size_t K, double *out) {
  const size_t B = R / K;
  double mean = 0, ss_between = 0, ss_within = 0;
  for (size_t r = 0; r < R; r++) mean += y[r] / (double)R;
  for (size_t b = 0; b < B; b++) {
    double bm = 0;
    for (size_t k = 0; k < K; k++) bm += y[b * K + k] / (double)K;
    ss_between += (double)K * (bm - mean) * (bm - mean);
    for (size_t k = 0; k < K; k++) ss_within += (y[b * K + k] - bm) * (y[b * K + k] - bm);
  }
  const double ms_between = B > 1 ? ss_between / (double)(B - 1) : 0;
  const double ms_within = ss_within / (double)(B * (K - 1));
  out[0] = fmax(0.0, (ms_between - ms_within) / (double)K);
  out[1] = ms_within;
  out[2] = out[0] + out[1] > 0 ? out[0] / (out[0] + out[1]) : 0;
}

fl_status fl_results_decompose(fl_results *res, const fl_model *m, fl_error *err) {
  const size_t R = res->R, K = res->psa_inner, T = m->T, B = m->B, L = m->L;
  const size_t three = 3, d_l3[2] = {L, 3};
  double *y = NULL;
  if (res->expectation || !res->psa || K < 2) return FL_OK;
  if (!(y = fl_malloc_array(R, sizeof *y))) goto nomem;
  static const char *const doc = "Variance across replications split by parameter uncertainty "
                                 "(blocks of replications share a parameter draw): parameter "
                                 "variance, chance variance, parameter share.";
  for (size_t a = 0; a < res->n_arms; a++) {
    fl_arm_results *g = &res->arms[a];
    const double *cd = fl_results_find_const(res, a, "costs_discounted")->data;
    const double *qd = fl_results_find_const(res, a, "qol_discounted")->data;
    const fl_array *lv = fl_results_find_const(res, a, "stocks_by_level");
    double *c_out = add_f64(g, "variance_decomposition/total_cost", doc, 1, &three, 1);
    double *q_out = add_f64(g, "variance_decomposition/total_qalys", doc, 1, &three, 1);
    double *l_out = add_f64(g, "variance_decomposition/end_stock_by_level", doc, 2, d_l3, 1);
    if (!c_out || !q_out || !l_out) goto nomem;
    for (size_t r = 0; r < R; r++) {
      y[r] = 0;
      for (size_t i = 0; i < T * B; i++) y[r] += cd[r * T * B + i];
    }
    decompose(y, R, K, c_out);
    for (size_t r = 0; r < R; r++) {
      y[r] = 0;
      for (size_t t = 0; t < T; t++) y[r] += qd[r * T + t] * m->step_months / 12.0;
    }
    decompose(y, R, K, q_out);
    for (size_t l = 0; l < L; l++) {
      for (size_t r = 0; r < R; r++) y[r] = ((const int32_t *)lv->data)[(r * (T + 1) + T) * L + l];
      decompose(y, R, K, l_out + 3 * l);
    }
    if (a == 0) continue;
    fl_arm_results *cg = &res->comps[a];
    static const char *const names[2] = {"delta_cost_total", "delta_qaly_total"};
    for (int k = 0; k < 2; k++) {
      const fl_array *found = fl_group_find(cg, names[k]);
      const double *src = found ? found->data : NULL;
      double *out = add_f64(cg, k ? "variance_decomposition/delta_qaly_total"
                                  : "variance_decomposition/delta_cost_total",
                            doc, 1, &three, 1);
      if (!out || !src) goto nomem;
      decompose(src, R, K, out);
    }
  }
  free(y);
  return FL_OK;
nomem:
  free(y);
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory splitting the variance");
  return FL_ENOMEM;
}
