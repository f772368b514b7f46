/* Compiling the transitions section: the band edges of ages, times in state and periods, every
 * table's rows parsed and checked, and for every cell (period, locality, age band, duration band)
 * the step probabilities that apply there. */
#include "model/compile.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Inserts v into the sorted set edges[*n] if absent. */
static void add_edge(uint32_t *edges, size_t *n, uint32_t v) {
  size_t i = 0;
  while (i < *n && edges[i] < v) i++;
  if (i < *n && edges[i] == v) return;
  memmove(edges + i + 1, edges + i, (*n - i) * sizeof *edges);
  edges[i] = v;
  (*n)++;
}

/* The transition tables of arm a of the arms section (arms.*.transitions.tables), or NULL. */
static const fl_node *arm_tables(const fl_scenario *sc, size_t a) {
  return fl_map_get(fl_map_get(fl_map_val(fl_map_get(sc->root, "arms"), a), "transitions"),
                    "tables");
}

/* Adds the range ends of tables (key path prefix of the list) to edges, and the bands their
 * entries that vary need (up to top[3]). */
static fl_status table_edges(compiler *c, const fl_node *tables, const char *prefix,
                             uint32_t *edges[3], size_t n[3], const uint32_t top[3]) {
  static const char *const pats[3] = {"transitions.tables[].age_years",
                                      "transitions.tables[].time_in_state_months",
                                      "transitions.tables[].period_months"};
  static const double scale[3] = {12.0, 1.0, 1.0};
  fl_status st;
  for (size_t i = 0; i < tables->n; i++) {
    for (int k = 0; k < 3; k++) {
      uint32_t lo, hi;
      char at[256];
      snprintf(at, sizeof at, "%s[%zu]", prefix, i);
      if (!fl_map_get(tables->items[i], strrchr(pats[k], '.') + 1)) continue;
      if ((st = fl_c_range(c, tables->items[i], pats[k], at, scale[k], &lo, &hi)) != FL_OK)
        return st;
      add_edge(edges[k], &n[k], lo);
      if (hi != UINT32_MAX) add_edge(edges[k], &n[k], hi);
    }
    fl_vary *v;
    size_t nv;
    char at[192];
    snprintf(at, sizeof at, "%s[%zu]", prefix, i);
    st = fl_vary_parse(c, tables->items[i], at, &v, &nv);
    if (st == FL_OK) st = fl_vary_edges(c, tables->items[i], at, v, nv, add_edge, edges, n, top);
    fl_vary_free(v, nv);
    if (st != FL_OK) return st;
  }
  return FL_OK;
}

/* The number of entries that vary in tables. */
static size_t count_vary(const fl_node *tables) {
  size_t n = 0;
  for (size_t i = 0; tables && i < tables->n; i++) {
    const fl_node *v = fl_map_get(tables->items[i], "vary");
    n += v ? v->n : 0;
  }
  return n;
}

