/* The designs of flourish sweep: the points at which the scenario runs, each a value in
 * [lo, hi] for every parameter. The grid is complete; the Latin hypercube and the Sobol
 * sequence sample the box; Saltelli's design is made for variance-based (Sobol) indices. */
#include "analysis/sweep.h"

#include "core/core.h"
#include "core/rng.h"

#include <gsl/gsl_qrng.h>
#include <stdlib.h>

#define MAX_POINTS 1000000

static fl_status oom(fl_error *err) {
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  return FL_ENOMEM;
}

/* The number of points the options ask for, checked against MAX_POINTS; 0 (err says which
 * option is wrong) when there are no parameters or too many, or too many or no points. */
static size_t design_points(const fl_sweep_options *opt, fl_error *err) {
  const size_t K = opt->n_params;
  size_t P = 1;
  if (K == 0 || K > FL_SWEEP_MAX_PARAMS) {
    fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                 "a sweep needs 1 to %d parameters, found %zu", FL_SWEEP_MAX_PARAMS, K);
    return 0;
  }
  if (opt->design == FL_DESIGN_GRID) {
    for (size_t k = 0; k < K; k++) {
      if (opt->params[k].levels == 0 || P > MAX_POINTS / opt->params[k].levels) {
        fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                     "the grid would have more than %d points", MAX_POINTS);
        return 0;
      }
      P *= opt->params[k].levels;
    }
  } else if (opt->design == FL_DESIGN_SALTELLI) {
    if (2 * K > FL_SWEEP_MAX_PARAMS) { /* A and B come from one 2K-dimensional sequence */
      fl_error_set(err, FL_EUSAGE, "--param", 0, 0, NULL,
                   "the Saltelli design takes at most %d parameters, found %zu",
                   FL_SWEEP_MAX_PARAMS / 2, K);
      return 0;
    }
    if (opt->points == 0 || opt->points > MAX_POINTS / (K + 2)) {
      fl_error_set(err, FL_EUSAGE, "--points", 0, 0, NULL,
                   "expected 1 to %zu base rows (each K + 2 = %zu points), found %zu",
                   (size_t)MAX_POINTS / (K + 2), K + 2, opt->points);
      return 0;
    }
    P = opt->points * (K + 2);
  } else {
    P = opt->points;
    if (P == 0 || P > MAX_POINTS) {
      fl_error_set(err, FL_EUSAGE, "--points", 0, 0, NULL,
                   "expected 1 to %d points, found %zu", MAX_POINTS, P);
      return 0;
    }
  }
  return P;
}

/* The grid's P points into v[P * K], in C order (the last parameter varies fastest). Each
 * parameter takes its levels evenly spaced from lo to hi, hi exactly; a single level is lo. */
static void grid_design(const fl_sweep_options *opt, size_t P, double *v) {
  const size_t K = opt->n_params;
  for (size_t p = 0; p < P; p++) {
    size_t idx = p;
    for (size_t k = K; k-- > 0;) {
      const fl_sweep_param *q = &opt->params[k];
      size_t i = idx % q->levels;
      idx /= q->levels;
      v[p * K + k] = q->levels == 1 ? q->lo
                     : i + 1 == q->levels
                         ? q->hi
                         : q->lo + (q->hi - q->lo) * (double)i / (double)(q->levels - 1);
    }
  }
}

/* A Latin hypercube of P points into v[P * K]: one stratum of width 1/P per point in every
 * dimension, strata matched at random, a uniform position inside each (McKay, Beckman and
 * Conover 1979). The stream is the sweep's own, keyed by the seed. FL_ENOMEM on no memory. */
