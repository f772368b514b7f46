/* Compiling arms: interventions, reinvestment, one-off transition costs, reward timing and
 * willingness-to-pay values; then the transition tables of every arm, the baseline included.
 * An arm's table for a step applies each intervention at its strength that step to the
 * baseline's step probabilities; steps with the same period and strengths share a table. */
#include "model/compile.h"
#include "model/intervention.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IV "arms.*.interventions.*."

size_t fl_arms_count_interventions(const fl_scenario *sc) {
  const fl_node *arms = fl_map_get(sc->root, "arms");
  size_t n = 0;
  for (size_t a = 0; arms && a < arms->n; a++) {
    const fl_node *ivs = fl_map_get(fl_map_val(arms, a), "interventions");
    n += ivs ? ivs->n : 0;
  }
  return n;
}

fl_status fl_arms_age_edges(compiler *c, void (*add)(uint32_t *edges, size_t *n, uint32_t v),
                            uint32_t *edges, size_t *n) {
  const fl_node *arms = fl_map_get(c->sc->root, "arms");
  for (size_t a = 0; arms && a < arms->n; a++) {
    const fl_node *ivs = fl_map_get(fl_map_val(arms, a), "interventions");
    for (size_t i = 0; ivs && i < ivs->n; i++) {
      char prefix[256];
      uint32_t lo, hi;
      fl_status st;
      if (!fl_map_get(fl_map_val(ivs, i), "age_years")) continue;
      snprintf(prefix, sizeof prefix, "arms.%s.interventions.%s", fl_map_key(arms, a)->value,
               fl_map_key(ivs, i)->value);
      if ((st = fl_c_range(c, fl_map_val(ivs, i), IV "age_years", prefix, 12.0, &lo, &hi)) !=
          FL_OK)
        return st;
      add(edges, n, lo);
      if (hi != UINT32_MAX) add(edges, n, hi);
    }
  }
  return FL_OK;
}

/* Marks in mask[S] the states named by name: a state, or every state of a level. */
static int state_or_level(const fl_model *m, const char *name, uint8_t *mask) {
  long s = fl_c_find(m->state_names, m->S, name), l = fl_c_find(m->level_names, m->L, name);
  if (s >= 0) mask[s] = 1;
  for (size_t j = 0; l >= 0 && j < m->S; j++)
    if (m->state_level[j] == (size_t)l) mask[j] = 1;
  return s >= 0 || l >= 0;
}

/* Adds the one-off costs and QALY changes of the moves in list (transition_costs, or an arm's:
 * key path prefix) to cost[S * S * B] and qaly[S * S], marking in cost_given and qaly_given
 * (where not NULL) the values an entry gives. */
static fl_status add_transition_costs(compiler *c, const fl_node *list, const char *prefix,
                                      double *cost_out, double *qaly_out, uint8_t *cost_given,
                                      uint8_t *qaly_given) {
  fl_model *m = c->m;
  const size_t S = m->S, B = m->B;
  for (size_t i = 0; list && i < list->n; i++) {
    const fl_node *tc = list->items[i], *cost = fl_map_get(tc, "cost");
    uint8_t from[FL_MAX_STATES] = {0}, to[FL_MAX_STATES] = {0};
    char key[512];
    static const char *const ends[2] = {"from", "to"};
    for (int k = 0; k < 2; k++) {
      const fl_node *n = fl_map_get(tc, ends[k]);
      snprintf(key, sizeof key, "%s[%zu].%s", prefix, i, ends[k]);
      if (!state_or_level(m, n->value, k ? to : from)) {
        char *names[FL_MAX_STATES + FL_MAX_LEVELS];
        const char *near;
        for (size_t j = 0; j < S; j++) names[j] = m->state_names[j];
        for (size_t j = 0; j < m->L; j++) names[S + j] = m->level_names[j];
        if ((near = fl_closest(n->value, names, S + m->L)))
          return fl_c_bad(c, n, key, "'%s' is neither a state nor a level; did you mean '%s'?",
                          n->value, near);
        return fl_c_bad(c, n, key, "'%s' is neither a state nor a level", n->value);
      }
    }
    const double qaly = fl_get_num(tc, "transition_costs[].qaly");
    for (size_t h = 0; cost && h < cost->n; h++) {
      const fl_node *hn = fl_map_key(cost, h);
      if (fl_c_find(m->holder_names, B, hn->value) < 0) {
        snprintf(key, sizeof key, "%s[%zu].cost.%s", prefix, i, hn->value);
        return fl_c_unknown(c, hn, key, hn->value, m->holder_names, m->B,
                            "costs.budget_holders");
      }
    }
    for (size_t s = 0; s < S; s++)
      for (size_t d = 0; d < S; d++) {
        if (!from[s] || !to[d] || s == d) continue;
        if (!qaly_given || fl_map_get(tc, "qaly")) {
          qaly_out[s * S + d] += qaly;
          if (qaly_given) qaly_given[s * S + d] = 1;
        }
        for (size_t h = 0; cost && h < cost->n; h++) {
          const size_t b = (size_t)fl_c_find(m->holder_names, B, fl_map_key(cost, h)->value);
          cost_out[(s * S + d) * B + b] += fl_scalar_num(fl_map_val(cost, h));
          if (cost_given) cost_given[(s * S + d) * B + b] = 1;
        }
      }
  }
  return FL_OK;
}

