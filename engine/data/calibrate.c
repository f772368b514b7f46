/* `flourish calibrate`: from episode records and a population table to a calibrated scenario,
 * in five phases (fl_calibrate):
 *
 * 1. Read. The population table, then the episodes twice: the first pass finds the children
 *    and the dates the records span, from which the observation window follows; the second
 *    paints each child's status on the first day of every month of the window (and of the
 *    history before it that time in state needs). Months without a record are the gap state,
 *    the first state of the lowest level (episodes.c, population.c).
 * 2. Count. Monthly transitions by age band and time-in-state band, from every month to the
 *    next while the child is present (born, and below the maximum age at the next month);
 *    children of the population table who have no record add universal-to-universal months.
 *    The journeys (moves per child, skip-level escalations, re-entries, spells) are counted on
 *    the way.
 * 3. Estimate. Each row's probabilities are maximum-likelihood estimates (counts over the
 *    row's total), with exact (Clopper-Pearson) 95% intervals. A row of a band with fewer than
 *    min_row observed child-months is left to the broader table (pooled); a row never
 *    observed keeps the template's probabilities.
 * 4. Write. The scenario is the template with its population (stocks at the extract date,
 *    births and migration from the population table) and transitions (with the counts behind
 *    every row) replaced.
 * 5. Check, on request: the calibrated model back-casts the window.
 * Then the report, CSV and HDF5. The scenario and the report CSV are
 * written beside their paths and moved into place only when everything succeeded. */
#include "data/calibrate_internal.h"

#include <errno.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The window: --from and --to, or by default from the first whole month after the first record
 * starts (and not before the population table's first date) to the month of the last date of
 * the records (the extract date). The history painted before it is as long as the last
 * time-in-state band edge. Fails with FL_EUSAGE for a bad date or a window outside 2 to 1200
 * months. */
static fl_status choose_window(cal *c, const cal_records *rec, const cal_population *pop) {
  const fl_calibrate_options *opt = c->opt;
  long m0 = 0, m1 = 0;
  c->LB = opt->n_dur_bands ? (long)llround(opt->dur_bands[opt->n_dur_bands - 1]) : 0;
  if (opt->from && fl_cal_parse_date(opt->from, &m0) < 0) {
    fl_error_set(c->err, FL_EUSAGE, NULL, 0, 0, "--from", "'%s' is not a date YYYY-MM-DD",
                 opt->from);
    return c->st = FL_EUSAGE;
  }
  if (opt->to && fl_cal_parse_date(opt->to, &m1) < 0) {
    fl_error_set(c->err, FL_EUSAGE, NULL, 0, 0, "--to", "'%s' is not a date YYYY-MM-DD", opt->to);
    return c->st = FL_EUSAGE;
  }
  if (!opt->from) { /* the first month whose first day is not before the first record's start,
                       found a year at a time, then a month at a time */
    long y = 0;
    const long first_pop = fl_cal_pop_first_month(pop);
    for (y = 0; fl_cal_first_day_of(y) < rec->first_day; y += 12) {
    }
    for (m0 = y - 12; fl_cal_first_day_of(m0) < rec->first_day; m0++) {
    }
    if (m0 < first_pop) m0 = first_pop;
  }
  if (!opt->to)
    for (m1 = m0; fl_cal_first_day_of(m1 + 1) <= rec->last_day; m1++) {
    }
  c->w0 = m0;
  c->W = m1 - m0 + 1;
  if (c->W < 2 || c->W > 1200) {
    fl_error_set(c->err, FL_EUSAGE, NULL, 0, 0, "--from/--to",
                 "the observation window must be 2 to 1200 months, found %ld", c->W);
    return c->st = FL_EUSAGE;
  }
  return FL_OK;
}

/* Phase 1: the population table, the children and their monthly statuses over the window.
 * Returns c->st, or the status of a file that could not be opened (fl_cal_read_csv). */
static fl_status read_inputs(cal *c, cal_population *pop, cal_records *rec) {
  fl_status st = fl_cal_population_read(c, pop);
  if (st == FL_OK) st = fl_cal_episodes_scan(c, rec);
  if (st == FL_OK) st = choose_window(c, rec, pop);
  if (st == FL_OK) st = fl_cal_episodes_paint(c, rec);
  return st;
}

size_t fl_cal_duration_band(const cal *c, long months) {
  const fl_calibrate_options *opt = c->opt;
  size_t db = 0;
  while (db < opt->n_dur_bands && months >= (long)llround(opt->dur_bands[db])) db++;
  return db;
}

/* Adds w child-months of the move s -> d from window month mo at age `age` (months; -1:
 * unknown, counted in all ages only) and time in state `tis` (months) to its age and duration
 * band, to the all-ages and all-durations totals, and to its calendar period. */
static void add_count(const cal *c, cal_counts *k, long mo, long age, long tis, size_t s, size_t d,
                      double w) {
  const fl_calibrate_options *opt = c->opt;
  const size_t S = c->m->S, NB = c->NB, ND = c->ND;
  size_t ab = NB;
  const size_t db = fl_cal_duration_band(c, tis);
  if (age >= 0)
    for (ab = 0; ab < opt->n_age_bands && age >= (long)llround(opt->age_bands[ab] * 12);) ab++;
  const size_t abs_[2] = {ab, NB}, dbs[2] = {db, ND};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      if ((i == 1 && ab == NB) || (j == 1 && db == ND)) continue;
      k->n[fl_cal_row(c, abs_[i], dbs[j], s) * S + d] += w;
    }
  if (k->per_n) k->per_n[((size_t)(mo / opt->period_months) * S + s) * S + d] += w;
}

