/* Arms that change the scenario (arms.*.states, arms.*.transition_costs, arms.*.transitions):
 * for each kind of change, expectation mode against an independent hand-written Markov trace,
 * the Monte Carlo mean of the paired differences against expectation mode within a tolerance
 * from their Monte Carlo standard error, common random numbers (an arm that changes only rewards
 * moves every child exactly as the baseline does), and the same bytes for 1 and 2 threads.
 *
 * The model: a cohort of 1000 in yearly cycles, costs per year, 3.5% discounting, rewards at the
 * start of each cycle. Every probability is a multiple of 2^-7, so the engine's 2^-32
 * thresholds hold it exactly and expectation mode must agree with the trace to rounding. */
#include "testutil.h"

#include <string.h>

#define S 3
#define T 20
#define N0 1000.0
#define RATE 0.035

static const char *yaml =
    "flourish: 1\n"
    "name: arm overrides\n"
    "time: {step_months: 12, horizon_steps: 20}\n"
    "levels: [healthy, ill, gone]\n"
    "costs: {budget_holders: [health, social], per: year}\n"
    "discount: {costs: 0.035, qol: 0.035}\n"
    "states:\n"
    "  well: {level: healthy, qol: 0.9, cost: {health: 100}}\n"
    "  sick: {level: ill, qol: 0.5, cost: {health: 2000, social: 500}}\n"
    "  dead: {level: gone, qol: 0, absorbing: true}\n"
    "population:\n"
    "  initial: [{state: well, count: 1000}]\n"
    "transitions:\n"
    "  tables:\n"
    "    - rows:\n"
    "        well: {well: rest, sick: 0.125, dead: 0.03125}\n"
    "        sick: {well: 0.0625, sick: rest, dead: 0.125}\n"
    "transition_costs:\n"
    "  - {from: well, to: sick, cost: {health: 500}, qaly: -0.0625}\n"
    "arms:\n"
    "  qol_only:\n"
    "    states: {sick: {qol: 0.75}}\n"
    "  drug:\n"
    "    states: {sick: {cost: {health: 3000}}, well: {cost: {social: 40}}}\n"
    "  treat:\n"
    "    transitions:\n"
    "      tables:\n"
    "        - rows: {sick: {well: 0.25, sick: rest, dead: 0.0625}}\n"
    "  moves:\n"
    "    transition_costs:\n"
    "      - {from: well, to: sick, cost: {health: 1500}}\n"
    "      - {from: ill, to: gone, cost: {social: 250}, qaly: -0.125}\n"
    /* Everything at once, with an intervention acting on the arm's own rows and a state_cost
     * intervention on its own costs. */
    "  combined:\n"
    "    states: {sick: {qol: 0.625, cost: {health: 2400}}}\n"
    "    transition_costs: [{from: well, to: sick, qaly: 0}]\n"
    "    transitions:\n"
    "      tables:\n"
    "        - rows: {sick: {well: 0.1875, sick: rest, dead: 0.09375}}\n"
    "    interventions:\n"
    "      screen: {states: [well], escalation: 0.5}\n"
    "      cheaper: {kind: state_cost, states: [sick], cost_multiplier: {health: 0.75}}\n";

/* One arm as the trace sees it: the step matrix, state costs (summed over holders) and QoL
 * weights, and the one-off cost and QALY change of each move. */
typedef struct hand_arm {
  double P[S][S], cost[S], qol[S], move_cost[S][S], move_qaly[S][S];
} hand_arm;

static hand_arm hand_baseline(void) {
  hand_arm h = {.P = {{0.84375, 0.125, 0.03125}, {0.0625, 0.8125, 0.125}, {0, 0, 1}},
                .cost = {100, 2500, 0},
                .qol = {0.9, 0.5, 0}};
  h.move_cost[0][1] = 500;
  h.move_qaly[0][1] = -0.0625;
  return h;
}

/* The discounted cost and QALYs of the cohort: at the start of cycle t (t years in) the state
 * rewards of the cohort x_t, and the one-off rewards of the moves of cycle t where they land,
 * t + 1 years in; x_{t+1} = x_t P. */
static void trace(const hand_arm *h, double *cost, double *qalys) {
  double x[S] = {N0, 0, 0};
  *cost = *qalys = 0;
  for (size_t t = 0; t < T; t++) {
    const double v = pow(1 + RATE, -(double)t), v1 = pow(1 + RATE, -(double)(t + 1));
    double y[S] = {0};
    for (size_t s = 0; s < S; s++) {
      *cost += x[s] * h->cost[s] * v;
      *qalys += x[s] * h->qol[s] * v;
      for (size_t d = 0; d < S; d++) {
        const double f = x[s] * h->P[s][d];
        if (d != s) {
          *cost += f * h->move_cost[s][d] * v1;
          *qalys += f * h->move_qaly[s][d] * v1;
        }
        y[d] += f;
      }
    }
    memcpy(x, y, sizeof x);
  }
}

