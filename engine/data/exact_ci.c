/* Exact binomial (Clopper-Pearson) intervals at every sample size.
 *
 * The bounds are quantiles of beta distributions: for k successes in n trials at level 1 - alpha,
 * lo = B^-1(alpha/2; k, n - k + 1) and hi = B^-1(1 - alpha/2; k + 1, n - k). GSL's quantile
 * (gsl_cdf_beta_Pinv) gives up for large parameters, and its regularised incomplete beta
 * (gsl_sf_beta_inc) stops its continued fraction after a fixed number of terms, which is too
 * few once a + b is in the hundreds of thousands (the number of terms grows like sqrt(a + b)).
 * Here both are computed directly:
 *
 * - I_x(a, b), the regularised incomplete beta, by the continued fraction of DLMF 8.17.22,
 *   evaluated with the modified Lentz method and no fixed cap below what convergence needs,
 *   on the side of the mode where it converges (I_x(a, b) = 1 - I_{1-x}(b, a) otherwise), with
 *   the prefactor x^a (1 - x)^b / B(a, b) from Stirling errors and deviances (Loader 2000), not
 *   from log-gammas whose cancellation at a + b = 10^8 leaves 1e-7 of error.
 * - The quantile by safeguarded Newton iteration: a bracket [lo, hi] around the root is kept,
 *   a Newton step that leaves it is replaced by bisection (geometric while the bracket spans
 *   orders of magnitude, so tiny quantiles such as 3 moves in a million child-months take a few
 *   dozen steps), until the bracket or the step is below a few units in the last place.
 *
 * The tests compare with independent values computed in 50-digit arithmetic (tests/
 * exact_ci_reference.py) to 1e-9 relative at k = 0, k = n, n up to 10^8 and tiny p. */
#include "data/exact_ci.h"

#include <float.h>
#include <math.h>

/* The error of Stirling's formula, delta(z) = lgamma(z + 1) - (z + 1/2) log z + z - log(2 pi)/2
 * (z > 0): its asymptotic series from z = 15 on (five terms: below 1e-17 there), else directly,
 * where the terms are small enough not to cancel. */
static double stirling_error(double z) {
  if (z >= 15) {
    const double w = 1 / (z * z);
    return (1.0 / 12 - w * (1.0 / 360 - w * (1.0 / 1260 - w * (1.0 / 1680 - w / 1188)))) / z;
  }
  return lgamma(z + 1) - (z + 0.5) * log(z) + z - 0.5 * log(2 * M_PI);
}

/* k log(k / m) + m - k >= 0 (k, m > 0) without cancellation when k is close to m: by the
 * series 2 k sum_j v^(2j+1) / (2j + 1) - (k - m) v with v = (k - m) / (k + m). */
static double deviance(double k, double m) {
  if (fabs(k - m) < 0.1 * (k + m)) {
    double v = (k - m) / (k + m), sum = (k - m) * v, term = 2 * k * v;
    const double v2 = v * v;
    for (int j = 1; j < 1000; j++) {
      term *= v2;
      const double next = sum + term / (2 * j + 1);
      if (next == sum) return sum;
      sum = next;
    }
    return sum;
  }
  return k * log(k / m) + m - k;
}

/* log(x^a y^b Gamma(a + b + 1) / (Gamma(a + 1) Gamma(b + 1))) with y = 1 - x, in the form of
 * Loader ("Fast and accurate computation of binomial probabilities", 2000): Stirling errors
 * and deviances, so that no two terms of the size of a log-gamma of a + b cancel and the
 * result keeps its absolute accuracy when a + b is 10^8 or more. */
static double log_binomial_term(double a, double b, double x, double y) {
  const double s = a + b;
  return stirling_error(s) - stirling_error(a) - stirling_error(b) - deviance(a, s * x) -
         deviance(b, s * y) + 0.5 * log(s / (2 * M_PI * a * b));
}

/* The continued fraction of I_x(a, b) (without its prefactor), for x below the mode's side
 * (x < (a + 1) / (a + b + 2)), where it converges. NAN if it has not converged. */
static double beta_cont_frac(double a, double b, double x) {
  const double tiny = 1e-300;
  double c = 1, d = 1 - (a + b) * x / (a + 1);
  if (fabs(d) < tiny) d = tiny;
  d = 1 / d;
  double f = d;
  /* The terms needed grow like sqrt(max(a, b)); the cap only stops a loop that cannot end. */
  const long cap = 1000 + (long)(20 * sqrt(fmax(a, b)));
  for (long m = 1; m <= cap; m++) {
    for (int odd = 0; odd < 2; odd++) {
      const double num = odd ? -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))
                             : m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m));
      d = 1 + num * d;
      if (fabs(d) < tiny) d = tiny;
      c = 1 + num / c;
      if (fabs(c) < tiny) c = tiny;
      d = 1 / d;
      const double delta = c * d;
      f *= delta;
      if (odd && fabs(delta - 1) < 1e-15) return f;
    }
  }
  return NAN;
}