/* Band boundaries are the union of every table's range ends, the arms' tables included. */
static fl_status compile_bands(compiler *c, const fl_node *tables) {
  fl_model *m = c->m;
  const fl_node *arms = fl_map_get(c->sc->root, "arms");
  uint32_t *edges[3];
  size_t n[3] = {1, 1, 1}, n_tables = tables->n, n_vary = count_vary(tables);
  fl_status st;
  for (size_t a = 0; arms && a < arms->n; a++) {
    n_tables += arm_tables(c->sc, a) ? arm_tables(c->sc, a)->n : 0;
    n_vary += count_vary(arm_tables(c->sc, a));
  }
  /* The largest age and time in state at the start of any step. */
  uint64_t age0 = 0, tis0 = 0;
  for (size_t i = 0; i < m->n_init; i++) {
    if (m->init[i].age_hi > age0) age0 = m->init[i].age_hi;
    if (m->init[i].tis_hi > tis0) tis0 = m->init[i].tis_hi;
  }
  for (size_t e = 0; e < m->n_entries; e++)
    if (m->entries[e].age_hi > age0) age0 = m->entries[e].age_hi;
  uint64_t age_top = m->max_age ? (uint64_t)m->max_age - 1 : age0 + m->T;
  uint64_t tis_top = tis0 + m->T;
  if (age_top > 65535 || tis_top > 65535)
    return fl_c_bad(c, fl_map_get(c->sc->root, "time"), "time.horizon_steps",
                    "ages or times in state would exceed 65535 steps over this horizon; use a "
                    "longer step, a shorter horizon or population.max_age_years");
  /* how far the entries that vary need bands: ages, times in state, periods */
  const uint32_t top[3] = {(uint32_t)age_top, (uint32_t)tis_top, (uint32_t)(m->T - 1)};
  for (int k = 0; k < 3; k++) {
    edges[k] = calloc(2 * n_tables + 2 + 2 * fl_arms_count_interventions(c->sc) + 257 * n_vary,
                      sizeof **edges);
    if (!edges[k]) {
      for (int j = 0; j < k; j++) free(edges[j]);
      return fl_c_oom(c);
    }
    edges[k][0] = 0;
  }
  if ((st = table_edges(c, tables, "transitions.tables", edges, n, top)) != FL_OK) goto out;
  for (size_t a = 0; arms && a < arms->n; a++) {
    char prefix[128];
    snprintf(prefix, sizeof prefix, "arms.%s.transitions.tables", fl_map_key(arms, a)->value);
    if (arm_tables(c->sc, a) &&
        (st = table_edges(c, arm_tables(c->sc, a), prefix, edges, n, top)) != FL_OK)
      goto out;
  }
  /* Interventions that reach an age range add its ends. */
  if ((st = fl_arms_age_edges(c, add_edge, edges[0], &n[0])) != FL_OK) goto out;
  m->NA = n[0];
  m->ND = n[1];
  m->NP = n[2];
  for (int k = 0; k < 3; k++) edges[k][n[k]] = UINT32_MAX;
  m->age_edges = edges[0];
  m->dur_edges = edges[1];
  m->period_edges = edges[2];
  m->age_cap = m->age_edges[m->NA - 1];
  m->dur_cap = m->dur_edges[m->ND - 1];
  if (m->NA > 255 || m->ND > 255 || m->NP > 255)
    return fl_c_bad(c, tables, "transitions.tables",
               "more than 255 distinct age, time-in-state or period bands");
  m->age_band = calloc((size_t)m->age_cap + 1, 1);
  m->dur_band = calloc((size_t)m->dur_cap + 1, 1);
  m->period_of_step = calloc(m->T, 1);
  if (!m->age_band || !m->dur_band || !m->period_of_step) return fl_c_oom(c);
  for (uint32_t a = 0, b = 0; a <= m->age_cap; a++) {
    while (a >= m->age_edges[b + 1]) b++;
    m->age_band[a] = (uint8_t)b;
  }
  for (uint32_t d = 0, b = 0; d <= m->dur_cap; d++) {
    while (d >= m->dur_edges[b + 1]) b++;
    m->dur_band[d] = (uint8_t)b;
  }
  for (size_t t = 0, b = 0; t < m->T; t++) {
    while (t >= m->period_edges[b + 1]) b++;
    m->period_of_step[t] = (uint8_t)b;
  }
  m->age_top = (uint32_t)age_top;
  m->tis_top = (uint32_t)tis_top;
  m->loc_stride = m->NA * m->ND * m->S;
  m->age_off = calloc((size_t)m->age_top + 1, sizeof *m->age_off);
  m->dur_off = calloc((size_t)m->tis_top + 1, sizeof *m->dur_off);
  if (!m->age_off || !m->dur_off) return fl_c_oom(c);
  for (uint32_t a = 0; a <= m->age_top; a++)
    m->age_off[a] = (uint32_t)(m->age_band[a < m->age_cap ? a : m->age_cap] * m->ND * m->S);
  for (uint32_t d = 0; d <= m->tis_top; d++)
    m->dur_off[d] = (uint32_t)(m->dur_band[d < m->dur_cap ? d : m->dur_cap] * m->S);
  return FL_OK;
out:
  for (int k = 0; k < 3; k++) free(edges[k]);
  return st;
}

/* One row as given in a table, validated on its own: values[S] (probabilities or rates). */
typedef struct row_spec {
  size_t from;
  double *values;
  const fl_node *table; /* the table that gives it */
  long rest;            /* the entry given as rest (-1: none) */
  const fl_vary *vary;  /* the table's entries that vary (those of other rows too) */
  size_t n_vary;
} row_spec;

