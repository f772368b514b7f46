/* Compiling a checked scenario into an immutable model: names resolved to indices, ages and
 * durations converted to steps, transition rows converted to the step length, adjusted for
 * locality and out-migration, and quantised into integer thresholds for the hot loop. */
#include "model/compile.h"
#include "model/intervention.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_linalg.h>
#include <gsl/gsl_matrix.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


fl_status fl_c_bad(compiler *c, const fl_node *n, const char *key, const char *fmt, ...) {
  char msg[900];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  fl_error_set(c->err, FL_ESCHEMA, c->sc->path, n ? n->line : 0, n ? n->col : 0, key, "%s", msg);
  return FL_ESCHEMA;
}

fl_status fl_c_oom(compiler *c) {
  fl_error_set(c->err, FL_ENOMEM, c->sc->path, 0, 0, NULL, "out of memory compiling the model");
  return FL_ENOMEM;
}

long fl_c_find(char *const *names, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (!strcmp(names[i], name)) return (long)i;
  return -1;
}

fl_status fl_c_steps(compiler *c, const fl_node *n, const char *key, double months,
                     uint32_t *out) {
  double steps = months / c->m->step_months;
  if (isinf(months)) {
    *out = UINT32_MAX;
    return FL_OK;
  }
  if (fabs(steps - nearbyint(steps)) > 1e-9 * fmax(1.0, steps) || steps > 65535)
    return fl_c_bad(c, n, key,
                    "%g months is not a whole number of steps of %g months (or exceeds 65535 "
                    "steps)",
                    months, c->m->step_months);
  *out = (uint32_t)nearbyint(steps);
  return FL_OK;
}

static fl_status name_list(compiler *c, const fl_node *seq, char ***names, size_t *n) {
  *n = seq->n;
  *names = calloc(seq->n, sizeof **names);
  if (!*names) return fl_c_oom(c);
  for (size_t i = 0; i < seq->n; i++)
    if (!((*names)[i] = fl_strdup(seq->items[i]->value))) return fl_c_oom(c);
  return FL_OK;
}

static fl_status compile_states(compiler *c) {
  fl_model *m = c->m;
  const fl_node *root = c->sc->root, *states = fl_map_get(root, "states");
  const fl_node *costs = fl_map_get(root, "costs");
  fl_status st;
  double per = 1.0;
  const char *per_word = fl_get_str(costs, "costs.per");
  if ((st = name_list(c, fl_map_get(root, "levels"), &m->level_names, &m->L)) != FL_OK) return st;
  if (costs) {
    if ((st = name_list(c, fl_map_get(costs, "budget_holders"), &m->holder_names, &m->B)) !=
        FL_OK)
      return st;
  }
  per = !strcmp(per_word, "year") ? 12.0 : !strcmp(per_word, "step") ? m->step_months : 1.0;
  m->cost_factor = m->step_months / per;
  m->S = states->n;
  m->state_names = calloc(m->S, sizeof *m->state_names);
  m->state_level = calloc(m->S, 1);
  m->absorbing = calloc(m->S, 1);
  m->qol = calloc(m->S, sizeof *m->qol);
  m->cost = fl_calloc(m->S * (m->B ? m->B : 1), sizeof *m->cost);
  if (!m->state_names || !m->state_level || !m->absorbing || !m->qol || !m->cost) return fl_c_oom(c);
  for (size_t s = 0; s < m->S; s++) {
    const fl_node *name = fl_map_key(states, s), *def = fl_map_val(states, s);
    const fl_node *lv = fl_map_get(def, "level"), *cost = fl_map_get(def, "cost");
    char key[256];
    long level = fl_c_find(m->level_names, m->L, lv->value);
    if (!(m->state_names[s] = fl_strdup(name->value))) return fl_c_oom(c);
    snprintf(key, sizeof key, "states.%s.level", name->value);
    if (level < 0) return fl_c_bad(c, lv, key, "'%s' is not one of the levels", lv->value);
    m->state_level[s] = (uint8_t)level;
    m->absorbing[s] = (uint8_t)fl_get_bool(def, "states.*.absorbing");
    m->qol[s] = fl_get_num(def, "states.*.qol");
    for (size_t i = 0; cost && i < cost->n; i++) {
      const fl_node *hn = fl_map_key(cost, i);
      long h = fl_c_find(m->holder_names, m->B, hn->value);
      snprintf(key, sizeof key, "states.%s.cost.%s", name->value, hn->value);
      if (h < 0)
        return fl_c_bad(c, hn, key, "'%s' is not one of costs.budget_holders%s", hn->value,
                   m->B ? "" : " (the scenario has no costs section)");
      m->cost[s * m->B + (size_t)h] = fl_scalar_num(fl_map_val(cost, i)) * m->step_months / per;
    }
  }
  return FL_OK;
}

