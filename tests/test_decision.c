/* Decisions across all arms: the cost-effectiveness frontier on hand-made cost and QALY sets
 * whose dominance and extended dominance are worked out by hand (ties, an arm equal to the
 * baseline, a cascade of extended dominance), and the EVPI against the closed form for two arms
 * whose NMB difference is normal, within bounds from the Monte Carlo error; then both as a run
 * and an expectation write them. */
#include "results/decision.h"
#include "testutil.h"

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <stdlib.h>

enum { ON = FL_FRONTIER_ON, DOM = FL_FRONTIER_DOMINATED, EXT = FL_FRONTIER_EXTENDED,
       EQ = FL_FRONTIER_EQUAL };

/* Runs the frontier on n arms and checks every status, by and (on the frontier) ICER. */
static void check_frontier(size_t n, const double *c, const double *q, const int *status,
                           const int *by, const double *icer) {
  int st[FL_FRONTIER_MAX], b[FL_FRONTIER_MAX];
  double ic[FL_FRONTIER_MAX];
  fl_frontier(n, c, q, st, b, ic);
  for (size_t i = 0; i < n; i++) {
    CHECK_INT_EQ(st[i], status[i]);
    CHECK_INT_EQ(b[i], by[i]);
    if (isnan(icer[i])) CHECK(isnan(ic[i]));
    else CHECK_DBL_NEAR(ic[i], icer[i], 1e-9 * fabs(icer[i]));
  }
}

static void test_frontier(void) {
  /* Strict and extended dominance: B's ICER against A (20,000) exceeds C's against B (1,667),
   * so B goes; D costs more than C for fewer QALYs. Frontier 0, A, C, E with ICERs 2,000,
   * 3,000 / 0.7 and 4,000 / 0.3. */
  {
    const double c[] = {0, 1000, 3000, 4000, 5000, 8000}, q[] = {0, 0.5, 0.6, 1.2, 1.0, 1.5};
    const int st[] = {ON, ON, EXT, ON, DOM, ON}, by[] = {-1, -1, 3, -1, 3, -1};
    const double ic[] = {NAN, 2000, NAN, 3000 / 0.7, NAN, 4000 / 0.3};
    check_frontier(6, c, q, st, by, ic);
  }
  /* A cascade: Q (ICER 15 against P) is extendedly dominated by R (3 against Q); once Q is
   * gone P's ICER (10) exceeds R's against P (9), so P goes too. The order of the arms does not
   * matter. */
  {
    const double c[] = {28, 0, 25, 10}, q[] = {3, 0, 2, 1};
    const int st[] = {ON, ON, EXT, EXT}, by[] = {-1, -1, 0, 0};
    const double ic[] = {28.0 / 3, NAN, NAN, NAN};
    check_frontier(4, c, q, st, by, ic);
  }
  /* Ties: X and Y cost the same and Y gains more (X dominated); Z gains as much as Y at a
   * higher cost (dominated); W is the baseline again (equal); V equals Y (equal, Y stands). */
  {
    const double c[] = {0, 10, 10, 12, 0, 10}, q[] = {0, 1, 2, 2, 0, 2};
    const int st[] = {ON, DOM, ON, DOM, EQ, EQ}, by[] = {-1, 2, -1, 2, 0, 2};
    const double ic[] = {NAN, NAN, 5, NAN, NAN, NAN};
    check_frontier(6, c, q, st, by, ic);
  }
  /* Three arms on a line (equal ICERs) all stay; an arm that saves money and gains QALYs
   * dominates the baseline, which then is not on the frontier. */
  {
    const double c[] = {0, 10, 20}, q[] = {0, 1, 2};
    const int st[] = {ON, ON, ON}, by[] = {-1, -1, -1};
    const double ic[] = {NAN, 10, 10};
    check_frontier(3, c, q, st, by, ic);
    const double c2[] = {0, -5, 20}, q2[] = {0, 1, 1.5};
    const int st2[] = {DOM, ON, ON}, by2[] = {1, -1, -1};
    const double ic2[] = {NAN, NAN, 50};
    check_frontier(3, c2, q2, st2, by2, ic2);
  }
  /* The baseline alone is the frontier; a NaN leaves every status -1. */
  {
    const double c[] = {0}, q[] = {0};
    const int st[] = {ON}, by[] = {-1};
    const double ic[] = {NAN};
    check_frontier(1, c, q, st, by, ic);
    const double c2[] = {0, NAN}, q2[] = {0, 1};
    const int st2[] = {-1, -1}, by2[] = {-1, -1};
    const double ic2[] = {NAN, NAN};
    check_frontier(2, c2, q2, st2, by2, ic2);
  }
}