/* The state of a child on the first day of window month mo (the gap state without a record). */
static size_t status_at(const cal *c, const cal_child *ch, long mo) {
  const unsigned char raw = ch->status[c->LB + mo];
  return raw == FL_CAL_NO_RECORD ? c->gap : raw;
}

/* Whether a child in state p, then q, is still in the same run for time in state: the same
 * state, or with tis_by_level the same level. */
static int same_run(const fl_model *m, size_t p, size_t q) {
  return m->tis_by_level ? m->state_level[p] == m->state_level[q] : p == q;
}

/* The window month at which the run a child is in at the window's start began: its last
 * change within the painted history, or -LB when the history shows none (a run at least LB
 * months long, in the last band). */
static long run_start_at_window(const cal *c, const cal_child *ch) {
  long run_start = -c->LB;
  if (c->LB == 0) return 0;
  for (long mo = -c->LB + 1; mo <= 0; mo++)
    if (!same_run(c->m, status_at(c, ch, mo - 1), status_at(c, ch, mo))) run_start = mo;
  return run_start;
}

/* A child's journey through the window: its moves, the months of its current spell in a
 * level, and the month it last left each level. */
typedef struct journey {
  long moves, spell, left_at[FL_MAX_LEVELS];
} journey;

/* Adds a month's step s -> d, ending at window month mo + 1, to the journey measures. */
static void count_journey(const fl_model *m, cal_counts *k, journey *j, long mo, size_t s,
                          size_t d) {
  j->spell++;
  if (d == s) return;
  const size_t ls = m->state_level[s], ld = m->state_level[d];
  j->moves++;
  if (ld >= ls + 2) k->skips++;
  if (ls != ld) {
    if (mo + 1 - j->left_at[ld] <= 12) k->reentries++;
    j->left_at[ls] = mo + 1;
    k->spell_sum[ls] += (double)j->spell;
    k->spell_n[ls]++;
    j->spell = 0;
  }
}

/* Counts one child with a record: its monthly moves while present, its stocks, its journey, and
 * its presence by month and age year in present[W * (age_years_max + 1)]. Time in state runs
 * from the month the status last changed (within the painted history), or from birth. */
static void count_child(const cal *c, const cal_child *ch, cal_counts *k, double *present) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  const long A1 = c->age_years_max + 1;
  journey j = {0};
  long run_start = run_start_at_window(c, ch);
  for (size_t l = 0; l < FL_MAX_LEVELS; l++) j.left_at[l] = -1000;
  for (long mo = 0; mo < c->W; mo++) {
    const long age = ch->dob >= 0 ? c->w0 + mo - ch->dob : -1;
    const size_t s = status_at(c, ch, mo);
    if (mo > 0 && !same_run(m, status_at(c, ch, mo - 1), s)) run_start = mo;
    if (ch->dob >= 0 && age < 0) continue; /* not yet born */
    if (m->max_age && age >= (long)m->max_age) break;
    if (age >= 0 && age / 12 <= c->age_years_max) present[mo * A1 + age / 12]++;
    if (s != c->gap) k->stock[(size_t)mo * S + s]++;
    if (mo + 1 >= c->W || (m->max_age && age + 1 >= (long)m->max_age)) continue;
    const size_t d = status_at(c, ch, mo + 1);
    if (m->absorbing[s]) continue;
    const long since = ch->dob >= 0 && run_start < ch->dob - c->w0 ? ch->dob - c->w0 : run_start;
    add_count(c, k, mo, age, mo - since, s, d, 1.0);
    count_journey(m, k, &j, mo, s, d);
  }
  k->moves_hist[j.moves < FL_CAL_MOVE_BINS - 1 ? j.moves : FL_CAL_MOVE_BINS - 1]++;
}

/* Phase 2: the counts of the window into k (zeroed on entry; freed by free_counts, also after
 * a failure). Children of the population table without a record stay universal, and have been
 * since birth: each month adds the table's children of each age less those with a record, at
 * the middle of the year of age (time in state: the same). Returns c->st (FL_ENOMEM). */
