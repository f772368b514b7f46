/* The lean expectation pass of `flourish fit`: the baseline's expected stocks, flows, entries
 * and exits by locality and state, step by step, and nothing else (no costs, QoL,
 * interventions or outputs registry). It moves probability mass through the same (locality x
 * age x time in state x state) cells as expectation mode (expect.c), in the same phases, on the
 * same quantised rows, so its numbers are expectation mode's; its buffers are kept across
 * evaluations, so that a fit that recompiles only the scenario's numbers allocates nothing per
 * evaluation.
 *
 * Where no row depends on age or time in state (no age or duration bands), a child's age
 * matters only for when it leaves at the maximum age, and children who arrived together in one
 * state of one locality move alike. The pass then follows cohorts instead of cells: one vector
 * of S states for each group of the initial population (its ages uniform on a range) and for
 * each entry stream's entrants (pooled over the steps when none of them can reach the maximum
 * age within the horizon, else one a step), each step multiplied by the locality's row; a
 * cohort of n ages still present loses 1/n of its mass at the maximum age in each step where
 * one of its ages reaches it, exactly what the cells would lose. It costs S x moves per cohort
 * and step instead of per age, time in state and state. */
#include "sim/sim.h"

#include <stdlib.h>
#include <string.h>

/* A cohort: its locality, its ages at step 0 [lo, hi] (negative for entrants who arrive
 * later: their age at arrival less the step), its mass by state. */
typedef struct cohort {
  size_t loc;
  long lo, hi;
  double *x;
} cohort;

struct fl_series_ws {
  size_t NLOC, A, D, S, T, ncells;
  double *mass, *next;
  int by_cohort;
  size_t n_cohorts, cap_cohorts;
  cohort *co;
  double *co_mass, *tmp; /* [cap_cohorts * S], [S] */
  fl_series out;
};

/* Ages the grid needs for m: every age a child can have, or up to the last band edge. */
static size_t grid_ages(const fl_model *m) {
  uint32_t max_seen = m->age_cap;
  for (size_t i = 0; i < m->n_init; i++)
    if (m->init[i].age_hi > max_seen) max_seen = m->init[i].age_hi;
  for (size_t e = 0; e < m->n_entries; e++)
    if (m->entries[e].age_hi > max_seen) max_seen = m->entries[e].age_hi;
  return m->max_age ? m->max_age : (size_t)max_seen + 1;
}

/* Whether no entrant of stream es can reach the maximum age within the horizon (its entrants
 * of every step then move alike and are pooled). */
static int pools(const fl_model *m, const fl_entry_stream *es) {
  return !m->max_age || (size_t)es->age_hi + m->T < m->max_age;
}

void fl_series_ws_free(fl_series_ws *w) {
  if (!w) return;
  free(w->mass);
  free(w->next);
  free(w->co);
  free(w->co_mass);
  free(w->tmp);
  free(w->out.stocks);
  free(w->out.flows);
  free(w->out.entries);
  free(w->out.exits);
  free(w);
}

fl_series_ws *fl_series_ws_create(const fl_model *m) {
  fl_series_ws *w = calloc(1, sizeof *w);
  if (!w) return NULL;
  w->NLOC = m->NLOC;
  w->A = grid_ages(m);
  w->D = (size_t)m->dur_cap + 1;
  w->S = m->S;
  w->T = m->T;
  w->ncells = w->NLOC * w->A * w->D * w->S;
  const size_t LS = w->NLOC * w->S;
  w->by_cohort = m->NA == 1 && m->ND == 1;
  if (w->by_cohort) {
    /* Initial groups, and each entry stream by locality: pooled, or one a step. */
    size_t n = m->n_init;
    for (size_t e = 0; e < m->n_entries; e++)
      n += m->NLOC * (pools(m, &m->entries[e]) ? 1 : m->T);
    w->cap_cohorts = n ? n : 1;
    w->co = fl_calloc(w->cap_cohorts, sizeof *w->co);
    w->co_mass = fl_calloc(w->cap_cohorts * w->S, sizeof *w->co_mass);
    w->tmp = fl_calloc(w->S, sizeof *w->tmp);
    w->ncells = 1;
    if (!w->co || !w->co_mass || !w->tmp) {
      fl_series_ws_free(w);
      return NULL;
    }
  }
  w->mass = fl_calloc(w->ncells, sizeof *w->mass);
  w->next = fl_calloc(w->ncells, sizeof *w->next);
  w->out = (fl_series){w->T, w->NLOC, w->S, fl_calloc((w->T + 1) * LS, sizeof(double)),
                       fl_calloc(w->T * LS * w->S, sizeof(double)),
                       fl_calloc(w->T * LS, sizeof(double)), fl_calloc(w->T * LS, sizeof(double))};
  if (!w->mass || !w->next || !w->out.stocks || !w->out.flows || !w->out.entries ||
      !w->out.exits || w->ncells > ((size_t)1 << 31) / sizeof(double)) {
    fl_series_ws_free(w);
    return NULL;
  }
  return w;
}

