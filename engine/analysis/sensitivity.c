/* Sensitivity measures of sweeps (see sensitivity.h). */
#include "analysis/sensitivity.h"

#include <float.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static fl_status oom(fl_error *err) {
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  return FL_ENOMEM;
}

/* Average ranks (1-based) of v[i * stride], ties sharing the mean of their ranks. */
typedef struct fl_ranked {
  double v;
  size_t i;
} ranked;

static int cmp_ranked(const void *a, const void *b) {
  const ranked *x = a, *y = b;
  return x->v < y->v ? -1 : x->v > y->v ? 1 : (x->i > y->i) - (x->i < y->i);
}

static void ranks(const double *v, size_t stride, size_t P, ranked *tmp, double *out) {
  for (size_t i = 0; i < P; i++) tmp[i] = (ranked){v[i * stride], i};
  qsort(tmp, P, sizeof *tmp, cmp_ranked);
  for (size_t i = 0; i < P;) {
    size_t j = i;
    while (j + 1 < P && tmp[j + 1].v == tmp[i].v) j++;
    for (size_t t = i; t <= j; t++) out[tmp[t].i] = 0.5 * (double)(i + j) + 1.0;
    i = j + 1;
  }
}

/* Residuals of y on [1, the columns k of X with use[k]] by least squares (GSL's SVD solver).
 * Constant columns must be left out by the caller: collinear with the 1, they pass GSL's rank
 * test and spoil the residuals. */
static int residuals(const gsl_matrix *X, const unsigned char *use, const double *y, size_t P,
                     double *res) {
  size_t n = 1;
  for (size_t k = 0; k < X->size2; k++) n += use[k];
  gsl_matrix *A = gsl_matrix_alloc(P, n);
  gsl_vector *b = gsl_vector_alloc(P), *c = gsl_vector_alloc(n), *r = gsl_vector_alloc(P);
  gsl_matrix *cov = gsl_matrix_alloc(n, n);
  gsl_multifit_linear_workspace *w = gsl_multifit_linear_alloc(P, n);
  int ok = A && b && c && r && cov && w;
  if (ok) {
    for (size_t i = 0; i < P; i++) {
      gsl_matrix_set(A, i, 0, 1.0);
      for (size_t k = 0, col = 1; k < X->size2; k++)
        if (use[k]) gsl_matrix_set(A, i, col++, gsl_matrix_get(X, i, k));
      gsl_vector_set(b, i, y[i]);
    }
    double chisq;
    ok = gsl_multifit_linear(A, b, c, cov, &chisq, w) == 0 &&
         gsl_multifit_linear_residuals(A, b, c, r) == 0;
    for (size_t i = 0; ok && i < P; i++) res[i] = gsl_vector_get(r, i);
  }
  gsl_multifit_linear_free(w);
  gsl_matrix_free(cov);
  gsl_vector_free(r);
  gsl_vector_free(c);
  gsl_vector_free(b);
  gsl_matrix_free(A);
  return ok;
}

/* The parameters' side depends on the design only, so a plan computes it once: ex_k, the
 * residual of parameter k's ranks on the others' (and 1), and an orthonormal basis Q of the
 * span of 1 and all the parameters' ranks. Because that span is the span without k plus the
 * direction ex_k, orthogonally, the output's residual without k is e + (sxy / sxx) ex_k, where
 * e is its residual on the whole span and sxy = ex_k . ry. So for each output (the result,
 * and each bootstrap resample of it) one projection serves every parameter:
 * PRCC_k = sxy / sqrt(sxx (|e|^2 + sxy^2 / sxx)). */

void fl_prcc_plan_free(fl_prcc_plan *pl) {
  free(pl->ex);
  free(pl->sxx);
  free(pl->q);
  free(pl->tmp);
  free(pl->ry);
  free(pl->e);
}

