/* `flourish summary` of a sweep's file: each point's parameter values with each comparison's
 * net cost and QALYs gained (means and MCSEs; without comparisons, each arm's cost and QALYs),
 * then the sensitivity of those results to each parameter with its Monte Carlo error. */
#include "output/reader.h"

#include <stdlib.h>
#include <string.h>

/* The last two parts of a key path (a column heading). */
static const char *short_path(const char *path) {
  const char *last = strrchr(path, '.');
  if (!last) return path;
  for (const char *q = last; q > path; q--)
    if (q[-1] == '.') return q;
  return path;
}

/* A sweep's file, read back: its parameters and points, and which results it shows
 * (comparisons when there are arms besides the baseline, else each arm's own). */
typedef struct sweep_view {
  fl_reader *rd;
  fl_out *o;
  int csv, grid;
  char **params, **arms;
  size_t K, A, P, first;
  const double *values; /* [P, K] */
  const char *group;
  const char *const *results;
} sweep_view;

/* Each point's values with result k of arm a (mean and MCSE). */
static fl_status sweep_points(const sweep_view *w, size_t a, int k) {
  fl_out *o = w->o;
  const size_t K = w->K, P = w->P;
  char path[512];
  int r1, r2;
  hsize_t d1[FL_MAX_RANK], d2[FL_MAX_RANK];
  fl_status st = FL_OK;
  snprintf(path, sizeof path, "/%s/%s/%s", w->group, w->arms[a], w->results[k]);
  double *mean = fl_reader_doubles(w->rd, path, &r1, d1);
  snprintf(path, sizeof path, "/%s/%s/%s_mcse", w->group, w->arms[a], w->results[k]);
  double *mcse = fl_reader_doubles(w->rd, path, &r2, d2);
  if (!mean || !mcse || fl_reader_count(r1, d1) != P || fl_reader_count(r2, d2) != P) {
    st = fl_reader_bad(w->rd, "a sweep result without one value per point");
  } else if (!w->csv) {
    fl_outf(o, "\n%s: %s (mean +- MCSE)\n", w->arms[a], w->results[k]);
    for (size_t j = 0; j < K; j++) fl_outf(o, "%-27.27s ", short_path(w->params[j]));
    fl_outf(o, "%16s %12s\n", "mean", "mcse");
    for (size_t p = 0; p < P; p++) {
      for (size_t j = 0; j < K; j++) fl_outf(o, "%-27.6g ", w->values[p * K + j]);
      fl_outf(o, "%16.6g %12.4g\n", mean[p], mcse[p]);
    }
  } else {
    for (size_t p = 0; p < P; p++) {
      fl_outf(o, "point,%zu,", p);
      for (size_t j = 0; j < K; j++) fl_outf(o, "%s%.10g", j ? ";" : "", w->values[p * K + j]);
      fl_outf(o, ",%s,%s,%.10g,%.10g,\n", w->arms[a], w->results[k], mean[p], mcse[p]);
    }
  }
  free(mean);
  free(mcse);
  return st;
}

/* The sensitivity measure of result k of arm a to each parameter, with its Monte Carlo error
 * (and, on sampled designs, the error from the finite number of points). */
