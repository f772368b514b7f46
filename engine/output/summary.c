/* `flourish summary`: per arm and year, children at each level (mean and 90% interval over
 * replications), cost by budget holder and quality-adjusted child-years, then each arm against
 * the baseline, read back from an output file with nothing but the HDF5 library. The numbers
 * are computed once (summary_table.c) and written as text, CSV or XLSX. */
#include "output/summary_table.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A value of measure m as text: money compact (£1.23m), counts and QALYs with one decimal,
 * probabilities with two, months whole; "never" for an infinite break-even. */
static void cell(const fl_summary *s, const fl_measure *m, double v, char *buf, size_t size) {
  if (isnan(v)) snprintf(buf, size, "n/a");
  else if (isinf(v)) snprintf(buf, size, "never");
  else if (m->unit == FL_UNIT_MONEY || m->unit == FL_UNIT_MONEY_QALY)
    fl_money(buf, size, s->currency, v, 1);
  else if (m->unit == FL_UNIT_PROB) snprintf(buf, size, "%.2f", v);
  else if (m->unit == FL_UNIT_MONTHS) snprintf(buf, size, "%.0f", v);
  else snprintf(buf, size, "%.1f", v);
}

/* "mean [lo, hi]" (or the mean alone, without intervals). */
static void cell_interval(const fl_summary *s, const fl_measure *m, size_t i, char *buf,
                          size_t size) {
  char a[48], b[48], c[48];
  cell(s, m, m->mean[i], a, sizeof a);
  if (!m->interval || isnan(m->lo[i])) {
    snprintf(buf, size, "%s", a);
    return;
  }
  if (m->unit == FL_UNIT_CHILDREN) { /* bounds of counts, whole */
    snprintf(buf, size, "%s [%.0f, %.0f]", a, m->lo[i], m->hi[i]);
    return;
  }
  cell(s, m, m->lo[i], b, sizeof b);
  cell(s, m, m->hi[i], c, sizeof c);
  snprintf(buf, size, "%s [%s, %s]", a, b, c);
}

#define MAX_COLS 48
#define CELL 160

/* A table of the sheet's yearly measures marked for `table` (1: the arm's, 2: the
 * comparison's), a column each, printed with every column as wide as its longest entry. */
static void text_table(fl_out *o, const fl_summary *s, const fl_sheet *sh, int table) {
  const fl_measure *cols[MAX_COLS];
  size_t nc = 0, width[MAX_COLS + 1];
  char(*cells)[CELL] = calloc(s->n_rows * (MAX_COLS + 1), CELL);
  if (!cells) return;
  for (size_t k = 0; k < sh->n && nc < MAX_COLS; k++)
    if (sh->m[k].per_year && sh->m[k].in_text == table) cols[nc++] = &sh->m[k];
  width[0] = 4;
  for (size_t c = 0; c < nc; c++) width[c + 1] = strlen(cols[c]->head);
  for (size_t y = table == 2; y < s->n_rows; y++) {
    char *row = cells[y * (MAX_COLS + 1)];
    snprintf(row, CELL, "%g", s->year_end[y]);
    for (size_t c = 0; c < nc; c++) {
      char *out = cells[y * (MAX_COLS + 1) + c + 1];
      if (isnan(cols[c]->mean[y])) out[0] = '\0';
      else if (table == 2 && strncmp(cols[c]->name, "delta_cost_", 11) == 0 &&
               strcmp(cols[c]->name, "delta_cost_net"))
        cell(s, cols[c], cols[c]->mean[y], out, CELL); /* by holder: means only */
      else cell_interval(s, cols[c], y, out, CELL);
      if (strlen(out) > width[c + 1]) width[c + 1] = strlen(out);
    }
  }
  fl_outf(o, "%*s", (int)width[0], "year");
  for (size_t c = 0; c < nc; c++) fl_outf(o, "  %*s", (int)width[c + 1], cols[c]->head);
  fl_outf(o, "\n");
  for (size_t y = table == 2; y < s->n_rows; y++) {
    fl_outf(o, "%*s", (int)width[0], cells[y * (MAX_COLS + 1)]);
    for (size_t c = 0; c < nc; c++)
      fl_outf(o, "  %*s", (int)width[c + 1], cells[y * (MAX_COLS + 1) + c + 1]);
    fl_outf(o, "\n");
  }
  free(cells);
}

