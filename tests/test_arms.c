/* Arms and comparisons: exactness properties of paired arms (common random numbers), costs of
 * interventions, targeting, reinvestment with fraction 0, and reward timing and discounting
 * against hand-computed values. */
#include "testutil.h"

#include <string.h>

/* A small model: two localities, ages, entries, three levels, and arms exercising each
 * property. */
static const char *arms_yaml =
    "flourish: 1\n"
    "name: arms test\n"
    "time: {step_months: 1, horizon_steps: 36}\n"
    "levels: [low, mid, high]\n"
    "costs: {budget_holders: [council, prevention], per: month}\n"
    "states:\n"
    "  well: {level: low, qol: 0.9}\n"
    "  need: {level: mid, qol: 0.8, cost: {council: 300}}\n"
    "  care: {level: high, qol: 0.6, cost: {council: 3000}}\n"
    "localities: {north: {share: 2}, south: {share: 1}}\n"
    "population:\n"
    "  max_age_years: 10\n"
    "  initial:\n"
    "    - {state: well, count: 3000, age_years: [0, 10]}\n"
    "    - {state: need, count: 400, age_years: [0, 10]}\n"
    "    - {state: care, count: 60, age_years: [0, 10]}\n"
    "  entries: {births: {per_year: 300, states: {well: 1}}}\n"
    "transitions:\n"
    "  tables:\n"
    "    - rows:\n"
    "        well: {well: rest, need: 0.02, care: 0.002}\n"
    "        need: {well: 0.05, need: rest, care: 0.02}\n"
    "        care: {need: 0.03, care: rest}\n"
    "arms:\n"
    "  empty: {description: no interventions}\n"
    "  unity:\n"
    "    interventions: {nothing: {escalation: 1, deescalation: 1}}\n"
    "  cost_only:\n"
    "    interventions:\n"
    "      paid: {months: [6, 30], spend_per_month: 1000, setup_cost: 500,\n"
    "             cost_per_child_month: 2, states: [need], localities: [south],\n"
    "             age_years: [2, 8], budget_holder: prevention}\n"
    "  no_escalation_from_well:\n"
    "    interventions: {stop: {states: [well], escalation: 0}}\n"
    "  effect:\n"
    "    interventions:\n"
    "      prevent: {levels: [low, mid], escalation: 0.7, deescalation: 1.2, ramp_months: 12,\n"
    "                ramp: exponential, spend_per_month: 2000, half_saturation: 3000,\n"
    "                budget_holder: prevention}\n"
    "  effect_reinvest0:\n"
    "    interventions:\n"
    "      prevent: {levels: [low, mid], escalation: 0.7, deescalation: 1.2, ramp_months: 12,\n"
    "                ramp: exponential, spend_per_month: 2000, half_saturation: 3000,\n"
    "                budget_holder: prevention}\n"
    "    reinvest: {fraction: 0, from: [council], delay_months: 2, into: prevent}\n"
    "  effect_reinvest:\n"
    "    interventions:\n"
    "      prevent: {levels: [low, mid], escalation: 0.7, deescalation: 1.2, ramp_months: 12,\n"
    "                ramp: exponential, spend_per_month: 2000, half_saturation: 3000,\n"
    "                budget_holder: prevention}\n"
    "    reinvest: {fraction: 0.5, from: [council], delay_months: 2, into: prevent}\n"
    "  effect_reference:\n"
    "    interventions:\n"
    "      prevent: {levels: [low, mid], escalation: 0.7, deescalation: 1.2, ramp_months: 12,\n"
    "                ramp: exponential, spend_per_month: 2000, half_saturation: 3000,\n"
    "                reference_spend_per_month: 2000, budget_holder: prevention}\n"
    /* Twice the reference spend: dose h(4000) / h(2000) = (4/7) / (2/5) = 10/7. */
    "  effect_double:\n"
    "    interventions:\n"
    "      prevent: {levels: [low, mid], escalation: 0.7, deescalation: 1.2, ramp_months: 12,\n"
    "                ramp: exponential, spend_per_month: 4000, half_saturation: 3000,\n"
    "                reference_spend_per_month: 2000, budget_holder: prevention}\n"
    /* The same effect stated at full strength: 1 + (m - 1) 10/7. */
    "  effect_double_stated:\n"
    "    interventions:\n"
    "      prevent: {levels: [low, mid], escalation: 0.5714285714285714,\n"
    "                deescalation: 1.2857142857142858, ramp_months: 12, ramp: exponential,\n"
    "                spend_per_month: 4000, budget_holder: prevention}\n"
    /* Reinvestment into an intervention that starts with no money. */
    "  grow_from_nothing:\n"
    "    interventions:\n"
    "      prevent: {levels: [low, mid], escalation: 0.7, spend_per_month: 0,\n"
    "                half_saturation: 3000, reference_spend_per_month: 2000,\n"
    "                budget_holder: prevention}\n"
    "    reinvest: {fraction: 0.5, from: [council], delay_months: 1, into: prevent}\n";

static size_t arm_index(const fl_model *m, const char *name) {
  for (size_t a = 0; a < m->n_arms; a++)
    if (!strcmp(m->arms[a].name, name)) return a;
  fprintf(stderr, "no arm %s\n", name);
  exit(1);
}

static const fl_array *arr(const fl_results *res, size_t arm, const char *name) {
  const fl_array *a = fl_results_find_const(res, arm, name);
  if (!a) {
    fprintf(stderr, "no array %s in arm %zu\n", name, arm);
    exit(1);
  }
  return a;
}