fl_status fl_prcc_plan_init(fl_prcc_plan *pl, const double *x, size_t P, size_t K,
                            fl_error *err) {
  memset(pl, 0, sizeof *pl);
  if (K > FL_PRCC_MAX_PARAMS) {
    fl_error_set(err, FL_EUSAGE, NULL, 0, 0, NULL, "PRCC takes at most %d parameters",
                 FL_PRCC_MAX_PARAMS);
    return FL_EUSAGE;
  }
  pl->P = P;
  pl->K = K;
  pl->ex = malloc(K * P * sizeof *pl->ex);
  pl->sxx = malloc(K * sizeof *pl->sxx);
  pl->q = malloc((K + 1) * P * sizeof *pl->q);
  pl->tmp = malloc(P * sizeof *pl->tmp);
  pl->ry = malloc(P * sizeof *pl->ry);
  pl->e = malloc(P * sizeof *pl->e);
  gsl_matrix *X = gsl_matrix_alloc(P, K), *A = gsl_matrix_alloc(P, K + 1);
  gsl_matrix *V = gsl_matrix_alloc(K + 1, K + 1);
  gsl_vector *S = gsl_vector_alloc(K + 1), *work = gsl_vector_alloc(K + 1);
  fl_status st = FL_OK;
  if (!pl->ex || !pl->sxx || !pl->q || !pl->tmp || !pl->ry || !pl->e || !X || !A || !V || !S ||
      !work) {
    st = oom(err);
    goto out;
  }
  for (size_t k = 0; k < K; k++) {
    ranks(x + k, K, P, pl->tmp, pl->ry);
    for (size_t i = 0; i < P; i++) {
      gsl_matrix_set(X, i, k, pl->ry[i]);
      gsl_matrix_set(A, i, k + 1, pl->ry[i]);
    }
  }
  /* A constant parameter (lo = hi) has equal ranks everywhere: it explains nothing, gets
   * NaN, and is left out of the others' regressions. */
  unsigned char use[FL_PRCC_MAX_PARAMS];
  for (size_t k = 0; k < K; k++) {
    use[k] = 0;
    for (size_t i = 1; i < P && !use[k]; i++)
      use[k] = gsl_matrix_get(X, i, k) != gsl_matrix_get(X, 0, k);
  }
  gsl_error_handler_t *old = gsl_set_error_handler_off();
  for (size_t k = 0; k < K; k++) {
    double *ex = pl->ex + k * P, s = 0;
    const unsigned char was = use[k];
    for (size_t i = 0; i < P; i++) pl->e[i] = gsl_matrix_get(X, i, k);
    use[k] = 0;
    if (!was || !residuals(X, use, pl->e, P, ex)) {
      for (size_t i = 0; i < P; i++) ex[i] = 0; /* no partial correlation: NaN below */
    }
    use[k] = was;
    for (size_t i = 0; i < P; i++) s += ex[i] * ex[i];
    pl->sxx[k] = s;
  }
  for (size_t i = 0; i < P; i++) gsl_matrix_set(A, i, 0, 1.0);
  if (gsl_linalg_SV_decomp(A, V, S, work) != 0) {
    gsl_set_error_handler(old);
    fl_error_set(err, FL_EINTERNAL, NULL, 0, 0, NULL, "sweep: the rank design has no SVD");
    st = FL_EINTERNAL;
    goto out;
  }
  gsl_set_error_handler(old);
  /* Columns of U with non-negligible singular values span the design. */
  const double tol = gsl_vector_get(S, 0) * (double)(P + K + 1) * DBL_EPSILON;
  for (size_t j = 0; j <= K; j++)
    if (gsl_vector_get(S, j) > tol) {
      for (size_t i = 0; i < P; i++) pl->q[pl->r * P + i] = gsl_matrix_get(A, i, j);
      pl->r++;
    }
out:
  gsl_vector_free(work);
  gsl_vector_free(S);
  gsl_matrix_free(V);
  gsl_matrix_free(A);
  gsl_matrix_free(X);
  if (st != FL_OK) fl_prcc_plan_free(pl);
  return st;
}

void fl_prcc_eval(fl_prcc_plan *pl, const double *y, size_t stride, double *out) {
  const size_t P = pl->P;
  double ee = 0;
  ranks(y, stride, P, pl->tmp, pl->ry);
  memcpy(pl->e, pl->ry, P * sizeof *pl->e);
  for (size_t j = 0; j < pl->r; j++) { /* modified Gram-Schmidt: e minus its projection */
    const double *q = pl->q + j * P;
    double c = 0;
    for (size_t i = 0; i < P; i++) c += q[i] * pl->e[i];
    for (size_t i = 0; i < P; i++) pl->e[i] -= c * q[i];
  }
  for (size_t i = 0; i < P; i++) ee += pl->e[i] * pl->e[i];
  /* Residual sums of squares of ranks are of order P^3; below this they are rounding. */
  const double tiny = 1e-12 * (double)P * (double)P * (double)P;
  for (size_t k = 0; k < pl->K; k++) {
    const double *ex = pl->ex + k * P, sxx = pl->sxx[k];
    double sxy = 0;
    for (size_t i = 0; i < P; i++) sxy += ex[i] * pl->ry[i];
    if (!(sxx > tiny)) {
      out[k] = NAN;
      continue;
    }
    const double syy = ee + sxy * sxy / sxx;
    out[k] = syy > tiny ? sxy / sqrt(sxx * syy) : 0.0;
  }
}

