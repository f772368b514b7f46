/* Expectation mode: the exact expected stocks, flows, entries and exits of the agent model,
 * propagated as probability mass over (locality x age x time-in-state x state) cells.
 *
 * It applies the same phases in the same order as the agent simulation (entries, transition
 * including leaving the area, ageing and leaving at the maximum age) and the same quantised
 * probabilities, so the Monte Carlo means converge to these values exactly (up to floating-point
 * rounding). Time in state is tracked up to the last duration band edge, beyond which rows no
 * longer depend on it; likewise age when there is no maximum age. */
#include "results/results.h"

#include "model/intervention.h"

#include <stdlib.h>
#include <string.h>

typedef struct grid {
  size_t NLOC, A, D, S;
} grid;

static inline size_t cell(const grid *g, size_t l, size_t a, size_t d, size_t s) {
  return ((l * g->A + a) * g->D + d) * g->S + s;
}

static double q_cum(const uint64_t *cum, size_t k) {
  return ((double)cum[k] - (k ? (double)cum[k - 1] : 0.0)) / FL_P_ONE;
}

/* The expected children that intervention iv reaches in mass, in total (returned) and by state,
 * added to by_state[S] (NULL: not wanted). */
static double reach_expected(const fl_model *m, const fl_intervention *iv, const grid *g,
                             const double *mass, double *by_state) {
  double r = 0;
  for (size_t l = 0; l < g->NLOC; l++)
    for (size_t a = 0; a < g->A; a++)
      for (size_t d = 0; d < g->D; d++)
        for (size_t s = 0; s < m->S; s++)
          if (fl_intervention_reaches(iv, l, s, (uint32_t)a)) {
            r += mass[cell(g, l, a, d, s)];
            if (by_state) by_state[s] += mass[cell(g, l, a, d, s)];
          }
  return r;
}

/* A table built during the run, for an arm that reinvests. */
typedef struct dyn_table {
  fl_row *rows;
  uint32_t *stay32;
  uint64_t *move_cum;
  uint8_t *move_dest;
  double e[FL_MAX_INTERVENTIONS];
} dyn_table;

/* Expected spend and reach of each running intervention at step t (mass after the entries),
 * by the bookkeeping the simulation uses (fl_arm_step_open, fl_arm_spend). With reinvestment
 * the saving is the expected one, from the expected occupancies of the baseline (stocks and
 * entries of step t) and of this arm: expectation mode reinvests the expected saving, which is
 * not the expectation of the stochastic loop (the dose-response is not linear). Returns
 * nonzero when it built a table in dyn. */
static int interventions_expected(const fl_model *m, const fl_arm *arm, size_t t, const grid *g,
                                  const double *mass, const fl_arm_results *base,
                                  const double *stocks, const double *entries, double *spend,
                                  double *reached, double *by_state, dyn_table *dyn,
                                  double *saving) {
  const size_t S = m->S, ni = arm->n_int;
  int dynamic = 0;
  if (fl_arm_reinvests(arm)) {
    const double *bst = fl_group_get(base, FL_OUT_STOCKS)->data;
    const double *ben = fl_group_get(base, FL_OUT_ENTRIES)->data;
    double occ[FL_MAX_STATES], base_occ[FL_MAX_STATES];
    for (size_t s = 0; s < S; s++) {
      occ[s] = stocks[t * S + s] + entries[t * S + s];
      base_occ[s] = bst[t * S + s] + ben[t * S + s];
    }
    dynamic = fl_arm_step_open(m, arm, t, occ, base_occ, m->cost, saving, dyn->e);
  } else {
    for (size_t i = 0; i < ni; i++) dyn->e[i] = arm->strength[t * ni + i];
  }
  for (size_t i = 0; i < ni; i++) {
    const fl_intervention *iv = &arm->ints[i];
    if (!fl_intervention_running(m, iv, t)) continue;
    spend[t * ni + i] = fl_arm_spend(m, arm, i, t, saving) * m->step_months;
    reached[t * ni + i] +=
        reach_expected(m, iv, g, mass, by_state ? by_state + (t * ni + i) * S : NULL);
  }
  if (!dynamic) return 0;
  size_t n_moves = 0, bad;
  return fl_table_build(m, arm->base_p, arm, m->period_of_step[t], dyn->e, dyn->rows, dyn->stay32,
                        dyn->move_cum, dyn->move_dest, &n_moves, &bad) == 0;
}

/* Expected children each running intervention of step t reaches at its end (the mass after the
 * transitions and ageing), in total and by state (by_state NULL where the arm's kinds do not
 * need it), for the reward timings that count the end of a step. */
