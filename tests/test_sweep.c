/* Sweep designs and sensitivity measures: the Latin hypercube puts exactly one point in each
 * stratum of every parameter; the grid is complete and in C order; Sobol points stay in their
 * bounds and fill the space evenly; partial rank correlations are +-1 for a result that is a
 * monotone function of one parameter, 0 for parameters it ignores, and within Monte Carlo
 * error of 0 for an independent parameter when the result is noisy; grid main effects and
 * two-way tables equal averages computed by hand; Sobol indices from Saltelli's design
 * match analytic values. */
#include "testutil.h"

#include "core/rng.h"
#include "analysis/sensitivity.h"
#include "analysis/sweep.h"

#include <math.h>
#include <stdlib.h>

static void test_lhs_strata(void) {
  fl_sweep_options opt = {0};
  fl_error err = {0};
  double *v = NULL;
  opt.n_params = 3;
  opt.design = FL_DESIGN_LHS;
  opt.points = 97;
  opt.run.seed = 5;
  for (size_t k = 0; k < 3; k++) opt.params[k] = (fl_sweep_param){"x", -1.0 + (double)k, 2.0 + 3.0 * (double)k, 0};
  size_t P = fl_sweep_design(&opt, &v, &err);
  CHECK_INT_EQ((long)P, 97);
  for (size_t k = 0; k < 3; k++) {
    int seen[97] = {0};
    const double lo = opt.params[k].lo, hi = opt.params[k].hi;
    for (size_t p = 0; p < P; p++) {
      double u = (v[p * 3 + k] - lo) / (hi - lo);
      CHECK(u >= 0 && u < 1);
      size_t s = (size_t)(u * 97);
      if (s < 97) seen[s]++;
    }
    int once = 1;
    for (size_t s = 0; s < 97; s++) once &= seen[s] == 1;
    CHECK(once);
  }
  /* The same seed gives the same design; another seed another one. */
  double *w = NULL;
  fl_sweep_design(&opt, &w, &err);
  CHECK(!memcmp(v, w, P * 3 * sizeof *v));
  free(w);
  opt.run.seed = 6;
  fl_sweep_design(&opt, &w, &err);
  CHECK(memcmp(v, w, P * 3 * sizeof *v) != 0);
  free(w);
  free(v);
}

static void test_grid(void) {
  fl_sweep_options opt = {0};
  fl_error err = {0};
  double *v = NULL;
  opt.n_params = 2;
  opt.params[0] = (fl_sweep_param){"a", 0.0, 1.0, 3};
  opt.params[1] = (fl_sweep_param){"b", 10.0, 20.0, 2};
  size_t P = fl_sweep_design(&opt, &v, &err);
  const double want[6][2] = {{0, 10}, {0, 20}, {0.5, 10}, {0.5, 20}, {1, 10}, {1, 20}};
  CHECK_INT_EQ((long)P, 6);
  for (size_t p = 0; p < 6; p++) {
    CHECK_DBL_NEAR(v[2 * p], want[p][0], 0.0);
    CHECK_DBL_NEAR(v[2 * p + 1], want[p][1], 0.0);
  }
  free(v);
  opt.params[0].levels = 0;
  CHECK_INT_EQ((long)fl_sweep_design(&opt, &v, &err), 0);
  CHECK_INT_EQ(err.code, FL_EUSAGE);
}

static void test_sobol(void) {
  fl_sweep_options opt = {0};
  fl_error err = {0};
  double *v = NULL;
  opt.n_params = 2;
  opt.design = FL_DESIGN_SOBOL;
  opt.points = 256;
  opt.params[0] = (fl_sweep_param){"a", 0.0, 1.0, 0};
  opt.params[1] = (fl_sweep_param){"b", 0.0, 1.0, 0};
  size_t P = fl_sweep_design(&opt, &v, &err);
  CHECK_INT_EQ((long)P, 256);
  /* Low discrepancy: GSL's sequence leaves out the origin, so its first 256 points are the
   * 256-point net with the origin swapped for point 256; every sixteenth of either axis holds
   * 16 of them, give or take that one point (random points would spread as 16 +- 4). */
  int rows[16] = {0}, cols[16] = {0};
  for (size_t p = 0; p < P; p++) {
    CHECK(v[2 * p] >= 0 && v[2 * p] < 1 && v[2 * p + 1] >= 0 && v[2 * p + 1] < 1);
    rows[(int)(v[2 * p] * 16)]++;
    cols[(int)(v[2 * p + 1] * 16)]++;
  }
  int even = 1;
  for (int i = 0; i < 16; i++) even &= abs(rows[i] - 16) <= 1 && abs(cols[i] - 16) <= 1;
  CHECK(even);
  free(v);
}

