/* flourish fit: the lean expectation pass against expectation mode (both of its paths), the
 * likelihood against a hand computation on a two-state model, the observation models against
 * scipy's densities, the diagnostics, thread-count invariance of the draws, and (with the
 * argument sbc) simulation-based calibration: over synthetic series drawn from known
 * parameters with the model's observation noise, the 90% intervals cover the truth as often
 * as the binomial allows. */
#include "testutil.h"

#include "core/rng.h"
#include "data/fit.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_cdf.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>

static const char *tmpdir(void) {
  const char *t = getenv("TMPDIR");
  return t && *t ? t : "/tmp";
}

static void write_text(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (!f || fputs(text, f) < 0 || fclose(f)) {
    perror(path);
    exit(1);
  }
}

/* The lean pass's stocks, flows, entries and exits, summed over localities, are expectation
 * mode's baseline. */
static void check_series(const fl_model *m, const char *what) {
  fl_results *res = NULL;
  fl_error err;
  const fl_series *sr;
  fl_series_ws *w = fl_series_ws_create(m);
  CHECK(w != NULL);
  CHECK_INT_EQ(fl_expect(m, &res, &err), FL_OK);
  CHECK_INT_EQ(fl_expect_series(m, w, &sr, &err), FL_OK);
  /* Twice: the workspace is reused. */
  CHECK_INT_EQ(fl_expect_series(m, w, &sr, &err), FL_OK);
  const size_t S = m->S, T = m->T, L = m->NLOC;
  const double *st = fl_results_get(res, 0, FL_OUT_STOCKS)->data;
  const double *fl = fl_results_get(res, 0, FL_OUT_FLOWS)->data;
  const double *en = fl_results_get(res, 0, FL_OUT_ENTRIES)->data;
  const double *ex = fl_results_get(res, 0, FL_OUT_EXITS)->data;
  double worst = 0;
  for (size_t t = 0; t <= T; t++)
    for (size_t s = 0; s < S; s++) {
      double a = 0, b = 0, c = 0, d = 0;
      for (size_t l = 0; l < L; l++) {
        a += sr->stocks[(t * L + l) * S + s];
        if (t < T) {
          b += sr->entries[(t * L + l) * S + s];
          c += sr->exits[(t * L + l) * S + s];
        }
      }
      worst = fmax(worst, fabs(a - st[t * S + s]) / fmax(1, st[t * S + s]));
      if (t == T) continue;
      worst = fmax(worst, fabs(b - en[t * S + s]) / fmax(1, en[t * S + s]));
      worst = fmax(worst, fabs(c - ex[t * S + s]) / fmax(1, ex[t * S + s]));
      for (size_t j = 0; j < S; j++) {
        d = 0;
        for (size_t l = 0; l < L; l++) d += sr->flows[((t * L + l) * S + s) * S + j];
        worst = fmax(worst, fabs(d - fl[(t * S + s) * S + j]) / fmax(1, fl[(t * S + s) * S + j]));
      }
    }
  if (worst > 1e-10) fprintf(stderr, "%s: largest relative difference %g\n", what, worst);
  CHECK_DBL_LE(worst, 1e-10);
  fl_results_free(res);
  fl_series_ws_free(w);
}

/* A cohort model whose entrants reach the maximum age within the horizon (entry cohorts kept a
 * step apart), with out-migration and two localities. */
static const char *young =
    "flourish: 1\nname: young\ntime: {step_months: 1, horizon_steps: 40, start: 2020-01}\n"
    "levels: [u, l]\ncosts: {budget_holders: [c], per: month}\n"
    "states:\n  u: {level: u, qol: 0.9}\n  l: {level: l, qol: 0.7, cost: {c: 10}}\n"
    "localities:\n  a: {share: 2, escalation_multiplier: 1.5}\n  b: {share: 1}\n"
    "population:\n  max_age_years: 2\n  out_migration_per_year: 0.05\n"
    "  initial:\n    - {state: u, count: 500, age_years: [0, 2]}\n"
    "    - {state: l, count: 40, age_years: [1, 2], locality: b}\n"
    "  entries:\n    births: {per_year: 120, states: {u: 0.9, l: 0.1}}\n"
    "    movers: {per_year: 30, age_years: [0, 2], states: {u: 1}}\n"
    "transitions:\n  tables:\n    - rows:\n        u: {u: rest, l: 0.01}\n"
    "        l: {u: 0.04, l: rest}\n";

static void test_series(void) {
  fl_model *m = load_source_model("scenarios/examples/semi_markov.yaml");
  CHECK(m->NA > 1 || m->ND > 1); /* the grid path */
  check_series(m, "semi_markov");
  fl_model_free(m);
  m = load_source_model("scenarios/dundee.yaml");
  CHECK(m->NA == 1 && m->ND == 1); /* the cohort path */
  check_series(m, "dundee");
  fl_model_free(m);
  m = load_text_model(young);
  check_series(m, "young");
  fl_model_free(m);
}

