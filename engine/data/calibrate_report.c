/* The calibration report of `flourish calibrate`: a CSV of one measure a line (measure,
 * age_band, from, to, count, probability, ci_low, ci_high, note) and the same counts, stocks
 * and journeys as HDF5. With --suppress every count arrives here randomly rounded
 * (fl_cal_round), and what is derived from counts comes from the rounded ones. */
#include "data/calibrate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static void report_count(FILE *f, double n) { fprintf(f, "%.0f", n); }

/* The age_band column of table t: "all", its age band, its time-in-state band, or both. */
static void table_label(const cal *c, cal_table t, char *label, size_t size) {
  const fl_calibrate_options *opt = c->opt;
  snprintf(label, size, "all");
  if (t.ab < c->NB) {
    const double alo = t.ab == 0 ? 0 : opt->age_bands[t.ab - 1];
    if (t.ab < opt->n_age_bands) snprintf(label, size, "ages %g-%g", alo, opt->age_bands[t.ab]);
    else snprintf(label, size, "ages %g+", alo);
  }
  if (t.db < c->ND) {
    const double dlo = t.db == 0 ? 0 : opt->dur_bands[t.db - 1];
    const char *sep = t.ab < c->NB ? "; " : "";
    char *p = label + (t.ab < c->NB ? strlen(label) : 0);
    const size_t room = size - (size_t)(p - label);
    if (t.db < opt->n_dur_bands)
      snprintf(p, room, "%smonths in state %g-%g", sep, dlo, opt->dur_bands[t.db]);
    else snprintf(p, room, "%smonths in state %g+", sep, dlo);
  }
}

/* Every row table t gives: each observed move and the stay, with its estimate and interval
 * (every cell of a row never observed). */
static void report_table(FILE *rep, const cal *c, const cal_estimates *e, cal_table t) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  char label[96];
  table_label(c, t, label, sizeof label);
  for (size_t s = 0; s < S; s++) {
    const size_t r = fl_cal_row(c, t.ab, t.db, s);
    const double total = e->tr.total[r];
    if (!e->given[r]) continue;
    for (size_t d = 0; d < S; d++) {
      double lo, hi, prob;
      if (e->tr.count[r * S + d] == 0 && d != s && total > 0) continue;
      prob = fl_cal_estimate(&e->tr, r, d, &lo, &hi);
      fprintf(rep, "transition,%s,%s,%s,", label, m->state_names[s], m->state_names[d]);
      report_count(rep, e->tr.count[r * S + d]);
      fprintf(rep, ",%.6g,%.6g,%.6g,%s\n", prob, lo, hi,
              c->partial && c->uncovered[s]
                  ? (s == c->gap ? "children without a record (any uncovered level): sets the "
                                   "scale of the template's escalations into covered levels"
                                 : "not covered by the records (--covers): template row kept")
              : total == 0 ? "not observed: template row kept"
                           : "");
    }
  }
}

/* The observed stocks of the recorded states against the back-cast's expected ones, month by
 * month, and each state's mean absolute difference over its observed mean. */
static void report_check(FILE *rep, const cal *c, const cal_counts *k, const double *expected) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  double err_sum[FL_MAX_STATES] = {0}, obs_sum[FL_MAX_STATES] = {0};
  for (long mo = 0; mo < c->W; mo++)
    for (size_t s = 0; s < S; s++) {
      const size_t i = (size_t)mo * S + s;
      if (s == c->gap || (c->partial && c->uncovered[s])) continue; /* (not observed) */
      err_sum[s] += fabs(expected[i] - k->stock[i]);
      obs_sum[s] += k->stock[i];
      fprintf(rep,
              "check,%04ld-%02ld,%s,,%.0f,%.6g,,,observed children (count) against the "
              "calibrated model's expectation from the window's start\n",
              (c->w0 + mo) / 12, (c->w0 + mo) % 12 + 1, m->state_names[s], k->stock[i],
              expected[i]);
    }
  for (size_t s = 0; s < S; s++)
    if (s != c->gap && obs_sum[s] > 0)
      fprintf(rep,
              "check_summary,,%s,,,%.6g,,,mean absolute difference over observed mean "
              "(relative error of the back-cast)\n",
              m->state_names[s], err_sum[s] / obs_sum[s]);
}

/* Trends: each row of all ages and durations by calendar period (the months whose moves it
 * counts, the last ending a month before the window does). */
