/* Parameter uncertainty: rows drawn from Dirichlet(counts + prior) collapse to the point
 * estimate with huge counts and have the Dirichlet mean and variance with tiny counts; runs
 * with --psa are reproducible for any thread count; the variance split is well formed. */
#include "testutil.h"

#include "sim/psa.h"

static const char *model_yaml(double scale, char *buf, size_t size) {
  snprintf(buf, size,
           "flourish: 1\nname: psa\ntime: {step_months: 1, horizon_steps: 24}\n"
           "levels: [low, mid, high]\n"
           "states: {well: {level: low}, need: {level: mid}, care: {level: high}}\n"
           "population: {max_age_years: 18, initial: [{state: well, count: 2000, "
           "age_years: [0, 18]}, {state: need, count: 300, age_years: [0, 18]}]}\n"
           "transitions:\n  tables:\n    - rows:\n"
           "        well: {well: rest, need: 0.02, care: 0.002}\n"
           "        need: {well: 0.1, need: 0.7, care: 0.2}\n"
           "        care: {need: 0.05, care: rest}\n"
           "      counts:\n"
           "        need: {well: %.17g, need: %.17g, care: %.17g}\n",
           1 * scale, 7 * scale, 2 * scale);
  return buf;
}

/* The drawn row of 'need' (state 1) for block b. */
static void draw_need(const fl_model *m, fl_psa *p, uint64_t block, double prior, double *row) {
  fl_arm_tables tabs[FL_MAX_ARMS];
  fl_error err = {0};
  CHECK_INT_EQ(fl_psa_prepare(m, p, 99, block, prior, tabs, &err), FL_OK);
  memcpy(row, tabs[0].base_p + 1 * m->S, m->S * sizeof *row);
}

static void test_huge_counts_collapse(void) {
  char buf[2048];
  fl_model *m = load_text_model(model_yaml(1e12, buf, sizeof buf));
  fl_psa *p = fl_psa_create(m);
  double row[3];
  for (uint64_t b = 0; b < 20; b++) {
    draw_need(m, p, b, 0.5, row);
    CHECK_DBL_NEAR(row[0], 0.1, 1e-5);
    CHECK_DBL_NEAR(row[1], 0.7, 1e-5);
    CHECK_DBL_NEAR(row[2], 0.2, 1e-5);
  }
  fl_psa_free(p);
  fl_model_free(m);
}

/* Counts 1, 7, 2 with prior 0.5: alpha = (1.5, 7.5, 2.5), alpha0 = 11.5. The mean and variance
 * of each component over N draws are compared with the Dirichlet's, within 5 standard errors
 * (for the variance, the standard error of a sample variance, sqrt((m4 - var^2) / N), with the
 * fourth central moment estimated from the same draws). */
static void test_tiny_counts_spread(void) {
  char buf[2048];
  fl_model *m = load_text_model(model_yaml(1, buf, sizeof buf));
  fl_psa *p = fl_psa_create(m);
  const size_t N = 20000;
  const double alpha[3] = {1.5, 7.5, 2.5}, a0 = 11.5;
  double s1[3] = {0}, s2[3] = {0}, row[3];
  double *draws = malloc(N * 3 * sizeof *draws);
  for (uint64_t b = 0; b < N; b++) {
    draw_need(m, p, b, 0.5, row);
    CHECK_DBL_NEAR(row[0] + row[1] + row[2], 1, 1e-12);
    for (int j = 0; j < 3; j++) {
      draws[b * 3 + j] = row[j];
      s1[j] += row[j];
    }
  }
  for (int j = 0; j < 3; j++) {
    const double mean = s1[j] / N, want_mean = alpha[j] / a0;
    const double want_var = alpha[j] * (a0 - alpha[j]) / (a0 * a0 * (a0 + 1));
    double m4 = 0;
    for (size_t b = 0; b < N; b++) {
      const double d = draws[b * 3 + j] - mean;
      s2[j] += d * d;
      m4 += d * d * d * d;
    }
    const double var = s2[j] / (N - 1);
    m4 /= N;
    CHECK_DBL_NEAR(mean, want_mean, 5 * sqrt(want_var / N));
    CHECK_DBL_NEAR(var, want_var, 5 * sqrt((m4 - var * var) / N));
  }
  free(draws);
  fl_psa_free(p);
  fl_model_free(m);
}

