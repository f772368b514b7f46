/* State costs and QoL weights by single year of age or of time in state (states.*.cost_by_age,
 * states.*.cost_by_time_in_state, states.*.qol_by_age, states.*.qol_by_time_in_state). They are
 * compiled into reward classes: the states split by the years of age, and of time in state,
 * over which no vector changes. Only a scenario with such a vector has classes; the simulation
 * then counts its children by class at every time point, and the rewards are charged by class
 * (results/derive.c). */
#include "model/compile.h"

#include "model/intervention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One vector of a state's reward. */
typedef struct rvec {
  const fl_node *node; /* its map, for messages */
  char key[160];
  int tis;             /* by time in state (else by age) */
  double from_years;
  double *values;
  size_t n;
} rvec;

/* Whole years in a duration of steps. */
static uint32_t years_of(const fl_model *m, uint32_t steps) {
  return (uint32_t)floor((double)steps * m->step_months / 12.0 + 1e-9);
}

/* The first step of year y. */
static uint32_t step_of_year(const fl_model *m, uint32_t y) {
  return (uint32_t)ceil((double)y * 12.0 / m->step_months - 1e-9);
}

/* The vector's value in year y (the first value before it starts, the last after it ends). */
static double value_at(const rvec *v, uint32_t y) {
  const double k = (double)y - v->from_years;
  return v->values[k <= 0 ? 0 : k >= (double)v->n ? v->n - 1 : (size_t)k];
}

static fl_status parse_vec(compiler *c, const fl_node *node, const char *key, const char *pattern,
                           int tis, int qol, rvec *v) {
  v->node = node;
  v->tis = tis;
  snprintf(v->key, sizeof v->key, "%s", key);
  return fl_vector_parse(c, node, key, pattern, tis ? "years_column" : "age_column", 0,
                         qol ? 1 : 1e15, qol ? "a weight from 0 to 1" : "a cost (a number >= 0)",
                         &v->values, &v->n, &v->from_years);
}

/* The youngest and oldest ages (steps) a child of the scenario can have at a time point. */
static void age_span(const fl_model *m, uint32_t *lo, uint32_t *hi) {
  uint32_t young = UINT32_MAX;
  for (size_t i = 0; i < m->n_init; i++)
    if (m->init[i].age_lo < young) young = m->init[i].age_lo;
  for (size_t e = 0; e < m->n_entries; e++)
    if (m->entries[e].age_lo < young) young = m->entries[e].age_lo;
  *lo = young == UINT32_MAX ? 0 : young;
  *hi = m->age_top;
}

/* A vector must give every year it is needed for: by age, every age from the youngest child to
 * the oldest; by time in state, from 0 (times past its end take its last value). */
static fl_status check_span(compiler *c, const rvec *v) {
  const fl_model *m = c->m;
  if (v->tis) {
    if (v->from_years != 0)
      return fl_c_bad(c, v->node, v->key,
                      "a value by time in state starts at 0 years in the state, found %g",
                      v->from_years);
    return FL_OK;
  }
  uint32_t lo, hi;
  age_span(m, &lo, &hi);
  const double y0 = years_of(m, lo), y1 = years_of(m, hi);
  const double last = v->from_years + (double)v->n - 1;
  if (v->from_years > y0 || last < y1)
    return fl_c_bad(c, v->node, v->key,
                    "the values are for ages %g to %g years, and children of the scenario are "
                    "%g to %g years old: give a value for every year of age",
                    v->from_years, last, y0, y1);
  return FL_OK;
}

/* Classes of one dimension: a class starts at every year (up to top, in steps) at which some
 * vector of the dimension changes value. out[top + 1] gets the class of each step; first_year
 * (room for top + 2) the first year of each class; returns the number of classes, or 0 when
 * there would be more than 65535. *cap: the first step of the last class. */
static size_t make_classes(const fl_model *m, const rvec *v, size_t nv, int tis, uint32_t top,
                           uint16_t *out, uint32_t *first_year, uint32_t *cap) {
  const uint32_t y_top = years_of(m, top);
  size_t k = 0;
  first_year[0] = 0;
  *cap = 0;
  for (uint32_t y = 1; y <= y_top; y++) {
    int changes = 0;
    for (size_t i = 0; i < nv && !changes; i++)
      if (v[i].tis == tis && v[i].n) changes = value_at(&v[i], y) != value_at(&v[i], y - 1);
    if (!changes) continue;
    if (++k > 65534) return 0;
    first_year[k] = y;
    *cap = step_of_year(m, y);
  }
  for (uint32_t a = 0, j = 0; a <= top; a++) {
    while (j < k && years_of(m, a) >= first_year[j + 1]) j++;
    out[a] = (uint16_t)j;
  }
  return k + 1;
}