static fl_status count_transitions(cal *c, const cal_records *rec, const cal_population *pop,
                                   cal_counts *k) {
  const size_t S = c->m->S, W = (size_t)c->W, A1 = (size_t)c->age_years_max + 1;
  const long P = c->opt->period_months;
  double *present = NULL;
  k->n = fl_calloc((c->NB + 1) * (c->ND + 1) * S * S, sizeof *k->n);
  if (P > 0) {
    k->n_periods = (size_t)((c->W - 1 + P - 1) / P);
    if (!(k->per_n = fl_calloc(k->n_periods * S * S, sizeof *k->per_n))) goto oom;
  }
  present = fl_calloc(W * A1, sizeof *present);
  k->stock = fl_calloc(W * S, sizeof *k->stock);
  if (!k->n || !present || !k->stock) goto oom;
  for (size_t i = 0; i < rec->n_kids; i++) count_child(c, &rec->kids[i], k, present);
  for (long mo = 0; mo + 1 < c->W; mo++)
    for (long a = 0; a < c->age_years_max; a++) {
      const double u =
          fl_cal_pop_at(pop, c->w0 + mo, (int)a, -1) - present[(size_t)mo * A1 + (size_t)a];
      if (u > 0) add_count(c, k, mo, a * 12 + 6, a * 12 + 6, c->gap, c->gap, u);
    }
  free(present);
  return FL_OK;
oom:
  free(present);
  fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
  return c->st;
}

static void free_counts(cal_counts *k) {
  free(k->n);
  free(k->per_n);
  free(k->stock);
}

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

double fl_cal_estimate(const cal_rows *e, size_t r, size_t d, double *lo, double *hi) {
  const double k = e->count[r * e->S + d], n = e->total[r];
  if (lo) exact_interval(k, n, lo, hi);
  return n > 0 ? k / n : 0;
}

/* The totals of the R rows of count[R * S] into e (freed with free(e->total), also after a
 * failure). Returns c->st (FL_ENOMEM). */
static fl_status total_rows(cal *c, const double *count, size_t R, cal_rows *e) {
  const size_t S = c->m->S;
  e->R = R;
  e->S = S;
  e->count = count;
  if (!(e->total = fl_calloc(R, sizeof *e->total))) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  for (size_t r = 0; r < R; r++) {
    double total = 0;
    for (size_t d = 0; d < S; d++) total += count[r * S + d];
    e->total[r] = total;
  }
  return FL_OK;
}

/* The tables of the scenario, broadest first (see cal_estimates), and which rows each gives:
 * every row that can move in the table of all ages and durations, only the rows with at least
 * min_row child-months in a narrower one. Returns c->st (FL_ENOMEM). */
static fl_status choose_tables(cal *c, cal_estimates *e) {
  const fl_calibrate_options *opt = c->opt;
  const size_t NB = c->NB, ND = c->ND, S = c->m->S;
  size_t n = 0;
  e->tables = malloc((NB + 1) * (ND + 1) * sizeof *e->tables);
  e->given = fl_calloc(e->tr.R, sizeof *e->given);
  if (!e->tables || !e->given) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  e->tables[n++] = (cal_table){NB, ND};
  for (size_t ab = 0; opt->n_age_bands && ab < NB; ab++) e->tables[n++] = (cal_table){ab, ND};
  for (size_t db = 0; opt->n_dur_bands && db < ND; db++) e->tables[n++] = (cal_table){NB, db};
  for (size_t ab = 0; opt->n_age_bands && opt->n_dur_bands && ab < NB; ab++)
    for (size_t db = 0; db < ND; db++) e->tables[n++] = (cal_table){ab, db};
  e->n_tables = n;
  for (size_t ab = 0; ab <= NB; ab++)
    for (size_t db = 0; db <= ND; db++)
      for (size_t s = 0; s < S; s++) {
        const size_t r = fl_cal_row(c, ab, db, s);
        const int all = ab == NB && db == ND;
        e->given[r] = !c->m->absorbing[s] && (all || e->tr.total[r] >= opt->min_row);
      }
  return FL_OK;
}

/* Phase 3: the totals of every row of the counts, the tables of the scenario and the rows
 * each gives, into e (zeroed on entry; freed by free_estimates, also after a failure); the
 * estimates follow from them (fl_cal_estimate). Returns c->st. */
static fl_status estimate(cal *c, const cal_counts *k, cal_estimates *e) {
  const size_t S = c->m->S;
  if (total_rows(c, k->n, (c->NB + 1) * (c->ND + 1) * S, &e->tr) != FL_OK) return c->st;
  if (k->per_n && total_rows(c, k->per_n, k->n_periods * S, &e->periods) != FL_OK) return c->st;
  return choose_tables(c, e);
}