static const fl_array *comp(const fl_results *res, size_t arm, const char *name) {
  const fl_arm_results *g = &res->comps[arm];
  for (size_t i = 0; i < g->n_arrays; i++)
    if (!strcmp(g->arrays[i].name, name)) return &g->arrays[i];
  fprintf(stderr, "no comparison %s for arm %zu\n", name, arm);
  exit(1);
}

static int same_bytes(const fl_array *x, const fl_array *y) {
  return fl_array_count(x) == fl_array_count(y) &&
         !memcmp(x->data, y->data, fl_array_count(x) * (x->type == FL_I32 ? 4 : 8));
}

/* An arm without interventions, or whose multipliers are all 1 and which costs nothing, is the
 * baseline bit for bit, and every difference is exactly 0. */
static void test_identical_arms(const fl_model *m, const fl_results *res) {
  static const char *const names[] = {"stocks", "flows", "entries", "exits", "costs", "qol",
                                      "spells/length_of_stay", "spells/ever_in_level"};
  static const char *const arms[] = {"empty", "unity"};
  for (size_t k = 0; k < 2; k++) {
    const size_t a = arm_index(m, arms[k]);
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      CHECK(same_bytes(arr(res, 0, names[i]), arr(res, a, names[i])));
    const fl_array *dc = comp(res, a, "delta_costs"), *dq = comp(res, a, "delta_qalys");
    double worst = 0;
    for (size_t i = 0; i < fl_array_count(dc); i++) worst = fmax(worst, fabs(value_at(dc, i)));
    for (size_t i = 0; i < fl_array_count(dq); i++) worst = fmax(worst, fabs(value_at(dq, i)));
    CHECK_DBL_NEAR(worst, 0, 0);
    const fl_array *be = comp(res, a, "breakeven_step");
    for (size_t r = 0; r < res->R; r++) CHECK_INT_EQ(value_at(be, r), 0);
  }
}

/* An intervention without effect costs exactly its spend (in the months it runs), its set-up
 * cost in its first month, and its cost per child reached; QoL does not change. */
static void test_cost_only(const fl_model *m, const fl_results *res) {
  const size_t a = arm_index(m, "cost_only"), T = m->T, B = m->B;
  const fl_array *dc = comp(res, a, "delta_costs"), *dq = comp(res, a, "delta_qalys");
  const fl_array *reached = arr(res, a, "interventions/reached");
  const fl_array *base_cost = arr(res, 0, "costs");
  long long reached_total = 0;
  CHECK(same_bytes(arr(res, 0, "stocks"), arr(res, a, "stocks")));
  for (size_t i = 0; i < fl_array_count(dq); i++) CHECK_DBL_NEAR(value_at(dq, i), 0, 0);
  for (size_t r = 0; r < res->R; r++)
    for (size_t t = 0; t < T; t++) {
      const double running = t >= 6 && t < 30, n = value_at(reached, r * T + t);
      const double want = running * (1000 + 2 * n) + (t == 6) * 500;
      reached_total += (long long)n;
      CHECK(running || n == 0);
      /* (base + x) - base can differ from x by the rounding of base. */
      CHECK_DBL_NEAR(value_at(dc, (r * T + t) * B + 1), want,
                     1e-12 * fabs(value_at(base_cost, (r * T + t) * B + 1)) + 1e-9);
      CHECK_DBL_NEAR(value_at(dc, (r * T + t) * B + 0), 0, 0);
    }
  CHECK(reached_total > 0);
}

/* Escalation multiplier 0 on the rows of 'well': nobody moves up from well. */
static void test_no_escalation(const fl_model *m, const fl_results *res) {
  const size_t a = arm_index(m, "no_escalation_from_well"), T = m->T, S = m->S;
  const fl_array *fl = arr(res, a, "flows"), *base = arr(res, 0, "flows");
  double up = 0, base_up = 0;
  for (size_t r = 0; r < res->R; r++)
    for (size_t t = 0; t < T; t++)
      for (size_t d = 1; d < S; d++) {
        up += value_at(fl, ((r * T + t) * S + 0) * S + d);
        base_up += value_at(base, ((r * T + t) * S + 0) * S + d);
      }
  CHECK_DBL_NEAR(up, 0, 0);
  CHECK(base_up > 0);
}

/* Reinvestment with fraction 0 is the arm without reinvestment, bit for bit; with a positive
 * fraction the spend grows. */
static void test_reinvest(const fl_model *m, const fl_results *res) {
  const size_t a = arm_index(m, "effect"), a0 = arm_index(m, "effect_reinvest0");
  const size_t a1 = arm_index(m, "effect_reinvest");
  for (size_t i = 0; i < res->arms[a].n_arrays; i++)
    CHECK(same_bytes(&res->arms[a].arrays[i], arr(res, a0, res->arms[a].arrays[i].name)));
  const fl_array *s = arr(res, a, "interventions/spend"), *s1 = arr(res, a1, "interventions/spend");
  double plain = 0, more = 0;
  for (size_t i = 0; i < fl_array_count(s); i++) {
    plain += value_at(s, i);
    more += value_at(s1, i);
  }
  CHECK_DBL_NEAR(plain, 2000.0 * m->T * res->R, 1e-6);
  CHECK(more > plain);
}

/* Reward timing and discounting on a two-state chain against values computed here: 1,000
 * children, well -> ill with probability 0.1 a month, costs 100 and 1,000 a month, QoL 1 and
 * 0.5, annual discount rates 3.5% (costs) and 1.5% (QoL). */
