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
 *    every row) replaced (calibrate_write.c).
 * 5. Check, on request: the calibrated model back-casts the window (calibrate_check.c).
 * Then the report, CSV and HDF5 (calibrate_report.c). The scenario and the report CSV are
 * written beside their paths and moved into place only when everything succeeded. */
#include "data/calibrate_internal.h"

#include "core/rng.h"
#include "data/exact_ci.h"

#include <errno.h>
#include <gsl/gsl_errno.h>
#include <math.h>
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

/* The children with a record in the window who are never counted: born after it, or at or
 * above the maximum age all through it (FL_CAL_W_OUT_OF_AGE; records wholly before or after
 * the window are not looked at). When that is every such child with a date of birth, the
 * dates must be wrong: FL_EINPUT. Returns c->st. */
static fl_status check_ages(cal *c, const cal_records *rec) {
  const long max_age = (long)c->m->max_age;
  const long day0 = fl_cal_first_day_of(c->w0), day1 = fl_cal_first_day_of(c->w0 + c->W);
  size_t with_dob = 0, out = 0;
  for (size_t i = 0; i < rec->n_kids; i++) {
    const cal_child *ch = &rec->kids[i];
    c->kids_in_window += ch->last_end > day0 && ch->first_start < day1;
    if (ch->dob < 0 || ch->last_end <= day0 || ch->first_start >= day1) continue;
    with_dob++;
    const long age_first = c->w0 - ch->dob, age_last = c->w0 + c->W - 1 - ch->dob;
    if (age_last < 0 || (max_age && age_first >= max_age)) {
      out++;
      fl_cal_warn(c, FL_CAL_W_OUT_OF_AGE, ch->line);
    }
  }
  if (with_dob && out == with_dob) {
    fl_error_set(c->err, FL_EINPUT, c->opt->episodes, (int)rec->kids[0].line, 0, "date_of_birth",
                 "none of the %zu children with a record in the window and a date of birth is "
                 "below the template's maximum age of %ld months (nor born) at any month of the "
                 "window %04ld-%02ld to "
                 "%04ld-%02ld: are the dates of birth (and --date-format) right?",
                 with_dob, max_age, c->w0 / 12, c->w0 % 12 + 1, (c->w0 + c->W - 1) / 12,
                 (c->w0 + c->W - 1) % 12 + 1);
    return c->st = FL_EINPUT;
  }
  return FL_OK;
}

/* Each data-quality warning seen, as a sentence with its count and first lines, to the
 * options' notice; with --strict the first is an error (FL_EINPUT). Returns c->st. */
static fl_status tell_warnings(cal *c) {
  const fl_calibrate_options *opt = c->opt;
  for (int w = 0; w < FL_CAL_N_WARNINGS; w++) {
    const cal_warning *cw = &c->warn[w];
    if (!(cw->count > 0)) continue;
    char lines[160] = "", text[900];
    size_t used = 0;
    for (size_t i = 0; i < cw->n_line && used < sizeof lines; i++)
      used +=
          (size_t)snprintf(lines + used, sizeof lines - used, "%s%zu", i ? ", " : "", cw->line[i]);
    snprintf(text, sizeof text, "%s: %.0f %s (%s %s%s)", opt->episodes, cw->count,
             fl_cal_warning_text(w), cw->n_line > 1 ? "lines" : "line", lines,
             cw->count > (double)cw->n_line ? ", ..." : "");
    if (opt->strict) {
      fl_error_set(c->err, FL_EINPUT, opt->episodes, (int)cw->line[0], 0, NULL,
                   "%.0f %s; --strict makes this an error", cw->count, fl_cal_warning_text(w));
      return c->st = FL_EINPUT;
    }
    if (opt->notice) opt->notice(opt->notice_ctx, text);
  }
  return FL_OK;
}

/* Phase 1: the population table, the children and their monthly statuses over the window.
 * Returns c->st. */