/* The arms of the scenario as the trace sees them (in the scenario's order after the
 * baseline). */
static hand_arm hand_arm_named(const char *name) {
  hand_arm h = hand_baseline();
  if (!strcmp(name, "qol_only")) {
    h.qol[1] = 0.75;
  } else if (!strcmp(name, "drug")) {
    h.cost[1] = 3000 + 500;
    h.cost[0] = 100 + 40;
  } else if (!strcmp(name, "treat")) {
    h.P[1][0] = 0.25, h.P[1][1] = 0.6875, h.P[1][2] = 0.0625;
  } else if (!strcmp(name, "moves")) {
    h.move_cost[0][1] = 1500;     /* qaly left out: the scenario's -0.0625 stays */
    h.move_cost[1][2] = 250;
    h.move_qaly[1][2] = -0.125;
  } else if (!strcmp(name, "combined")) {
    h.qol[1] = 0.625;
    h.cost[1] = 2400 * 0.75 + 500;
    h.move_qaly[0][1] = 0;        /* cost left out: the scenario's 500 stays */
    h.P[1][0] = 0.1875, h.P[1][1] = 0.71875, h.P[1][2] = 0.09375;
    h.P[0][1] = 0.0625, h.P[0][2] = 0.015625, h.P[0][0] = 1 - 0.0625 - 0.015625;
  }
  return h;
}

