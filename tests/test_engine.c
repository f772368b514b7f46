/* Engine invariants and reproducibility: children are conserved step by step, zero
 * probabilities give zero flows, absorbing states are never left, an identity matrix moves no
 * one, and the same seed gives bit-identical results for any thread count and on every hot pass. */
#include "testutil.h"

#include "sim/pass.h"
#include "core/rng.h"
#include "output/output.h"
#include "sim/sim.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

/* stocks_by_level[t+1] = stocks_by_level[t] + inflow_by_level[t] - outflow_by_level[t], each
 * arm, each replication: exactly for counts, to within tol in expectation mode; and the moves
 * between two levels are counted on both sides, so the inflows and outflows of a step differ by
 * its entrants less its leavers. */
static void check_level_flows(const fl_model *m, const fl_results *res, double tol) {
  const size_t S = m->S, T = m->T, L = m->L;
  long long bad = 0, checked = 0;
  for (size_t a = 0; a < res->n_arms; a++) {
    const fl_array *lv = fl_results_get(res, a, FL_OUT_STOCKS_BY_LEVEL);
    const fl_array *in = fl_results_get(res, a, FL_OUT_INFLOW_BY_LEVEL);
    const fl_array *out = fl_results_get(res, a, FL_OUT_OUTFLOW_BY_LEVEL);
    const fl_array *en = fl_results_get(res, a, FL_OUT_ENTRIES);
    const fl_array *ex = fl_results_get(res, a, FL_OUT_EXITS);
    for (size_t r = 0; r < res->R; r++)
      for (size_t t = 0; t < T; t++) {
        double net = 0, born = 0;
        for (size_t l = 0; l < L; l++) {
          const size_t i = (r * T + t) * L + l;
          const double next = value_at(lv, (r * (T + 1) + t) * L + l) + value_at(in, i) -
                              value_at(out, i);
          bad += fabs(next - value_at(lv, (r * (T + 1) + t + 1) * L + l)) > tol;
          net += value_at(in, i) - value_at(out, i);
          checked++;
        }
        for (size_t s = 0; s < S; s++)
          born += value_at(en, (r * T + t) * S + s) - value_at(ex, (r * T + t) * S + s);
        bad += fabs(net - born) > tol * (double)L;
      }
  }
  CHECK_INT_EQ(bad, 0);
  CHECK(checked > 0);
}

/* stocks[t+1] = stocks[t] + entries[t] + inflows[t] - outflows[t] - exits[t], per state. */
static void check_conservation(const fl_model *m, const fl_results *res) {
  const size_t S = m->S, T = m->T, R = res->R;
  const fl_array *st = array_of(res, "stocks"), *fl = array_of(res, "flows");
  const fl_array *en = array_of(res, "entries"), *ex = array_of(res, "exits");
  long long bad = 0, checked = 0;
  for (size_t r = 0; r < R; r++)
    for (size_t t = 0; t < T; t++)
      for (size_t s = 0; s < S; s++) {
        double next = value_at(st, (r * (T + 1) + t) * S + s) + value_at(en, (r * T + t) * S + s) -
                      value_at(ex, (r * T + t) * S + s);
        for (size_t j = 0; j < S; j++) {
          next += value_at(fl, ((r * T + t) * S + j) * S + s);
          next -= value_at(fl, ((r * T + t) * S + s) * S + j);
        }
        checked++;
        bad += next != value_at(st, (r * (T + 1) + t + 1) * S + s);
      }
  CHECK_INT_EQ(bad, 0);
  CHECK(checked > 0);
  check_level_flows(m, res, 0);
}

/* Whether two groups of result arrays have identical bytes. */
static int groups_identical(const fl_arm_results *x, const fl_arm_results *y, int verbose) {
  if (x->n_arrays != y->n_arrays) return 0;
  for (size_t i = 0; i < x->n_arrays; i++) {
    const fl_array *u = &x->arrays[i], *v = &y->arrays[i];
    const size_t bytes = fl_array_count(u) * (u->type == FL_I32 ? 4 : 8);
    if (strcmp(u->name, v->name) || fl_array_count(u) != fl_array_count(v) ||
        memcmp(u->data, v->data, bytes)) {
      if (verbose) fprintf(stderr, "%s: array %s differs\n", x->name, u->name);
      return 0;
    }
  }
  return 1;
}

/* Whether every result array of every arm and every comparison has identical bytes; names the
 * first that differs when verbose. */
static int arrays_identical(const fl_results *a, const fl_results *b, int verbose) {
  if (a->n_arms != b->n_arms) return 0;
  for (size_t k = 0; k < a->n_arms; k++)
    if (!groups_identical(&a->arms[k], &b->arms[k], verbose) ||
        (k > 0 && !groups_identical(&a->comps[k], &b->comps[k], verbose)))
      return 0;
  return 1;
}

static void test_reproducible_across_threads(void) {
  fl_model *m = load_source_model("scenarios/examples/semi_markov.yaml");
  fl_results *r1 = run_model(m, 42, 7, 1), *r2 = run_model(m, 42, 7, 2);
  fl_results *r4 = run_model(m, 42, 7, 4), *other = run_model(m, 43, 7, 2);
  CHECK(arrays_identical(r1, r2, 1));
  CHECK(arrays_identical(r1, r4, 1));
  CHECK(!arrays_identical(r1, other, 0));
  /* A replication does not depend on how many others run: replication 3 of a 7-replication run
   * equals replication 3 of a 4-replication run. */
  fl_results *r_short = run_model(m, 42, 4, 3);
  const fl_array *a = array_of(r1, "stocks"), *b = array_of(r_short, "stocks");
  size_t per = fl_array_count(a) / a->dims[0];
  CHECK(!memcmp((const int32_t *)a->data + 3 * per, (const int32_t *)b->data + 3 * per,
                per * sizeof(int32_t)));
  check_conservation(m, r1);
  fl_results_free(r1);
  fl_results_free(r2);
  fl_results_free(r4);
  fl_results_free(other);
  fl_results_free(r_short);
  fl_model_free(m);
}