static fl_status read_inputs(cal *c, cal_population *pop, cal_records *rec) {
  fl_status st = fl_cal_population_read(c, pop);
  if (st == FL_OK) st = fl_cal_episodes_scan(c, rec);
  if (st == FL_OK) st = choose_window(c, rec, pop);
  if (st == FL_OK) st = check_ages(c, rec);
  if (st == FL_OK) st = tell_warnings(c);
  if (st == FL_OK) st = fl_cal_episodes_paint(c, rec);
  if (st == FL_OK) {
    c->n_records = rec->rows;
    c->n_kids = rec->n_kids;
    c->pop_rows = pop->n;
    c->pop_dates = pop->n_dates;
  }
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
 * band, to the all-ages and all-durations totals, and to its calendar period; with
 * --suppress, w events of key ev to the cells' keys. */
static void add_count(const cal *c, cal_counts *k, long mo, long age, long tis, size_t s, size_t d,
                      double w, uint64_t ev) {
  const fl_calibrate_options *opt = c->opt;
  const size_t S = c->m->S, NB = c->NB, ND = c->ND;
  size_t ab = NB;
  const size_t db = fl_cal_duration_band(c, tis);
  const uint64_t key = ev * (uint64_t)llround(w);
  if (age >= 0)
    for (ab = 0; ab < opt->n_age_bands && age >= (long)llround(opt->age_bands[ab] * 12);) ab++;
  const size_t abs_[2] = {ab, NB}, dbs[2] = {db, ND};
  for (int i = 0; i < 2; i++)
    for (int j = 0; j < 2; j++) {
      if ((i == 1 && ab == NB) || (j == 1 && db == ND)) continue;
      const size_t cell = fl_cal_row(c, abs_[i], dbs[j], s) * S + d;
      k->n[cell] += w;
      if (k->n_key) k->n_key[cell] += key;
    }
  if (k->per_n) {
    const size_t cell = ((size_t)(mo / opt->period_months) * S + s) * S + d;
    k->per_n[cell] += w;
    if (k->per_n_key) k->per_n_key[cell] += key;
  }
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

/* Adds a month's step s -> d, ending at window month mo + 1, to the journey measures (ev:
 * the step's event key). */
static void count_journey(const fl_model *m, cal_counts *k, journey *j, long mo, size_t s, size_t d,
                          uint64_t ev) {
  j->spell++;
  if (d == s) return;
  const size_t ls = m->state_level[s], ld = m->state_level[d];
  j->moves++;
  if (ld >= ls + 2) {
    k->skips++;
    k->skips_key += ev;
  }
  if (ls != ld) {
    if (mo + 1 - j->left_at[ld] <= 12) {
      k->reentries++;
      k->reentries_key += ev;
    }
    j->left_at[ls] = mo + 1;
    k->spell_sum[ls] += (double)j->spell;
    k->spell_n[ls]++;
    k->spell_key[ls] += ev;
    j->spell = 0;
  }
}

/* Counts child `id` with a record: its monthly moves while present, its stocks, its journey,
 * and its presence by window month and month of age in present[W * 12 (age_years_max + 1)]
 * (a child whose date of birth is unknown is counted at no age). Time in state
 * runs from the month the status last changed (within the painted history), or from birth. */
static void count_child(const cal *c, size_t id, const cal_child *ch, cal_counts *k,
                        double *present) {
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
    if (age >= 0 && age / 12 <= c->age_years_max) present[mo * A1 * 12 + age]++;
    if (s != c->gap) {
      k->stock[(size_t)mo * S + s]++;
      if (k->stock_key)
        k->stock_key[(size_t)mo * S + s] += fl_cal_event_key(FL_CAL_EV_PRESENT, id, mo);
    }
    if (mo + 1 >= c->W || (m->max_age && age + 1 >= (long)m->max_age)) continue;
    const size_t d = status_at(c, ch, mo + 1);
    if (m->absorbing[s]) continue;
    const long since = ch->dob >= 0 && run_start < ch->dob - c->w0 ? ch->dob - c->w0 : run_start;
    const uint64_t ev = fl_cal_event_key(FL_CAL_EV_STEP, id, mo);
    add_count(c, k, mo, age, mo - since, s, d, 1.0, ev);
    count_journey(m, k, &j, mo, s, d, ev);
  }
  const int bin = j.moves < FL_CAL_MOVE_BINS - 1 ? (int)j.moves : FL_CAL_MOVE_BINS - 1;
  k->moves_hist[bin]++;
  k->moves_hist_key[bin] += fl_cal_event_key(FL_CAL_EV_CHILD, id, 0);
}

/* Phase 2: the counts of the window into k (zeroed on entry; freed by free_counts, also after
 * a failure). Children of the population table without a record stay universal, and have been
 * since birth: each month adds the table's children of each age year less those with a record,
 * by month of age (the table's children spread evenly over the year of age), with time in
 * state equal to the age (a child born in the area and never recorded has always been
 * universal). Returns c->st (FL_ENOMEM). */
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
  present = fl_calloc(W * A1 * 12, sizeof *present);
  k->stock = fl_calloc(W * S, sizeof *k->stock);
  if (!k->n || !present || !k->stock) goto oom;
  if (c->opt->suppress > 1) {
    k->n_key = fl_calloc((c->NB + 1) * (c->ND + 1) * S * S, sizeof *k->n_key);
    k->stock_key = fl_calloc(W * S, sizeof *k->stock_key);
    if (k->per_n && !(k->per_n_key = fl_calloc(k->n_periods * S * S, sizeof *k->per_n_key)))
      goto oom;
    if (!k->n_key || !k->stock_key) goto oom;
  }
  for (size_t i = 0; i < rec->n_kids; i++) count_child(c, i, &rec->kids[i], k, present);
  for (long mo = 0; mo + 1 < c->W; mo++)
    for (long a = 0; a < c->age_years_max; a++) {
      /* The table's children of age year a, a twelfth at each month of age, less those with
       * a record at that month of age: the rest are universal and have been since birth, so
       * time in state is the age. Months with more records than the twelfth are left out and
       * the others scaled to keep the year's total. */
      const double all = fl_cal_pop_at(pop, c->w0 + mo, (int)a, -1);
      const double *pres = &present[((size_t)mo * A1 + (size_t)a) * 12];
      double u[12], sum = 0, recorded = 0;
      for (int j = 0; j < 12; j++) {
        u[j] = fmax(0, all / 12 - pres[j]);
        sum += u[j];
        recorded += pres[j];
      }
      const double scale = all - recorded > 0 && sum > 0 ? (all - recorded) / sum : 0;
      for (long j = 0; j < 12; j++)
        if (u[j] * scale > 0)
          add_count(c, k, mo, a * 12 + j, a * 12 + j, c->gap, c->gap, u[j] * scale,
                    fl_cal_event_key(FL_CAL_EV_UNIVERSAL, (uint64_t)(a * 12 + j), (uint64_t)mo));
    }
  free(present);
  return FL_OK;
oom:
  free(present);
  fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
  return c->st;
}