static void free_estimates(cal_estimates *e) {
  free(e->tr.total);
  free(e->periods.total);
  free(e->given);
  free(e->tables);
}

void fl_cal_copy_template(FILE *out, const fl_scenario *sc, int for_check) {
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

/* The cell of the initial-population tally of state s, age year a, locality l (NLOC: not
 * given) and time-in-state band db. */
static size_t tally_cell(const cal *c, size_t s, size_t a, size_t l, size_t db) {
  const size_t A1 = (size_t)c->age_years_max + 1, NL = c->m->NLOC;
  return ((s * A1 + a) * (NL + 1) + l) * c->ND + db;
}

/* The time-in-state band of a child's status at window month `month`: the months it has
 * lasted within the painted history and since birth (band 0 without duration bands). */
static size_t initial_duration_band(const cal *c, const cal_child *ch, long month) {
  const unsigned char raw = ch->status[c->LB + month];
  long since = month;
  if (c->ND == 1) return 0;
  while (since > -c->LB && ch->status[c->LB + since - 1] == raw &&
         (ch->dob < 0 || since - 1 >= ch->dob - c->w0))
    since--;
  return fl_cal_duration_band(c, month - since);
}

/* Tallies the children with a record who are present at window month `month` and outside the
 * gap state, into cnt (tally_cell; age year age_years_max: unknown age). */
static void tally_initial(const cal *c, const cal_records *rec, long month, double *cnt) {
  const fl_model *m = c->m;
  for (size_t k = 0; k < rec->n_kids; k++) {
    const cal_child *ch = &rec->kids[k];
    const long age = ch->dob >= 0 ? c->w0 + month - ch->dob : -1;
    const unsigned char raw = ch->status[c->LB + month];
    const size_t s = raw == FL_CAL_NO_RECORD ? c->gap : raw;
    if (s == c->gap || (ch->dob >= 0 && age < 0) || (m->max_age && age >= (long)m->max_age))
      continue;
    const size_t a = age >= 0 ? (size_t)(age / 12) : (size_t)c->age_years_max;
    const size_t l = ch->loc >= 0 ? (size_t)ch->loc : m->NLOC;
    cnt[tally_cell(c, s, a, l, initial_duration_band(c, ch, month))]++;
  }
}

/* The initial entries of the children with a record, one for each state, age year, locality
 * and time-in-state band with children. */
static void write_recorded(FILE *out, const cal *c, const double *cnt) {
  const fl_model *m = c->m;
  const fl_calibrate_options *opt = c->opt;
  const size_t S = m->S, NL = m->NLOC, A1 = (size_t)c->age_years_max + 1, ND = c->ND;
  for (size_t s = 0; s < S; s++)
    for (size_t a = 0; a < A1; a++)
      for (size_t l = 0; l <= NL; l++)
        for (size_t db = 0; db < ND; db++) {
          const double k = cnt[tally_cell(c, s, a, l, db)];
          if (k <= 0) continue;
          fprintf(out, "    - {state: %s, count: %.0f, age_years: ", m->state_names[s], k);
          if ((long)a < c->age_years_max) fprintf(out, "[%zu, %zu]", a, a + 1);
          else fprintf(out, "[0, %ld]", c->age_years_max);
          if (l < NL && NL > 1) fprintf(out, ", locality: %s", m->loc_names[l]);
          if (ND > 1) {
            const double lo = db ? opt->dur_bands[db - 1] : 0;
            const double hi = db < opt->n_dur_bands ? opt->dur_bands[db] : lo + 12;
            fprintf(out, ", time_in_state_months: [%g, %g]", lo, hi);
          }
          fprintf(out, "}\n");
        }
}

/* The initial entries of the universal children at window month `month`: for each age year,
 * the population table's children less those with a record, when at least half a child is
 * left. They have been universal since birth: time in state is their age. */
static void write_universal(FILE *out, const cal *c, const cal_population *pop, long month,
                            const double *cnt) {
  const fl_model *m = c->m;
  const size_t S = m->S, NL = m->NLOC, ND = c->ND;
  for (long a = 0; a < c->age_years_max; a++) {
    double total = fl_cal_pop_at(pop, c->w0 + month, (int)a, -1), recorded = 0;
    for (size_t s = 0; s < S; s++)
      for (size_t l = 0; l <= NL; l++)
        for (size_t db = 0; db < ND; db++) recorded += cnt[tally_cell(c, s, (size_t)a, l, db)];
    if (total - recorded >= 0.5) {
      fprintf(out, "    - {state: %s, count: %.0f, age_years: [%ld, %ld]", m->state_names[c->gap],
              floor(total - recorded + 0.5), a, a + 1);
      if (ND > 1) fprintf(out, ", time_in_state_months: [%ld, %ld]", a * 12, a * 12 + 12);
      fprintf(out, "}\n");
    }
  }
}

/* The entries: births from the population table's children aged 0; net migration as entry
 * streams for the ages with a net inflow (arriving universal during the year) and an
 * out-migration probability for the net outflow. */
static void write_entries(FILE *out, const cal *c, const cal_population *pop) {
  const char *gap = c->m->state_names[c->gap];
  cal_migration mig;
  fprintf(out,
          "  entries:\n    births:\n      per_year: %.1f   # children aged 0 in the "
          "population table, mean over its dates\n      age_years: [0, 0]\n      states: "
          "{%s: 1}\n",
          fl_cal_births_per_year(pop), gap);
  fl_cal_migration(pop, c->age_years_max, &mig);
  for (long a = 0; a < FL_CAL_MIGRATION_AGES; a++)
    if (mig.in_per_year[a] > 0)
      fprintf(out,
              "    in_migration_%ld:   # net inflow of children aged %ld to %ld, from the "
              "population table\n      per_year: %.2f\n      age_years: [%ld, %ld]\n      "
              "states: {%s: 1}\n",
              a, a, a + 1, mig.in_per_year[a], a, a + 1, gap);
  if (mig.out_per_year > 0)
    fprintf(out,
            "  out_migration_per_year: %.8g   # net outflow over the population, from the "
            "population table\n",
            mig.out_per_year);
}

fl_status fl_cal_write_population(FILE *out, cal *c, const cal_records *rec,
                                  const cal_population *pop, long month) {
  const fl_model *m = c->m;
  const size_t A1 = (size_t)c->age_years_max + 1;
  double *cnt = fl_calloc(m->S * A1 * (m->NLOC + 1) * c->ND, sizeof *cnt);
  if (!cnt) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  fprintf(out, "population:\n");
  if (m->max_age) fprintf(out, "  max_age_years: %g\n", m->max_age / 12.0);
  fprintf(out, "  initial:\n");
  tally_initial(c, rec, month, cnt);
  write_recorded(out, c, cnt);
  write_universal(out, c, pop, month, cnt);
  free(cnt);
  write_entries(out, c, pop);
  return FL_OK;
}

/* The heading of table t: its bands, as the scenario's tables give them. */
static void write_table_heading(FILE *tr, const cal *c, cal_table t) {
  const fl_calibrate_options *opt = c->opt;
  fprintf(tr, "    - ");
  if (t.ab < c->NB) {
    const double alo = t.ab == 0 ? 0 : opt->age_bands[t.ab - 1];
    if (t.ab < opt->n_age_bands)
      fprintf(tr, "age_years: [%g, %g]\n      ", alo, opt->age_bands[t.ab]);
    else fprintf(tr, "age_years: [%g, .inf]\n      ", alo);
  }
  if (t.db < c->ND) {
    const double dlo = t.db == 0 ? 0 : opt->dur_bands[t.db - 1];
    if (t.db < opt->n_dur_bands)
      fprintf(tr, "time_in_state_months: [%g, %g]\n      ", dlo, opt->dur_bands[t.db]);
    else fprintf(tr, "time_in_state_months: [%g, .inf]\n      ", dlo);
  }
  fprintf(tr, "rows:\n");
}

/* Row r (of state s) of a table: the estimated probabilities of the moves observed, or, for a
 * row never observed, the template's. */
static void write_row(FILE *tr, const cal *c, const cal_estimates *e, size_t r, size_t s) {
  const fl_model *m = c->m;
  const size_t S = m->S;
  const int observed = e->tr.total[r] != 0;
  /* The moves written: those observed, or those the template gives. */
  const double *moves = observed ? e->tr.count + r * S : m->base_p + s * S;
  int first = 1;
  fprintf(tr, "        %s: {", m->state_names[s]);
  for (size_t d = 0; d < S; d++)
    if (d != s && moves[d] > 0) {
      const double p = observed ? fl_cal_estimate(&e->tr, r, d, NULL, NULL) : moves[d];
      fprintf(tr, "%s%s: %.12g", first ? "" : ", ", m->state_names[d], p);
      first = 0;
    }
  fprintf(tr, "%s%s: rest}%s\n", first ? "" : ", ", m->state_names[s],
          observed ? "" : "   # not observed: template row");
}

/* Appends formatted text to buf[size] at *used when all of it fits; what does not fit is left
 * past *used, where the next text overwrites it. */
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void append(char *buf, size_t size, size_t *used, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  const int k = vsnprintf(buf + *used, size - *used, fmt, ap);
  va_end(ap);
  if (k > 0 && (size_t)k < size - *used) *used += (size_t)k;
}

/* The counts behind row `row` (of state s), appended to buf[size] at *used: the cells with
 * child-months, while 100 characters are left. */
static void append_counts(char *buf, size_t size, size_t *used, const cal *c, const double *row,
                          size_t s) {
  const fl_model *m = c->m;
  int first = 1;
  append(buf, size, used, "        %s: {", m->state_names[s]);
  for (size_t d = 0; d < m->S && *used < size - 100; d++)
    if (row[d] > 0) {
      append(buf, size, used, "%s%s: %.0f", first ? "" : ", ", m->state_names[d], row[d]);
      first = 0;
    }
  append(buf, size, used, "}\n");
}

/* Table t of the transitions: the rows it gives, then the counts behind the observed ones. */
static void write_table(FILE *tr, const cal *c, const cal_estimates *e, cal_table t) {
  const size_t S = c->m->S;
  char counts_text[1 << 14];
  size_t used = 0, written = 0;
  counts_text[0] = '\0';
  for (size_t s = 0; s < S; s++) {
    const size_t r = fl_cal_row(c, t.ab, t.db, s);
    if (!e->given[r]) continue;
    if (!written++) write_table_heading(tr, c, t);
    write_row(tr, c, e, r, s);
    if (e->tr.total[r] != 0)
      append_counts(counts_text, sizeof counts_text, &used, c, e->tr.count + r * S, s);
  }
  if (used)
    fprintf(tr, "      counts:   # observed child-months behind the rows above\n%s", counts_text);
}

fl_status fl_cal_write_scenario(FILE *out, cal *c, const fl_scenario *sc, const cal_records *rec,
                                const cal_population *pop, const cal_estimates *e,
                                char **transitions) {
  size_t len = 0;
  fl_cal_copy_template(out, sc, 0);
  fprintf(out,
          "\n# Population and transitions calibrated by flourish calibrate from %zu episode "
          "records\n# of %zu children, months %04ld-%02ld to %04ld-%02ld (the extract date).\n",
          rec->rows, rec->n_kids, c->w0 / 12, c->w0 % 12 + 1, (c->w0 + c->W - 1) / 12,
          (c->w0 + c->W - 1) % 12 + 1);
  if (fl_cal_write_population(out, c, rec, pop, c->W - 1) != FL_OK) return c->st;
  FILE *tr = open_memstream(transitions, &len);
  if (!tr) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  fprintf(tr, "transitions:\n  given_as: probability\n  per_months: 1\n  tables:\n");
  for (size_t i = 0; i < e->n_tables; i++) write_table(tr, c, e, e->tables[i]);
  fclose(tr);
  fputs(*transitions, out);
  return FL_OK;
}

/* Writes the back-casting scenario to f. Returns c->st. */
static fl_status write_check_scenario(FILE *f, cal *c, const fl_scenario *sc,
                                      const cal_records *rec, const cal_population *pop,
                                      const char *transitions) {
  fl_cal_copy_template(f, sc, 1);
  fprintf(f, "time: {step_months: 1, horizon_steps: %ld}\n", c->W - 1);
  if (fl_cal_write_population(f, c, rec, pop, 0) != FL_OK) return c->st;
  fputs(transitions, f);
  return FL_OK;
}

fl_status fl_cal_back_cast(cal *c, const fl_scenario *sc, const cal_records *rec,
                           const cal_population *pop, const char *transitions, double **expected) {
  const size_t S = c->m->S, W = (size_t)c->W;
  char path[] = "/tmp/flourish-check-XXXXXX.yaml";
  fl_scenario *cs = NULL;
  fl_model *cm = NULL;
  fl_results *ex = NULL;
  fl_error e = {0};
  if (!(*expected = fl_calloc(W * S, sizeof **expected))) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  const int fd = mkstemps(path, 5);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    fl_cal_fail(c, FL_EIO, 0, "cannot create a temporary file for the back-casting check");
    return c->st;
  }
  if (write_check_scenario(f, c, sc, rec, pop, transitions) != FL_OK) {
    fclose(f);
    unlink(path);
    return c->st;
  }
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
    for (size_t i = 0; i < W * S; i++) (*expected)[i] = ((const double *)es->data)[i];
  }
  fl_results_free(ex);
  fl_model_free(cm);
  fl_scenario_free(cs);
  return c->st;
}