/* The EVPI of two arms whose NMB difference D is normal with mean mu and sd sigma over the
 * parameters: E[max(0, D)] - max(0, mu) = sigma phi(mu / sigma) - |mu| Phi(-|mu| / sigma). */
static double evpi_normal(double mu, double sigma) {
  return sigma * gsl_ran_ugaussian_pdf(mu / sigma) - fabs(mu) * gsl_cdf_ugaussian_P(-fabs(mu) / sigma);
}

/* B blocks of K replications, D = theta_b + eps_bk with theta ~ N(mu, sd_theta), eps ~ N(0,
 * sd_eps) (the baseline's NMB 0): the estimate, and a bound of 4 Monte Carlo standard errors.
 * Over block means m_b the estimate is exactly the mean of g_b = max(0, m_b) - m_b [mean m > 0]
 * (as max(0, mean m) = mean m [mean m > 0]), so its standard error is sd(g) / sqrt(B). */
static double evpi_draws(gsl_rng *g, double mu, double sd_theta, double sd_eps, size_t B,
                         size_t K, double *bound) {
  fl_evpi *e = fl_evpi_create(2, 1, K);
  double *m = malloc(B * sizeof *m), total = 0;
  for (size_t b = 0; b < B; b++) {
    const double theta = mu + gsl_ran_gaussian(g, sd_theta);
    m[b] = 0;
    for (size_t k = 0; k < K; k++) {
      const double nmb[2] = {0, theta + gsl_ran_gaussian(g, sd_eps)};
      m[b] += nmb[1] / (double)K;
      fl_evpi_add(e, nmb);
    }
    total += m[b];
  }
  double v, s1 = 0, s2 = 0;
  fl_evpi_finish(e, &v);
  fl_evpi_free(e);
  for (size_t b = 0; b < B; b++) {
    const double gb = fmax(0, m[b]) - (total > 0 ? m[b] : 0);
    s1 += gb, s2 += gb * gb;
  }
  free(m);
  const double n = (double)B;
  *bound = 4 * sqrt(fmax(0, s2 / n - (s1 / n) * (s1 / n)) / n);
  return v;
}

static void test_evpi_closed_form(void) {
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 20261203);
  static const double cases[][2] = {{0, 1000}, {500, 1000}, {-1500, 1000}, {3000, 1000}};
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    double bound;
    const double est = evpi_draws(g, cases[i][0], cases[i][1], 0, 100000, 1, &bound);
    const double exact = evpi_normal(cases[i][0], cases[i][1]);
    fprintf(stderr, "evpi mu %g sd %g: %.3f, closed form %.3f, bound %.3f\n", cases[i][0],
            cases[i][1], est, exact, bound);
    CHECK_DBL_NEAR(est, exact, bound);
    CHECK(est >= 0);
  }
  /* Chance noise within blocks: with sd_eps = 2 sd_theta and K = 4 the block means have sd
   * sqrt(2) sd_theta, and the estimator targets the closed form there (41% too large), not at
   * sd_theta. */
  double bound;
  const double est = evpi_draws(g, 0, 1000, 2000, 50000, 4, &bound);
  const double biased = evpi_normal(0, sqrt(1000.0 * 1000 + 2000.0 * 2000 / 4));
  fprintf(stderr, "evpi with chance noise: %.3f, closed form at the block sd %.3f, at the "
          "parameter sd %.3f, bound %.3f\n", est, biased, evpi_normal(0, 1000), bound);
  CHECK_DBL_NEAR(est, biased, bound);
  CHECK(fabs(est - evpi_normal(0, 1000)) > 5 * bound);
  gsl_rng_free(g);
}

/* An arm that wins every block gives exactly 0; a partial last block is left out; nothing taken
 * in gives 0. */
static void test_evpi_exact(void) {
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 7);
  fl_evpi *e = fl_evpi_create(3, 2, 3);
  double v[2] = {-1, -1};
  fl_evpi_finish(e, v);
  CHECK(v[0] == 0 && v[1] == 0);
  for (size_t r = 0; r < 3000; r++) {
    const double x = gsl_ran_gaussian(g, 100);
    const double nmb[6] = {0, 0, x, x - 50, x + 1e6 + gsl_rng_uniform(g), 2e6 + x};
    fl_evpi_add(e, nmb);
  }
  fl_evpi_finish(e, v);
  CHECK(v[0] == 0);
  CHECK(v[1] == 0);
  const double odd[6] = {0, 0, 1e9, 1e9, 0, 0}; /* (one replication of a block: left out) */
  fl_evpi_add(e, odd);
  fl_evpi_finish(e, v);
  CHECK(v[0] == 0);
  fl_evpi_free(e);
  gsl_rng_free(g);
}

