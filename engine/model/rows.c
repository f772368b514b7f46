/* Building the quantised transition rows of a table from step probabilities, with the effects of
 * an arm's interventions. Used at compile time for every table, and during a run for arms whose
 * intervention spend depends on reinvested savings. */
#include "model/intervention.h"

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
    if (e[i] == 0 || !iv->kind->row || !fl_intervention_reaches(iv, loc, s, age)) continue;
    iv->kind->row(m, iv, s, e[i], p, &moved);
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
    /* A row whose moves a child's multiplier changes: a child whose draw is below the
     * staying threshold of the largest multiplier stays whatever its own; the others are
     * events, whose move is found on their own row (fl_het_move). */
    if (m->het.row_on && m->het.row_on[s] && rows[r].n)
      stay32[r] = fl_het_stay32(m, s, &rows[r], move_cum, move_dest);
  }
  return 0;
}

fl_arm_tables fl_model_tables(const fl_model *m, size_t a) {
  const fl_arm *arm = &m->arms[a];
  return (fl_arm_tables){arm, arm->rows, arm->stay32, arm->move_cum, arm->move_dest,
                         arm->base_p, m->cost, arm->het_chosen};
}