static fl_status compile_transition_costs(compiler *c) {
  fl_model *m = c->m;
  const size_t S = m->S, B = m->B;
  m->trans_cost = fl_calloc(S * S * (B ? B : 1), sizeof *m->trans_cost);
  m->trans_qaly = fl_calloc(S * S, sizeof *m->trans_qaly);
  if (!m->trans_cost || !m->trans_qaly) return fl_c_oom(c);
  return add_transition_costs(c, fl_map_get(c->sc->root, "transition_costs"), "transition_costs",
                              m->trans_cost, m->trans_qaly, NULL, NULL);
}

/* What an arm changes in the scenario's state costs and QoL weights (arms.NAME.states) and in
 * the one-off costs of moves (arms.NAME.transition_costs). */
static fl_status compile_arm_rewards(compiler *c, const char *arm_name, const fl_node *def,
                                     fl_arm *arm) {
  fl_model *m = c->m;
  const size_t S = m->S, B = m->B;
  const fl_node *states = fl_map_get(def, "states"), *moves = fl_map_get(def, "transition_costs");
  char key[256];
  if (states) {
    arm->cost = fl_malloc_array(S * (B ? B : 1), sizeof *arm->cost);
    arm->qol = fl_malloc_array(S, sizeof *arm->qol);
    if (!arm->cost || !arm->qol) return fl_c_oom(c);
    for (size_t i = 0; i < S * (B ? B : 1); i++) arm->cost[i] = NAN; /* the scenario's */
    for (size_t s = 0; s < S; s++) arm->qol[s] = NAN;
  }
  for (size_t k = 0; states && k < states->n; k++) {
    const fl_node *sn = fl_map_key(states, k), *sd = fl_map_val(states, k);
    const fl_node *cost = fl_map_get(sd, "cost"), *qol = fl_map_get(sd, "qol");
    const long s = fl_c_find(m->state_names, S, sn->value);
    snprintf(key, sizeof key, "arms.%s.states.%s", arm_name, sn->value);
    if (s < 0) return fl_c_unknown(c, sn, key, sn->value, m->state_names, S, "the states");
    if (qol) arm->qol[s] = fl_scalar_num(qol);
    for (size_t i = 0; cost && i < cost->n; i++) {
      const fl_node *hn = fl_map_key(cost, i);
      const long h = fl_c_find(m->holder_names, B, hn->value);
      snprintf(key, sizeof key, "arms.%s.states.%s.cost.%s", arm_name, sn->value, hn->value);
      if (h < 0 && !B)
        return fl_c_bad(c, hn, key,
                        "'%s' is not one of costs.budget_holders (the scenario has no costs "
                        "section)",
                        hn->value);
      if (h < 0)
        return fl_c_unknown(c, hn, key, hn->value, m->holder_names, B, "costs.budget_holders");
      /* (as compile_states scales the scenario's) */
      arm->cost[(size_t)s * B + (size_t)h] =
          fl_scalar_num(fl_map_val(cost, i)) * m->step_months / c->cost_per;
    }
  }
  if (moves) {
    const size_t nc = S * S * (B ? B : 1);
    double *cost = fl_calloc(nc, sizeof *cost), *qaly = fl_calloc(S * S, sizeof *qaly);
    uint8_t *cost_given = fl_calloc(nc, 1), *qaly_given = fl_calloc(S * S, 1);
    arm->trans_cost = fl_malloc_array(nc, sizeof *arm->trans_cost);
    arm->trans_qaly = fl_malloc_array(S * S, sizeof *arm->trans_qaly);
    fl_status st = FL_OK;
    snprintf(key, sizeof key, "arms.%s.transition_costs", arm_name);
    if (!cost || !qaly || !cost_given || !qaly_given || !arm->trans_cost || !arm->trans_qaly)
      st = fl_c_oom(c);
    else
      st = add_transition_costs(c, moves, key, cost, qaly, cost_given, qaly_given);
    for (size_t i = 0; st == FL_OK && i < nc; i++)
      arm->trans_cost[i] = cost_given[i] ? cost[i] : m->trans_cost[i];
    for (size_t i = 0; st == FL_OK && i < S * S; i++)
      arm->trans_qaly[i] = qaly_given[i] ? qaly[i] : m->trans_qaly[i];
    free(cost);
    free(qaly);
    free(cost_given);
    free(qaly_given);
    if (st != FL_OK) return st;
  }
  return FL_OK;
}