static void report_count(FILE *f, double n, double suppress) {
  if (suppress > 0 && n > 0 && n < suppress) fprintf(f, "<%g", suppress);
  else fprintf(f, "%.0f", n);
}

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
      report_count(rep, e->tr.count[r * S + d], c->opt->suppress);
      fprintf(rep, ",%.6g,%.6g,%.6g,%s\n", prob, lo, hi,
              total == 0 ? "not observed: template row kept" : "");
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
      if (s == c->gap) continue;
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
        report_count(rep, e->count[r * S + d], c->opt->suppress);
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
      report_count(rep, k->stock[(size_t)mo * S + s], c->opt->suppress);
      fprintf(rep, ",,,,children in the state on the first day of the month\n");
    }
}

/* The journeys: moves per child, skip-level escalations, re-entries, and the mean length of
 * the spells completed in each level (0 where fewer spells than the threshold). */
static void report_journeys(FILE *rep, const cal *c, const cal_counts *k) {
  const double suppress = c->opt->suppress;
  for (int i = 0; i < FL_CAL_MOVE_BINS; i++) {
    fprintf(rep, "moves_per_child,,%d%s,,", i, i == FL_CAL_MOVE_BINS - 1 ? "+" : "");
    report_count(rep, k->moves_hist[i], suppress);
    fprintf(rep, ",,,,children with a record by number of moves in the window\n");
  }
  fprintf(rep, "skip_level_escalations,,,,");
  report_count(rep, k->skips, suppress);
  fprintf(rep, ",,,,moves up two or more levels at once\nreentries_12m,,,,");
  report_count(rep, k->reentries, suppress);
  fprintf(rep, ",,,,moves into a level left within the previous 12 months\n");
  for (size_t l = 0; l < c->m->L; l++)
    if (k->spell_n[l] > 0)
      fprintf(rep,
              "mean_months_in_level,,%s,,%.0f,%.4g,,,completed spells observed in the window\n",
              c->m->level_names[l], k->spell_n[l] < suppress ? 0 : k->spell_n[l],
              k->spell_n[l] < suppress ? 0 : k->spell_sum[l] / k->spell_n[l]);
}

