/* Sensitivity measures of a sweep's results to its parameters: partial rank correlations on
 * sampled designs; main effects and two-way tables on grids (points in C order, the last
 * parameter varying fastest). */
#ifndef FL_SENSITIVITY_H
#define FL_SENSITIVITY_H

#include "core/core.h"

/* Partial rank correlation coefficients (Blower and Dowlatabadi 1994): rank every parameter
 * and the output, remove from the ranks of parameter k and of the output what the other
 * parameters' ranks explain linearly, and correlate what is left. A plan holds what depends
 * on the design alone, so that many outputs (a result and its bootstrap resamples) cost one
 * projection each. */
typedef struct fl_prcc_plan {
  size_t P, K, r; /* points, parameters, dimension of the span of 1 and the parameters' ranks */
  double *ex;     /* [K * P] residual of parameter k's ranks on the others' (and 1) */
  double *sxx;    /* [K] its sum of squares */
  double *q;      /* [r * P] orthonormal basis of the span, column by column */
  struct fl_ranked *tmp; /* workspace */
  double *ry, *e;
} fl_prcc_plan;

#define FL_PRCC_MAX_PARAMS 64
/* x: [P, K] parameter values, P > K + 1, K <= FL_PRCC_MAX_PARAMS. */
fl_status fl_prcc_plan_init(fl_prcc_plan *pl, const double *x, size_t P, size_t K,
                            fl_error *err);
/* PRCC of y[p * stride] with each parameter into out[K]: NaN where a parameter's ranks are
 * explained by the others' (a constant parameter), 0 where the output's ranks are explained
 * entirely by the other parameters. */
void fl_prcc_eval(fl_prcc_plan *pl, const double *y, size_t stride, double *out);
void fl_prcc_plan_free(fl_prcc_plan *pl);
/* The PRCC of y with each column of x[P, K] (ties get average ranks); out[k] is NaN where it
 * cannot be computed (P <= K + 1 or a constant column). */
fl_status fl_prcc(const double *x, const double *y, size_t P, size_t K, double *out,
                  fl_error *err);

/* Main effect of parameter k on a grid of levels[0..K) values: the mean of y over the points
 * at each of the parameter's values; returns its range (max - min), the tornado bar, and
 * sets the values with the highest and the lowest mean. */
double fl_main_effect_range(const size_t *levels, size_t K, const double *y, size_t k,
                            size_t *i_hi, size_t *i_lo);
/* The two-way table of y over grid parameters a < b: its mean over the other parameters at
 * each pair of values, out[ia * levels[b] + ib]. */
void fl_two_way(const size_t *levels, size_t K, const double *y, size_t a, size_t b,
                double *out);

/* Variance-based (Sobol) first-order and total indices of each parameter from a Saltelli
 * design (fl_sweep_design): y in blocks of K + 2 per base row (f_A, f_B, f_AB1..f_ABK). rows:
 * the N base rows to use (a bootstrap resample; NULL: 0 .. N-1). A constant result gets 0. */
void fl_sobol_indices(const double *y, size_t N, size_t K, const uint32_t *rows, double *first,
                      double *total);

#endif