/* Threads inside a replication (children split into parts, each stepped on its own thread,
 * counts added up at the end; a reinvesting arm's parts meet every step) give the bytes of one
 * thread: on three models, one with arms (one reinvesting), with 4 threads all inside one
 * replication, 2 x 2, and 3 inside (parts of unequal size), on the automatic and the portable
 * pass. One thread steps Dundee's children in four chunks (FL_CHUNK in engine/sim.c), each
 * part in one: this also checks that going through a step chunk by chunk, leavers removed
 * after each chunk, changes nothing. */
static void test_threads_inside_replication(const char *rel) {
  fl_model *m = load_source_model(rel);
  fl_results *one = run_model_full(m, 77, 3, 1, 0, FL_PATH_AUTO);
  static const int shapes[][2] = {{4, 4}, {4, 2}, {3, 3}};
  for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++)
    for (int scalar = 0; scalar < 2; scalar++) {
      fl_results *r = run_model_full(m, 77, 3, shapes[k][0], shapes[k][1],
                                     scalar ? FL_PATH_SCALAR : FL_PATH_AUTO);
      CHECK(arrays_identical(one, r, 1));
      fl_results_free(r);
    }
  printf("%s: threads inside a replication give the bytes of one thread\n", rel);
  fl_results_free(one);
  fl_model_free(m);
}

/* fl_run called by each thread of a caller's own team (one thread each, different seeds, so a
 * worksharing loop bound to the caller's team would mix them up) gives each caller the bytes it
 * gets alone. */
static void test_run_in_callers_team(void) {
  fl_model *m = load_source_model("scenarios/examples/semi_markov.yaml");
  enum { CALLERS = 3 };
  fl_results *alone[CALLERS], *in_team[CALLERS] = {NULL};
  for (int k = 0; k < CALLERS; k++) alone[k] = run_model_full(m, 500 + k, 4 + k, 1, 0, FL_PATH_AUTO);
#pragma omp parallel num_threads(CALLERS)
  {
#ifdef _OPENMP
    const int k = omp_get_thread_num(), nk = omp_get_num_threads();
#else
    const int k = 0, nk = 1;
#endif
    for (int j = k; j < CALLERS; j += nk)
      in_team[j] = run_model_full(m, 500 + (uint64_t)j, 4 + (size_t)j, 1, 0, FL_PATH_AUTO);
  }
  for (int k = 0; k < CALLERS; k++) {
    CHECK(arrays_identical(alone[k], in_team[k], 1));
    fl_results_free(alone[k]);
    fl_results_free(in_team[k]);
  }
  printf("fl_run in a caller's team: the bytes of each run alone\n");
  fl_model_free(m);
}

/* The passes other than the portable one; each is checked where the processor supports it. */
static const fl_path vector_paths[] = {FL_PATH_AVX2, FL_PATH_AVX512};
#define N_VECTOR_PATHS (sizeof vector_paths / sizeof vector_paths[0])

/* Every hot pass the processor supports, and the automatic choice, give the portable pass's
 * bytes. */
static void test_paths_equal_scalar(const char *rel) {
  fl_model *m = load_source_model(rel);
  fl_results *scalar = run_model_path(m, 11, 5, 2, FL_PATH_SCALAR);
  fl_results *best = run_model_path(m, 11, 5, 2, FL_PATH_AUTO);
  printf("%s: auto (%s) vs scalar\n", rel, fl_path_name(fl_pass_best()));
  CHECK(arrays_identical(scalar, best, 1));
  fl_results_free(best);
  for (size_t k = 0; k < N_VECTOR_PATHS; k++) {
    if (!fl_path_supported(vector_paths[k])) {
      printf("%s: %s not supported here, not checked\n", rel, fl_path_name(vector_paths[k]));
      continue;
    }
    if (vector_paths[k] == fl_pass_best()) continue; /* checked as auto above */
    fl_results *res = run_model_path(m, 11, 5, 2, vector_paths[k]);
    printf("%s: %s vs scalar\n", rel, fl_path_name(vector_paths[k]));
    CHECK(arrays_identical(scalar, res, 1));
    fl_results_free(res);
  }
  fl_results_free(scalar);
  fl_model_free(m);
}

/* Names round-trip, auto is the best supported pass, and fl_run refuses a pass it cannot run. */
static void test_path_choice(void) {
  for (int p = FL_PATH_AUTO; p <= FL_PATH_AVX512; p++) {
    fl_path back = (fl_path)-1;
    CHECK_INT_EQ(fl_path_parse(fl_path_name((fl_path)p), &back), 0);
    CHECK_INT_EQ(back, p);
  }
  fl_path untouched = FL_PATH_AVX2;
  CHECK_INT_EQ(fl_path_parse("sse", &untouched), -1);
  CHECK_INT_EQ(untouched, FL_PATH_AVX2);
  CHECK(fl_path_supported(FL_PATH_SCALAR) && fl_path_supported(FL_PATH_AUTO));
  CHECK(fl_path_supported(fl_pass_best()) && fl_pass_best() != FL_PATH_AUTO);
  /* The preference: AVX-512, then AVX2, then portable. */
  CHECK_INT_EQ(fl_pass_best(), fl_path_supported(FL_PATH_AVX512) ? FL_PATH_AVX512
                               : fl_path_supported(FL_PATH_AVX2) ? FL_PATH_AVX2
                                                                 : FL_PATH_SCALAR);
  fl_model *m = load_source_model("scenarios/examples/hiv_markov.yaml");
  fl_run_options opt;
  fl_results *res = NULL;
  fl_error err = {0};
  fl_run_options_init(&opt);
  opt.replications = 1;
  opt.pass = (fl_path)99;
  CHECK_INT_EQ(fl_run(m, &opt, &res, &err), FL_EUSAGE);
  CHECK(res == NULL);
  CHECK_STR_CONTAINS(err.message, "not supported");
  opt.pass = FL_PATH_SCALAR;
  CHECK_INT_EQ(fl_run(m, &opt, &res, &err), FL_OK);
  fl_results_free(res);
  fl_model_free(m);
}