/* The two-state model of the hand computation: no ages, no entries, one locality. */
static const char *two_state =
    "flourish: 1\nname: two\ntime: {step_months: 1, horizon_steps: 60, start: 2020-01}\n"
    "levels: [u, l]\ncosts: {budget_holders: [c], per: month}\n"
    "states:\n  u: {level: u, qol: 0.9}\n  l: {level: l, qol: 0.7}\n"
    "population:\n  initial:\n    - {state: u, count: 9000}\n    - {state: l, count: 300}\n"
    "transitions:\n  tables:\n    - rows:\n        u: {u: rest, l: 0.002}\n"
    "        l: {u: 0.03, l: rest}\n";

typedef struct fixture {
  char scen[512], obs[512];
} fixture;

static void fixture_make(fixture *f, const char *scenario, const char *obs, const char *tag) {
  snprintf(f->scen, sizeof f->scen, "%s/flourish-fit-%d-%s.yaml", tmpdir(), (int)getpid(), tag);
  snprintf(f->obs, sizeof f->obs, "%s/flourish-fit-%d-%s.csv", tmpdir(), (int)getpid(), tag);
  write_text(f->scen, scenario);
  write_text(f->obs, obs);
}

static void fixture_drop(const fixture *f) {
  unlink(f->scen);
  unlink(f->obs);
}

static fl_fit_problem *problem(const fixture *f, const char *const *params, size_t n,
                               const char *noise, int threads) {
  fl_fit_options opt;
  fl_fit_problem *p = NULL;
  fl_error err;
  fl_fit_options_init(&opt);
  opt.scenario = f->scen;
  opt.observed = f->obs;
  opt.params = params;
  opt.n_params = n;
  opt.noise = noise;
  opt.threads = threads;
  if (fl_fit_problem_create(&opt, &p, &err) != FL_OK) {
    char buf[2048];
    fl_error_format(&err, buf, sizeof buf);
    fprintf(stderr, "fit problem: %s\n", buf);
    exit(1);
  }
  return p;
}

/* The recurrence by hand: L(t+1) = L(t) (1 - q) + U(t) p, U the rest of a population that
 * neither grows nor shrinks; entries of l in a period: the sum of U(t) p over its steps. */
static void test_likelihood(void) {
  fixture f;
  fixture_make(&f, two_state,
               "date,measure,value\n2020-01-01,l,300\n2021-01-01,l,420\n2022-01,l,470\n"
               "2022-01-01,entries:l,400\n2021-07-15,u,8800\n",
               "lik");
  const char *params[] = {"transitions.tables[0].rows.u.l=0.0005:0.01",
                          "transitions.tables[0].rows.l.u=0.005:0.2"};
  fl_fit_problem *p = problem(&f, params, 2, NULL, 1);
  CHECK_INT_EQ(p->T, 24);
  CHECK_INT_EQ(p->n_obs, 5);
  CHECK(p->obs[0].used_initial);
  CHECK_INT_EQ(p->obs[4].t, 18); /* 2021-07-15 is nearer July's start than August's */
  const double theta[2] = {0.004, 0.05};
  double U = 9000, L = 300, Lt[25], Ut[25], ent = 0;
  for (int t = 0; t <= 24; t++) {
    Lt[t] = L;
    Ut[t] = U;
    if (t == 24) break;
    const double up = U * theta[0], down = L * theta[1];
    ent += up;
    U += down - up;
    L += up - down;
  }
  double ll, mu[5];
  fl_error err;
  CHECK_INT_EQ(fl_fit_loglik(p, 0, theta, &ll, mu, &err), FL_OK);
  /* Quantised probabilities differ from the decimals by under 2^-32. */
  CHECK_DBL_NEAR(mu[1], Lt[12], 1e-5);
  CHECK_DBL_NEAR(mu[2], Lt[24], 1e-5);
  CHECK_DBL_NEAR(mu[3], ent, 1e-5);
  CHECK_DBL_NEAR(mu[4], Ut[18], 1e-5);
  const double y[5] = {300, 420, 470, 400, 8800};
  double want = 0;
  for (int j = 1; j < 5; j++) want += y[j] * log(mu[j]) - mu[j] - lgamma(y[j] + 1);
  CHECK_DBL_NEAR(ll, want, 1e-9);
  /* The densities against scipy.stats (poisson.logpmf(95, 97.3), nbinom.logpmf(95, 20,
   * 20 / (20 + 97.3)), norm.logpdf(95, 97.3, 4)). */
  fl_obs o = {.value = 95};
  CHECK_DBL_NEAR(fl_fit_obs_logpdf(p, &o, 97.3), -3.2241548975628547, 1e-12);
  p->noise = FL_NOISE_NEGBIN;
  p->dispersion = 20;
  CHECK_DBL_NEAR(fl_fit_obs_logpdf(p, &o, 97.3), -4.079498647865353, 1e-12);
  o.sd = 4;
  CHECK_DBL_NEAR(fl_fit_obs_logpdf(p, &o, 97.3), -2.4705453943245628, 1e-12);
  /* A proposal that breaks the row's sum (l's row above 1) is outside the model, counted. */
  const double bad[2] = {0.004, 1.5};
  CHECK_INT_EQ(fl_fit_loglik(p, 0, bad, &ll, NULL, &err), FL_OK);
  CHECK(isinf(ll) && ll < 0);
  CHECK_INT_EQ(p->n_invalid, 1);
  fl_fit_problem_free(p);
  fixture_drop(&f);
}

