/* Calendar dates of the records and tables of `flourish calibrate` (in the format of
 * --date-format), and its failure recorder. (The files are read by core/csv.c.) */
#include "data/calibrate_internal.h"

#include "core/csv.h"
#include "core/rng.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int days_in_month(int y, int m) {
  static const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  return mdays[m - 1] + (m == 2 && leap);
}

/* Days since 0000-03-01 of a proleptic Gregorian date (for comparisons); -1 if invalid. */
static long day_number(int y, int m, int d) {
  if (y < 1900 || y > 2200 || m < 1 || m > 12 || d < 1 || d > days_in_month(y, m)) return -1;
  y -= m <= 2;
  const long era = y / 400, yoe = y - era * 400;
  const long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy;
}

/* The fields a format may hold, in this order, and how people write each. */
static const char field_letters[] = "YmdHMS";
static const char *const field_words[6] = {"YYYY", "MM", "DD", "HH", "MM", "SS"};

static int field_index(char letter) {
  const char *p = letter ? strchr(field_letters, letter) : NULL;
  return p ? (int)(p - field_letters) : -1;
}

fl_status fl_cal_date_format_parse(const char *fmt, fl_cal_date_format *f, char *why, size_t n) {
  int count[6] = {0};
  size_t len = 0;
  memset(f, 0, sizeof *f);
  why[0] = '\0';
  if (!fmt[0]) {
    snprintf(why, n, "it is empty");
    return FL_EUSAGE;
  }
  if (strlen(fmt) >= sizeof f->spec) {
    snprintf(why, n, "it is longer than %zu characters", sizeof f->spec - 1);
    return FL_EUSAGE;
  }
  if (!strchr(fmt, '%') && strstr(fmt, "YYYY")) { /* the way people write a format */
    char tr[sizeof f->spec * 2] = "";
    size_t t = 0;
    int hour = 0;
    for (const char *p = fmt; *p && t + 3 < sizeof tr;) {
      static const char *const words[] = {"YYYY", "DD", "HH", "MM", "SS"};
      static const char letters[] = "YdHmS";
      size_t w = 0;
      while (w < 5 && strncmp(p, words[w], strlen(words[w]))) w++;
      if (w == 5) {
        tr[t++] = *p++;
        continue;
      }
      hour |= w == 2;
      tr[t++] = '%';
      tr[t++] = w == 3 && hour ? 'M' : letters[w];
      p += strlen(words[w]);
    }
    tr[t] = '\0';
    const fl_status st = fl_cal_date_format_parse(tr, f, why, n);
    memset(f, 0, sizeof *f);
    if (st == FL_OK) {
      snprintf(why, n, "a format is written with %%-fields: %s is '%s'", fmt, tr);
      return FL_EUSAGE;
    }
  }
  for (const char *p = fmt; *p; p++) {
    const unsigned char ch = (unsigned char)*p;
    if (ch == '%') {
      const int fi = field_index(p[1]);
      if (fi < 0) {
        if (p[1]) snprintf(why, n, "'%%%c' is not one of %%Y %%m %%d %%H %%M %%S", p[1]);
        else snprintf(why, n, "it ends in a lone '%%'");
        return FL_EUSAGE;
      }
      count[fi]++;
      f->is_field[f->n] = 1;
      f->item[f->n++] = *++p;
    } else if (ch >= '0' && ch <= '9') {
      snprintf(why, n, "digits are written by %%Y %%m %%d %%H %%M %%S, not as such ('%c')", ch);
      return FL_EUSAGE;
    } else if (ch < 0x20 || ch > 0x7E) {
      snprintf(why, n, "it holds a character other than printable ASCII");
      return FL_EUSAGE;
    } else {
      f->item[f->n++] = (char)ch;
    }
  }
  for (int i = 0; i < 6; i++) {
    if (count[i] > 1) {
      snprintf(why, n, "it has %%%c twice", field_letters[i]);
      return FL_EUSAGE;
    }
    if (i < 3 && !count[i]) {
      snprintf(why, n, "it has no %%%c (a date needs %%Y, %%m and %%d)", field_letters[i]);
      return FL_EUSAGE;
    }
  }
  if ((count[4] && !count[3]) || (count[5] && !count[4])) {
    snprintf(why, n, "a time of day is %%H:%%M or %%H:%%M:%%S");
    return FL_EUSAGE;
  }
  snprintf(f->spec, sizeof f->spec, "%s", fmt);
  for (size_t i = 0; i < f->n; i++)
    len += (size_t)snprintf(f->human + len, sizeof f->human - len, "%s",
                            f->is_field[i] ? field_words[field_index(f->item[i])]
                                           : (const char[2]){f->item[i], '\0'});
  return FL_OK;
}