/* splitmix64: test inputs independent of the generator under test. */
static uint64_t mix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Inputs and outputs of one pass over n children, allocated to exactly n entries (at least one)
 * so the sanitizers see any access past the end. */
typedef struct pass_case {
  size_t n;
  uint64_t *rng;
  uint32_t *base, *ev_slot;
  uint16_t *age, *tis;
} pass_case;

#define PASS_EDGES 6                                          /* band edges at most */
#define PASS_TABLE (64 * (PASS_EDGES + 1) * (PASS_EDGES + 1)) /* base rows x bands */

static void pass_case_alloc(pass_case *c, size_t n) {
  const size_t k = n ? n : 1;
  c->n = n;
  c->rng = calloc(k, sizeof *c->rng);
  c->base = calloc(k, sizeof *c->base);
  c->ev_slot = calloc(k, sizeof *c->ev_slot);
  c->age = calloc(k, sizeof *c->age);
  c->tis = calloc(k, sizeof *c->tis);
  if (!c->rng || !c->base || !c->ev_slot || !c->age || !c->tis) abort();
}

static void pass_case_copy(pass_case *to, const pass_case *from) {
  const size_t n = from->n;
  pass_case_alloc(to, n);
  memcpy(to->rng, from->rng, n * sizeof *to->rng);
  memcpy(to->base, from->base, n * sizeof *to->base);
  memcpy(to->age, from->age, n * sizeof *to->age);
  memcpy(to->tis, from->tis, n * sizeof *to->tis);
}

static void pass_case_free(pass_case *c) {
  free(c->rng);
  free(c->base);
  free(c->ev_slot);
  free(c->age);
  free(c->tis);
}

/* Random children: any 64-bit state; ages and times in state mostly small, some near 65535 so
 * that the 16-bit counters wrap while the age check sees 65536. */
static void pass_case_fill(pass_case *c, uint32_t rows, uint64_t *x) {
  for (size_t i = 0; i < c->n; i++) {
    c->rng[i] = mix64(x);
    c->base[i] = (uint32_t)(mix64(x) % rows);
    const uint64_t r = mix64(x);
    c->age[i] = (uint16_t)(r % 8 == 0 ? 65535 - r % 3 : r % 200);
    c->tis[i] = (uint16_t)(r % 16 == 1 ? 65535 : (r >> 8) % 100);
  }
}

/* Stay thresholds: always an event (0), never one by draw (2^32 - 1), often one (below 2^31)
 * and rarely one (above: the unsigned comparison must not read them as negative). */
static void fill_thresholds(uint32_t *stay32, uint64_t *x) {
  for (size_t r = 0; r < PASS_TABLE; r++) {
    const uint64_t v = mix64(x);
    stay32[r] = r % 11 == 0  ? 0u
                : r % 7 == 0 ? UINT32_MAX
                : r % 2      ? (uint32_t)(v >> 33)
                             : (uint32_t)(v >> 32) | 0x80000000u;
  }
}

#define PASS_STEPS 3

/* What PASS_STEPS steps of one pass did to a copy of the children: their final state, and each
 * step's event count and slots ([PASS_STEPS * n], step after step). */
typedef struct pass_run {
  pass_case c;
  size_t n_ev[PASS_STEPS];
  uint32_t *slot;
} pass_run;

/* The events a step must list, worked out child by child from the definition (a draw at or
 * above the row's threshold, or reaching the maximum age), and that each listed child's draw
 * is found again from its advanced stream. Returns the number of disagreements. */
static size_t pass_check_definition(const pass_case *before, const pass_case *after,
                                    const fl_pass_args *a, size_t n_ev) {
  size_t wrong = 0, k = 0;
  for (size_t i = 0; i < before->n; i++) {
    const uint32_t u = fl_pcg32_output(before->rng[i]);
    const uint32_t thr = a->stay32[before->base[i] + a->age_off[before->age[i]] +
                                   a->dur_off[before->tis[i]]];
    const int event = u >= thr || (uint64_t)before->age[i] + 1 >= a->max_age;
    if (!event) continue;
    if (k >= n_ev || after->ev_slot[k] != i) return wrong + 1;
    wrong += fl_pcg32_last(after->rng[i], a->inc) != u;
    k++;
  }
  return wrong + (k != n_ev);
}

static void pass_run_do(pass_run *run, const pass_case *from, const fl_pass_args *tmpl,
                        fl_path path) {
  const size_t n = from->n, k = PASS_STEPS * n + 1;
  pass_case *c = &run->c, before;
  pass_case_copy(c, from);
  run->slot = calloc(k, sizeof *run->slot);
  if (!run->slot) abort();
  for (int step = 0; step < PASS_STEPS; step++) {
    fl_pass_args a = *tmpl;
    pass_case_copy(&before, c);
    a.n = n;
    a.rng = c->rng;
    a.base = c->base;
    a.age = c->age;
    a.tis = c->tis;
    a.ev_slot = c->ev_slot;
    const size_t n_ev = run->n_ev[step] = fl_pass(&a, path);
    CHECK(n_ev <= n);
    CHECK_INT_EQ(pass_check_definition(&before, c, &a, n_ev), 0);
    memcpy(run->slot + step * n, c->ev_slot, n_ev * sizeof *run->slot);
    pass_case_free(&before);
  }
}

static void pass_run_free(pass_run *run) {
  pass_case_free(&run->c);
  free(run->slot);
}