static void reach_end_expected(const fl_model *m, const fl_arm *arm, size_t t, const grid *g,
                               const double *mass, double *reached, double *by_state) {
  const size_t S = m->S, ni = arm->n_int;
  for (size_t i = 0; i < ni; i++) {
    const fl_intervention *iv = &arm->ints[i];
    if (!fl_intervention_running(m, iv, t)) continue;
    reached[t * ni + i] +=
        reach_expected(m, iv, g, mass, by_state ? by_state + (t * ni + i) * S : NULL);
  }
}

/* Expectation mode's working state: the grid, the mass of this step and the next, the savings
 * of an arm that reinvests, and the table built for it. */
typedef struct expect_run {
  const fl_model *m;
  grid g;
  size_t ncells;
  double *mass, *next, *saving;
  dyn_table dyn;
} expect_run;

static void expect_free(expect_run *x) {
  free(x->mass);
  free(x->next);
  free(x->saving);
  free(x->dyn.rows);
  free(x->dyn.stay32);
  free(x->dyn.move_cum);
  free(x->dyn.move_dest);
}

/* Sizes the grid (every age a child can have, or up to the last band edge) and allocates the
 * buffers. */
static fl_status expect_init(expect_run *x, const fl_model *m, fl_error *err) {
  const size_t S = m->S, rpp = m->rows_per_period;
  uint32_t max_seen = m->age_cap;
  x->m = m;
  /* (times in state up to the last class of the rewards by time in state, too, and ages up
   * to the last of those by age) */
  x->g = (grid){m->NLOC, 0,
                (size_t)(m->rc_tis_cap > m->dur_cap ? m->rc_tis_cap : m->dur_cap) + 1, S};
  if (m->rc_age_cap > max_seen) max_seen = m->rc_age_cap;
  for (size_t i = 0; i < m->n_init; i++)
    if (m->init[i].age_hi > max_seen) max_seen = m->init[i].age_hi;
  for (size_t e = 0; e < m->n_entries; e++)
    if (m->entries[e].age_hi > max_seen) max_seen = m->entries[e].age_hi;
  x->g.A = m->max_age ? m->max_age : (size_t)max_seen + 1;
  x->ncells = x->g.NLOC * x->g.A * x->g.D * S;
  if (x->ncells > ((size_t)1 << 31) / sizeof(double)) {
    fl_error_set(err, FL_ENOMEM, m->scenario_path, 0, 0, NULL,
                 "expectation mode would need %zu cells (locality x age x time in state x "
                 "state); too many",
                 x->ncells);
    return FL_ENOMEM;
  }
  x->mass = fl_calloc(x->ncells, sizeof *x->mass);
  x->next = fl_calloc(x->ncells, sizeof *x->next);
  x->saving = fl_calloc(m->T, sizeof *x->saving);
  x->dyn.rows = fl_calloc(rpp, sizeof *x->dyn.rows);
  x->dyn.stay32 = fl_calloc(rpp, sizeof *x->dyn.stay32);
  x->dyn.move_cum = fl_calloc(rpp * (S + 1), sizeof *x->dyn.move_cum);
  x->dyn.move_dest = fl_calloc(rpp * (S + 1), 1);
  if (!x->mass || !x->next || !x->saving || !x->dyn.rows || !x->dyn.stay32 ||
      !x->dyn.move_cum || !x->dyn.move_dest) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory in expectation mode");
    return FL_ENOMEM;
  }
  return FL_OK;
}

/* The initial population as mass (times w, the share of a sub-cohort), spread uniformly over
 * each group's ages and times in state. */
static void initial_mass(expect_run *x, double w) {
  const fl_model *m = x->m;
  memset(x->mass, 0, x->ncells * sizeof *x->mass);
  for (size_t i = 0; i < m->n_init; i++) {
    const fl_init_group *gr = &m->init[i];
    double na = gr->age_hi - gr->age_lo + 1.0, nd = gr->tis_hi - gr->tis_lo + 1.0;
    for (uint32_t a = gr->age_lo; a <= gr->age_hi; a++)
      for (uint32_t d = gr->tis_lo; d <= gr->tis_hi; d++)
        x->mass[cell(&x->g, gr->loc, a, d < x->g.D ? d : x->g.D - 1, gr->state)] +=
            w * (double)gr->count / (na * nd);
  }
}

/* Phase 1 of step t: the expected entrants of a sub-cohort of share w and multiplier z, into
 * the mass, entries[T, S], het_entries[T, S], rc_entries[T, NRC] and het_rc_entries[T, NRC]
 * (NULL: not tallied). */
