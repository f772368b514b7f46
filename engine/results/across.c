/* What comes from all replications together (results.h, fl_across): taken in replication by
 * replication, in order, so that the sums have the same bits whether the replications were
 * held all at once or streamed to the file a block at a time.
 *
 * The ICER is the ratio of the sums of the comparisons' total net costs and QALYs; the
 * probability of a saving by year and the acceptability curve count replications. The split
 * of the variance (under --psa with blocks of K = psa_inner replications sharing a parameter
 * draw) is a one-way analysis of variance of each series y (an arm's total discounted cost and
 * QALYs and its children in each level at the end; a comparison's net cost and QALYs): the
 * chance variance is the mean square within blocks, the parameter variance the part of the
 * between-block mean square it does not explain, (MS_between - MS_within) / K (0 when
 * negative). The within sums are taken as each block completes; the between sum needs the
 * overall mean, so each block's mean is kept until the end.
 *
 * The decision datasets look at all arms at once (results/decision.h): the frontier on the
 * mean discounted costs and QALYs of every arm against the baseline (the means of the
 * comparisons' totals, the baseline at 0), and under --psa the EVPI from the block means of
 * every arm's net monetary benefit (the baseline's 0) and, with --evppi, the EVPPI of a group
 * of the uncertainty section's parameters by regression on the block values kept here (each
 * block's parameters and every arm's block-mean NMB at each value of a QALY). */
#include "results/decision.h"
#include "results/results.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* One series of the variance split. */
typedef struct series {
  double mean;        /* sum of y / R so far */
  double ss_within;   /* sum over the completed blocks of (y - block mean)^2 */
  double *block_mean; /* [R / K] */
  double *pending;    /* [K] the values of the block under way */
} series;

/* The running sums of one comparison (arm a >= 1). */
typedef struct comparison {
  double sum_c, sum_q;
  size_t *saving_by_year; /* [years] replications with a net saving at the end of the year */
  size_t *cost_effective; /* [n_wtp] replications with a positive net monetary benefit */
} comparison;

struct fl_across {
  fl_output_ctx ctx;
  size_t R;  /* replications in all (1 in expectation mode) */
  size_t n;  /* replications taken in */
  size_t K;  /* replications a parameter draw (0: no split) */
  size_t years, per_year;
  comparison comp[FL_MAX_ARMS];
  size_t n_series;
  series *s; /* per arm: cost, QALYs, each level's children; per comparison: cost, QALYs */
  fl_evpi *evpi; /* under --psa */
  double *nmb;   /* [n_arms * n_wtp] one replication's net monetary benefits, for evpi */
  size_t P;      /* the --evppi group's parameters (0: none) */
  double *ev_x;  /* [blocks * P] their values in each block */
  double *ev_m;  /* [n_wtp][blocks][n_arms] block-mean NMB */
  double *ev_pending; /* [n_arms * n_wtp] sums over the block under way */
};

_Static_assert(FL_EVPPI_GROUP_MAX == FL_EVPPI_MAX, "the --evppi group and the estimator agree");

static size_t series_of_arm(const fl_across *acc) { return 2 + acc->ctx.m->L; }