/* Disclosure control (--suppress N, after counting and before anything is estimated or
 * written): every count of k randomly rounded to a multiple of N by its cell key
 * (fl_cal_round); the mean length of spells in a level kept only where there were at least N
 * of them. The secret of the rounding is a hash of the counts themselves. */
static void disclose(cal *c, cal_counts *k) {
  const size_t S = c->m->S, cells = (c->NB + 1) * (c->ND + 1) * S * S, W = (size_t)c->W;
  const double N = c->opt->suppress;
  if (!(N > 1)) return;
  uint64_t h = fl_fnv1a(FL_FNV_BASIS, k->n, cells * sizeof *k->n);
  h = fl_fnv1a(h, k->stock, W * S * sizeof *k->stock);
  c->secret = fl_mix64(h);
  for (size_t i = 0; i < cells; i++) k->n[i] = fl_cal_round(c, k->n[i], k->n_key[i]);
  for (size_t i = 0; k->per_n && i < k->n_periods * S * S; i++)
    k->per_n[i] = fl_cal_round(c, k->per_n[i], k->per_n_key[i]);
  for (size_t i = 0; i < W * S; i++) k->stock[i] = fl_cal_round(c, k->stock[i], k->stock_key[i]);
  for (int i = 0; i < FL_CAL_MOVE_BINS; i++)
    k->moves_hist[i] = fl_cal_round(c, k->moves_hist[i], k->moves_hist_key[i]);
  k->skips = fl_cal_round(c, k->skips, k->skips_key);
  k->reentries = fl_cal_round(c, k->reentries, k->reentries_key);
  for (size_t l = 0; l < c->m->L; l++) {
    const double mean = k->spell_n[l] > 0 ? k->spell_sum[l] / k->spell_n[l] : 0;
    k->spell_hidden[l] = k->spell_n[l] < N;
    k->spell_n[l] = fl_cal_round(c, k->spell_n[l], k->spell_key[l]);
    k->spell_sum[l] = k->spell_hidden[l] ? 0 : mean * k->spell_n[l];
  }
}