static fl_status compile_localities(compiler *c) {
  fl_model *m = c->m;
  const fl_node *locs = fl_map_get(c->sc->root, "localities");
  double total = 0;
  m->NLOC = locs ? locs->n : 1;
  m->loc_names = calloc(m->NLOC, sizeof *m->loc_names);
  c->loc_share = calloc(m->NLOC, sizeof *c->loc_share);
  c->loc_esc = calloc(m->NLOC, sizeof *c->loc_esc);
  if (!m->loc_names || !c->loc_share || !c->loc_esc) return fl_c_oom(c);
  if (!locs) {
    c->loc_share[0] = c->loc_esc[0] = 1.0;
    return (m->loc_names[0] = fl_strdup("all")) ? FL_OK : fl_c_oom(c);
  }
  for (size_t i = 0; i < m->NLOC; i++) {
    const fl_node *def = fl_map_val(locs, i);
    if (!(m->loc_names[i] = fl_strdup(fl_map_key(locs, i)->value))) return fl_c_oom(c);
    c->loc_share[i] = fl_get_num(def, "localities.*.share");
    c->loc_esc[i] = fl_get_num(def, "localities.*.escalation_multiplier");
    total += c->loc_share[i];
  }
  if (!(total > 0)) return fl_c_bad(c, locs, "localities", "the locality shares add up to 0");
  return FL_OK;
}

/* Quantises relative weights w[n] (total > 0) into cumulative thresholds out[n] on [0, 2^32]:
 * outcome k is drawn when out[k-1] <= u < out[k]. A zero weight gives an empty interval, and
 * the last positive weight's threshold (and every later one) is exactly 2^32. */
static void quantise_cum(const double *w, size_t n, uint64_t *out) {
  double total = 0, acc = 0;
  size_t last = 0;
  for (size_t i = 0; i < n; i++) {
    total += w[i];
    if (w[i] > 0) last = i;
  }
  for (size_t i = 0; i < n; i++) {
    acc += w[i];
    out[i] = i >= last ? (uint64_t)FL_P_ONE : (uint64_t)llround(fmin(acc / total, 1.0) * FL_P_ONE);
    if (i && out[i] < out[i - 1]) out[i] = out[i - 1];
  }
}

/* Reads the range under schema pattern in map (or its default) as whole steps. key is the
 * range's path in the document, prefix of the key in messages ("population.initial[2]"). */
fl_status fl_c_range(compiler *c, const fl_node *map, const char *pattern,
                             const char *prefix, double scale, uint32_t *lo, uint32_t *hi) {
  double a = 0, b = 0;
  const char *leaf = strrchr(pattern, '.') + 1;
  const fl_node *n = fl_map_get(map, leaf);
  char key[256];
  fl_status st;
  snprintf(key, sizeof key, "%s.%s", prefix, leaf);
  if (!fl_get_range(map, pattern, &a, &b)) { /* the default */
    const char *def = NULL;
    for (size_t i = 0; i < fl_schema_len; i++)
      if (!strcmp(fl_schema[i].path, pattern)) def = fl_schema[i].def;
    a = b = 0;
    if (def && sscanf(def, "[%lf,", &a) == 1) {
      const char *second = strchr(def, ',') + 1;
      b = strstr(second, ".inf") ? HUGE_VAL : strtod(second, NULL);
    }
  }
  if ((st = fl_c_steps(c, n ? n : map, key, a * scale, lo)) != FL_OK) return st;
  if ((st = fl_c_steps(c, n ? n : map, key, b * scale, hi)) != FL_OK) return st;
  return FL_OK;
}

