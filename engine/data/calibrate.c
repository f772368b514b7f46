/* `flourish calibrate`: from episode records and a population table to a calibrated scenario.
 *
 * 1. Episodes are read twice, streamed through libcsv (RFC 4180: quoted fields, embedded commas
 *    and newlines): the first pass finds the observation window and the children, the second
 *    paints each child's status on the first day of every month of the window. Overlapping
 *    episodes resolve to the state of the highest level (ties: the state listed later; or, on
 *    request, to the episode given later in the file); months
 *    without a record are the gap state (the first state of the lowest level); an episode
 *    without an end date runs to the extract date. Memory is one byte per child and month,
 *    whatever the number of rows. Identifiers stay in memory and never reach an output.
 * 2. Monthly transitions are counted by age band, from every month to the next while the child
 *    is present (born, and below the maximum age at the next month); children of the
 *    population table who have no record add universal-to-universal months.
 * 3. Each row's probabilities are maximum-likelihood estimates (counts over the row's total),
 *    with exact (Clopper-Pearson) 95% intervals in the report. A row with fewer than min_row
 *    observed child-months in an age band is pooled with all ages (and flagged); a row never
 *    observed keeps the template's probabilities (flagged).
 * 4. The scenario written is the template with its population (stocks at the extract date,
 *    births from the population table) and transitions (with the counts behind every row)
 *    replaced. */
#include "data/calibrate_internal.h"

#include "scenario/scenario.h"

#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Quantile p of Beta(a, b). GSL's inversion does not converge for very large parameters
 * (millions of child-months); there the beta is normal to far better than the digits
 * reported, and its normal quantile is used. */
static double beta_quantile(double p, double a, double b) {
  double q = a + b < 1e5 ? gsl_cdf_beta_Pinv(p, a, b) : NAN;
  if (isnan(q)) {
    const double mean = a / (a + b), sd = sqrt(a * b / ((a + b) * (a + b) * (a + b + 1)));
    q = fmin(1, fmax(0, mean + gsl_cdf_ugaussian_Pinv(p) * sd));
  }
  return q;
}

/* Clopper-Pearson (exact binomial) 95% interval for k successes in n trials. */
static void exact_interval(double k, double n, double *lo, double *hi) {
  *lo = k > 0 ? beta_quantile(0.025, k, n - k + 1) : 0;
  *hi = k < n ? beta_quantile(0.975, k + 1, n - k) : 1;
}

static void report_count(FILE *f, double n, double suppress) {
  if (suppress > 0 && n > 0 && n < suppress) fprintf(f, "<%g", suppress);
  else fprintf(f, "%.0f", n);
}

/* Copies the template's text except the population and transitions sections (and, for the
 * back-casting model, its time, arms and uncertainty). */
static void copy_template(FILE *out, const fl_scenario *sc, int for_check) {
  const fl_node *root = sc->root;
  const char *text = sc->text;
  /* Start offset of each line. */
  size_t lines = 1;
  for (const char *p = text; *p; p++) lines += *p == '\n';
  size_t *start = malloc((lines + 2) * sizeof *start), n = 0;
  if (!start) return;
  start[n++] = 0;
  for (size_t i = 0; text[i]; i++)
    if (text[i] == '\n') start[n++] = i + 1;
  start[n] = strlen(text);
  for (size_t i = 0; i < root->n; i++) {
    const fl_node *key = fl_map_key(root, i);
    const size_t l0 = (size_t)key->line - 1;
    const size_t l1 = i + 1 < root->n ? (size_t)fl_map_key(root, i + 1)->line - 1 : n;
    if (!strcmp(key->value, "population") || !strcmp(key->value, "transitions")) continue;
    if (for_check && (!strcmp(key->value, "time") || !strcmp(key->value, "arms") ||
                      !strcmp(key->value, "uncertainty")))
      continue;
    fwrite(text + start[l0], 1, start[l1 < n ? l1 : n] - start[l0], out);
  }
  free(start);
}

/* The population section: children by state, age year and locality at window month `month`
 * (the recorded children in their states, the universal stock as the population less them),
 * and births per year from the population's age-0 counts. Returns nonzero on failure. */
