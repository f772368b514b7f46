/* `flourish summary`: per arm and year, children at each level (mean and 90% interval over
 * replications), cost by budget holder and quality-adjusted child-years, read back from an
 * output file with nothing but the HDF5 library. */
#include "output/output.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct reader {
  hid_t file;
  const char *path;
  fl_error *err;
} reader;

static fl_status bad_file(reader *rd, const char *what) {
  fl_error_set(rd->err, FL_EINPUT, rd->path, 0, 0, NULL,
               "not a Flourish output file (or damaged): %s", what);
  return FL_EINPUT;
}

/* Reads a whole dataset as doubles; dims receives its shape. */
static double *read_doubles(reader *rd, const char *name, int *rank, hsize_t *dims) {
  hid_t d = H5Dopen2(rd->file, name, H5P_DEFAULT), sp;
  double *buf = NULL;
  size_t n = 1;
  if (d < 0) return NULL;
  sp = H5Dget_space(d);
  *rank = H5Sget_simple_extent_ndims(sp);
  if (*rank >= 0 && *rank <= FL_MAX_RANK) {
    H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int i = 0; i < *rank; i++) n *= dims[i];
    buf = fl_malloc_array(n, sizeof *buf);
    if (buf && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      free(buf);
      buf = NULL;
    }
  }
  H5Sclose(sp);
  H5Dclose(d);
  return buf;
}

/* Reads a 1-D dataset of fixed-length strings. */
static char **read_names(reader *rd, const char *name, size_t *n) {
  hid_t d = H5Dopen2(rd->file, name, H5P_DEFAULT), t, sp;
  char **out = NULL, *buf = NULL;
  size_t len;
  hsize_t dims[1] = {0};
  if (d < 0) return NULL;
  t = H5Dget_type(d);
  sp = H5Dget_space(d);
  len = H5Tget_size(t);
  if (H5Tget_class(t) == H5T_STRING && !H5Tis_variable_str(t) &&
      H5Sget_simple_extent_ndims(sp) == 1) {
    H5Sget_simple_extent_dims(sp, dims, NULL);
    buf = fl_calloc(dims[0] * len + 1, 1);
    out = fl_calloc(dims[0] + 1, sizeof *out);
    if (buf && out && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
      for (size_t i = 0; i < dims[0]; i++) {
        out[i] = fl_calloc(len + 1, 1);
        if (out[i]) memcpy(out[i], buf + i * len, len);
      }
      *n = dims[0];
    } else {
      free(out);
      out = NULL;
    }
  }
  free(buf);
  H5Sclose(sp);
  H5Tclose(t);
  H5Dclose(d);
  return out;
}

typedef struct out_buf {
  void (*write)(void *ctx, const char *text);
  void *ctx;
} out_buf;