/* Whether two runs agree exactly; the first difference is named. */
static int pass_runs_identical(const pass_run *x, const pass_run *y) {
  const size_t n = x->c.n;
  const char *what = memcmp(x->c.rng, y->c.rng, n * sizeof *x->c.rng)   ? "rng"
                     : memcmp(x->c.age, y->c.age, n * sizeof *x->c.age) ? "age"
                     : memcmp(x->c.tis, y->c.tis, n * sizeof *x->c.tis) ? "tis"
                                                                        : NULL;
  for (int step = 0; !what && step < PASS_STEPS; step++) {
    const size_t n_ev = x->n_ev[step], off = step * n;
    what = n_ev != y->n_ev[step]                                          ? "event count"
           : memcmp(x->slot + off, y->slot + off, n_ev * sizeof *x->slot) ? "ev_slot"
                                                                          : NULL;
  }
  if (what) fprintf(stderr, "hot pass: %s differs\n", what);
  return !what;
}

/* The number of edges[0, n) at most v. */
static uint32_t edges_below(const uint32_t *edges, uint32_t n, uint32_t v) {
  uint32_t k = 0;
  while (k < n && edges[k] <= v) k++;
  return k;
}

/* One random input, every supported pass against the portable one: the same events (slots and
 * draws, in order), generator states, ages and times in state, step after step. rows base rows,
 * n_age and n_dur band edges (both 0: unbanded). */
static void check_pass_case(size_t n, uint32_t rows, uint32_t n_age, uint32_t n_dur, int high,
                            uint32_t max_age, uint64_t seed) {
  /* Edges among the ages children have, or (high) at the top of the 16-bit range. */
  static const uint32_t age_low[PASS_EDGES] = {5, 40, 90, 150, 199, 60000};
  static const uint32_t dur_low[PASS_EDGES] = {3, 9, 30, 70, 99, 65535};
  static const uint32_t age_high[PASS_EDGES] = {1, 65533, 65534, 65535, 65535, 65535};
  static const uint32_t dur_high[PASS_EDGES] = {65534, 65535, 65535, 65535, 65535, 65535};
  const uint32_t *age_edge = high ? age_high : age_low, *dur_edge = high ? dur_high : dur_low;
  /* Band offsets for every 16-bit age and time in state. */
  static uint32_t age_off[65536], dur_off[65536];
  static uint32_t stay32[PASS_TABLE];
  const uint32_t dur_step = rows, age_step = rows * (n_dur + 1);
  for (uint32_t v = 0; v < 65536; v++) {
    age_off[v] = age_step * edges_below(age_edge, n_age, v);
    dur_off[v] = dur_step * edges_below(dur_edge, n_dur, v);
  }
  uint64_t x = seed;
  fill_thresholds(stay32, &x);
  const fl_pass_args tmpl = {.stay32 = stay32,
                             .age_off = age_off,
                             .dur_off = dur_off,
                             .banded = n_age + n_dur > 0,
                             .n_rows = age_step * (n_age + 1),
                             .n_age_edges = n_age,
                             .n_dur_edges = n_dur,
                             .age_step = age_step,
                             .dur_step = dur_step,
                             .age_edge = age_edge,
                             .dur_edge = dur_edge,
                             .inc = mix64(&x) | 1,
                             .max_age = max_age};
  pass_case start;
  pass_case_alloc(&start, n);
  pass_case_fill(&start, rows, &x);
  pass_run ref;
  pass_run_do(&ref, &start, &tmpl, FL_PATH_SCALAR);
  for (size_t p = 0; p < N_VECTOR_PATHS; p++) {
    if (!fl_path_supported(vector_paths[p])) continue;
    pass_run run;
    pass_run_do(&run, &start, &tmpl, vector_paths[p]);
    const int same = pass_runs_identical(&ref, &run);
    if (!same)
      fprintf(stderr, "  %s, n %zu, rows %u, edges %u + %u%s, max_age %u\n",
              fl_path_name(vector_paths[p]), n, rows, n_age, n_dur, high ? " (high)" : "",
              max_age);
    CHECK(same);
    pass_run_free(&run);
  }
  pass_run_free(&ref);
  pass_case_free(&start);
}

/* fl_pass itself on random children: counts around the vector widths (8 and 16 lanes) and the
 * tails they leave; tables the AVX-512 pass holds in registers (up to 64 entries: 4 x 2 x 3 =
 * 24, 7 x 3 x 3 = 63, 64 unbanded) and ones it gathers from (200 unbanded, and banded); band
 * offsets it finds by comparing with the edges (up to FL_PASS_EDGES each, also at the top of
 * the 16-bit range) and ones it gathers; no maximum age, a maximum age some children reach, one
 * every child reaches (0 and 1), ones at the 16-bit limit, and one above 2^31 (an unsigned
 * comparison). */
static void test_pass_paths_identical(void) {
  static const size_t ns[] = {0, 1, 7, 8, 9, 15, 16, 17, 1000};
  static const uint32_t max_ages[] = {UINT32_MAX, 150, 0, 1, 65535, 65536, 65537, 0x80000001u};
  static const struct {
    uint32_t rows, n_age, n_dur;
    int high;
  } tables[] = {{64, 0, 0, 0}, {13, 0, 0, 0}, {200, 0, 0, 0}, {4, 1, 2, 0},
                {7, 2, 2, 0},  {64, 2, 3, 0}, {3, 4, 4, 0},   {64, 6, 1, 0},
                {2, 1, PASS_EDGES, 0}, {4, 4, 2, 1}, {30, 3, 2, 1}};
  uint64_t seed = 1;
  for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
      for (size_t j = 0; j < sizeof max_ages / sizeof *max_ages; j++)
        check_pass_case(ns[i], tables[t].rows, tables[t].n_age, tables[t].n_dur, tables[t].high,
                        max_ages[j], seed++);
}