static void test_timing(void) {
  static const char *const timings[] = {"start", "end", "half_cycle", "simpson"};
  const size_t T = 5;
  double x[6];
  for (size_t t = 0; t <= T; t++) x[t] = 1000 * pow(0.9, (double)t); /* well at start of t */
  for (int k = 0; k < 4; k++) {
    char yaml[1024];
    snprintf(yaml, sizeof yaml,
             "flourish: 1\nname: timing\ntime: {step_months: 1, horizon_steps: %zu}\n"
             "levels: [a, b]\ncosts: {budget_holders: [h], per: month}\n"
             "discount: {costs: 0.035, qol: 0.015}\nrewards: {timing: %s}\n"
             "states: {well: {level: a, qol: 1, cost: {h: 100}},\n"
             "         ill: {level: b, qol: 0.5, cost: {h: 1000}, absorbing: true}}\n"
             "population: {initial: [{state: well, count: 1000}]}\n"
             "transitions: {tables: [{rows: {well: {well: 0.9, ill: 0.1}}}]}\n",
             T, timings[k]);
    fl_model *m = load_text_model(yaml);
    fl_results *ex = expect_model(m);
    const fl_array *c = arr(ex, 0, "costs"), *cd = arr(ex, 0, "costs_discounted");
    const fl_array *q = arr(ex, 0, "qol"), *qd = arr(ex, 0, "qol_discounted");
    for (size_t t = 0; t < T; t++) {
      double w, when;
      if (k == 0) w = x[t], when = (double)t;
      else if (k == 1) w = x[t + 1], when = t + 1.0;
      else if (k == 2) w = 0.5 * (x[t] + x[t + 1]), when = t + 0.5;
      else {
        const size_t k0 = t - t % 2;
        w = k0 + 1 < T ? (x[k0] + 4 * x[k0 + 1] + x[k0 + 2]) / 6 : 0.5 * (x[t] + x[t + 1]);
        when = t + 0.5;
      }
      const double cost = 100 * w + 1000 * (1000 - w), qol = w + 0.5 * (1000 - w);
      /* Probabilities are quantised to 2^-32: relative error below 1e-8 here. */
      CHECK_DBL_NEAR(value_at(c, t), cost, 1e-8 * cost);
      CHECK_DBL_NEAR(value_at(cd, t), cost * pow(1.035, -when / 12), 1e-8 * cost);
      CHECK_DBL_NEAR(value_at(q, t), qol, 1e-8 * qol);
      CHECK_DBL_NEAR(value_at(qd, t), qol * pow(1.015, -when / 12), 1e-8 * qol);
    }
    fl_results_free(ex);
    fl_model_free(m);
  }
}

/* The mean and Monte Carlo standard error over replications of the total over steps (and
 * budget holders, when B > 0) of a per-replication [R, T(, B)] array. */
static void mc_total(const fl_array *a, size_t R, size_t per_rep, double *mean, double *mcse) {
  double sum = 0, ss = 0;
  for (size_t r = 0; r < R; r++) {
    double x = 0;
    for (size_t i = 0; i < per_rep; i++) x += value_at(a, r * per_rep + i);
    sum += x;
    ss += x * x;
  }
  *mean = sum / (double)R;
  *mcse = sqrt((ss - sum * sum / (double)R) / (double)(R - 1) / (double)R);
}

/* Every cost kind counted and discounted at the same time points, under each reward timing,
 * against values computed here from the transition matrix (yearly steps, so a step's discount
 * is large): state costs on two budget holders, one-off costs and QALY changes of moves, and an
 * arm whose interventions move no one but cost a running spend, a set-up cost, a cost per child
 * reached (one targeting by state, one by age, which the simulation counts child by child) and a
 * state_cost factor. The probabilities are multiples of 2^-5, exact after quantisation, so
 * expectation mode must agree to rounding; the Monte Carlo means within 4 standard errors. */