static fl_status sweep_measure(const sweep_view *w, const char *measure, size_t a, int k) {
  fl_out *o = w->o;
  const size_t K = w->K;
  const char *arm = w->arms[a], *result = w->results[k];
  char path[512];
  int r1, r2, r3 = -1;
  hsize_t d1[FL_MAX_RANK], d2[FL_MAX_RANK], d3[FL_MAX_RANK];
  fl_status st = FL_OK;
  snprintf(path, sizeof path, "/sensitivity/%s/%s/%s/%s", w->group, arm, result, measure);
  double *v = fl_reader_doubles(w->rd, path, &r1, d1);
  snprintf(path, sizeof path, "/sensitivity/%s/%s/%s/%s_mcse", w->group, arm, result, measure);
  double *e = fl_reader_doubles(w->rd, path, &r2, d2);
  snprintf(path, sizeof path, "/sensitivity/%s/%s/%s/%s_se_points", w->group, arm, result,
           measure);
  double *se = w->grid ? NULL : fl_reader_doubles(w->rd, path, &r3, d3);
  if (se && fl_reader_count(r3, d3) != K) {
    free(se);
    se = NULL;
  }
  if (!v || !e || fl_reader_count(r1, d1) != K || fl_reader_count(r2, d2) != K) {
    st = fl_reader_bad(w->rd, "a sweep without its sensitivity measures");
  } else {
    for (size_t j = 0; j < K; j++)
      if (w->csv) {
        fl_outf(o, "%s,,%s,%s,%s,%.10g,%.10g,", measure, w->params[j], arm, result, v[j], e[j]);
        if (se) fl_outf(o, "%.10g", se[j]);
        fl_outf(o, "\n");
      } else {
        fl_outf(o, "  %-24s %-18s %-30s %-17s %14.6g +- %.3g", arm, result,
                short_path(w->params[j]), measure, v[j], e[j]);
        if (se) fl_outf(o, " (MC) +- %.3g (points)", se[j]);
        fl_outf(o, "\n");
      }
  }
  free(v);
  free(e);
  free(se);
  return st;
}

fl_status fl_summarise_sweep(fl_reader *rd, fl_out *o, int csv) {
  size_t K = 0, A = 0, D = 0;
  char **params = fl_reader_names(rd, "/parameters", &K);
  char **arms = fl_reader_names(rd, "/arm_names", &A), **design = fl_reader_names(rd, "/design", &D);
  int rank;
  hsize_t dims[FL_MAX_RANK];
  double *values = fl_reader_doubles(rd, "/values", &rank, dims);
  fl_status st = FL_OK;
  if (!params || !arms || !design || D != 1 || A == 0 || !values || rank != 2 || dims[1] != K) {
    st = fl_reader_bad(rd, "a sweep without /parameters, /arm_names, /design or /values [P, K]");
    goto out;
  }
  static const char *const comp_results[2] = {"delta_cost_total", "delta_qaly_total"};
  static const char *const arm_results[2] = {"cost_discounted", "qalys_discounted"};
  const int comps = A > 1;
  const sweep_view w = {rd, o, csv, !strcmp(design[0], "grid"), params, arms, K, A,
                        (size_t)dims[0], comps ? 1 : 0, values,
                        comps ? "comparisons" : "arms", comps ? comp_results : arm_results};
  /* CSV: one long table; for points, `parameters` holds the point's values (;-separated),
   * for sensitivities the parameter's key path. */
  if (csv) fl_outf(o, "section,point,parameters,arm,result,value,mcse,se_points\n");
  else {
    fl_outf(o, "%s: sweep, %s design, %zu points over %zu parameters:\n", rd->path, design[0], w.P,
            K);
    for (size_t j = 0; j < K; j++) fl_outf(o, "  %s\n", params[j]);
  }
  for (size_t a = w.first; a < A && st == FL_OK; a++)
    for (int k = 0; k < 2 && st == FL_OK; k++) st = sweep_points(&w, a, k);
  /* Sensitivity: the measures of the design. */
  const int saltelli = !strcmp(design[0], "saltelli");
  const char *const measures[2] = {w.grid     ? "main_effect_range"
                                   : saltelli ? "sobol_first"
                                              : "prcc",
                                   saltelli ? "sobol_total" : NULL};
  if (st == FL_OK && !csv)
    fl_outf(o, "\nSensitivity: %s (with its Monte Carlo standard error%s)\n",
            w.grid     ? "main-effect range over each parameter's values"
            : saltelli ? "first-order and total Sobol indices"
                       : "partial rank correlation with each parameter",
            w.grid ? "" : ", and the error from the finite number of points");
  for (int mi = 0; mi < 2 && measures[mi]; mi++)
    for (size_t a = w.first; a < A && st == FL_OK; a++)
      for (int k = 0; k < 2 && st == FL_OK; k++) st = sweep_measure(&w, measures[mi], a, k);
out:
  free(values);
  fl_names_free(params, K);
  fl_names_free(arms, A);
  fl_names_free(design, D);
  return st;
}