static void report_periods(FILE *rep, const cal *c, size_t n_periods, const cal_rows *e) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  const long P = c->opt->period_months, last = c->w0 + c->W - 2;
  for (size_t p = 0; p < n_periods; p++) {
    const long m0 = c->w0 + (long)p * P;
    const long m1 = m0 + P - 1 < last ? m0 + P - 1 : last;
    for (size_t s = 0; s < S; s++) {
      const size_t r = p * S + s;
      if (m->absorbing[s]) continue;
      for (size_t d = 0; d < S && e->total[r] > 0; d++) {
        double lo, hi, prob;
        if (e->count[r * S + d] == 0 && d != s) continue;
        prob = fl_cal_estimate(e, r, d, &lo, &hi);
        fprintf(rep, "transition,period %04ld-%02ld to %04ld-%02ld,%s,%s,", m0 / 12, m0 % 12 + 1,
                m1 / 12, m1 % 12 + 1, m->state_names[s], m->state_names[d]);
        report_count(rep, e->count[r * S + d]);
        fprintf(rep, ",%.6g,%.6g,%.6g,trend (not used by the scenario)\n", prob, lo, hi);
      }
    }
  }
}

/* The children with a record in each recorded state on the first day of each month. */
static void report_stocks(FILE *rep, const cal *c, const cal_counts *k) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  for (long mo = 0; mo < c->W; mo++)
    for (size_t s = 0; s < S; s++) {
      if (s == c->gap) continue;
      fprintf(rep, "stock,%04ld-%02ld,%s,,", (c->w0 + mo) / 12, (c->w0 + mo) % 12 + 1,
              m->state_names[s]);
      report_count(rep, k->stock[(size_t)mo * S + s]);
      fprintf(rep, ",,,,children in the state on the first day of the month\n");
    }
}

/* The journeys: moves per child, skip-level escalations, re-entries, and the mean length of
 * the spells completed in each level (0 where fewer spells than the threshold). */
static void report_journeys(FILE *rep, const cal *c, const cal_counts *k) {
  for (int i = 0; i < FL_CAL_MOVE_BINS; i++) {
    fprintf(rep, "moves_per_child,,%d%s,,", i, i == FL_CAL_MOVE_BINS - 1 ? "+" : "");
    report_count(rep, k->moves_hist[i]);
    fprintf(rep, ",,,,children with a record by number of moves in the window\n");
  }
  fprintf(rep, "skip_level_escalations,,,,");
  report_count(rep, k->skips);
  fprintf(rep, ",,,,moves up two or more levels at once\nreentries_12m,,,,");
  report_count(rep, k->reentries);
  fprintf(rep, ",,,,moves into a level left within the previous 12 months\n");
  for (size_t l = 0; l < c->m->L; l++) {
    if (!(k->spell_n[l] > 0) && !k->spell_hidden[l]) continue;
    fprintf(rep, "mean_months_in_level,,%s,,%.0f,", c->m->level_names[l], k->spell_n[l]);
    if (k->spell_hidden[l] || !(k->spell_n[l] > 0))
      fprintf(rep, ",,,fewer spells than --suppress: no mean\n");
    else
      fprintf(rep, "%.4g,,,completed spells observed in the window\n",
              k->spell_sum[l] / k->spell_n[l]);
  }
}

/* The count of warning w as the reports give it: rounded like every count with --suppress. */
static double warning_count(const cal *c, int w) {
  return fl_cal_round(c, c->warn[w].count, fl_cal_event_key(FL_CAL_EV_WARNING, (uint64_t)w, 0));
}

/* The data-quality warnings: their name, count (children or rows; rounded with --suppress like
 * every count) and what they count and did. Lines of the input stay on stderr. */
static void report_warnings(FILE *rep, const cal *c) {
  for (int w = 0; w < FL_CAL_N_WARNINGS; w++) {
    if (!(c->warn[w].count > 0)) continue;
    fprintf(rep, "data_warning,,%s,,", fl_cal_warning_name(w));
    report_count(rep, warning_count(c, w));
    fprintf(rep, ",,,,\"%s\"\n", fl_cal_warning_text(w));
  }
}

/* The data-quality summary: what was read and used, the window, and the coverage of each
 * level (counts rounded with --suppress like every other). */