/* rewards.points and its weights: m->point_w[u] for the time points u = 0..T (see
 * rewards.points in engine/scenario/schema.c). */
static fl_status compile_points(compiler *c, const fl_node *rw) {
  fl_model *m = c->m;
  const size_t T = m->T;
  const char *points = fl_get_str(rw, "rewards.points");
  const fl_node *pn = fl_map_get(rw, "points"), *tn = fl_map_get(rw, "timing");
  const fl_node *named = fl_map_get(rw, "weights"), *rule = fl_map_get(rw, "weight_rule");
  const fl_node *list = fl_map_get(rw, "weight_list");
  const fl_node *given[3] = {named, rule, list};
  static const char *const keys[3] = {"rewards.weights", "rewards.weight_rule",
                                      "rewards.weight_list"};
  for (int k = 0; k < 3; k++) {
    if (!given[k]) continue;
    if (!pn)
      return fl_c_bad(c, given[k], keys[k],
                      "weights need rewards.points, the time points they weigh (0..T, 1..T or "
                      "0..T-1)");
    for (int j = k + 1; j < 3; j++)
      if (given[j])
        return fl_c_bad(c, given[j], keys[j],
                        "give one of rewards.weights, weight_rule and "
                        "weight_list, not both %s and %s",
                        keys[k] + 8, keys[j] + 8);
  }
  if (tn)
    return fl_c_bad(c, tn, "rewards.timing",
                    "give rewards.timing or rewards.points, not both: points with weights "
                    "replace the timing");
  const size_t first = !strcmp(points, "1..T") ? 1 : 0,
               last = !strcmp(points, "0..T-1") ? T - 1 : T;
  const size_t n = last - first; /* the counted points are p_0..p_n */
  m->points_end = first == 1;
  m->points_lo = first;
  m->points_hi = last;
  if (!(m->point_w = fl_calloc(T + 1, sizeof *m->point_w))) return fl_c_oom(c);
  double *w = m->point_w + first;
  if (list) {
    if (list->n != n + 1)
      return fl_c_bad(c, list, "rewards.weight_list",
                      "rewards.points %s counts %zu time points over %zu steps, but the list "
                      "gives %zu weights",
                      points, n + 1, T, list->n);
    for (size_t k = 0; k <= n; k++) w[k] = fl_scalar_num(list->items[k]);
  } else if (rule) {
    const fl_node *rep = fl_map_get(rule, "repeat");
    const double div = fl_get_num(rule, "rewards.weight_rule.divisor");
    for (size_t k = 1; k < n; k++) w[k] = fl_scalar_num(rep->items[(k - 1) % rep->n]) / div;
    w[n] = fl_get_num(rule, "rewards.weight_rule.last") / div;
    w[0] = fl_get_num(rule, "rewards.weight_rule.first") / div;
  } else {
    const char *name = named ? named->value : "ones";
    for (size_t k = 0; k <= n; k++) w[k] = 1;
    if (!strcmp(name, "trapezoid") && n > 0) w[0] = w[n] = 0.5;
    if (!strcmp(name, "simpson")) {
      if (n % 2)
        return fl_c_bad(c, named, "rewards.weights",
                        "Simpson's 1/3 rule needs an even number of intervals, and rewards.points "
                        "%s over %zu steps counts %zu points (%zu intervals); use simpson_2_4, a "
                        "weight_rule or a weight_list",
                        points, T, n + 1, n);
      for (size_t k = 0; k <= n; k++) w[k] = (k == 0 || k == n ? 1.0 : k % 2 ? 4.0 : 2.0) / 3;
    }
    if (!strcmp(name, "simpson_2_4"))
      for (size_t k = 0; k <= n; k++) w[k] = (k == 0 || k == n ? 1.0 : k % 2 ? 2.0 : 4.0) / 3;
  }
  m->reward_timing = FL_TIMING_POINTS;
  return FL_OK;
}