fl_status fl_prcc(const double *x, const double *y, size_t P, size_t K, double *out,
                  fl_error *err) {
  fl_prcc_plan pl;
  for (size_t k = 0; k < K; k++) out[k] = NAN;
  if (P <= K + 1) return FL_OK;
  fl_status st = fl_prcc_plan_init(&pl, x, P, K, err);
  if (st != FL_OK) return st;
  fl_prcc_eval(&pl, y, 1, out);
  fl_prcc_plan_free(&pl);
  return FL_OK;
}

double fl_main_effect_range(const size_t *levels, size_t K, const double *y, size_t k,
                            size_t *i_hi, size_t *i_lo) {
  const size_t n = levels[k];
  size_t stride = 1, P = 1;
  for (size_t j = 0; j < K; j++) P *= levels[j];
  for (size_t j = k + 1; j < K; j++) stride *= levels[j];
  double lo = INFINITY, hi = -INFINITY;
  *i_hi = *i_lo = 0;
  for (size_t i = 0; i < n; i++) {
    double s = 0;
    size_t c = 0;
    for (size_t p = 0; p < P; p++)
      if ((p / stride) % n == i) {
        s += y[p];
        c++;
      }
    const double mean = s / (double)c;
    if (mean < lo) lo = mean, *i_lo = i;
    if (mean > hi) hi = mean, *i_hi = i;
  }
  return hi - lo;
}

void fl_two_way(const size_t *levels, size_t K, const double *y, size_t a, size_t b,
                double *out) {
  const size_t na = levels[a], nb = levels[b];
  size_t sa = 1, sb = 1, P = 1;
  for (size_t j = 0; j < K; j++) P *= levels[j];
  for (size_t j = a + 1; j < K; j++) sa *= levels[j];
  for (size_t j = b + 1; j < K; j++) sb *= levels[j];
  memset(out, 0, na * nb * sizeof *out);
  for (size_t p = 0; p < P; p++) out[((p / sa) % na) * nb + (p / sb) % nb] += y[p];
  const double per_cell = (double)(P / (na * nb));
  for (size_t c = 0; c < na * nb; c++) out[c] /= per_cell;
}

/* Saltelli et al. (2010) for the first-order index, Jansen (1999) for the total: with V the
 * variance of the A and B outputs together,
 *   S_k  = mean over rows of f_B (f_ABk - f_A) / V,
 *   ST_k = mean over rows of (f_A - f_ABk)^2 / (2 V). */
void fl_sobol_indices(const double *y, size_t N, size_t K, const uint32_t *rows, double *first,
                      double *total) {
  double mean = 0, m2 = 0;
  size_t n = 0;
  for (size_t i = 0; i < N; i++) { /* Welford over the 2N outputs of A and B */
    const double *blk = y + (size_t)(rows ? rows[i] : i) * (K + 2);
    for (int ab = 0; ab < 2; ab++) {
      const double d = blk[ab] - mean;
      mean += d / (double)++n;
      m2 += d * (blk[ab] - mean);
    }
  }
  const double V = n > 1 ? m2 / (double)(n - 1) : 0;
  for (size_t k = 0; k < K; k++) {
    double s = 0, t = 0;
    for (size_t i = 0; i < N; i++) {
      const double *blk = y + (size_t)(rows ? rows[i] : i) * (K + 2);
      const double fa = blk[0], fb = blk[1], fab = blk[2 + k];
      s += fb * (fab - fa);
      t += (fa - fab) * (fa - fab);
    }
    /* A result that does not vary has no variance to share out. */
    first[k] = V > 0 ? s / (double)N / V : (s == 0 ? 0.0 : NAN);
    total[k] = V > 0 ? t / (2.0 * (double)N) / V : (t == 0 ? 0.0 : NAN);
  }
}