/* ESS of AR(1) chains x_i = phi x_{i-1} + e: over 20 independent sets of chains, its mean is
 * m n (1 - phi) / (1 + phi) within 4 standard errors of that mean (from the 20 values'
 * spread). R-hat is near 1, and well above when one chain is shifted. */
static void test_diagnostics(void) {
  const size_t m = 8, n = 2000, sets = 20;
  const double phi = 0.5, want = (double)(m * n) * (1 - phi) / (1 + phi);
  double *x = calloc(m * n, sizeof *x), ratio[20];
  gsl_rng *g = fl_rng_gsl_alloc();
  for (size_t r = 0; r < sets; r++) {
    fl_rng_init_stream(fl_rng_gsl_state(g), 7, r, 0, FL_PURPOSE_FIT);
    for (size_t c = 0; c < m; c++) {
      double v = gsl_ran_ugaussian(g) / sqrt(1 - phi * phi);
      for (size_t i = 0; i < n; i++) x[c * n + i] = v = phi * v + gsl_ran_ugaussian(g);
    }
    ratio[r] = fl_fit_ess(x, m, n) / want;
    CHECK_DBL_LE(fl_fit_rhat(x, m, n), 1.01);
  }
  const double mean = gsl_stats_mean(ratio, 1, sets), se = gsl_stats_sd(ratio, 1, sets) / sqrt((double)sets);
  CHECK_DBL_NEAR(mean, 1, 4 * se);
  for (size_t i = 0; i < n; i++) x[i] += 3;
  CHECK(fl_fit_rhat(x, m, n) > 1.1);
  gsl_rng_free(g);
  free(x);
}

/* The same draws, byte for byte, on 1 and 3 threads. */
static void test_threads(void) {
  fixture f;
  fixture_make(&f, two_state,
               "date,measure,value\n2020-01-01,l,300\n2021-01-01,l,420\n2022-01-01,l,470\n"
               "2022-01-01,entries:l,400\n",
               "thr");
  const char *params[] = {"transitions.tables[0].rows.u.l=0.0005:0.01",
                          "transitions.tables[0].rows.l.u=0.005:0.2"};
  fl_fit_chain ch[2];
  for (int k = 0; k < 2; k++) {
    fl_fit_problem *p = problem(&f, params, 2, NULL, k ? 3 : 1);
    fl_fit_options opt;
    fl_error err;
    fl_fit_options_init(&opt);
    opt.seed = 11;
    opt.walkers = 8;
    opt.iterations = 40;
    opt.burn_in = 20;
    CHECK_INT_EQ(fl_fit_sample(p, &opt, &ch[k], &err), FL_OK);
    fl_fit_problem_free(p);
  }
  CHECK_INT_EQ(ch[0].W * ch[0].N, ch[1].W * ch[1].N);
  CHECK(ch[0].x && ch[1].x && !memcmp(ch[0].x, ch[1].x, ch[0].W * ch[0].N * 2 * sizeof(double)));
  free(ch[0].x);
  free(ch[1].x);
  fixture_drop(&f);
}

/* Simulation-based calibration: truths drawn from the priors, yearly stocks and entries of l
 * drawn from the Poisson observation model around the expected series, a short fit of each;
 * the 90% central interval of each parameter covers its truth in a binomial(n, 0.9) number of
 * fits, so a count outside the binomial's central 99.9% range fails. */