static const fl_measure *find(const fl_sheet *sh, const char *name, int per_year) {
  for (size_t k = 0; k < sh->n; k++)
    if (sh->m[k].per_year == per_year && !strcmp(sh->m[k].name, name)) return &sh->m[k];
  return NULL;
}

/* The comparison's whole-horizon lines: break-even, totals, ICER, variance split, NMB. */
static void text_totals(fl_out *o, const fl_summary *s, const fl_sheet *sh) {
  const fl_measure *be = find(sh, "breakeven_month", 0), *never = find(sh, "p_no_breakeven", 0);
  const fl_measure *dc = find(sh, "delta_cost_total", 0), *dq = find(sh, "delta_qaly_total", 0);
  const fl_measure *icer = find(sh, "icer", 0);
  const fl_measure *pc = find(sh, "parameter_share_delta_cost_total", 0);
  const fl_measure *pq = find(sh, "parameter_share_delta_qaly_total", 0);
  char a[160], b[160];
  cell(s, be, be->median[0], a, sizeof a);
  fl_outf(o, "break-even: %s%s (median)", isinf(be->median[0]) ? "" : "month ", a);
  if (s->mc) {
    cell(s, be, be->lo[0], a, sizeof a);
    cell(s, be, be->hi[0], b, sizeof b);
    fl_outf(o, ", 90%% interval [%s, %s]", a, b);
    if (never && never->mean[0] > 0)
      fl_outf(o, "; never within the horizon in %.0f%% of replications", 100 * never->mean[0]);
  }
  cell_interval(s, dc, 0, a, sizeof a);
  cell_interval(s, dq, 0, b, sizeof b);
  fl_outf(o, "\nover the horizon, discounted: net cost %s, QALYs %s\n", a, b);
  cell(s, icer, icer->mean[0], a, sizeof a);
  fl_outf(o, "incremental cost per quality-adjusted child-year (discounted): %s%s\n", a,
          dc->mean[0] < 0 && dq->mean[0] > 0   ? " (cheaper and better: dominant)"
          : dc->mean[0] > 0 && dq->mean[0] < 0 ? " (dearer and worse: dominated)"
          : dc->mean[0] < 0 && dq->mean[0] < 0 ? " (cheaper and worse: saved per QALY lost)"
                                               : "");
  if (pc && pq)
    fl_outf(o,
            "parameter uncertainty explains %.0f%% of the variance of the net cost difference "
            "and %.0f%% of that of the QALY difference (the rest is chance)\n",
            100 * pc->mean[0], 100 * pq->mean[0]);
  for (size_t k = 0; k < sh->n; k++) {
    const fl_measure *m = &sh->m[k];
    if (strncmp(m->name, "net_monetary_benefit_at_", 24)) continue;
    char p[128];
    snprintf(p, sizeof p, "p_cost_effective_at_%s", m->name + 24);
    const fl_measure *pce = find(sh, p, 0);
    cell_interval(s, m, 0, a, sizeof a);
    fl_outf(o, "  %s: %s", m->label, a);
    if (pce) fl_outf(o, ", P(cost-effective) %.2f", pce->mean[0]);
    fl_outf(o, "\n");
  }
}