static void test_prcc(void) {
  const size_t P = 400, K = 3;
  double *x = malloc(P * K * sizeof *x), *y = malloc(P * sizeof *y), out[3];
  fl_error err = {0};
  fl_rng r;
  fl_rng_seed(&r, 42, 7);
  for (size_t i = 0; i < P * K; i++) x[i] = fl_rng_uniform(&r);

  /* A monotone function of parameter 1 alone. */
  for (size_t p = 0; p < P; p++) y[p] = -exp(3 * x[p * K + 1]);
  CHECK_INT_EQ(fl_prcc(x, y, P, K, out, &err), FL_OK);
  CHECK_DBL_NEAR(out[1], -1.0, 1e-9);
  CHECK_DBL_NEAR(out[0], 0.0, 0.0);
  CHECK_DBL_NEAR(out[2], 0.0, 0.0);

  /* A noisy result of parameters 0 and 2: parameter 1's correlation is chance only. On the
   * Fisher z scale its standard error is 1/sqrt(P - K - 2) (partial correlation with K - 1
   * others held); 4.5 standard errors. Parameters 0 and 2 must come out clearly positive and
   * negative. */
  for (size_t p = 0; p < P; p++)
    y[p] = x[p * K] - 0.5 * x[p * K + 2] + 0.3 * (fl_rng_uniform(&r) - 0.5);
  CHECK_INT_EQ(fl_prcc(x, y, P, K, out, &err), FL_OK);
  CHECK(fabs(atanh(out[1])) < 4.5 / sqrt((double)(P - K - 2)));
  CHECK(out[0] > 0.9 && out[2] < -0.7);

  /* A constant parameter gets NaN and changes nothing for the others: the PRCCs of (x0, x2)
   * with a constant column between them are those of (x0, x2) alone. */
  {
    double *x3 = malloc(P * K * sizeof *x3), *x2 = malloc(P * 2 * sizeof *x2), two[2];
    for (size_t p = 0; p < P; p++) {
      x3[p * K] = x2[p * 2] = x[p * K];
      x3[p * K + 1] = 0.5;
      x3[p * K + 2] = x2[p * 2 + 1] = x[p * K + 2];
    }
    for (size_t n = 10; n <= 70; n += 12) { /* small designs, where it went wrong */
      CHECK_INT_EQ(fl_prcc(x3, y, n, K, out, &err), FL_OK);
      CHECK_INT_EQ(fl_prcc(x2, y, n, 2, two, &err), FL_OK);
      CHECK(isnan(out[1]));
      CHECK_DBL_NEAR(out[0], two[0], 1e-9);
      CHECK_DBL_NEAR(out[2], two[1], 1e-9);
    }
    free(x3);
    free(x2);
  }

  /* Too few points: NaN. */
  CHECK_INT_EQ(fl_prcc(x, y, K + 1, K, out, &err), FL_OK);
  CHECK(isnan(out[0]) && isnan(out[1]) && isnan(out[2]));
  free(x);
  free(y);
}

/* Main effects and two-way tables on a 3 x 2 x 4 grid of an additive function with one
 * interaction, y = a^2 + 10 b + c + a c: each is what averaging by hand gives. */
