/* Statistical tests: Monte Carlo means of stocks, flows, entries, exits, costs and QoL agree with
 * the exact expectation at every step, within a tolerance derived from the Monte Carlo standard
 * error; and expectation mode agrees with an independent hand-written Markov trace.
 *
 * Tolerance. Each cell compares the mean of R replications with its expectation. With m cells
 * compared in one scenario, a cell fails when |mean - expected| > z * sd / sqrt(R) with
 * z = Phi^-1(1 - alpha / (2 m)) and alpha = 0.001: a Bonferroni bound, so that a correct engine
 * fails the whole comparison with probability below 0.1% (z is about 4.9 for 10,000 cells,
 * never below 4). Counts of rare events (expected total over the replications below 50) are
 * not near normal and their sample sd is unreliable: their total is compared with a Poisson
 * distribution instead (a sum of independent indicators is no more variable than Poisson), at
 * the same error rate. The seeds are fixed, so the tests are deterministic. */
#include "testutil.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>

typedef struct cmp_stats {
  size_t cells, failures;
  double worst_z;
} cmp_stats;

static double bonferroni_z(size_t m) { return gsl_cdf_ugaussian_Qinv(0.001 / (2.0 * (double)m)); }

/* Compares the MC array name (leading dimension R) with the expectation array of the same name.
 * is_count: the array counts children or events; otherwise it holds costs or QoL sums, which
 * one child changes by at most unit. Failures are added to cs. */
static const fl_array *group_array(const fl_arm_results *g, const char *name) {
  for (size_t i = 0; i < g->n_arrays; i++)
    if (!strcmp(g->arrays[i].name, name)) return &g->arrays[i];
  fprintf(stderr, "no array %s in %s\n", name, g->name);
  exit(1);
}

/* Compares array name of group g (an arm, or a comparison with the baseline) of the Monte Carlo
 * results with the same array of the expectation results. */
static void compare(const fl_arm_results *gm, const fl_arm_results *ge, const fl_results *mc,
                    const char *name, double z, size_t m_total, int is_count, double unit,
                    int paired, cmp_stats *cs, int verbose) {
  const fl_array *a = group_array(gm, name), *e = group_array(ge, name);
  const size_t R = mc->R, cells = fl_array_count(a) / R;
  if (cells != fl_array_count(e)) {
    fprintf(stderr, "%s: shapes differ\n", name);
    cs->failures++;
    return;
  }
  for (size_t c = 0; c < cells; c++) {
    double sum = 0, sum2 = 0, sum_abs = 0, mean, sd, tol, diff;
    for (size_t r = 0; r < R; r++) {
      double v = value_at(a, r * cells + c);
      sum += v;
      sum2 += v * v;
      sum_abs += fabs(v);
    }
    mean = sum / (double)R;
    sd = R > 1 ? sqrt(fmax(0.0, (sum2 - sum * mean) / (double)(R - 1))) : 0.0;
    if (paired) {
      /* A paired difference is a sum over the few children whose paths differ between the
       * arms, each contributing at most unit: early in a run it is mostly 0 with rare jumps, and
       * its sample sd can badly understate the spread. Its variance is at most unit times the
       * sum of the contributions' absolute values, estimated here (conservatively, as the
       * larger of the expected and the mean absolute value). */
      sd = fmax(sd, sqrt(unit * fmax(fabs(value_at(e, c)), sum_abs / (double)R)));
    }
    diff = fabs(mean - value_at(e, c));
    if (is_count && value_at(e, c) * (double)R < 50) {
      /* Rare events: the total count over replications is a sum of independent indicators,
       * close to Poisson with mean E * R (and no more variable), so it is tested exactly. */
      double lambda = value_at(e, c) * (double)R, total = nearbyint(sum);
      double p_lo = lambda > 0 ? gsl_cdf_poisson_P((unsigned)total, lambda) : 1.0;
      double p_hi = lambda > 0 && total > 0 ? gsl_cdf_poisson_Q((unsigned)total - 1, lambda) : 1.0;
      cs->cells++;
      if (lambda == 0 ? total > 0 : fmin(p_lo, p_hi) < 0.001 / (2.0 * (double)m_total)) {
        cs->failures++;
        if (verbose && cs->failures <= 5)
          fprintf(stderr, "%s cell %zu: %g events where %g were expected\n", name, c, total,
                  lambda);
      }
      continue;
    }
    if (sd > 0) tol = z * sd / sqrt((double)R);
    else if (is_count)
      tol = 1e-9 * fmax(1.0, fabs(mean)); /* a count that never varies is deterministic */
    else /* a cost or QoL sum that never varied: events seen in no replication, each worth at
            most unit, are rarer than ln(2m / alpha) / R at the test's error rate */
      tol = unit * log(2.0 * (double)m_total / 0.001) / (double)R;
    tol += 1e-9 * fmax(1.0, fabs(mean)); /* floating-point summation */
    cs->cells++;
    if (sd > 0 && diff / (sd / sqrt((double)R)) > cs->worst_z) {
      cs->worst_z = diff / (sd / sqrt((double)R));
      if (getenv("FLOURISH_STAT_DEBUG"))
        fprintf(stderr, "worst so far: %s cell %zu mean %g expected %g sd %g\n", name, c, mean,
                value_at(e, c), sd);
    }
    if (diff > tol) {
      cs->failures++;
      if (verbose && cs->failures <= 5)
        fprintf(stderr, "%s cell %zu: MC mean %.6f vs expected %.6f (sd %.4f, tol %.6f)\n", name,
                c, mean, value_at(e, c), sd, tol);
    }
  }
}