static void text_sheet(fl_out *o, const fl_summary *s, const fl_sheet *sh) {
  fl_outf(o,
          "\n%s (arm %s): children by level at the start of each year (year 0) and at the end "
          "of each year, cost and QALYs in the year (undiscounted), mean%s\n",
          sh->label, sh->arm, s->mc ? " [90% interval]" : "");
  text_table(o, s, sh, 1);
  fl_outf(o, "%s: total cost over the horizon by budget holder, mean%s\n", sh->label,
          s->mc ? " [90% interval]" : "");
  for (size_t k = 0; k < sh->n; k++) {
    const fl_measure *m = &sh->m[k];
    char a[160];
    if (m->per_year || strncmp(m->name, "cost_", 5)) continue;
    cell_interval(s, m, 0, a, sizeof a);
    fl_outf(o, "  %-36s %s\n", m->head, a);
  }
}

static void text_comparison(fl_out *o, const fl_summary *s, const fl_sheet *sh) {
  fl_outf(o, "\n%s minus baseline, by year: mean%s, undiscounted (negative is a saving)\n",
          sh->label, s->mc ? " [90% interval]" : "");
  text_table(o, s, sh, 2);
  text_totals(o, s, sh);
}

/* The label of arm name in the summary (the name itself when no sheet has it). */
static const char *arm_label(const fl_summary *s, const char *name) {
  for (size_t i = 0; i < s->n_sheets; i++)
    if (!strcmp(s->sheets[i].arm, name)) return s->sheets[i].label;
  return name;
}

/* The frontier of all arms and, under --psa, the EVPI (files written before these datasets
 * existed have neither, and print nothing here). */
static void text_decision(fl_out *o, fl_reader *rd, const fl_summary *s) {
  static const fl_measure money = {.unit = FL_UNIT_MONEY};
  int rank[5];
  hsize_t dims[5][FL_MAX_RANK];
  size_t n = 0;
  char **names = fl_reader_names(rd, "/frontier/arm", &n);
  double *dc = fl_reader_doubles(rd, "/frontier/delta_cost", &rank[0], dims[0]);
  double *dq = fl_reader_doubles(rd, "/frontier/delta_qalys", &rank[1], dims[1]);
  double *st = fl_reader_doubles(rd, "/frontier/status", &rank[2], dims[2]);
  double *by = fl_reader_doubles(rd, "/frontier/dominated_by", &rank[3], dims[3]);
  double *ic = fl_reader_doubles(rd, "/frontier/icer", &rank[4], dims[4]);
  int ok = names && dc && dq && st && by && ic;
  for (int k = 0; ok && k < 5; k++) ok = rank[k] == 1 && dims[k][0] == n;
  if (ok) {
    size_t w = 3;
    for (size_t a = 0; a < n; a++)
      if (strlen(arm_label(s, names[a])) > w) w = strlen(arm_label(s, names[a]));
    fl_outf(o, "\ncost-effectiveness frontier of all arms: %s discounted cost and QALYs over "
               "the horizon, from the baseline's\n", s->mc ? "mean" : "expected");
    for (size_t a = 0; a < n; a++) {
      char c[64], i[64];
      cell(s, &money, dc[a], c, sizeof c);
      fl_outf(o, "  %-*s  cost %10s  QALYs %8.1f  ", (int)w, arm_label(s, names[a]), c, dq[a]);
      const long j = (long)by[a];
      const char *other = j >= 0 && (size_t)j < n ? arm_label(s, names[j]) : "?";
      if (st[a] == 0 && isnan(ic[a])) fl_outf(o, "on the frontier (its cheapest arm)\n");
      else if (st[a] == 0) {
        cell(s, &money, ic[a], i, sizeof i);
        fl_outf(o, "on the frontier, %s per QALY against the arm below\n", i);
      } else if (st[a] == 1) fl_outf(o, "dominated by %s\n", other);
      else if (st[a] == 2) fl_outf(o, "extendedly dominated (below %s)\n", other);
      else fl_outf(o, "the same as %s\n", other);
    }
  }
  free(dc), free(dq), free(st), free(by), free(ic);
  if (names) fl_names_free(names, n);
  int re, rw;
  hsize_t de[FL_MAX_RANK], dw[FL_MAX_RANK];
  double *evpi = fl_reader_doubles(rd, "/value_of_information/evpi", &re, de);
  double *wtp = fl_reader_doubles(rd, "/value_of_information/willingness_to_pay", &rw, dw);
  int rp;
  hsize_t dp[FL_MAX_RANK];
  double *evppi = fl_reader_doubles(rd, "/value_of_information/evppi", &rp, dp);
  char *group = evppi ? fl_reader_attr_string(rd->file, "evppi_parameters") : NULL;
  if (evpi && wtp && re == 1 && rw == 1 && de[0] == dw[0]) {
    const int partial = evppi && rp == 1 && dp[0] == de[0];
    fl_outf(o, "expected value of perfect information about the drawn parameters (population "
               "simulated; block means, so chance adds to it)%s%s%s:\n",
            partial ? ", and partial for " : "", partial && group ? group : "",
            partial ? " (by regression)" : "");
    for (hsize_t k = 0; k < de[0]; k++) {
      char v[64], l[64], p[64];
      cell(s, &money, wtp[k], l, sizeof l);
      cell(s, &money, evpi[k], v, sizeof v);
      fl_outf(o, "  at %s per QALY: %s", l, v);
      if (partial) {
        cell(s, &money, evppi[k], p, sizeof p);
        fl_outf(o, "; partial %s", p);
      }
      fl_outf(o, "\n");
    }
  }
  free(evpi), free(wtp), free(evppi), free(group);
}

