/* Paired comparisons of every arm with the baseline. All arms of a replication share every
 * child's random numbers, so arm - baseline differences are taken replication by replication:
 * where the savings land (costs by budget holder), when (cumulative net cost and break-even),
 * and whether it is worth it (QALYs, ICER, net monetary benefit). */
#include "internal.h"

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
    double sum_c = 0, sum_q = 0;
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
      sum_c += total_c;
      sum_q += total_q;
      for (size_t k = 0; k < K; k++) nmb[r * K + k] = m->wtp[k] * total_q - total_c;
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