static void free_counts(cal_counts *k) {
  free(k->n);
  free(k->n_key);
  free(k->per_n_key);
  free(k->stock_key);
  free(k->per_n);
  free(k->stock);
}

double fl_cal_estimate(const cal_rows *e, size_t r, size_t d, double *lo, double *hi) {
  const double k = e->count[r * e->S + d], n = e->total[r];
  if (lo && fl_clopper_pearson(k, n, 0.95, lo, hi)) *lo = *hi = NAN;
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
        /* (with partial coverage the uncovered rows come from the template, in the table of
         * all ages and durations) */
        e->given[r] = !c->m->absorbing[s] && (all || e->tr.total[r] >= opt->min_row) &&
                      (all || !(c->partial && c->uncovered[s]));
      }
  return FL_OK;
}

/* With partial coverage, the scale of the template's escalations from uncovered states into
 * each covered state (c->esc_scale): the rate the records show from the gap row (all ages and
 * durations: every child without a record, whatever uncovered level it is in) over the rate the
 * template gives the same mixture, its rows averaged over the years of age (time in state: the
 * age) and weighted by c->u_share. */
static void scale_escalations(cal *c, const cal_estimates *e) {
  const fl_model *m = c->m;
  const size_t S = m->S, r = fl_cal_row(c, c->NB, c->ND, c->gap);
  double p[FL_MAX_STATES], mix[FL_MAX_STATES] = {0};
  for (long a = 0; a < c->age_years_max; a++)
    for (size_t s = 0; s < S; s++)
      if (c->uncovered[s] && c->u_share[s] > 0) {
        fl_cal_template_row(c, s, a * 12 + 6, a * 12 + 6, p);
        for (size_t d = 0; d < S; d++) mix[d] += c->u_share[s] * p[d] / (double)c->age_years_max;
      }
  memcpy(c->esc_mix, mix, sizeof mix);
  for (size_t d = 0; d < S; d++) {
    c->esc_scale[d] = 1;
    if (c->uncovered[d] || m->absorbing[d] || e->tr.total[r] <= 0) continue;
    const double observed = e->tr.count[r * S + d] / e->tr.total[r];
    c->esc_scale[d] = mix[d] > 0 ? observed / mix[d] : NAN;
  }
}

/* Partial coverage, said loudly: which rows come from the template and how they were scaled. */
static void tell_coverage(const cal *c) {
  const fl_model *m = c->m;
  const fl_calibrate_options *opt = c->opt;
  char text[2048];
  size_t used = 0;
  if (!c->partial || !opt->notice) return;
  used += (size_t)snprintf(text, sizeof text, "--covers %s: the rows of", opt->covers);
  for (size_t s = 0; s < m->S && used < sizeof text; s++)
    if (c->uncovered[s])
      used += (size_t)snprintf(text + used, sizeof text - used, " %s (%.1f%%)", m->state_names[s],
                               100 * c->u_share[s]);
  if (used < sizeof text)
    used += (size_t)snprintf(text + used, sizeof text - used,
                             " are the template's, with the children without a record shared "
                             "among them as shown; their escalations into covered states are "
                             "scaled to the records:");
  for (size_t d = 0; d < m->S && used < sizeof text; d++)
    if (!c->uncovered[d] && !m->absorbing[d])
      used += (size_t)snprintf(text + used, sizeof text - used, " %s x%.4g", m->state_names[d],
                               c->esc_scale[d]);
  opt->notice(opt->notice_ctx, text);
}

