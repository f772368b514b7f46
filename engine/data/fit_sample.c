/* `flourish fit`, the sampler: a start at the posterior mode (Nelder and Mead's simplex,
 * GSL's nmsimplex2), then the affine-invariant ensemble sampler of Goodman and Weare (2010,
 * Comm. App. Math. and Comp. Sci. 5(1):65-80) with the stretch move (a = 2) in two halves, as
 * Foreman-Mackey et al. (2013, emcee) parallelise it: the walkers of one half move together,
 * each against a walker of the other half, on threads. Each walker's move at each iteration
 * draws from its own stream keyed by (seed, iteration and half, walker), so the draws are the
 * same for any number of threads. Diagnostics treat each walker as a chain: rank-normalised
 * split R-hat and bulk effective sample size (Vehtari, Gelman, Simpson, Carpenter and Buerkner
 * 2021, Bayesian Analysis 16(2):667-718). */
#include "data/fit.h"

#include "core/rng.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_multimin.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_sort.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ---- Diagnostics ------------------------------------------------------------------------- */

/* Potential scale reduction of m chains of n (the chains as given, already split). */
static double rhat_basic(const double *x, size_t m, size_t n) {
  double grand = 0, B = 0, W = 0;
  double *mean = fl_calloc(m, sizeof *mean);
  if (!mean || n < 2 || m < 2) {
    free(mean);
    return NAN;
  }
  for (size_t c = 0; c < m; c++) {
    for (size_t i = 0; i < n; i++) mean[c] += x[c * n + i];
    mean[c] /= (double)n;
    grand += mean[c] / (double)m;
  }
  for (size_t c = 0; c < m; c++) {
    double v = 0;
    for (size_t i = 0; i < n; i++) v += (x[c * n + i] - mean[c]) * (x[c * n + i] - mean[c]);
    W += v / (double)(n - 1) / (double)m;
    B += (mean[c] - grand) * (mean[c] - grand) * (double)n / (double)(m - 1);
  }
  free(mean);
  if (!(W > 0)) return B > 0 ? INFINITY : 1.0;
  return sqrt(((double)(n - 1) / (double)n * W + B / (double)n) / W);
}

/* Rank normalisation of N values: z = Phi^-1((r - 3/8) / (N + 1/4)), r the rank with ties
 * averaged. */
static void rank_normalise(const double *x, size_t N, double *z) {
  size_t *idx = fl_calloc(N, sizeof *idx);
  if (!idx) return;
  gsl_sort_index(idx, x, 1, N);
  for (size_t i = 0; i < N;) {
    size_t j = i;
    while (j + 1 < N && x[idx[j + 1]] == x[idx[i]]) j++;
    const double r = (double)(i + j) / 2 + 1;
    for (size_t k = i; k <= j; k++) z[idx[k]] = gsl_cdf_ugaussian_Pinv((r - 0.375) / (N + 0.25));
    i = j + 1;
  }
  free(idx);
}

/* The 2m half chains of n/2 (the first half of each chain, then its second), rank-normalised;
 * folded: of |x - median| instead. */
static double *split_normalised(const double *x, size_t m, size_t n, int folded) {
  const size_t h = n / 2, N = 2 * m * h;
  double *y = fl_calloc(N, sizeof *y), *z = fl_calloc(N, sizeof *z);
  if (!y || !z) {
    free(y);
    free(z);
    return NULL;
  }
  for (size_t c = 0; c < m; c++)
    for (size_t i = 0; i < h; i++) {
      y[(2 * c) * h + i] = x[c * n + i];
      y[(2 * c + 1) * h + i] = x[c * n + n - h + i];
    }
  if (folded) {
    memcpy(z, y, N * sizeof *z);
    gsl_sort(z, 1, N);
    const double med = N % 2 ? z[N / 2] : 0.5 * (z[N / 2 - 1] + z[N / 2]);
    for (size_t i = 0; i < N; i++) y[i] = fabs(y[i] - med);
  }
  rank_normalise(y, N, z);
  free(y);
  return z;
}

double fl_fit_rhat(const double *x, size_t m, size_t n) {
  double *bulk = split_normalised(x, m, n, 0), *fold = split_normalised(x, m, n, 1);
  double r = NAN;
  if (bulk && fold) {
    const double a = rhat_basic(bulk, 2 * m, n / 2), b = rhat_basic(fold, 2 * m, n / 2);
    r = a > b ? a : b;
  }
  free(bulk);
  free(fold);
  return r;
}

/* Effective sample size of m chains of n (Stan's estimator: the autocorrelations combined
 * across chains, Geyer's initial monotone sequence). */