static fl_status parse_row(compiler *c, const fl_node *row, const char *table, size_t from,
                           double *values, long *rest_out) {
  fl_model *m = c->m;
  const char *from_name = m->state_names[from];
  char key[256];
  long rest = -1;
  double sum = 0;
  for (size_t s = 0; s < m->S; s++) values[s] = 0;
  for (size_t i = 0; i < row->n; i++) {
    const fl_node *tn = fl_map_key(row, i), *vn = fl_map_val(row, i);
    long to = fl_c_find(m->state_names, m->S, tn->value);
    snprintf(key, sizeof key, "%s.rows.%s.%s", table, from_name, tn->value);
    if (to < 0) return fl_c_unknown(c, tn, key, tn->value, m->state_names, m->S, "the states");
    if (fl_scalar_is_rest(vn)) {
      if (rest >= 0)
        return fl_c_bad(c, vn, key, "only one entry of a row may be rest (%s is already)",
                   m->state_names[rest]);
      rest = to;
      continue;
    }
    values[to] = fl_scalar_num(vn);
    if (!c->rates && values[to] > 1)
      return fl_c_bad(c, vn, key, "a probability must be between 0 and 1, found %s", vn->value);
    if (c->rates && (size_t)to == from)
      return fl_c_bad(c, vn, key, "give rates of moves only: the diagonal of a rate row is rest");
    sum += values[to];
  }
  snprintf(key, sizeof key, "%s.rows.%s", table, from_name);
  *rest_out = rest;
  if (c->rates) {
    if (rest >= 0 && (size_t)rest != from)
      return fl_c_bad(c, row, key, "in a rate row only the from-state itself may be rest");
    values[from] = -sum;
    return FL_OK;
  }
  if (rest >= 0) {
    if (sum > 1 + ROW_TOL)
      return fl_c_bad(c, row, key, "the probabilities add up to %.12g, more than 1, leaving nothing "
                 "for rest", sum);
    values[rest] = fmax(0.0, 1.0 - sum);
  } else if (fabs(sum - 1) > ROW_TOL) {
    return fl_c_bad(c, row, key,
               "the probabilities add up to %.12g, not 1 (within 1e-9); give every move or "
               "write rest for one of them",
               sum);
  }
  return FL_OK;
}

/* Where a table also gives the counts behind a row (as flourish calibrate writes), the row's
 * probabilities must be the counts' shares: a hand edit of one without the other is caught. */
static fl_status check_counts(compiler *c, const fl_node *table, size_t ti, size_t from,
                              const double *p, double *stored) {
  const fl_model *m = c->m;
  const fl_node *counts = fl_map_get(fl_map_get(table, "counts"), m->state_names[from]);
  double n[FL_MAX_STATES] = {0}, total = 0;
  char key[256];
  if (!counts) return FL_OK;
  snprintf(key, sizeof key, "transitions.tables[%zu].counts.%s", ti, m->state_names[from]);
  for (size_t i = 0; i < counts->n; i++) {
    long d = fl_c_find(m->state_names, m->S, fl_map_key(counts, i)->value);
    if (d < 0)
      return fl_c_unknown(c, fl_map_key(counts, i), key, fl_map_key(counts, i)->value,
                          m->state_names, m->S, "the states");
    n[d] = fl_scalar_num(fl_map_val(counts, i));
    total += n[d];
  }
  for (size_t d = 0; d < m->S; d++) stored[d] = n[d];
  if (c->rates || total <= 0) return FL_OK;
  for (size_t d = 0; d < m->S; d++)
    if (fabs(p[d] - n[d] / total) > 1e-6)
      return fl_c_bad(c, counts, key,
                      "the row gives %.9g for '%s' but the counts give %.9g: edit both or neither",
                      p[d], m->state_names[d], n[d] / total);
  return FL_OK;
}

/* Converts the probability row p over per_months to the step length, assuming a constant
 * hazard of leaving within the period, split over destinations in proportion. */
