/* Building the quantised transition rows of a table from step probabilities, with the effects of
 * an arm's interventions. Used at compile time for every table, and during a run for arms whose
 * intervention spend depends on reinvested savings. */
#include "model/model.h"

#include <math.h>
#include <string.h>

#define ROW_TOL 1e-9

void fl_row_quantise(const fl_model *m, size_t s, const double *p_in, fl_row *row,
                     uint64_t *move_cum, uint8_t *move_dest, size_t *n_moves) {
  double p[FL_MAX_STATES + 1], cum;
  row->first = (uint32_t)*n_moves;
  row->n = 0;
  if (m->absorbing[s]) {
    row->stay = (uint64_t)FL_P_ONE;
    return;
  }
  for (size_t j = 0; j < m->S; j++) p[j] = p_in[j] * (1.0 - m->out_migration);
  p[m->S] = m->out_migration;
  /* Outcomes in order: stay, moves by state index, exit. */
  cum = p[s];
  row->stay = (uint64_t)llround(fmin(cum, 1.0) * FL_P_ONE);
  for (size_t j = 0; j <= m->S; j++) {
    if (j == s || p[j] <= 0) continue;
    cum += p[j];
    move_cum[*n_moves] = (uint64_t)llround(fmin(cum, 1.0) * FL_P_ONE);
    move_dest[*n_moves] = j == m->S ? FL_DEST_EXIT : (uint8_t)j;
    (*n_moves)++;
    row->n++;
  }
  if (row->n) move_cum[*n_moves - 1] = (uint64_t)FL_P_ONE;
  else row->stay = (uint64_t)FL_P_ONE;
}

int fl_row_effects(const fl_model *m, const fl_arm *arm, size_t cell, size_t s, const double *e,
                   double *p) {
  const size_t loc = cell / (m->NA * m->ND), ab = (cell / m->ND) % m->NA;
  const uint32_t age = m->age_edges[ab];
  double moved = 0;
  if (m->absorbing[s]) return 0;
  for (size_t i = 0; i < arm->n_int; i++) {
    const fl_intervention *iv = &arm->ints[i];
    if (e[i] == 0 || !iv->state_on[s] || !iv->loc_on[loc] || age < iv->age_lo ||
        age >= iv->age_hi)
      continue;
    for (size_t j = 0; j < m->S; j++) {
      double mult = 1 + (iv->move[s * m->S + j] - 1) * e[i];
      if (j == s || p[j] == 0) continue;
      if (m->state_level[j] > m->state_level[s]) mult *= 1 + (iv->esc - 1) * e[i];
      else if (m->state_level[j] < m->state_level[s]) mult *= 1 + (iv->deesc - 1) * e[i];
      moved += p[j] * (mult - 1);
      p[j] *= mult;
    }
  }
  p[s] -= moved;
  if (p[s] < -ROW_TOL) return -1;
  if (p[s] < 0) p[s] = 0;
  return 0;
}

int fl_table_build(const fl_model *m, const double *base_p, const fl_arm *arm, size_t period,
                   const double *e,
                   fl_row *rows, uint32_t *stay32, uint64_t *move_cum, uint8_t *move_dest,
                   size_t *n_moves, size_t *bad_row) {
  const size_t S = m->S, rpp = m->rows_per_period;
  const double *base = (base_p ? base_p : m->base_p) + period * rpp * S;
  double p[FL_MAX_STATES];
  for (size_t r = 0; r < rpp; r++) {
    const size_t s = r % S;
    memcpy(p, base + r * S, S * sizeof *p);
    if (arm && arm->n_int && fl_row_effects(m, arm, r / S, s, e, p) != 0) {
      *bad_row = r;
      return -1;
    }
    fl_row_quantise(m, s, p, &rows[r], move_cum, move_dest, n_moves);
    stay32[r] = rows[r].stay < UINT32_MAX ? (uint32_t)rows[r].stay : UINT32_MAX;
  }
  return 0;
}

/* A ramp from 0 at u = 0 to 1 at u >= 1. */
static double shape(fl_shape sh, double u) {
  if (u >= 1) return 1;
  if (u <= 0) return 0;
  switch (sh) {
  case FL_SHAPE_EXPONENTIAL: return -expm1(-3 * u) / -expm1(-3.0);
  case FL_SHAPE_LOGISTIC: {
    const double l0 = 1 / (1 + exp(5.0)), l1 = 1 / (1 + exp(-5.0));
    return (1 / (1 + exp(-10 * (u - 0.5))) - l0) / (l1 - l0);
  }
  default: return u;
  }
}

double fl_intervention_profile(const fl_model *m, const fl_intervention *iv, size_t t) {
  const double t0 = (double)t * m->step_months, t1 = t0 + m->step_months;
  if (t0 < iv->start) return 0;
  if (t0 < iv->end) return iv->ramp > 0 ? shape(iv->ramp_shape, (t1 - iv->start) / iv->ramp) : 1;
  /* After the end the effect reached by then decays back to none over decay months. */
  const double at_end = iv->ramp > 0 ? shape(iv->ramp_shape, (iv->end - iv->start) / iv->ramp) : 1;
  if (iv->decay <= 0) return 0;
  return at_end * (1 - shape(iv->ramp_shape, (t1 - iv->end) / iv->decay));
}

double fl_intervention_dose(const fl_intervention *iv, double spend) {
  if (iv->half_sat <= 0) return 1;
  return (spend / (spend + iv->half_sat)) / (iv->ref_spend / (iv->ref_spend + iv->half_sat));
}