static fl_status compile_population(compiler *c) {
  fl_model *m = c->m;
  const fl_node *pop = fl_map_get(c->sc->root, "population");
  const fl_node *init = fl_map_get(pop, "initial"), *entries = fl_map_get(pop, "entries");
  double max_age = fl_get_num(pop, "population.max_age_years");
  double out_year = fl_get_num(pop, "population.out_migration_per_year");
  double *w = NULL;
  fl_status st = FL_OK;
  size_t g = 0;
  if (!isnan(max_age)) {
    uint32_t a = 0;
    if ((st = fl_c_steps(c, fl_map_get(pop, "max_age_years"), "population.max_age_years",
                       max_age * 12, &a)) != FL_OK)
      return st;
    if (a == 0) return fl_c_bad(c, fl_map_get(pop, "max_age_years"), "population.max_age_years",
                           "the maximum age must be at least one step");
    m->max_age = a;
  }
  m->out_migration = 1.0 - pow(1.0 - out_year, m->step_months / 12.0);
  /* Initial groups: a group without a locality is split over localities by share with the
   * largest-remainder method, so the counts are whole and add up exactly. */
  m->init = fl_calloc(init->n * m->NLOC, sizeof *m->init);
  if (!m->init) return fl_c_oom(c);
  for (size_t i = 0; i < init->n; i++) {
    const fl_node *gr = init->items[i], *sn = fl_map_get(gr, "state");
    const fl_node *ln = fl_map_get(gr, "locality");
    char key[128];
    long s = fl_c_find(m->state_names, m->S, sn->value);
    fl_init_group proto = {0};
    uint64_t count = (uint64_t)fl_get_num(gr, "population.initial[].count");
    snprintf(key, sizeof key, "population.initial[%zu].state", i);
    if (s < 0) return fl_c_bad(c, sn, key, "'%s' is not one of the states", sn->value);
    proto.state = (uint32_t)s;
    snprintf(key, sizeof key, "population.initial[%zu]", i);
    if ((st = fl_c_range(c, gr, "population.initial[].age_years", key, 12.0, &proto.age_lo,
                          &proto.age_hi)) != FL_OK)
      return st;
    if ((st = fl_c_range(c, gr, "population.initial[].time_in_state_months", key, 1.0,
                          &proto.tis_lo, &proto.tis_hi)) != FL_OK)
      return st;
    if (proto.age_hi == UINT32_MAX || proto.tis_hi == UINT32_MAX) {
      const char *leaf = proto.age_hi == UINT32_MAX ? "age_years" : "time_in_state_months";
      snprintf(key, sizeof key, "population.initial[%zu].%s", i, leaf);
      return fl_c_bad(c, fl_map_get(gr, leaf), key,
                 "initial ages and times in state need a finite upper end");
    }
    if (proto.age_hi > proto.age_lo) proto.age_hi--; /* [lo, hi) in whole steps */
    if (proto.tis_hi > proto.tis_lo) proto.tis_hi--;
    if (m->max_age && proto.age_hi >= m->max_age) {
      snprintf(key, sizeof key, "population.initial[%zu].age_years", i);
      return fl_c_bad(c, fl_map_get(gr, "age_years"), key,
                 "ages must be below population.max_age_years");
    }
    if (ln) {
      long l = fl_c_find(m->loc_names, m->NLOC, ln->value);
      snprintf(key, sizeof key, "population.initial[%zu].locality", i);
      if (l < 0) return fl_c_bad(c, ln, key, "'%s' is not one of the localities", ln->value);
      proto.loc = (uint32_t)l;
      proto.count = count;
      m->init[g++] = proto;
    } else {
      double total = 0;
      uint64_t given = 0;
      size_t first = g;
      for (size_t l = 0; l < m->NLOC; l++) total += c->loc_share[l];
      for (size_t l = 0; l < m->NLOC; l++) {
        proto.loc = (uint32_t)l;
        proto.count = (uint64_t)floor((double)count * c->loc_share[l] / total);
        given += proto.count;
        m->init[g++] = proto;
      }
      while (given < count) { /* hand out the remainder by largest fractional part */
        size_t best = first;
        double best_frac = -1;
        for (size_t l = 0; l < m->NLOC; l++) {
          double exact = (double)count * c->loc_share[l] / total;
          double frac = exact - (double)m->init[first + l].count;
          if (frac > best_frac) {
            best_frac = frac;
            best = first + l;
          }
        }
        m->init[best].count++;
        given++;
      }
    }
  }
  m->n_init = g;
  /* Entry streams. */
  m->n_entries = entries ? entries->n : 0;
  m->entries = fl_calloc(m->n_entries, sizeof *m->entries);
  w = fl_calloc(m->S > m->NLOC ? m->S : m->NLOC, sizeof *w);
  if (!m->entries || !w) {
    free(w);
    return fl_c_oom(c);
  }
  for (size_t e = 0; e < m->n_entries; e++) {
    const fl_node *def = fl_map_val(entries, e), *states = fl_map_get(def, "states");
    const fl_node *locs = fl_map_get(def, "localities");
    const char *name = fl_map_key(entries, e)->value;
    fl_entry_stream *es = &m->entries[e];
    char key[256];
    double total = 0;
    es->name = fl_strdup(name);
    es->per_step = fl_get_num(def, "population.entries.*.per_year") * m->step_months / 12.0;
    es->state_cum = calloc(m->S, sizeof *es->state_cum);
    es->loc_cum = calloc(m->NLOC, sizeof *es->loc_cum);
    if (!es->name || !es->state_cum || !es->loc_cum) goto nomem;
    snprintf(key, sizeof key, "population.entries.%s", name);
    if ((st = fl_c_range(c, def, "population.entries.*.age_years", key, 12.0, &es->age_lo,
                          &es->age_hi)) != FL_OK)
      goto done;
    snprintf(key, sizeof key, "population.entries.%s.age_years", name);
    if (es->age_hi == UINT32_MAX) {
      st = fl_c_bad(c, def, key, "entry ages need a finite upper end");
      goto done;
    }
    if (es->age_hi > es->age_lo) es->age_hi--;
    if (m->max_age && es->age_hi >= m->max_age) {
      st = fl_c_bad(c, fl_map_get(def, "age_years"), key, "ages must be below max_age_years");
      goto done;
    }
    memset(w, 0, m->S * sizeof *w);
    for (size_t i = 0; i < states->n; i++) {
      const fl_node *sn = fl_map_key(states, i);
      long s = fl_c_find(m->state_names, m->S, sn->value);
      snprintf(key, sizeof key, "population.entries.%s.states.%s", name, sn->value);
      if (s < 0) {
        st = fl_c_bad(c, sn, key, "'%s' is not one of the states", sn->value);
        goto done;
      }
      w[s] = fl_scalar_num(fl_map_val(states, i));
      total += w[s];
    }
    if (!(total > 0)) {
      snprintf(key, sizeof key, "population.entries.%s.states", name);
      st = fl_c_bad(c, states, key, "the state shares add up to 0");
      goto done;
    }
    quantise_cum(w, m->S, es->state_cum);
    memcpy(w, c->loc_share, m->NLOC * sizeof *w);
    if (locs) {
      memset(w, 0, m->NLOC * sizeof *w);
      total = 0;
      for (size_t i = 0; i < locs->n; i++) {
        const fl_node *ln = fl_map_key(locs, i);
        long l = fl_c_find(m->loc_names, m->NLOC, ln->value);
        snprintf(key, sizeof key, "population.entries.%s.localities.%s", name, ln->value);
        if (l < 0) {
          st = fl_c_bad(c, ln, key, "'%s' is not one of the localities", ln->value);
          goto done;
        }
        w[l] = fl_scalar_num(fl_map_val(locs, i));
        total += w[l];
      }
      if (!(total > 0)) {
        snprintf(key, sizeof key, "population.entries.%s.localities", name);
        st = fl_c_bad(c, locs, key, "the locality shares add up to 0");
        goto done;
      }
    }
    quantise_cum(w, m->NLOC, es->loc_cum);
  }
done:
  free(w);
  return st;
nomem:
  free(w);
  return fl_c_oom(c);
}