static void test_timing_cost_kinds(void) {
  static const char *const timings[] = {"start", "end", "half_cycle", "simpson"};
  enum { S = 3, T = 5, WELL = 0, ILL = 1, DEAD = 2 };
  static const double P[S][S] = {{27.0 / 32, 4.0 / 32, 1.0 / 32},
                                 {2.0 / 32, 27.0 / 32, 3.0 / 32},
                                 {0, 0, 1}};
  static const double cost[S] = {100, 1000 + 400, 0}, qol[S] = {1, 0.6, 0};
  double x[T + 1][S] = {{2000, 0, 0}}; /* children in each state at each time point */
  for (size_t u = 0; u < T; u++)
    for (size_t s = 0; s < S; s++)
      for (size_t d = 0; d < S; d++) x[u + 1][d] += x[u][s] * P[s][d];
  for (int k = 0; k < 4; k++) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "flourish: 1\nname: timing of costs\ntime: {step_months: 12, horizon_steps: %d}\n"
             "levels: [a, b, c]\ncosts: {budget_holders: [h, g], per: year}\n"
             "discount: {costs: 0.035, qol: 0.015}\nrewards: {timing: %s}\n"
             "states: {well: {level: a, qol: 1, cost: {h: 100}},\n"
             "         ill: {level: b, qol: 0.6, cost: {h: 1000, g: 400}},\n"
             "         dead: {level: c, qol: 0, absorbing: true}}\n"
             "population: {initial: [{state: well, count: 2000, age_years: [0, 10]}]}\n"
             "transitions: {tables: [{rows: {well: {well: rest, ill: 0.125, dead: 0.03125},\n"
             "                               ill: {well: 0.0625, ill: rest, dead: 0.09375}}}]}\n"
             "transition_costs:\n"
             "  - {from: well, to: ill, cost: {h: 500}, qaly: -0.05}\n"
             "  - {from: ill, to: dead, cost: {g: 2000}}\n"
             "arms:\n"
             "  treat:\n"
             "    interventions:\n"
             "      drug: {states: [ill], cost_per_child_month: 50, spend_per_month: 100,\n"
             "             setup_cost: 3000, budget_holder: g}\n"
             "      check: {states: [well], age_years: [0, 50], cost_per_child_month: 2,\n"
             "              budget_holder: h}\n"
             "      cheaper: {kind: state_cost, states: [ill], cost_multiplier: {h: 0.5}}\n"
             "      late: {states: [ill], months: [12, 60], cost_per_child_month: 10,\n"
             "             budget_holder: g}\n",
             T, timings[k]);
    fl_model *m = load_text_model(yaml);
    /* By hand: each step's children in each state as the timing counts them, the time their
     * rewards are discounted at, and the time the step's moves are (in steps). */
    double want_cost = 0, want_qaly = 0, want_delta = 0;
    for (size_t t = 0; t < T; t++) {
      double occ[S], when, move;
      for (size_t s = 0; s < S; s++) {
        const size_t k0 = t - t % 2;
        occ[s] = k == 0   ? x[t][s]
                 : k == 1 ? x[t + 1][s]
                 : k == 2 || k0 + 1 >= T
                     ? 0.5 * (x[t][s] + x[t + 1][s])
                     : (x[k0][s] + 4 * x[k0 + 1][s] + x[k0 + 2][s]) / 6;
      }
      when = k == 0 ? (double)t : k == 1 ? t + 1.0 : t + 0.5;
      move = k <= 1 ? t + 1.0 : t + 0.5; /* where the move lands; mid-step for the rules */
      const double dc = pow(1.035, -when), dq = pow(1.015, -when);
      const double dcm = pow(1.035, -move), dqm = pow(1.015, -move);
      for (size_t s = 0; s < S; s++) {
        want_cost += occ[s] * cost[s] * dc;
        want_qaly += occ[s] * qol[s] * dq;
      }
      want_cost += x[t][WELL] * P[WELL][ILL] * 500 * dcm + x[t][ILL] * P[ILL][DEAD] * 2000 * dcm;
      want_qaly += x[t][WELL] * P[WELL][ILL] * -0.05 * dqm;
      /* 'late' runs from step 1: Simpson's rule cannot pair steps 0 and 1 for it, so its step
       * 1 takes the trapezoid. */
      const double late = t == 0   ? 0
                          : k == 3 && t == 1 ? 0.5 * (x[1][ILL] + x[2][ILL])
                                             : occ[ILL];
      want_delta += (100 * 12 + (t == 0) * 3000 + 50 * 12 * occ[ILL] + 2 * 12 * occ[WELL] -
                     0.5 * 1000 * occ[ILL] + 10 * 12 * late) *
                    dc;
    }
    fl_results *ex = expect_model(m), *mc = run_model(m, 77, 200, 2);
    const size_t R = mc->R, B = m->B;
    double got_cost = 0, got_qaly = 0;
    const fl_array *cd = arr(ex, 0, "costs_discounted"), *qd = arr(ex, 0, "qol_discounted");
    for (size_t i = 0; i < T * B; i++) got_cost += value_at(cd, i);
    for (size_t t = 0; t < T; t++) got_qaly += value_at(qd, t) * m->step_months / 12;
    const double got_delta = value_at(comp(ex, 1, "delta_cost_total"), 0);
    CHECK_DBL_NEAR(got_cost, want_cost, 1e-9 * want_cost);
    CHECK_DBL_NEAR(got_qaly, want_qaly, 1e-9 * want_qaly);
    CHECK_DBL_NEAR(got_delta, want_delta, 1e-9 * want_delta);
    CHECK_DBL_NEAR(value_at(comp(ex, 1, "delta_qaly_total"), 0), 0, 1e-9);
    /* Monte Carlo: the same children in both arms (nothing moves them differently). */
    double mean, mcse;
    mc_total(arr(mc, 0, "costs_discounted"), R, T * B, &mean, &mcse);
    CHECK(mcse > 0);
    CHECK_DBL_NEAR(mean, want_cost, 4 * mcse);
    mc_total(arr(mc, 0, "qol_discounted"), R, T, &mean, &mcse);
    CHECK_DBL_NEAR(mean * m->step_months / 12, want_qaly, 4 * mcse * m->step_months / 12);
    mc_total(comp(mc, 1, "delta_cost_total"), R, 1, &mean, &mcse);
    printf("timing %s: delta cost by hand %.4f, expected %.4f (relative error %.1e), Monte "
           "Carlo %.4f (z = %.2f)\n",
           timings[k], want_delta, got_delta, (got_delta - want_delta) / want_delta, mean,
           (mean - want_delta) / mcse);
    CHECK(mcse > 0);
    CHECK_DBL_NEAR(mean, want_delta, 4 * mcse);
    /* Threads inside a replication count the children reached at the end of a step part by
     * part: the same bytes as one thread. */
    fl_results *one = run_model_full(m, 77, 3, 1, 1, FL_PATH_AUTO);
    fl_results *parts = run_model_full(m, 77, 3, 4, 4, FL_PATH_AUTO);
    CHECK(same_bytes(arr(one, 1, "costs_discounted"), arr(parts, 1, "costs_discounted")));
    if (k > 0) {
      const fl_array *e1 = fl_results_find_const(one, 1, "interventions/reached_end");
      const fl_array *e4 = fl_results_find_const(parts, 1, "interventions/reached_end");
      CHECK(e1 && e4 && same_bytes(e1, e4));
    }
    fl_results_free(one);
    fl_results_free(parts);
    fl_results_free(mc);
    fl_results_free(ex);
    fl_model_free(m);
  }
}