static void test_sbc(size_t n_fits) {
  const char *params[] = {"transitions.tables[0].rows.u.l=0.001:0.006",
                          "transitions.tables[0].rows.l.u=0.01:0.08"};
  const double lo[2] = {0.001, 0.01}, hi[2] = {0.006, 0.08};
  size_t covered[2] = {0, 0};
  gsl_rng *g = fl_rng_gsl_alloc();
  fixture f;
  char obs[4096];
  fixture_make(&f, two_state, "date,measure,value\n2020-01-01,l,300\n2025-01-01,l,1\n", "sbc");
  for (size_t r = 0; r < n_fits; r++) {
    fl_rng_init_stream(fl_rng_gsl_state(g), 2024, r, 0, FL_PURPOSE_FIT);
    double truth[2], mu[64], ll;
    fl_error err;
    for (int k = 0; k < 2; k++) truth[k] = lo[k] + (hi[k] - lo[k]) * gsl_rng_uniform(g);
    /* The expected series at the truth, from a problem with the same dates. */
    size_t n = (size_t)snprintf(obs, sizeof obs, "date,measure,value\n2020-01-01,l,300\n");
    for (int y = 2021; y <= 2025; y++)
      n += (size_t)snprintf(obs + n, sizeof obs - n, "%d-01-01,l,0\n%d-01-01,entries:l,0\n", y, y);
    write_text(f.obs, obs);
    fl_fit_problem *p = problem(&f, params, 2, NULL, 0);
    CHECK_INT_EQ(fl_fit_loglik(p, 0, truth, &ll, mu, &err), FL_OK);
    n = (size_t)snprintf(obs, sizeof obs, "date,measure,value\n2020-01-01,l,300\n");
    for (size_t j = 1; j < p->n_obs; j++)
      n += (size_t)snprintf(obs + n, sizeof obs - n, "%s,%s,%u\n", p->obs[j].date,
                            p->obs[j].measure, gsl_ran_poisson(g, mu[j]));
    fl_fit_problem_free(p);
    write_text(f.obs, obs);
    p = problem(&f, params, 2, NULL, 0);
    fl_fit_options opt;
    fl_fit_chain ch;
    fl_fit_options_init(&opt);
    opt.seed = 100 + r;
    opt.walkers = 10;
    opt.iterations = 200;
    opt.burn_in = 100;
    CHECK_INT_EQ(fl_fit_sample(p, &opt, &ch, &err), FL_OK);
    const size_t M = ch.W * ch.N;
    double *v = calloc(M, sizeof *v);
    for (int k = 0; k < 2; k++) {
      for (size_t i = 0; i < M; i++) v[i] = ch.x[i * 2 + k];
      gsl_sort(v, 1, M);
      const double q05 = gsl_stats_quantile_from_sorted_data(v, 1, M, 0.05);
      const double q95 = gsl_stats_quantile_from_sorted_data(v, 1, M, 0.95);
      covered[k] += truth[k] >= q05 && truth[k] <= q95;
    }
    free(v);
    free(ch.x);
    fl_fit_problem_free(p);
  }
  fixture_drop(&f);
  gsl_rng_free(g);
  /* The binomial's central 99.9%: the smallest and largest counts with tail probability
   * above 0.0005. */
  unsigned lo_ok = 0, hi_ok = (unsigned)n_fits;
  while (gsl_cdf_binomial_P(lo_ok, 0.9, (unsigned)n_fits) < 0.0005) lo_ok++;
  while (hi_ok > 0 && gsl_cdf_binomial_Q(hi_ok - 1, 0.9, (unsigned)n_fits) < 0.0005) hi_ok--;
  for (int k = 0; k < 2; k++) {
    printf("sbc: %s: the 90%% interval covers the truth in %zu of %zu fits (%.1f%%; the "
           "binomial's central 99.9%% range is %u to %u)\n",
           params[k], covered[k], n_fits, 100.0 * (double)covered[k] / (double)n_fits, lo_ok,
           hi_ok);
    CHECK(covered[k] >= lo_ok && covered[k] <= hi_ok);
  }
}

int main(int argc, char **argv) {
  gsl_set_error_handler_off(); /* fl_fit_loglik compiles with GSL's handler off */
  if (argc > 1 && !strcmp(argv[1], "sbc")) {
    /* FLOURISH_STAT_SCALE below 1 (the sanitizer and shared-library stages of scripts/test.sh)
     * fits fewer series, at least 12; the range of counts follows the number fitted. */
    size_t n = argc > 2 ? (size_t)atol(argv[2]) : 100;
    const char *scale_env = getenv("FLOURISH_STAT_SCALE");
    const double scale = scale_env ? atof(scale_env) : 1.0;
    if (scale > 0 && scale < 1) n = (size_t)fmax(12.0, (double)n * scale);
    test_sbc(n);
    return check_finish("test_fit sbc");
  }
  test_series();
  test_likelihood();
  test_diagnostics();
  test_threads();
  return check_finish("test_fit");
}