/* Phase 3: the totals of every row of the counts, the tables of the scenario and the rows
 * each gives, into e (zeroed on entry; freed by free_estimates, also after a failure); the
 * estimates follow from them (fl_cal_estimate); with partial coverage, the scales of the
 * uncovered rows' escalations. Returns c->st. */
static fl_status estimate(cal *c, const cal_counts *k, cal_estimates *e) {
  const size_t S = c->m->S;
  if (total_rows(c, k->n, (c->NB + 1) * (c->ND + 1) * S, &e->tr) != FL_OK) return c->st;
  if (k->per_n && total_rows(c, k->per_n, k->n_periods * S, &e->periods) != FL_OK) return c->st;
  if (choose_tables(c, e) != FL_OK) return c->st;
  if (c->partial) {
    scale_escalations(c, e);
    tell_coverage(c);
  }
  return FL_OK;
}

/* The levels the records cover (opt->covers, or every level above the lowest): c->uncovered,
 * c->partial and c->u_share. Fails with FL_EUSAGE for a name that is not a level above the
 * lowest. Returns c->st. */
static fl_status set_coverage(cal *c) {
  const fl_model *m = c->m;
  const char *list = c->opt->covers;
  unsigned char covered[FL_MAX_LEVELS] = {0};
  for (size_t l = 1; l < m->L; l++) covered[l] = !list;
  while (list && *list) {
    const size_t len = strcspn(list, ",");
    size_t l = 0;
    while (l < m->L && (strlen(m->level_names[l]) != len || strncmp(m->level_names[l], list, len)))
      l++;
    if (l == m->L || l == 0) {
      char levels[512] = "", word[128];
      for (size_t i = 1, used = 0; i < m->L && used < sizeof levels; i++)
        used += (size_t)snprintf(levels + used, sizeof levels - used, "%s%s", i > 1 ? ", " : "",
                                 m->level_names[i]);
      snprintf(word, sizeof word, "%.*s", (int)len, list);
      const char *near = l == 0 ? NULL : fl_closest(word, m->level_names + 1, m->L - 1);
      fl_error_set(c->err, FL_EUSAGE, NULL, 0, 0, "--covers",
                   l == 0 ? "'%s' is the lowest level, where children without a record are: it "
                            "cannot be covered; expected levels among %s"
                   : near ? "'%s' is not a level of the template: did you mean '%s'?"
                          : "'%s' is not a level of the template: expected levels among %s",
                   word, near ? near : levels);
      return c->st = FL_EUSAGE;
    }
    covered[l] = 1;
    list += len + (list[len] == ',');
  }
  double total = 0;
  for (size_t s = 0; s < m->S; s++) {
    c->uncovered[s] = !m->absorbing[s] && !covered[m->state_level[s]];
    c->partial |= c->uncovered[s] && m->state_level[s] > 0;
  }
  /* Children without a record: in the uncovered states as the template's initial population
   * has them (all in the gap state when it has none there). */
  for (size_t g = 0; g < m->n_init; g++)
    if (c->uncovered[m->init[g].state]) {
      c->u_share[m->init[g].state] += (double)m->init[g].count;
      total += (double)m->init[g].count;
    }
  if (!c->partial || total <= 0) {
    memset(c->u_share, 0, sizeof c->u_share);
    c->u_share[c->gap] = 1;
  } else
    for (size_t s = 0; s < m->S; s++) c->u_share[s] /= total;
  return FL_OK;
}

static void free_estimates(cal_estimates *e) {
  free(e->tr.total);
  free(e->periods.total);
  free(e->given);
  free(e->tables);
}