/* fl_pass_streams starts every child's stream as fl_rng_init_keyed does, on every path the
 * processor has: counts around the AVX-512 width (8 lanes) and its tail, and child numbers
 * from 0, from an odd offset and across 2^32 and 2^64. */
static void test_streams_paths_identical(void) {
  static const size_t ns[] = {0, 1, 7, 8, 9, 15, 16, 17, 1000};
  static const uint64_t child0[] = {0, 12345, 0xFFFFFFFCull, UINT64_MAX - 4};
  static const fl_path paths[] = {FL_PATH_SCALAR, FL_PATH_AVX2, FL_PATH_AVX512, FL_PATH_AUTO};
  fl_stream_key k;
  fl_stream_key_init(&k, 20240611, 3, FL_PURPOSE_CHILD);
  uint64_t got[1000 + 1];
  long long bad = 0;
  for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
    if (!fl_path_supported(paths[p])) continue;
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++)
      for (size_t c = 0; c < sizeof child0 / sizeof *child0; c++) {
        got[ns[i]] = 0xA5A5A5A5A5A5A5A5ull; /* one past the end: must stay */
        fl_pass_streams(&k, child0[c], ns[i], got, paths[p]);
        for (size_t j = 0; j < ns[i]; j++) {
          fl_rng r;
          fl_rng_init_keyed(&r, &k, child0[c] + j);
          bad += got[j] != r.state;
        }
        bad += got[ns[i]] != 0xA5A5A5A5A5A5A5A5ull;
      }
  }
  CHECK_INT_EQ(bad, 0);
}

/* fl_pass_draw_range and fl_pass_draw_cum draw as one child's stream does (fl_rng_bounded, and
 * counting cumulative thresholds), on every path the processor has, and leave every stream
 * where one draw at a time would: counts around the AVX-512 width and its tail; no draw (hi <=
 * lo), small bounds, and bounds near 2^32 that reject about a quarter of first outputs (the
 * vector path finishes those lanes one by one); thresholds from 1 to 9, scaled by 1 and 13. */
static void test_creation_draws_paths_identical(void) {
  enum { N = 1000 };
  static const size_t ns[] = {0, 1, 7, 8, 9, 17, N};
  static const uint32_t ranges[][2] = {{3, 3}, {9, 2}, {0, 1}, {0, 215}, {7, 100000},
                                       {0, 0xC0000000u}, {5, 0xFFFFFFF0u}};
  static const fl_path paths[] = {FL_PATH_SCALAR, FL_PATH_AVX2, FL_PATH_AVX512, FL_PATH_AUTO};
  static uint64_t st[N], ref[N];
  static uint16_t out[N + 1];
  static uint32_t cnt[N], cref[N];
  uint64_t cum[9];
  const uint64_t inc = 0xda3e39cb94b95bdbULL;
  long long bad = 0;
  for (size_t p = 0; p < sizeof paths / sizeof *paths; p++) {
    if (!fl_path_supported(paths[p])) continue;
    for (size_t i = 0; i < sizeof ns / sizeof *ns; i++) {
      const size_t n = ns[i];
      for (size_t q = 0; q < sizeof ranges / sizeof *ranges; q++) {
        const uint32_t lo = ranges[q][0], hi = ranges[q][1];
        for (size_t j = 0; j < n; j++) st[j] = ref[j] = fl_mix64(j + 1000 * q + 1);
        out[n] = 0xA5A5;
        fl_pass_draw_range(st, inc, n, lo, hi, out, paths[p]);
        for (size_t j = 0; j < n; j++) {
          fl_rng r = {ref[j], inc};
          const uint32_t v = hi > lo ? lo + fl_rng_bounded(&r, hi - lo + 1) : lo;
          bad += out[j] != (uint16_t)v || st[j] != r.state;
        }
        bad += out[n] != 0xA5A5;
      }
      for (size_t nc = 1; nc <= 9; nc++)
        for (uint32_t scale = 1; scale <= 13; scale += 12) {
          for (size_t c = 0; c + 1 < nc; c++) cum[c] = ((uint64_t)(c + 1) << 32) / nc;
          cum[nc - 1] = (uint64_t)1 << 32;
          for (size_t j = 0; j < n; j++) {
            st[j] = ref[j] = fl_mix64(j + 77 * nc + scale);
            cnt[j] = cref[j] = (uint32_t)j;
          }
          fl_pass_draw_cum(st, inc, n, cum, nc, scale, cnt, paths[p]);
          for (size_t j = 0; j < n; j++) {
            const uint32_t u = fl_pcg32_step(&ref[j], inc);
            uint32_t k = 0;
            for (size_t c = 0; c + 1 < nc; c++) k += u >= cum[c];
            bad += cnt[j] != cref[j] + scale * k || st[j] != ref[j];
          }
        }
    }
  }
  CHECK_INT_EQ(bad, 0);
}

static void test_dundee_conservation(void) {
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  fl_results *res = run_model(m, 7, 3, 2);
  const fl_array *st = array_of(res, "stocks");
  check_conservation(m, res);
  fl_results *ex = NULL;
  fl_error err;
  CHECK(fl_expect(m, &ex, &err) == FL_OK);
  if (ex) check_level_flows(m, ex, 1e-6);
  fl_results_free(ex);
  /* The initial stocks are exactly the scenario's counts in every replication. */
  static const int init[7] = {23500, 2700, 500, 68, 120, 109, 38};
  for (size_t r = 0; r < res->R; r++)
    for (size_t s = 0; s < 7; s++) CHECK_INT_EQ(value_at(st, r * 121 * 7 + s), init[s]);
  fl_results_free(res);
  fl_model_free(m);
}

/* moves_per_child counts every child once (the initial children and every entrant), and its
 * moves add up to the flows; a child that moves every step saturates the last bin; with more
 * than nine levels the moves have a word of their own, and the same holds. */
