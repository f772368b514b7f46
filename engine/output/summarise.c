/* Summary statistics of one cell's values over replications (output.h, fl_summarise_cell):
 * mean, standard deviation, Monte Carlo standard error and quantiles by R's type 7. */
#include "output/output.h"

#include <math.h>
#include <string.h>

const double fl_quantile_levels[FL_N_QUANTILES] = {0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975};
const char *const fl_quantile_names[FL_N_QUANTILES] = {"q025", "q05", "q25", "q50",
                                                       "q75",  "q95", "q975"};

/* Quantile p of n sorted values by linear interpolation between order statistics (R's type 7),
 * given the two order statistics around h = (n - 1) p. */
static double type7(double lo_val, double hi_val, double h) {
  return lo_val + (h - floor(h)) * (hi_val - lo_val);
}

/* Rearranges v[lo, hi) so that v[p] holds what a full sort would put there for every p of
 * pos[0, np) (ascending, within [lo, hi)): quickselect for several ranks at once, splitting the
 * ranks between the sides of each three-way partition (ties in the middle, where they are
 * settled). Expected O(n log np) comparisons against a sort's O(n log n). */
static void multiselect(double *v, size_t lo, size_t hi, const size_t *pos, size_t np) {
  while (np > 0 && hi - lo > 16) {
    /* Median of three as the pivot. */
    const double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
    const double pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < pivot, [lt,i) == pivot, [gt,hi) > pivot */
    while (i < gt) {
      const double x = v[i];
      if (x < pivot) {
        v[i++] = v[lt];
        v[lt++] = x;
      } else if (x > pivot) {
        v[i] = v[--gt];
        v[gt] = x;
      } else {
        i++;
      }
    }
    size_t nl = 0, nr = 0;
    while (nl < np && pos[nl] < lt) nl++;
    for (nr = nl; nr < np && pos[nr] < gt; nr++) {
    }
    /* The smaller side in a call, the larger in the loop: the stack stays O(log n) deep. */
    if (lt - lo < hi - gt) {
      multiselect(v, lo, lt, pos, nl);
      pos += nr;
      np -= nr;
      lo = gt;
    } else {
      multiselect(v, gt, hi, pos + nr, np - nr);
      np = nl;
      hi = lt;
    }
  }
  if (np > 0) { /* a few values: insertion sort */
    for (size_t i = lo + 1; i < hi; i++) {
      const double x = v[i];
      size_t j = i;
      for (; j > lo && v[j - 1] > x; j--) v[j] = v[j - 1];
      v[j] = x;
    }
  }
}

/* Summary of the R values v of one cell into out[k * cells + c]: mean, sd, mcse, quantiles.
 * Whole-number cells whose range is small (most counts) get their order statistics from a
 * histogram in O(R); the rest by selection (multiselect). hist has hist_len entries of scratch. */
void fl_summarise_cell(double *v, size_t R, int whole, uint32_t *hist, size_t hist_len,
                       double *out, size_t cells, size_t c) {
  double sum = 0, ss = 0, mn = v[0], mx = v[0];
  for (size_t r = 0; r < R; r++) sum += v[r];
  if (whole) /* the range decides between the histogram and selection (no NaN in counts) */
    for (size_t r = 0; r < R; r++) {
      mn = v[r] < mn ? v[r] : mn;
      mx = v[r] > mx ? v[r] : mx;
    }
  const double mean = sum / (double)R;
  for (size_t r = 0; r < R; r++) ss += (v[r] - mean) * (v[r] - mean);
  const double sd = R > 1 ? sqrt(ss / (double)(R - 1)) : 0.0;
  out[0 * cells + c] = mean;
  out[1 * cells + c] = sd;
  out[2 * cells + c] = sd / sqrt((double)R);
  if (whole && mx - mn < (double)hist_len) {
    const size_t range = (size_t)(mx - mn) + 1;
    memset(hist, 0, range * sizeof *hist);
    for (size_t r = 0; r < R; r++) hist[(size_t)(v[r] - mn)]++;
    /* Walk the cumulative counts once for the ascending quantiles: order statistic k (0-based)
     * is the first value whose cumulative count exceeds k. */
    size_t value = 0, below = hist[0];
    for (size_t q = 0; q < FL_N_QUANTILES; q++) {
      const double h = (double)(R - 1) * fl_quantile_levels[q];
      const size_t k = (size_t)floor(h), k1 = k + 1 < R ? k + 1 : k;
      while (below <= k) below += hist[++value];
      const double lo_val = mn + (double)value;
      size_t v1 = value, b1 = below;
      while (b1 <= k1) b1 += hist[++v1];
      out[(3 + q) * cells + c] = type7(lo_val, mn + (double)v1, h);
    }
    return;
  }
  /* The order statistics the quantiles need, by selection rather than a full sort. */
  size_t pos[2 * FL_N_QUANTILES], np = 0;
  for (size_t q = 0; q < FL_N_QUANTILES; q++) {
    const size_t k = (size_t)floor((double)(R - 1) * fl_quantile_levels[q]);
    for (size_t j = k; j <= k + 1 && j < R; j++)
      if (!np || pos[np - 1] < j) pos[np++] = j;
  }
  multiselect(v, 0, R, pos, np);
  for (size_t q = 0; q < FL_N_QUANTILES; q++) {
    const double h = (double)(R - 1) * fl_quantile_levels[q];
    const size_t k = (size_t)floor(h), k1 = k + 1 < R ? k + 1 : k;
    out[(3 + q) * cells + c] = type7(v[k], v[k1], h);
  }
}