static void enter_mass(expect_run *x, size_t t, double *entries, double *het_entries,
                       double *rc_entries, double *het_rc_entries, double z, double w_share) {
  const fl_model *m = x->m;
  const size_t S = m->S;
  for (size_t e = 0; e < m->n_entries; e++) {
    const fl_entry_stream *es = &m->entries[e];
    double na = es->age_hi - es->age_lo + 1.0;
    for (size_t l = 0; l < m->NLOC; l++) {
      double pl = q_cum(es->loc_cum, l);
      for (size_t s = 0; s < S; s++) {
        double w = es->per_step * pl * q_cum(es->state_cum, s) * w_share;
        if (w == 0) continue;
        entries[t * S + s] += w;
        if (het_entries) het_entries[t * S + s] += z * w;
        for (uint32_t a = es->age_lo; a <= es->age_hi; a++) {
          x->mass[cell(&x->g, l, a, 0, s)] += w / na;
          if (rc_entries) rc_entries[t * m->NRC + fl_reward_class(m, s, a, 0)] += w / na;
          if (het_rc_entries)
            het_rc_entries[t * m->NRC + fl_reward_class(m, s, a, 0)] += z * w / na;
        }
      }
    }
  }
}

/* Phases 2 and 3 of step t: transitions on the given rows (including leaving the area), then
 * ageing and leaving at the maximum age, from mass into next (then swapped); flows[T, S, S]
 * and exits[T, S] count what moved and left. The rows of states whose moves the model's
 * heterogeneity multiplies are those of a child with multiplier z (fl_het_row). */
static void step_mass(expect_run *x, size_t t, const fl_row *rows, const uint64_t *move_cum,
                      const uint8_t *move_dest, double z, double *flows, double *exits) {
  const fl_model *m = x->m;
  const grid *g = &x->g;
  const size_t S = m->S;
  const double *mass = x->mass;
  double *next = x->next;
  const uint8_t *het_on = m->het.row_on;
  uint64_t het_cum[FL_MAX_STATES + 1];
  memset(next, 0, x->ncells * sizeof *next);
  for (size_t l = 0; l < m->NLOC; l++)
    for (size_t a = 0; a < g->A; a++) {
      size_t a2 = a + 1 < g->A ? a + 1 : g->A - 1;
      int leaves = m->max_age && a + 1 >= m->max_age;
      for (size_t d = 0; d < g->D; d++) {
        size_t d_up = d + 1 < g->D ? d + 1 : g->D - 1;
        for (size_t s = 0; s < S; s++) {
          double xm = mass[cell(g, l, a, d, s)], prev;
          const fl_row *row;
          if (xm == 0) continue;
          row = rows + fl_row_index(m, 0, l, (uint32_t)a, (uint32_t)d, s);
          const uint64_t *cum = move_cum + row->first;
          prev = (double)row->stay;
          if (het_on && het_on[s]) {
            int capped;
            prev = (double)fl_het_row(m, s, row, move_cum, move_dest, z, het_cum, &capped);
            cum = het_cum;
          }
          double stay = xm * prev / FL_P_ONE;
          if (leaves) exits[t * S + s] += stay;
          else next[cell(g, l, a2, d_up, s)] += stay;
          for (uint32_t k = 0; k < row->n; k++) {
            double y = xm * ((double)cum[k] - prev) / FL_P_ONE;
            size_t dst = move_dest[row->first + k];
            prev = (double)cum[k];
            if (y == 0) continue;
            if (dst == FL_DEST_EXIT) {
              exits[t * S + s] += y;
              continue;
            }
            flows[(t * S + s) * S + dst] += y;
            if (leaves) {
              exits[t * S + dst] += y;
              continue;
            }
            int reset = !m->tis_by_level || m->state_level[dst] != m->state_level[s];
            next[cell(g, l, a2, reset ? 0 : d_up, dst)] += y;
          }
        }
      }
    }
  x->next = x->mass;
  x->mass = next;
}

/* The mass by reward class, added to out[NRC], and times z to het_out[NRC] (NULL: not
 * tallied). */
static void rc_mass(const expect_run *x, double z, double *out, double *het_out) {
  const fl_model *m = x->m;
  const grid *g = &x->g;
  for (size_t l = 0; l < g->NLOC; l++)
    for (size_t a = 0; a < g->A; a++)
      for (size_t d = 0; d < g->D; d++)
        for (size_t s = 0; s < g->S; s++) {
          const double v = x->mass[cell(g, l, a, d, s)];
          if (v == 0) continue;
          const size_t k = fl_reward_class(m, s, (uint32_t)a, (uint32_t)d);
          out[k] += v;
          if (het_out) het_out[k] += z * v;
        }
}

/* The expected tallies of arm arm_i over the horizon, in the same phases as the simulation, of
 * the sub-cohort of share w whose children have multiplier z (the whole population: 1 and 1),
 * added to the results. */