/* EVPPI by regression on B blocks whose difference of NMB (arm 1 minus the baseline) is
 * f(theta1) + theta2 + eps, with theta1 ~ N(0, 1) the group, theta2 ~ N(0, s2) the other
 * parameters and eps ~ N(0, s_eps) the chance noise of a block mean: the exact EVPPI is
 * E[max(0, f(theta1))] - max(0, E f(theta1)). Bound: 4 standard errors, from the mean of
 * max(0, f_b) - f_b [mean f > 0] over the blocks and from the fit's coefficients (each with
 * standard error resid / (sqrt(B) sd(term)), resid = sqrt(s2^2 + s_eps^2)) times the EVPPI's
 * derivative in it: sens is the root sum of squares of those derivatives per unit of
 * resid / sqrt(B) (linear: phi(mu/a) for the slope, Phi(-|mu|/a) for the intercept; quadratic:
 * 2 phi(1) / sqrt(2) for the square, whose sd is sqrt(2), and P(|theta1| > 1) for the
 * intercept). */
static double evppi_case(gsl_rng *g, int quadratic, double a, double mu, double s2, double s_eps,
                         size_t B, double *bound) {
  double *x = malloc(B * sizeof *x), *m = malloc(2 * B * sizeof *m);
  for (size_t b = 0; b < B; b++) {
    x[b] = gsl_ran_ugaussian(g);
    const double f = quadratic ? a * (x[b] * x[b] - 1) : mu + a * x[b];
    m[2 * b] = 0;
    m[2 * b + 1] = f + gsl_ran_gaussian(g, s2) + gsl_ran_gaussian(g, s_eps);
  }
  double v = -1;
  CHECK_INT_EQ(fl_evppi(B, 2, 1, x, m, &v), 0);
  /* (the spread of the exact conditional means stands in for that of the fitted ones) */
  double s1 = 0, sq = 0, total = 0;
  for (size_t b = 0; b < B; b++) total += quadratic ? a * (x[b] * x[b] - 1) : mu + a * x[b];
  for (size_t b = 0; b < B; b++) {
    const double f = quadratic ? a * (x[b] * x[b] - 1) : mu + a * x[b];
    const double gb = fmax(0, f) - (total > 0 ? f : 0);
    s1 += gb, sq += gb * gb;
  }
  const double n = (double)B, resid = sqrt(s2 * s2 + s_eps * s_eps);
  const double sens =
      quadratic ? hypot(2 * gsl_ran_ugaussian_pdf(1) / sqrt(2), 2 * gsl_cdf_ugaussian_Q(1))
                : hypot(gsl_ran_ugaussian_pdf(mu / a), gsl_cdf_ugaussian_P(-fabs(mu) / a));
  *bound = 4 * sqrt(fmax(0, sq / n - (s1 / n) * (s1 / n)) / n + sens * sens * resid * resid / n);
  free(x);
  free(m);
  return v;
}

static void test_evppi(void) {
  gsl_rng *g = gsl_rng_alloc(gsl_rng_mt19937);
  gsl_rng_set(g, 42);
  double bound;
  /* Linear: E[NMB | theta1] = mu + a theta1 ~ N(mu, a), the closed form of the EVPI at sd a,
   * whatever the other parameters and the chance noise add (here as much again and twice). */
  static const double lin[][2] = {{0, 1000}, {600, 1000}, {-1500, 1000}};
  for (size_t i = 0; i < 3; i++) {
    const double est = evppi_case(g, 0, lin[i][1], lin[i][0], 1000, 2000, 20000, &bound);
    const double exact = evpi_normal(lin[i][0], lin[i][1]);
    fprintf(stderr, "evppi linear mu %g sd %g: %.3f, closed form %.3f, bound %.3f\n", lin[i][0],
            lin[i][1], est, exact, bound);
    CHECK_DBL_NEAR(est, exact, bound);
  }
  /* Quadratic: f = a (theta1^2 - 1) has mean 0 and E[max(0, f)] = 2 a phi(1). */
  const double est = evppi_case(g, 1, 1000, 0, 1000, 2000, 20000, &bound);
  const double exact = 2 * 1000 * gsl_ran_ugaussian_pdf(1);
  fprintf(stderr, "evppi quadratic: %.3f, closed form %.3f, bound %.3f\n", est, exact, bound);
  CHECK_DBL_NEAR(est, exact, bound);
  /* Too few blocks for the terms; no group; one arm; an arm better in every fitted block. */
  double x[24 * 2] = {0}, m[24 * 3] = {0}, v = -1;
  CHECK_INT_EQ(fl_evppi_terms(1), 3);
  CHECK_INT_EQ(fl_evppi_terms(2), 6);
  CHECK_INT_EQ(fl_evppi(11, 2, 1, x, m, &v), -1);
  CHECK_INT_EQ(fl_evppi(12, 2, 0, x, m, &v), -1);
  CHECK_INT_EQ(fl_evppi(23, 2, 2, x, m, &v), -1); /* (6 terms need 24) */
  CHECK_INT_EQ(fl_evppi(24, 2, 2, x, m, &v), 0);
  for (size_t b = 0; b < 12; b++) {
    x[b] = (double)b;
    m[b * 3 + 1] = 5 + 0.1 * (double)b;
    m[b * 3 + 2] = 1e6;
  }
  CHECK_INT_EQ(fl_evppi(12, 3, 1, x, m, &v), 0);
  CHECK(v == 0);
  gsl_rng_free(g);
}