static void check_moves(const fl_model *m, const fl_results *res, int saturated) {
  const size_t S = m->S, T = m->T, K = FL_MOVE_BINS;
  for (size_t a = 0; a < res->n_arms; a++) {
    const fl_array *mv = fl_results_get(res, a, FL_OUT_MOVES_PER_CHILD);
    const fl_array *st = fl_results_get(res, a, FL_OUT_STOCKS);
    const fl_array *en = fl_results_get(res, a, FL_OUT_ENTRIES);
    const fl_array *fl = fl_results_get(res, a, FL_OUT_FLOWS);
    long long bad_children = 0, bad_moves = 0, last = 0;
    for (size_t r = 0; r < res->R; r++) {
      double children = 0, counted = 0, moves = 0, flows = 0;
      for (size_t s = 0; s < S; s++) children += value_at(st, r * (T + 1) * S + s);
      for (size_t i = 0; i < T * S; i++) children += value_at(en, r * T * S + i);
      for (size_t i = 0; i < T * S * S; i++) flows += value_at(fl, r * T * S * S + i);
      for (size_t k = 0; k < K; k++) {
        counted += value_at(mv, r * K + k);
        moves += (double)k * value_at(mv, r * K + k);
      }
      last += (long long)value_at(mv, r * K + K - 1);
      bad_children += counted != children;
      bad_moves += !saturated && moves != flows;
    }
    CHECK_INT_EQ(bad_children, 0);
    CHECK_INT_EQ(bad_moves, 0);
    if (!saturated) CHECK_INT_EQ(last, 0);
  }
}

static void test_moves_per_child(void) {
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  fl_results *res = run_model(m, 7, 3, 2);
  check_moves(m, res, 0);
  fl_results_free(res);
  fl_model_free(m);
  /* Two states that swap every step: 70 moves each, all in the last bin. */
  m = load_text_model("flourish: 1\nname: swap\ntime: {horizon_steps: 70}\nlevels: [x, y]\n"
                      "states: {a: {level: x}, b: {level: y}}\n"
                      "population: {initial: [{state: a, count: 300}]}\n"
                      "transitions: {tables: [{rows: {a: {b: 1}, b: {a: 1}}}]}\n");
  res = run_model(m, 1, 2, 1);
  check_moves(m, res, 1);
  const fl_array *mv = fl_results_get(res, 0, FL_OUT_MOVES_PER_CHILD);
  CHECK_INT_EQ(value_at(mv, FL_MOVE_BINS - 1), 300);
  fl_results_free(res);
  fl_model_free(m);
  /* Eleven levels: the moves live in a word of their own. */
  char yaml[4096];
  int n = snprintf(yaml, sizeof yaml, "flourish: 1\nname: ladder\ntime: {horizon_steps: 40}\n"
                   "levels: [l0, l1, l2, l3, l4, l5, l6, l7, l8, l9, l10]\nstates:\n");
  for (int l = 0; l <= 10; l++) n += snprintf(yaml + n, sizeof yaml - (size_t)n, "  s%d: {level: l%d}\n", l, l);
  n += snprintf(yaml + n, sizeof yaml - (size_t)n,
                "population: {initial: [{state: s0, count: 500}], entries: {b: {per_year: 600, "
                "states: {s0: 1}}}}\ntransitions: {tables: [{rows: {");
  n += snprintf(yaml + n, sizeof yaml - (size_t)n, "s0: {s0: rest, s1: 0.2}, ");
  for (int l = 1; l < 10; l++)
    n += snprintf(yaml + n, sizeof yaml - (size_t)n, "s%d: {s%d: rest, s%d: 0.2, s0: 0.05}, ", l, l,
                  l + 1);
  snprintf(yaml + n, sizeof yaml - (size_t)n, "s10: {s10: rest, s0: 0.3}}}]}\n");
  m = load_text_model(yaml);
  CHECK_INT_EQ(m->L, 11);
  res = run_model(m, 5, 3, 2);
  check_moves(m, res, 0);
  fl_results_free(res);
  fl_model_free(m);
}

/* Zero-probability moves never happen, absorbing states are never left. */
static void test_zero_and_absorbing(void) {
  fl_model *m = load_source_model("scenarios/examples/hiv_markov.yaml");
  fl_results *res = run_model(m, 99, 50, 2);
  const fl_array *fl = array_of(res, "flows");
  const size_t S = m->S, T = m->T;
  long long backwards = 0, from_dead = 0, forwards = 0;
  for (size_t r = 0; r < res->R; r++)
    for (size_t t = 0; t < T; t++)
      for (size_t s = 0; s < S; s++)
        for (size_t j = 0; j < S; j++) {
          double f = value_at(fl, ((r * T + t) * S + s) * S + j);
          if (j < s) backwards += (long long)f; /* the model only progresses */
          if (s == 3) from_dead += (long long)f;
          if (j > s) forwards += (long long)f;
        }
  CHECK_INT_EQ(backwards, 0);
  CHECK_INT_EQ(from_dead, 0);
  CHECK(forwards > 0);
  /* Journey tallies: everyone starts in A; nobody leaves dead, so the children ever dead are the
   * dead at the end; a child reaches C only through B or straight from A, and the moves into
   * C (one per child, the model only progresses) are the children ever in C. */
  const fl_array *ever = array_of(res, "spells/ever_in_level"), *st = array_of(res, "stocks");
  for (size_t r = 0; r < res->R; r++) {
    double into_c = 0;
    for (size_t t = 0; t < T; t++)
      into_c += value_at(fl, ((r * T + t) * S + 0) * S + 2) + value_at(fl, ((r * T + t) * S + 1) * S + 2);
    CHECK_INT_EQ(value_at(ever, r * 4 + 0), 1000);
    CHECK_INT_EQ(value_at(ever, r * 4 + 3), value_at(st, (r * (T + 1) + T) * S + 3));
    CHECK_INT_EQ(value_at(ever, r * 4 + 2), into_c);
  }
  check_conservation(m, res);
  fl_results_free(res);
  fl_model_free(m);
}