/* Rewards counted at time points (rewards.points) with weights, on the model of
 * test_timing_cost_kinds, against values computed here: each counted time point u's children
 * (and the children each intervention reaches then) at its weight, discounted at u; the moves of
 * step t where they land (t + 1); running spend and set-up costs at the step's start. The
 * point of 0..T-1 with weights of one is the start timing, to the byte. Expectation mode must
 * agree to rounding, the Monte Carlo means within 4 standard errors. */
static void test_points(void) {
  enum { S = 3, T = 5, WELL = 0, ILL = 1, DEAD = 2 };
  static const double P[S][S] = {
      {27.0 / 32, 4.0 / 32, 1.0 / 32}, {2.0 / 32, 27.0 / 32, 3.0 / 32}, {0, 0, 1}};
  static const double cost[S] = {100, 1000 + 400, 0}, qol[S] = {1, 0.6, 0};
  /* The rewards section, the first and last point counted, and the weights of the points
   * first..last as the rule says (by hand). */
  static const struct {
    const char *rewards;
    size_t first, last;
    double w[T + 1];
  } cases[] = {
      {"{points: 0..T}", 0, T, {1, 1, 1, 1, 1, 1}},
      {"{points: 1..T}", 1, T, {1, 1, 1, 1, 1}},
      {"{points: 0..T-1, weights: ones}", 0, T - 1, {1, 1, 1, 1, 1}},
      {"{points: 0..T, weights: trapezoid}", 0, T, {0.5, 1, 1, 1, 1, 0.5}},
      {"{points: 0..T-1, weights: simpson}",
       0,
       T - 1,
       {1.0 / 3, 4.0 / 3, 2.0 / 3, 4.0 / 3, 1.0 / 3}},
      {"{points: 0..T, weights: simpson_2_4}",
       0,
       T,
       {1.0 / 3, 2.0 / 3, 4.0 / 3, 2.0 / 3, 4.0 / 3, 1.0 / 3}},
      {"{points: 1..T, weight_rule: {first: 1, repeat: [4, 2], last: 1, divisor: 3}}",
       1,
       T,
       {1.0 / 3, 4.0 / 3, 2.0 / 3, 4.0 / 3, 1.0 / 3}},
      {"{points: 0..T, weight_list: [0.25, 1, 0.5, 2, 1, 0.75]}", 0, T, {0.25, 1, 0.5, 2, 1, 0.75}},
  };
  double x[T + 1][S] = {{2000, 0, 0}}; /* children in each state at each time point */
  for (size_t u = 0; u < T; u++)
    for (size_t s = 0; s < S; s++)
      for (size_t d = 0; d < S; d++) x[u + 1][d] += x[u][s] * P[s][d];
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    char yaml[2048];
    snprintf(yaml, sizeof yaml,
             "flourish: 1\nname: time points\ntime: {step_months: 12, horizon_steps: %d}\n"
             "levels: [a, b, c]\ncosts: {budget_holders: [h, g], per: year}\n"
             "discount: {costs: 0.035, qol: 0.015}\nrewards: %s\n"
             "states: {well: {level: a, qol: 1, cost: {h: 100}},\n"
             "         ill: {level: b, qol: 0.6, cost: {h: 1000, g: 400}},\n"
             "         dead: {level: c, qol: 0, absorbing: true}}\n"
             "population: {initial: [{state: well, count: 2000, age_years: [0, 10]}]}\n"
             "transitions: {tables: [{rows: {well: {well: rest, ill: 0.125, dead: 0.03125},\n"
             "                               ill: {well: 0.0625, ill: rest, dead: 0.09375}}}]}\n"
             "transition_costs:\n"
             "  - {from: well, to: ill, cost: {h: 500}, qaly: -0.05}\n"
             "  - {from: ill, to: dead, cost: {g: 2000}}\n"
             "arms:\n"
             "  treat:\n"
             "    interventions:\n"
             "      drug: {states: [ill], cost_per_child_month: 50, spend_per_month: 100,\n"
             "             setup_cost: 3000, budget_holder: g}\n"
             "      check: {states: [well], age_years: [0, 50], cost_per_child_month: 2,\n"
             "              budget_holder: h}\n"
             "      cheaper: {kind: state_cost, states: [ill], cost_multiplier: {h: 0.5}}\n"
             "      late: {states: [ill], months: [12, 60], cost_per_child_month: 10,\n"
             "             budget_holder: g}\n",
             T, cases[k].rewards);
    fl_model *m = load_text_model(yaml);
    double want_cost = 0, want_qaly = 0, want_delta = 0;
    for (size_t u = cases[k].first; u <= cases[k].last; u++) {
      const double w = cases[k].w[u - cases[k].first];
      const double dc = pow(1.035, -(double)u), dq = pow(1.015, -(double)u);
      for (size_t s = 0; s < S; s++) {
        want_cost += w * x[u][s] * cost[s] * dc;
        want_qaly += w * x[u][s] * qol[s] * dq;
      }
      /* 'late' runs in steps 1 to 4: it reaches no one at point 0, and at T the children at
       * the end of step 4 */
      want_delta += w *
                    (50 * 12 * x[u][ILL] + 2 * 12 * x[u][WELL] - 0.5 * 1000 * x[u][ILL] +
                     (u >= 1) * 10 * 12 * x[u][ILL]) *
                    dc;
    }
    for (size_t t = 0; t < T; t++) {
      const double dcm = pow(1.035, -(t + 1.0)), dqm = pow(1.015, -(t + 1.0));
      want_cost += x[t][WELL] * P[WELL][ILL] * 500 * dcm + x[t][ILL] * P[ILL][DEAD] * 2000 * dcm;
      want_qaly += x[t][WELL] * P[WELL][ILL] * -0.05 * dqm;
      want_delta += (100 * 12 + (t == 0) * 3000) * pow(1.035, -(double)t);
    }
    fl_results *ex = expect_model(m), *mc = run_model(m, 78, 200, 2);
    const size_t R = mc->R, B = m->B;
    double got_cost = 0, got_qaly = 0;
    const fl_array *cd = arr(ex, 0, "costs_discounted"), *qd = arr(ex, 0, "qol_discounted");
    for (size_t i = 0; i < T * B; i++) got_cost += value_at(cd, i);
    for (size_t t = 0; t < T; t++) got_qaly += value_at(qd, t) * m->step_months / 12;
    const double got_delta = value_at(comp(ex, 1, "delta_cost_total"), 0);
    CHECK_DBL_NEAR(got_cost, want_cost, 1e-9 * want_cost);
    CHECK_DBL_NEAR(got_qaly, want_qaly, 1e-9 * want_qaly);
    CHECK_DBL_NEAR(got_delta, want_delta, 1e-9 * want_delta);
    CHECK_DBL_NEAR(value_at(comp(ex, 1, "delta_qaly_total"), 0), 0, 1e-9);
    /* The undiscounted costs of the step that reports the final point hold its rewards. */
    double undisc = 0, want_undisc = 0;
    for (size_t i = 0; i < T * B; i++) undisc += value_at(arr(ex, 0, "costs"), i);
    for (size_t u = cases[k].first; u <= cases[k].last; u++)
      for (size_t s = 0; s < S; s++)
        want_undisc += cases[k].w[u - cases[k].first] * x[u][s] * cost[s];
    for (size_t t = 0; t < T; t++)
      want_undisc += x[t][WELL] * P[WELL][ILL] * 500 + x[t][ILL] * P[ILL][DEAD] * 2000;
    CHECK_DBL_NEAR(undisc, want_undisc, 1e-9 * want_undisc);
    double mean, mcse;
    mc_total(arr(mc, 0, "costs_discounted"), R, T * B, &mean, &mcse);
    CHECK(mcse > 0);
    CHECK_DBL_NEAR(mean, want_cost, 4 * mcse);
    const double zc = (mean - want_cost) / mcse;
    mc_total(arr(mc, 0, "qol_discounted"), R, T, &mean, &mcse);
    CHECK(mcse > 0);
    CHECK_DBL_NEAR(mean * m->step_months / 12, want_qaly, 4 * mcse * m->step_months / 12);
    const double zq = (mean * m->step_months / 12 - want_qaly) / (mcse * m->step_months / 12);
    mc_total(comp(mc, 1, "delta_cost_total"), R, 1, &mean, &mcse);
    printf("rewards %s: cost by hand %.4f, expected %.4f (z = %.2f); QALYs z = %.2f; delta cost "
           "by hand %.4f, expected %.4f (relative error %.1e), Monte Carlo %.4f (z = %.2f)\n",
           cases[k].rewards, want_cost, got_cost, zc, zq, want_delta, got_delta,
           (got_delta - want_delta) / want_delta, mean, (mean - want_delta) / mcse);
    CHECK(mcse > 0);
    CHECK_DBL_NEAR(mean, want_delta, 4 * mcse);
    /* Threads inside a replication (parts): the same bytes as one thread. */
    fl_results *one = run_model_full(m, 78, 3, 1, 1, FL_PATH_AUTO);
    fl_results *parts = run_model_full(m, 78, 3, 4, 4, FL_PATH_AUTO);
    CHECK(same_bytes(arr(one, 1, "costs_discounted"), arr(parts, 1, "costs_discounted")));
    CHECK(same_bytes(arr(one, 1, "qol_discounted"), arr(parts, 1, "qol_discounted")));
    fl_results_free(one);
    fl_results_free(parts);
    fl_results_free(mc);
    fl_results_free(ex);
    if (k == 2) {
      /* 0..T-1 with weights of one counts as the start timing does: the same values, up to
       * the order of the additions */
      char *at = strstr(yaml, "rewards: ");
      const char *rest = strchr(at, '\n');
      char other[2048];
      snprintf(other, sizeof other, "%.*srewards: {timing: start}%s", (int)(at - yaml), yaml, rest);
      fl_model *ms = load_text_model(other);
      fl_results *a = run_model(m, 79, 6, 2), *b = run_model(ms, 79, 6, 2);
      const char *const names[] = {"costs", "costs_discounted", "qol", "qol_discounted"};
      for (size_t i = 0; i < 4; i++)
        for (size_t arm = 0; arm < 2; arm++)
          for (size_t j = 0; j < fl_array_count(arr(a, arm, names[i])); j++) {
            const double va = value_at(arr(a, arm, names[i]), j);
            CHECK_DBL_NEAR(va, value_at(arr(b, arm, names[i]), j), 1e-12 * fabs(va));
          }
      fl_results_free(a);
      fl_results_free(b);
      fl_model_free(ms);
    }
    fl_model_free(m);
  }
}