static void test_runs(void) {
  char buf[2048];
  fl_model *m = load_text_model(model_yaml(1, buf, sizeof buf));
  fl_run_options opt;
  fl_results *r1 = NULL, *r2 = NULL;
  fl_error err = {0};
  fl_run_options_init(&opt);
  opt.replications = 12;
  opt.seed = 5;
  opt.psa = 1;
  opt.psa_inner = 3;
  opt.threads = 1;
  CHECK_INT_EQ(fl_run(m, &opt, &r1, &err), FL_OK);
  opt.threads = 2;
  CHECK_INT_EQ(fl_run(m, &opt, &r2, &err), FL_OK);
  const fl_array *a = array_of(r1, "stocks"), *b = array_of(r2, "stocks");
  CHECK(!memcmp(a->data, b->data, fl_array_count(a) * sizeof(int32_t)));
  const fl_array *v = array_of(r1, "variance_decomposition/total_cost");
  CHECK(value_at(v, 0) >= 0 && value_at(v, 1) >= 0);
  CHECK(value_at(v, 2) >= 0 && value_at(v, 2) <= 1);
  fl_results_free(r1);
  fl_results_free(r2);
  /* Replications not a whole number of blocks: a usage error. */
  opt.replications = 10;
  CHECK_INT_EQ(fl_run(m, &opt, &r1, &err), FL_EUSAGE);
  fl_model_free(m);
}

/* Sample mean and variance of x[N] against a distribution's, within 5 standard errors. */
static void check_moments(const double *x, size_t N, double mean, double sd) {
  double s1 = 0, s2 = 0, m4 = 0;
  for (size_t i = 0; i < N; i++) s1 += x[i];
  const double mu = s1 / N;
  for (size_t i = 0; i < N; i++) {
    s2 += (x[i] - mu) * (x[i] - mu);
    m4 += pow(x[i] - mu, 4);
  }
  const double var = s2 / (N - 1);
  m4 /= N;
  CHECK_DBL_NEAR(mu, mean, 5 * sd / sqrt((double)N));
  CHECK_DBL_NEAR(var, sd * sd, 5 * sqrt((m4 - var * var) / N));
}

/* The uncertainty section: gamma costs, beta QoL weights and lognormal multipliers have the
 * stated means and standard deviations; a run charges each replication its drawn costs. */
static void test_uncertainty(void) {
  static const char *yaml =
      "flourish: 1\nname: unc\ntime: {step_months: 1, horizon_steps: 12}\n"
      "levels: [low, high]\ncosts: {budget_holders: [council], per: year}\n"
      "states: {well: {level: low, qol: 0.9}, ill: {level: high, qol: 0.6, cost: {council: 12000}}}\n"
      "population: {initial: [{state: well, count: 500}, {state: ill, count: 100}]}\n"
      "transitions: {tables: [{rows: {well: {well: rest, ill: 0.05}, ill: {well: 0.1, ill: rest}}}]}\n"
      "arms: {help: {interventions: {h: {escalation: 0.8}}}}\n"
      "uncertainty:\n"
      "  - {key: states.ill.cost.council, distribution: gamma, sd: 3000}\n"
      "  - {key: states.ill.qol, distribution: beta, mean: 0.6, sd: 0.05}\n"
      "  - {key: arms.help.interventions.h.escalation, distribution: lognormal, sd: 0.1}\n";
  fl_model *m = load_text_model(yaml);
  fl_psa *p = fl_psa_create(m);
  const size_t N = 20000;
  double *c = malloc(N * sizeof *c), *q = malloc(N * sizeof *q), *e = malloc(N * sizeof *e);
  fl_arm_tables tabs[FL_MAX_ARMS];
  fl_error err = {0};
  for (size_t b = 0; b < N; b++) {
    CHECK_INT_EQ(fl_psa_prepare(m, p, 3, b, 0.5, tabs, &err), FL_OK);
    c[b] = fl_psa_cost(p)[1] * 12; /* per step (a month) back to per year */
    q[b] = fl_psa_qol(p)[1];
    e[b] = tabs[1].arm->ints[0].param[0]; /* the transition kind's escalation */
  }
  check_moments(c, N, 12000, 3000);
  check_moments(q, N, 0.6, 0.05);
  check_moments(e, N, 0.8, 0.1);
  free(c);
  free(q);
  free(e);
  fl_psa_free(p);
  /* A run: replication r's costs use its drawn cost. */
  fl_run_options opt;
  fl_results *res = NULL;
  fl_run_options_init(&opt);
  opt.replications = 4;
  opt.psa = 1;
  CHECK_INT_EQ(fl_run(m, &opt, &res, &err), FL_OK);
  const fl_array *pc = array_of(res, "parameters/cost"), *cost = array_of(res, "costs");
  const fl_array *st = array_of(res, "stocks");
  for (size_t r = 0; r < res->R; r++) {
    const double unit = value_at(pc, r * 2 + 1);
    CHECK_DBL_NEAR(value_at(cost, r * 12), value_at(st, r * 13 * 2 + 1) * unit, 1e-9 * unit);
  }
  CHECK(value_at(pc, 1) != value_at(pc, 3));
  fl_results_free(res);
  fl_model_free(m);
}