/* The files written beside the outputs until everything succeeded. */
typedef struct outputs {
  fl_outfile out_file, rep_file; /* the scenario; the report CSV (unused without one) */
  FILE *out, *rep;               /* (rep NULL without a report) */
} outputs;

/* One output under construction as a stream. */
static fl_status open_stream(cal *c, fl_outfile *of, const char *path, const char *option,
                             FILE **f) {
  int fd;
  if ((c->st = fl_outfile_begin(of, path, option, &fd, c->err)) != FL_OK) return c->st;
  if (!(*f = fdopen(fd, "w"))) {
    close(fd);
    fl_outfile_abort(of);
    fl_error_set(c->err, FL_EIO, path, 0, 0, option, "cannot write: %s", strerror(errno));
    return c->st = FL_EIO;
  }
  return FL_OK;
}

/* Opens the files beside the scenario and (with opt->report) the report, after removing
 * those an interrupted run left. Returns c->st. */
static fl_status open_outputs(cal *c, outputs *o) {
  const fl_calibrate_options *opt = c->opt;
  if (open_stream(c, &o->out_file, opt->output, "-o", &o->out) != FL_OK) return c->st;
  if (!opt->report) return FL_OK;
  return open_stream(c, &o->rep_file, opt->report, "--report", &o->rep);
}

/* Closes the files; moves them into place when the calibration succeeded (a failure to close
 * or to move is an error), and removes them otherwise. */
static void finish_outputs(cal *c, outputs *o) {
  const fl_calibrate_options *opt = c->opt;
  const int out_bad = o->out && fclose(o->out) != 0, rep_bad = o->rep && fclose(o->rep) != 0;
  if ((out_bad || rep_bad) && c->st == FL_OK) {
    fl_error_set(c->err, FL_EIO, out_bad ? opt->output : opt->report, 0, 0, NULL,
                 "cannot finish writing: %s", strerror(errno));
    c->st = FL_EIO;
  }
  if (c->st == FL_OK) c->st = fl_outfile_commit(&o->out_file, c->err);
  if (c->st == FL_OK && o->rep) c->st = fl_outfile_commit(&o->rep_file, c->err);
  if (o->out) fl_outfile_abort(&o->out_file); /* (nothing left to remove once committed) */
  if (o->rep) fl_outfile_abort(&o->rep_file);
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
  if (opt->delimiter && !fl_csv_delim_ok(opt->delimiter)) {
    fl_error_set(err, FL_EUSAGE, NULL, 0, 0, "--delimiter",
                 "expected ',', ';', tab or '|', found '%c' (byte %d)",
                 opt->delimiter >= 0x20 && opt->delimiter < 0x7F ? opt->delimiter : '?',
                 (unsigned char)opt->delimiter);
    return FL_EUSAGE;
  }
  char why[160];
  if (fl_cal_date_format_parse(opt->date_format ? opt->date_format : FL_CAL_DATE_ISO,
                               &c.date_format, why, sizeof why) != FL_OK) {
    fl_error_set(err, FL_EUSAGE, NULL, 0, 0, "--date-format",
                 "expected a format such as %%d/%%m/%%Y or '%%Y-%%m-%%d %%H:%%M' (%%Y, %%m and "
                 "%%d, optionally %%H:%%M or %%H:%%M:%%S, and separators), found '%.40s': %s",
                 opt->date_format, why);
    return FL_EUSAGE;
  }
  if (m->step_months != 1) {
    fl_error_set(err, FL_EUSAGE, m->scenario_path, 0, 0, "time.step_months",
                 "calibrate estimates monthly transitions: the template needs monthly steps");
    return FL_EUSAGE;
  }
  /* 1. Read, 2. count (and round for disclosure control), 3. estimate, 4. write the
   * scenario, 5. check, then the report. */
  if (set_coverage(&c) != FL_OK) goto done;
  if (read_inputs(&c, &pop, &rec) != FL_OK) goto done;
  if (count_transitions(&c, &rec, &pop, &counts) != FL_OK) goto done;
  disclose(&c, &counts);
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