static void convert_row_probability(double *p, size_t S, size_t from, double ratio) {
  double leave = 1.0 - p[from], new_leave;
  if (leave <= 0) return;
  new_leave = leave >= 1 ? 1.0 : -expm1(ratio * log1p(-leave));
  for (size_t j = 0; j < S; j++)
    if (j != from) p[j] *= new_leave / leave;
  p[from] = 1.0 - new_leave;
}

/* Applies the locality's escalation multiplier to the step probabilities p[S] of state s: every
 * escalation probability is multiplied, the difference goes to staying. */
static fl_status apply_locality(compiler *c, size_t s, double *p, size_t loc, double esc,
                                const char *where) {
  fl_model *m = c->m;
  double moved = 0;
  if (esc == 1.0 || m->absorbing[s]) return FL_OK;
  for (size_t j = 0; j < m->S; j++)
    if (m->state_level[j] > m->state_level[s]) {
      moved += p[j] * (esc - 1.0);
      p[j] *= esc;
    }
  p[s] -= moved;
  if (p[s] < -ROW_TOL) {
    const fl_node *ln = fl_map_get(fl_map_get(c->sc->root, "localities"), m->loc_names[loc]);
    const fl_node *en = fl_map_get(ln, "escalation_multiplier");
    char key[128];
    snprintf(key, sizeof key, "localities.%s.escalation_multiplier", m->loc_names[loc]);
    return fl_c_bad(c, en ? en : ln, key,
               "the escalation multiplier %g makes the row of state '%s' %s invalid: the "
               "probability of staying would be %.6g",
               esc, m->state_names[s], where, p[s]);
  }
  p[s] = fmax(p[s], 0.0);
  return FL_OK;
}

static int range_covers(const fl_node *table, const char *key, double scale, double step,
                        uint32_t band_lo) {
  double lo = 0, hi = HUGE_VAL;
  const fl_node *n = fl_map_get(table, key);
  if (!n) return 1;
  lo = fl_scalar_num(n->items[0]);
  hi = fl_scalar_num(n->items[1]);
  return (double)band_lo >= nearbyint(lo * scale / step) - 0.5 &&
         (isinf(hi) || (double)band_lo < nearbyint(hi * scale / step) - 0.5);
}

static int table_has_locality(const fl_node *table, const char *loc) {
  const fl_node *n = fl_map_get(table, "localities");
  if (!n) return 1;
  for (size_t i = 0; i < n->n; i++)
    if (!strcmp(n->items[i]->value, loc)) return 1;
  return 0;
}

/* The rows of every table of the list tables (key path prefix), parsed and checked once, where
 * an error can point at them: specs[k] for the k-th row in file order (its values in raw), with
 * the counts behind it in counts (NaN: none; NULL: not kept, for an arm's tables, which have
 * none). */
static fl_status parse_tables(compiler *c, const fl_node *tables, const char *prefix,
                              row_spec *specs, double *raw, double *counts, fl_vary **vary,
                              size_t *n_vary) {
  fl_model *m = c->m;
  const size_t S = m->S;
  fl_status st;
  size_t spec_i = 0;
  for (size_t i = 0; i < tables->n; i++) {
    char at[192];
    snprintf(at, sizeof at, "%s[%zu]", prefix, i);
    if ((st = fl_vary_parse(c, tables->items[i], at, &vary[i], &n_vary[i])) != FL_OK) return st;
    const fl_node *rows = fl_map_get(tables->items[i], "rows");
    const fl_node *locs = fl_map_get(tables->items[i], "localities");
    for (size_t l = 0; locs && l < locs->n; l++) {
      if (fl_c_find(m->loc_names, m->NLOC, locs->items[l]->value) < 0) {
        char key[256];
        snprintf(key, sizeof key, "%s.localities", at);
        return fl_c_unknown(c, locs->items[l], key, locs->items[l]->value, m->loc_names, m->NLOC,
                            "the localities");
      }
    }
    for (size_t r = 0; r < rows->n; r++) {
      const fl_node *fn = fl_map_key(rows, r);
      long from = fl_c_find(m->state_names, S, fn->value);
      char key[320];
      snprintf(key, sizeof key, "%s.rows.%s", at, fn->value);
      if (from < 0) return fl_c_unknown(c, fn, key, fn->value, m->state_names, m->S, "the states");
      if (m->absorbing[from])
        return fl_c_bad(c, fn, key, "'%s' is absorbing and has no transition row", fn->value);
      specs[spec_i].from = (size_t)from;
      specs[spec_i].values = raw + spec_i * S;
      specs[spec_i].table = tables->items[i];
      specs[spec_i].vary = vary[i];
      specs[spec_i].n_vary = n_vary[i];
      if ((st = parse_row(c, fl_map_val(rows, r), at, (size_t)from, specs[spec_i].values,
                          &specs[spec_i].rest)) != FL_OK)
        return st;
      if (counts) {
        for (size_t d = 0; d < S; d++) counts[spec_i * S + d] = NAN; /* none */
        if ((st = check_counts(c, tables->items[i], i, (size_t)from, specs[spec_i].values,
                               counts + spec_i * S)) != FL_OK)
          return st;
      }
      spec_i++;
    }
  }
  return FL_OK;
}

