/* Compiling the population section: who leaves and when, the children present at the start, and
 * the streams of entrants. */
#include "model/compile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* Leaving: the maximum age (in whole steps) and out-migration per step. */
static fl_status compile_leaving(compiler *c, const fl_node *pop) {
  fl_model *m = c->m;
  const double max_age = fl_get_num(pop, "population.max_age_years");
  const double out_year = fl_get_num(pop, "population.out_migration_per_year");
  fl_status st;
  if (!isnan(max_age)) {
    uint32_t a = 0;
    if ((st = fl_c_steps(c, fl_map_get(pop, "max_age_years"), "population.max_age_years",
                         max_age * 12, &a)) != FL_OK)
      return st;
    if (a == 0)
      return fl_c_bad(c, fl_map_get(pop, "max_age_years"), "population.max_age_years",
                      "the maximum age must be at least one step");
    m->max_age = a;
  }
  m->out_migration = 1.0 - pow(1.0 - out_year, m->step_months / 12.0);
  return FL_OK;
}

/* Initial group i (its mapping gr) without its count and locality into proto: state, ages and
 * times in state in whole steps, [lo, hi] inclusive. */
static fl_status initial_group(compiler *c, const fl_node *gr, size_t i, fl_init_group *proto) {
  fl_model *m = c->m;
  const fl_node *sn = fl_map_get(gr, "state");
  char key[128];
  fl_status st;
  long s = fl_c_find(m->state_names, m->S, sn->value);
  snprintf(key, sizeof key, "population.initial[%zu].state", i);
  if (s < 0) return fl_c_unknown(c, sn, key, sn->value, m->state_names, m->S, "the states");
  proto->state = (uint32_t)s;
  snprintf(key, sizeof key, "population.initial[%zu]", i);
  if ((st = fl_c_range(c, gr, "population.initial[].age_years", key, 12.0, &proto->age_lo,
                       &proto->age_hi)) != FL_OK)
    return st;
  if ((st = fl_c_range(c, gr, "population.initial[].time_in_state_months", key, 1.0,
                       &proto->tis_lo, &proto->tis_hi)) != FL_OK)
    return st;
  if (proto->age_hi == UINT32_MAX || proto->tis_hi == UINT32_MAX) {
    const char *leaf = proto->age_hi == UINT32_MAX ? "age_years" : "time_in_state_months";
    snprintf(key, sizeof key, "population.initial[%zu].%s", i, leaf);
    return fl_c_bad(c, fl_map_get(gr, leaf), key,
                    "initial ages and times in state need a finite upper end");
  }
  if (proto->age_hi > proto->age_lo) proto->age_hi--; /* [lo, hi) in whole steps */
  if (proto->tis_hi > proto->tis_lo) proto->tis_hi--;
  if (m->max_age && proto->age_hi >= m->max_age) {
    snprintf(key, sizeof key, "population.initial[%zu].age_years", i);
    return fl_c_bad(c, fl_map_get(gr, "age_years"), key,
                    "ages must be below population.max_age_years");
  }
  return FL_OK;
}

/* A group of count children without a locality, split over the localities by share with the
 * largest-remainder method (the counts are whole and add up exactly): NLOC groups from
 * m->init[*g]. */
