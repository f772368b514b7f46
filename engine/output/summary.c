/* `flourish summary`: per arm and year, children at each level (mean and 90% interval over
 * replications), cost by budget holder and quality-adjusted child-years, read back from an
 * output file with nothing but the HDF5 library. */
#include "output/reader.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct arm_data {
  const char *arm;
  int mc;
  double step_months;
  size_t R, T, L, B, per_year;
  char **levels, **holders;
  const double *lvl, *cost, *qol;
  double *v; /* [R] scratch */
} arm_data;

/* One row per (year, measure): arm,year,measure,mean,q05,q95. */
static void arm_csv(fl_out *o, const arm_data *d) {
  const char *arm = d->arm;
  const size_t R = d->R, T = d->T, L = d->L, B = d->B, per_year = d->per_year;
  const double step_months = d->step_months, *lvl = d->lvl, *cost = d->cost, *qol = d->qol;
  char **levels = d->levels, **holders = d->holders;
  double *v = d->v;
  for (size_t y = 0, t = 0, t0 = 0; y == 0 || t0 < T; y++, t0 = t, t = y * per_year < T ? y * per_year : T) {
    double year = (double)t * step_months / 12.0;
    for (size_t l = 0; l < L; l++) {
      double mean, lo, hi;
      for (size_t r = 0; r < R; r++) v[r] = lvl[(r * (T + 1) + t) * L + l];
      fl_stats_90(v, R, &mean, &lo, &hi);
      fl_outf(o, "%s,%g,children_%s,%.6g,%.6g,%.6g\n", arm, year, levels[l], mean, lo, hi);
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
      fl_stats_90(v, R, &mean, &lo, &hi);
      fl_outf(o, "%s,%g,cost_%s,%.10g,%.10g,%.10g\n", arm, year, b == B ? "total" : holders[b],
           mean, lo, hi);
    }
    {
      double mean, lo, hi;
      for (size_t r = 0; r < R; r++) {
        v[r] = 0;
        for (size_t k = t0; k < t; k++) v[r] += qol[r * T + k] * step_months / 12.0;
      }
      fl_stats_90(v, R, &mean, &lo, &hi);
      fl_outf(o, "%s,%g,quality_adjusted_child_years,%.10g,%.10g,%.10g\n", arm, year, mean, lo,
           hi);
    }
  }
}

/* Children by level at the start of each year, cost and QALYs in each year, and the total cost
 * over the horizon by budget holder. */
static void arm_text(fl_out *o, const arm_data *d) {
  const char *arm = d->arm;
  const int mc = d->mc;
  const size_t R = d->R, T = d->T, L = d->L, B = d->B, per_year = d->per_year;
  const double step_months = d->step_months, *lvl = d->lvl, *cost = d->cost, *qol = d->qol;
  char **levels = d->levels, **holders = d->holders;
  double *v = d->v;
  fl_outf(o, "\narm %s: children by level at the start of each year, mean [90%% interval]\n", arm);
  fl_outf(o, "%5s", "year");
  for (size_t l = 0; l < L; l++) fl_outf(o, "  %24.24s", levels[l]);
  fl_outf(o, "  %14s  %12s\n", "cost in year", "QALYs in year");
  for (size_t y = 0, t = 0, t0 = 0; y == 0 || t0 < T; y++, t0 = t, t = y * per_year < T ? y * per_year : T) {
    fl_outf(o, "%5g", (double)t * step_months / 12.0);
    for (size_t l = 0; l < L; l++) {
      double mean, lo, hi;
      char cellbuf[64];
      for (size_t r = 0; r < R; r++) v[r] = lvl[(r * (T + 1) + t) * L + l];
      fl_stats_90(v, R, &mean, &lo, &hi);
      if (mc) snprintf(cellbuf, sizeof cellbuf, "%.1f [%.0f, %.0f]", mean, lo, hi);
      else snprintf(cellbuf, sizeof cellbuf, "%.1f", mean);
      fl_outf(o, "  %24s", cellbuf);
    }
    if (y > 0) {
      double c = 0, q = 0;
      for (size_t r = 0; r < R; r++)
        for (size_t k = t0; k < t; k++) {
          for (size_t b = 0; b < B; b++) c += cost[(r * T + k) * B + b];
          q += qol[r * T + k] * step_months / 12.0;
        }
      fl_outf(o, "  %14.4g  %12.1f", c / (double)R, q / (double)R);
    }
    fl_outf(o, "\n");
  }
  if (B) {
    fl_outf(o, "arm %s: total cost over the horizon by budget holder (mean [90%% interval])\n", arm);
    for (size_t b = 0; b < B; b++) {
      double mean, lo, hi;
      for (size_t r = 0; r < R; r++) {
        v[r] = 0;
        for (size_t k = 0; k < T; k++) v[r] += cost[(r * T + k) * B + b];
      }
      fl_stats_90(v, R, &mean, &lo, &hi);
      fl_outf(o, "  %-28s %14.6g [%.6g, %.6g]\n", holders[b], mean, lo, hi);
    }
  }
}