fl_across *fl_across_create(const fl_output_ctx *ctx) {
  const fl_model *m = ctx->m;
  fl_across *acc = calloc(1, sizeof *acc);
  if (!acc) return NULL;
  acc->ctx = *ctx;
  acc->R = ctx->expectation ? 1 : ctx->R;
  acc->per_year = m->step_months >= 12 ? 1 : (size_t)llround(12.0 / m->step_months);
  acc->years = fl_dim_size(ctx, FL_DIM_YEAR, 0);
  int oom = 0;
  for (size_t a = 1; a < m->n_arms; a++) {
    acc->comp[a].saving_by_year = calloc(acc->years + 1, sizeof(size_t));
    acc->comp[a].cost_effective = calloc(m->n_wtp + 1, sizeof(size_t));
    oom |= !acc->comp[a].saving_by_year || !acc->comp[a].cost_effective;
  }
  if (!ctx->expectation && ctx->psa && ctx->psa_inner >= 2) {
    acc->K = ctx->psa_inner;
    acc->n_series = m->n_arms * series_of_arm(acc) + 2 * (m->n_arms - 1);
    acc->s = calloc(acc->n_series, sizeof *acc->s);
    oom |= !acc->s;
    for (size_t i = 0; !oom && i < acc->n_series; i++) {
      acc->s[i].block_mean = fl_malloc_array(ctx->R / acc->K + 1, sizeof(double));
      acc->s[i].pending = fl_malloc_array(acc->K, sizeof(double));
      oom |= !acc->s[i].block_mean || !acc->s[i].pending;
    }
  }
  if (!ctx->expectation && ctx->psa) {
    acc->evpi = fl_evpi_create(m->n_arms, m->n_wtp, ctx->psa_inner);
    acc->nmb = fl_calloc(m->n_arms * m->n_wtp + 1, sizeof(double));
    oom |= !acc->evpi || !acc->nmb;
    if (ctx->n_evppi) {
      const size_t blocks = ctx->R / ctx->psa_inner + 1, cells = m->n_arms * m->n_wtp;
      acc->P = ctx->n_evppi;
      acc->ev_x = fl_malloc_array(blocks * acc->P, sizeof(double));
      acc->ev_m = fl_malloc_array(blocks * cells, sizeof(double));
      acc->ev_pending = fl_calloc(cells + 1, sizeof(double));
      oom |= !acc->ev_x || !acc->ev_m || !acc->ev_pending;
    }
  }
  if (oom) {
    fl_across_free(acc);
    return NULL;
  }
  return acc;
}

void fl_across_free(fl_across *acc) {
  if (!acc) return;
  for (size_t a = 0; a < FL_MAX_ARMS; a++) {
    free(acc->comp[a].saving_by_year);
    free(acc->comp[a].cost_effective);
  }
  for (size_t i = 0; acc->s && i < acc->n_series; i++) {
    free(acc->s[i].block_mean);
    free(acc->s[i].pending);
  }
  free(acc->s);
  fl_evpi_free(acc->evpi);
  free(acc->nmb);
  free(acc->ev_x);
  free(acc->ev_m);
  free(acc->ev_pending);
  free(acc);
}

/* Takes value y of replication n (the acc->n-th) into series s. */
static void series_add(fl_across *acc, series *s, double y) {
  const size_t K = acc->K, k = acc->n % K, b = acc->n / K;
  s->mean += y / (double)acc->R;
  s->pending[k] = y;
  if (k + 1 < K) return;
  double bm = 0;
  for (size_t j = 0; j < K; j++) bm += s->pending[j] / (double)K;
  for (size_t j = 0; j < K; j++) s->ss_within += (s->pending[j] - bm) * (s->pending[j] - bm);
  s->block_mean[b] = bm;
}

/* The values of row r's series of the variance split, in their order, into acc. */
static void split_add(fl_across *acc, const fl_results *res, size_t r) {
  const fl_model *m = acc->ctx.m;
  const size_t T = m->T, B = m->B, L = m->L;
  series *s = acc->s;
  for (size_t a = 0; a < m->n_arms; a++) {
    const double *cd = fl_results_get(res, a, FL_OUT_COSTS_DISCOUNTED)->data;
    const double *qd = fl_results_get(res, a, FL_OUT_QOL_DISCOUNTED)->data;
    const int32_t *lv = fl_results_get(res, a, FL_OUT_STOCKS_BY_LEVEL)->data;
    double y = 0;
    for (size_t i = 0; i < T * B; i++) y += cd[r * T * B + i];
    series_add(acc, s++, y);
    y = 0;
    for (size_t t = 0; t < T; t++) y += qd[r * T + t] * m->step_months / 12.0;
    series_add(acc, s++, y);
    for (size_t l = 0; l < L; l++) series_add(acc, s++, lv[(r * (T + 1) + T) * L + l]);
  }
  for (size_t a = 1; a < m->n_arms; a++) {
    series_add(acc, s++, ((const double *)fl_results_get(res, a, FL_OUT_DELTA_COST_TOTAL)->data)[r]);
    series_add(acc, s++, ((const double *)fl_results_get(res, a, FL_OUT_DELTA_QALY_TOTAL)->data)[r]);
  }
}

/* Row r's part of the EVPPI's block values: the group's parameters (the same in every
 * replication of a block) and the NMB of every arm, averaged as each block completes. */