static int write_population(FILE *out, cal *cp, const cal_records *rec, const cal_population *pr,
                            long month, size_t gap, long age_years_max) {
  const cal *c = cp;
  const fl_model *m = c->m;
  const fl_calibrate_options *opt = c->opt;
  const size_t S = m->S, NL = m->NLOC, A1 = (size_t)age_years_max + 1;
  const size_t ND = opt->n_dur_bands + 1; /* with duration bands, groups by time in state */
  double *cnt = fl_calloc(S * A1 * (NL + 1) * ND, sizeof *cnt);
  if (!cnt) {
    fl_cal_fail(cp, FL_ENOMEM, 0, "out of memory");
    return -1;
  }
  fprintf(out, "population:\n");
  if (m->max_age) fprintf(out, "  max_age_years: %g\n", m->max_age / 12.0);
  fprintf(out, "  initial:\n");
  for (size_t k = 0; k < rec->n_kids; k++) {
    const cal_child *ch = &rec->kids[k];
    const long age = ch->dob >= 0 ? c->w0 + month - ch->dob : -1;
    const unsigned char raw = ch->status[c->LB + month];
    const size_t s = raw == FL_CAL_NO_RECORD ? gap : raw;
    if (s == gap || (ch->dob >= 0 && age < 0) || (m->max_age && age >= (long)m->max_age))
      continue;
    const size_t a = age >= 0 ? (size_t)(age / 12) : (size_t)age_years_max; /* unknown age */
    size_t db = 0;
    if (ND > 1) { /* months the current status has lasted, within the painted history */
      long since = month;
      while (since > -c->LB && ch->status[c->LB + since - 1] == raw &&
             (ch->dob < 0 || since - 1 >= ch->dob - c->w0))
        since--;
      while (db < opt->n_dur_bands && month - since >= (long)llround(opt->dur_bands[db])) db++;
    }
    cnt[((s * A1 + a) * (NL + 1) + (ch->loc >= 0 ? (size_t)ch->loc : NL)) * ND + db]++;
  }
  for (size_t s = 0; s < S; s++)
    for (size_t a = 0; a < A1; a++)
      for (size_t l = 0; l <= NL; l++)
        for (size_t db = 0; db < ND; db++) {
          const double k = cnt[((s * A1 + a) * (NL + 1) + l) * ND + db];
          if (k <= 0) continue;
          fprintf(out, "    - {state: %s, count: %.0f, age_years: ", m->state_names[s], k);
          if ((long)a < age_years_max) fprintf(out, "[%zu, %zu]", a, a + 1);
          else fprintf(out, "[0, %ld]", age_years_max);
          if (l < NL && NL > 1) fprintf(out, ", locality: %s", m->loc_names[l]);
          if (ND > 1) {
            const double lo = db ? opt->dur_bands[db - 1] : 0;
            const double hi = db < opt->n_dur_bands ? opt->dur_bands[db] : lo + 12;
            fprintf(out, ", time_in_state_months: [%g, %g]", lo, hi);
          }
          fprintf(out, "}\n");
        }
  for (long a = 0; a < age_years_max; a++) {
    double total = fl_cal_pop_at(pr, c->w0 + month, (int)a, -1), recorded = 0;
    for (size_t s = 0; s < S; s++)
      for (size_t l = 0; l <= NL; l++)
        for (size_t db = 0; db < ND; db++) recorded += cnt[((s * A1 + (size_t)a) * (NL + 1) + l) * ND + db];
    if (total - recorded >= 0.5) {
      /* Universal since birth: time in state is the age. */
      fprintf(out, "    - {state: %s, count: %.0f, age_years: [%ld, %ld]", m->state_names[gap],
              floor(total - recorded + 0.5), a, a + 1);
      if (ND > 1) fprintf(out, ", time_in_state_months: [%ld, %ld]", a * 12, a * 12 + 12);
      fprintf(out, "}\n");
    }
  }
  free(cnt);
  fprintf(out,
          "  entries:\n    births:\n      per_year: %.1f   # children aged 0 in the "
          "population table, mean over its dates\n      age_years: [0, 0]\n      states: "
          "{%s: 1}\n",
          fl_cal_births_per_year(pr), m->state_names[gap]);
  /* Net migration: ages with a net inflow become entry streams (arriving universal during the
   * year, aged a to a + 1); a net outflow overall becomes an out-migration probability. */
  cal_migration mig;
  fl_cal_migration(pr, age_years_max, &mig);
  for (long a = 0; a < FL_CAL_MIGRATION_AGES; a++)
    if (mig.in_per_year[a] > 0)
      fprintf(out,
              "    in_migration_%ld:   # net inflow of children aged %ld to %ld, from the "
              "population table\n      per_year: %.2f\n      age_years: [%ld, %ld]\n      "
              "states: {%s: 1}\n",
              a, a, a + 1, mig.in_per_year[a], a, a + 1, m->state_names[gap]);
  if (mig.out_per_year > 0)
    fprintf(out,
            "  out_migration_per_year: %.8g   # net outflow over the population, from the "
            "population table\n",
            mig.out_per_year);
  return 0;
}

/* One table of the calibrated transitions: the rows of age band ab and time-in-state band db
 * (NB, ND: all), with their counts, and their estimates with exact intervals in the report. */