static void test_grid_measures(void) {
  const size_t levels[3] = {3, 2, 4}, P = 24;
  double y[24], tw[12];
  for (size_t p = 0; p < P; p++) {
    const double a = (double)(p / 8), b = (double)((p / 4) % 2), c = (double)(p % 4);
    y[p] = a * a + 10 * b + c + a * c;
  }
  size_t hi, lo;
  /* a: mean over b, c of a^2 + 10 b + c + a c = a^2 + 5 + 1.5 + 1.5 a: 6.5, 9, 13.5. */
  CHECK_DBL_NEAR(fl_main_effect_range(levels, 3, y, 0, &hi, &lo), 7.0, 1e-12);
  CHECK(hi == 2 && lo == 0);
  CHECK_DBL_NEAR(fl_main_effect_range(levels, 3, y, 1, &hi, &lo), 10.0, 1e-12);
  CHECK(hi == 1 && lo == 0);
  /* c: mean over a, b of c + a c + ... = c (1 + mean a) + const: range 3 * 2 = 6. */
  CHECK_DBL_NEAR(fl_main_effect_range(levels, 3, y, 2, &hi, &lo), 6.0, 1e-12);
  /* Two-way over (a, c), averaged over b: a^2 + 5 + c + a c. */
  fl_two_way(levels, 3, y, 0, 2, tw);
  int ok = 1;
  for (size_t a = 0; a < 3; a++)
    for (size_t c = 0; c < 4; c++)
      ok &= fabs(tw[a * 4 + c] - ((double)(a * a) + 5.0 + (double)c + (double)(a * c))) < 1e-12;
  CHECK(ok);
}

/* Sobol indices from Saltelli's design against analytic values for parameters uniform on
 * [0, 1]: y = x1 + 2 x2 (+ 0 x3) has S = ST = (1/5, 4/5, 0); y = x1 x2 has S_1 = S_2 = 3/7 and
 * ST_1 = ST_2 = 4/7 (V = 7/144, V_1 = 1/48). With 4,096 quasi-random base rows the estimates
 * are within 0.02; a parameter the result ignores gets exactly 0. */
static void test_sobol_indices(void) {
  fl_sweep_options opt = {0};
  fl_error err = {0};
  double *v = NULL, first[3], total[3];
  const size_t K = 3, N = 4096;
  opt.n_params = K;
  opt.design = FL_DESIGN_SALTELLI;
  opt.points = N;
  for (size_t k = 0; k < K; k++) opt.params[k] = (fl_sweep_param){"x", 0.0, 1.0, 0};
  const size_t P = fl_sweep_design(&opt, &v, &err);
  CHECK_INT_EQ((long)P, (long)(N * (K + 2)));
  /* Block structure: A, B, then A with column k from B. */
  int blocks_ok = 1;
  for (size_t i = 0; i < N; i++) {
    const double *a = v + i * (K + 2) * K, *b = a + K;
    for (size_t k = 0; k < K; k++)
      for (size_t j = 0; j < K; j++) blocks_ok &= a[(2 + k) * K + j] == (j == k ? b[j] : a[j]);
  }
  CHECK(blocks_ok);
  double *y = malloc(P * sizeof *y);
  for (size_t p = 0; p < P; p++) y[p] = v[p * K] + 2 * v[p * K + 1];
  fl_sobol_indices(y, N, K, NULL, first, total);
  CHECK_DBL_NEAR(first[0], 0.2, 0.02);
  CHECK_DBL_NEAR(first[1], 0.8, 0.02);
  CHECK_DBL_NEAR(total[0], 0.2, 0.02);
  CHECK_DBL_NEAR(total[1], 0.8, 0.02);
  CHECK_DBL_NEAR(first[2], 0.0, 0.0);
  CHECK_DBL_NEAR(total[2], 0.0, 0.0);
  for (size_t p = 0; p < P; p++) y[p] = v[p * K] * v[p * K + 1];
  fl_sobol_indices(y, N, K, NULL, first, total);
  CHECK_DBL_NEAR(first[0], 3.0 / 7.0, 0.02);
  CHECK_DBL_NEAR(first[1], 3.0 / 7.0, 0.02);
  CHECK_DBL_NEAR(total[0], 4.0 / 7.0, 0.02);
  CHECK_DBL_NEAR(total[1], 4.0 / 7.0, 0.02);
  CHECK_DBL_NEAR(total[2], 0.0, 0.0);
  free(y);
  free(v);
}

int main(void) {
  test_lhs_strata();
  test_grid();
  test_sobol();
  test_prcc();
  test_grid_measures();
  test_sobol_indices();
  return check_finish("sweep");
}
