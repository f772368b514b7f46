/* The population table of `flourish calibrate`: children by age in whole years (and, when
 * given, locality) on given dates, read from CSV with columns date, age, count and optionally
 * locality. It tells the calibration how many children of each age there are at a month
 * (those without a record are universal), how many are born a year (the children aged 0) and
 * the net migration by age (the same cohort on dates a year apart). */
#include "data/calibrate_internal.h"

#include "core/csv.h"

#include <errno.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { POP_DATE, POP_AGE, POP_LOC, POP_COUNT, POP_COLS };
static const char *const pop_cols[POP_COLS] = {"date", "age", "locality", "count"};

static const fl_csv_spec pop_spec = {pop_cols, POP_COLS,
                                     (1u << POP_DATE) | (1u << POP_AGE) | (1u << POP_COUNT),
                                     "population tables"};

/* The most children one row may count: more than any area has. */
#define POP_MAX_COUNT 1e8

typedef struct pop_reader {
  cal *c;
  cal_population *t;
} pop_reader;

/* Parses the record f and appends it to the table. */
static fl_status pop_record(void *ctx, fl_csv *r, const char *const *f) {
  pop_reader *p = ctx;
  const cal *c = p->c;
  cal_pop_row row = {0, 0, -1, 0, fl_csv_line(r)};
  char *end = NULL;
  long age;
  if (fl_cal_read_date(c, f[POP_DATE], &row.month) < 0)
    return fl_cal_date_fail(c, r, POP_DATE, f[POP_DATE], NULL);
  errno = 0;
  age = strtol(f[POP_AGE], &end, 10);
  if (!f[POP_AGE][0] || *end || errno || age < 0 || age > 200)
    return fl_csv_fail(r, FL_EINPUT, POP_AGE, "'%s' is not a whole number of years", f[POP_AGE]);
  row.age = (int)age;
  row.count = strtod(f[POP_COUNT], &end);
  if (!f[POP_COUNT][0] || *end || !(row.count >= 0) || !isfinite(row.count))
    return fl_csv_fail(r, FL_EINPUT, POP_COUNT, "'%s' is not a number of children", f[POP_COUNT]);
  /* Whole children only: the calibrated scenario counts children, and a fraction would be
   * rounded there and disagree with the rows estimated from the table. */
  if (row.count != floor(row.count) && row.count <= POP_MAX_COUNT)
    return fl_csv_fail(r, FL_EINPUT, POP_COUNT, "'%s' is not a whole number of children",
                       f[POP_COUNT]);
  if (row.count > POP_MAX_COUNT)
    return fl_csv_fail(r, FL_EINPUT, POP_COUNT,
                       "%g children of one age in one place is more than any area has "
                       "(at most %g)",
                       row.count, POP_MAX_COUNT);
  if (f[POP_LOC] && f[POP_LOC][0]) {
    for (size_t l = 0; l < c->m->NLOC; l++)
      if (!strcmp(c->m->loc_names[l], f[POP_LOC])) row.loc = (int)l;
    if (row.loc < 0)
      return fl_csv_fail(r, FL_EINPUT, POP_LOC, "'%s' is not one of the template's", f[POP_LOC]);
  }
  cal_population *t = p->t;
  if (t->n == t->cap) {
    size_t ncap = t->cap ? 2 * t->cap : 256;
    cal_pop_row *nr = realloc(t->rows, ncap * sizeof *nr);
    if (!nr) return fl_csv_fail(r, FL_ENOMEM, -1, "out of memory");
    t->rows = nr;
    t->cap = ncap;
  }
  t->rows[t->n++] = row;
  return FL_OK;
}

static int by_cell(const void *a, const void *b) {
  const cal_pop_row *x = *(const cal_pop_row *const *)a, *y = *(const cal_pop_row *const *)b;
  if (x->month != y->month) return x->month < y->month ? -1 : 1;
  if (x->age != y->age) return x->age < y->age ? -1 : 1;
  if (x->loc != y->loc) return x->loc < y->loc ? -1 : 1;
  return x->line < y->line ? -1 : x->line > y->line;
}

/* No date and age is given twice, for the same locality, or both for the whole area (no
 * locality) and by locality: the counts would be added twice. Counts the distinct dates into
 * t->n_dates on the way. */