static void write_table(const cal *c, FILE *tr, FILE *rep, const double *n, size_t ab, size_t db,
                        size_t NB, size_t ND) {
  const fl_model *m = c->m;
  const fl_calibrate_options *opt = c->opt;
  const size_t S = m->S;
  const double alo = ab == NB || ab == 0 ? 0 : opt->age_bands[ab - 1];
  const double dlo = db == ND || db == 0 ? 0 : opt->dur_bands[db - 1];
  char label[96] = "all", counts_text[1 << 14];
  size_t used = 0, written = 0;
  counts_text[0] = '\0';
  if (ab < NB) {
    if (ab < opt->n_age_bands) snprintf(label, sizeof label, "ages %g-%g", alo, opt->age_bands[ab]);
    else snprintf(label, sizeof label, "ages %g+", alo);
  }
  if (db < ND) {
    const size_t len = strlen(label);
    char *p = label + (ab < NB ? len : 0);
    const size_t room = sizeof label - (size_t)(p - label);
    if (db < opt->n_dur_bands)
      snprintf(p, room, "%smonths in state %g-%g", ab < NB ? "; " : "", dlo, opt->dur_bands[db]);
    else snprintf(p, room, "%smonths in state %g+", ab < NB ? "; " : "", dlo);
  }
  for (size_t s = 0; s < S; s++) {
    if (m->absorbing[s]) continue;
    const double *row = n + ((ab * (ND + 1) + db) * S + s) * S;
    double total = 0;
    for (size_t d = 0; d < S; d++) total += row[d];
    const int all = ab == NB && db == ND;
    if (!all && total < opt->min_row) continue; /* a broader table applies */
    if (!written++) {
      fprintf(tr, "    - ");
      if (ab < NB) {
        if (ab < opt->n_age_bands) fprintf(tr, "age_years: [%g, %g]\n      ", alo, opt->age_bands[ab]);
        else fprintf(tr, "age_years: [%g, .inf]\n      ", alo);
      }
      if (db < ND) {
        if (db < opt->n_dur_bands)
          fprintf(tr, "time_in_state_months: [%g, %g]\n      ", dlo, opt->dur_bands[db]);
        else fprintf(tr, "time_in_state_months: [%g, .inf]\n      ", dlo);
      }
      fprintf(tr, "rows:\n");
    }
    fprintf(tr, "        %s: {", m->state_names[s]);
    int first = 1;
    if (total == 0) { /* never observed at all: the template's step probabilities */
      const double *base = m->base_p + s * S;
      for (size_t d = 0; d < S; d++)
        if (d != s && base[d] > 0) {
          fprintf(tr, "%s%s: %.12g", first ? "" : ", ", m->state_names[d], base[d]);
          first = 0;
        }
      fprintf(tr, "%s%s: rest}   # not observed: template row\n", first ? "" : ", ",
              m->state_names[s]);
    } else {
      for (size_t d = 0; d < S; d++)
        if (d != s && row[d] > 0) {
          fprintf(tr, "%s%s: %.12g", first ? "" : ", ", m->state_names[d], row[d] / total);
          first = 0;
        }
      fprintf(tr, "%s%s: rest}\n", first ? "" : ", ", m->state_names[s]);
      int k = snprintf(counts_text + used, sizeof counts_text - used, "        %s: {",
                       m->state_names[s]);
      if (k > 0 && (size_t)k < sizeof counts_text - used) used += (size_t)k;
      first = 1;
      for (size_t d = 0; d < S && used < sizeof counts_text - 100; d++)
        if (row[d] > 0) {
          k = snprintf(counts_text + used, sizeof counts_text - used, "%s%s: %.0f",
                       first ? "" : ", ", m->state_names[d], row[d]);
          if (k > 0 && (size_t)k < sizeof counts_text - used) used += (size_t)k;
          first = 0;
        }
      k = snprintf(counts_text + used, sizeof counts_text - used, "}\n");
      if (k > 0 && (size_t)k < sizeof counts_text - used) used += (size_t)k;
    }
    if (rep)
      for (size_t d = 0; d < S; d++) {
        double lo_p, hi_p;
        if (row[d] == 0 && d != s && total > 0) continue;
        exact_interval(row[d], total, &lo_p, &hi_p);
        fprintf(rep, "transition,%s,%s,%s,", label, m->state_names[s], m->state_names[d]);
        report_count(rep, row[d], opt->suppress);
        fprintf(rep, ",%.6g,%.6g,%.6g,%s\n", total > 0 ? row[d] / total : 0, lo_p, hi_p,
                total == 0 ? "not observed: template row kept" : "");
      }
  }
  if (used) fprintf(tr, "      counts:   # observed child-months behind the rows above\n%s",
                    counts_text);
}

/* Adds w to the counts of the move s -> d at age `age` and time in state `tis` (months; age -1:
 * unknown) in its age and duration band, and in the all-ages and all-durations totals. */