static double q_cum(const uint64_t *cum, size_t k) {
  return ((double)cum[k] - (k ? (double)cum[k - 1] : 0.0)) / FL_P_ONE;
}

/* The cohort pass (rows independent of age and time in state). */
static void series_by_cohort(const fl_model *m, fl_series_ws *w) {
  const size_t S = m->S, NLOC = m->NLOC, LS = NLOC * S;
  const fl_arm *arm = &m->arms[0];
  const long max_age = (long)m->max_age;
  size_t nc = 0;
  memset(w->co_mass, 0, w->cap_cohorts * S * sizeof *w->co_mass);
  /* Groups of one locality and one range of ages move as one cohort. */
  for (size_t i = 0; i < m->n_init; i++) {
    const fl_init_group *gr = &m->init[i];
    size_t c = 0;
    while (c < nc && (w->co[c].loc != gr->loc || w->co[c].lo != (long)gr->age_lo ||
                      w->co[c].hi != (long)gr->age_hi))
      c++;
    if (c == nc) w->co[nc++] = (cohort){gr->loc, gr->age_lo, gr->age_hi, w->co_mass + c * S};
    w->co[c].x[gr->state] += (double)gr->count;
  }
  /* The pooled entry cohorts, one for each stream and locality. */
  const size_t pooled0 = nc;
  for (size_t e = 0; e < m->n_entries; e++)
    if (pools(m, &m->entries[e]))
      for (size_t l = 0; l < NLOC; l++, nc++)
        w->co[nc] = (cohort){l, 0, 0, w->co_mass + nc * S};
  double *tmp = w->tmp;
  for (size_t t = 0;; t++) {
    double *st = w->out.stocks + t * LS;
    for (size_t c = 0; c < nc; c++)
      for (size_t s = 0; s < S; s++) st[w->co[c].loc * S + s] += w->co[c].x[s];
    if (t == m->T) break;
    double *en = w->out.entries + t * LS, *ex = w->out.exits + t * LS, *fl = w->out.flows + t * LS * S;
    for (size_t e = 0, pc = pooled0; e < m->n_entries; e++) {
      const fl_entry_stream *es = &m->entries[e];
      const int pooled = pools(m, es);
      for (size_t l = 0; l < NLOC; l++) {
        cohort *c = pooled ? &w->co[pc++] : &w->co[nc];
        if (!pooled) *c = (cohort){l, (long)es->age_lo - (long)t, (long)es->age_hi - (long)t, w->co_mass + nc * S};
        const double pl = q_cum(es->loc_cum, l);
        for (size_t s = 0; s < S; s++) {
          const double x = es->per_step * pl * q_cum(es->state_cum, s);
          en[l * S + s] += x;
          c->x[s] += x;
        }
        if (!pooled) nc++;
      }
    }
    const fl_row *rows = arm->rows + (size_t)arm->step_table[t] * m->rows_per_period;
    for (size_t c = 0; c < nc; c++) {
      cohort *co = &w->co[c];
      const size_t l = co->loc;
      /* The ages present at step t, and whether one of them reaches the maximum age now. */
      double leave = 0;
      if (max_age) {
        const long top = max_age - 1 - (long)t, hi = co->hi < top ? co->hi : top;
        if (hi < co->lo) continue; /* all gone */
        if (top >= co->lo && top <= co->hi) leave = 1.0 / (double)(hi - co->lo + 1);
      }
      memset(tmp, 0, S * sizeof *tmp);
      for (size_t s = 0; s < S; s++) {
        const double xm = co->x[s];
        if (xm == 0) continue;
        const fl_row *row = rows + fl_row_index(m, 0, l, 0, 0, s);
        double prev = (double)row->stay;
        tmp[s] += xm * prev / FL_P_ONE;
        for (uint32_t k = row->first; k < row->first + row->n; k++) {
          const double y = xm * ((double)arm->move_cum[k] - prev) / FL_P_ONE;
          const size_t dst = arm->move_dest[k];
          prev = (double)arm->move_cum[k];
          if (y == 0) continue;
          if (dst == FL_DEST_EXIT) {
            ex[l * S + s] += y;
            continue;
          }
          fl[(l * S + s) * S + dst] += y;
          tmp[dst] += y;
        }
      }
      for (size_t s = 0; s < S; s++) {
        ex[l * S + s] += tmp[s] * leave;
        co->x[s] = tmp[s] * (1 - leave);
      }
    }
  }
}

