/* Paired comparisons of every arm with the baseline. All arms of a replication share every
 * child's random numbers, so arm - baseline differences are taken replication by replication:
 * where the savings land (costs by budget holder), when (cumulative net cost and break-even),
 * and whether it is worth it (QALYs, ICER, net monetary benefit). */
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The comparison of arm a with the baseline in replication r (r = 0 in expectation mode). */
static void compare_arm(const fl_results *res, size_t a, size_t r) {
  const fl_model *m = res->ctx.m;
  const size_t T = m->T, B = m->B, K = m->n_wtp;
  const double step_years = m->step_months / 12.0;
#define DATA(arm, id) ((double *)fl_results_get(res, arm, id)->data)
  const double *ac = DATA(a, FL_OUT_COSTS), *acd = DATA(a, FL_OUT_COSTS_DISCOUNTED);
  const double *aq = DATA(a, FL_OUT_QOL), *aqd = DATA(a, FL_OUT_QOL_DISCOUNTED);
  const double *bc = DATA(0, FL_OUT_COSTS), *bcd = DATA(0, FL_OUT_COSTS_DISCOUNTED);
  const double *bq = DATA(0, FL_OUT_QOL), *bqd = DATA(0, FL_OUT_QOL_DISCOUNTED);
  double *dc = DATA(a, FL_OUT_DELTA_COSTS), *dcd = DATA(a, FL_OUT_DELTA_COSTS_DISCOUNTED);
  double *cum = DATA(a, FL_OUT_CUMULATIVE_NET_COST);
  double *cumd = DATA(a, FL_OUT_CUMULATIVE_NET_COST_DISCOUNTED);
  double *dq = DATA(a, FL_OUT_DELTA_QALYS), *ctot = DATA(a, FL_OUT_DELTA_COST_TOTAL);
  double *qtot = DATA(a, FL_OUT_DELTA_QALY_TOTAL), *nmb = DATA(a, FL_OUT_NET_MONETARY_BENEFIT);
#undef DATA
  const fl_array *be = fl_results_get(res, a, FL_OUT_BREAKEVEN_STEP);
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
  if (be->type == FL_I32) ((int32_t *)be->data)[r] = (int32_t)breakeven;
  else ((double *)be->data)[r] = breakeven;
  ctot[r] = total_c;
  qtot[r] = total_q;
  for (size_t k = 0; k < K; k++) nmb[r * K + k] = m->wtp[k] * total_q - total_c;
}

void fl_results_compare_rep(const fl_results *res, size_t r) {
  for (size_t a = 1; a < res->n_arms; a++) compare_arm(res, a, r);
}

fl_status fl_results_compare(fl_results *res, fl_error *err) {
  fl_status st = fl_results_alloc_part(res, FL_STAGE_COMPARE, FL_PART_PER_REP, err);
  if (st != FL_OK) return st;
  fl_across *acc = fl_across_create(&res->ctx);
  if (!acc) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory comparing the arms");
    return FL_ENOMEM;
  }
  for (size_t r = 0; r < res->R; r++) {
    fl_results_compare_rep(res, r);
    fl_across_add(acc, res, r);
  }
  st = fl_across_finish(acc, res, err);
  fl_across_free(acc);
  return st;
}