/* A run and an expectation write the frontier of their means; under --psa the EVPI agrees with
 * one recomputed here from the replications' net monetary benefits, and is the same for any
 * thread count. */
static void test_written(void) {
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  fl_results *ex = expect_model(m);
  const size_t A = m->n_arms, W = m->n_wtp;
  const fl_array *st = fl_results_get(ex, 0, FL_OUT_FRONTIER_STATUS);
  const fl_array *dc = fl_results_get(ex, 0, FL_OUT_FRONTIER_DELTA_COST);
  const fl_array *dq = fl_results_get(ex, 0, FL_OUT_FRONTIER_DELTA_QALYS);
  CHECK(st && dc && dq && fl_results_get(ex, 0, FL_OUT_EVPI) == NULL);
  for (size_t a = 1; st && a < A; a++) {
    CHECK_DBL_NEAR(fl_array_get(dc, a), fl_array_get(fl_results_get(ex, a, FL_OUT_DELTA_COST_TOTAL), 0), 0);
    CHECK_DBL_NEAR(fl_array_get(dq, a), fl_array_get(fl_results_get(ex, a, FL_OUT_DELTA_QALY_TOTAL), 0), 0);
  }
  /* Dundee's reinvesting arm saves the most and gains the most QALYs: it dominates the rest. */
  for (size_t a = 0; st && a < A; a++) {
    const int reinvest = !strcmp(m->arms[a].name, "community_city_reinvest");
    CHECK_INT_EQ(fl_array_get(st, a), reinvest ? ON : DOM);
  }
  fl_results_free(ex);

  fl_run_options opt;
  fl_results *r1 = NULL, *r2 = NULL;
  fl_error err = {0};
  fl_run_options_init(&opt);
  opt.replications = 8;
  opt.seed = 3;
  opt.psa = 1;
  opt.psa_inner = 2;
  opt.threads = 1;
  CHECK_INT_EQ(fl_run(m, &opt, &r1, &err), FL_OK);
  opt.threads = 2;
  CHECK_INT_EQ(fl_run(m, &opt, &r2, &err), FL_OK);
  const fl_array *e1 = fl_results_get(r1, 0, FL_OUT_EVPI), *e2 = fl_results_get(r2, 0, FL_OUT_EVPI);
  CHECK(e1 && e2);
  if (e1 && e2) {
    CHECK(!memcmp(e1->data, e2->data, W * sizeof(double)));
    const size_t K = opt.psa_inner, B = opt.replications / K;
    for (size_t k = 0; k < W; k++) {
      double sum_max = 0, sum[FL_MAX_ARMS] = {0};
      for (size_t b = 0; b < B; b++) {
        double most = 0; /* (the baseline's NMB is 0) */
        for (size_t a = 1; a < A; a++) {
          const fl_array *nmb = fl_results_get(r1, a, FL_OUT_NET_MONETARY_BENEFIT);
          double mean = 0;
          for (size_t j = 0; j < K; j++) mean += fl_array_get(nmb, ((b * K + j) * W) + k) / (double)K;
          sum[a] += mean;
          most = fmax(most, mean);
        }
        sum_max += most;
      }
      double best = 0;
      for (size_t a = 1; a < A; a++) best = fmax(best, sum[a]);
      const double want = (sum_max - best) / (double)B, got = fl_array_get(e1, k);
      CHECK(got >= 0);
      CHECK_DBL_NEAR(got, want, 1e-9 * (fabs(want) + 1));
    }
    /* The frontier of the run is that of its means. */
    const fl_array *rdc = fl_results_get(r1, 0, FL_OUT_FRONTIER_DELTA_COST);
    const fl_array *rst = fl_results_get(r1, 0, FL_OUT_FRONTIER_STATUS);
    double c[FL_MAX_ARMS] = {0}, q[FL_MAX_ARMS] = {0}, ic[FL_MAX_ARMS];
    int s[FL_MAX_ARMS], by[FL_MAX_ARMS];
    for (size_t a = 1; a < A; a++) {
      for (size_t r = 0; r < opt.replications; r++) {
        c[a] += fl_array_get(fl_results_get(r1, a, FL_OUT_DELTA_COST_TOTAL), r) / (double)opt.replications;
        q[a] += fl_array_get(fl_results_get(r1, a, FL_OUT_DELTA_QALY_TOTAL), r) / (double)opt.replications;
      }
      CHECK_DBL_NEAR(fl_array_get(rdc, a), c[a], 1e-9 * fabs(c[a]));
    }
    fl_frontier(A, c, q, s, by, ic);
    for (size_t a = 0; a < A; a++) CHECK_INT_EQ(fl_array_get(rst, a), s[a]);
  }
  fl_results_free(r1);
  fl_results_free(r2);

  /* --evppi: the group's drawn values (parameters/drawn, by key) and the block-mean NMB go to
   * the regression as recomputed here; a key not in the uncertainty section, or too few draws
   * for the terms, is a usage error. */
  opt.replications = 48; /* 24 draws: 4 for each of the 6 terms of a quadratic in 2 */
  opt.psa_inner = 2;
  opt.evppi = "arms.community_city.interventions.community.escalation,states.la_residential.qol";
  CHECK_INT_EQ(fl_run(m, &opt, &r1, &err), FL_OK);
  const fl_array *ev = fl_results_get(r1, 0, FL_OUT_EVPPI);
  const fl_array *drawn = fl_results_get(r1, 0, FL_OUT_PARAM_DRAWN);
  CHECK(ev && drawn);
  if (ev && drawn) {
    const size_t K = opt.psa_inner, B = opt.replications / K, n_unc = m->n_unc;
    size_t ia = n_unc, iq = n_unc;
    for (size_t u = 0; u < n_unc; u++) {
      if (!strcmp(m->unc[u].key, "arms.community_city.interventions.community.escalation")) ia = u;
      if (!strcmp(m->unc[u].key, "states.la_residential.qol")) iq = u;
    }
    CHECK(ia < n_unc && iq < n_unc);
    double x[24 * 2], mm[24 * FL_MAX_ARMS];
    for (size_t k = 0; ia < n_unc && iq < n_unc && k < W; k++) {
      for (size_t b = 0; b < B; b++) {
        x[b * 2] = fl_array_get(drawn, (b * K) * n_unc + ia);
        x[b * 2 + 1] = fl_array_get(drawn, (b * K) * n_unc + iq);
        /* (one draw a block: both replications of a block hold the same values) */
        CHECK(fl_array_get(drawn, (b * K + 1) * n_unc + ia) == x[b * 2]);
        mm[b * A] = 0;
        for (size_t a = 1; a < A; a++) {
          const fl_array *nmb = fl_results_get(r1, a, FL_OUT_NET_MONETARY_BENEFIT);
          double mean = 0;
          for (size_t j = 0; j < K; j++) mean += fl_array_get(nmb, ((b * K + j) * W) + k) / (double)K;
          mm[b * A + a] = mean;
        }
      }
      double want = -1;
      CHECK_INT_EQ(fl_evppi(B, A, 2, x, mm, &want), 0);
      CHECK(fl_array_get(ev, k) >= 0);
      CHECK_DBL_NEAR(fl_array_get(ev, k), want, 1e-9 * (fabs(want) + 1));
    }
  }
  fl_results_free(r1);
  opt.evppi = "states.la_residential.qol,states.nowhere.qol";
  CHECK_INT_EQ(fl_run(m, &opt, &r1, &err), FL_EUSAGE);
  CHECK_STR_CONTAINS(err.message, "'states.nowhere.qol' is not a key");
  opt.evppi = "states.la_residential.qol";
  opt.replications = 22; /* 11 draws, 3 terms */
  CHECK_INT_EQ(fl_run(m, &opt, &r1, &err), FL_EUSAGE);
  CHECK_STR_CONTAINS(err.message, "needs at least 12 parameter draws");
  fl_model_free(m);
}

int main(void) {
  test_frontier();
  test_evpi_closed_form();
  test_evpi_exact();
  test_evppi();
  test_written();
  return check_finish("test_decision");
}