static const char *const count_arrays[] = {"stocks", "flows", "entries", "exits",
                                           "stocks_by_level"};
static const char *const value_arrays[] = {"costs", "costs_discounted", "qol", "qol_discounted"};

/* Runs R replications and compares every array with expectation mode. */
/* Paired differences compared with expectation (cumulative_net_cost is their running sum,
 * checked in test_arms). */
static const char *const comp_arrays[] = {"delta_costs", "delta_costs_discounted",
                                          "delta_qalys"};
#define N_COMP 3

/* Runs R replications and compares every array of every arm, and every arm's differences from
 * the baseline, with expectation mode. Arms that reinvest savings are left out: expectation
 * mode reinvests the expected saving, which is not the expectation of the stochastic loop. */
static cmp_stats mc_vs_expect(const fl_model *mc_model, const fl_model *ex_model, size_t R,
                              uint64_t seed, int verbose) {
  fl_results *mc = run_model(mc_model, seed, R, 0), *ex = expect_model(ex_model);
  cmp_stats cs = {0, 0, 0};
  size_t m_total = 0;
  int *use = calloc(mc->n_arms, sizeof *use);
  for (size_t a = 0; a < mc->n_arms; a++) {
    use[a] = !(mc_model->arms[a].reinvest.on && mc_model->arms[a].reinvest.fraction > 0);
    if (!use[a]) continue;
    for (size_t i = 0; i < 5; i++)
      m_total += fl_array_count(group_array(&ex->arms[a], count_arrays[i]));
    for (size_t i = 0; i < 4; i++)
      m_total += fl_array_count(group_array(&ex->arms[a], value_arrays[i]));
    for (size_t i = 0; a && i < N_COMP; i++)
      m_total += fl_array_count(group_array(&ex->comps[a], comp_arrays[i]));
  }
  double z = bonferroni_z(m_total);
  if (z < 4) z = 4;
  /* The most one child (or one move) can change a cost or QoL cell by. */
  double max_cost = 0, max_qol = 0, max_move = 0, max_iv = 0;
  const size_t S = mc_model->S, B = mc_model->B;
  for (size_t s = 0; s < S; s++) {
    max_qol = fmax(max_qol, mc_model->qol[s]);
    for (size_t b = 0; b < B; b++) max_cost = fmax(max_cost, mc_model->cost[s * B + b]);
    for (size_t d = 0; d < S; d++)
      for (size_t b = 0; b < B; b++)
        max_move = fmax(max_move, fabs(mc_model->trans_cost[(s * S + d) * B + b]));
  }
  for (size_t a = 0; a < mc_model->n_arms; a++) {
    const fl_arm *arm = &mc_model->arms[a];
    for (size_t i = 0; i < arm->n_int; i++)
      max_iv = fmax(max_iv, arm->ints[i].child_cost * mc_model->step_months);
    /* An arm's own state costs, QoL weights and one-off costs of moves. */
    for (size_t s = 0; s < S; s++) {
      max_qol = fmax(max_qol, fl_arm_qol(arm, mc_model->qol, s));
      for (size_t b = 0; b < B; b++)
        max_cost = fmax(max_cost, fl_arm_cost(arm, mc_model->cost, s * B + b));
      for (size_t d = 0; arm->trans_cost && d < S; d++)
        for (size_t b = 0; b < B; b++)
          max_move = fmax(max_move, fabs(arm->trans_cost[(s * S + d) * B + b]));
    }
  }
  const double cost_unit = max_cost + max_move + max_iv;
  for (size_t a = 0; a < mc->n_arms; a++) {
    if (!use[a]) continue;
    for (size_t i = 0; i < 5; i++)
      compare(&mc->arms[a], &ex->arms[a], mc, count_arrays[i], z, m_total, 1, 1.0, 0, &cs,
              verbose);
    for (size_t i = 0; i < 4; i++)
      compare(&mc->arms[a], &ex->arms[a], mc, value_arrays[i], z, m_total, 0,
              i < 2 ? cost_unit : max_qol, 0, &cs, verbose);
    for (size_t i = 0; a && i < N_COMP; i++)
      compare(&mc->comps[a], &ex->comps[a], mc, comp_arrays[i], z, m_total, 0,
              i < 2 ? 2 * cost_unit : 2 * max_qol * mc_model->step_months / 12, 1, &cs,
              verbose);
  }
  if (verbose)
    printf("  %zu cells in %zu arm(s), z = %.2f, largest |mean - expected| / mcse = %.2f, "
           "failures %zu\n",
           cs.cells, mc->n_arms, z, cs.worst_z, cs.failures);
  free(use);
  fl_results_free(mc);
  fl_results_free(ex);
  return cs;
}