/* What resolving the cells needs: the parsed rows (of the scenario's tables, then an arm's), where
 * the results go, and two S x S matrices of scratch. */
typedef struct resolver {
  const fl_node *tables; /* (for messages) */
  const char *key;       /* its key path */
  const row_spec *specs;
  size_t n_specs;
  double *base_p;        /* the step probabilities resolved */
  int32_t *row_spec;     /* which spec gave each row (NULL: not kept) */
  const row_spec **given; /* [S] the row that applies to each state in the cell */
  gsl_matrix *Q, *P;
} resolver;

/* The step probabilities of one cell (period p, locality l, age band a, duration band d): the
 * last table covering the cell gives each state's row; the rows are converted to the step
 * (matrix exponential of rates, or the constant-hazard conversion of probabilities), checked,
 * and the locality's escalation multiplier applied; into base_p and row_spec. */
static fl_status resolve_cell(compiler *c, resolver *rv, size_t p, size_t l, size_t a,
                              size_t d) {
  fl_model *m = c->m;
  const size_t S = m->S, cell = ((p * m->NLOC + l) * m->NA + a) * m->ND + d;
  const fl_node *tables = rv->tables;
  gsl_matrix *Q = rv->Q, *P = rv->P;
  char where[256];
  fl_status st;
  snprintf(where, sizeof where,
           "for ages from %g years, time in state from %g months, month %g of the run%s%s",
           m->age_edges[a] * m->step_months / 12.0, m->dur_edges[d] * m->step_months,
           m->period_edges[p] * m->step_months, m->NLOC > 1 ? ", locality " : "",
           m->NLOC > 1 ? m->loc_names[l] : "");
  for (size_t s = 0; s < S; s++) rv->given[s] = NULL;
  for (size_t k = 0; k < rv->n_specs; k++) {
    const fl_node *t = rv->specs[k].table;
    if (range_covers(t, "age_years", 12.0, m->step_months, m->age_edges[a]) &&
        range_covers(t, "time_in_state_months", 1.0, m->step_months, m->dur_edges[d]) &&
        range_covers(t, "period_months", 1.0, m->step_months, m->period_edges[p]) &&
        table_has_locality(t, m->loc_names[l]))
      rv->given[rv->specs[k].from] = &rv->specs[k];
  }
  for (size_t s = 0; s < S; s++)
    if (!rv->given[s] && !m->absorbing[s])
      return fl_c_bad(c, tables, rv->key,
                      "no table gives the row of state '%s' %s; every non-absorbing state "
                      "needs a row for every age, time in state, period and locality",
                      m->state_names[s], where);
  /* The step's probability matrix: the rows as given, with their entries that vary at this
   * cell and the rest entry (or the diagonal of a rate row) taking up the difference. */
  for (size_t s = 0; s < S; s++) {
    const row_spec *g = rv->given[s];
    double row[FL_MAX_STATES] = {0}, sum = 0;
    int varies = 0;
    for (size_t j = 0; g && j < S; j++) row[j] = g->values[j];
    for (size_t k = 0; g && k < g->n_vary; k++)
      if (g->vary[k].from == s) {
        row[g->vary[k].to] = fl_vary_value(m, &g->vary[k], m->age_edges[a], m->dur_edges[d],
                                           m->period_edges[p], c->per_months);
        varies = 1;
      }
    if (varies) {
      const size_t r = c->rates ? s : (size_t)g->rest;
      for (size_t j = 0; j < S; j++)
        if (j != r) sum += row[j];
      row[r] = c->rates ? -sum : 1.0 - sum;
      if (!c->rates && row[r] < -ROW_TOL)
        return fl_c_bad(c, g->table, rv->key,
                        "the entries of the row of '%s' add up to %.12g %s, more than 1, "
                        "leaving nothing for rest",
                        m->state_names[s], sum, where);
      if (!c->rates) row[r] = fmax(row[r], 0.0);
    }
    for (size_t j = 0; j < S; j++) gsl_matrix_set(Q, s, j, row[j]);
  }
  if (c->rates) {
    gsl_matrix_scale(Q, m->step_months / c->per_months);
    if (gsl_linalg_exponential_ss(Q, P, GSL_PREC_DOUBLE) != GSL_SUCCESS)
      return fl_c_bad(c, tables, rv->key,
                      "the matrix exponential of the rates %s failed", where);
  } else {
    gsl_matrix_memcpy(P, Q);
    if (fabs(m->step_months - c->per_months) > 1e-12)
      for (size_t s = 0; s < S; s++)
        if (rv->given[s])
          convert_row_probability(gsl_matrix_ptr(P, s, 0), S, s, m->step_months / c->per_months);
  }
  for (size_t s = 0; s < S; s++) {
    double *row = gsl_matrix_ptr(P, s, 0), sum = 0;
    for (size_t j = 0; j < S; j++) {
      if (row[j] < 0 && row[j] > -1e-12) row[j] = 0; /* round-off of expm */
      if (!(row[j] >= 0))
        return fl_c_bad(c, tables, rv->key,
                        "the step probability from '%s' to '%s' %s is %g", m->state_names[s],
                        m->state_names[j], where, row[j]);
      sum += row[j];
    }
    if (!m->absorbing[s] && fabs(sum - 1.0) > ROW_TOL)
      return fl_c_bad(c, tables, rv->key,
                      "the step probabilities from '%s' %s add up to %.12g, not 1",
                      m->state_names[s], where, sum);
    if ((st = apply_locality(c, s, row, l, c->loc_esc[l], where)) != FL_OK) return st;
    if (rv->row_spec)
      rv->row_spec[cell * S + s] = rv->given[s] ? (int32_t)(rv->given[s] - rv->specs) : -1;
    memcpy(rv->base_p + (cell * S + s) * S, row, S * sizeof *row);
  }
  return FL_OK;
}