static fl_status lhs_design(const fl_sweep_options *opt, size_t P, double *v, fl_error *err) {
  const size_t K = opt->n_params;
  size_t *perm = malloc(P * sizeof *perm);
  fl_rng r;
  if (!perm) return oom(err);
  fl_rng_seed(&r, fl_mix64(opt->run.seed ^ 0x4c48532d73776565ULL), 0x5357454550ULL);
  for (size_t k = 0; k < K; k++) {
    const fl_sweep_param *q = &opt->params[k];
    for (size_t p = 0; p < P; p++) perm[p] = p;
    for (size_t p = P; p > 1; p--) {
      size_t j = fl_rng_bounded(&r, (uint32_t)p);
      size_t t = perm[p - 1];
      perm[p - 1] = perm[j];
      perm[j] = t;
    }
    for (size_t p = 0; p < P; p++) {
      double u = ((double)perm[p] + fl_rng_uniform(&r)) / (double)P;
      v[p * K + k] = q->lo + (q->hi - q->lo) * u;
    }
  }
  free(perm);
  return FL_OK;
}

/* The first P points of GSL's K-dimensional Sobol sequence, scaled to the box, into
 * v[P * K]. FL_ENOMEM on no memory. */
static fl_status sobol_design(const fl_sweep_options *opt, size_t P, double *v, fl_error *err) {
  const size_t K = opt->n_params;
  gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, (unsigned)K);
  double u[FL_SWEEP_MAX_PARAMS];
  if (!q) return oom(err);
  for (size_t p = 0; p < P; p++) {
    gsl_qrng_get(q, u);
    for (size_t k = 0; k < K; k++)
      v[p * K + k] = opt->params[k].lo + (opt->params[k].hi - opt->params[k].lo) * u[k];
  }
  gsl_qrng_free(q);
  return FL_OK;
}

/* Saltelli et al. (2010): P / (K + 2) base rows into v[P * K], each a block of K + 2 points:
 * A, B, then A with column k from B for each k, where A and B are the two halves of a point of
 * a 2K-dimensional Sobol sequence. FL_ENOMEM on no memory. */
static fl_status saltelli_design(const fl_sweep_options *opt, size_t P, double *v,
                                 fl_error *err) {
  const size_t K = opt->n_params;
  gsl_qrng *q = gsl_qrng_alloc(gsl_qrng_sobol, (unsigned)(2 * K));
  double u[FL_SWEEP_MAX_PARAMS];
  if (!q) return oom(err);
  /* The sequence's first points repeat themselves across the two halves (its first point
   * is all 0.5, so A = B): skip a power of two at least N of them, as is usual. Single
   * coordinates of A and B can still coincide (the points lie on a dyadic grid); such a row
   * adds nothing for that parameter, which the estimators allow for. */
  size_t skip = 1;
  while (skip < P / (K + 2)) skip <<= 1;
  for (size_t i = 0; i < skip; i++) gsl_qrng_get(q, u);
  for (size_t i = 0; i < P / (K + 2); i++) {
    gsl_qrng_get(q, u);
    double *block = v + i * (K + 2) * K;
    for (size_t r = 0; r < K + 2; r++)
      for (size_t k = 0; k < K; k++) {
        const int from_b = r == 1 || (r >= 2 && r - 2 == k);
        const double x = u[from_b ? K + k : k];
        block[r * K + k] = opt->params[k].lo + (opt->params[k].hi - opt->params[k].lo) * x;
      }
  }
  gsl_qrng_free(q);
  return FL_OK;
}

size_t fl_sweep_design(const fl_sweep_options *opt, double **values, fl_error *err) {
  *values = NULL;
  const size_t P = design_points(opt, err);
  if (!P) return 0;
  double *v = malloc(P * opt->n_params * sizeof *v);
  if (!v) {
    oom(err);
    return 0;
  }
  fl_status st = FL_OK;
  switch (opt->design) {
  case FL_DESIGN_GRID: grid_design(opt, P, v); break;
  case FL_DESIGN_LHS: st = lhs_design(opt, P, v, err); break;
  case FL_DESIGN_SALTELLI: st = saltelli_design(opt, P, v, err); break;
  case FL_DESIGN_SOBOL:
  default: st = sobol_design(opt, P, v, err); break;
  }
  if (st != FL_OK) {
    free(v);
    return 0;
  }
  *values = v;
  return P;
}