static void split_by_share(compiler *c, fl_init_group proto, uint64_t count, size_t *g) {
  fl_model *m = c->m;
  double total = 0;
  uint64_t given = 0;
  const size_t first = *g;
  for (size_t l = 0; l < m->NLOC; l++) total += c->loc_share[l];
  for (size_t l = 0; l < m->NLOC; l++) {
    proto.loc = (uint32_t)l;
    proto.count = (uint64_t)floor((double)count * c->loc_share[l] / total);
    given += proto.count;
    m->init[(*g)++] = proto;
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

/* The initial groups, one per (group, locality). */
static fl_status compile_initial(compiler *c, const fl_node *init) {
  fl_model *m = c->m;
  fl_status st;
  size_t g = 0;
  m->init = fl_calloc(init->n * m->NLOC, sizeof *m->init);
  if (!m->init) return fl_c_oom(c);
  for (size_t i = 0; i < init->n; i++) {
    const fl_node *gr = init->items[i], *ln = fl_map_get(gr, "locality");
    fl_init_group proto = {0};
    const uint64_t count = (uint64_t)fl_get_num(gr, "population.initial[].count");
    if ((st = initial_group(c, gr, i, &proto)) != FL_OK) return st;
    if (ln) {
      char key[128];
      long l = fl_c_find(m->loc_names, m->NLOC, ln->value);
      snprintf(key, sizeof key, "population.initial[%zu].locality", i);
      if (l < 0)
        return fl_c_unknown(c, ln, key, ln->value, m->loc_names, m->NLOC, "the localities");
      proto.loc = (uint32_t)l;
      proto.count = count;
      m->init[g++] = proto;
    } else {
      split_by_share(c, proto, count, &g);
    }
  }
  m->n_init = g;
  return FL_OK;
}

/* Relative shares under map (names -> weights) into w[n] (zeroed first), names looked up in
 * names[n]; key is the key path of map and what the weights are of, for messages. */
static fl_status shares(compiler *c, const fl_node *map, char *const *names, size_t n,
                        const char *key, const char *what, double *w) {
  char k[320];
  double total = 0;
  memset(w, 0, n * sizeof *w);
  for (size_t i = 0; i < map->n; i++) {
    const fl_node *kn = fl_map_key(map, i);
    long j = fl_c_find(names, n, kn->value);
    snprintf(k, sizeof k, "%s.%s", key, kn->value);
    if (j < 0) {
      char what_all[64];
      snprintf(what_all, sizeof what_all, "the %s", what);
      return fl_c_unknown(c, kn, k, kn->value, names, n, what_all);
    }
    w[j] = fl_scalar_num(fl_map_val(map, i));
    total += w[j];
  }
  if (!(total > 0)) {
    const char *of = !strcmp(what, "states") ? "state" : "locality";
    return fl_c_bad(c, map, key, "the %s shares add up to 0", of);
  }
  return FL_OK;
}

/* Entry stream e (its mapping def, named name) into es; w: scratch for max(S, NLOC) weights. */
static fl_status entry_stream(compiler *c, const fl_node *def, const char *name,
                              fl_entry_stream *es, double *w) {
  fl_model *m = c->m;
  const fl_node *states = fl_map_get(def, "states"), *locs = fl_map_get(def, "localities");
  char key[256];
  fl_status st;
  es->name = fl_strdup(name);
  es->per_step = fl_get_num(def, "population.entries.*.per_year") * m->step_months / 12.0;
  es->state_cum = calloc(m->S, sizeof *es->state_cum);
  es->loc_cum = calloc(m->NLOC, sizeof *es->loc_cum);
  if (!es->name || !es->state_cum || !es->loc_cum) return fl_c_oom(c);
  snprintf(key, sizeof key, "population.entries.%s", name);
  if ((st = fl_c_range(c, def, "population.entries.*.age_years", key, 12.0, &es->age_lo,
                       &es->age_hi)) != FL_OK)
    return st;
  snprintf(key, sizeof key, "population.entries.%s.age_years", name);
  if (es->age_hi == UINT32_MAX) return fl_c_bad(c, def, key, "entry ages need a finite upper end");
  if (es->age_hi > es->age_lo) es->age_hi--;
  if (m->max_age && es->age_hi >= m->max_age)
    return fl_c_bad(c, fl_map_get(def, "age_years"), key, "ages must be below max_age_years");
  snprintf(key, sizeof key, "population.entries.%s.states", name);
  if ((st = shares(c, states, m->state_names, m->S, key, "states", w)) != FL_OK) return st;
  quantise_cum(w, m->S, es->state_cum);
  memcpy(w, c->loc_share, m->NLOC * sizeof *w);
  snprintf(key, sizeof key, "population.entries.%s.localities", name);
  if (locs && (st = shares(c, locs, m->loc_names, m->NLOC, key, "localities", w)) != FL_OK)
    return st;
  quantise_cum(w, m->NLOC, es->loc_cum);
  return FL_OK;
}

fl_status fl_compile_population(compiler *c) {
  fl_model *m = c->m;
  const fl_node *pop = fl_map_get(c->sc->root, "population");
  const fl_node *entries = fl_map_get(pop, "entries");
  fl_status st;
  if ((st = compile_leaving(c, pop)) != FL_OK ||
      (st = compile_initial(c, fl_map_get(pop, "initial"))) != FL_OK)
    return st;
  m->n_entries = entries ? entries->n : 0;
  m->entries = fl_calloc(m->n_entries, sizeof *m->entries);
  double *w = fl_calloc(m->S > m->NLOC ? m->S : m->NLOC, sizeof *w);
  if (!m->entries || !w) {
    free(w);
    return fl_c_oom(c);
  }
  for (size_t e = 0; e < m->n_entries && st == FL_OK; e++)
    st = entry_stream(c, fl_map_val(entries, e), fl_map_key(entries, e)->value, &m->entries[e], w);
  free(w);
  return st;
}
