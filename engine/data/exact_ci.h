/* Exact binomial intervals (exact_ci.c): beta quantiles that converge at every sample size. */
#ifndef FL_EXACT_CI_H
#define FL_EXACT_CI_H

/* The quantile p of Beta(a, b) (a, b > 0, 0 <= p <= 1), to a few units in the last place;
 * NAN for arguments outside the domain. */
double fl_beta_quantile(double p, double a, double b);

/* The Clopper-Pearson interval at level (0.95 for 95%) for k successes in n trials
 * (0 <= k <= n, whole or not): [0, 1] when n is 0, lo = 0 when k = 0 and hi = 1 when k = n.
 * Returns 0, or -1 (bounds unset or NAN) for arguments outside the domain. */
int fl_clopper_pearson(double k, double n, double level, double *lo, double *hi);

#endif
