/* Amounts of money as people read them (see core.h). */
#include "core/core.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

const char *fl_currency_symbol(const char *currency, char *buf, size_t size) {
  static const char *const known[][2] = {{"GBP", "£"}, {"EUR", "€"}, {"USD", "$"}};
  if (!currency || !*currency) currency = "GBP";
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (!strcmp(currency, known[i][0])) return known[i][1];
  snprintf(buf, size, "%s ", currency);
  return buf;
}

/* Groups the digits of a whole number with commas: 1234567 -> "1,234,567". */
static void grouped(char *buf, size_t size, double whole) {
  char digits[64];
  snprintf(digits, sizeof digits, "%.0f", whole);
  const size_t n = strlen(digits);
  size_t used = 0;
  for (size_t i = 0; i < n && used + 2 < size; i++) {
    if (i && (n - i) % 3 == 0) buf[used++] = ',';
    buf[used++] = digits[i];
  }
  buf[used] = '\0';
}

char *fl_money(char *buf, size_t size, const char *currency, double v, int compact) {
  char sym[32], num[64];
  const char *s = fl_currency_symbol(currency, sym, sizeof sym);
  const double a = fabs(v);
  if (!isfinite(v)) {
    snprintf(buf, size, "n/a");
    return buf;
  }
  if (compact && a >= 999.5) {
    static const struct {
      double scale;
      const char *suffix;
    } units[] = {{1e9, "bn"}, {1e6, "m"}, {1e3, "k"}};
    for (size_t i = 0; i < 3; i++) {
      const double x = a / units[i].scale;
      if (x >= 0.9995) {
        /* Three significant figures: 1.23m, 12.3m, 123m. */
        snprintf(num, sizeof num, "%.*f%s",
                 x >= 99.95   ? 0
                 : x >= 9.995 ? 1
                              : 2,
                 x, units[i].suffix);
        break;
      }
    }
  } else if (a < 100 && a != floor(a)) {
    snprintf(num, sizeof num, "%.2f", a);
  } else {
    grouped(num, sizeof num, a);
  }
  snprintf(buf, size, "%s%s%s", v < 0 && num[strspn(num, "0.,")] ? "-" : "", s, num);
  return buf;
}