/* I_x(a, b) for a, b > 0 and y = 1 - x, with its complement 1 - I_x(a, b) in *upper, each
 * computed directly so that a value close to 1 keeps its relative accuracy in the other. The
 * prefactor x^a y^b / B(a, b) is (a b / (a + b)) exp(log_binomial_term). The continued fraction
 * of I_x(a, b) converges below the mode (x < (a + 1) / (a + b + 2)) and, more slowly, a little
 * above it; it is used up to 3 standard deviations above that point while x < 1e-3, where the
 * other side's y = 1 - x would have lost the digits of a small x (the upper bound of 1 move in
 * 10^8 child-months lies 1.8 of them above it). Otherwise, or when it has not converged, that
 * of I_y(b, a). */
static double beta_inc(double a, double b, double x, double y, double *upper) {
  if (x <= 0) return *upper = 1, 0;
  if (y <= 0) return *upper = 0, 1;
  const double pre = exp(log_binomial_term(a, b, x, y)) / (a + b);
  const double mode_side = (a + 1) / (a + b + 2), sd = sqrt(a * b / (a + b + 1)) / (a + b);
  if (x < mode_side || (x < 1e-3 && x < mode_side + 3 * sd)) {
    const double v = pre * b * beta_cont_frac(a, b, x);
    if (!isnan(v)) return *upper = 1 - v, v;
  }
  const double v = pre * a * beta_cont_frac(b, a, y);
  *upper = v;
  return 1 - v;
}

double fl_beta_quantile(double p, double a, double b) {
  if (!(a > 0 && b > 0 && p >= 0 && p <= 1)) return NAN;
  if (p == 0) return 0;
  if (p == 1) return 1;
  /* Closed forms: I_x(a, 1) = x^a and I_x(1, b) = 1 - (1 - x)^b. */
  if (b == 1) return exp(log(p) / a);
  if (a == 1) return -expm1(log1p(-p) / b);
  const double mean = a / (a + b), sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
  /* A quantile close to 1 as 1 minus one close to 0, which keeps its digits. */
  if (mean > 0.5) return 1 - fl_beta_quantile(1 - p, b, a);
  /* Start from the normal approximation, kept inside (0, 1). */
  const double z = p < 0.5 ? -sqrt(-2 * log(p)) : sqrt(-2 * log1p(-p));
  double x = mean + 0.8 * z * sd, lo = 0, hi = 1;
  if (!(x > 0 && x < 1)) x = mean;
  const int upper_tail = p > 0.5; /* solve on the complement, where it is small */
  const double target = upper_tail ? 1 - p : p;
  for (int it = 0; it < 400; it++) {
    double q, v = beta_inc(a, b, x, 1 - x, &q);
    if (isnan(v) || isnan(q)) return NAN;
    const double f = upper_tail ? target - q : v - target; /* increasing in x */
    if (f == 0) return x;
    if (f < 0) lo = x;
    else hi = x;
    /* Newton: the density x^(a-1) y^(b-1) / B(a, b). */
    const double dens = a * b / (a + b) * exp(log_binomial_term(a, b, x, 1 - x)) / (x * (1 - x));
    double next = x - f / dens;
    if (!(next > lo && next < hi) || !isfinite(next)) {
      next = lo > 0 && hi / lo > 4 ? sqrt(lo * hi)
                                   : (lo == 0 && hi < 0.25 ? hi / 16 : 0.5 * (lo + hi));
      if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    }
    if (fabs(next - x) <= 2 * DBL_EPSILON * x || hi - lo <= 2 * DBL_EPSILON * hi) return next;
    x = next;
  }
  return NAN;
}

int fl_clopper_pearson(double k, double n, double level, double *lo, double *hi) {
  const double alpha = 1 - level;
  if (!(n >= 0 && k >= 0 && k <= n && alpha > 0 && alpha < 1)) return -1;
  if (n == 0) return *lo = 0, *hi = 1, 0;
  *lo = k > 0 ? fl_beta_quantile(alpha / 2, k, n - k + 1) : 0;
  *hi = k < n ? fl_beta_quantile(1 - alpha / 2, k + 1, n - k) : 1;
  return isnan(*lo) || isnan(*hi) ? -1 : 0;
}