static double ess_basic(const double *x, size_t m, size_t n) {
  double *mean = fl_calloc(m, sizeof *mean), *var = fl_calloc(m, sizeof *var);
  double ess = NAN;
  if (!mean || !var || n < 4 || m < 1) goto out;
  double W = 0, B = 0, grand = 0;
  for (size_t c = 0; c < m; c++) {
    for (size_t i = 0; i < n; i++) mean[c] += x[c * n + i];
    mean[c] /= (double)n;
    grand += mean[c] / (double)m;
  }
  for (size_t c = 0; c < m; c++) {
    for (size_t i = 0; i < n; i++) var[c] += (x[c * n + i] - mean[c]) * (x[c * n + i] - mean[c]);
    W += var[c] / (double)(n - 1) / (double)m;
    if (m > 1) B += (mean[c] - grand) * (mean[c] - grand) * (double)n / (double)(m - 1);
  }
  const double vplus = (double)(n - 1) / (double)n * W + B / (double)n;
  if (!(vplus > 0)) goto out;
  /* rho(t) = 1 - (W - mean of the chains' autocovariances at t) / var+. */
  double tau = 0, prev_pair = INFINITY;
  for (size_t t = 0; t + 1 < n; t += 2) {
    double rho[2];
    for (int u = 0; u < 2; u++) {
      double acov = 0;
      for (size_t c = 0; c < m; c++) {
        double s = 0;
        for (size_t i = 0; i + t + u < n; i++)
          s += (x[c * n + i] - mean[c]) * (x[c * n + i + t + u] - mean[c]);
        acov += s / (double)n / (double)m;
      }
      /* The chains' variances in W are unbiased; their lag-0 autocovariance is the biased one. */
      rho[u] = t + u == 0 ? 1.0 : 1 - (W - acov) / vplus;
    }
    double pair = rho[0] + rho[1];
    if (pair < 0) break;
    if (pair > prev_pair) pair = prev_pair; /* monotone */
    prev_pair = pair;
    tau += pair;
  }
  tau = 2 * tau - 1;
  const double floor_tau = 1.0 / log10((double)(m * n));
  if (tau < floor_tau) tau = floor_tau;
  ess = (double)(m * n) / tau;
out:
  free(mean);
  free(var);
  return ess;
}

double fl_fit_ess(const double *x, size_t m, size_t n) {
  double *z = split_normalised(x, m, n, 0);
  double e = z ? ess_basic(z, 2 * m, n / 2) : NAN;
  free(z);
  return e;
}

/* ---- The posterior ----------------------------------------------------------------------- */

typedef struct post_ctx {
  fl_fit_problem *p;
  fl_status st;
  fl_error err;
} post_ctx;

/* The sampler moves positive parameters (a lognormal prior, or a uniform one above 0) on
 * the log scale, where scale factors and rates are closer to normal and the stretch move mixes
 * better; the posterior density there carries the Jacobian x. */
static int on_log_scale(const fl_fit_param *q) {
  return q->prior == FL_PRIOR_LOGNORMAL || (q->prior == FL_PRIOR_UNIFORM && q->a > 0);
}

static void to_value(const fl_fit_problem *p, const double *u, double *x) {
  for (size_t k = 0; k < p->K; k++) x[k] = on_log_scale(&p->par[k]) ? exp(u[k]) : u[k];
}

static void to_sampler(const fl_fit_problem *p, const double *x, double *u) {
  for (size_t k = 0; k < p->K; k++) u[k] = on_log_scale(&p->par[k]) ? log(x[k]) : x[k];
}

/* Log posterior on evaluator i at u (the sampler's scale); -INFINITY outside the support. A
 * runtime failure is kept in c (the first one) and gives -INFINITY. */
static double log_post(post_ctx *c, size_t i, const double *u) {
  double theta[FL_FIT_MAX_PARAMS], jac = 0;
  to_value(c->p, u, theta);
  for (size_t k = 0; k < c->p->K; k++)
    if (on_log_scale(&c->p->par[k])) jac += u[k];
  double lp = fl_fit_log_prior(c->p, theta) + jac, ll;
  fl_error err;
  if (!isfinite(lp)) return -INFINITY;
  fl_status st = fl_fit_loglik(c->p, i, theta, &ll, NULL, &err);
  if (st != FL_OK) {
#pragma omp critical(fl_fit_error)
    {
      if (c->st == FL_OK) c->st = st, c->err = err;
    }
    return -INFINITY;
  }
  return lp + ll;
}

static double neg_post(const gsl_vector *v, void *ctx) {
  post_ctx *c = ctx;
  double theta[FL_FIT_MAX_PARAMS];
  for (size_t k = 0; k < c->p->K; k++) theta[k] = gsl_vector_get(v, k);
  const double lp = log_post(c, 0, theta);
  return isfinite(lp) ? -lp : 1e300;
}