static const char *identity_yaml =
    "flourish: 1\n"
    "name: identity\n"
    "time: {step_months: 1, horizon_steps: 24}\n"
    "levels: [a, b]\n"
    "states: {x: {level: a}, y: {level: b}}\n"
    "population:\n"
    "  max_age_years: 5\n"
    "  initial: [{state: x, count: 400, age_years: [0, 5]}, {state: y, count: 100}]\n"
    "transitions:\n"
    "  tables:\n"
    "    - rows: {x: {x: 1}, y: {y: 1}}\n";

static void test_identity_moves_no_one(void) {
  fl_model *m = load_text_model(identity_yaml);
  fl_results *res = run_model(m, 5, 10, 2), *ex = expect_model(m);
  const fl_array *fl = array_of(res, "flows"), *st = array_of(res, "stocks");
  const fl_array *xs = array_of(ex, "stocks");
  double total = 0;
  for (size_t i = 0; i < fl_array_count(fl); i++) total += value_at(fl, i);
  CHECK_DBL_NEAR(total, 0, 0);
  /* y children are all aged 0 and nobody enters: y is constant over two years. */
  for (size_t r = 0; r < res->R; r++)
    for (size_t t = 0; t <= m->T; t++) CHECK_INT_EQ(value_at(st, (r * 25 + t) * 2 + 1), 100);
  /* x children age out uniformly: 400 * (60 - t) / 60 expected after t months. */
  for (size_t t = 0; t <= m->T; t++)
    CHECK_DBL_NEAR(value_at(xs, t * 2), 400.0 * (60.0 - (double)t) / 60.0, 1e-9);
  check_conservation(m, res);
  fl_results_free(res);
  fl_results_free(ex);
  fl_model_free(m);
}

/* A hand-checked compiled row: probabilities are quantised to multiples of 2^-32 and the
 * escalation multiplier moves mass between escalation and staying. */
static void test_compiled_rows(void) {
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  /* Locality 5 (East_End) has multiplier 1.35; row of universal (state 0). */
  const fl_arm *arm = &m->arms[0];
  const size_t l = 5;
  const fl_row *row = &arm->rows[fl_row_index(m, 0, l, 0, 0, 0)];
  double esc = (0.008526 + 0.000649 + 0.00002197 + 0.00001041 + 0.00001580 + 0.00000683) * 1.35;
  CHECK_DBL_NEAR((double)row->stay / FL_P_ONE, 1.0 - esc, 1e-9);
  CHECK_INT_EQ(row->n, 6);
  CHECK_U64_EQ(arm->move_cum[row->first + row->n - 1], (uint64_t)FL_P_ONE);
  fl_model_free(m);
}

/* A rate matrix converts exactly: for a two-state chain with rates a (0->1) and b (1->0) the
 * step probability of leaving 0 is a/(a+b) * (1 - exp(-(a+b) t)). */
static void test_rates_exact(void) {
  static const char *yaml = "flourish: 1\nname: rates\n"
                            "time: {step_months: 12, horizon_steps: 3}\n"
                            "levels: [u, v]\nstates: {p: {level: u}, q: {level: v}}\n"
                            "population: {initial: [{state: p, count: 10}]}\n"
                            "transitions:\n  given_as: rate\n  per_months: 6\n  tables:\n"
                            "    - rows: {p: {q: 0.3}, q: {p: 0.5}}\n";
  fl_model *m = load_text_model(yaml);
  const fl_row *row = &m->arms[0].rows[0];
  double a = 0.3, b = 0.5, t = 2.0; /* 12 months = 2 periods of 6 months */
  CHECK_DBL_NEAR(1.0 - (double)row->stay / FL_P_ONE, a / (a + b) * (1 - exp(-(a + b) * t)), 1e-9);
  fl_model_free(m);
}

/* Probabilities over a longer period convert with a constant hazard of leaving. */
static void test_probability_conversion(void) {
  static const char *yaml = "flourish: 1\nname: annual\n"
                            "time: {step_months: 1, horizon_steps: 3}\n"
                            "levels: [u, v]\nstates: {p: {level: u}, q: {level: v}}\n"
                            "population: {initial: [{state: p, count: 10}]}\n"
                            "transitions:\n  per_months: 12\n  tables:\n"
                            "    - rows: {p: {p: rest, q: 0.4}, q: {q: 1}}\n";
  fl_model *m = load_text_model(yaml);
  CHECK_DBL_NEAR(1.0 - (double)m->arms[0].rows[0].stay / FL_P_ONE, 1.0 - pow(0.6, 1.0 / 12.0),
                 1e-9);
  fl_model_free(m);
}

/* Division by multiplication agrees with the divide instruction. */
static void test_fast_div(void) {
  static const uint32_t ds[] = {1, 2, 3, 5, 7, 56, 1000, 65535, 65537, 16777215, 4294967295u};
  uint64_t x = 12345;
  long long bad = 0;
  for (size_t k = 0; k < sizeof ds / sizeof ds[0]; k++) {
    const uint64_t magic = fl_fast_div_magic(ds[k]);
    static const uint32_t edges[] = {0, 1, 2, 4294967295u, 4294967294u, 2147483648u};
    for (size_t e = 0; e < 6; e++) bad += fl_fast_div(edges[e], magic) != edges[e] / ds[k];
    for (int i = 0; i < 100000; i++) {
      x = x * 6364136223846793005ULL + 1442695040888963407ULL;
      const uint32_t n = (uint32_t)(x >> 32);
      bad += fl_fast_div(n, magic) != n / ds[k];
      bad += fl_fast_div(n / ds[k] * ds[k], magic) != n / ds[k]; /* exact multiples */
    }
  }
  CHECK_INT_EQ(bad, 0);
}