/* Paired (common random numbers) against independent streams: the variance of the difference
 * in total discounted cost and QALYs, against the sum of the two arms' variances (what
 * independent streams would give). Printed for the record; the paired variance must be the
 * smaller. */
static void report_variance_reduction(const fl_model *m, const fl_results *res) {
  const size_t a = arm_index(m, "effect"), T = m->T, B = m->B, R = res->R;
  const fl_array *dct = comp(res, a, "delta_cost_total"), *dqt = comp(res, a, "delta_qaly_total");
  const fl_array *cb = arr(res, 0, "costs_discounted"), *ca = arr(res, a, "costs_discounted");
  const fl_array *qb = arr(res, 0, "qol_discounted"), *qa = arr(res, a, "qol_discounted");
  double v[6][2] = {{0}}; /* sum, sum of squares of: dC, dQ, C_base, C_arm, Q_base, Q_arm */
  for (size_t r = 0; r < R; r++) {
    double x[6] = {value_at(dct, r), value_at(dqt, r), 0, 0, 0, 0};
    for (size_t t = 0; t < T; t++) {
      for (size_t b = 0; b < B; b++) {
        x[2] += value_at(cb, (r * T + t) * B + b);
        x[3] += value_at(ca, (r * T + t) * B + b);
      }
      x[4] += value_at(qb, r * T + t) * m->step_months / 12;
      x[5] += value_at(qa, r * T + t) * m->step_months / 12;
    }
    for (int k = 0; k < 6; k++) {
      v[k][0] += x[k];
      v[k][1] += x[k] * x[k];
    }
  }
  double var[6];
  for (int k = 0; k < 6; k++) var[k] = (v[k][1] - v[k][0] * v[k][0] / R) / (R - 1);
  printf("variance of delta cost: paired %.4g, independent %.4g (ratio %.3f)\n", var[0],
         var[2] + var[3], var[0] / (var[2] + var[3]));
  printf("variance of delta QALYs: paired %.4g, independent %.4g (ratio %.3f)\n", var[1],
         var[4] + var[5], var[1] / (var[4] + var[5]));
  CHECK(var[0] < var[2] + var[3]);
  CHECK(var[1] < var[4] + var[5]);
}