/* Parses the scenario's tables and then (where arm_tables is not NULL) an arm's, a later row
 * replacing an earlier one where both cover a cell, and resolves every cell into base_p (and
 * spec_of, which spec gave each row, when not NULL). arm_key is the key path of the arm's
 * tables. */
static fl_status resolve_tables(compiler *c, const fl_node *tables, const fl_node *arm_tables,
                                const char *arm_key, double *base_p, int32_t *spec_of) {
  fl_model *m = c->m;
  const size_t S = m->S;
  size_t n_specs = 0, n_base = 0;
  resolver rv = {0};
  row_spec *specs = NULL;
  double *raw = NULL;
  fl_status st = FL_OK;
  const size_t n_tab = tables->n + (arm_tables ? arm_tables->n : 0);
  fl_vary **vary = fl_calloc(n_tab, sizeof *vary);
  size_t *n_vary = fl_calloc(n_tab, sizeof *n_vary);
  for (size_t i = 0; i < tables->n; i++) n_base += fl_map_get(tables->items[i], "rows")->n;
  n_specs = n_base;
  for (size_t i = 0; arm_tables && i < arm_tables->n; i++)
    n_specs += fl_map_get(arm_tables->items[i], "rows")->n;
  specs = fl_calloc(n_specs, sizeof *specs);
  raw = fl_calloc(n_specs * S, sizeof *raw);
  if (!specs || !raw || !vary || !n_vary) goto nomem;
  if ((st = parse_tables(c, tables, "transitions.tables", specs, raw,
                         arm_tables ? NULL : m->spec_counts, vary, n_vary)) != FL_OK)
    goto done;
  if (arm_tables && (st = parse_tables(c, arm_tables, arm_key, specs + n_base, raw + n_base * S,
                                       NULL, vary + tables->n, n_vary + tables->n)) != FL_OK)
    goto done;
  rv = (resolver){arm_tables ? arm_tables : tables, arm_tables ? arm_key : "transitions.tables",
                  specs, n_specs, base_p, spec_of, fl_calloc(S, sizeof *rv.given),
                  gsl_matrix_alloc(S, S), gsl_matrix_alloc(S, S)};
  if (!rv.given || !rv.Q || !rv.P) goto nomem;
  for (size_t p = 0; p < m->NP && st == FL_OK; p++)
    for (size_t l = 0; l < m->NLOC && st == FL_OK; l++)
      for (size_t a = 0; a < m->NA && st == FL_OK; a++)
        for (size_t d = 0; d < m->ND && st == FL_OK; d++) st = resolve_cell(c, &rv, p, l, a, d);
  goto done;
nomem:
  st = fl_c_oom(c);
done:
  gsl_matrix_free(rv.Q);
  gsl_matrix_free(rv.P);
  free(rv.given);
  free(specs);
  free(raw);
  for (size_t i = 0; vary && i < n_tab; i++) fl_vary_free(vary[i], n_vary[i]);
  free(vary);
  free(n_vary);
  return st;
}

