/* The CSV machinery both inputs of `flourish calibrate` are read with: a file streamed through
 * libcsv with the record and field reached kept for messages, the UTF-8 check of every field,
 * and calendar dates. */
#include "data/calibrate_internal.h"

#include <csv.h>
#include <errno.h>
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
  fl_error_set(c->err, code, c->path, (int)c->line, (int)field, NULL, "%s", msg);
  c->st = code;
}

static int valid_utf8(const unsigned char *s, size_t n) {
  for (size_t i = 0; i < n;) {
    unsigned char b = s[i];
    size_t len = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 0;
    if (!len || i + len > n) return 0;
    for (size_t k = 1; k < len; k++)
      if ((s[i + k] & 0xC0) != 0x80) return 0;
    i += len;
  }
  return 1;
}

int fl_cal_field_utf8(cal *c, const char *s, size_t len) {
  if (valid_utf8((const unsigned char *)s, len)) return 1;
  c->line++; /* the record being read: c->line counts the records already complete */
  fl_cal_fail(c, FL_EINPUT, c->field, "field %zu is not valid UTF-8 text", c->field);
  c->line--;
  return 0;
}

fl_status fl_cal_read_csv(cal *c, const char *path, void (*field)(void *, size_t, void *),
                          void (*row)(int, void *), void *ctx) {
  struct csv_parser p;
  char buf[1 << 16];
  size_t n;
  FILE *f = fopen(path, "rb");
  c->path = path;
  c->line = 0;
  c->field = 0;
  c->header_done = 0;
  if (!f) {
    fl_error_set(c->err, FL_EINPUT, path, 0, 0, NULL, "cannot open the file: %s", strerror(errno));
    return FL_EINPUT;
  }
  csv_init(&p, CSV_STRICT | CSV_APPEND_NULL | CSV_STRICT_FINI);
  while (c->st == FL_OK && (n = fread(buf, 1, sizeof buf, f)) > 0)
    if (csv_parse(&p, buf, n, field, row, ctx) != n)
      fl_cal_fail(c, FL_EINPUT, 0, "malformed CSV: %s", csv_strerror(csv_error(&p)));
  if (c->st == FL_OK && csv_fini(&p, field, row, ctx) != 0)
    fl_cal_fail(c, FL_EINPUT, 0, "malformed CSV at the end of the file: %s",
                csv_strerror(csv_error(&p)));
  csv_free(&p);
  fclose(f);
  if (c->st == FL_OK && c->line == 0) {
    fl_error_set(c->err, FL_EINPUT, path, 1, 1, NULL, "the file is empty");
    c->st = FL_EINPUT;
  }
  return c->st;
}