static void add_count(double *n, const fl_calibrate_options *opt, size_t NB, size_t ND, size_t S,
                      long age, long tis, size_t s, size_t d, double w) {
  size_t ab = NB, db = 0;
  if (age >= 0)
    for (ab = 0; ab < opt->n_age_bands && age >= (long)llround(opt->age_bands[ab] * 12);) ab++;
  while (db < opt->n_dur_bands && tis >= (long)llround(opt->dur_bands[db])) db++;
  const size_t abs_[2] = {ab, NB}, dbs[2] = {db, ND};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      if ((i == 1 && ab == NB) || (j == 1 && db == ND)) continue;
      n[((abs_[i] * (ND + 1) + dbs[j]) * S + s) * S + d] += w;
    }
}

/* Back-casting: the calibrated model started from the stocks observed at the start of the
 * window is run over the window (expectation mode: no sampling noise), and its expected stocks
 * are set against the observed ones month by month and state by state in the report. */
static fl_status back_cast(cal *c, const cal_records *rec, const cal_population *pr,
                           const fl_scenario *sc, size_t gap, long age_years_max,
                           const char *transitions, const double *stock, FILE *rep,
                           double *expected) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  char path[] = "/tmp/flourish-check-XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  fl_scenario *cs = NULL;
  fl_model *cm = NULL;
  fl_results *ex = NULL;
  fl_error e = {0};
  if (!f) {
    fl_cal_fail(c, FL_EIO, 0, "cannot create a temporary file for the back-casting check");
    return c->st;
  }
  copy_template(f, sc, 1);
  fprintf(f, "time: {step_months: 1, horizon_steps: %ld}\n", c->W - 1);
  if (write_population(f, c, rec, pr, 0, gap, age_years_max) != 0) {
    fclose(f);
    unlink(path);
    return c->st;
  }
  fputs(transitions, f);
  fclose(f);
  fl_status st = fl_scenario_load(path, &cs, &e);
  if (st == FL_OK) st = fl_model_compile(cs, &cm, &e);
  if (st == FL_OK) st = fl_expect(cm, &ex, &e);
  unlink(path);
  if (st != FL_OK) {
    fl_error_set(c->err, FL_EINTERNAL, NULL, 0, 0, "--check",
                 "the back-casting model could not be evaluated: %s", e.message);
    c->st = FL_EINTERNAL;
  } else {
    const fl_array *es = fl_results_get(ex, 0, FL_OUT_STOCKS);
    double err_sum[FL_MAX_STATES] = {0}, obs_sum[FL_MAX_STATES] = {0};
    for (long mo = 0; mo < c->W; mo++)
      for (size_t s = 0; s < S; s++) {
        const double want = ((const double *)es->data)[(size_t)mo * S + s];
        expected[(size_t)mo * S + s] = want;
        if (s == gap) continue;
        err_sum[s] += fabs(want - stock[mo * S + s]);
        obs_sum[s] += stock[mo * S + s];
        fprintf(rep, "check,%04ld-%02ld,%s,,%.0f,%.6g,,,observed children (count) against the "
                "calibrated model's expectation from the window's start\n",
                (c->w0 + mo) / 12, (c->w0 + mo) % 12 + 1, m->state_names[s], stock[mo * S + s],
                want);
      }
    for (size_t s = 0; s < S; s++)
      if (s != gap && obs_sum[s] > 0)
        fprintf(rep, "check_summary,,%s,,,%.6g,,,mean absolute difference over observed mean "
                "(relative error of the back-cast)\n",
                m->state_names[s], err_sum[s] / obs_sum[s]);
  }
  fl_results_free(ex);
  fl_model_free(cm);
  fl_scenario_free(cs);
  return c->st;
}

