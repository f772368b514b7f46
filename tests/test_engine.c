/* Engine invariants and reproducibility: children are conserved step by step, zero
 * probabilities give zero flows, absorbing states are never left, an identity matrix moves no
 * one, and the same seed gives bit-identical results for any thread count. */
#include "testutil.h"

#include "pass.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

#include <string.h>

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
}

/* Whether every result array has identical bytes; names the first that differs when verbose. */
static int arrays_identical(const fl_results *a, const fl_results *b, int verbose) {
  if (a->arms[0].n_arrays != b->arms[0].n_arrays) return 0;
  for (size_t i = 0; i < a->arms[0].n_arrays; i++) {
    const fl_array *x = &a->arms[0].arrays[i], *y = &b->arms[0].arrays[i];
    size_t bytes = fl_array_count(x) * (x->type == FL_I32 ? 4 : 8);
    if (strcmp(x->name, y->name) || fl_array_count(x) != fl_array_count(y) ||
        memcmp(x->data, y->data, bytes)) {
      if (verbose) fprintf(stderr, "array %s differs\n", x->name);
      return 0;
    }
  }
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

/* The vector pass (when the processor has it) and the portable pass give the same bytes. */
static void test_vector_equals_scalar(const char *rel) {
  fl_model *m = load_source_model(rel);
  fl_results *scalar = run_model_path(m, 11, 5, 2, 1), *best = run_model_path(m, 11, 5, 2, 0);
  printf("%s: hot pass %s vs scalar\n", rel, fl_path_name(fl_pass_best()));
  CHECK(arrays_identical(scalar, best, 1));
  fl_results_free(scalar);
  fl_results_free(best);
  fl_model_free(m);
}

static void test_dundee_conservation(void) {
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  fl_results *res = run_model(m, 7, 3, 2);
  const fl_array *st = array_of(res, "stocks");
  check_conservation(m, res);
  /* The initial stocks are exactly the scenario's counts in every replication. */
  static const int init[7] = {23500, 2700, 500, 68, 120, 109, 38};
  for (size_t r = 0; r < res->R; r++)
    for (size_t s = 0; s < 7; s++) CHECK_INT_EQ(value_at(st, r * 121 * 7 + s), init[s]);
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

/* Quantiles by counting equal quantiles by sorting (GSL), for whole numbers of several ranges
 * and for values that are not whole. */
static void test_summary_quantiles(void) {
  static const double lev[FL_N_QUANTILES] = {0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975};
  static const size_t Rs[] = {1, 2, 3, 10, 37, 1000};
  uint64_t x = 99;
  for (size_t k = 0; k < sizeof Rs / sizeof Rs[0]; k++)
    for (int kind = 0; kind < 3; kind++) {
      const size_t R = Rs[k];
      double *v = malloc(R * sizeof *v), *w = malloc(R * sizeof *w), out[10];
      uint32_t *hist = malloc((2 * R + 64) * sizeof *hist);
      for (size_t r = 0; r < R; r++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const double u = (double)(x >> 11) / 9007199254740992.0;
        v[r] = kind == 0 ? floor(u * 5) : kind == 1 ? floor(20000 + u * u * 3000) : u * 100;
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

int main(void) {
  test_summary_quantiles();
  test_fast_div();
  test_reproducible_across_threads();
  test_dundee_conservation();
  test_vector_equals_scalar("scenarios/dundee.yaml");
  test_vector_equals_scalar("scenarios/examples/semi_markov.yaml");
  test_vector_equals_scalar("scenarios/examples/hiv_markov.yaml");
  test_vector_equals_scalar("bench/workloads/rich.yaml");
  test_zero_and_absorbing();
  test_identity_moves_no_one();
  test_compiled_rows();
  test_rates_exact();
  test_probability_conversion();
  return check_finish("engine");
}