static fl_status compile_economics(compiler *c) {
  fl_model *m = c->m;
  const fl_node *rw = fl_map_get(c->sc->root, "rewards");
  const char *timing = fl_get_str(rw, "rewards.timing");
  const fl_node *wtp = fl_map_get(fl_map_get(c->sc->root, "economics"), "willingness_to_pay");
  static const double def_wtp[] = {0, 10000, 20000, 30000, 50000};
  m->reward_timing = !strcmp(timing, "end")          ? FL_TIMING_END
                     : !strcmp(timing, "half_cycle") ? FL_TIMING_HALF_CYCLE
                     : !strcmp(timing, "simpson")    ? FL_TIMING_SIMPSON
                                                     : FL_TIMING_START;
  fl_status st;
  if ((fl_map_get(rw, "points") || fl_map_get(rw, "weights") || fl_map_get(rw, "weight_rule") ||
       fl_map_get(rw, "weight_list")) &&
      (st = compile_points(c, rw)) != FL_OK)
    return st;
  m->n_wtp = wtp ? wtp->n : sizeof def_wtp / sizeof def_wtp[0];
  if (!(m->wtp = fl_calloc(m->n_wtp, sizeof *m->wtp))) return fl_c_oom(c);
  for (size_t k = 0; k < m->n_wtp; k++)
    m->wtp[k] = wtp ? fl_scalar_num(wtp->items[k]) : def_wtp[k];
  return FL_OK;
}

static fl_status compile_reinvest(compiler *c, const char *arm_name, const fl_node *def,
                                  fl_arm *arm, const fl_node *ivs) {
  fl_model *m = c->m;
  const fl_node *from = fl_map_get(def, "from"), *into = fl_map_get(def, "into");
  char key[256];
  long i = -1;
  uint32_t delay;
  fl_status st;
  fl_reinvest *rv = &arm->reinvest;
  rv->on = 1;
  rv->fraction = fl_get_num(def, "arms.*.reinvest.fraction");
  if (!(rv->from = calloc(m->B ? m->B : 1, 1))) return fl_c_oom(c);
  for (size_t k = 0; k < from->n; k++) {
    long b = fl_c_find(m->holder_names, m->B, from->items[k]->value);
    snprintf(key, sizeof key, "arms.%s.reinvest.from", arm_name);
    if (b < 0)
      return fl_c_unknown(c, from->items[k], key, from->items[k]->value, m->holder_names, m->B,
                          "costs.budget_holders");
    rv->from[b] = 1;
  }
  for (size_t k = 0; ivs && k < ivs->n; k++)
    if (!strcmp(fl_map_key(ivs, k)->value, into->value)) i = (long)k;
  snprintf(key, sizeof key, "arms.%s.reinvest.into", arm_name);
  if (i < 0) {
    char *iv_names[64];
    size_t n_iv = 0;
    for (; n_iv < arm->n_int && n_iv < 64; n_iv++) iv_names[n_iv] = arm->ints[n_iv].name;
    return fl_c_unknown(c, into, key, into->value, iv_names, n_iv, "the arm's interventions");
  }
  if (!(arm->ints[i].half_sat > 0))
    return fl_c_bad(c, into, key, "reinvested spend changes nothing without a dose-response: "
                                  "give the intervention '%s' a half_saturation",
                    into->value);
  if (!arm->ints[i].kind->row)
    return fl_c_bad(c, into, key, "reinvested spend buys a stronger effect on transitions; "
                                  "'%s' is of kind %s, which has none",
                    into->value, arm->ints[i].kind->name);
  rv->into = (size_t)i;
  snprintf(key, sizeof key, "arms.%s.reinvest.delay_months", arm_name);
  if ((st = fl_c_steps(c, fl_map_get(def, "delay_months") ? fl_map_get(def, "delay_months") : def,
                       key, fl_get_num(def, "arms.*.reinvest.delay_months"), &delay)) != FL_OK)
    return st;
  rv->delay = delay;
  return FL_OK;
}