fl_status fl_compile_transitions(compiler *c) {
  fl_model *m = c->m;
  const fl_node *tr = fl_map_get(c->sc->root, "transitions"), *tables;
  const size_t S = m->S;
  size_t n_specs = 0, ncell;
  fl_status st = FL_OK;
  tables = fl_map_get(tr, "tables");
  c->rates = !strcmp(fl_get_str(tr, "transitions.given_as"), "rate");
  c->per_months = fl_get_num(tr, "transitions.per_months");
  if (isnan(c->per_months)) c->per_months = m->step_months;
  if ((st = compile_bands(c, tables)) != FL_OK) return st;
  for (size_t i = 0; i < tables->n; i++) n_specs += fl_map_get(tables->items[i], "rows")->n;
  m->n_specs = n_specs;
  m->spec_counts = fl_calloc(n_specs * S, sizeof *m->spec_counts);
  m->loc_esc = fl_calloc(m->NLOC, sizeof *m->loc_esc);
  if (!m->spec_counts || !m->loc_esc) return fl_c_oom(c);
  memcpy(m->loc_esc, c->loc_esc, m->NLOC * sizeof *m->loc_esc);
  /* Parameter uncertainty redraws rows from their counts; it needs rows used as they are
   * given (monthly probabilities for monthly steps), so no conversion stands in between. */
  m->psa_ok = !c->rates && fabs(m->step_months - c->per_months) <= 1e-12;
  /* Resolve, for every cell (period, locality, age band, duration band), which row applies. */
  ncell = m->NP * m->NLOC * m->NA * m->ND;
  if (ncell > MAX_ROWS / S || ncell * S > (MAX_ROWS << 2) / S)
    return fl_c_bad(c, tables, "transitions.tables",
                    "the tables define %zu combinations of period, locality, age and time in "
                    "state; the limit is %u rows",
                    ncell, MAX_ROWS);
  m->rows_per_period = m->NLOC * m->loc_stride;
  m->base_p = fl_calloc(ncell * S * S, sizeof *m->base_p);
  m->row_spec = fl_calloc(ncell * S, sizeof *m->row_spec);
  if (!m->base_p || !m->row_spec) return fl_c_oom(c);
  return resolve_tables(c, tables, NULL, NULL, m->base_p, m->row_spec);
}

fl_status fl_compile_arm_transitions(compiler *c, const char *arm_name, const fl_node *arm_tr,
                                     double **base_p) {
  fl_model *m = c->m;
  const fl_node *tables = fl_map_get(fl_map_get(c->sc->root, "transitions"), "tables");
  char key[128];
  snprintf(key, sizeof key, "arms.%s.transitions.tables", arm_name);
  if (!(*base_p = fl_calloc(m->NP * m->rows_per_period * m->S, sizeof **base_p)))
    return fl_c_oom(c);
  return resolve_tables(c, tables, fl_map_get(arm_tr, "tables"), key, *base_p, NULL);
}