long fl_cal_date_read(const fl_cal_date_format *f, const char *s, long *month, char *why,
                      size_t n) {
  static const char *const month_names[12] = {"January",   "February", "March",    "April",
                                              "May",       "June",     "July",     "August",
                                              "September", "October",  "November", "December"};
  int v[6] = {0};
  const char *p = s;
  why[0] = '\0';
  for (size_t i = 0; i < f->n; i++) {
    if (!f->is_field[i]) {
      if (*p++ != f->item[i]) return -1;
      continue;
    }
    /* Four digits for the year; one or two for the others (months and days as Excel writes
     * them, 1/4/2019), two where the field touches another without a separator (%Y%m%d). */
    const int fi = field_index(f->item[i]), most = fi == 0 ? 4 : 2;
    const int touching = (i > 0 && f->is_field[i - 1]) || (i + 1 < f->n && f->is_field[i + 1]);
    const int least = fi == 0 || touching ? most : 1;
    int got = 0;
    while (got < most && p[got] >= '0' && p[got] <= '9') v[fi] = v[fi] * 10 + (p[got++] - '0');
    if (got < least) return -1;
    p += got;
  }
  if (*p) return -1;
  const int y = v[0], m = v[1], d = v[2];
  if (y < 1900 || y > 2200) snprintf(why, n, "the years read are 1900 to 2200");
  else if (m < 1 || m > 12) snprintf(why, n, "there is no month %d", m);
  else if (d < 1) snprintf(why, n, "there is no day 0");
  else if (d > days_in_month(y, m) && m == 2)
    snprintf(why, n, "February %d has %d days", y, days_in_month(y, m));
  else if (d > days_in_month(y, m))
    snprintf(why, n, "%s has %d days", month_names[m - 1], days_in_month(y, m));
  else if (v[3] > 23) snprintf(why, n, "there is no hour %d", v[3]);
  else if (v[4] > 59) snprintf(why, n, "there is no minute %d", v[4]);
  else if (v[5] > 60) snprintf(why, n, "there is no second %d", v[5]);
  if (why[0]) return -1;
  if (month) *month = (long)y * 12 + m - 1;
  return day_number(y, m, d);
}

long fl_cal_parse_date(const char *s, long *month) {
  fl_cal_date_format iso;
  char why[160];
  (void)fl_cal_date_format_parse(FL_CAL_DATE_ISO, &iso, why, sizeof why);
  return fl_cal_date_read(&iso, s, month, why, sizeof why);
}

long fl_cal_read_date(const cal *c, const char *s, long *month) {
  char why[160];
  const long day = fl_cal_date_read(&c->date_format, s, month, why, sizeof why);
  return day >= 0 || !strcmp(c->date_format.spec, FL_CAL_DATE_ISO) ? day
                                                                   : fl_cal_parse_date(s, month);
}

fl_status fl_cal_date_fail(const cal *c, fl_csv *r, int k, const char *s, const char *also) {
  /* Formats councils' systems and spreadsheets export, tried for a hint when a date does not
   * read: the day-first and month-first orders, and date-times. */
  static const char *const common[] = {
      "%Y-%m-%d",          "%d/%m/%Y",       "%m/%d/%Y",          "%d.%m.%Y",
      "%d-%m-%Y",          "%Y/%m/%d",       "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M",
      "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M:%S", "%d/%m/%Y %H:%M",
      "%m/%d/%Y %H:%M:%S", "%m/%d/%Y %H:%M", "%d.%m.%Y %H:%M:%S", "%d.%m.%Y %H:%M"};
  const fl_cal_date_format *f = &c->date_format;
  char why[160], other[160], hint[300] = "";
  const char *found[2];
  size_t n_found = 0;
  (void)fl_cal_date_read(f, s, NULL, why, sizeof why);
  fl_cal_date_format cand[2];
  for (size_t i = 0; i < sizeof common / sizeof common[0] && n_found < 2; i++) {
    if (!strcmp(common[i], f->spec) || !strcmp(common[i], FL_CAL_DATE_ISO)) continue;
    (void)fl_cal_date_format_parse(common[i], &cand[n_found], other, sizeof other);
    if (fl_cal_date_read(&cand[n_found], s, NULL, other, sizeof other) >= 0)
      found[n_found++] = common[i];
  }
  if (n_found == 1)
    snprintf(hint, sizeof hint, "; it reads as %s: give --date-format '%s'", cand[0].human,
             found[0]);
  else if (n_found == 2)
    snprintf(hint, sizeof hint, "; it reads as %s or %s: give --date-format '%s' or '%s'",
             cand[0].human, cand[1].human, found[0], found[1]);
  const int iso = !strcmp(f->spec, FL_CAL_DATE_ISO);
  return fl_csv_fail(r, FL_EINPUT, k, "expected a date %s%s%s%s%s%s, found '%.80s'%s%s%s", f->human,
                     c->opt->date_format ? " (--date-format '" : "",
                     c->opt->date_format ? f->spec : "", c->opt->date_format ? "')" : "",
                     iso ? "" : " or YYYY-MM-DD", also ? also : "", s, why[0] ? ": " : "", why,
                     hint);
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