static void test_scenario(const char *rel, size_t R) {
  fl_model *m = load_source_model(rel);
  printf("%s, R = %zu:\n", rel, R);
  cmp_stats cs = mc_vs_expect(m, m, R, 2024, 1);
  CHECK_INT_EQ(cs.failures, 0);
  CHECK(cs.cells > 100);
  fl_model_free(m);
}

/* The comparison has power: a model whose universal -> additional probability is 5% higher
 * than the simulated one is detected. */
static void test_power(void) {
  char path[1024], *text = NULL, *p;
  size_t len;
  fl_error err = {0};
  snprintf(path, sizeof path, "%s/scenarios/dundee.yaml", source_dir());
  if (fl_read_file(path, &text, &len, &err) != FL_OK) exit(1);
  p = strstr(text, "additional: 0.008526");
  CHECK(p != NULL);
  if (!p) return;
  memcpy(p, "additional: 0.008952", 20);
  fl_model *shifted = load_text_model(text);
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  printf("power check (expectation of a model with U->A 5%% higher):\n");
  cmp_stats cs = mc_vs_expect(m, shifted, 60, 77, 0);
  printf("  %zu of %zu cells flagged, largest z %.1f\n", cs.failures, cs.cells, cs.worst_z);
  CHECK(cs.failures > 0);
  fl_model_free(m);
  fl_model_free(shifted);
  free(text);
}

/* Expectation mode against an independent Markov trace of the HIV model (yearly cycles,
 * costs at the start of each cycle, 6% discounting), written out here by hand. */
static void test_hiv_trace(void) {
  static const double P[4][4] = {{0.721, 0.202, 0.067, 0.010},
                                 {0, 0.581, 0.407, 0.012},
                                 {0, 0, 0.750, 0.250},
                                 {0, 0, 0, 1}};
  static const double cost[4] = {1701 + 1055 + 2278, 1774 + 1278 + 2278, 6948 + 2059 + 2278, 0};
  fl_model *m = load_source_model("scenarios/examples/hiv_markov.yaml");
  fl_results *ex = expect_model(m);
  const fl_array *st = array_of(ex, "stocks"), *cs = array_of(ex, "costs");
  const fl_array *csd = array_of(ex, "costs_discounted"), *q = array_of(ex, "qol");
  double x[4] = {1000, 0, 0, 0}, total_disc = 0, life_years = 0, engine_disc = 0, engine_ly = 0;
  for (size_t t = 0; t <= 20; t++) {
    for (size_t s = 0; s < 4; s++) CHECK_DBL_NEAR(value_at(st, t * 4 + s), x[s], 1e-6);
    if (t == 20) break;
    double c = 0, y[4] = {0};
    for (size_t s = 0; s < 4; s++) c += x[s] * cost[s];
    double engine_c = value_at(cs, t * 3) + value_at(cs, t * 3 + 1) + value_at(cs, t * 3 + 2);
    CHECK_DBL_NEAR(engine_c, c, 1e-6 * c + 1e-6);
    total_disc += c / pow(1.06, (double)t);
    life_years += x[0] + x[1] + x[2];
    engine_disc += value_at(csd, t * 3) + value_at(csd, t * 3 + 1) + value_at(csd, t * 3 + 2);
    engine_ly += value_at(q, t);
    for (size_t s = 0; s < 4; s++)
      for (size_t j = 0; j < 4; j++) y[j] += x[s] * P[s][j];
    memcpy(x, y, sizeof x);
  }
  CHECK_DBL_NEAR(engine_disc, total_disc, 1e-6 * total_disc);
  CHECK_DBL_NEAR(engine_ly, life_years, 1e-8 * life_years); /* probabilities are quantised to 2^-32 */
  printf("HIV model: %.4f life years per patient over 20 years, discounted cost %.0f per "
         "patient\n",
         life_years / 1000, total_disc / 1000);
  fl_results_free(ex);
  fl_model_free(m);
}

int main(int argc, char **argv) {
  /* FLOURISH_STAT_SCALE < 1 shortens the runs (e.g. under sanitizers); tolerances follow R. */
  const char *scale_env = getenv("FLOURISH_STAT_SCALE");
  double scale = scale_env ? atof(scale_env) : 1.0;
  (void)argc;
  (void)argv;
  if (!(scale > 0)) scale = 1.0;
  test_hiv_trace();
  test_scenario("scenarios/examples/hiv_markov.yaml", (size_t)(4000 * scale));
  test_scenario("scenarios/examples/rates_yearly.yaml", (size_t)(1000 * scale));
  test_scenario("scenarios/examples/semi_markov.yaml", (size_t)(1000 * scale));
  test_scenario("scenarios/dundee.yaml", (size_t)(150 * scale) < 20 ? 20 : (size_t)(150 * scale));
  test_power();
  return check_finish("stat");
}
