/* The population table of `flourish calibrate`: children by age in whole years (and, when
 * given, locality) on given dates, read from CSV with columns date, age, count and optionally
 * locality. It tells the calibration how many children of each age there are at a month
 * (those without a record are universal), how many are born a year (the children aged 0) and
 * the net migration by age (the same cohort on dates a year apart). */
#include "data/calibrate_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { POP_DATE, POP_AGE, POP_LOC, POP_COUNT, POP_COLS };
static const char *const pop_cols[POP_COLS] = {"date", "age", "locality", "count"};

/* The reader's state while libcsv streams the table: the role of each column (-1: none) and
 * the fields of the record being read (owned, freed after each record). */
typedef struct pop_reader {
  cal *c;
  cal_population *t;
  int col_of[FL_CAL_MAX_COLS];
  char *f[POP_COLS];
} pop_reader;

static void pop_field(void *data, size_t len, void *ctx) {
  pop_reader *p = ctx;
  cal *c = p->c;
  const char *s = data ? data : "";
  c->field++;
  if (c->st != FL_OK || c->field > FL_CAL_MAX_COLS) return;
  if (!fl_cal_field_utf8(c, s, len)) return;
  if (!c->header_done) {
    p->col_of[c->field - 1] = -1;
    for (int k = 0; k < POP_COLS; k++)
      if (!strcasecmp(s, pop_cols[k])) p->col_of[c->field - 1] = k;
  } else if (p->col_of[c->field - 1] >= 0) {
    free(p->f[p->col_of[c->field - 1]]);
    p->f[p->col_of[c->field - 1]] = fl_strdup(s);
  }
}

/* Checks that the header names the required columns. */
static void pop_header(pop_reader *p) {
  static const int required[3] = {POP_DATE, POP_AGE, POP_COUNT};
  cal *c = p->c;
  for (int k = 0; k < 3; k++) {
    int found = 0;
    for (size_t i = 0; i < c->field && i < FL_CAL_MAX_COLS; i++)
      found |= p->col_of[i] == required[k];
    if (!found)
      fl_cal_fail(c, FL_EINPUT, 1,
                  "the header has no '%s' column (required: date, age, count; "
                  "optional: locality)",
                  pop_cols[required[k]]);
  }
}

/* Parses the record just read and appends it to the table. Messages give a field's column as
 * its place in the order date, age, locality, count, not as the file's own column. */
static void pop_record(pop_reader *p) {
  cal *c = p->c;
  char **f = p->f;
  cal_pop_row r = {0, 0, -1, 0};
  char *end = NULL;
  if (!f[POP_DATE] || fl_cal_parse_date(f[POP_DATE], &r.month) < 0)
    fl_cal_fail(c, FL_EINPUT, 1, "date: '%s' is not a valid date YYYY-MM-DD",
                f[POP_DATE] ? f[POP_DATE] : "");
  else if (!f[POP_AGE] || (r.age = (int)strtol(f[POP_AGE], &end, 10)) < 0 || *end || r.age > 200)
    fl_cal_fail(c, FL_EINPUT, 2, "age: '%s' is not a whole number of years",
                f[POP_AGE] ? f[POP_AGE] : "");
  else if (!f[POP_COUNT] || !((r.count = strtod(f[POP_COUNT], &end)) >= 0) || *end ||
           !f[POP_COUNT][0])
    fl_cal_fail(c, FL_EINPUT, 4, "count: '%s' is not a number of children",
                f[POP_COUNT] ? f[POP_COUNT] : "");
  if (c->st == FL_OK && f[POP_LOC] && f[POP_LOC][0]) {
    for (size_t l = 0; l < c->m->NLOC; l++)
      if (!strcmp(c->m->loc_names[l], f[POP_LOC])) r.loc = (int)l;
    if (r.loc < 0)
      fl_cal_fail(c, FL_EINPUT, 3, "locality: '%s' is not one of the template's", f[POP_LOC]);
  }
  if (c->st != FL_OK) return;
  cal_population *t = p->t;
  if (t->n == t->cap) {
    size_t ncap = t->cap ? 2 * t->cap : 256;
    cal_pop_row *nr = realloc(t->rows, ncap * sizeof *nr);
    if (!nr) {
      fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
      return;
    }
    t->rows = nr;
    t->cap = ncap;
  }
  t->rows[t->n++] = r;
}

static void pop_row(int term, void *ctx) {
  pop_reader *p = ctx;
  cal *c = p->c;
  (void)term;
  c->line++;
  if (c->st == FL_OK && !c->header_done) {
    pop_header(p);
    c->header_done = 1;
  } else if (c->st == FL_OK && c->field > 0) {
    pop_record(p);
  }
  for (int k = 0; k < POP_COLS; k++) {
    free(p->f[k]);
    p->f[k] = NULL;
  }
  c->field = 0;
}

fl_status fl_cal_population_read(cal *c, cal_population *t) {
  pop_reader p = {.c = c, .t = t};
  fl_status st = fl_cal_read_csv(c, c->opt->population, pop_field, pop_row, &p);
  for (int k = 0; k < POP_COLS; k++) free(p.f[k]);
  if (st != FL_OK) return st;
  if (t->n == 0) {
    fl_error_set(c->err, FL_EINPUT, c->opt->population, 2, 1, NULL, "the table has no rows");
    c->st = FL_EINPUT;
  }
  return c->st;
}

void fl_cal_population_free(cal_population *t) {
  free(t->rows);
  t->rows = NULL;
  t->n = t->cap = 0;
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
  double births = 0, dates = 0;
  for (size_t i = 0; i < t->n; i++) {
    int seen = 0;
    if (t->rows[i].age == 0) births += t->rows[i].count;
    for (size_t j = 0; j < i; j++) seen |= t->rows[j].month == t->rows[i].month;
    dates += !seen;
  }
  return dates > 0 ? births / dates : 0;
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