/* Quantiles by counting and by selection equal quantiles by sorting (GSL), for whole numbers
 * of several ranges, for values that are not whole, and for values that are not whole with
 * many ties (selection's three-way partitions). */
static void test_summary_quantiles(void) {
  static const double lev[FL_N_QUANTILES] = {0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975};
  static const size_t Rs[] = {1, 2, 3, 10, 17, 37, 1000, 4099};
  uint64_t x = 99;
  for (size_t k = 0; k < sizeof Rs / sizeof Rs[0]; k++)
    for (int kind = 0; kind < 4; kind++) {
      const size_t R = Rs[k];
      double *v = malloc(R * sizeof *v), *w = malloc(R * sizeof *w), out[10];
      uint32_t *hist = malloc((2 * R + 64) * sizeof *hist);
      for (size_t r = 0; r < R; r++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const double u = (double)(x >> 11) / 9007199254740992.0;
        v[r] = kind == 0   ? floor(u * 5)
               : kind == 1 ? floor(20000 + u * u * 3000)
               : kind == 2 ? u * 100
                           : 0.5 * floor(u * 7);
        w[r] = v[r];
      }
      fl_summarise_cell(v, R, kind < 2, hist, 2 * R + 64, out, 1, 0);
      gsl_sort(w, 1, R);
      CHECK_DBL_NEAR(out[0], gsl_stats_mean(w, 1, R), 1e-9);
      for (int q = 0; q < FL_N_QUANTILES; q++)
        CHECK_DBL_NEAR(out[3 + q], gsl_stats_quantile_from_sorted_data(w, 1, R, lev[q]), 1e-9);
      free(v);
      free(w);
      free(hist);
    }
}

/* One replication's tallies of one arm, laid out by the output registry (zeroed). */
typedef struct tally_buf {
  fl_tally tl;
  unsigned char *block;
  size_t bytes;
} tally_buf;

static void tally_alloc(tally_buf *b, const fl_model *m, size_t arm, const fl_tally *base) {
  const fl_output_ctx oc = {.m = m, .R = 1};
  fl_tally_layout lay;
  fl_tally_layout_init(&lay, &oc, arm);
  b->bytes = lay.bytes;
  b->block = calloc(lay.bytes ? lay.bytes : 1, 1);
  if (!b->block) abort();
  fl_tally_bind(&b->tl, &lay, b->block);
  b->tl.base = base;
}

static int tallies_equal(const tally_buf *x, const tally_buf *y) {
  return x->bytes == y->bytes && !memcmp(x->block, y->block, x->bytes);
}

/* With several arms a workspace creates a replication's children (initial and entrants) once
 * and copies them for the other arms: every arm's tallies equal those of a fresh workspace
 * that creates them, and a later replication (another key) creates its own. */
static void test_kept_children_copy(void) {
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  CHECK(m->n_arms >= 3);
  fl_arm_tables tab[FL_MAX_ARMS];
  for (size_t a = 0; a < m->n_arms; a++) tab[a] = fl_model_tables(m, a);
  fl_workspace *ws = fl_workspace_create(m);
  CHECK(ws != NULL);
  for (uint64_t rep = 5; rep <= 6; rep++) {
    tally_buf base, kept[FL_MAX_ARMS];
    tally_alloc(&base, m, 0, NULL);
    CHECK(fl_simulate(m, 0, &tab[0], 11, rep, FL_PATH_AUTO, ws, &base.tl) == FL_OK);
    for (size_t a = 1; a < m->n_arms; a++) {
      tally_alloc(&kept[a], m, a, &base.tl);
      CHECK(fl_simulate(m, a, &tab[a], 11, rep, FL_PATH_AUTO, ws, &kept[a].tl) == FL_OK);
      tally_buf fresh;
      tally_alloc(&fresh, m, a, &base.tl);
      fl_workspace *ws2 = fl_workspace_create(m);
      CHECK(ws2 != NULL);
      CHECK(fl_simulate(m, a, &tab[a], 11, rep, FL_PATH_AUTO, ws2, &fresh.tl) == FL_OK);
      CHECK(tallies_equal(&kept[a], &fresh));
      fl_workspace_free(ws2);
      free(fresh.block);
    }
    /* The arms differ, so the comparison above could fail. */
    CHECK(!tallies_equal(&kept[1], &kept[2]));
    for (size_t a = 1; a < m->n_arms; a++) {
      free(kept[a].block);
    }
    free(base.block);
  }
  fl_workspace_free(ws);
  fl_model_free(m);
}

int main(void) {
  test_summary_quantiles();
  test_fast_div();
  test_reproducible_across_threads();
  test_run_in_callers_team();
  test_threads_inside_replication("scenarios/examples/semi_markov.yaml");
  test_threads_inside_replication("scenarios/dundee.yaml");
  test_threads_inside_replication("bench/workloads/rich.yaml");
  test_threads_inside_replication("scenarios/examples/frailty.yaml");
  test_dundee_conservation();
  test_moves_per_child();
  test_kept_children_copy();
  test_path_choice();
  test_pass_paths_identical();
  test_streams_paths_identical();
  test_creation_draws_paths_identical();
  test_paths_equal_scalar("scenarios/dundee.yaml");
  test_paths_equal_scalar("scenarios/examples/semi_markov.yaml");
  test_paths_equal_scalar("scenarios/examples/hiv_markov.yaml");
  test_paths_equal_scalar("bench/workloads/rich.yaml");
  test_paths_equal_scalar("scenarios/examples/frailty.yaml");
  test_zero_and_absorbing();
  test_identity_moves_no_one();
  test_compiled_rows();
  test_rates_exact();
  test_probability_conversion();
  return check_finish("engine");
}