fl_status fl_calibrate(const fl_scenario *sc, const fl_model *m, const fl_calibrate_options *opt,
                       fl_error *err) {
  cal c = {.m = m, .opt = opt, .err = err, .st = FL_OK};
  cal_records rec = {0};
  cal_population pr = {0};
  const size_t S = m->S, NB = opt->n_age_bands + 1, ND = opt->n_dur_bands + 1;
  size_t gap = 0;
  double *n = NULL, *present = NULL, *stock = NULL, *expected = NULL, *per_n = NULL;
  size_t n_periods = 0;
  double moves_hist[11] = {0}, skips = 0, reentries = 0, spell_sum[FL_MAX_LEVELS] = {0};
  double spell_n[FL_MAX_LEVELS] = {0};
  FILE *out = NULL, *rep = NULL, *tr = NULL;
  char *tmp = NULL, *tmp_rep = NULL, *tr_text = NULL;
  size_t tr_len = 0;
  long age_years_max;
  for (size_t s = 0; s < S; s++)
    if (m->state_level[s] == 0) {
      gap = s;
      break;
    }
  gsl_set_error_handler_off(); /* failures come back as NaN and are handled */
  if (m->step_months != 1) {
    fl_error_set(err, FL_EUSAGE, m->scenario_path, 0, 0, "time.step_months",
                 "calibrate estimates monthly transitions: the template needs monthly steps");
    return FL_EUSAGE;
  }
  /* The population table, then pass 1 of the records: children, dates. */
  if (fl_cal_population_read(&c, &pr) != FL_OK) goto done;
  if (fl_cal_episodes_scan(&c, &rec) != FL_OK) goto done;
  c.LB = opt->n_dur_bands ? (long)llround(opt->dur_bands[opt->n_dur_bands - 1]) : 0;
  {
    long m0 = 0, m1 = 0;
    if (opt->from && fl_cal_parse_date(opt->from, &m0) < 0) {
      fl_error_set(err, FL_EUSAGE, NULL, 0, 0, "--from", "'%s' is not a date YYYY-MM-DD", opt->from);
      c.st = FL_EUSAGE;
      goto done;
    }
    if (opt->to && fl_cal_parse_date(opt->to, &m1) < 0) {
      fl_error_set(err, FL_EUSAGE, NULL, 0, 0, "--to", "'%s' is not a date YYYY-MM-DD", opt->to);
      c.st = FL_EUSAGE;
      goto done;
    }
    if (!opt->from) { /* the first whole month after the first record starts, and not before
                         the population is known */
      long y = 0, first_pop = fl_cal_pop_first_month(&pr);
      for (y = 0; fl_cal_first_day_of(y) < rec.first_day; y += 12) {
      }
      for (m0 = y - 12; fl_cal_first_day_of(m0) < rec.first_day; m0++) {
      }
      if (m0 < first_pop) m0 = first_pop;
    }
    if (!opt->to) /* the month of the last date: records end there (the extract date) */
      for (m1 = m0; fl_cal_first_day_of(m1 + 1) <= rec.last_day; m1++) {
      }
    c.w0 = m0;
    c.W = m1 - m0 + 1;
    if (c.W < 2 || c.W > 1200) {
      fl_error_set(err, FL_EUSAGE, NULL, 0, 0, "--from/--to",
                   "the observation window must be 2 to 1200 months, found %ld", c.W);
      c.st = FL_EUSAGE;
      goto done;
    }
  }
  if (fl_cal_episodes_paint(&c, &rec) != FL_OK) goto done;
  age_years_max = m->max_age ? (long)(m->max_age + 11) / 12 : 120;
  n = fl_calloc((NB + 1) * (ND + 1) * S * S, sizeof *n);
  if (opt->period_months > 0) { /* counts by calendar period, for trends (report only) */
    n_periods = (size_t)((c.W - 1 + opt->period_months - 1) / opt->period_months);
    if (!(per_n = fl_calloc(n_periods * S * S, sizeof *per_n))) {
      fl_cal_fail(&c, FL_ENOMEM, 0, "out of memory");
      goto done;
    }
  }
  present = fl_calloc((size_t)c.W * (size_t)(age_years_max + 1), sizeof *present);
  stock = fl_calloc((size_t)c.W * S, sizeof *stock);
  if (!n || !present || !stock) {
    fl_cal_fail(&c, FL_ENOMEM, 0, "out of memory");
    goto done;
  }
  /* Counting: n[(ab * (ND + 1) + db) * S * S + s * S + d] for age band ab (NB: all ages) and
   * time-in-state band db (ND: all durations). Time in state is counted from the month the
   * status last changed (within the painted history, or birth); a run already going at the
   * start of the history is at least LB months long, in the last band. */
  for (size_t k = 0; k < rec.n_kids; k++) {
    const cal_child *ch = &rec.kids[k];
    long moves = 0, spell = 0, run_start = -c.LB;
    long left_at[FL_MAX_LEVELS];
    for (size_t l = 0; l < FL_MAX_LEVELS; l++) left_at[l] = -1000;
    for (long mo = -c.LB + 1; mo < c.W; mo++) { /* runs through the history */
      const unsigned char a0 = ch->status[c.LB + mo - 1], a1 = ch->status[c.LB + mo];
      const size_t p = a0 == FL_CAL_NO_RECORD ? gap : a0, q = a1 == FL_CAL_NO_RECORD ? gap : a1;
      const int same = m->tis_by_level ? m->state_level[p] == m->state_level[q] : p == q;
      if (!same) run_start = mo;
      if (mo >= 0) break;
    }
    if (c.LB == 0) run_start = 0;
    for (long mo = 0; mo < c.W; mo++) {
      const long age = ch->dob >= 0 ? c.w0 + mo - ch->dob : -1;
      const unsigned char raw = ch->status[c.LB + mo];
      const size_t s = raw == FL_CAL_NO_RECORD ? gap : raw;
      if (mo > 0) {
        const unsigned char rp = ch->status[c.LB + mo - 1];
        const size_t p = rp == FL_CAL_NO_RECORD ? gap : rp;
        const int same = m->tis_by_level ? m->state_level[p] == m->state_level[s] : p == s;
        if (!same) run_start = mo;
      }
      if (ch->dob >= 0 && age < 0) continue; /* not yet born */
      if (m->max_age && age >= (long)m->max_age) break;
      if (age >= 0 && age / 12 <= age_years_max) present[mo * (age_years_max + 1) + age / 12]++;
      if (s != gap) stock[mo * S + s]++;
      if (mo + 1 >= c.W || (m->max_age && age + 1 >= (long)m->max_age)) continue;
      const unsigned char rn = ch->status[c.LB + mo + 1];
      const size_t d = rn == FL_CAL_NO_RECORD ? gap : rn;
      if (m->absorbing[s]) continue;
      long since = ch->dob >= 0 && run_start < ch->dob - c.w0 ? ch->dob - c.w0 : run_start;
      const long tis = mo - since;
      add_count(n, opt, NB, ND, S, age, tis, s, d, 1.0);
      if (per_n) per_n[((size_t)(mo / opt->period_months) * S + s) * S + d]++;
      spell++;
      if (d != s) {
        const size_t ls = m->state_level[s], ld = m->state_level[d];
        moves++;
        if (ld >= ls + 2) skips++;
        if (ls != ld) {
          if (mo + 1 - left_at[ld] <= 12) reentries++;
          left_at[ls] = mo + 1;
          spell_sum[ls] += (double)spell;
          spell_n[ls]++;
          spell = 0;
        }
      }
    }
    moves_hist[moves < 10 ? moves : 10]++;
  }
  /* Children of the population table without a record stay universal, and have been since
   * birth (time in state: their age). */
  for (long mo = 0; mo + 1 < c.W; mo++)
    for (long a = 0; a < age_years_max; a++) {
      const double u =
          fl_cal_pop_at(&pr, c.w0 + mo, (int)a, -1) - present[mo * (age_years_max + 1) + a];
      if (u > 0) add_count(n, opt, NB, ND, S, a * 12 + 6, a * 12 + 6, gap, gap, u);
      if (u > 0 && per_n) per_n[((size_t)(mo / opt->period_months) * S + gap) * S + gap] += u;
    }
  /* The calibrated scenario. */
  fl_tmp_clean(opt->output);
  if (!(tmp = fl_tmp_name(opt->output, 0))) {
    fl_cal_fail(&c, FL_ENOMEM, 0, "out of memory");
    goto done;
  }
  if (!(out = fopen(tmp, "w"))) {
    fl_error_set(err, FL_EIO, opt->output, 0, 0, NULL, "cannot create a file beside it: %s",
                 strerror(errno));
    c.st = FL_EIO;
    goto done;
  }
  if (opt->report) {
    fl_tmp_clean(opt->report);
    if (!(tmp_rep = fl_tmp_name(opt->report, 0))) {
      fl_cal_fail(&c, FL_ENOMEM, 0, "out of memory");
      goto done;
    }
    if (!(rep = fopen(tmp_rep, "w"))) {
      fl_error_set(err, FL_EIO, opt->report, 0, 0, NULL, "cannot create a file beside it: %s",
                   strerror(errno));
      c.st = FL_EIO;
      goto done;
    }
    fprintf(rep, "measure,age_band,from,to,count,probability,ci_low,ci_high,note\n");
  }
  copy_template(out, sc, 0);
  fprintf(out,
          "\n# Population and transitions calibrated by flourish calibrate from %zu episode "
          "records\n# of %zu children, months %04ld-%02ld to %04ld-%02ld (the extract date).\n",
          rec.rows, rec.n_kids, c.w0 / 12, c.w0 % 12 + 1, (c.w0 + c.W - 1) / 12,
          (c.w0 + c.W - 1) % 12 + 1);
  /* Population: stocks at the extract date, births from the age-0 counts. */
  if (write_population(out, &c, &rec, &pr, c.W - 1, gap, age_years_max) != 0) goto done;
  /* Transitions: all ages first, then each band (pooled rows flagged). Written to memory
   * first: the back-casting model uses them too. */
  tr = open_memstream(&tr_text, &tr_len);
  if (!tr) {
    fl_cal_fail(&c, FL_ENOMEM, 0, "out of memory");
    goto done;
  }
  fprintf(tr, "transitions:\n  given_as: probability\n  per_months: 1\n  tables:\n");
  /* Tables from the broadest to the narrowest: all; each age band; each time-in-state band;
   * each combination. A later table replaces the rows it gives, so a sparse row is left out
   * and the broader one applies. */
  const size_t n_combos = (NB + 1) * (ND + 1);
  for (size_t k = 0; k < n_combos; k++) {
    size_t ab, db;
    if (k == 0) ab = NB, db = ND;
    else if (k <= NB) ab = k - 1, db = ND;
    else if (k <= NB + ND) ab = NB, db = k - NB - 1;
    else ab = (k - NB - ND - 1) / ND, db = (k - NB - ND - 1) % ND;
    if (k > n_combos - 1 || ab > NB || db > ND) break;
    if ((ab < NB && opt->n_age_bands == 0) || (db < ND && opt->n_dur_bands == 0)) continue;
    if (ab == NB && db == ND && k != 0) continue;
    write_table(&c, tr, rep, n, ab, db, NB, ND);
  }
  fclose(tr);
  tr = NULL;
  fputs(tr_text, out);
  if (opt->check) {
    if (!(expected = fl_calloc((size_t)c.W * S, sizeof *expected))) {
      fl_cal_fail(&c, FL_ENOMEM, 0, "out of memory");
      goto done;
    }
    if (back_cast(&c, &rec, &pr, sc, gap, age_years_max, tr_text, stock, rep, expected) != FL_OK)
      goto done;
  }
  if (rep && per_n) /* trends: each row by calendar period */
    for (size_t p = 0; p < n_periods; p++) {
      const long m0 = c.w0 + (long)p * opt->period_months;
      const long m1 = m0 + opt->period_months - 1 < c.w0 + c.W - 2 ? m0 + opt->period_months - 1
                                                                    : c.w0 + c.W - 2;
      for (size_t s = 0; s < S; s++) {
        const double *row = per_n + (p * S + s) * S;
        double total = 0;
        if (m->absorbing[s]) continue;
        for (size_t d = 0; d < S; d++) total += row[d];
        for (size_t d = 0; d < S && total > 0; d++) {
          double lo_p, hi_p;
          if (row[d] == 0 && d != s) continue;
          exact_interval(row[d], total, &lo_p, &hi_p);
          fprintf(rep, "transition,period %04ld-%02ld to %04ld-%02ld,%s,%s,", m0 / 12, m0 % 12 + 1,
                  m1 / 12, m1 % 12 + 1, m->state_names[s], m->state_names[d]);
          report_count(rep, row[d], opt->suppress);
          fprintf(rep, ",%.6g,%.6g,%.6g,trend (not used by the scenario)\n", row[d] / total,
                  lo_p, hi_p);
        }
      }
    }
  if (rep) {
    for (long mo = 0; mo < c.W; mo++)
      for (size_t s = 0; s < S; s++) {
        if (s == gap) continue;
        fprintf(rep, "stock,%04ld-%02ld,%s,,", (c.w0 + mo) / 12, (c.w0 + mo) % 12 + 1,
                m->state_names[s]);
        report_count(rep, stock[mo * S + s], opt->suppress);
        fprintf(rep, ",,,,children in the state on the first day of the month\n");
      }
    for (int k = 0; k <= 10; k++) {
      fprintf(rep, "moves_per_child,,%d%s,,", k, k == 10 ? "+" : "");
      report_count(rep, moves_hist[k], opt->suppress);
      fprintf(rep, ",,,,children with a record by number of moves in the window\n");
    }
    fprintf(rep, "skip_level_escalations,,,,");
    report_count(rep, skips, opt->suppress);
    fprintf(rep, ",,,,moves up two or more levels at once\nreentries_12m,,,,");
    report_count(rep, reentries, opt->suppress);
    fprintf(rep, ",,,,moves into a level left within the previous 12 months\n");
    for (size_t l = 0; l < m->L; l++)
      if (spell_n[l] > 0)
        fprintf(rep, "mean_months_in_level,,%s,,%.0f,%.4g,,,completed spells observed in the window\n",
                m->level_names[l], spell_n[l] < opt->suppress ? 0 : spell_n[l],
                spell_n[l] < opt->suppress ? 0 : spell_sum[l] / spell_n[l]);
  }
  if (opt->report_h5 && c.st == FL_OK) {
    /* The report as HDF5 (small counts suppressed as NaN). */
    const size_t L = m->L, total = (NB + 1) * (ND + 1) * S * S;
    double window[3] = {(double)(c.w0 / 12), (double)(c.w0 % 12 + 1), (double)c.W};
    double journeys[2] = {skips, reentries}, mean_months[FL_MAX_LEVELS] = {0};
    double age_edges[64], dur_edges[64];
    for (size_t l = 0; l < L; l++) mean_months[l] = spell_n[l] > 0 ? spell_sum[l] / spell_n[l] : NAN;
    for (size_t i = 0; i < opt->n_age_bands; i++) age_edges[i] = opt->age_bands[i];
    for (size_t i = 0; i < opt->n_dur_bands; i++) dur_edges[i] = opt->dur_bands[i];
    if (opt->suppress > 0) {
      for (size_t i = 0; i < total; i++)
        if (n[i] > 0 && n[i] < opt->suppress) n[i] = NAN;
      for (size_t i = 0; i < (size_t)c.W * S; i++)
        if (stock[i] > 0 && stock[i] < opt->suppress) stock[i] = NAN;
      for (size_t i = 0; i < 11; i++)
        if (moves_hist[i] > 0 && moves_hist[i] < opt->suppress) moves_hist[i] = NAN;
      for (size_t i = 0; i < 2; i++)
        if (journeys[i] > 0 && journeys[i] < opt->suppress) journeys[i] = NAN;
      for (size_t l = 0; l < L; l++)
        if (spell_n[l] > 0 && spell_n[l] < opt->suppress) spell_n[l] = mean_months[l] = NAN;
    }
    fl_h5_dataset ds[12];
    size_t nd = 0;
    ds[nd++] = (fl_h5_dataset){.name = "window",
                               .doc = "First month of the window (year, month) and its "
                                      "length in months.",
                               .rank = 1,
                               .dims = {3},
                               .data = window};
    ds[nd++] = (fl_h5_dataset){.name = "transitions/counts",
                               .doc = "Observed child-months by age band (last: "
                                      "all ages), time-in-state band (last: all), from-state and "
                                      "to-state; NaN: suppressed.",
                               .rank = 4,
                               .dims = {NB + 1, ND + 1, S, S},
                               .data = n};
    if (opt->n_age_bands)
      ds[nd++] = (fl_h5_dataset){.name = "transitions/age_band_edges_years",
                                 .doc = "Age band edges after 0.",
                                 .rank = 1,
                                 .dims = {opt->n_age_bands},
                                 .data = age_edges};
    if (opt->n_dur_bands)
      ds[nd++] = (fl_h5_dataset){.name = "transitions/duration_band_edges_months",
                                 .doc = "Time-in-state band edges after 0.",
                                 .rank = 1,
                                 .dims = {opt->n_dur_bands},
                                 .data = dur_edges};
    ds[nd++] =
        (fl_h5_dataset){.name = "observed/stocks",
                        .doc = "Children with a record in each state on the "
                               "first day of each month of the window (the lowest level's state "
                               "is not observed: 0).",
                        .rank = 2,
                        .dims = {(size_t)c.W, S},
                        .data = stock};
    ds[nd++] = (fl_h5_dataset){.name = "observed/moves_per_child",
                               .doc = "Children with a record by number of "
                                      "moves in the window (last: 10 or more).",
                               .rank = 1,
                               .dims = {11},
                               .data = moves_hist};
    ds[nd++] = (fl_h5_dataset){.name = "observed/skip_level_escalations_and_reentries_12m",
                               .doc = "Moves up two "
                                      "levels or more at once; moves into a level left within 12 "
                                      "months.",
                               .rank = 1,
                               .dims = {2},
                               .data = journeys};
    ds[nd++] = (fl_h5_dataset){.name = "observed/completed_spells_by_level",
                               .doc = "Spells in each level that "
                                      "ended in the window.",
                               .rank = 1,
                               .dims = {L},
                               .data = spell_n};
    ds[nd++] = (fl_h5_dataset){.name = "observed/mean_months_in_level",
                               .doc = "Mean length of those spells.",
                               .rank = 1,
                               .dims = {L},
                               .data = mean_months};
    if (expected)
      ds[nd++] = (fl_h5_dataset){.name = "check/expected_stocks",
                                 .doc = "The calibrated model's expected "
                                        "children by month and state, from the window's start.",
                                 .rank = 2,
                                 .dims = {(size_t)c.W, S},
                                 .data = expected};
    const fl_h5_names names[2] = {{"states", m->state_names, S}, {"levels", m->level_names, L}};
    c.st = fl_h5_write_simple(opt->report_h5, ds, nd, names, 2, NULL, 0, err);
  }
done:
  if (tr) fclose(tr);
  free(tr_text);
  if (out && fclose(out) != 0 && c.st == FL_OK) c.st = FL_EIO;
  if (rep && fclose(rep) != 0 && c.st == FL_OK) c.st = FL_EIO;
  if (c.st == FL_OK &&
      (rename(tmp, opt->output) != 0 || (tmp_rep && rename(tmp_rep, opt->report) != 0))) {
    fl_error_set(err, FL_EIO, opt->output, 0, 0, NULL, "cannot move the output into place: %s",
                 strerror(errno));
    c.st = FL_EIO;
  }
  if (c.st != FL_OK) {
    if (tmp) unlink(tmp);
    if (tmp_rep) unlink(tmp_rep);
  }
  free(tmp);
  free(tmp_rep);
  fl_cal_records_free(&rec);
  fl_cal_population_free(&pr);
  free(n);
  free(present);
  free(stock);
  free(expected);
  free(per_n);
  return c.st;
}