static fl_status summarise_arm(fl_reader *rd, fl_out *o, const char *arm, int csv, int mc,
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
  lvl = fl_reader_doubles(rd, name, &rank_l, dl);
  snprintf(name, sizeof name, "/arms/%s/%s", arm, fl_outputs[FL_OUT_COSTS].name);
  cost = fl_reader_doubles(rd, name, &rank_c, dc);
  snprintf(name, sizeof name, "/arms/%s/%s", arm, fl_outputs[FL_OUT_QOL].name);
  qol = fl_reader_doubles(rd, name, &rank_q, dq);
  if (!lvl || !cost || !qol || rank_l != 2 + mc || rank_c != 2 + mc || rank_q != 1 + mc) {
    st = fl_reader_bad(rd, "stocks_by_level, costs or qol missing or of the wrong shape");
    goto out;
  }
  R = mc ? dl[0] : 1;
  T = dl[mc] - 1;
  if (dl[mc + 1] != L || dc[mc + 1] != B || dc[mc] != T || dq[mc] != T ||
      (mc && (dc[0] != R || dq[0] != R))) {
    st = fl_reader_bad(rd, "dataset shapes disagree with each other or with /levels and "
                              "/budget_holders");
    goto out;
  }
  snprintf(name, sizeof name, "/arms/%s/%s", arm, fl_outputs[FL_OUT_STOCKS_BY_LEVEL].name);
  if ((mc && !fl_reader_is_integer(rd, name)) ||
      !fl_all_finite(lvl, fl_reader_count(rank_l, dl)) ||
      !fl_all_finite(cost, fl_reader_count(rank_c, dc)) ||
      !fl_all_finite(qol, fl_reader_count(rank_q, dq))) {
    st = fl_reader_bad(rd, "counts that are not whole numbers, or values that are not finite");
    goto out;
  }
  v = fl_malloc_array(R ? R : 1, sizeof *v);
  if (!v) {
    st = FL_ENOMEM;
    goto out;
  }
  const arm_data d = {arm, mc, step_months, R, T, L, B, per_year, levels, holders, lvl, cost, qol,
                      v};
  if (csv) arm_csv(o, &d);
  else arm_text(o, &d);
out:
  free(lvl);
  free(cost);
  free(qol);
  free(v);
  return st;
}

/* Reads /comparisons/<arm>/<name> as doubles; NULL when absent. */
static double *read_comp(fl_reader *rd, const char *arm, const char *name, int *rank, hsize_t *dims) {
  char path[512];
  snprintf(path, sizeof path, "/comparisons/%s/%s", arm, name);
  return fl_reader_doubles(rd, path, rank, dims);
}