/* A typical spread of parameter k under its prior (its sd). */
double fl_fit_prior_sd(const fl_fit_param *q) {
  switch (q->prior) {
  case FL_PRIOR_UNIFORM: return (q->b - q->a) / sqrt(12.0);
  case FL_PRIOR_LOGNORMAL: return sqrt(expm1(q->b * q->b) * exp(2 * q->a + q->b * q->b));
  case FL_PRIOR_BETA: {
    const double s = q->a + q->b;
    return sqrt(q->a * q->b / (s * s * (s + 1)));
  }
  case FL_PRIOR_NORMAL: return q->b;
  }
  return 1;
}

static double prior_centre(const fl_fit_param *q) {
  switch (q->prior) {
  case FL_PRIOR_UNIFORM: return 0.5 * (q->a + q->b);
  case FL_PRIOR_LOGNORMAL: return exp(q->a);
  case FL_PRIOR_BETA: return q->a / (q->a + q->b);
  case FL_PRIOR_NORMAL: return q->a;
  }
  return 0;
}

/* The posterior mode, on the sampler's scale, from the scenario's values (or the priors'
 * centres where those are outside the priors' support), into theta. Returns the log posterior
 * there. */
static double find_mode(post_ctx *c, double *theta) {
  fl_fit_problem *p = c->p;
  const size_t K = p->K;
  double x0[FL_FIT_MAX_PARAMS];
  for (size_t k = 0; k < K; k++) x0[k] = p->par[k].start;
  to_sampler(p, x0, theta);
  if (!isfinite(log_post(c, 0, theta))) {
    for (size_t k = 0; k < K; k++) x0[k] = prior_centre(&p->par[k]);
    to_sampler(p, x0, theta);
  }
  double lp = log_post(c, 0, theta);
  if (!isfinite(lp) || c->st != FL_OK) return lp;
  gsl_multimin_fminimizer *mz = gsl_multimin_fminimizer_alloc(gsl_multimin_fminimizer_nmsimplex2, K);
  gsl_vector *x = gsl_vector_alloc(K), *step = gsl_vector_alloc(K);
  if (!mz || !x || !step) goto out;
  for (size_t k = 0; k < K; k++) {
    gsl_vector_set(x, k, theta[k]);
    double s = 0.1 * fl_fit_prior_sd(&p->par[k]);
    if (on_log_scale(&p->par[k])) s = fmin(0.2, s / x0[k]);
    else if (s > 0.2 * fabs(theta[k]) && theta[k] != 0) s = 0.2 * fabs(theta[k]);
    gsl_vector_set(step, k, s);
  }
  gsl_multimin_function f = {neg_post, K, c};
  if (gsl_multimin_fminimizer_set(mz, &f, x, step) != 0) goto out;
  for (int it = 0; it < 100 * (int)K + 200 && c->st == FL_OK; it++) {
    if (gsl_multimin_fminimizer_iterate(mz)) break;
    if (gsl_multimin_test_size(gsl_multimin_fminimizer_size(mz), 1e-7) == GSL_SUCCESS) break;
  }
  if (-mz->fval > lp) {
    lp = -mz->fval;
    for (size_t k = 0; k < K; k++) theta[k] = gsl_vector_get(mz->x, k);
  }
out:
  gsl_multimin_fminimizer_free(mz);
  gsl_vector_free(x);
  gsl_vector_free(step);
  return lp;
}