/* "from-to" years of class j of n (first years fy), or "from+" for the last. */
static void span_label(char *buf, size_t size, const uint32_t *fy, size_t j, size_t n) {
  if (j + 1 < n) snprintf(buf, size, "%u-%u", fy[j], fy[j + 1] - 1);
  else snprintf(buf, size, "%u+", fy[j]);
}

static fl_status build_classes(compiler *c, const rvec *v, size_t nv, const rvec *first) {
  fl_model *m = c->m;
  const size_t S = m->S, B = m->B;
  fl_status st = FL_OK;
  uint32_t *fa = fl_calloc((size_t)m->age_top + 2, sizeof *fa);
  uint32_t *fd = fl_calloc((size_t)m->tis_top + 2, sizeof *fd);
  m->rc_age = fl_calloc((size_t)m->age_top + 1, sizeof *m->rc_age);
  m->rc_tis = fl_calloc((size_t)m->tis_top + 1, sizeof *m->rc_tis);
  if (!fa || !fd || !m->rc_age || !m->rc_tis) {
    st = fl_c_oom(c);
    goto done;
  }
  m->NRA = make_classes(m, v, nv, 0, m->age_top, m->rc_age, fa, &m->rc_age_cap);
  m->NRD = make_classes(m, v, nv, 1, m->tis_top, m->rc_tis, fd, &m->rc_tis_cap);
  if (!m->NRA || !m->NRD || S * m->NRA * m->NRD > (1u << 20)) {
    st = fl_c_bad(c, first->node, first->key,
                  "the costs and QoL weights by age and time in state need more than 2^20 "
                  "classes of state, age and time in state; use fewer distinct values");
    goto done;
  }
  m->NRC = S * m->NRA * m->NRD;
  m->rc_cost = fl_calloc(m->NRC * (B ? B : 1), sizeof *m->rc_cost);
  m->rc_qol = fl_calloc(m->NRC, sizeof *m->rc_qol);
  m->rc_names = fl_calloc(m->NRC, sizeof *m->rc_names);
  if (!m->rc_cost || !m->rc_qol || !m->rc_names) {
    st = fl_c_oom(c);
    goto done;
  }
  for (size_t k = 0; k < m->NRC; k++) {
    const size_t s = k / (m->NRA * m->NRD), ka = k / m->NRD % m->NRA, kd = k % m->NRD;
    for (size_t b = 0; b < B; b++) {
      const rvec *w = &v[s * (B + 1) + b];
      m->rc_cost[k * B + b] = !w->n ? m->cost[s * B + b]
                                    : value_at(w, w->tis ? fd[kd] : fa[ka]) * m->cost_factor;
    }
    const rvec *w = &v[s * (B + 1) + B];
    m->rc_qol[k] = !w->n ? m->qol[s] : value_at(w, w->tis ? fd[kd] : fa[ka]);
    char name[256], a[32], d[32];
    size_t len = (size_t)snprintf(name, sizeof name, "%s", m->state_names[s]);
    span_label(a, sizeof a, fa, ka, m->NRA);
    span_label(d, sizeof d, fd, kd, m->NRD);
    if (m->NRA > 1 && len < sizeof name)
      len += (size_t)snprintf(name + len, sizeof name - len, ", age %s", a);
    if (m->NRD > 1 && len < sizeof name)
      snprintf(name + len, sizeof name - len, ", %s years in state", d);
    if (!(m->rc_names[k] = fl_strdup(name))) {
      st = fl_c_oom(c);
      goto done;
    }
  }
done:
  free(fa);
  free(fd);
  return st;
}