/* One comparison's datasets, read back (doubles), and their shape. */
typedef struct comparison {
  const char *arm;
  int csv, mc;
  double step_months;
  size_t R, T, K, B, per_year;
  char **holders;
  double *dc, *cum, *dq, *be, *icer, *wtp, *nmb, *pce;
  double *v; /* [R] scratch */
} comparison;

static void comparison_free(comparison *c) {
  free(c->dc);
  free(c->cum);
  free(c->dq);
  free(c->be);
  free(c->icer);
  free(c->wtp);
  free(c->nmb);
  free(c->pce);
  free(c->v);
}

/* Whether a dataset read with this shape has exactly n elements (n a product of sizes from the
 * file, in double so that a damaged file's sizes cannot wrap around). */
static int holds(int rank, const hsize_t *dims, double n) {
  return (double)fl_reader_count(rank, dims) == n;
}

/* Reads the comparison group of arm; FL_EINPUT when it is incomplete or its datasets disagree
 * in shape. */
static fl_status comparison_read(fl_reader *rd, comparison *c) {
  int rk[8];
  hsize_t d[8][FL_MAX_RANK];
  const char *arm = c->arm;
  const int mc = c->mc;
  c->dc = read_comp(rd, arm, fl_outputs[FL_OUT_DELTA_COSTS].name, &rk[0], d[0]);
  c->cum = read_comp(rd, arm, fl_outputs[FL_OUT_CUMULATIVE_NET_COST].name, &rk[1], d[1]);
  c->dq = read_comp(rd, arm, fl_outputs[FL_OUT_DELTA_QALYS].name, &rk[2], d[2]);
  c->be = read_comp(rd, arm, fl_outputs[FL_OUT_BREAKEVEN_STEP].name, &rk[3], d[3]);
  c->icer = read_comp(rd, arm, fl_outputs[FL_OUT_ICER].name, &rk[4], d[4]);
  c->wtp = read_comp(rd, arm, fl_outputs[FL_OUT_WILLINGNESS_TO_PAY].name, &rk[5], d[5]);
  c->nmb = read_comp(rd, arm, fl_outputs[FL_OUT_NET_MONETARY_BENEFIT].name, &rk[6], d[6]);
  c->pce = mc ? read_comp(rd, arm, fl_outputs[FL_OUT_P_COST_EFFECTIVE].name, &rk[7], d[7]) : NULL;
  c->per_year = (size_t)llround(12.0 / c->step_months);
  if (c->per_year < 1 || fabs((double)c->per_year * c->step_months - 12.0) > 1e-9) c->per_year = 1;
  if (!c->dc || !c->cum || !c->dq || !c->be || !c->icer || !c->wtp || !c->nmb || (mc && !c->pce) ||
      rk[0] != 2 + mc || d[0][mc + 1] != c->B)
    return fl_reader_bad(rd, "a comparison group is incomplete");
  const size_t R = c->R = mc ? d[0][0] : 1, T = c->T = d[0][mc];
  const size_t K = c->K = rk[5] == 1 ? d[5][0] : 0;
  /* The rest is indexed by these sizes: replications, steps and willingness-to-pay values. */
  if (rk[5] != 1 || !holds(rk[1], d[1], (double)R * T) || !holds(rk[2], d[2], (double)R * T) ||
      !holds(rk[3], d[3], (double)R) || fl_reader_count(rk[4], d[4]) < 1 ||
      !holds(rk[6], d[6], (double)R * K) || (mc && !holds(rk[7], d[7], (double)K)))
    return fl_reader_bad(rd, "the datasets of a comparison group disagree in shape");
  if (!(c->v = fl_malloc_array(c->R, sizeof *c->v))) return FL_ENOMEM;
  return FL_OK;
}

/* Per year: the difference in cost by budget holder and in total, the cumulative net cost,
 * QALYs and the probability of a net saving so far. */