fl_status fl_expect_series(const fl_model *m, fl_series_ws *w, const fl_series **out,
                           fl_error *err) {
  const size_t S = m->S, NLOC = m->NLOC, A = w->A, D = w->D, LS = NLOC * S;
  if (NLOC != w->NLOC || S != w->S || m->T != w->T || grid_ages(m) != A ||
      (size_t)m->dur_cap + 1 != D || w->by_cohort != (m->NA == 1 && m->ND == 1) ||
      (w->by_cohort && m->n_init > w->cap_cohorts)) {
    fl_error_set(err, FL_EINTERNAL, m->scenario_path, 0, 0, NULL,
                 "the model's grid changed between evaluations of the fit");
    return FL_EINTERNAL;
  }
  const fl_arm *arm = &m->arms[0];
  double *stocks = w->out.stocks, *flows = w->out.flows, *entries = w->out.entries;
  double *exits = w->out.exits, *mass = w->mass, *next = w->next;
#define CELL(l, a, d, s) ((((l) * A + (a)) * D + (d)) * S + (s))
  memset(stocks, 0, (m->T + 1) * LS * sizeof *stocks);
  memset(flows, 0, m->T * LS * S * sizeof *flows);
  memset(entries, 0, m->T * LS * sizeof *entries);
  memset(exits, 0, m->T * LS * sizeof *exits);
  if (w->by_cohort) {
    series_by_cohort(m, w);
    *out = &w->out;
    return FL_OK;
  }
  memset(mass, 0, w->ncells * sizeof *mass);
  for (size_t i = 0; i < m->n_init; i++) {
    const fl_init_group *gr = &m->init[i];
    double na = gr->age_hi - gr->age_lo + 1.0, nd = gr->tis_hi - gr->tis_lo + 1.0;
    for (uint32_t a = gr->age_lo; a <= gr->age_hi; a++)
      for (uint32_t d = gr->tis_lo; d <= gr->tis_hi; d++)
        mass[CELL(gr->loc, a, d < m->dur_cap ? d : m->dur_cap, gr->state)] +=
            (double)gr->count / (na * nd);
  }
  for (size_t t = 0;; t++) {
    double *st = stocks + t * LS;
    for (size_t l = 0; l < NLOC; l++)
      for (size_t c = 0; c < A * D * S; c++) st[l * S + c % S] += mass[l * A * D * S + c];
    if (t == m->T) break;
    double *en = entries + t * LS, *ex = exits + t * LS, *fl = flows + t * LS * S;
    for (size_t e = 0; e < m->n_entries; e++) {
      const fl_entry_stream *es = &m->entries[e];
      double na = es->age_hi - es->age_lo + 1.0;
      for (size_t l = 0; l < NLOC; l++) {
        double pl = q_cum(es->loc_cum, l);
        for (size_t s = 0; s < S; s++) {
          double x = es->per_step * pl * q_cum(es->state_cum, s);
          if (x == 0) continue;
          en[l * S + s] += x;
          for (uint32_t a = es->age_lo; a <= es->age_hi; a++) mass[CELL(l, a, 0, s)] += x / na;
        }
      }
    }
    const fl_row *rows = arm->rows + (size_t)arm->step_table[t] * m->rows_per_period;
    memset(next, 0, w->ncells * sizeof *next);
    for (size_t l = 0; l < NLOC; l++)
      for (size_t a = 0; a < A; a++) {
        const size_t a2 = a + 1 < A ? a + 1 : A - 1;
        const int leaves = m->max_age && a + 1 >= m->max_age;
        for (size_t d = 0; d < D; d++) {
          const size_t d_up = d + 1 < D ? d + 1 : D - 1;
          for (size_t s = 0; s < S; s++) {
            const double xm = mass[CELL(l, a, d, s)];
            if (xm == 0) continue;
            const fl_row *row = rows + fl_row_index(m, 0, l, (uint32_t)a, (uint32_t)d, s);
            double prev = (double)row->stay;
            const double stay = xm * prev / FL_P_ONE;
            if (leaves) ex[l * S + s] += stay;
            else next[CELL(l, a2, d_up, s)] += stay;
            for (uint32_t k = row->first; k < row->first + row->n; k++) {
              const double y = xm * ((double)arm->move_cum[k] - prev) / FL_P_ONE;
              const size_t dst = arm->move_dest[k];
              prev = (double)arm->move_cum[k];
              if (y == 0) continue;
              if (dst == FL_DEST_EXIT) {
                ex[l * S + s] += y;
                continue;
              }
              fl[(l * S + s) * S + dst] += y;
              if (leaves) {
                ex[l * S + dst] += y;
                continue;
              }
              const int reset = !m->tis_by_level || m->state_level[dst] != m->state_level[s];
              next[CELL(l, a2, reset ? 0 : d_up, dst)] += y;
            }
          }
        }
      }
    double *tmp = mass;
    mass = next;
    next = tmp;
  }
#undef CELL
  w->mass = mass;
  w->next = next;
  *out = &w->out;
  return FL_OK;
}