/* The cumulative net cost is the running sum of the differences, and the break-even step is the
 * first from which it stays at or below 0. */
static void test_cumulative_and_breakeven(const fl_model *m, const fl_results *res) {
  const size_t T = m->T, B = m->B;
  for (size_t a = 1; a < res->n_arms; a++) {
    const fl_array *dc = comp(res, a, "delta_costs"), *cum = comp(res, a, "cumulative_net_cost");
    const fl_array *be = comp(res, a, "breakeven_step");
    for (size_t r = 0; r < res->R; r++) {
      double run = 0;
      long want = -1;
      for (size_t t = 0; t < T; t++) {
        for (size_t b = 0; b < B; b++) run += value_at(dc, (r * T + t) * B + b);
        CHECK_DBL_NEAR(value_at(cum, r * T + t), run, 1e-9 * (1 + fabs(run)));
      }
      for (size_t t = T; t-- > 0 && value_at(cum, r * T + t) <= 0;) want = (long)t;
      CHECK_INT_EQ(value_at(be, r), want);
    }
  }
}

/* reference_spend_per_month: equal to the spend it changes nothing (bit for bit); at twice the
 * reference spend the dose-response scales the effect by h(2x) / h(x), as multipliers stated at
 * that strength would (expected values, to rounding); an intervention with no spend has no
 * effect, even one that savings would be reinvested into. */
static void test_reference_spend(const fl_model *m, const fl_results *res) {
  static const char *const names[] = {"stocks", "flows", "costs", "qol"};
  const size_t eff = arm_index(m, "effect"), ref = arm_index(m, "effect_reference");
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    CHECK(same_bytes(arr(res, eff, names[i]), arr(res, ref, names[i])));
  fl_results *ex = expect_model(m);
  const fl_array *dbl = arr(ex, arm_index(m, "effect_double"), "stocks");
  const fl_array *stated = arr(ex, arm_index(m, "effect_double_stated"), "stocks");
  const fl_array *single = arr(ex, eff, "stocks");
  double worst = 0, moved = 0;
  for (size_t i = 0; i < fl_array_count(dbl); i++) {
    worst = fmax(worst, fabs(value_at(dbl, i) - value_at(stated, i)));
    moved = fmax(moved, fabs(value_at(dbl, i) - value_at(single, i)));
  }
  /* Probabilities are quantised to 2^-32: a threshold one unit apart moves a few children's
   * worth of mass by ~1e-9 of the population a step. */
  CHECK(worst < 1e-5);
  CHECK(moved > 1.0);
  /* No spend, no effect: no saving ever arrives to be reinvested, so the arm is the baseline. */
  const size_t g = arm_index(m, "grow_from_nothing");
  const fl_array *spend = arr(res, g, "interventions/spend");
  double spent = 0;
  for (size_t i = 0; i < fl_array_count(spend); i++) spent = fmax(spent, value_at(spend, i));
  CHECK_DBL_NEAR(spent, 0, 0);
  CHECK(same_bytes(arr(res, 0, "stocks"), arr(res, g, "stocks")));
  fl_results_free(ex);
}

