/* Calendar dates of the records and tables of `flourish calibrate`, and its failure recorder.
 * (The files are read by core/csv.c.) */
#include "data/calibrate_internal.h"

#include "core/rng.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Days since 0000-03-01 of a proleptic Gregorian date (for comparisons); -1 if invalid. */
static long day_number(int y, int m, int d) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > mdays[m - 1] + (m == 2 && leap))
    return -1;
  y -= m <= 2;
  const long era = y / 400, yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy;
}

long fl_cal_parse_date(const char *s, long *month) {
  int y, m, d, n = 0;
  if (sscanf(s, "%4d-%2d-%2d%n", &y, &m, &d, &n) != 3 || s[n] != '\0' || n != 10) return -1;
  long day = day_number(y, m, d);
  if (day >= 0 && month) *month = (long)y * 12 + m - 1;
  return day;
}

long fl_cal_first_day_of(long month) {
  return day_number((int)(month / 12), (int)(month % 12) + 1, 1);
}

void fl_cal_fail(cal *c, fl_status code, size_t field, const char *fmt, ...) {
  char msg[700];
  va_list ap;
  if (c->st != FL_OK) return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fl_error_set(c->err, code, NULL, 0, (int)field, NULL, "%s", msg);
  c->st = code;
}

uint64_t fl_cal_event_key(uint64_t tag, uint64_t a, uint64_t b) {
  return fl_mix64(fl_mix64(fl_mix64(tag * 0x9E3779B97F4A7C15ULL) ^ a) ^ b);
}

double fl_cal_round(const cal *c, double x, uint64_t key) {
  const double N = c->opt->suppress;
  if (!(N > 1)) return x;
  const double q = floor(x / N), r = x - q * N;
  /* A uniform draw on [0, 1) from the top 53 bits of the keyed hash. */
  const double u = (double)(fl_mix64(c->secret ^ fl_mix64(key)) >> 11) * 0x1.0p-53;
  return (q + (u * N < r)) * N;
}

/* The data-quality warnings: the name the report gives each, and what it counts and does. */
static const char *const warning_names[FL_CAL_N_WARNINGS] = {
    "open_episode_followed", "overlapping_episodes", "episode_before_birth",
    "date_of_birth_differs", "no_date_of_birth",     "never_in_age_range"};
static const char *const warning_texts[FL_CAL_N_WARNINGS] = {
    "children with an open episode (no end_date) followed by a later episode: each such episode "
    "is taken to end when the next one starts (a missing end date would otherwise run to the "
    "extract date)",
    "children with overlapping episodes: each month goes to the state of the highest level (or "
    "the later row with --precedence file)",
    "episodes that start before the child's month of birth: the months before birth are not "
    "counted",
    "children given different dates of birth: the last row's is used",
    "children with no date of birth in any row: their months count in no age band and are not "
    "taken off the population table's children, so they are counted twice",
    "children with a record in the window but never below the template's maximum age (nor "
    "born) in it: their records are not used"};

const char *fl_cal_warning_name(int w) { return warning_names[w]; }
const char *fl_cal_warning_text(int w) { return warning_texts[w]; }

void fl_cal_warn(cal *c, int w, size_t line) {
  cal_warning *cw = &c->warn[w];
  cw->count++;
  if (line && cw->n_line < FL_CAL_WARNING_LINES) cw->line[cw->n_line++] = line;
}