void fl_cal_write_report(FILE *rep, const cal *c, const cal_counts *k, const cal_estimates *e,
                         const double *expected) {
  fprintf(rep, "measure,age_band,from,to,count,probability,ci_low,ci_high,note\n");
  for (size_t i = 0; i < e->n_tables; i++) report_table(rep, c, e, e->tables[i]);
  if (expected) report_check(rep, c, k, expected);
  if (k->per_n) report_periods(rep, c, k->n_periods, &e->periods);
  report_stocks(rep, c, k);
  report_journeys(rep, c, k);
}

/* Copies n values of v into a new array with those from 0 to below suppress (when it is
 * positive) as NaN; NULL when out of memory. */
static double *suppressed(const double *v, size_t n, double suppress) {
  double *out = fl_calloc(n, sizeof *out);
  if (!out) return NULL;
  for (size_t i = 0; i < n; i++) out[i] = suppress > 0 && v[i] > 0 && v[i] < suppress ? NAN : v[i];
  return out;
}

/* The report's values as the HDF5 file holds them, small counts suppressed. */
typedef struct h5_values {
  double window[3]; /* first year, first month, months */
  double *n, *stock;
  double moves_hist[FL_CAL_MOVE_BINS], journeys[2];
  double spell_n[FL_MAX_LEVELS], mean_months[FL_MAX_LEVELS];
} h5_values;