fl_status fl_fit_sample(fl_fit_problem *p, const fl_fit_options *opt, fl_fit_chain *out,
                        fl_error *err) {
  const size_t K = p->K;
  size_t W = opt->walkers ? opt->walkers : (4 * K > 16 ? 4 * K : 16);
  W += W % 2;
  if (W < 2 * K + 2) W = 2 * K + 2 + (2 * K + 2) % 2;
  const size_t N = opt->iterations ? opt->iterations : 1000;
  const size_t burn = opt->burn_in ? opt->burn_in : 500;
  post_ctx c = {.p = p};
  double mode[FL_FIT_MAX_PARAMS];
  double *X = fl_calloc(W * K, sizeof *X), *LP = fl_calloc(W, sizeof *LP);
  double *chain = fl_calloc(W * N * K, sizeof *chain);
  size_t *accepted = fl_calloc(W, sizeof *accepted);
  gsl_rng **g = fl_calloc(p->n_ev, sizeof *g);
  fl_status st = FL_OK;
  gsl_error_handler_t *old_handler = gsl_set_error_handler_off();
  *out = (fl_fit_chain){0};
  if (!X || !LP || !chain || !accepted || !g) goto oom;
  for (size_t i = 0; i < p->n_ev; i++)
    if (!(g[i] = fl_rng_gsl_alloc())) goto oom;
  const double lp_mode = find_mode(&c, mode);
  if (c.st != FL_OK) goto failed;
  if (!isfinite(lp_mode)) {
    fl_error_set(err, FL_EINPUT, opt->observed, 0, 0, NULL,
                 "no parameter value tried gives a valid scenario with a finite likelihood "
                 "(from the scenario's values and the priors' centres)%s%s",
                 p->n_invalid ? ": " : "", p->first_invalid);
    st = FL_EINPUT;
    goto done;
  }
  out->mode_lp = lp_mode;
  to_value(p, mode, out->mode);
  /* Walkers in a small ball around the mode (emcee's advice), each from its own stream. */
#pragma omp parallel for schedule(dynamic) num_threads((int)p->n_ev)
  for (size_t w = 0; w < W; w++) {
    size_t ti = 0;
#ifdef _OPENMP
    ti = (size_t)omp_get_thread_num();
#endif
    fl_rng_init_stream(fl_rng_gsl_state(g[ti]), opt->seed, 0, w, FL_PURPOSE_FIT);
    double *x = X + w * K, spread = 1e-2;
    LP[w] = -INFINITY;
    for (int tries = 0; tries < 50 && !isfinite(LP[w]); tries++, spread /= 2) {
      for (size_t k = 0; k < K; k++) {
        double s = spread * fl_fit_prior_sd(&p->par[k]);
        if (on_log_scale(&p->par[k])) s = spread * fmin(1, s / spread / exp(mode[k]));
        else if (mode[k] != 0 && s > spread * fabs(mode[k])) s = spread * fabs(mode[k]);
        x[k] = mode[k] + s * gsl_ran_ugaussian(g[ti]);
      }
      LP[w] = log_post(&c, ti, x);
    }
    if (!isfinite(LP[w])) {
      memcpy(x, mode, K * sizeof *x);
      LP[w] = lp_mode;
    }
  }
  if (c.st != FL_OK) goto failed;
  const double a = 2.0;
  const size_t half = W / 2;
  for (size_t it = 0; it < burn + N; it++) {
    for (size_t h = 0; h < 2; h++) {
#pragma omp parallel for schedule(dynamic) num_threads((int)p->n_ev)
      for (size_t j = 0; j < half; j++) {
        size_t ti = 0;
#ifdef _OPENMP
        ti = (size_t)omp_get_thread_num();
#endif
        const size_t w = h * half + j;
        gsl_rng *r = g[ti];
        fl_rng_init_stream(fl_rng_gsl_state(r), opt->seed, 1 + 2 * it + h, w, FL_PURPOSE_FIT);
        const double u = gsl_rng_uniform(r);
        const double z = ((a - 1) * u + 1) * ((a - 1) * u + 1) / a;
        const size_t partner = (1 - h) * half + gsl_rng_uniform_int(r, half);
        const double lu = log(gsl_rng_uniform_pos(r));
        double y[FL_FIT_MAX_PARAMS];
        for (size_t k = 0; k < K; k++)
          y[k] = X[partner * K + k] + z * (X[w * K + k] - X[partner * K + k]);
        const double lp = log_post(&c, ti, y);
        if (isfinite(lp) && lu < (double)(K - 1) * log(z) + lp - LP[w]) {
          memcpy(X + w * K, y, K * sizeof *y);
          LP[w] = lp;
          if (it >= burn) accepted[w]++;
        }
      }
      if (c.st != FL_OK) goto failed;
    }
    if (it >= burn)
      for (size_t w = 0; w < W; w++) to_value(p, X + w * K, chain + (w * N + (it - burn)) * K);
    if (opt->progress) opt->progress(opt->ctx, it + 1, burn + N);
  }
  size_t acc = 0;
  for (size_t w = 0; w < W; w++) acc += accepted[w];
  *out = (fl_fit_chain){.W = W, .N = N, .burn = burn, .x = chain,
                        .acceptance = (double)acc / (double)(W * N), .mode_lp = lp_mode};
  to_value(p, mode, out->mode);
  chain = NULL;
  goto done;
failed:
  *err = c.err;
  st = c.st;
  goto done;
oom:
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
  st = FL_ENOMEM;
done:
  gsl_set_error_handler(old_handler);
  for (size_t i = 0; g && i < p->n_ev; i++)
    if (g[i]) gsl_rng_free(g[i]);
  free(g);
  free(X);
  free(LP);
  free(chain);
  free(accepted);
  return st;
}