static void comparison_by_year(fl_out *o, comparison *c) {
  const char *arm = c->arm;
  const int csv = c->csv, mc = c->mc;
  const size_t R = c->R, T = c->T, B = c->B, per_year = c->per_year;
  const double step_months = c->step_months, *dc = c->dc, *cum = c->cum, *dq = c->dq;
  char **holders = c->holders;
  double *v = c->v;
  if (!csv) {
    fl_outf(o, "\n%s minus baseline, by year: mean%s (negative is a saving)\n", arm,
         mc ? " [90% interval]" : "");
    fl_outf(o, "%5s", "year");
    for (size_t b = 0; b < B; b++) fl_outf(o, " %12.12s", holders[b]);
    fl_outf(o, " %26s %26s %22s%s\n", "net cost in year", "cumulative net cost", "QALYs in year",
         mc ? "  P(saving so far)" : "");
  }
  for (size_t y = 1, t0 = 0; t0 < T; y++) {
    const size_t t = y * per_year < T ? y * per_year : T;
    const double year = (double)t * step_months / 12.0;
    double mean, lo, hi;
    char cell[64];
    if (!csv) fl_outf(o, "%5g", year);
    for (size_t b = 0; b <= B; b++) { /* b == B: the net over budget holders */
      for (size_t r = 0; r < R; r++) {
        v[r] = 0;
        for (size_t k = t0; k < t; k++)
          for (size_t bb = 0; bb < B; bb++)
            if (b == B || bb == b) v[r] += dc[(r * T + k) * B + bb];
      }
      fl_stats_90(v, R, &mean, &lo, &hi);
      if (csv) fl_outf(o, "%s,%g,delta_cost_%s,%.10g,%.10g,%.10g\n", arm, year,
                    b == B ? "net" : holders[b], mean, lo, hi);
      else if (b < B) fl_outf(o, " %12.4g", mean);
      else {
        if (mc) snprintf(cell, sizeof cell, "%.4g [%.3g, %.3g]", mean, lo, hi);
        else snprintf(cell, sizeof cell, "%.4g", mean);
        fl_outf(o, " %26s", cell);
      }
    }
    size_t saving = 0;
    for (size_t r = 0; r < R; r++) {
      v[r] = cum[r * T + t - 1];
      saving += v[r] < 0;
    }
    fl_stats_90(v, R, &mean, &lo, &hi);
    if (csv) fl_outf(o, "%s,%g,cumulative_net_cost,%.10g,%.10g,%.10g\n", arm, year, mean, lo, hi);
    else {
      if (mc) snprintf(cell, sizeof cell, "%.4g [%.3g, %.3g]", mean, lo, hi);
      else snprintf(cell, sizeof cell, "%.4g", mean);
      fl_outf(o, " %26s", cell);
    }
    for (size_t r = 0; r < R; r++) {
      v[r] = 0;
      for (size_t k = t0; k < t; k++) v[r] += dq[r * T + k];
    }
    fl_stats_90(v, R, &mean, &lo, &hi);
    if (csv) {
      fl_outf(o, "%s,%g,delta_qalys,%.10g,%.10g,%.10g\n", arm, year, mean, lo, hi);
      if (mc) fl_outf(o, "%s,%g,p_saving,%.6g,,\n", arm, year, (double)saving / (double)R);
    } else {
      if (mc) snprintf(cell, sizeof cell, "%.3g [%.3g, %.3g]", mean, lo, hi);
      else snprintf(cell, sizeof cell, "%.3g", mean);
      fl_outf(o, " %22s", cell);
      if (mc) fl_outf(o, "  %16.2f", (double)saving / (double)R);
      fl_outf(o, "\n");
    }
    t0 = t;
  }
}

/* The break-even step: when the cumulative net cost stays at or below 0 (median and interval
 * over replications), and the ICER. */