/* Fills v from the counts (v->n and v->stock are allocated: free them). Returns 0 when out of
 * memory. */
static int h5_values_make(const cal *c, const cal_counts *k, h5_values *v) {
  const double sup = c->opt->suppress;
  const size_t S = c->m->S;
  v->window[0] = (double)(c->w0 / 12);
  v->window[1] = (double)(c->w0 % 12 + 1);
  v->window[2] = (double)c->W;
  v->n = suppressed(k->n, (c->NB + 1) * (c->ND + 1) * S * S, sup);
  v->stock = suppressed(k->stock, (size_t)c->W * S, sup);
  for (size_t i = 0; i < FL_CAL_MOVE_BINS; i++) {
    const double h = k->moves_hist[i];
    v->moves_hist[i] = sup > 0 && h > 0 && h < sup ? NAN : h;
  }
  v->journeys[0] = k->skips;
  v->journeys[1] = k->reentries;
  for (size_t i = 0; i < 2; i++)
    if (sup > 0 && v->journeys[i] > 0 && v->journeys[i] < sup) v->journeys[i] = NAN;
  for (size_t l = 0; l < c->m->L; l++) {
    const int hidden = sup > 0 && k->spell_n[l] > 0 && k->spell_n[l] < sup;
    v->spell_n[l] = hidden ? NAN : k->spell_n[l];
    v->mean_months[l] = hidden || k->spell_n[l] <= 0 ? NAN : k->spell_sum[l] / k->spell_n[l];
  }
  return v->n && v->stock;
}

/* The datasets of the HDF5 report into ds (room for 12); returns their number. */
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
                                    "to-state; NaN: suppressed.",
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
  if (!h5_values_make(c, k, &v)) fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
  else {
    const size_t nd = h5_datasets(c, &v, expected, ds);
    c->st = fl_h5_write_simple(c->opt->report_h5, ds, nd, names, 2, NULL, 0, c->err);
  }
  free(v.n);
  free(v.stock);
  return c->st;
}