static void evppi_add(fl_across *acc, const fl_results *res, size_t r) {
  const fl_model *m = acc->ctx.m;
  const size_t A = m->n_arms, W = m->n_wtp, Kb = acc->ctx.psa_inner;
  const size_t k = acc->n % Kb, b = acc->n / Kb, B = acc->R / Kb;
  if (k == 0) {
    const double *drawn = fl_results_slice(res, 0, FL_OUT_PARAM_DRAWN, r);
    for (size_t p = 0; p < acc->P; p++) acc->ev_x[b * acc->P + p] = drawn[acc->ctx.evppi[p]];
  }
  for (size_t i = 0; i < A * W; i++) acc->ev_pending[i] += acc->nmb[i];
  if (k + 1 < Kb) return;
  for (size_t a = 0; a < A; a++)
    for (size_t w = 0; w < W; w++)
      acc->ev_m[(w * B + b) * A + a] = acc->ev_pending[a * W + w] / (double)Kb;
  memset(acc->ev_pending, 0, A * W * sizeof(double));
}

void fl_across_add(fl_across *acc, const fl_results *res, size_t r) {
  const fl_model *m = acc->ctx.m;
  const size_t T = m->T, K = m->n_wtp;
  for (size_t a = 1; a < m->n_arms; a++) {
    comparison *c = &acc->comp[a];
    const double *cum = fl_results_get(res, a, FL_OUT_CUMULATIVE_NET_COST)->data;
    const double *nmb = fl_results_get(res, a, FL_OUT_NET_MONETARY_BENEFIT)->data;
    c->sum_c += ((const double *)fl_results_get(res, a, FL_OUT_DELTA_COST_TOTAL)->data)[r];
    c->sum_q += ((const double *)fl_results_get(res, a, FL_OUT_DELTA_QALY_TOTAL)->data)[r];
    for (size_t y = 0; y < acc->years; y++) {
      const size_t t = ((y + 1) * acc->per_year < T ? (y + 1) * acc->per_year : T) - 1;
      c->saving_by_year[y] += cum[r * T + t] < 0;
    }
    for (size_t k = 0; k < K; k++) c->cost_effective[k] += nmb[r * K + k] > 0;
    if (acc->evpi) memcpy(acc->nmb + a * K, nmb + r * K, K * sizeof(double));
  }
  if (acc->evpi) fl_evpi_add(acc->evpi, acc->nmb); /* (the baseline's row stays 0) */
  if (acc->P) evppi_add(acc, res, r);
  if (acc->K) split_add(acc, res, r);
  acc->n++;
}

/* Series s's split into out: parameter variance, chance variance, parameter share. */
static void split_finish(const fl_across *acc, const series *s, double *out) {
  const size_t K = acc->K, B = acc->R / K;
  double ss_between = 0;
  for (size_t b = 0; b < B; b++)
    ss_between += (double)K * (s->block_mean[b] - s->mean) * (s->block_mean[b] - s->mean);
  const double ms_between = B > 1 ? ss_between / (double)(B - 1) : 0;
  const double ms_within = s->ss_within / (double)(B * (K - 1));
  out[0] = fmax(0.0, (ms_between - ms_within) / (double)K);
  out[1] = ms_within;
  out[2] = out[0] + out[1] > 0 ? out[0] / (out[0] + out[1]) : 0;
}

#define DATA(res, a, id) ((double *)fl_results_get(res, a, id)->data)

/* The decision datasets of whole: the frontier on the means, and the EVPI. */
static void decide(const fl_across *acc, fl_results *whole) {
  const fl_model *m = acc->ctx.m;
  const size_t A = m->n_arms;
  double *dc = DATA(whole, 0, FL_OUT_FRONTIER_DELTA_COST);
  double *dq = DATA(whole, 0, FL_OUT_FRONTIER_DELTA_QALYS);
  int status[FL_MAX_ARMS], by[FL_MAX_ARMS];
  dc[0] = dq[0] = 0;
  for (size_t a = 1; a < A; a++) {
    dc[a] = acc->comp[a].sum_c / (double)acc->R;
    dq[a] = acc->comp[a].sum_q / (double)acc->R;
  }
  fl_frontier(A, dc, dq, status, by, DATA(whole, 0, FL_OUT_FRONTIER_ICER));
  const fl_array *st = fl_results_get(whole, 0, FL_OUT_FRONTIER_STATUS);
  const fl_array *db = fl_results_get(whole, 0, FL_OUT_FRONTIER_DOMINATED_BY);
  for (size_t a = 0; a < A; a++) {
    if (st->type == FL_I32) {
      ((int32_t *)st->data)[a] = status[a];
      ((int32_t *)db->data)[a] = by[a];
    } else {
      ((double *)st->data)[a] = status[a];
      ((double *)db->data)[a] = by[a];
    }
  }
  if (acc->evpi) fl_evpi_finish(acc->evpi, DATA(whole, 0, FL_OUT_EVPI));
}