static void csv_number(fl_out *o, double v) {
  if (isnan(v)) fl_outf(o, ",");
  else if (isinf(v)) fl_outf(o, ",%s", v > 0 ? "inf" : "-inf");
  else fl_outf(o, ",%.10g", v);
}

/* One row per arm, year and measure: arm,year,measure,unit,discounted,mean,median,q05,q95;
 * year is empty for a measure over the whole horizon, and a statistic that does not apply is
 * empty. */
static void csv_sheet(fl_out *o, const fl_summary *s, const fl_sheet *sh) {
  for (size_t k = 0; k < sh->n; k++) {
    const fl_measure *m = &sh->m[k];
    char ub[64];
    const char *unit = fl_unit_name(s, m->unit, ub, sizeof ub);
    const char *disc = m->discounted < 0 ? "" : m->discounted ? "yes" : "no";
    for (size_t y = 0; y < (m->per_year ? s->n_rows : 1); y++) {
      if (isnan(m->mean[y]) && isnan(m->median[y])) continue;
      fl_outf(o, "%s,", sh->arm);
      if (m->per_year) fl_outf(o, "%g", s->year_end[y]);
      fl_outf(o, ",%s,%s,%s", m->name, unit, disc);
      csv_number(o, m->mean[y]);
      csv_number(o, m->median[y]);
      csv_number(o, m->lo[y]);
      csv_number(o, m->hi[y]);
      fl_outf(o, "\n");
    }
  }
}

/* Opens path, checks that it is a Flourish output and reads its mode and step. *sweep is set
 * for a sweep's file. */
static fl_status open_output(fl_reader *rd, char *mode, size_t size, double *step) {
  fl_h5_prepare();
  if (H5Fis_hdf5(rd->path) <= 0) {
    fl_error_set(rd->err, FL_EINPUT, rd->path, 0, 0, NULL,
                 "cannot open the file as HDF5 (missing, unreadable or not an HDF5 file)");
    return FL_EINPUT;
  }
  if ((rd->file = H5Fopen(rd->path, H5F_ACC_RDONLY, H5P_DEFAULT)) < 0) {
    fl_error_set(rd->err, FL_EINPUT, rd->path, 0, 0, NULL, "cannot open the file as HDF5");
    return FL_EINPUT;
  }
  fl_reader_attr_text(rd->file, "mode", mode, size);
  *step = 1;
  fl_reader_attr_number(rd->file, "step_months", step);
  return FL_OK;
}