/* Reports the row that an arm's interventions made invalid. */
static fl_status bad_row(compiler *c, const fl_node *at, const char *key, size_t row,
                         const char *why) {
  const fl_model *m = c->m;
  const size_t cell = row / m->S, s = row % m->S;
  const size_t loc = cell / (m->NA * m->ND), ab = (cell / m->ND) % m->NA;
  return fl_c_bad(c, at, key,
                  "%s the row of state '%s' (ages from %g years, locality %s) invalid: the "
                  "probability of staying would fall below 0; use smaller multipliers",
                  why, m->state_names[s], m->age_edges[ab] * m->step_months / 12.0,
                  m->loc_names[loc]);
}

/* The tables of arm a: one per distinct (period, strengths) over the steps. */
static fl_status build_tables(compiler *c, fl_arm *arm, const fl_node *at, const char *key) {
  fl_model *m = c->m;
  const size_t T = m->T, ni = arm->n_int, rpp = m->rows_per_period;
  uint32_t *first_step = calloc(T, sizeof *first_step); /* the step that defined each table */
  size_t n_moves = 0, bad;
  arm->step_table = calloc(T, sizeof *arm->step_table);
  arm->strength = fl_calloc(T * (ni ? ni : 1), sizeof *arm->strength);
  if (!first_step || !arm->step_table || !arm->strength) {
    free(first_step);
    return fl_c_oom(c);
  }
  arm->n_tables = 0;
  for (size_t t = 0; t < T; t++) {
    double *e = arm->strength + t * ni;
    size_t k;
    for (size_t i = 0; i < ni; i++) /* time profile x dose at the intervention's spend */
      e[i] = fl_intervention_profile(m, &arm->ints[i], t) *
             fl_intervention_dose(&arm->ints[i], arm->ints[i].spend);
    for (k = 0; k < arm->n_tables; k++) {
      const size_t u = first_step[k];
      if (m->period_of_step[u] == m->period_of_step[t] &&
          !memcmp(arm->strength + u * ni, e, ni * sizeof *e))
        break;
    }
    if (k == arm->n_tables) first_step[arm->n_tables++] = (uint32_t)t;
    arm->step_table[t] = (uint32_t)k;
  }
  arm->n_rows = arm->n_tables * rpp;
  arm->rows = fl_calloc(arm->n_rows, sizeof *arm->rows);
  arm->stay32 = fl_calloc(arm->n_rows, sizeof *arm->stay32);
  arm->move_cum = fl_calloc(arm->n_rows * (m->S + 1), sizeof *arm->move_cum);
  arm->move_dest = fl_calloc(arm->n_rows * (m->S + 1), 1);
  if (!arm->rows || !arm->stay32 || !arm->move_cum || !arm->move_dest) {
    free(first_step);
    return fl_c_oom(c);
  }
  for (size_t k = 0; k < arm->n_tables; k++) {
    const size_t u = first_step[k];
    if (fl_table_build(m, arm->base_p, arm, m->period_of_step[u], arm->strength + u * ni,
                       arm->rows + k * rpp,
                       arm->stay32 + k * rpp, arm->move_cum, arm->move_dest, &n_moves,
                       &bad) != 0) {
      free(first_step);
      return bad_row(c, at, key, bad, "the interventions make");
    }
  }
  arm->n_moves = n_moves;
  free(first_step);
  /* With reinvestment the dose can grow without bound, to 1 / h(reference spend) at most:
   * every table must stay valid there too. */
  if (arm->reinvest.on) {
    const fl_intervention *iv = &arm->ints[arm->reinvest.into];
    const double top = (iv->ref_spend + iv->half_sat) / iv->ref_spend;
    double *e = fl_calloc(ni, sizeof *e);
    fl_row *rows = fl_calloc(rpp, sizeof *rows);
    uint32_t *s32 = fl_calloc(rpp, sizeof *s32);
    uint64_t *mc = fl_calloc(rpp * (m->S + 1), sizeof *mc);
    uint8_t *md = fl_calloc(rpp * (m->S + 1), 1);
    fl_status st = FL_OK;
    if (!e || !rows || !s32 || !mc || !md) st = fl_c_oom(c);
    for (size_t t = 0; st == FL_OK && t < T; t++) {
      size_t nm = 0;
      memcpy(e, arm->strength + t * ni, ni * sizeof *e);
      e[arm->reinvest.into] = fl_intervention_profile(m, iv, t) * top;
      if (fl_table_build(m, arm->base_p, arm, m->period_of_step[t], e, rows, s32, mc, md, &nm,
                         &bad) != 0)
        st = bad_row(c, at, key, bad, "at the largest reinvested spend the interventions make");
    }
    free(e);
    free(rows);
    free(s32);
    free(mc);
    free(md);
    return st;
  }
  return FL_OK;
}

