/* Typed test assertions shared by the C tests. A failed check prints file:line, the expressions
 * and both values, and the test goes on; check_finish() prints "NAME: N passed, M failed" and
 * returns the exit status. */
#ifndef FL_TEST_CHECK_H
#define FL_TEST_CHECK_H

#include <inttypes.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK_GENERIC(cond, fmt, a, b, as, bs, op)                                                 \
  do {                                                                                             \
    if (cond) {                                                                                    \
      check_passed++;                                                                              \
    } else {                                                                                       \
      check_failed++;                                                                              \
      fprintf(stderr, "%s:%d: FAILED %s %s %s (" fmt " vs " fmt ")\n", __FILE__, __LINE__, as, op, \
              bs, a, b);                                                                           \
    }                                                                                              \
  } while (0)

#define CHECK(cond) CHECK_GENERIC((cond), "%d", (int)!!(cond), 1, #cond, "true", "is")
#define CHECK_INT_EQ(a, b)                                                                         \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    CHECK_GENERIC(a_ == b_, "%lld", a_, b_, #a, #b, "==");                                         \
  } while (0)
#define CHECK_INT_NE(a, b)                                                                         \
  do {                                                                                             \
    long long a_ = (long long)(a), b_ = (long long)(b);                                            \
    CHECK_GENERIC(a_ != b_, "%lld", a_, b_, #a, #b, "!=");                                         \
  } while (0)
#define CHECK_U64_EQ(a, b)                                                                         \
  do {                                                                                             \
    uint64_t a_ = (a), b_ = (b);                                                                   \
    CHECK_GENERIC(a_ == b_, "0x%016" PRIx64, a_, b_, #a, #b, "==");                                \
  } while (0)
#define CHECK_DBL_LE(a, b)                                                                         \
  do {                                                                                             \
    double a_ = (a), b_ = (b);                                                                     \
    CHECK_GENERIC(a_ <= b_, "%.17g", a_, b_, #a, #b, "<=");                                        \
  } while (0)
#define CHECK_DBL_NEAR(a, b, tol)                                                                  \
  do {                                                                                             \
    double a_ = (a), b_ = (b), t_ = (tol);                                                         \
    CHECK_GENERIC(fabs(a_ - b_) <= t_, "%.17g", a_, b_, #a, #b, "~=");                             \
  } while (0)
#define CHECK_STR_CONTAINS(hay, needle)                                                            \
  do {                                                                                             \
    const char *h_ = (hay), *n_ = (needle);                                                        \
    CHECK_GENERIC(h_ && strstr(h_, n_) != NULL, "'%s'", h_ ? h_ : "(null)", n_, #hay, #needle,     \
                  "contains");                                                                     \
  } while (0)
#define CHECK_STR_EQ(a, b)                                                                         \
  do {                                                                                             \
    const char *a_ = (a), *b_ = (b);                                                               \
    CHECK_GENERIC(a_ &&b_ && !strcmp(a_, b_), "'%s'", a_ ? a_ : "(null)", b_ ? b_ : "(null)", #a,  \
                  #b, "==");                                                                       \
  } while (0)

static inline int check_finish(const char *name) {
  printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
  return check_failed ? 1 : 0;
}

#endif
