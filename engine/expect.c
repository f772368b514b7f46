/* Expectation mode: the exact expected stocks, flows, entries and exits of the agent model,
 * propagated as probability mass over (locality x age x time-in-state x state) cells.
 *
 * It applies the same phases in the same order as the agent simulation (entries, transition
 * including leaving the area, ageing and leaving at the maximum age) and the same quantised
 * probabilities, so the Monte Carlo means converge to these values exactly (up to floating-point
 * rounding). Time in state is tracked up to the last duration band edge, beyond which rows no
 * longer depend on it; likewise age when there is no maximum age. */
#include "internal.h"

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

fl_status fl_expect(const fl_model *m, fl_results **out, fl_error *err) {
  const size_t S = m->S, T = m->T;
  grid g = {m->NLOC, 0, (size_t)m->dur_cap + 1, S};
  fl_results *res = calloc(1, sizeof *res);
  double *mass = NULL, *next = NULL;
  size_t ncells;
  uint32_t max_seen = m->age_cap;
  *out = NULL;
  if (!res) goto nomem;
  /* The age dimension: every age a child can have, or up to the last band edge. */
  for (size_t i = 0; i < m->n_init; i++)
    if (m->init[i].age_hi > max_seen) max_seen = m->init[i].age_hi;
  for (size_t e = 0; e < m->n_entries; e++)
    if (m->entries[e].age_hi > max_seen) max_seen = m->entries[e].age_hi;
  g.A = m->max_age ? m->max_age : (size_t)max_seen + 1;
  ncells = g.NLOC * g.A * g.D * S;
  if (ncells > ((size_t)1 << 31) / sizeof(double)) {
    fl_error_set(err, FL_ENOMEM, m->scenario_path, 0, 0, NULL,
                 "expectation mode would need %zu cells (locality x age x time in state x "
                 "state); too many",
                 ncells);
    fl_results_free(res);
    return FL_ENOMEM;
  }
  mass = fl_calloc(ncells, sizeof *mass);
  next = fl_calloc(ncells, sizeof *next);
  res->expectation = 1;
  res->R = 1;
  res->n_arms = m->n_arms;
  if (!mass || !next) goto nomem;
  for (size_t arm_i = 0; arm_i < m->n_arms; arm_i++) {
    const fl_arm *arm = &m->arms[arm_i];
    fl_arm_results *ar = &res->arms[arm_i];
    const size_t d_stocks[2] = {T + 1, S}, d_flows[3] = {T, S, S}, d_ts[2] = {T, S};
    const size_t d_loc[3] = {T + 1, m->NLOC, S};
    double *stocks, *flows, *entries, *exits, *stocks_loc = NULL;
    if (!(ar->name = fl_strdup(arm->name))) goto nomem;
    stocks = fl_results_add(ar, "stocks", "Expected children in each state at the start of "
                            "each step.", FL_F64, 2, d_stocks);
    if (m->NLOC > 1 &&
        !(stocks_loc = fl_results_add(ar, "stocks_by_locality", "Expected children in each "
                                      "locality and state at the start of each step.",
                                      FL_F64, 3, d_loc)))
      goto nomem;
    flows = fl_results_add(ar, "flows", "Expected moves during each step, from state (second "
                           "index) to state (third index).", FL_F64, 3, d_flows);
    entries = fl_results_add(ar, "entries", "Expected entrants during each step by state.",
                             FL_F64, 2, d_ts);
    exits = fl_results_add(ar, "exits", "Expected leavers during each step by state.", FL_F64,
                           2, d_ts);
    if (!stocks || !flows || !entries || !exits) goto nomem;

    memset(mass, 0, ncells * sizeof *mass);
    for (size_t i = 0; i < m->n_init; i++) {
      const fl_init_group *gr = &m->init[i];
      double na = gr->age_hi - gr->age_lo + 1.0, nd = gr->tis_hi - gr->tis_lo + 1.0;
      for (uint32_t a = gr->age_lo; a <= gr->age_hi; a++)
        for (uint32_t d = gr->tis_lo; d <= gr->tis_hi; d++)
          mass[cell(&g, gr->loc, a, d < m->dur_cap ? d : m->dur_cap, gr->state)] +=
              (double)gr->count / (na * nd);
    }
    for (size_t t = 0; t <= T; t++) {
      /* Stocks at the start of step t. */
      for (size_t c = 0; c < ncells; c++) {
        stocks[t * S + c % S] += mass[c];
        if (stocks_loc) stocks_loc[t * m->NLOC * S + (c / (g.A * g.D * S)) * S + c % S] += mass[c];
      }
      if (t == T) break;
      /* Phase 1: entries. */
      for (size_t e = 0; e < m->n_entries; e++) {
        const fl_entry_stream *es = &m->entries[e];
        double na = es->age_hi - es->age_lo + 1.0;
        for (size_t l = 0; l < m->NLOC; l++) {
          double pl = q_cum(es->loc_cum, l);
          for (size_t s = 0; s < S; s++) {
            double w = es->per_step * pl * q_cum(es->state_cum, s);
            if (w == 0) continue;
            entries[t * S + s] += w;
            for (uint32_t a = es->age_lo; a <= es->age_hi; a++) mass[cell(&g, l, a, 0, s)] += w / na;
          }
        }
      }
      /* Phases 2 and 3: transitions, then ageing. */
      memset(next, 0, ncells * sizeof *next);
      const fl_row *rows = arm->rows + (size_t)arm->step_table[t] * m->rows_per_period;
      for (size_t l = 0; l < m->NLOC; l++)
        for (size_t a = 0; a < g.A; a++) {
          size_t a2 = a + 1 < g.A ? a + 1 : g.A - 1;
          int leaves = m->max_age && a + 1 >= m->max_age;
          for (size_t d = 0; d < g.D; d++) {
            size_t d_up = d + 1 < g.D ? d + 1 : g.D - 1;
            for (size_t s = 0; s < S; s++) {
              double x = mass[cell(&g, l, a, d, s)], prev;
              const fl_row *row;
              if (x == 0) continue;
              row = rows + fl_row_index(m, 0, l, (uint32_t)a, (uint32_t)d, s);
              prev = (double)row->stay;
              double stay = x * prev / FL_P_ONE;
              if (leaves) exits[t * S + s] += stay;
              else next[cell(&g, l, a2, d_up, s)] += stay;
              for (uint32_t k = row->first; k < row->first + row->n; k++) {
                double y = x * ((double)arm->move_cum[k] - prev) / FL_P_ONE;
                size_t dst = arm->move_dest[k];
                prev = (double)arm->move_cum[k];
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
                next[cell(&g, l, a2, reset ? 0 : d_up, dst)] += y;
              }
            }
          }
        }
      double *tmp = mass;
      mass = next;
      next = tmp;
    }
  }
  free(mass);
  free(next);
  if (fl_results_derive(res, m, err) != FL_OK) {
    fl_results_free(res);
    return err ? err->code : FL_ENOMEM;
  }
  *out = res;
  return FL_OK;
nomem:
  free(mass);
  free(next);
  fl_results_free(res);
  fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory in expectation mode");
  return FL_ENOMEM;
}