/* Inserts v into the sorted set edges[*n] if absent. */
static void add_edge(uint32_t *edges, size_t *n, uint32_t v) {
  size_t i = 0;
  while (i < *n && edges[i] < v) i++;
  if (i < *n && edges[i] == v) return;
  memmove(edges + i + 1, edges + i, (*n - i) * sizeof *edges);
  edges[i] = v;
  (*n)++;
}

/* Band boundaries are the union of every table's range ends. */
static fl_status compile_bands(compiler *c, const fl_node *tables) {
  fl_model *m = c->m;
  static const char *const pats[3] = {"transitions.tables[].age_years",
                                      "transitions.tables[].time_in_state_months",
                                      "transitions.tables[].period_months"};
  static const double scale[3] = {12.0, 1.0, 1.0};
  uint32_t *edges[3];
  size_t n[3] = {1, 1, 1};
  fl_status st;
  for (int k = 0; k < 3; k++) {
    edges[k] = calloc(2 * tables->n + 2 + 2 * fl_arms_count_interventions(c->sc), sizeof **edges);
    if (!edges[k]) {
      for (int j = 0; j < k; j++) free(edges[j]);
      return fl_c_oom(c);
    }
    edges[k][0] = 0;
  }
  for (size_t i = 0; i < tables->n; i++) {
    for (int k = 0; k < 3; k++) {
      uint32_t lo, hi;
      char prefix[64];
      snprintf(prefix, sizeof prefix, "transitions.tables[%zu]", i);
      if (!fl_map_get(tables->items[i], strrchr(pats[k], '.') + 1)) continue;
      if ((st = fl_c_range(c, tables->items[i], pats[k], prefix, scale[k], &lo, &hi)) != FL_OK)
        goto out;
      add_edge(edges[k], &n[k], lo);
      if (hi != UINT32_MAX) add_edge(edges[k], &n[k], hi);
    }
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
} row_spec;

static fl_status parse_row(compiler *c, const fl_node *row, size_t table, size_t from,
                           double *values) {
  fl_model *m = c->m;
  const char *from_name = m->state_names[from];
  char key[256];
  long rest = -1;
  double sum = 0;
  for (size_t s = 0; s < m->S; s++) values[s] = 0;
  for (size_t i = 0; i < row->n; i++) {
    const fl_node *tn = fl_map_key(row, i), *vn = fl_map_val(row, i);
    long to = fl_c_find(m->state_names, m->S, tn->value);
    snprintf(key, sizeof key, "transitions.tables[%zu].rows.%s.%s", table, from_name, tn->value);
    if (to < 0) return fl_c_bad(c, tn, key, "'%s' is not one of the states", tn->value);
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
  snprintf(key, sizeof key, "transitions.tables[%zu].rows.%s", table, from_name);
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
      return fl_c_bad(c, fl_map_key(counts, i), key, "'%s' is not one of the states",
                      fl_map_key(counts, i)->value);
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

static fl_status compile_transitions(compiler *c) {
  fl_model *m = c->m;
  const fl_node *tr = fl_map_get(c->sc->root, "transitions"), *tables;
  size_t S = m->S, n_specs = 0, ncell, spec_i;
  row_spec *specs = NULL;
  size_t *spec_table = NULL;
  double *raw = NULL;
  const row_spec **given = NULL;
  gsl_matrix *Q = NULL, *P = NULL;
  fl_status st = FL_OK;
  tables = fl_map_get(tr, "tables");
  c->rates = !strcmp(fl_get_str(tr, "transitions.given_as"), "rate");
  c->per_months = fl_get_num(tr, "transitions.per_months");
  if (isnan(c->per_months)) c->per_months = m->step_months;
  if ((st = compile_bands(c, tables)) != FL_OK) return st;
  /* Parse and check every row of every table once, where the error can point at it. */
  for (size_t i = 0; i < tables->n; i++) n_specs += fl_map_get(tables->items[i], "rows")->n;
  specs = fl_calloc(n_specs, sizeof *specs);
  spec_table = fl_calloc(n_specs, sizeof *spec_table);
  raw = fl_calloc(n_specs * S, sizeof *raw);
  m->n_specs = n_specs;
  m->spec_counts = fl_calloc(n_specs * S, sizeof *m->spec_counts);
  m->loc_esc = fl_calloc(m->NLOC, sizeof *m->loc_esc);
  if (!m->spec_counts || !m->loc_esc) goto nomem;
  memcpy(m->loc_esc, c->loc_esc, m->NLOC * sizeof *m->loc_esc);
  /* Parameter uncertainty redraws rows from their counts; it needs rows used as they are
   * given (monthly probabilities for monthly steps), so no conversion stands in between. */
  m->psa_ok = !c->rates && fabs(m->step_months - c->per_months) <= 1e-12;
  if (!specs || !spec_table || !raw) goto nomem;
  spec_i = 0;
  for (size_t i = 0; i < tables->n; i++) {
    const fl_node *rows = fl_map_get(tables->items[i], "rows");
    const fl_node *locs = fl_map_get(tables->items[i], "localities");
    for (size_t l = 0; locs && l < locs->n; l++) {
      if (fl_c_find(m->loc_names, m->NLOC, locs->items[l]->value) < 0) {
        char key[128];
        snprintf(key, sizeof key, "transitions.tables[%zu].localities", i);
        st = fl_c_bad(c, locs->items[l], key, "'%s' is not one of the localities",
                 locs->items[l]->value);
        goto done;
      }
    }
    for (size_t r = 0; r < rows->n; r++) {
      const fl_node *fn = fl_map_key(rows, r);
      long from = fl_c_find(m->state_names, S, fn->value);
      char key[256];
      snprintf(key, sizeof key, "transitions.tables[%zu].rows.%s", i, fn->value);
      if (from < 0) {
        st = fl_c_bad(c, fn, key, "'%s' is not one of the states", fn->value);
        goto done;
      }
      if (m->absorbing[from]) {
        st = fl_c_bad(c, fn, key, "'%s' is absorbing and has no transition row", fn->value);
        goto done;
      }
      specs[spec_i].from = (size_t)from;
      specs[spec_i].values = raw + spec_i * S;
      spec_table[spec_i] = i;
      if ((st = parse_row(c, fl_map_val(rows, r), i, (size_t)from, specs[spec_i].values)) !=
          FL_OK)
        goto done;
      for (size_t d = 0; d < S; d++) m->spec_counts[spec_i * S + d] = NAN; /* none */
      if ((st = check_counts(c, tables->items[i], i, (size_t)from, specs[spec_i].values,
                             m->spec_counts + spec_i * S)) != FL_OK)
        goto done;
      spec_i++;
    }
  }
  /* Resolve, for every cell (period, locality, age band, duration band), which row applies. */
  ncell = m->NP * m->NLOC * m->NA * m->ND;
  if (ncell > MAX_ROWS / S || ncell * S > (MAX_ROWS << 2) / S) {
    st = fl_c_bad(c, tables, "transitions.tables",
             "the tables define %zu combinations of period, locality, age and time in state; "
             "the limit is %u rows",
             ncell, MAX_ROWS);
    goto done;
  }
  m->rows_per_period = m->NLOC * m->loc_stride;
  m->base_p = fl_calloc(ncell * S * S, sizeof *m->base_p);
  m->row_spec = fl_calloc(ncell * S, sizeof *m->row_spec);
  given = fl_calloc(S, sizeof *given);
  Q = gsl_matrix_alloc(S, S);
  P = gsl_matrix_alloc(S, S);
  if (!m->base_p || !m->row_spec || !given || !Q || !P) goto nomem;
  for (size_t p = 0; p < m->NP; p++)
    for (size_t l = 0; l < m->NLOC; l++)
      for (size_t a = 0; a < m->NA; a++)
        for (size_t d = 0; d < m->ND; d++) {
          size_t cell = ((p * m->NLOC + l) * m->NA + a) * m->ND + d;
          char where[256];
          snprintf(where, sizeof where,
                   "for ages from %g years, time in state from %g months, month %g of the run%s%s",
                   m->age_edges[a] * m->step_months / 12.0, m->dur_edges[d] * m->step_months,
                   m->period_edges[p] * m->step_months, m->NLOC > 1 ? ", locality " : "",
                   m->NLOC > 1 ? m->loc_names[l] : "");
          for (size_t s = 0; s < S; s++) given[s] = NULL;
          for (size_t k = 0; k < n_specs; k++) {
            const fl_node *t = tables->items[spec_table[k]];
            if (range_covers(t, "age_years", 12.0, m->step_months, m->age_edges[a]) &&
                range_covers(t, "time_in_state_months", 1.0, m->step_months, m->dur_edges[d]) &&
                range_covers(t, "period_months", 1.0, m->step_months, m->period_edges[p]) &&
                table_has_locality(t, m->loc_names[l]))
              given[specs[k].from] = &specs[k];
          }
          for (size_t s = 0; s < S; s++) {
            if (!given[s] && !m->absorbing[s]) {
              st = fl_c_bad(c, tables, "transitions.tables",
                       "no table gives the row of state '%s' %s; every non-absorbing state "
                       "needs a row for every age, time in state, period and locality",
                       m->state_names[s], where);
              goto done;
            }
          }
          /* The step's probability matrix. */
          for (size_t s = 0; s < S; s++)
            for (size_t j = 0; j < S; j++)
              gsl_matrix_set(Q, s, j, given[s] ? given[s]->values[j] : 0.0);
          if (c->rates) {
            gsl_matrix_scale(Q, m->step_months / c->per_months);
            if (gsl_linalg_exponential_ss(Q, P, GSL_PREC_DOUBLE) != GSL_SUCCESS) {
              st = fl_c_bad(c, tables, "transitions.tables",
                       "the matrix exponential of the rates %s failed", where);
              goto done;
            }
          } else {
            gsl_matrix_memcpy(P, Q);
            if (fabs(m->step_months - c->per_months) > 1e-12)
              for (size_t s = 0; s < S; s++)
                if (given[s])
                  convert_row_probability(gsl_matrix_ptr(P, s, 0), S, s,
                                          m->step_months / c->per_months);
          }
          for (size_t s = 0; s < S; s++) {
            double *row = gsl_matrix_ptr(P, s, 0), sum = 0;
            for (size_t j = 0; j < S; j++) {
              if (row[j] < 0 && row[j] > -1e-12) row[j] = 0; /* round-off of expm */
              if (!(row[j] >= 0)) {
                st = fl_c_bad(c, tables, "transitions.tables",
                         "the step probability from '%s' to '%s' %s is %g",
                         m->state_names[s], m->state_names[j], where, row[j]);
                goto done;
              }
              sum += row[j];
            }
            if (!m->absorbing[s] && fabs(sum - 1.0) > ROW_TOL) {
              st = fl_c_bad(c, tables, "transitions.tables",
                       "the step probabilities from '%s' %s add up to %.12g, not 1",
                       m->state_names[s], where, sum);
              goto done;
            }
            if ((st = apply_locality(c, s, row, l, c->loc_esc[l], where)) != FL_OK) goto done;
            m->row_spec[cell * S + s] = given[s] ? (int32_t)(given[s] - specs) : -1;
            memcpy(m->base_p + (cell * S + s) * S, row, S * sizeof *row);
          }
        }
  goto done;
nomem:
  st = fl_c_oom(c);
done:
  gsl_matrix_free(Q);
  gsl_matrix_free(P);
  free(given);
  free(specs);
  free(spec_table);
  free(raw);
  return st;
}

fl_status fl_model_compile(const fl_scenario *sc, fl_model **out, fl_error *err) {
  fl_model *m = calloc(1, sizeof *m);
  compiler c = {.sc = sc, .m = m, .err = err};
  const fl_node *root = sc->root, *time = fl_map_get(root, "time");
  const fl_node *disc = fl_map_get(root, "discount");
  fl_status st;
  gsl_error_handler_t *old_handler = gsl_set_error_handler_off();
  *out = NULL;
  if (!m) {
    gsl_set_error_handler(old_handler);
    return fl_c_oom(&c);
  }
  m->name = fl_strdup(fl_get_str(root, "name"));
  m->scenario_path = fl_strdup(sc->path);
  m->scenario_text = fl_strdup(sc->text);
  m->scenario_overrides = fl_strdup(sc->overrides ? sc->overrides : "");
  if (!m->name || !m->scenario_path || !m->scenario_text || !m->scenario_overrides) {
    st = fl_c_oom(&c);
    goto fail;
  }
  m->step_months = fl_get_num(time, "time.step_months");
  m->T = (size_t)fl_get_num(time, "time.horizon_steps");
  m->tis_by_level = !strcmp(fl_get_str(time, "time.time_in_state"), "level");
  m->disc_cost = fl_get_num(disc, "discount.costs");
  m->disc_qol = fl_get_num(disc, "discount.qol");
  if ((st = compile_states(&c)) != FL_OK) goto fail;
  if ((st = compile_localities(&c)) != FL_OK) goto fail;
  if ((st = compile_population(&c)) != FL_OK) goto fail;
  if ((st = compile_transitions(&c)) != FL_OK) goto fail;
  if ((st = fl_compile_arms(&c)) != FL_OK) goto fail;
  free(c.loc_share);
  free(c.loc_esc);
  gsl_set_error_handler(old_handler);
  *out = m;
  return FL_OK;
fail:
  free(c.loc_share);
  free(c.loc_esc);
  gsl_set_error_handler(old_handler);
  fl_model_free(m);
  return st;
}

void fl_model_free(fl_model *m) {
  if (!m) return;
  free(m->name);
  free(m->scenario_path);
  free(m->scenario_text);
  free(m->scenario_overrides);
  fl_names_free(m->state_names, m->S);
  fl_names_free(m->level_names, m->L);
  fl_names_free(m->holder_names, m->B);
  fl_names_free(m->loc_names, m->NLOC);
  free(m->state_level);
  free(m->absorbing);
  free(m->age_band);
  free(m->dur_band);
  free(m->age_edges);
  free(m->dur_edges);
  free(m->period_edges);
  free(m->period_of_step);
  free(m->age_off);
  free(m->dur_off);
  for (size_t a = 0; a < FL_MAX_ARMS; a++) {
    fl_arm *arm = &m->arms[a];
    free(arm->name);
    free(arm->rows);
    free(arm->stay32);
    free(arm->move_cum);
    free(arm->move_dest);
    free(arm->step_table);
    free(arm->strength);
    for (size_t i = 0; arm->ints && i < arm->n_int; i++) {
      fl_intervention_free(&arm->ints[i]);
    }
    free(arm->ints);
    free(arm->reinvest.from);
  }
  free(m->base_p);
  free(m->row_spec);
  free(m->spec_counts);
  free(m->loc_esc);
  free(m->trans_cost);
  free(m->trans_qaly);
  free(m->wtp);
  free(m->unc);
  free(m->cost);
  free(m->qol);
  free(m->init);
  for (size_t e = 0; m->entries && e < m->n_entries; e++) {
    free(m->entries[e].name);
    free(m->entries[e].state_cum);
    free(m->entries[e].loc_cum);
  }
  free(m->entries);
  free(m);
}

double fl_discount(double rate, double years) { return pow(1.0 + rate, -years); }
