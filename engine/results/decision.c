/* The cost-effectiveness frontier and the expected value of perfect information (decision.h). */
#include "results/decision.h"

#include "core/core.h"

#include <gsl/gsl_blas.h>
#include <gsl/gsl_multifit.h>
#include <math.h>
#include <stdlib.h>

void fl_frontier(size_t n, const double *cost, const double *effect, int *status, int *by,
                 double *icer) {
  size_t order[FL_FRONTIER_MAX], front[FL_FRONTIER_MAX], nf = 0;
  int finite = n <= FL_FRONTIER_MAX;
  for (size_t i = 0; i < n; i++) {
    status[i] = -1;
    by[i] = -1;
    icer[i] = NAN;
    finite &= isfinite(cost[i]) && isfinite(effect[i]);
  }
  if (!finite || n == 0) return;
  /* 1. Order by cost, then more QALYs first, then index (insertion sort: n is small). */
  for (size_t i = 0; i < n; i++) {
    size_t j = i;
    for (; j > 0; j--) {
      const size_t p = order[j - 1];
      const int after = cost[p] > cost[i] || (cost[p] == cost[i] && effect[p] < effect[i]);
      if (!after) break;
      order[j] = p;
    }
    order[j] = i;
  }
  /* 2. Strict dominance and equality: every arm that costs no more than arm j comes before it,
   * so j is dominated exactly when the most effective of those has more QALYs, or as many at a
   * lower cost. */
  size_t best = order[0];
  front[nf++] = best;
  for (size_t k = 1; k < n; k++) {
    const size_t j = order[k];
    if (effect[best] > effect[j] || (effect[best] == effect[j] && cost[best] < cost[j])) {
      status[j] = FL_FRONTIER_DOMINATED;
      by[j] = (int)best;
    } else if (effect[best] == effect[j]) {
      status[j] = FL_FRONTIER_EQUAL;
      by[j] = (int)best;
    } else {
      best = j;
      front[nf++] = j;
    }
  }
  /* 3. Extended dominance: on what is left costs and QALYs both increase strictly; arm k goes
   * when its ICER against k - 1 exceeds that of k + 1 against it, compared as products (the
   * QALY gains are positive) so that no ratio is rounded. Repeat until nothing goes. */
  for (int removed = 1; removed;) {
    removed = 0;
    for (size_t k = 1; k + 1 < nf; k++) {
      const size_t a = front[k - 1], b = front[k], c = front[k + 1];
      if ((cost[b] - cost[a]) * (effect[c] - effect[b]) >
          (cost[c] - cost[b]) * (effect[b] - effect[a])) {
        status[b] = FL_FRONTIER_EXTENDED;
        for (size_t i = k; i + 1 < nf; i++) front[i] = front[i + 1];
        nf--;
        removed = 1;
        break;
      }
    }
  }
  /* 4. The frontier's ICERs, and the frontier arm above each extendedly dominated one. */
  for (size_t k = 0; k < nf; k++) {
    status[front[k]] = FL_FRONTIER_ON;
    if (k > 0)
      icer[front[k]] = (cost[front[k]] - cost[front[k - 1]]) /
                       (effect[front[k]] - effect[front[k - 1]]);
  }
  for (size_t j = 0; j < n; j++) {
    if (status[j] != FL_FRONTIER_EXTENDED) continue;
    for (size_t k = 0; k < nf; k++)
      if (cost[front[k]] > cost[j]) {
        by[j] = (int)front[k];
        break;
      }
  }
}

struct fl_evpi {
  size_t n_arms, n_wtp, K;
  size_t in_block, blocks;
  double *pending;  /* [n_arms * n_wtp] sums over the block under way */
  double *sum_mean; /* [n_arms * n_wtp] sums over blocks of the block means */
  double *sum_max;  /* [n_wtp] sums over blocks of the largest block mean */
};

fl_evpi *fl_evpi_create(size_t n_arms, size_t n_wtp, size_t K) {
  fl_evpi *e = calloc(1, sizeof *e);
  if (!e) return NULL;
  e->n_arms = n_arms;
  e->n_wtp = n_wtp;
  e->K = K ? K : 1;
  e->pending = fl_calloc(n_arms * n_wtp + 1, sizeof(double));
  e->sum_mean = fl_calloc(n_arms * n_wtp + 1, sizeof(double));
  e->sum_max = fl_calloc(n_wtp + 1, sizeof(double));
  if (!e->pending || !e->sum_mean || !e->sum_max) {
    fl_evpi_free(e);
    return NULL;
  }
  return e;
}

void fl_evpi_free(fl_evpi *e) {
  if (!e) return;
  free(e->pending);
  free(e->sum_mean);
  free(e->sum_max);
  free(e);
}

