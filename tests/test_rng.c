/* Tests for engine/rng.c: known answers, jump-ahead, unbiased bounded integers, uniform doubles,
 * stream keys and the GSL adapter. Every test uses fixed seeds, so results are deterministic. */
#include "core/rng.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

typedef struct tally {
  int passed;
  int failed;
} tally;

/* Typed checks: on failure each prints file:line, the expressions and both values. */
#define CHECK_GENERIC(t, cond, fmt, a, b, as, bs, op)                                              \
  do {                                                                                             \
    if (cond) {                                                                                    \
      (t)->passed++;                                                                               \
    } else {                                                                                       \
      (t)->failed++;                                                                               \
      fprintf(stderr, "%s:%d: FAILED %s %s %s (" fmt " vs " fmt ")\n", __FILE__, __LINE__, as, op, \
              bs, a, b);                                                                           \
    }                                                                                              \
  } while (0)

#define CHECK_U64_EQ(t, a, b)                                                                      \
  do {                                                                                             \
    uint64_t a_ = (a), b_ = (b);                                                                   \
    CHECK_GENERIC(t, a_ == b_, "0x%016" PRIx64, a_, b_, #a, #b, "==");                             \
  } while (0)
#define CHECK_U64_NE(t, a, b)                                                                      \
  do {                                                                                             \
    uint64_t a_ = (a), b_ = (b);                                                                   \
    CHECK_GENERIC(t, a_ != b_, "0x%016" PRIx64, a_, b_, #a, #b, "!=");                             \
  } while (0)
#define CHECK_U32_EQ(t, a, b)                                                                      \
  do {                                                                                             \
    uint32_t a_ = (a), b_ = (b);                                                                   \
    CHECK_GENERIC(t, a_ == b_, "0x%08" PRIx32, a_, b_, #a, #b, "==");                              \
  } while (0)
#define CHECK_U32_NE(t, a, b)                                                                      \
  do {                                                                                             \
    uint32_t a_ = (a), b_ = (b);                                                                   \
    CHECK_GENERIC(t, a_ != b_, "0x%08" PRIx32, a_, b_, #a, #b, "!=");                              \
  } while (0)
#define CHECK_DBL_LT(t, a, b)                                                                      \
  do {                                                                                             \
    double a_ = (a), b_ = (b);                                                                     \
    CHECK_GENERIC(t, a_ < b_, "%.17g", a_, b_, #a, #b, "<");                                       \
  } while (0)
#define CHECK_DBL_GT(t, a, b)                                                                      \
  do {                                                                                             \
    double a_ = (a), b_ = (b);                                                                     \
    CHECK_GENERIC(t, a_ > b_, "%.17g", a_, b_, #a, #b, ">");                                       \
  } while (0)
#define CHECK_DBL_EQ(t, a, b)                                                                      \
  do {                                                                                             \
    double a_ = (a), b_ = (b);                                                                     \
    CHECK_GENERIC(t, a_ == b_, "%.17g", a_, b_, #a, #b, "==");                                     \
  } while (0)
#define CHECK_STR_EQ(t, a, b)                                                                      \
  do {                                                                                             \
    const char *a_ = (a), *b_ = (b);                                                               \
    CHECK_GENERIC(t, strcmp(a_, b_) == 0, "\"%s\"", a_, b_, #a, #b, "==");                         \
  } while (0)
/* For loops of many draws: counts one pass or one failure for the whole loop. */
#define CHECK_COUNT_ZERO(t, n)                                                                     \
  do {                                                                                             \
    long n_ = (long)(n), z_ = 0;                                                                   \
    CHECK_GENERIC(t, n_ == 0, "%ld", n_, z_, #n, "0", "==");                                       \
  } while (0)

static void test_known_answers(tally *t) {
  /* The reference implementation's pcg32-demo output for pcg32_srandom_r(&rng, 42, 54). */
  static const uint32_t expected[6] = {0xa15c02b7u, 0x7b47f409u, 0xba1d3330u,
                                       0x83d2f293u, 0xbfa4784bu, 0xcbed606eu};
  fl_rng r;
  fl_rng_seed(&r, 42u, 54u);
  for (int i = 0; i < 6; i++) CHECK_U32_EQ(t, fl_rng_u32(&r), expected[i]);

  /* fl_pcg32_step on split state/inc is the same generator. */
  fl_rng a;
  fl_rng_seed(&a, 42u, 54u);
  uint64_t state = a.state;
  for (int i = 0; i < 6; i++) CHECK_U32_EQ(t, fl_pcg32_step(&state, a.inc), expected[i]);
  CHECK_U64_EQ(t, state, r.state);
}

static void test_advance(tally *t) {
  static const uint64_t ks[] = {0u, 1u, 17u, 1000u, 123457u};
  for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
    fl_rng start, stepped, jumped;
    fl_rng_seed(&start, 0x853c49e6748fea9bULL + i, 0xda3e39cb94b95bdbULL);
    stepped = jumped = start;
    for (uint64_t k = 0; k < ks[i]; k++) (void)fl_rng_u32(&stepped);
    fl_rng_advance(&jumped, ks[i]);
    CHECK_U64_EQ(t, jumped.state, stepped.state);
    CHECK_U32_EQ(t, fl_rng_u32(&jumped), fl_rng_u32(&stepped));

    /* Back by k (delta = 2^64 - k) after stepping k returns to the start. */
    fl_rng back = start;
    for (uint64_t k = 0; k < ks[i]; k++) (void)fl_rng_u32(&back);
    fl_rng_advance(&back, (uint64_t)0u - ks[i]);
    CHECK_U64_EQ(t, back.state, start.state);
  }
}

/* The inverse multiplier undoes a step: fl_pcg32_last on the state a step left gives the output
 * that step returned, for any state and increment, and twice for two steps back. */
static void test_last_output(tally *t) {
  CHECK_U64_EQ(t, FL_PCG_MULT * FL_PCG_MULT_INV, 1u);
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  long wrong = 0;
  for (int i = 0; i < 100000; i++) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    const uint64_t inc = (x >> 1) | 1u, start = x ^ (x >> 29);
    uint64_t s = start;
    const uint32_t u = fl_pcg32_step(&s, inc);
    wrong += fl_pcg32_last(s, inc) != u;
    wrong += (s - inc) * FL_PCG_MULT_INV != start;
  }
  CHECK_COUNT_ZERO(t, wrong);
  /* The reference generator's first output, seen again from the state after it. */
  fl_rng r;
  fl_rng_seed(&r, 42u, 54u);
  const uint32_t first = fl_rng_u32(&r);
  CHECK_U32_EQ(t, fl_pcg32_last(r.state, r.inc), first);
  CHECK_U32_EQ(t, first, 0xa15c02b7u);
}

/* Chi-square statistic of observed counts against equal expected counts n / k. */
static double chi_square(const long *counts, int k, long n) {
  double expected = (double)n / k, stat = 0.0;
  for (int i = 0; i < k; i++) {
    double d = (double)counts[i] - expected;
    stat += d * d / expected;
  }
  return stat;
}

static void test_bounded(tally *t) {
  fl_rng r;
  fl_rng_seed(&r, 2024u, 7u);
  static const uint32_t bounds[] = {1u, 2u, 7u, 1000u, 0x80000001u, 0xc0000000u, 0xffffffffu};
  for (size_t i = 0; i < sizeof bounds / sizeof bounds[0]; i++) {
    long out_of_range = 0;
    for (int d = 0; d < 100000; d++)
      if (fl_rng_bounded(&r, bounds[i]) >= bounds[i]) out_of_range++;
    CHECK_COUNT_ZERO(t, out_of_range);
  }
  CHECK_U32_EQ(t, fl_rng_bounded(&r, 1u), 0u);

  /* Chi-square uniformity tests. The seeds are fixed, so each test is deterministic; the critical
   * value is the upper 1e-6 quantile, so a correct generator would fail on a given seed only with
   * probability 1e-6 (it cannot fail by chance in practice), while a real bias of the kind checked
   * below gives a statistic far beyond the threshold. */
  const long n = 2000000;
  long c7[7] = {0};
  for (long d = 0; d < n; d++) c7[fl_rng_bounded(&r, 7u)]++;
  double stat7 = chi_square(c7, 7, n);
  CHECK_DBL_LT(t, stat7, gsl_cdf_chisq_Qinv(1e-6, 6.0));

  /* bound = 3 * 2^30 folded into three buckets of width 2^30: a biased r % bound maps the top
   * quarter of the 32-bit range onto bucket 0, giving probabilities 1/2, 1/4, 1/4. */
  const uint32_t big = 0xc0000000u;
  long c3[3] = {0}, b3[3] = {0};
  for (long d = 0; d < n; d++) c3[fl_rng_bounded(&r, big) >> 30]++;
  for (long d = 0; d < n; d++) b3[(fl_rng_u32(&r) % big) >> 30]++;
  double crit3 = gsl_cdf_chisq_Qinv(1e-6, 2.0);
  CHECK_DBL_LT(t, chi_square(c3, 3, n), crit3);
  /* The same test rejects the biased method, which shows that it has power. */
  CHECK_DBL_GT(t, chi_square(b3, 3, n), crit3);
}

static void test_uniform(tally *t) {
  fl_rng r;
  fl_rng_seed(&r, 99u, 3u);
  const long n = 1000000;
  const double se = sqrt(1.0 / 12.0 / (double)n);
  long bad = 0, bad_pos = 0;
  double sum = 0.0, sum_pos = 0.0;
  for (long i = 0; i < n; i++) {
    double u = fl_rng_uniform(&r), v = fl_rng_uniform_pos(&r);
    if (!(u >= 0.0 && u < 1.0)) bad++;
    if (!(v > 0.0 && v < 1.0)) bad_pos++;
    sum += u;
    sum_pos += v;
  }
  CHECK_COUNT_ZERO(t, bad);
  CHECK_COUNT_ZERO(t, bad_pos);
  CHECK_DBL_LT(t, fabs(sum / n - 0.5), 5.0 * se);
  CHECK_DBL_LT(t, fabs(sum_pos / n - 0.5), 5.0 * se);

  /* With state 0 and inc 1 the first two outputs are both 0 (states 0 and 1), so fl_rng_uniform
   * returns exactly 0 while fl_rng_uniform_pos must redraw. */
  fl_rng zero = {0u, 1u}, pos = {0u, 1u};
  CHECK_DBL_EQ(t, fl_rng_uniform(&zero), 0.0);
  CHECK_DBL_GT(t, fl_rng_uniform_pos(&pos), 0.0);
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static void test_streams(tally *t) {
  /* A base key and keys differing from it in exactly one component. */
  static const struct {
    uint64_t seed, rep, child;
    uint32_t purpose;
  } keys[] = {{1, 0, 0, FL_PURPOSE_CHILD},   {2, 0, 0, FL_PURPOSE_CHILD},
              {1, 1, 0, FL_PURPOSE_CHILD},   {1, 0, 1, FL_PURPOSE_CHILD},
              {1, 0, 0, FL_PURPOSE_ENTRIES}, {1, 0, 0, FL_PURPOSE_PARAMS},
              {0, 1, 0, FL_PURPOSE_CHILD},   {1, 0, 0, 0u}};
  enum { NK = sizeof keys / sizeof keys[0] };
  uint32_t first[NK];
  for (int i = 0; i < NK; i++) {
    fl_rng r, s;
    fl_rng_init_stream(&r, keys[i].seed, keys[i].rep, keys[i].child, keys[i].purpose);
    fl_rng_init_stream(&s, keys[i].seed, keys[i].rep, keys[i].child, keys[i].purpose);
    first[i] = fl_rng_u32(&r);
    CHECK_U32_EQ(t, fl_rng_u32(&s), first[i]);
    for (int j = 0; j < 100; j++) CHECK_U32_EQ(t, fl_rng_u32(&s), fl_rng_u32(&r));
    CHECK_U64_EQ(t, fl_stream_inc(keys[i].seed, keys[i].rep, keys[i].purpose) & 1u, 1u);
    /* init_stream is the keyed state and increment followed by one step. */
    uint64_t st = fl_stream_state(keys[i].seed, keys[i].rep, keys[i].child, keys[i].purpose);
    uint64_t inc = fl_stream_inc(keys[i].seed, keys[i].rep, keys[i].purpose);
    (void)fl_pcg32_step(&st, inc);
    CHECK_U32_EQ(t, fl_pcg32_step(&st, inc), first[i]);
  }
  for (int i = 0; i < NK; i++)
    for (int j = i + 1; j < NK; j++) CHECK_U32_NE(t, first[i], first[j]);

  /* The increment ignores the child; it changes with seed, rep and purpose. */
  CHECK_U64_NE(t, fl_stream_inc(1, 0, FL_PURPOSE_CHILD), fl_stream_inc(2, 0, FL_PURPOSE_CHILD));
  CHECK_U64_NE(t, fl_stream_inc(1, 0, FL_PURPOSE_CHILD), fl_stream_inc(1, 1, FL_PURPOSE_CHILD));
  CHECK_U64_NE(t, fl_stream_inc(1, 0, FL_PURPOSE_CHILD), fl_stream_inc(1, 0, FL_PURPOSE_PARAMS));
  /* Swapping seed and rep gives an unrelated key. */
  CHECK_U64_NE(t, fl_stream_state(3, 5, 0, 1), fl_stream_state(5, 3, 0, 1));

  /* 100000 children of one replication start from distinct 64-bit states. */
  enum { NC = 100000 };
  uint64_t *states = malloc(NC * sizeof *states);
  if (states == NULL) {
    CHECK_COUNT_ZERO(t, 1); /* Out of memory counts as a failure. */
    return;
  }
  for (uint64_t c = 0; c < NC; c++) states[c] = fl_stream_state(7, 1, c, FL_PURPOSE_CHILD);
  qsort(states, NC, sizeof *states, cmp_u64);
  long dups = 0;
  for (size_t c = 1; c < NC; c++) dups += states[c] == states[c - 1];
  CHECK_COUNT_ZERO(t, dups);
  free(states);
}

static void test_gsl(tally *t) {
  gsl_rng *g = fl_rng_gsl_alloc();
  if (g == NULL) {
    CHECK_COUNT_ZERO(t, 1);
    return;
  }
  CHECK_U64_EQ(t, gsl_rng_max(g), 0xffffffffu);
  CHECK_U64_EQ(t, gsl_rng_min(g), 0u);
  CHECK_STR_EQ(t, gsl_rng_name(g), "flourish-pcg32");

  fl_rng ref;
  fl_rng_init_stream(fl_rng_gsl_state(g), 11u, 2u, 5u, FL_PURPOSE_ENTRIES);
  fl_rng_init_stream(&ref, 11u, 2u, 5u, FL_PURPOSE_ENTRIES);
  for (int i = 0; i < 1000; i++) CHECK_U32_EQ(t, (uint32_t)gsl_rng_get(g), fl_rng_u32(&ref));
  for (int i = 0; i < 10; i++) {
    double a = gsl_rng_uniform(g), b = fl_rng_uniform(&ref);
    CHECK_DBL_EQ(t, a, b);
  }

  /* gsl_rng_set reseeds through fl_rng_seed(state, s, 0). */
  gsl_rng_set(g, 42u);
  fl_rng_seed(&ref, 42u, 0u);
  CHECK_U32_EQ(t, (uint32_t)gsl_rng_get(g), fl_rng_u32(&ref));

  const double mu = 3.7;
  const long n = 100000;
  double sum = 0.0;
  for (long i = 0; i < n; i++) sum += gsl_ran_poisson(g, mu);
  CHECK_DBL_LT(t, fabs(sum / n - mu), 5.0 * sqrt(mu / (double)n));
  gsl_rng_free(g);
}

int main(void) {
  tally t = {0, 0};
  test_known_answers(&t);
  test_advance(&t);
  test_last_output(&t);
  test_bounded(&t);
  test_uniform(&t);
  test_streams(&t);
  test_gsl(&t);
  printf("rng: %d passed, %d failed\n", t.passed, t.failed);
  return t.failed == 0 ? 0 : 1;
}