/* The uncertainty section: each entry's key resolved to a parameter, its moments checked. */
static fl_status compile_uncertainty(compiler *c) {
  fl_model *m = c->m;
  const fl_node *list = fl_map_get(c->sc->root, "uncertainty");
  if (!list) return FL_OK;
  m->n_unc = list->n;
  if (!(m->unc = fl_calloc(m->n_unc, sizeof *m->unc))) return fl_c_oom(c);
  for (size_t k = 0; k < list->n; k++) {
    const fl_node *e = list->items[k], *kn = fl_map_get(e, "key");
    fl_uncertain *u = &m->unc[k];
    const char *dist = fl_get_str(e, "uncertainty[].distribution");
    char a[64] = "", b[64] = "", d[64] = "", f[64] = "", key[96], extra;
    double value = NAN;
    snprintf(key, sizeof key, "uncertainty[%zu].key", k);
    if (!(u->key = fl_strdup(kn->value))) return fl_c_oom(c);
    u->dist = !strcmp(dist, "gamma") ? FL_DIST_GAMMA : !strcmp(dist, "beta") ? FL_DIST_BETA
              : !strcmp(dist, "lognormal") ? FL_DIST_LOGNORMAL : FL_DIST_FIXED;
    if (sscanf(kn->value, "states.%63[^.].cost.%63[^.]%c", a, b, &extra) == 2) {
      long s = fl_c_find(m->state_names, m->S, a), h = fl_c_find(m->holder_names, m->B, b);
      if (s < 0 || h < 0)
        return fl_c_bad(c, kn, key, "'%s' names no state or budget holder of this scenario",
                        kn->value);
      u->target = FL_TGT_COST;
      u->i = (size_t)s;
      u->j = (size_t)h;
      value = m->cost_vec[u->i * m->B + u->j] ? NAN : m->cost[u->i * m->B + u->j] / m->cost_factor;
    } else if (sscanf(kn->value, "states.%63[^.].qo%1[l]%c", a, b, &extra) == 2) {
      long s = fl_c_find(m->state_names, m->S, a);
      if (s < 0) return fl_c_bad(c, kn, key, "'%s' names no state of this scenario", kn->value);
      u->target = FL_TGT_QOL;
      u->i = (size_t)s;
      value = m->qol_vec[s] ? NAN : m->qol[s];
    } else if (sscanf(kn->value, "arms.%63[^.].interventions.%63[^.].%63[^.]%c", a, d, f,
                      &extra) == 3) {
      long arm = -1, iv = -1, par = -1;
      for (size_t x = 1; x < m->n_arms; x++)
        if (!strcmp(m->arms[x].name, a)) arm = (long)x;
      for (size_t x = 0; arm > 0 && x < m->arms[arm].n_int; x++)
        if (!strcmp(m->arms[arm].ints[x].name, d)) iv = (long)x;
      if (iv < 0)
        return fl_c_bad(c, kn, key, "'%s' names no intervention of this scenario", kn->value);
      const fl_intervention *in = &m->arms[arm].ints[iv];
      for (size_t x = 0; in->kind->params[x]; x++)
        if (!strcmp(in->kind->params[x], f)) par = (long)x;
      if (par < 0)
        return fl_c_bad(c, kn, key, "'%s' is not a parameter of interventions of kind %s that "
                        "can be drawn", f, in->kind->name);
      u->target = FL_TGT_INTERVENTION;
      u->i = (size_t)arm;
      u->j = (size_t)iv;
      u->k = (size_t)par;
      value = in->param[par];
    } else {
      return fl_c_bad(c, kn, key, "'%s' is not a parameter that can be drawn: expected "
                      "states.S.cost.H, states.S.qol or arms.A.interventions.I.P (P a parameter "
                      "of the intervention's kind, such as escalation)", kn->value);
    }
    u->mean = fl_map_get(e, "mean") ? fl_get_num(e, "uncertainty[].mean") : value;
    u->sd = fl_get_num(e, "uncertainty[].sd");
    snprintf(key, sizeof key, "uncertainty[%zu]", k);
    /* A reward that varies by age or time in state: the draw scales its values by draw / mean
     * (the mean, which has no default, is kept as the reward's by-state value). */
    if (isnan(value) && !fl_map_get(e, "mean"))
      return fl_c_bad(c, e, key, "'%s' varies by age or time in state: give the mean (a draw "
                      "scales its values by draw / mean)", kn->value);
    if (isnan(value) && !(u->mean > 0))
      return fl_c_bad(c, e, key, "'%s' varies by age or time in state: its mean must be above 0",
                      kn->value);
    if (isnan(value) && u->target == FL_TGT_COST) m->cost[u->i * m->B + u->j] = u->mean * m->cost_factor;
    if (isnan(value) && u->target == FL_TGT_QOL) m->qol[u->i] = u->mean;
    if (u->dist == FL_DIST_BETA && !(u->mean > 0 && u->mean < 1 && u->sd * u->sd < u->mean * (1 - u->mean)))
      return fl_c_bad(c, e, key, "a beta distribution needs a mean strictly between 0 and 1 "
                      "and sd^2 below mean (1 - mean)");
    if ((u->dist == FL_DIST_GAMMA || u->dist == FL_DIST_LOGNORMAL) && !(u->mean > 0))
      return fl_c_bad(c, e, key, "a %s distribution needs a mean above 0", dist);
    if (u->dist != FL_DIST_FIXED && !(u->sd > 0))
      return fl_c_bad(c, e, key, "give the sd of the %s distribution (above 0)", dist);
  }
  return FL_OK;
}