static void report_data_quality(FILE *rep, const cal *c) {
  const fl_model *m = c->m;
  const struct {
    const char *name;
    size_t n;
    const char *note;
  } rows[] = {
      {"records_read", c->n_records, "episode records read"},
      {"children", c->n_kids, "children with a record"},
      {"children_in_window", c->kids_in_window, "children with a record in the window"},
      {"episodes_open", c->eps_open, "episodes still open at the extract date (censored there)"},
      {"episodes_before_window", c->eps_before,
       "episodes that ended before the window: read for time in state only"},
      {"episodes_after_window", c->eps_after, "episodes that start after the window: not used"},
      {"population_rows", c->pop_rows, "rows of the population table"},
      {"population_dates", c->pop_dates, "dates of the population table"},
  };
  for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
    fprintf(rep, "data_quality,,%s,,", rows[i].name);
    report_count(
        rep, fl_cal_round(c, (double)rows[i].n, fl_cal_event_key(FL_CAL_EV_WARNING, 100 + i, 0)));
    fprintf(rep, ",,,,%s\n", rows[i].note);
  }
  fprintf(rep,
          "data_quality,,window,,,,,,%ld months: %04ld-%02ld to %04ld-%02ld (the extract date)\n",
          c->W, c->w0 / 12, c->w0 % 12 + 1, (c->w0 + c->W - 1) / 12, (c->w0 + c->W - 1) % 12 + 1);
  for (size_t l = 0; l < m->L; l++) {
    int covered = 0;
    for (size_t s = 0; s < m->S; s++)
      covered |= m->state_level[s] == l && !m->absorbing[s] && !c->uncovered[s];
    fprintf(rep, "data_quality,,coverage,%s,,,,,%s\n", m->level_names[l],
            l == 0    ? "the lowest level: children without a record (from the population table)"
            : covered ? "covered by the records: rows estimated"
                      : "not covered by the records (--covers): the template's rows, escalations "
                        "into covered levels scaled to the records");
  }
}

/* Partial coverage: for each covered state, the scale of the template's escalations into it
 * from the uncovered states, with the exact 95% interval of the records' rate behind it. */
static void report_coverage(FILE *rep, const cal *c, const cal_estimates *e) {
  const fl_model *m = c->m;
  const size_t S = m->S, r = fl_cal_row(c, c->NB, c->ND, c->gap);
  if (!c->partial) return;
  for (size_t d = 0; d < S; d++) {
    if (c->uncovered[d] || m->absorbing[d]) continue;
    double lo, hi;
    fl_cal_estimate(&e->tr, r, d, &lo, &hi);
    fprintf(rep, "coverage_scale,,%s,%s,", m->state_names[c->gap], m->state_names[d]);
    report_count(rep, e->tr.count[r * S + d]);
    if (c->esc_mix[d] > 0)
      fprintf(rep,
              ",%.6g,%.6g,%.6g,\"the template's escalations into it from uncovered states "
              "are multiplied by this (moves from children without a record over the "
              "template's rate for them)\"\n",
              c->esc_scale[d], lo / c->esc_mix[d], hi / c->esc_mix[d]);
    else
      fprintf(rep, ",,,,\"the template has no escalation into it from uncovered states: the "
                   "gap state's row takes the records' rate\"\n");
  }
}

void fl_cal_write_report(FILE *rep, const cal *c, const cal_counts *k, const cal_estimates *e,
                         const double *expected) {
  fprintf(rep, "measure,age_band,from,to,count,probability,ci_low,ci_high,note\n");
  report_data_quality(rep, c);
  report_warnings(rep, c);
  report_coverage(rep, c, e);
  for (size_t i = 0; i < e->n_tables; i++) report_table(rep, c, e, e->tables[i]);
  if (expected) report_check(rep, c, k, expected);
  if (k->per_n) report_periods(rep, c, k->n_periods, &e->periods);
  report_stocks(rep, c, k);
  report_journeys(rep, c, k);
}

/* The report's values as the HDF5 file holds them (the counts rounded as the CSV's). */
typedef struct h5_values {
  double window[3]; /* first year, first month, months */
  const double *n, *stock;
  double moves_hist[FL_CAL_MOVE_BINS], journeys[2];
  double spell_n[FL_MAX_LEVELS], mean_months[FL_MAX_LEVELS];
  double warnings[FL_CAL_N_WARNINGS];
} h5_values;

static void h5_values_make(const cal *c, const cal_counts *k, h5_values *v) {
  v->window[0] = (double)(c->w0 / 12);
  v->window[1] = (double)(c->w0 % 12 + 1);
  v->window[2] = (double)c->W;
  v->n = k->n;
  v->stock = k->stock;
  memcpy(v->moves_hist, k->moves_hist, sizeof v->moves_hist);
  v->journeys[0] = k->skips;
  v->journeys[1] = k->reentries;
  for (int w = 0; w < FL_CAL_N_WARNINGS; w++) v->warnings[w] = warning_count(c, w);
  for (size_t l = 0; l < c->m->L; l++) {
    v->spell_n[l] = k->spell_n[l];
    v->mean_months[l] =
        k->spell_hidden[l] || k->spell_n[l] <= 0 ? NAN : k->spell_sum[l] / k->spell_n[l];
  }
}