static void comparison_breakeven(fl_out *o, comparison *c) {
  const char *arm = c->arm;
  const int csv = c->csv, mc = c->mc;
  const size_t R = c->R, T = c->T;
  const double step_months = c->step_months, *be = c->be, *icer = c->icer, *dq = c->dq;
  double *v = c->v;
  size_t never = 0, n_be = 0;
  for (size_t r = 0; r < R; r++) {
    if (be[r] < 0) never++;
    else v[n_be++] = be[r] * step_months;
  }
  if (csv) {
    if (n_be) {
      double mean, lo, hi;
      fl_stats_90(v, n_be, &mean, &lo, &hi);
      fl_outf(o, "%s,all,breakeven_month,%.6g,%.6g,%.6g\n", arm, mean, lo, hi);
    }
    fl_outf(o, "%s,all,p_no_breakeven,%.6g,,\n", arm, (double)never / (double)R);
    fl_outf(o, "%s,all,icer,%.10g,,\n", arm, icer[0]);
  } else {
    if (n_be) {
      double mean, lo, hi;
      fl_stats_90(v, n_be, &mean, &lo, &hi);
      gsl_sort(v, 1, n_be);
      fl_outf(o, "break-even: month %.0f (median%s)", gsl_stats_median_from_sorted_data(v, 1, n_be),
           mc ? "" : ", expected values");
      if (mc) fl_outf(o, ", 90%% interval [%.0f, %.0f]", lo, hi);
    } else {
      fl_outf(o, "break-even: none");
    }
    if (mc && never) fl_outf(o, "; never within the horizon in %.0f%% of replications",
                         100.0 * (double)never / (double)R);
    double mean_q = 0;
    for (size_t r = 0; r < R; r++)
      for (size_t k = 0; k < T; k++) mean_q += dq[r * T + k] / (double)R;
    fl_outf(o, "\nincremental cost per quality-adjusted child-year (discounted): %.6g%s\n", icer[0],
         icer[0] < 0 && mean_q > 0 ? " (cheaper and better: dominant)"
         : icer[0] < 0 ? " (dearer and worse: dominated)" : "");
  }
}

/* With parameter uncertainty in blocks, how much of the spread the parameters explain; then
 * the net monetary benefit (and the probability of being cost-effective) at each willingness
 * to pay. */
static void comparison_value(fl_reader *rd, fl_out *o, comparison *c) {
  const char *arm = c->arm;
  const int csv = c->csv, mc = c->mc;
  const size_t R = c->R, K = c->K;
  const double *nmb = c->nmb, *wtp = c->wtp, *pce = c->pce;
  double *v = c->v;
  if (!csv) {
    int rank_c, rank_q;
    hsize_t dims_c[FL_MAX_RANK], dims_q[FL_MAX_RANK];
    double *vc = read_comp(rd, arm, fl_outputs[FL_OUT_VD_DELTA_COST_TOTAL].name, &rank_c, dims_c);
    double *vq = read_comp(rd, arm, fl_outputs[FL_OUT_VD_DELTA_QALY_TOTAL].name, &rank_q, dims_q);
    if (vc && vq && fl_reader_count(rank_c, dims_c) >= 3 && fl_reader_count(rank_q, dims_q) >= 3)
      fl_outf(o, "parameter uncertainty explains %.0f%% of the variance of the net cost difference "
           "and %.0f%% of that of the QALY difference (the rest is chance)\n",
           100 * vc[2], 100 * vq[2]);
    free(vc);
    free(vq);
  }
  for (size_t k = 0; k < K; k++) {
    double mean, lo, hi;
    for (size_t r = 0; r < R; r++) v[r] = nmb[r * K + k];
    fl_stats_90(v, R, &mean, &lo, &hi);
    if (csv) {
      fl_outf(o, "%s,all,net_monetary_benefit_at_%g,%.10g,%.10g,%.10g\n", arm, wtp[k], mean, lo, hi);
      if (mc) fl_outf(o, "%s,all,p_cost_effective_at_%g,%.6g,,\n", arm, wtp[k], pce[k]);
    } else {
      fl_outf(o, "  at %8g a QALY: net monetary benefit %.4g", wtp[k], mean);
      if (mc) fl_outf(o, " [%.4g, %.4g], P(cost-effective) %.2f", lo, hi, pce[k]);
      fl_outf(o, "\n");
    }
  }
}