/* The files written beside the outputs until everything succeeded. */
typedef struct outputs {
  char *tmp, *tmp_rep; /* their names */
  FILE *out, *rep;     /* the scenario; the report CSV (NULL without one) */
} outputs;

/* Opens the files beside the scenario and (with opt->report) the report, after removing
 * those an interrupted run left. Returns c->st (FL_ENOMEM, FL_EIO). */
static fl_status open_outputs(cal *c, outputs *o) {
  const fl_calibrate_options *opt = c->opt;
  fl_tmp_clean(opt->output);
  if (!(o->tmp = fl_tmp_name(opt->output, 0))) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  if (!(o->out = fopen(o->tmp, "w"))) {
    fl_error_set(c->err, FL_EIO, opt->output, 0, 0, NULL, "cannot create a file beside it: %s",
                 strerror(errno));
    return c->st = FL_EIO;
  }
  if (!opt->report) return FL_OK;
  fl_tmp_clean(opt->report);
  if (!(o->tmp_rep = fl_tmp_name(opt->report, 0))) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  if (!(o->rep = fopen(o->tmp_rep, "w"))) {
    fl_error_set(c->err, FL_EIO, opt->report, 0, 0, NULL, "cannot create a file beside it: %s",
                 strerror(errno));
    return c->st = FL_EIO;
  }
  return FL_OK;
}

/* Closes the files; moves them into place when the calibration succeeded (a failure to close
 * or to move is FL_EIO), and removes them otherwise. */
static void finish_outputs(cal *c, outputs *o) {
  const fl_calibrate_options *opt = c->opt;
  if (o->out && fclose(o->out) != 0 && c->st == FL_OK) c->st = FL_EIO;
  if (o->rep && fclose(o->rep) != 0 && c->st == FL_OK) c->st = FL_EIO;
  if (c->st == FL_OK &&
      (rename(o->tmp, opt->output) != 0 || (o->tmp_rep && rename(o->tmp_rep, opt->report) != 0))) {
    fl_error_set(c->err, FL_EIO, opt->output, 0, 0, NULL, "cannot move the output into place: %s",
                 strerror(errno));
    c->st = FL_EIO;
  }
  if (c->st != FL_OK) {
    if (o->tmp) unlink(o->tmp);
    if (o->tmp_rep) unlink(o->tmp_rep);
  }
  free(o->tmp);
  free(o->tmp_rep);
}

fl_status fl_calibrate(const fl_scenario *sc, const fl_model *m, const fl_calibrate_options *opt,
                       fl_error *err) {
  cal c = {.m = m, .opt = opt, .err = err, .st = FL_OK};
  cal_population pop = {0};
  cal_records rec = {0};
  cal_counts counts = {0};
  cal_estimates est = {0};
  outputs o = {0};
  char *transitions = NULL;
  double *expected = NULL;
  for (size_t s = 0; s < m->S; s++)
    if (m->state_level[s] == 0) {
      c.gap = s;
      break;
    }
  c.age_years_max = m->max_age ? (long)(m->max_age + 11) / 12 : 120;
  c.NB = opt->n_age_bands + 1;
  c.ND = opt->n_dur_bands + 1;
  gsl_set_error_handler_off(); /* failures come back as NaN and are handled */
  if (m->step_months != 1) {
    fl_error_set(err, FL_EUSAGE, m->scenario_path, 0, 0, "time.step_months",
                 "calibrate estimates monthly transitions: the template needs monthly steps");
    return FL_EUSAGE;
  }
  /* 1. Read, 2. count, 3. estimate, 4. write the scenario, 5. check, then the report. */
  if (read_inputs(&c, &pop, &rec) != FL_OK) goto done;
  if (count_transitions(&c, &rec, &pop, &counts) != FL_OK) goto done;
  if (estimate(&c, &counts, &est) != FL_OK) goto done;
  if (open_outputs(&c, &o) != FL_OK) goto done;
  if (fl_cal_write_scenario(o.out, &c, sc, &rec, &pop, &est, &transitions) != FL_OK) goto done;
  if (opt->check && fl_cal_back_cast(&c, sc, &rec, &pop, transitions, &expected) != FL_OK)
    goto done;
  if (o.rep) fl_cal_write_report(o.rep, &c, &counts, &est, expected);
  if (opt->report_h5) fl_cal_write_report_h5(&c, &counts, expected);
done:
  finish_outputs(&c, &o);
  free(transitions);
  free(expected);
  free_estimates(&est);
  free_counts(&counts);
  fl_cal_records_free(&rec);
  fl_cal_population_free(&pop);
  return c.st;
}