static void expect_arm(expect_run *x, fl_results *res, size_t arm_i, double z, double w) {
  const fl_model *m = x->m;
  const fl_arm *arm = &m->arms[arm_i];
  const size_t S = m->S, T = m->T, NLOC = m->NLOC, per_loc = x->g.A * x->g.D * S;
#define DATA(id) (fl_results_get(res, arm_i, id) ? fl_results_get(res, arm_i, id)->data : NULL)
  double *stocks = DATA(FL_OUT_STOCKS), *stocks_loc = DATA(FL_OUT_STOCKS_BY_LOCALITY);
  double *flows = DATA(FL_OUT_FLOWS), *entries = DATA(FL_OUT_ENTRIES);
  double *exits = DATA(FL_OUT_EXITS), *spend = DATA(FL_OUT_IV_SPEND);
  double *reached = DATA(FL_OUT_IV_REACHED), *by_state = DATA(FL_OUT_IV_REACHED_BY_STATE);
  double *reached_end = DATA(FL_OUT_IV_REACHED_END);
  double *by_state_end = DATA(FL_OUT_IV_REACHED_END_BY_STATE);
  double *het_stocks = DATA(FL_OUT_HET_STOCKS), *het_entries = DATA(FL_OUT_HET_ENTRIES);
  double *rc_stocks = DATA(FL_OUT_RC_STOCKS), *rc_entries = DATA(FL_OUT_RC_ENTRIES);
  double *het_rc_stocks = DATA(FL_OUT_HET_RC_STOCKS);
  double *het_rc_entries = DATA(FL_OUT_HET_RC_ENTRIES);
#undef DATA
  initial_mass(x, w);
  for (size_t t = 0; t <= T; t++) {
    /* Stocks at the start of step t. */
    for (size_t c = 0; c < x->ncells; c++) {
      stocks[t * S + c % S] += x->mass[c];
      if (stocks_loc) stocks_loc[t * NLOC * S + (c / per_loc) * S + c % S] += x->mass[c];
      if (het_stocks) het_stocks[t * S + c % S] += z * x->mass[c];
    }
    if (rc_stocks)
      rc_mass(x, z, rc_stocks + t * m->NRC, het_rc_stocks ? het_rc_stocks + t * m->NRC : NULL);
    if (t == T) break;
    enter_mass(x, t, entries, het_entries, rc_entries, het_rc_entries, z, w);
    /* Interventions: spend, reach, and for an arm that reinvests, the table for the spend that
     * the expected saving funds. */
    const fl_row *rows = arm->rows + (size_t)arm->step_table[t] * m->rows_per_period;
    const uint64_t *move_cum = arm->move_cum;
    const uint8_t *move_dest = arm->move_dest;
    if (arm->n_int && interventions_expected(m, arm, t, &x->g, x->mass, &res->arms[0], stocks,
                                             entries, spend, reached, by_state, &x->dyn,
                                             x->saving))
      rows = x->dyn.rows, move_cum = x->dyn.move_cum, move_dest = x->dyn.move_dest;
    step_mass(x, t, rows, move_cum, move_dest, z, flows, exits);
    if (reached_end) reach_end_expected(m, arm, t, &x->g, x->mass, reached_end, by_state_end);
  }
}

fl_status fl_expect(const fl_model *m, fl_results **out, fl_error *err) {
  const fl_output_ctx oc = {.m = m, .expectation = 1};
  expect_run x = {0};
  fl_status st;
  *out = NULL;
  fl_results *res = fl_results_create(&oc);
  if (!res) {
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory in expectation mode");
    return FL_ENOMEM;
  }
  if ((st = expect_init(&x, m, err)) != FL_OK ||
      (st = fl_results_alloc(res, FL_STAGE_TALLY, err)) != FL_OK) {
    expect_free(&x);
    fl_results_free(res);
    return st;
  }
  /* Heterogeneity: a mixture of sub-cohorts, one per node of the multiplier's distribution
   * (its values, or the nodes of its Gauss rule), weighted by the node's weight. */
  const fl_het *h = &m->het;
  for (size_t arm_i = 0; arm_i < m->n_arms; arm_i++) {
    if (h->dist == FL_HET_NONE) expect_arm(&x, res, arm_i, 1, 1);
    for (size_t k = 0; h->dist != FL_HET_NONE && k < h->n_nodes; k++)
      if (h->node_w[k] > 0) expect_arm(&x, res, arm_i, h->node_z[k], h->node_w[k]);
  }
  expect_free(&x);
  if ((st = fl_results_derive(res, err)) != FL_OK || (st = fl_results_compare(res, err)) != FL_OK) {
    fl_results_free(res);
    return st;
  }
  *out = res;
  return FL_OK;
}