fl_status fl_compile_rewards(compiler *c) {
  fl_model *m = c->m;
  const fl_node *states = fl_map_get(c->sc->root, "states");
  const size_t S = m->S, B = m->B;
  static const char *const cost_keys[2] = {"cost_by_age", "cost_by_time_in_state"};
  static const char *const qol_keys[2] = {"qol_by_age", "qol_by_time_in_state"};
  /* v[s * (B + 1) + b]: state s's vector of holder b's cost, then of its QoL weight (n = 0:
   * none) */
  rvec *v = fl_calloc(S * (B + 1), sizeof *v);
  fl_status st = FL_OK;
  size_t any = 0;
  if (!v) return fl_c_oom(c);
  m->cost_vec = fl_calloc(S * (B ? B : 1), 1);
  m->qol_vec = fl_calloc(S, 1);
  if (!m->cost_vec || !m->qol_vec) {
    st = fl_c_oom(c);
    goto done;
  }
  for (size_t s = 0; s < S && st == FL_OK; s++) {
    const fl_node *def = fl_map_val(states, s), *cost = fl_map_get(def, "cost");
    const char *sn = m->state_names[s];
    char key[160], pattern[96];
    for (int k = 0; k < 2 && st == FL_OK; k++) {
      const fl_node *map = fl_map_get(def, cost_keys[k]);
      for (size_t i = 0; map && i < map->n && st == FL_OK; i++) {
        const fl_node *hn = fl_map_key(map, i);
        const long h = fl_c_find(m->holder_names, B, hn->value);
        snprintf(key, sizeof key, "states.%s.%s.%s", sn, cost_keys[k], hn->value);
        if (h < 0) {
          st = fl_c_unknown(c, hn, key, hn->value, m->holder_names, B, "costs.budget_holders");
          break;
        }
        if (fl_map_get(cost, hn->value) || v[s * (B + 1) + (size_t)h].n) {
          st = fl_c_bad(c, hn, key,
                        "the cost of '%s' to '%s' is given twice: give it in one of cost, "
                        "cost_by_age and cost_by_time_in_state",
                        sn, hn->value);
          break;
        }
        snprintf(pattern, sizeof pattern, "states.*.%s.*", cost_keys[k]);
        if ((st = parse_vec(c, fl_map_val(map, i), key, pattern, k, 0,
                            &v[s * (B + 1) + (size_t)h])) == FL_OK &&
            (st = check_span(c, &v[s * (B + 1) + (size_t)h])) == FL_OK) {
          m->cost_vec[s * B + (size_t)h] = 1;
          m->cost[s * B + (size_t)h] = 0;
          any++;
        }
      }
    }
    for (int k = 0; k < 2 && st == FL_OK; k++) {
      const fl_node *vec = fl_map_get(def, qol_keys[k]);
      if (!vec) continue;
      snprintf(key, sizeof key, "states.%s.%s", sn, qol_keys[k]);
      if (fl_map_get(def, "qol") || v[s * (B + 1) + B].n) {
        st = fl_c_bad(c, vec, key,
                      "the QoL weight of '%s' is given twice: give one of qol, qol_by_age and "
                      "qol_by_time_in_state",
                      sn);
        break;
      }
      snprintf(pattern, sizeof pattern, "states.*.%s", qol_keys[k]);
      if ((st = parse_vec(c, vec, key, pattern, k, 1, &v[s * (B + 1) + B])) == FL_OK &&
          (st = check_span(c, &v[s * (B + 1) + B])) == FL_OK) {
        m->qol_vec[s] = 1;
        any++;
      }
    }
  }
  if (st != FL_OK || !any) goto done;
  /* (the first vector, for messages about all of them) */
  const rvec *first = v;
  while (!first->n) first++;
  st = build_classes(c, v, S * (B + 1), first);
done:
  for (size_t i = 0; i < S * (B + 1); i++) free(v[i].values);
  free(v);
  return st;
}

fl_status fl_check_rewards(compiler *c) {
  fl_model *m = c->m;
  const size_t S = m->S, B = m->B;
  if (!m->NRC) return FL_OK;
  for (size_t a = 1; a < m->n_arms; a++) {
    const fl_arm *arm = &m->arms[a];
    for (size_t b = 0; b < B; b++)
      for (size_t s = 0; s < S; s++) {
        if (!m->cost_vec[s * B + b]) continue;
        const fl_node *an = fl_map_get(fl_map_get(c->sc->root, "arms"), arm->name);
        char key[256];
        for (size_t i = 0; i < arm->n_int; i++)
          if (arm->ints[i].kind->cost) {
            snprintf(key, sizeof key, "arms.%s.interventions.%s", arm->name, arm->ints[i].name);
            return fl_c_bad(c, fl_map_get(fl_map_get(an, "interventions"), arm->ints[i].name), key,
                            "an intervention of kind %s costs the children it reaches by state, "
                            "and the cost of '%s' to '%s' varies by age or time in state",
                            arm->ints[i].kind->name, m->state_names[s], m->holder_names[b]);
          }
        if (arm->reinvest.on && arm->reinvest.from[b]) {
          snprintf(key, sizeof key, "arms.%s.reinvest", arm->name);
          return fl_c_bad(c, fl_map_get(an, "reinvest"), key,
                          "reinvestment counts the savings by state, and the cost of '%s' to "
                          "'%s' varies by age or time in state",
                          m->state_names[s], m->holder_names[b]);
        }
      }
  }
  return FL_OK;
}