/* Under --psa an arm reinvests the savings it realises at the replication's drawn costs, the
 * costs its derived costs use: each step's spend on the funded intervention is its own plus the
 * fraction of the saving `delay` steps before, worked out here from the tallies and the drawn
 * costs (parameters/cost). (Reinvestment once used the point-estimate costs.) */
static void test_reinvest_drawn_costs(void) {
  static const char *yaml =
      "flourish: 1\nname: reinvest under psa\ntime: {step_months: 1, horizon_steps: 24}\n"
      "levels: [low, high]\ncosts: {budget_holders: [council, health], per: month}\n"
      "states: {well: {level: low}, ill: {level: high, cost: {council: 900, health: 300}}}\n"
      "population: {initial: [{state: well, count: 4000}, {state: ill, count: 400}]}\n"
      "transitions: {tables: [{rows: {well: {well: rest, ill: 0.02}, ill: {well: 0.1, ill: rest}}}]}\n"
      "arms:\n"
      "  fund:\n"
      "    interventions:\n"
      "      p: {levels: [low], escalation: 0.7, spend_per_month: 5000, half_saturation: 5000,\n"
      "          budget_holder: council}\n"
      "    reinvest: {fraction: 0.5, from: [council], delay_months: 2, into: p}\n"
      "uncertainty:\n"
      "  - {key: states.ill.cost.council, distribution: gamma, sd: 400}\n";
  fl_model *m = load_text_model(yaml);
  fl_run_options opt;
  fl_results *res = NULL;
  fl_error err = {0};
  fl_run_options_init(&opt);
  opt.replications = 6;
  opt.seed = 11;
  opt.psa = 1;
  CHECK_INT_EQ(fl_run(m, &opt, &res, &err), FL_OK);
  const size_t S = m->S, B = m->B, T = m->T;
  const fl_array *pc = fl_results_get(res, 0, FL_OUT_PARAM_COST);
  const fl_array *bst = fl_results_get(res, 0, FL_OUT_STOCKS);
  const fl_array *ben = fl_results_get(res, 0, FL_OUT_ENTRIES);
  const fl_array *ast = fl_results_get(res, 1, FL_OUT_STOCKS);
  const fl_array *aen = fl_results_get(res, 1, FL_OUT_ENTRIES);
  const fl_array *spend = fl_results_get(res, 1, FL_OUT_IV_SPEND);
  double worst = 0, drawn_apart = 0;
  for (size_t r = 0; r < res->R; r++) {
    double saving[64] = {0};
    const double council = value_at(pc, (r * S + 1) * B + 0);
    drawn_apart = fmax(drawn_apart, fabs(council - 900));
    for (size_t t = 0; t < T; t++) {
      for (size_t s = 0; s < S; s++) {
        const double b = value_at(bst, (r * (T + 1) + t) * S + s) + value_at(ben, (r * T + t) * S + s);
        const double a = value_at(ast, (r * (T + 1) + t) * S + s) + value_at(aen, (r * T + t) * S + s);
        saving[t] += (b - a) * value_at(pc, (r * S + s) * B + 0);
      }
      double want = 5000;
      if (t >= 2 && saving[t - 2] > 0) want += 0.5 * saving[t - 2];
      worst = fmax(worst, fabs(value_at(spend, r * T + t) - want) / want);
    }
  }
  CHECK_DBL_LE(worst, 1e-12);
  CHECK(drawn_apart > 1); /* the drawn costs are not the point estimate */
  fl_results_free(res);
  fl_model_free(m);
}

int main(void) {
  test_reinvest_drawn_costs();
  test_uncertainty();
  test_huge_counts_collapse();
  test_tiny_counts_spread();
  test_runs();
  return check_finish("psa");
}
