/* "Did you mean ...?": the closest of a set of names to a misspelled one (see core.h). */
#include "core/core.h"

#include <ctype.h>
#include <string.h>

#define FL_SUGGEST_MAX_LEN 128

size_t fl_edit_distance(const char *a, const char *b) {
  const size_t n = strlen(a), m = strlen(b);
  /* Three rows of the optimal-string-alignment table (Levenshtein plus swaps of neighbouring
   * letters): the previous two and the current one. */
  size_t r2[FL_SUGGEST_MAX_LEN + 1], r1[FL_SUGGEST_MAX_LEN + 1], r0[FL_SUGGEST_MAX_LEN + 1];
  if (n > FL_SUGGEST_MAX_LEN || m > FL_SUGGEST_MAX_LEN) return SIZE_MAX;
  for (size_t j = 0; j <= m; j++) r1[j] = j;
  for (size_t i = 1; i <= n; i++) {
    r0[0] = i;
    for (size_t j = 1; j <= m; j++) {
      const int ca = tolower((unsigned char)a[i - 1]), cb = tolower((unsigned char)b[j - 1]);
      size_t best = r1[j - 1] + (ca != cb);
      if (r1[j] + 1 < best) best = r1[j] + 1;
      if (r0[j - 1] + 1 < best) best = r0[j - 1] + 1;
      if (i > 1 && j > 1 && ca == tolower((unsigned char)b[j - 2]) &&
          tolower((unsigned char)a[i - 2]) == cb && r2[j - 2] + 1 < best)
        best = r2[j - 2] + 1;
      r0[j] = best;
    }
    memcpy(r2, r1, (m + 1) * sizeof *r1);
    memcpy(r1, r0, (m + 1) * sizeof *r0);
  }
  return r1[m];
}

int fl_is_likely_typo(const char *word, size_t distance) {
  size_t limit = strlen(word) / 3;
  if (limit < 1) limit = 1;
  if (limit > 3) limit = 3;
  return distance <= limit;
}

const char *fl_closest(const char *word, char *const *names, size_t n) {
  const char *best = NULL;
  size_t best_d = SIZE_MAX;
  for (size_t i = 0; i < n; i++) {
    const size_t d = fl_edit_distance(word, names[i]);
    if (d < best_d && strcmp(word, names[i])) {
      best = names[i];
      best_d = d;
    }
  }
  return best && fl_is_likely_typo(word, best_d) ? best : NULL;
}