static const fl_array *comp(const fl_results *res, size_t arm, const char *name) {
  const fl_arm_results *g = &res->comps[arm];
  for (size_t i = 0; i < g->n_arrays; i++)
    if (!strcmp(g->arrays[i].name, name)) return &g->arrays[i];
  fprintf(stderr, "no comparison %s for arm %zu\n", name, arm);
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

static int same_bytes(const fl_array *x, const fl_array *y) {
  return fl_array_count(x) == fl_array_count(y) &&
         !memcmp(x->data, y->data, fl_array_count(x) * (x->type == FL_I32 ? 4 : 8));
}

static double rel_err(double got, double want) {
  return fabs(got - want) / fmax(fabs(want), 1e-300);
}

/* Expectation mode's Δcost and ΔQALYs (discounted totals) against the trace, for every arm, and
 * its baseline totals too. */
static void test_expectation(const fl_model *m, const fl_results *ex, double worst[2]) {
  const hand_arm b = hand_baseline();
  double bc, bq;
  trace(&b, &bc, &bq);
  double ec = 0, eq = 0;
  const fl_array *c = arr(ex, 0, "costs_discounted"), *q = arr(ex, 0, "qol_discounted");
  for (size_t i = 0; i < fl_array_count(c); i++) ec += value_at(c, i);
  for (size_t i = 0; i < fl_array_count(q); i++) eq += value_at(q, i);
  CHECK_DBL_LE(rel_err(ec, bc), 1e-9);
  CHECK_DBL_LE(rel_err(eq, bq), 1e-9);
  for (size_t a = 1; a < m->n_arms; a++) {
    const hand_arm h = hand_arm_named(m->arms[a].name);
    double hc, hq;
    trace(&h, &hc, &hq);
    const double dc = value_at(comp(ex, a, "delta_cost_total"), 0);
    const double dq = value_at(comp(ex, a, "delta_qaly_total"), 0);
    const double rc = hc == bc ? fabs(dc) : rel_err(dc, hc - bc);
    const double rq = hq == bq ? fabs(dq) : rel_err(dq, hq - bq);
    printf("  %-9s expect dcost %14.6f (hand %14.6f, rel %.1e)  dQALY %11.6f (hand %11.6f, "
           "rel %.1e)\n",
           m->arms[a].name, dc, hc - bc, rc, dq, hq - bq, rq);
    CHECK_DBL_LE(rc, 1e-9);
    CHECK_DBL_LE(rq, 1e-9);
    worst[0] = fmax(worst[0], rc);
    worst[1] = fmax(worst[1], rq);
  }
}

/* The mean and standard error over the replications of a per-replication array. */
static void mean_se(const fl_array *x, size_t R, double *mean, double *se) {
  double s = 0, s2 = 0;
  for (size_t r = 0; r < R; r++) s += value_at(x, r);
  *mean = s / (double)R;
  for (size_t r = 0; r < R; r++) s2 += (value_at(x, r) - *mean) * (value_at(x, r) - *mean);
  *se = sqrt(s2 / (double)(R - 1) / (double)R);
}

/* Monte Carlo: the paired differences' means within 4.5 standard errors of expectation mode (a
 * difference that cannot vary must be exact); arms that change only rewards keep every stock and
 * flow of the baseline bit for bit, and a difference they cannot make is exactly 0. */
static void test_monte_carlo(const fl_model *m, const fl_results *ex, size_t R) {
  fl_results *mc = run_model(m, 91, R, 0);
  for (size_t a = 1; a < m->n_arms; a++) {
    const char *name = m->arms[a].name;
    const int moves_alike = !m->arms[a].base_p && !m->arms[a].n_int;
    if (moves_alike) {
      CHECK(same_bytes(arr(mc, a, "stocks"), arr(mc, 0, "stocks")));
      CHECK(same_bytes(arr(mc, a, "flows"), arr(mc, 0, "flows")));
      CHECK(same_bytes(arr(mc, a, "exits"), arr(mc, 0, "exits")));
    }
    static const char *const what[2] = {"delta_cost_total", "delta_qaly_total"};
    for (int k = 0; k < 2; k++) {
      const fl_array *d = comp(mc, a, what[k]);
      double mean, se;
      mean_se(d, R, &mean, &se);
      const double want = value_at(comp(ex, a, what[k]), 0);
      if (want == 0 && moves_alike) { /* nothing the arm changes reaches this */
        double most = 0;
        for (size_t r = 0; r < R; r++) most = fmax(most, fabs(value_at(d, r)));
        CHECK_DBL_LE(most, 0);
        printf("  %-9s %-16s exactly 0 in every replication\n", name, what[k]);
        continue;
      }
      const double z = se > 0 ? fabs(mean - want) / se : HUGE_VAL;
      printf("  %-9s %-16s MC %14.6f +- %10.6f vs expect %14.6f: z = %.2f\n", name, what[k],
             mean, se, want, z);
      CHECK_DBL_LE(z, 4.5);
    }
  }
  /* The qol_only arm changes no cost: every per-step cost difference is 0. */
  const fl_array *dc = comp(mc, 1, "delta_costs");
  double most = 0;
  for (size_t i = 0; i < fl_array_count(dc); i++) most = fmax(most, fabs(value_at(dc, i)));
  CHECK_DBL_LE(most, 0);
  fl_results_free(mc);
}

/* The same bytes for one thread and two. */
static void test_threads(const fl_model *m) {
  static const char *const names[] = {"stocks", "flows", "exits", "costs", "costs_discounted",
                                      "qol", "qol_discounted"};
  fl_results *one = run_model(m, 7, 24, 1), *two = run_model(m, 7, 24, 2);
  for (size_t a = 0; a < m->n_arms; a++)
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      CHECK(same_bytes(arr(one, a, names[i]), arr(two, a, names[i])));
  for (size_t a = 1; a < m->n_arms; a++) {
    CHECK(same_bytes(comp(one, a, "delta_cost_total"), comp(two, a, "delta_cost_total")));
    CHECK(same_bytes(comp(one, a, "delta_qaly_total"), comp(two, a, "delta_qaly_total")));
  }
  fl_results_free(one);
  fl_results_free(two);
}

/* An arm that restates the scenario's own values is the baseline bit for bit. */
static void test_restated(void) {
  char text[8192];
  snprintf(text, sizeof text, "%s%s", yaml,
           "  restated:\n"
           "    states: {sick: {qol: 0.5, cost: {health: 2000}}}\n"
           "    transition_costs: [{from: well, to: sick, cost: {health: 500}}]\n"
           "    transitions:\n"
           "      tables:\n"
           "        - rows: {sick: {well: 0.0625, sick: rest, dead: 0.125}}\n");
  fl_model *m = load_text_model(text);
  const size_t a = m->n_arms - 1;
  fl_results *mc = run_model(m, 3, 16, 0), *ex = expect_model(m);
  static const char *const names[] = {"stocks", "flows", "costs", "costs_discounted", "qol",
                                      "qol_discounted"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    CHECK(same_bytes(arr(mc, a, names[i]), arr(mc, 0, names[i])));
    CHECK(same_bytes(arr(ex, a, names[i]), arr(ex, 0, names[i])));
  }
  fl_results_free(mc);
  fl_results_free(ex);
  fl_model_free(m);
}

/* A transitions override cannot be redrawn under --psa: refused with a message. */
static void test_psa_refused(const fl_model *m) {
  fl_run_options opt;
  fl_results *res = NULL;
  fl_error err = {0};
  fl_run_options_init(&opt);
  opt.replications = 4;
  opt.psa = 1;
  CHECK_INT_EQ(fl_run(m, &opt, &res, &err), FL_EUSAGE);
  CHECK_STR_EQ(err.message, "parameter uncertainty cannot be drawn: arm 'treat' has transition "
                            "rows of its own (arms.treat.transitions), which it cannot redraw");
  fl_results_free(res);
}

/* Under --psa the arm's own values are used as given and the drawn ones elsewhere: with the
 * sick health cost and the well QoL weight drawn, the drug arm (its own sick health cost) and
 * the qol_only arm (its own sick QoL) keep the baseline's stocks, and their costs and QoL are
 * the stocks at the arm's values where it gives them and at the drawn values where not. */
static void test_psa(void) {
  char text[8192];
  const char *arms = strstr(yaml, "arms:\n"), *treat = strstr(yaml, "  treat:\n");
  snprintf(text, sizeof text, "%.*s%s%.*s", (int)(arms - yaml), yaml,
           "uncertainty:\n"
           "  - {key: states.sick.cost.health, distribution: gamma, sd: 400}\n"
           "  - {key: states.well.qol, distribution: beta, sd: 0.05}\n",
           (int)(treat - arms), arms); /* the baseline, qol_only and drug */
  fl_model *m = load_text_model(text);
  fl_run_options opt;
  fl_results *res = NULL;
  fl_error err = {0};
  fl_run_options_init(&opt);
  opt.replications = 6;
  opt.psa = 1;
  CHECK_INT_EQ(fl_run(m, &opt, &res, &err), FL_OK);
  if (!res) return;
  const fl_array *pc = arr(res, 0, "parameters/cost"), *pq = arr(res, 0, "parameters/qol");
  for (size_t a = 1; a < 3; a++) {
    CHECK(same_bytes(arr(res, a, "stocks"), arr(res, 0, "stocks")));
    CHECK(same_bytes(arr(res, a, "flows"), arr(res, 0, "flows")));
  }
  const fl_array *st = arr(res, 0, "stocks");
  double most[4] = {0, 0, 0, 0};
  for (size_t r = 0; r < res->R; r++) {
    const double drawn_sick = value_at(pc, r * S * 2 + 1 * 2 + 0);
    const double drawn_well_q = value_at(pq, r * S + 0);
    for (size_t t = 0; t < T; t++) {
      const double well = value_at(st, (r * (T + 1) + t) * S);
      const double sick = value_at(st, (r * (T + 1) + t) * S + 1);
      /* (and the one-off cost and QALY change of falling sick, the scenario's in each arm) */
      const double fell = value_at(arr(res, 0, "flows"), ((r * T + t) * S + 0) * S + 1);
      const double want[4] = {well * 100 + sick * drawn_sick + fell * 500,
                              well * 100 + sick * 3000 + fell * 500,
                              well * drawn_well_q + sick * 0.5 - fell * 0.0625,
                              well * drawn_well_q + sick * 0.75 - fell * 0.0625};
      const double got[4] = {value_at(arr(res, 0, "costs"), (r * T + t) * 2),
                             value_at(arr(res, 2, "costs"), (r * T + t) * 2),
                             value_at(arr(res, 0, "qol"), r * T + t),
                             value_at(arr(res, 1, "qol"), r * T + t)};
      for (int k = 0; k < 4; k++)
        most[k] = fmax(most[k], fabs(got[k] - want[k]) / fmax(1, fabs(want[k])));
    }
  }
  for (int k = 0; k < 4; k++) CHECK_DBL_LE(most[k], 1e-12);
  CHECK(value_at(pc, 1 * 2) != value_at(pc, S * 2 + 1 * 2)); /* drawn: differs by replication */
  fl_results_free(res);
  fl_model_free(m);
}

int main(void) {
  const char *scale_env = getenv("FLOURISH_STAT_SCALE");
  double scale = scale_env ? atof(scale_env) : 1.0;
  if (!(scale > 0)) scale = 1.0;
  fl_model *m = load_text_model(yaml);
  fl_results *ex = expect_model(m);
  double worst[2] = {0, 0};
  printf("expectation mode against the hand trace:\n");
  test_expectation(m, ex, worst);
  printf("  worst relative error: dcost %.1e, dQALY %.1e\n", worst[0], worst[1]);
  const size_t R = (size_t)(2000 * scale) < 50 ? 50 : (size_t)(2000 * scale);
  printf("Monte Carlo, R = %zu:\n", R);
  test_monte_carlo(m, ex, R);
  test_threads(m);
  test_restated();
  test_psa_refused(m);
  test_psa();
  fl_results_free(ex);
  fl_model_free(m);
  return check_finish("arm_overrides");
}