/* The datasets of the HDF5 report into ds (room for 12); returns their number. */
_Static_assert(FL_CAL_N_WARNINGS == 6, "the doc of data_quality/warnings lists six");
static size_t h5_datasets(const cal *c, const h5_values *v, const double *expected,
                          fl_h5_dataset *ds) {
  const fl_calibrate_options *opt = c->opt;
  const size_t S = c->m->S, L = c->m->L, W = (size_t)c->W;
  size_t nd = 0;
  ds[nd++] = (fl_h5_dataset){.name = "window",
                             .doc = "First month of the window (year, month) and its "
                                    "length in months.",
                             .rank = 1,
                             .dims = {3},
                             .data = v->window};
  ds[nd++] = (fl_h5_dataset){.name = "transitions/counts",
                             .doc = "Observed child-months by age band (last: "
                                    "all ages), time-in-state band (last: all), from-state and "
                                    "to-state (with --suppress N, randomly rounded to "
                                    "multiples of N).",
                             .rank = 4,
                             .dims = {c->NB + 1, c->ND + 1, S, S},
                             .data = v->n};
  if (opt->n_age_bands)
    ds[nd++] = (fl_h5_dataset){.name = "transitions/age_band_edges_years",
                               .doc = "Age band edges after 0.",
                               .rank = 1,
                               .dims = {opt->n_age_bands},
                               .data = opt->age_bands};
  if (opt->n_dur_bands)
    ds[nd++] = (fl_h5_dataset){.name = "transitions/duration_band_edges_months",
                               .doc = "Time-in-state band edges after 0.",
                               .rank = 1,
                               .dims = {opt->n_dur_bands},
                               .data = opt->dur_bands};
  ds[nd++] = (fl_h5_dataset){.name = "observed/stocks",
                             .doc = "Children with a record in each state on the "
                                    "first day of each month of the window (the lowest level's "
                                    "state is not observed: 0).",
                             .rank = 2,
                             .dims = {W, S},
                             .data = v->stock};
  ds[nd++] = (fl_h5_dataset){.name = "observed/moves_per_child",
                             .doc = "Children with a record by number of "
                                    "moves in the window (last: 10 or more).",
                             .rank = 1,
                             .dims = {FL_CAL_MOVE_BINS},
                             .data = v->moves_hist};
  ds[nd++] = (fl_h5_dataset){.name = "observed/skip_level_escalations_and_reentries_12m",
                             .doc = "Moves up two "
                                    "levels or more at once; moves into a level left within 12 "
                                    "months.",
                             .rank = 1,
                             .dims = {2},
                             .data = v->journeys};
  ds[nd++] = (fl_h5_dataset){.name = "observed/completed_spells_by_level",
                             .doc = "Spells in each level that "
                                    "ended in the window.",
                             .rank = 1,
                             .dims = {L},
                             .data = v->spell_n};
  ds[nd++] = (fl_h5_dataset){.name = "observed/mean_months_in_level",
                             .doc = "Mean length of those spells.",
                             .rank = 1,
                             .dims = {L},
                             .data = v->mean_months};
  ds[nd++] = (fl_h5_dataset){.name = "data_quality/warnings",
                             .doc = "Data-quality warnings, in this order: children with an open "
                                    "episode followed by a later one (cut there); children with "
                                    "overlapping episodes; episodes before birth; children given "
                                    "different dates of birth; children with none; children "
                                    "never below the maximum age in the window (rounded as the "
                                    "other counts with --suppress).",
                             .rank = 1,
                             .dims = {FL_CAL_N_WARNINGS},
                             .data = v->warnings};
  if (expected)
    ds[nd++] = (fl_h5_dataset){.name = "check/expected_stocks",
                               .doc = "The calibrated model's expected "
                                      "children by month and state, from the window's start.",
                               .rank = 2,
                               .dims = {W, S},
                               .data = expected};
  return nd;
}

fl_status fl_cal_write_report_h5(cal *c, const cal_counts *k, const double *expected) {
  const fl_model *m = c->m;
  const fl_h5_names names[2] = {{"states", m->state_names, m->S}, {"levels", m->level_names, m->L}};
  h5_values v = {0};
  fl_h5_dataset ds[12];
  h5_values_make(c, k, &v);
  const size_t nd = h5_datasets(c, &v, expected, ds);
  return c->st = fl_h5_write_simple(c->opt->report_h5, ds, nd, names, 2, NULL, 0, c->err);
}