/* The arm against the baseline: by year, break-even and ICER, and value for money. */
static fl_status summarise_comparison(fl_reader *rd, fl_out *o, const char *arm, int csv, int mc,
                                      double step_months, char **holders, size_t B) {
  comparison c = {.arm = arm, .csv = csv, .mc = mc, .step_months = step_months, .B = B,
                  .holders = holders};
  fl_status st = comparison_read(rd, &c);
  if (st == FL_OK) {
    comparison_by_year(o, &c);
    comparison_breakeven(o, &c);
    comparison_value(rd, o, &c);
  }
  comparison_free(&c);
  return st;
}

/* /states and /state_level agree (one level, within /levels, for each state). */
static fl_status check_states(fl_reader *rd, size_t L) {
  size_t S = 0;
  int rank;
  hsize_t dims[FL_MAX_RANK];
  char **states = fl_reader_names(rd, "/states", &S);
  double *level = fl_reader_doubles(rd, "/state_level", &rank, dims);
  int ok = states && level && rank == 1 && dims[0] == S && S > 0;
  for (size_t s = 0; ok && s < S; s++) ok = level[s] >= 0 && level[s] < (double)L && level[s] == floor(level[s]);
  fl_names_free(states, S);
  free(level);
  return ok ? FL_OK : fl_reader_bad(rd, "/states and /state_level are missing or disagree");
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

/* Reads the numeric root attribute name into *v. A damaged file may give the attribute any type
 * and shape: anything but one number leaves *v as it was. */
static void read_root_number(hid_t file, const char *name, double *v) {
  const hid_t a = H5Aopen(file, name, H5P_DEFAULT);
  if (a < 0) return;
  const hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  const H5T_class_t c = H5Tget_class(t);
  if (H5Sget_simple_extent_npoints(sp) == 1 && (c == H5T_FLOAT || c == H5T_INTEGER))
    H5Aread(a, H5T_NATIVE_DOUBLE, v);
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
}

fl_status fl_summary_print(const char *path, int csv, void (*write)(void *ctx, const char *text),
                           void *ctx, fl_error *err) {
  fl_reader rd = {.file = -1, .path = path, .err = err};
  fl_out o = {write, ctx};
  char **levels = NULL, **holders = NULL, **arms = calloc(1, sizeof *arms);
  size_t L = 0, B = 0;
  double step = 1;
  char mode[32] = "";
  fl_status st = FL_OK;
  hid_t g = -1;
  fl_h5_prepare();
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
  fl_reader_attr_text(rd.file, "mode", mode, sizeof mode);
  read_root_number(rd.file, "step_months", &step);
  if (!strcmp(mode, "sweep")) {
    st = fl_summarise_sweep(&rd, &o, csv);
    goto out;
  }
  levels = fl_reader_names(&rd, "/levels", &L);
  holders = fl_reader_names(&rd, "/budget_holders", &B);
  if (strcmp(mode, "monte_carlo") && strcmp(mode, "expectation")) {
    st = fl_reader_bad(&rd, "the root attribute 'mode' is missing");
    goto out;
  }
  if (!levels || !holders || !(step > 0)) {
    st = fl_reader_bad(&rd, "/levels, /budget_holders or the step_months attribute is missing");
    goto out;
  }
  if ((st = check_states(&rd, L)) != FL_OK) goto out;
  g = H5Gopen2(rd.file, "/arms", H5P_DEFAULT);
  if (g < 0 || H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_arm, &arms) < 0 ||
      !arms[0]) {
    st = fl_reader_bad(&rd, "no arms under /arms");
    goto out;
  }
  if (csv) fl_outf(&o, "arm,year,measure,mean,q05,q95\n");
  else fl_outf(&o, "%s results (%s), step %g months\n", path, mode, step);
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