static fl_status check_cells(cal *c, cal_population *t) {
  const cal_pop_row **o = malloc(t->n * sizeof *o);
  fl_status st = FL_OK;
  if (!o) {
    fl_error_set(c->err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  for (size_t i = 0; i < t->n; i++) o[i] = &t->rows[i];
  qsort(o, t->n, sizeof *o, by_cell);
  t->n_dates = t->n > 0;
  for (size_t i = 1; i < t->n; i++) t->n_dates += o[i]->month != o[i - 1]->month;
  for (size_t i = 1; i < t->n && st == FL_OK; i++) {
    const cal_pop_row *x = o[i - 1], *y = o[i];
    if (x->month != y->month || x->age != y->age) continue;
    char date[48];
    snprintf(date, sizeof date, "%04ld-%02ld", y->month / 12, y->month % 12 + 1);
    if (x->loc == y->loc) {
      fl_error_set(c->err, FL_EINPUT, c->opt->population, (int)y->line, 0, NULL,
                   "the table gives age %d in %s%s%s twice (lines %zu and %zu)", y->age, date,
                   y->loc >= 0 ? " for locality " : "", y->loc >= 0 ? c->m->loc_names[y->loc] : "",
                   x->line, y->line);
      st = FL_EINPUT;
    } else if (x->loc < 0) { /* (sorted: the whole area's row comes first) */
      fl_error_set(c->err, FL_EINPUT, c->opt->population, (int)y->line, 0, NULL,
                   "the table gives age %d in %s both for the whole area (line %zu) and by "
                   "locality (line %zu): give one or the other",
                   y->age, date, x->line, y->line);
      st = FL_EINPUT;
    }
  }
  free(o);
  return st;
}

fl_status fl_cal_population_read(cal *c, cal_population *t) {
  pop_reader p = {.c = c, .t = t};
  if ((c->st = fl_csv_read(c->opt->population, &pop_spec, c->opt->delimiter, pop_record, &p,
                           c->err)) != FL_OK)
    return c->st;
  if (t->n == 0) {
    fl_error_set(c->err, FL_EINPUT, c->opt->population, 2, 1, NULL, "the table has no rows");
    return c->st = FL_EINPUT;
  }
  return c->st = check_cells(c, t);
}

void fl_cal_population_free(cal_population *t) {
  free(t->rows);
  t->rows = NULL;
  t->n = t->cap = t->n_dates = 0;
}

long fl_cal_pop_first_month(const cal_population *t) {
  long first = t->rows[0].month;
  for (size_t i = 0; i < t->n; i++)
    if (t->rows[i].month < first) first = t->rows[i].month;
  return first;
}

double fl_cal_pop_at(const cal_population *t, long month, int age, int loc) {
  long best = -1;
  double n = 0;
  for (size_t i = 0; i < t->n; i++)
    if (t->rows[i].month <= month && t->rows[i].month > best) best = t->rows[i].month;
  if (best < 0)
    for (size_t i = 0; i < t->n; i++)
      if (best < 0 || t->rows[i].month < best) best = t->rows[i].month;
  for (size_t i = 0; i < t->n; i++)
    if (t->rows[i].month == best && t->rows[i].age == age && (loc < 0 || t->rows[i].loc == loc))
      n += t->rows[i].count;
  return n;
}

double fl_cal_births_per_year(const cal_population *t) {
  double births = 0;
  for (size_t i = 0; i < t->n; i++)
    if (t->rows[i].age == 0) births += t->rows[i].count;
  return t->n_dates > 0 ? births / (double)t->n_dates : 0;
}

void fl_cal_migration(const cal_population *t, long age_years_max, cal_migration *mig) {
  double net[FL_CAL_MIGRATION_AGES] = {0}, pairs = 0, outflow = 0, stock = 0;
  memset(mig, 0, sizeof *mig);
  for (size_t i = 0; i < t->n; i++) {
    const long d0 = t->rows[i].month;
    int first_of_date = 1, has_next = 0;
    for (size_t j = 0; j < i; j++) first_of_date &= t->rows[j].month != d0;
    for (size_t j = 0; j < t->n && !has_next; j++) has_next = t->rows[j].month == d0 + 12;
    if (!first_of_date || !has_next) continue;
    pairs++;
    for (long a = 0; a + 1 < age_years_max && a < FL_CAL_MIGRATION_AGES; a++) {
      net[a] += fl_cal_pop_at(t, d0 + 12, (int)a + 1, -1) - fl_cal_pop_at(t, d0, (int)a, -1);
      stock += fl_cal_pop_at(t, d0, (int)a, -1);
    }
  }
  for (long a = 0; pairs > 0 && a + 1 < age_years_max && a < FL_CAL_MIGRATION_AGES; a++) {
    const double per_year = net[a] / pairs;
    if (per_year >= 0.05) mig->in_per_year[a] = per_year;
    else if (per_year < 0) outflow -= per_year;
  }
  if (outflow > 0 && stock > 0) mig->out_per_year = fmin(0.5, outflow / (stock / pairs));
}