fl_status fl_across_finish(fl_across *acc, fl_results *whole, fl_error *err) {
  const fl_model *m = acc->ctx.m;
  const size_t R = acc->R, K = m->n_wtp, L = m->L;
  fl_status st = fl_results_alloc_part(whole, FL_STAGE_COMPARE, FL_PART_WHOLE, err);
  if (st == FL_OK) st = fl_results_alloc_part(whole, FL_STAGE_DECOMPOSE, FL_PART_WHOLE, err);
  if (st == FL_OK) st = fl_results_alloc_part(whole, FL_STAGE_DECISION, FL_PART_WHOLE, err);
  if (st != FL_OK) return st;
  if (acc->n != R) {
    fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL,
                 "%zu of %zu replications were summarised", acc->n, R);
    return FL_EINTERNAL;
  }
  for (size_t a = 1; a < m->n_arms; a++) {
    const comparison *c = &acc->comp[a];
    memcpy(DATA(whole, a, FL_OUT_WILLINGNESS_TO_PAY), m->wtp, K * sizeof(double));
    *DATA(whole, a, FL_OUT_ICER) = c->sum_q != 0 ? c->sum_c / c->sum_q
                                   : c->sum_c > 0 ? HUGE_VAL
                                   : c->sum_c < 0 ? -HUGE_VAL
                                                  : NAN;
    const fl_array *psave = fl_results_get(whole, a, FL_OUT_P_SAVING_BY_YEAR);
    const fl_array *pce = fl_results_get(whole, a, FL_OUT_P_COST_EFFECTIVE);
    for (size_t y = 0; psave && y < psave->dims[0]; y++)
      ((double *)psave->data)[y] = (double)c->saving_by_year[y] / (double)R;
    for (size_t k = 0; pce && k < K; k++)
      ((double *)pce->data)[k] = (double)c->cost_effective[k] / (double)R;
  }
  decide(acc, whole);
  if (acc->P) {
    const size_t B = R / acc->ctx.psa_inner;
    double *out = DATA(whole, 0, FL_OUT_EVPPI);
    for (size_t w = 0; w < K; w++) {
      const int rc = fl_evppi(B, m->n_arms, acc->P, acc->ev_x, acc->ev_m + w * B * m->n_arms,
                              &out[w]);
      if (rc != 0) {
        fl_error_set(err, rc == -2 ? FL_ENOMEM : FL_EINTERNAL, NULL, 0, 0, "--evppi",
                     rc == -2 ? "out of memory fitting the EVPPI regression"
                              : "too few parameter draws for the EVPPI regression");
        return rc == -2 ? FL_ENOMEM : FL_EINTERNAL;
      }
    }
  }
  if (!acc->K) return FL_OK;
  const series *s = acc->s;
  for (size_t a = 0; a < m->n_arms; a++) {
    split_finish(acc, s++, DATA(whole, a, FL_OUT_VD_TOTAL_COST));
    split_finish(acc, s++, DATA(whole, a, FL_OUT_VD_TOTAL_QALYS));
    for (size_t l = 0; l < L; l++)
      split_finish(acc, s++, DATA(whole, a, FL_OUT_VD_END_STOCK_BY_LEVEL) + 3 * l);
  }
  for (size_t a = 1; a < m->n_arms; a++) {
    split_finish(acc, s++, DATA(whole, a, FL_OUT_VD_DELTA_COST_TOTAL));
    split_finish(acc, s++, DATA(whole, a, FL_OUT_VD_DELTA_QALY_TOTAL));
  }
  return FL_OK;
}