/* A fit's report (flourish fit --report): each parameter's posterior summary. */
static fl_status summarise_fit(fl_reader *rd, fl_out *o, int csv) {
  size_t K = 0;
  int rank = 0;
  hsize_t dims[8];
  char **params = fl_reader_names(rd, "/parameters", &K);
  double *sum = fl_reader_doubles(rd, "/summary", &rank, dims);
  fl_status st = FL_OK;
  if (!params || !sum || rank != 2 || dims[0] != K || dims[1] != 7) {
    st = fl_reader_bad(rd, "/parameters or /summary is missing or of the wrong shape");
    goto out;
  }
  if (csv) fl_outf(o, "parameter,mean,sd,q05,q50,q95,rhat,ess\n");
  else
    fl_outf(o, "%s: a fit's posterior\n%-48s %11s %10s %11s %11s %11s %6s %6s\n", rd->path,
            "parameter", "mean", "sd", "q05", "q50", "q95", "rhat", "ess");
  for (size_t k = 0; k < K; k++) {
    const double *v = sum + k * 7;
    if (csv)
      fl_outf(o, "%s,%.8g,%.8g,%.8g,%.8g,%.8g,%.4f,%.0f\n", params[k], v[0], v[1], v[2], v[3],
              v[4], v[5], v[6]);
    else
      fl_outf(o, "%-48s %11.5g %10.3g %11.5g %11.5g %11.5g %6.3f %6.0f\n", params[k], v[0], v[1],
              v[2], v[3], v[4], v[5], v[6]);
  }
out:
  fl_names_free(params, K);
  free(sum);
  return st;
}

fl_status fl_summary_print(const char *path, int csv, void (*write)(void *ctx, const char *text),
                           void *ctx, fl_error *err) {
  fl_reader rd = {.file = -1, .path = path, .err = err};
  fl_out o = {write, ctx};
  fl_summary s;
  char mode[32];
  double step;
  fl_status st = open_output(&rd, mode, sizeof mode, &step);
  if (st != FL_OK) return st;
  if (!strcmp(mode, "sweep") || !strcmp(mode, "fit")) {
    st = !strcmp(mode, "fit") ? summarise_fit(&rd, &o, csv) : fl_summarise_sweep(&rd, &o, csv);
    H5Fclose(rd.file);
    return st;
  }
  if ((st = fl_summary_read(&rd, mode, step, &s)) == FL_OK) {
    if (csv) fl_outf(&o, "arm,year,measure,unit,discounted,mean,median,q05,q95\n");
    else
      fl_outf(&o, "%s results (%s), step %g months; amounts in %s; %s\n", path, mode, step,
              s.currency[0] ? s.currency : "the scenario's currency", s.parameter_words);
    for (size_t i = 0; i < s.n_sheets; i++) {
      if (csv) csv_sheet(&o, &s, &s.sheets[i]);
      else text_sheet(&o, &s, &s.sheets[i]);
    }
    for (size_t i = 0; !csv && i < s.n_sheets; i++)
      if (s.sheets[i].compared) text_comparison(&o, &s, &s.sheets[i]);
    if (!csv) text_decision(&o, &rd, &s);
  }
  fl_summary_free(&s);
  H5Fclose(rd.file);
  return st;
}

fl_status fl_summary_xlsx(const char *path, const char *xlsx, fl_error *err) {
  fl_reader rd = {.file = -1, .path = path, .err = err};
  fl_summary s;
  char mode[32];
  double step;
  fl_status st = open_output(&rd, mode, sizeof mode, &step);
  if (st != FL_OK) return st;
  if (!strcmp(mode, "sweep")) {
    H5Fclose(rd.file);
    fl_error_set(err, FL_EUSAGE, path, 0, 0, NULL,
                 "--xlsx takes the output of run or expect; for a sweep use --csv");
    return FL_EUSAGE;
  }
  if ((st = fl_summary_read(&rd, mode, step, &s)) == FL_OK)
    st = fl_summary_write_xlsx(&s, xlsx, err);
  fl_summary_free(&s);
  H5Fclose(rd.file);
  return st;
}