fl_status fl_compile_arms(compiler *c) {
  fl_model *m = c->m;
  const fl_node *arms = fl_map_get(c->sc->root, "arms");
  fl_status st;
  if ((st = compile_transition_costs(c)) != FL_OK) return st;
  if ((st = compile_economics(c)) != FL_OK) return st;
  m->n_arms = 1 + (arms ? arms->n : 0);
  if (!(m->arms[0].name = fl_strdup("baseline"))) return fl_c_oom(c);
  if ((st = build_tables(c, &m->arms[0], fl_map_get(c->sc->root, "transitions"),
                         "transitions")) != FL_OK)
    return st;
  for (size_t a = 1; a < m->n_arms; a++) {
    const fl_node *name = fl_map_key(arms, a - 1), *def = fl_map_val(arms, a - 1);
    const fl_node *ivs = fl_map_get(def, "interventions"), *rv = fl_map_get(def, "reinvest");
    fl_arm *arm = &m->arms[a];
    char key[256];
    snprintf(key, sizeof key, "arms.%s", name->value);
    if (!strcmp(name->value, "baseline"))
      return fl_c_bad(c, name, key, "'baseline' is the scenario as written; give this arm "
                                    "another name");
    if (!(arm->name = fl_strdup(name->value))) return fl_c_oom(c);
    arm->n_int = ivs ? ivs->n : 0;
    if (!(arm->ints = fl_calloc(arm->n_int, sizeof *arm->ints))) return fl_c_oom(c);
    for (size_t i = 0; i < arm->n_int; i++)
      if ((st = fl_intervention_compile(c, name->value, fl_map_key(ivs, i), fl_map_val(ivs, i),
                                        &arm->ints[i])) != FL_OK)
        return st;
    if (rv && (st = compile_reinvest(c, name->value, rv, arm, ivs)) != FL_OK) return st;
    if ((st = compile_arm_rewards(c, name->value, def, arm)) != FL_OK) return st;
    if (fl_map_get(def, "transitions") &&
        (st = fl_compile_arm_transitions(c, name->value, fl_map_get(def, "transitions"),
                                         &arm->base_p)) != FL_OK)
      return st;
    snprintf(key, sizeof key, "arms.%s%s", name->value, ivs ? ".interventions" : "");
    if ((st = build_tables(c, arm, ivs ? ivs : def, key)) != FL_OK) return st;
  }
  return compile_uncertainty(c);
}