/* The state_cost kind: the arm's children move exactly as the baseline's (it changes no
 * transition), and its cost difference on each budget holder is, step by step, the factor's
 * change at the step's strength times the state costs of the children it reached (by state),
 * plus its spend; in Monte Carlo and in expectation, whose means agree. */
static void test_state_cost_kind(void) {
  static const char *yaml =
      "flourish: 1\nname: cheaper placements\ntime: {step_months: 1, horizon_steps: 30}\n"
      "levels: [low, high]\ncosts: {budget_holders: [council, placements], per: month}\n"
      "states:\n"
      "  well: {level: low}\n"
      "  foster: {level: high, cost: {council: 300, placements: 2000}}\n"
      "  resid: {level: high, cost: {council: 500, placements: 9000}}\n"
      "population:\n  max_age_years: 10\n"
      "  initial: [{state: well, count: 2000, age_years: [0, 10]},\n"
      "            {state: foster, count: 150, age_years: [0, 10]},\n"
      "            {state: resid, count: 40, age_years: [0, 10]}]\n"
      "  entries: {births: {per_year: 200, states: {well: 1}}}\n"
      "transitions: {tables: [{rows: {well: {well: rest, foster: 0.004, resid: 0.001},\n"
      "  foster: {well: 0.03, foster: rest, resid: 0.005}, resid: {foster: 0.02, resid: rest}}}]}\n"
      "arms:\n"
      "  cheaper:\n"
      "    interventions:\n"
      "      model: {kind: state_cost, states: [resid, foster], age_years: [0, 6],\n"
      "              cost_multiplier: {placements: 0.8}, months: [3, 24], ramp_months: 6,\n"
      "              spend_per_month: 250, budget_holder: council}\n";
  fl_model *m = load_text_model(yaml);
  const size_t S = m->S, B = m->B, T = m->T, ni = 1;
  fl_results *mc = run_model(m, 21, 40, 2), *ex = expect_model(m);
  const fl_array *st0 = arr(mc, 0, "stocks"), *st1 = arr(mc, 1, "stocks");
  CHECK(same_bytes(st0, st1));
  const fl_arm *arm = &m->arms[1];
  for (int mode = 0; mode < 2; mode++) {
    const fl_results *res = mode ? ex : mc;
    const size_t R = mode ? 1 : res->R;
    const fl_array *by = fl_results_get(res, 1, FL_OUT_IV_REACHED_BY_STATE);
    const fl_array *dc = fl_results_get(res, 1, FL_OUT_DELTA_COSTS);
    const fl_array *spend = fl_results_get(res, 1, FL_OUT_IV_SPEND);
    CHECK(by != NULL && fl_results_get(res, 0, FL_OUT_IV_REACHED_BY_STATE) == NULL);
    double worst = 0, total_change = 0;
    for (size_t r = 0; r < R; r++)
      for (size_t t = 0; t < T; t++) {
        const double e = arm->strength[t * ni];
        double want[2] = {value_at(spend, r * T + t), 0};
        for (size_t s = 0; s < S; s++)
          want[1] += (0.8 - 1) * e * value_at(by, (r * T + t) * S + s) * m->cost[s * B + 1];
        total_change += want[1];
        for (size_t b = 0; b < B; b++) {
          const double got = value_at(dc, (r * T + t) * B + b);
          worst = fmax(worst, fabs(got - want[b]) / (1 + fabs(want[b])));
        }
      }
    CHECK_DBL_LE(worst, 1e-9);
    CHECK(total_change < 0); /* it saves something */
  }
  /* Reached children by state add up to the reached children. */
  const fl_array *by = fl_results_get(mc, 1, FL_OUT_IV_REACHED_BY_STATE);
  const fl_array *rc = fl_results_get(mc, 1, FL_OUT_IV_REACHED);
  long long bad = 0;
  for (size_t k = 0; k < mc->R * T; k++) {
    double sum = 0;
    for (size_t s = 0; s < S; s++) sum += value_at(by, k * S + s);
    bad += sum != value_at(rc, k);
  }
  CHECK_INT_EQ(bad, 0);
  /* The Monte Carlo mean of the discounted net cost difference is the expectation's. */
  const fl_array *tot = fl_results_get(mc, 1, FL_OUT_DELTA_COST_TOTAL);
  double mean = 0, ss = 0;
  for (size_t r = 0; r < mc->R; r++) mean += value_at(tot, r) / (double)mc->R;
  for (size_t r = 0; r < mc->R; r++) ss += pow(value_at(tot, r) - mean, 2);
  const double mcse = sqrt(ss / (double)(mc->R - 1) / (double)mc->R);
  CHECK_DBL_NEAR(mean, value_at(fl_results_get(ex, 1, FL_OUT_DELTA_COST_TOTAL), 0), 4 * mcse);
  fl_results_free(mc);
  fl_results_free(ex);
  fl_model_free(m);
}

int main(void) {
  test_state_cost_kind();
  fl_model *m = load_text_model(arms_yaml);
  fl_results *res = run_model(m, 2024, 40, 2);
  test_identical_arms(m, res);
  test_cost_only(m, res);
  test_no_escalation(m, res);
  test_reinvest(m, res);
  test_reference_spend(m, res);
  test_cumulative_and_breakeven(m, res);
  report_variance_reduction(m, res);
  test_timing();
  test_timing_cost_kinds();
  test_points();
  fl_results_free(res);
  fl_model_free(m);
  return check_finish("arms");
}