void fl_evpi_add(fl_evpi *e, const double *nmb) {
  const size_t A = e->n_arms, W = e->n_wtp;
  for (size_t i = 0; i < A * W; i++) e->pending[i] += nmb[i];
  if (++e->in_block < e->K) return;
  for (size_t k = 0; k < W; k++) {
    double most = -HUGE_VAL;
    for (size_t a = 0; a < A; a++) {
      const double mean = e->pending[a * W + k] / (double)e->K;
      e->sum_mean[a * W + k] += mean;
      if (mean > most) most = mean;
    }
    e->sum_max[k] += most;
  }
  for (size_t i = 0; i < A * W; i++) e->pending[i] = 0;
  e->in_block = 0;
  e->blocks++;
}

void fl_evpi_finish(const fl_evpi *e, double *evpi) {
  const size_t A = e->n_arms, W = e->n_wtp;
  for (size_t k = 0; k < W; k++) {
    double most = -HUGE_VAL;
    for (size_t a = 0; a < A; a++)
      if (e->sum_mean[a * W + k] > most) most = e->sum_mean[a * W + k];
    /* (sum of maxima >= maximum of sums; fmax keeps rounding from showing a negative value) */
    evpi[k] = e->blocks && A ? fmax(0.0, (e->sum_max[k] - most) / (double)e->blocks) : 0;
  }
}

size_t fl_evppi_terms(size_t P) { return 1 + P + P * (P + 1) / 2; }

int fl_evppi(size_t B, size_t A, size_t P, const double *x, const double *m, double *evppi) {
  *evppi = 0;
  if (P == 0 || P > FL_EVPPI_MAX) return -1;
  const size_t n_terms = fl_evppi_terms(P);
  if (B < 4 * n_terms) return -1;
  if (A < 2) return 0;
  int rc = -2;
  /* (GSL's default handler aborts on a failed allocation; this runs in the serial phase after
   * the replications, as the model's compilation does.) */
  gsl_error_handler_t *old_handler = gsl_set_error_handler_off();
  gsl_matrix *X = gsl_matrix_alloc(B, n_terms), *cov = gsl_matrix_alloc(n_terms, n_terms);
  gsl_vector *y = gsl_vector_alloc(B), *c = gsl_vector_alloc(n_terms);
  gsl_multifit_linear_workspace *work = gsl_multifit_linear_alloc(B, n_terms);
  double *g = fl_calloc(B * A, sizeof *g), *sum = fl_calloc(A, sizeof *sum);
  if (!X || !cov || !y || !c || !work || !g || !sum) goto done;
  /* The design: each parameter centred and scaled by its sd (a constant one gives a column of
   * zeros, which the fit's singular value cut-off sets aside). */
  double mean[FL_EVPPI_MAX], sd[FL_EVPPI_MAX];
  for (size_t p = 0; p < P; p++) {
    double s1 = 0, s2 = 0;
    for (size_t b = 0; b < B; b++) s1 += x[b * P + p];
    mean[p] = s1 / (double)B;
    for (size_t b = 0; b < B; b++) s2 += (x[b * P + p] - mean[p]) * (x[b * P + p] - mean[p]);
    sd[p] = sqrt(s2 / (double)B);
  }
  for (size_t b = 0; b < B; b++) {
    double z[FL_EVPPI_MAX];
    size_t t = 0;
    for (size_t p = 0; p < P; p++) z[p] = sd[p] > 0 ? (x[b * P + p] - mean[p]) / sd[p] : 0;
    gsl_matrix_set(X, b, t++, 1);
    for (size_t p = 0; p < P; p++) gsl_matrix_set(X, b, t++, z[p]);
    for (size_t p = 0; p < P; p++)
      for (size_t q = p; q < P; q++) gsl_matrix_set(X, b, t++, z[p] * z[q]);
  }
  for (size_t a = 1; a < A; a++) {
    double chisq;
    for (size_t b = 0; b < B; b++) gsl_vector_set(y, b, m[b * A + a] - m[b * A]);
    if (gsl_multifit_linear(X, y, c, cov, &chisq, work) != 0) goto done;
    for (size_t b = 0; b < B; b++) {
      gsl_vector_const_view row = gsl_matrix_const_row(X, b);
      double fit;
      gsl_blas_ddot(&row.vector, c, &fit);
      g[b * A + a] = fit;
    }
  }
  /* Sums in block order, as for the EVPI: an arm whose fitted value is largest in every block
   * gives exactly 0. */
  double sum_max = 0;
  for (size_t b = 0; b < B; b++) {
    double most = -HUGE_VAL;
    for (size_t a = 0; a < A; a++) {
      sum[a] += g[b * A + a];
      if (g[b * A + a] > most) most = g[b * A + a];
    }
    sum_max += most;
  }
  double best = -HUGE_VAL;
  for (size_t a = 0; a < A; a++)
    if (sum[a] > best) best = sum[a];
  *evppi = fmax(0.0, (sum_max - best) / (double)B);
  rc = 0;
done:
  gsl_matrix_free(X);
  gsl_matrix_free(cov);
  gsl_vector_free(y);
  gsl_vector_free(c);
  if (work) gsl_multifit_linear_free(work);
  free(g);
  free(sum);
  gsl_set_error_handler(old_handler);
  return rc;
}