static void outf(out_buf *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void outf(out_buf *o, const char *fmt, ...) {
  char line[4096];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  o->write(o->ctx, line);
}

/* Mean, 5% and 95% quantiles of v[R] (v is reordered). */
static void stats(double *v, size_t R, double *mean, double *lo, double *hi) {
  *mean = gsl_stats_mean(v, 1, R);
  gsl_sort(v, 1, R);
  *lo = gsl_stats_quantile_from_sorted_data(v, 1, R, 0.05);
  *hi = gsl_stats_quantile_from_sorted_data(v, 1, R, 0.95);
}

static fl_status summarise_arm(reader *rd, out_buf *o, const char *arm, int csv, int mc,
                               double step_months, char **levels, size_t L, char **holders,
                               size_t B) {
  char name[512];
  int rank_l, rank_c, rank_q;
  hsize_t dl[FL_MAX_RANK], dc[FL_MAX_RANK], dq[FL_MAX_RANK];
  double *lvl, *cost = NULL, *qol = NULL, *v = NULL;
  size_t R, T, per_year = (size_t)llround(12.0 / step_months);
  fl_status st = FL_OK;
  if (per_year < 1 || fabs(per_year * step_months - 12.0) > 1e-9) per_year = 1;
  snprintf(name, sizeof name, "/arms/%s/%s", arm, fl_outputs[FL_OUT_STOCKS_BY_LEVEL].name);
  lvl = read_doubles(rd, name, &rank_l, dl);
  snprintf(name, sizeof name, "/arms/%s/%s", arm, fl_outputs[FL_OUT_COSTS].name);
  cost = read_doubles(rd, name, &rank_c, dc);
  snprintf(name, sizeof name, "/arms/%s/%s", arm, fl_outputs[FL_OUT_QOL].name);
  qol = read_doubles(rd, name, &rank_q, dq);
  if (!lvl || !cost || !qol || rank_l != 2 + mc || rank_c != 2 + mc || rank_q != 1 + mc) {
    st = bad_file(rd, "stocks_by_level, costs or qol missing or of the wrong shape");
    goto out;
  }
  R = mc ? dl[0] : 1;
  T = dl[mc] - 1;
  if (dl[mc + 1] != L || dc[mc + 1] != B || dc[mc] != T || dq[mc] != T) {
    st = bad_file(rd, "dataset shapes disagree with /levels and /budget_holders");
    goto out;
  }
  v = fl_malloc_array(R ? R : 1, sizeof *v);
  if (!v) {
    st = FL_ENOMEM;
    goto out;
  }
  if (csv) {
    /* One row per (year, measure): arm,year,measure,mean,q05,q95. */
    for (size_t y = 0, t = 0, t0 = 0; y == 0 || t0 < T; y++, t0 = t, t = y * per_year < T ? y * per_year : T) {
      double year = (double)t * step_months / 12.0;
      for (size_t l = 0; l < L; l++) {
        double mean, lo, hi;
        for (size_t r = 0; r < R; r++) v[r] = lvl[(r * (T + 1) + t) * L + l];
        stats(v, R, &mean, &lo, &hi);
        outf(o, "%s,%g,children_%s,%.6g,%.6g,%.6g\n", arm, year, levels[l], mean, lo, hi);
      }
      if (y == 0) continue;
      for (size_t b = 0; b <= B; b++) {
        double mean, lo, hi;
        for (size_t r = 0; r < R; r++) {
          v[r] = 0;
          for (size_t k = t0; k < t; k++)
            for (size_t bb = 0; bb < B; bb++)
              if (b == B || bb == b) v[r] += cost[(r * T + k) * B + bb];
        }
        stats(v, R, &mean, &lo, &hi);
        outf(o, "%s,%g,cost_%s,%.10g,%.10g,%.10g\n", arm, year, b == B ? "total" : holders[b],
             mean, lo, hi);
      }
      {
        double mean, lo, hi;
        for (size_t r = 0; r < R; r++) {
          v[r] = 0;
          for (size_t k = t0; k < t; k++) v[r] += qol[r * T + k] * step_months / 12.0;
        }
        stats(v, R, &mean, &lo, &hi);
        outf(o, "%s,%g,quality_adjusted_child_years,%.10g,%.10g,%.10g\n", arm, year, mean, lo,
             hi);
      }
    }
    goto out;
  }
  outf(o, "\narm %s: children by level at the start of each year, mean [90%% interval]\n", arm);
  outf(o, "%5s", "year");
  for (size_t l = 0; l < L; l++) outf(o, "  %24.24s", levels[l]);
  outf(o, "  %14s  %12s\n", "cost in year", "QALYs in year");
  for (size_t y = 0, t = 0, t0 = 0; y == 0 || t0 < T; y++, t0 = t, t = y * per_year < T ? y * per_year : T) {
    outf(o, "%5g", (double)t * step_months / 12.0);
    for (size_t l = 0; l < L; l++) {
      double mean, lo, hi;
      char cellbuf[64];
      for (size_t r = 0; r < R; r++) v[r] = lvl[(r * (T + 1) + t) * L + l];
      stats(v, R, &mean, &lo, &hi);
      if (mc) snprintf(cellbuf, sizeof cellbuf, "%.1f [%.0f, %.0f]", mean, lo, hi);
      else snprintf(cellbuf, sizeof cellbuf, "%.1f", mean);
      outf(o, "  %24s", cellbuf);
    }
    if (y > 0) {
      double c = 0, q = 0;
      for (size_t r = 0; r < R; r++)
        for (size_t k = t0; k < t; k++) {
          for (size_t b = 0; b < B; b++) c += cost[(r * T + k) * B + b];
          q += qol[r * T + k] * step_months / 12.0;
        }
      outf(o, "  %14.4g  %12.1f", c / (double)R, q / (double)R);
    }
    outf(o, "\n");
  }
  if (B) {
    outf(o, "arm %s: total cost over the horizon by budget holder (mean [90%% interval])\n", arm);
    for (size_t b = 0; b < B; b++) {
      double mean, lo, hi;
      for (size_t r = 0; r < R; r++) {
        v[r] = 0;
        for (size_t k = 0; k < T; k++) v[r] += cost[(r * T + k) * B + b];
      }
      stats(v, R, &mean, &lo, &hi);
      outf(o, "  %-28s %14.6g [%.6g, %.6g]\n", holders[b], mean, lo, hi);
    }
  }
out:
  free(lvl);
  free(cost);
  free(qol);
  free(v);
  return st;
}

/* Reads /comparisons/<arm>/<name> as doubles; NULL when absent. */
static double *read_comp(reader *rd, const char *arm, const char *name, int *rank, hsize_t *dims) {
  char path[512];
  snprintf(path, sizeof path, "/comparisons/%s/%s", arm, name);
  return read_doubles(rd, path, rank, dims);
}

/* The arm against the baseline, per year: difference in cost by budget holder and in total,
 * cumulative net cost, QALYs and the probability of a net saving so far; then the break-even
 * step, the ICER and the net monetary benefit. */
static fl_status summarise_comparison(reader *rd, out_buf *o, const char *arm, int csv, int mc,
                                      double step_months, char **holders, size_t B) {
  int rk[8];
  hsize_t d[8][FL_MAX_RANK];
  double *dc = read_comp(rd, arm, fl_outputs[FL_OUT_DELTA_COSTS].name, &rk[0], d[0]);
  double *cum = read_comp(rd, arm, fl_outputs[FL_OUT_CUMULATIVE_NET_COST].name, &rk[1], d[1]);
  double *dq = read_comp(rd, arm, fl_outputs[FL_OUT_DELTA_QALYS].name, &rk[2], d[2]);
  double *be = read_comp(rd, arm, fl_outputs[FL_OUT_BREAKEVEN_STEP].name, &rk[3], d[3]);
  double *icer = read_comp(rd, arm, fl_outputs[FL_OUT_ICER].name, &rk[4], d[4]);
  double *wtp = read_comp(rd, arm, fl_outputs[FL_OUT_WILLINGNESS_TO_PAY].name, &rk[5], d[5]);
  double *nmb = read_comp(rd, arm, fl_outputs[FL_OUT_NET_MONETARY_BENEFIT].name, &rk[6], d[6]);
  double *pce = mc ? read_comp(rd, arm, fl_outputs[FL_OUT_P_COST_EFFECTIVE].name, &rk[7], d[7]) : NULL;
  double *v = NULL;
  fl_status st = FL_OK;
  size_t R, T, K, per_year = (size_t)llround(12.0 / step_months);
  if (per_year < 1 || fabs((double)per_year * step_months - 12.0) > 1e-9) per_year = 1;
  if (!dc || !cum || !dq || !be || !icer || !wtp || !nmb || (mc && !pce) || rk[0] != 2 + mc ||
      d[0][mc + 1] != B) {
    st = bad_file(rd, "a comparison group is incomplete");
    goto out;
  }
  R = mc ? d[0][0] : 1;
  T = d[0][mc];
  K = d[5][0];
  if (!(v = fl_malloc_array(R, sizeof *v))) {
    st = FL_ENOMEM;
    goto out;
  }
  if (!csv) {
    outf(o, "\n%s minus baseline, by year: mean%s (negative is a saving)\n", arm,
         mc ? " [90% interval]" : "");
    outf(o, "%5s", "year");
    for (size_t b = 0; b < B; b++) outf(o, " %12.12s", holders[b]);
    outf(o, " %26s %26s %22s%s\n", "net cost in year", "cumulative net cost", "QALYs in year",
         mc ? "  P(saving so far)" : "");
  }
  for (size_t y = 1, t0 = 0; t0 < T; y++) {
    const size_t t = y * per_year < T ? y * per_year : T;
    const double year = (double)t * step_months / 12.0;
    double mean, lo, hi;
    char cell[64];
    if (!csv) outf(o, "%5g", year);
    for (size_t b = 0; b <= B; b++) { /* b == B: the net over budget holders */
      for (size_t r = 0; r < R; r++) {
        v[r] = 0;
        for (size_t k = t0; k < t; k++)
          for (size_t bb = 0; bb < B; bb++)
            if (b == B || bb == b) v[r] += dc[(r * T + k) * B + bb];
      }
      stats(v, R, &mean, &lo, &hi);
      if (csv) outf(o, "%s,%g,delta_cost_%s,%.10g,%.10g,%.10g\n", arm, year,
                    b == B ? "net" : holders[b], mean, lo, hi);
      else if (b < B) outf(o, " %12.4g", mean);
      else {
        if (mc) snprintf(cell, sizeof cell, "%.4g [%.3g, %.3g]", mean, lo, hi);
        else snprintf(cell, sizeof cell, "%.4g", mean);
        outf(o, " %26s", cell);
      }
    }
    size_t saving = 0;
    for (size_t r = 0; r < R; r++) {
      v[r] = cum[r * T + t - 1];
      saving += v[r] < 0;
    }
    stats(v, R, &mean, &lo, &hi);
    if (csv) outf(o, "%s,%g,cumulative_net_cost,%.10g,%.10g,%.10g\n", arm, year, mean, lo, hi);
    else {
      if (mc) snprintf(cell, sizeof cell, "%.4g [%.3g, %.3g]", mean, lo, hi);
      else snprintf(cell, sizeof cell, "%.4g", mean);
      outf(o, " %26s", cell);
    }
    for (size_t r = 0; r < R; r++) {
      v[r] = 0;
      for (size_t k = t0; k < t; k++) v[r] += dq[r * T + k];
    }
    stats(v, R, &mean, &lo, &hi);
    if (csv) {
      outf(o, "%s,%g,delta_qalys,%.10g,%.10g,%.10g\n", arm, year, mean, lo, hi);
      if (mc) outf(o, "%s,%g,p_saving,%.6g,,\n", arm, year, (double)saving / (double)R);
    } else {
      if (mc) snprintf(cell, sizeof cell, "%.3g [%.3g, %.3g]", mean, lo, hi);
      else snprintf(cell, sizeof cell, "%.3g", mean);
      outf(o, " %22s", cell);
      if (mc) outf(o, "  %16.2f", (double)saving / (double)R);
      outf(o, "\n");
    }
    t0 = t;
  }
  /* Break-even: the step from which the cumulative net cost stays at or below 0. */
  size_t never = 0, n_be = 0;
  for (size_t r = 0; r < R; r++) {
    if (be[r] < 0) never++;
    else v[n_be++] = be[r] * step_months;
  }
  if (csv) {
    if (n_be) {
      double mean, lo, hi;
      stats(v, n_be, &mean, &lo, &hi);
      outf(o, "%s,all,breakeven_month,%.6g,%.6g,%.6g\n", arm, mean, lo, hi);
    }
    outf(o, "%s,all,p_no_breakeven,%.6g,,\n", arm, (double)never / (double)R);
    outf(o, "%s,all,icer,%.10g,,\n", arm, icer[0]);
  } else {
    if (n_be) {
      double mean, lo, hi;
      stats(v, n_be, &mean, &lo, &hi);
      gsl_sort(v, 1, n_be);
      outf(o, "break-even: month %.0f (median%s)", gsl_stats_median_from_sorted_data(v, 1, n_be),
           mc ? "" : ", expected values");
      if (mc) outf(o, ", 90%% interval [%.0f, %.0f]", lo, hi);
    } else {
      outf(o, "break-even: none");
    }
    if (mc && never) outf(o, "; never within the horizon in %.0f%% of replications",
                         100.0 * (double)never / (double)R);
    double mean_q = 0;
    for (size_t r = 0; r < R; r++)
      for (size_t k = 0; k < T; k++) mean_q += dq[r * T + k] / (double)R;
    outf(o, "\nincremental cost per quality-adjusted child-year (discounted): %.6g%s\n", icer[0],
         icer[0] < 0 && mean_q > 0 ? " (cheaper and better: dominant)"
         : icer[0] < 0 ? " (dearer and worse: dominated)" : "");
  }
  /* With parameter uncertainty in blocks: how much of the spread the parameters explain. */
  if (!csv) {
    int rv;
    hsize_t dv[FL_MAX_RANK];
    double *vc = read_comp(rd, arm, fl_outputs[FL_OUT_VD_DELTA_COST_TOTAL].name, &rv, dv);
    double *vq = read_comp(rd, arm, fl_outputs[FL_OUT_VD_DELTA_QALY_TOTAL].name, &rv, dv);
    if (vc && vq)
      outf(o, "parameter uncertainty explains %.0f%% of the variance of the net cost difference "
           "and %.0f%% of that of the QALY difference (the rest is chance)\n",
           100 * vc[2], 100 * vq[2]);
    free(vc);
    free(vq);
  }
  for (size_t k = 0; k < K; k++) {
    double mean, lo, hi;
    for (size_t r = 0; r < R; r++) v[r] = nmb[r * K + k];
    stats(v, R, &mean, &lo, &hi);
    if (csv) {
      outf(o, "%s,all,net_monetary_benefit_at_%g,%.10g,%.10g,%.10g\n", arm, wtp[k], mean, lo, hi);
      if (mc) outf(o, "%s,all,p_cost_effective_at_%g,%.6g,,\n", arm, wtp[k], pce[k]);
    } else {
      outf(o, "  at %8g a QALY: net monetary benefit %.4g", wtp[k], mean);
      if (mc) outf(o, " [%.4g, %.4g], P(cost-effective) %.2f", lo, hi, pce[k]);
      outf(o, "\n");
    }
  }
out:
  free(dc);
  free(cum);
  free(dq);
  free(be);
  free(icer);
  free(wtp);
  free(nmb);
  free(pce);
  free(v);
  return st;
}

/* Element count of a dataset read by read_doubles. */
static size_t count_of(int rank, const hsize_t *dims) {
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
  return n;
}

/* The last two parts of a key path (a column heading). */
static const char *short_path(const char *path) {
  const char *last = strrchr(path, '.');
  if (!last) return path;
  for (const char *q = last; q > path; q--)
    if (q[-1] == '.') return q;
  return path;
}

/* A sweep's file: each point's parameter values with each comparison's net cost and QALYs
 * gained (means and MCSEs; without comparisons, each arm's cost and QALYs), then the
 * sensitivity of those results to each parameter with its Monte Carlo error. */
static fl_status summarise_sweep(reader *rd, out_buf *o, int csv) {
  size_t K = 0, A = 0, D = 0;
  char **params = read_names(rd, "/parameters", &K), **arms = read_names(rd, "/arm_names", &A);
  char **design = read_names(rd, "/design", &D);
  int rank;
  hsize_t dims[FL_MAX_RANK];
  double *values = read_doubles(rd, "/values", &rank, dims);
  fl_status st = FL_OK;
  if (!params || !arms || !design || D != 1 || A == 0 || !values || rank != 2 || dims[1] != K) {
    st = bad_file(rd, "a sweep without /parameters, /arm_names, /design or /values [P, K]");
    goto out;
  }
  const size_t P = (size_t)dims[0];
  const int grid = !strcmp(design[0], "grid");
  /* The results shown: comparisons when there are arms besides the baseline. */
  static const char *const comp_results[2] = {"delta_cost_total", "delta_qaly_total"};
  static const char *const arm_results[2] = {"cost_discounted", "qalys_discounted"};
  const int comps = A > 1;
  const char *const *results = comps ? comp_results : arm_results;
  const char *group = comps ? "comparisons" : "arms";
  const size_t first = comps ? 1 : 0;
  /* CSV: one long table; for points, `parameters` holds the point's values (;-separated),
   * for sensitivities the parameter's key path. */
  if (csv) outf(o, "section,point,parameters,arm,result,value,mcse,se_points\n");
  else {
    outf(o, "%s: sweep, %s design, %zu points over %zu parameters:\n", rd->path, design[0], P, K);
    for (size_t j = 0; j < K; j++) outf(o, "  %s\n", params[j]);
  }
  for (size_t a = first; a < A && st == FL_OK; a++)
    for (int k = 0; k < 2 && st == FL_OK; k++) {
      char path[512];
      int r1, r2;
      hsize_t d1[FL_MAX_RANK], d2[FL_MAX_RANK];
      snprintf(path, sizeof path, "/%s/%s/%s", group, arms[a], results[k]);
      double *mean = read_doubles(rd, path, &r1, d1);
      snprintf(path, sizeof path, "/%s/%s/%s_mcse", group, arms[a], results[k]);
      double *mcse = read_doubles(rd, path, &r2, d2);
      if (!mean || !mcse || count_of(r1, d1) != P || count_of(r2, d2) != P) {
        st = bad_file(rd, "a sweep result without one value per point");
      } else if (!csv) {
        outf(o, "\n%s: %s (mean +- MCSE)\n", arms[a], results[k]);
        for (size_t j = 0; j < K; j++) outf(o, "%-27.27s ", short_path(params[j]));
        outf(o, "%16s %12s\n", "mean", "mcse");
        for (size_t p = 0; p < P; p++) {
          for (size_t j = 0; j < K; j++) outf(o, "%-27.6g ", values[p * K + j]);
          outf(o, "%16.6g %12.4g\n", mean[p], mcse[p]);
        }
      } else {
        for (size_t p = 0; p < P; p++) {
          outf(o, "point,%zu,", p);
          for (size_t j = 0; j < K; j++) outf(o, "%s%.10g", j ? ";" : "", values[p * K + j]);
          outf(o, ",%s,%s,%.10g,%.10g,\n", arms[a], results[k], mean[p], mcse[p]);
        }
      }
      free(mean);
      free(mcse);
    }
  /* Sensitivity: the measures of the design. */
  const int saltelli = !strcmp(design[0], "saltelli");
  const char *const measures[2] = {grid ? "main_effect_range" : saltelli ? "sobol_first" : "prcc",
                                   saltelli ? "sobol_total" : NULL};
  if (st == FL_OK && !csv)
    outf(o, "\nSensitivity: %s (with its Monte Carlo standard error%s)\n",
         grid       ? "main-effect range over each parameter's values"
         : saltelli ? "first-order and total Sobol indices"
                    : "partial rank correlation with each parameter",
         grid ? "" : ", and the error from the finite number of points");
  for (int mi = 0; mi < 2 && measures[mi]; mi++)
    for (size_t a = first; a < A && st == FL_OK; a++)
      for (int k = 0; k < 2 && st == FL_OK; k++) {
        const char *measure = measures[mi];
        char path[512];
        int r1, r2;
        hsize_t d1[FL_MAX_RANK], d2[FL_MAX_RANK];
        snprintf(path, sizeof path, "/sensitivity/%s/%s/%s/%s", group, arms[a], results[k],
                 measure);
        double *v = read_doubles(rd, path, &r1, d1);
        snprintf(path, sizeof path, "/sensitivity/%s/%s/%s/%s_mcse", group, arms[a], results[k],
                 measure);
        double *e = read_doubles(rd, path, &r2, d2);
        /* Sampled designs also have the error from the finite points. */
        int r3 = -1;
        hsize_t d3[FL_MAX_RANK];
        snprintf(path, sizeof path, "/sensitivity/%s/%s/%s/%s_se_points", group, arms[a],
                 results[k], measure);
        double *se = grid ? NULL : read_doubles(rd, path, &r3, d3);
        if (se && count_of(r3, d3) != K) {
          free(se);
          se = NULL;
        }
        if (!v || !e || count_of(r1, d1) != K || count_of(r2, d2) != K) {
          st = bad_file(rd, "a sweep without its sensitivity measures");
        } else {
          for (size_t j = 0; j < K; j++)
            if (csv) {
              outf(o, "%s,,%s,%s,%s,%.10g,%.10g,", measure, params[j], arms[a], results[k], v[j],
                   e[j]);
              if (se) outf(o, "%.10g", se[j]);
              outf(o, "\n");
            } else {
              outf(o, "  %-24s %-18s %-30s %-17s %14.6g +- %.3g", arms[a], results[k],
                   short_path(params[j]), measure, v[j], e[j]);
              if (se) outf(o, " (MC) +- %.3g (points)", se[j]);
              outf(o, "\n");
            }
        }
        free(v);
        free(e);
        free(se);
      }
out:
  free(values);
  fl_names_free(params, K);
  fl_names_free(arms, A);
  fl_names_free(design, D);
  return st;
}

static herr_t collect_arm(hid_t g, const char *name, const H5L_info_t *info, void *data) {
  char ***list = data;
  size_t n = 0;
  (void)g;
  (void)info;
  while ((*list)[n]) n++;
  char **grown = realloc(*list, (n + 2) * sizeof **list);
  if (!grown) return -1;
  grown[n] = fl_strdup(name);
  grown[n + 1] = NULL;
  *list = grown;
  return grown[n] ? 0 : -1;
}

fl_status fl_summary_print(const char *path, int csv, void (*write)(void *ctx, const char *text),
                           void *ctx, fl_error *err) {
  reader rd = {.file = -1, .path = path, .err = err};
  out_buf o = {write, ctx};
  char **levels = NULL, **holders = NULL, **arms = calloc(1, sizeof *arms);
  size_t L = 0, B = 0;
  double step = 1;
  char mode[32] = "";
  fl_status st = FL_OK;
  hid_t a, g = -1;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  if (!arms) return FL_ENOMEM;
  if (H5Fis_hdf5(path) <= 0) {
    free(arms);
    fl_error_set(err, FL_EINPUT, path, 0, 0, NULL,
                 "cannot open the file as HDF5 (missing, unreadable or not an HDF5 file)");
    return FL_EINPUT;
  }
  rd.file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (rd.file < 0) {
    free(arms);
    fl_error_set(err, FL_EINPUT, path, 0, 0, NULL, "cannot open the file as HDF5");
    return FL_EINPUT;
  }
  if ((a = H5Aopen(rd.file, "mode", H5P_DEFAULT)) >= 0) {
    hid_t t = H5Aget_type(a);
    if (H5Tget_class(t) == H5T_STRING && H5Tget_size(t) < sizeof mode) H5Aread(a, t, mode);
    H5Tclose(t);
    H5Aclose(a);
  }
  if ((a = H5Aopen(rd.file, "step_months", H5P_DEFAULT)) >= 0) {
    H5Aread(a, H5T_NATIVE_DOUBLE, &step);
    H5Aclose(a);
  }
  if (!strcmp(mode, "sweep")) {
    st = summarise_sweep(&rd, &o, csv);
    goto out;
  }
  levels = read_names(&rd, "/levels", &L);
  holders = read_names(&rd, "/budget_holders", &B);
  if (strcmp(mode, "monte_carlo") && strcmp(mode, "expectation")) {
    st = bad_file(&rd, "the root attribute 'mode' is missing");
    goto out;
  }
  if (!levels || !holders || !(step > 0)) {
    st = bad_file(&rd, "/levels, /budget_holders or the step_months attribute is missing");
    goto out;
  }
  g = H5Gopen2(rd.file, "/arms", H5P_DEFAULT);
  if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_arm, &arms) < 0 ||
      !arms[0]) {
    st = bad_file(&rd, "no arms under /arms");
    goto out;
  }
  if (csv) outf(&o, "arm,year,measure,mean,q05,q95\n");
  else outf(&o, "%s results (%s), step %g months\n", path, mode, step);
  for (size_t i = 0; arms[i] && st == FL_OK; i++)
    st = summarise_arm(&rd, &o, arms[i], csv, !strcmp(mode, "monte_carlo"), step, levels, L,
                       holders, B);
  /* Then every arm against the baseline. */
  for (size_t i = 0; arms[i] && st == FL_OK; i++)
    if (strcmp(arms[i], "baseline"))
      st = summarise_comparison(&rd, &o, arms[i], csv, !strcmp(mode, "monte_carlo"), step,
                                holders, B);
out:
  if (g >= 0) H5Gclose(g);
  H5Fclose(rd.file);
  fl_names_free(levels, L);
  fl_names_free(holders, B);
  for (size_t i = 0; arms[i]; i++) free(arms[i]);
  free(arms);
  return st;
}
