/* Paired comparisons of every arm with the baseline. All arms of a replication share every
 * child's random numbers, so arm - baseline differences are taken replication by replication:
 * where the savings land (costs by budget holder), when (cumulative net cost and break-even),
 * and whether it is worth it (QALYs, ICER, net monetary benefit). */
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The comparison of arm a with the baseline in replication r (r = 0 in expectation mode). */
static void compare_replication(const fl_results *res, size_t a, size_t r) {
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

/* What comes from all replications of arm a's comparison: the ICER (from sums taken in
 * replication order, so their bits do not depend on the threads) and, in Monte Carlo results,
 * the probability of a net saving by year and the acceptability curve. */
static void compare_across(const fl_results *res, size_t a) {
  const fl_model *m = res->ctx.m;
  const size_t R = res->R, T = m->T, K = m->n_wtp;
  const double *ctot = fl_results_get(res, a, FL_OUT_DELTA_COST_TOTAL)->data;
  const double *qtot = fl_results_get(res, a, FL_OUT_DELTA_QALY_TOTAL)->data;
  const double *cum = fl_results_get(res, a, FL_OUT_CUMULATIVE_NET_COST)->data;
  const double *nmb = fl_results_get(res, a, FL_OUT_NET_MONETARY_BENEFIT)->data;
  double *wtp = fl_results_get(res, a, FL_OUT_WILLINGNESS_TO_PAY)->data;
  double *icer = fl_results_get(res, a, FL_OUT_ICER)->data;
  const fl_array *psave = fl_results_get(res, a, FL_OUT_P_SAVING_BY_YEAR);
  const fl_array *pce = fl_results_get(res, a, FL_OUT_P_COST_EFFECTIVE);
  memcpy(wtp, m->wtp, K * sizeof *wtp);
  double sum_c = 0, sum_q = 0;
  for (size_t r = 0; r < R; r++) {
    sum_c += ctot[r];
    sum_q += qtot[r];
  }
  *icer = sum_q != 0 ? sum_c / sum_q : (sum_c > 0 ? HUGE_VAL : sum_c < 0 ? -HUGE_VAL : NAN);
  if (psave) {
    const size_t per_year = m->step_months >= 12 ? 1 : (size_t)llround(12.0 / m->step_months);
    for (size_t y = 0; y < psave->dims[0]; y++) {
      const size_t t = ((y + 1) * per_year < T ? (y + 1) * per_year : T) - 1;
      size_t n = 0;
      for (size_t r = 0; r < R; r++) n += cum[r * T + t] < 0;
      ((double *)psave->data)[y] = (double)n / (double)R;
    }
  }
  if (pce)
    for (size_t k = 0; k < K; k++) {
      size_t n = 0;
      for (size_t r = 0; r < R; r++) n += nmb[r * K + k] > 0;
      ((double *)pce->data)[k] = (double)n / (double)R;
    }
}

fl_status fl_results_compare(fl_results *res, fl_error *err) {
  const size_t R = res->R;
  fl_status st = fl_results_alloc(res, FL_STAGE_COMPARE, err);
  if (st != FL_OK) return st;
  for (size_t a = 1; a < res->n_arms; a++) {
    /* Replications split between threads (each writes its own rows). */
#pragma omp parallel for schedule(static) if (R > 1) num_threads(fl_results_threads(res))
    for (size_t r = 0; r < R; r++) compare_replication(res, a, r);
    compare_across(res, a);
  }
  return FL_OK;
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

fl_status fl_results_decompose(fl_results *res, fl_error *err) {
  const fl_model *m = res->ctx.m;
  const size_t R = res->R, K = res->psa_inner, T = m->T, B = m->B, L = m->L;
  if (res->expectation || !res->psa || K < 2) return FL_OK;
  fl_status st = fl_results_alloc(res, FL_STAGE_DECOMPOSE, err);
  double *y = st == FL_OK ? fl_malloc_array(R, sizeof *y) : NULL;
  if (st != FL_OK) return st;
  if (!y) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory splitting the variance");
    return FL_ENOMEM;
  }
  for (size_t a = 0; a < res->n_arms; a++) {
    const double *cd = fl_results_get(res, a, FL_OUT_COSTS_DISCOUNTED)->data;
    const double *qd = fl_results_get(res, a, FL_OUT_QOL_DISCOUNTED)->data;
    const int32_t *lv = fl_results_get(res, a, FL_OUT_STOCKS_BY_LEVEL)->data;
    for (size_t r = 0; r < R; r++) {
      y[r] = 0;
      for (size_t i = 0; i < T * B; i++) y[r] += cd[r * T * B + i];
    }
    decompose(y, R, K, fl_results_get(res, a, FL_OUT_VD_TOTAL_COST)->data);
    for (size_t r = 0; r < R; r++) {
      y[r] = 0;
      for (size_t t = 0; t < T; t++) y[r] += qd[r * T + t] * m->step_months / 12.0;
    }
    decompose(y, R, K, fl_results_get(res, a, FL_OUT_VD_TOTAL_QALYS)->data);
    double *l_out = fl_results_get(res, a, FL_OUT_VD_END_STOCK_BY_LEVEL)->data;
    for (size_t l = 0; l < L; l++) {
      for (size_t r = 0; r < R; r++) y[r] = lv[(r * (T + 1) + T) * L + l];
      decompose(y, R, K, l_out + 3 * l);
    }
    if (a == 0) continue;
    decompose(fl_results_get(res, a, FL_OUT_DELTA_COST_TOTAL)->data, R, K,
              fl_results_get(res, a, FL_OUT_VD_DELTA_COST_TOTAL)->data);
    decompose(fl_results_get(res, a, FL_OUT_DELTA_QALY_TOTAL)->data, R, K,
              fl_results_get(res, a, FL_OUT_VD_DELTA_QALY_TOTAL)->data);
  }
  free(y);
  return FL_OK;
}
