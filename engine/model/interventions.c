/* Interventions: the keys every kind shares, the table of effect kinds, time profiles and
 * dose-response, and the per-step bookkeeping that the simulation and expectation mode share
 * (see intervention.h). */
#include "model/intervention.h"

#include "model/compile.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IV "arms.*.interventions.*."

extern const fl_effect_kind fl_kind_transition, fl_kind_state_cost;

const fl_effect_kind *const fl_effect_kinds[] = {&fl_kind_transition, &fl_kind_state_cost};
const size_t fl_n_effect_kinds = sizeof fl_effect_kinds / sizeof fl_effect_kinds[0];

const fl_effect_kind *fl_effect_kind_find(const char *name) {
  for (size_t k = 0; k < fl_n_effect_kinds; k++)
    if (!strcmp(fl_effect_kinds[k]->name, name)) return fl_effect_kinds[k];
  return NULL;
}

/* An error for a key of another kind on an intervention of kind `kind` (none: FL_OK). */
static fl_status foreign_keys(compiler *c, const fl_node *def, const char *prefix,
                              const fl_effect_kind *kind) {
  for (size_t i = 0; i < def->n; i++) {
    const fl_node *kn = fl_map_key(def, i);
    for (size_t k = 0; k < fl_n_effect_kinds; k++) {
      const fl_effect_kind *other = fl_effect_kinds[k];
      if (other == kind) continue;
      int mine = 0, theirs = 0;
      for (const char *const *p = kind->keys; *p; p++) mine |= !strcmp(*p, kn->value);
      for (const char *const *p = other->keys; *p; p++) theirs |= !strcmp(*p, kn->value);
      if (theirs && !mine) {
        char key[384];
        snprintf(key, sizeof key, "%s.%s", prefix, kn->value);
        return fl_c_bad(c, kn, key,
                        "%s is a key of interventions of kind %s; this one is of kind %s",
                        kn->value, other->name, kind->name);
      }
    }
  }
  return FL_OK;
}

/* Whom it reaches: levels and states (either), localities and ages. */
static fl_status compile_targeting(compiler *c, const fl_node *def, const char *prefix,
                                   fl_intervention *iv) {
  fl_model *m = c->m;
  const size_t S = m->S;
  const fl_node *levels = fl_map_get(def, "levels"), *states = fl_map_get(def, "states");
  const fl_node *locs = fl_map_get(def, "localities");
  char key[384];
  for (size_t k = 0; levels && k < levels->n; k++) {
    long l = fl_c_find(m->level_names, m->L, levels->items[k]->value);
    snprintf(key, sizeof key, "%s.levels", prefix);
    if (l < 0)
      return fl_c_unknown(c, levels->items[k], key, levels->items[k]->value, m->level_names, m->L,
                          "the levels");
    for (size_t s = 0; s < S; s++) iv->state_on[s] |= m->state_level[s] == (size_t)l;
  }
  for (size_t k = 0; states && k < states->n; k++) {
    long s = fl_c_find(m->state_names, S, states->items[k]->value);
    snprintf(key, sizeof key, "%s.states", prefix);
    if (s < 0)
      return fl_c_unknown(c, states->items[k], key, states->items[k]->value, m->state_names, m->S,
                          "the states");
    iv->state_on[s] = 1;
  }
  if (!levels && !states) memset(iv->state_on, 1, S);
  for (size_t k = 0; locs && k < locs->n; k++) {
    long l = fl_c_find(m->loc_names, m->NLOC, locs->items[k]->value);
    snprintf(key, sizeof key, "%s.localities", prefix);
    if (l < 0)
      return fl_c_unknown(c, locs->items[k], key, locs->items[k]->value, m->loc_names, m->NLOC,
                          "the localities");
    iv->loc_on[l] = 1;
  }
  if (!locs) memset(iv->loc_on, 1, m->NLOC);
  return fl_c_range(c, def, IV "age_years", prefix, 12.0, &iv->age_lo, &iv->age_hi);
}

/* What it costs to run: spend and its dose-response, set-up and per-child costs, and who pays. */
static fl_status compile_costs(compiler *c, const fl_node *def, const char *prefix,
                               fl_intervention *iv) {
  fl_model *m = c->m;
  char key[384];
  const fl_node *monthly = fl_map_get(def, "spend_per_month"),
                *yearly = fl_map_get(def, "spend_per_year");
  if (monthly && yearly) {
    snprintf(key, sizeof key, "%s.spend_per_year", prefix);
    return fl_c_bad(c, yearly, key,
                    "give the spend once: spend_per_month or spend_per_year, "
                    "not both");
  }
  iv->spend =
      yearly ? fl_get_num(def, IV "spend_per_year") / 12.0 : fl_get_num(def, IV "spend_per_month");
  const fl_node *ref = fl_map_get(def, "reference_spend_per_month");
  iv->ref_spend = ref ? fl_get_num(def, IV "reference_spend_per_month") : iv->spend;
  iv->half_sat = fl_get_num(def, IV "half_saturation");
  iv->setup_cost = fl_get_num(def, IV "setup_cost");
  iv->child_cost = fl_get_num(def, IV "cost_per_child_month");
  if (iv->half_sat > 0 && !(iv->ref_spend > 0)) {
    snprintf(key, sizeof key, "%s.%s", prefix,
             ref ? "reference_spend_per_month" : "spend_per_month");
    return fl_c_bad(c, ref ? ref : def, key,
                    "a dose-response (half_saturation) needs a %s above 0: the multipliers "
                    "apply in full at that spend",
                    ref ? "reference_spend_per_month" : "spend_per_month");
  }
  if (!(iv->half_sat > 0) && iv->ref_spend != iv->spend) {
    snprintf(key, sizeof key, "%s.reference_spend_per_month", prefix);
    return fl_c_bad(c, ref, key,
                    "differs from spend_per_month, but without a half_saturation the spend "
                    "does not change the effect: give a half_saturation (the dose-response) "
                    "or leave it out");
  }
  const fl_node *holder = fl_map_get(def, "budget_holder");
  if (holder) {
    long b = fl_c_find(m->holder_names, m->B, holder->value);
    snprintf(key, sizeof key, "%s.budget_holder", prefix);
    if (b < 0)
      return fl_c_unknown(c, holder, key, holder->value, m->holder_names, m->B,
                          "costs.budget_holders");
    iv->holder = (size_t)b;
  } else if (iv->spend > 0 || iv->setup_cost > 0 || iv->child_cost > 0) {
    snprintf(key, sizeof key, "%s.budget_holder", prefix);
    return fl_c_bad(c, def, key, "an intervention that costs something needs a budget_holder");
  }
  return FL_OK;
}

/* When it runs, [lo, hi) in months: months, or years (converted), or always. */
static fl_status compile_period(compiler *c, const fl_node *def, const char *prefix, double *lo,
                                double *hi) {
  const fl_node *years = fl_map_get(def, "years");
  if (years && fl_map_get(def, "months")) {
    char key[384];
    snprintf(key, sizeof key, "%s.years", prefix);
    return fl_c_bad(c, years, key, "give when it runs once: months or years, not both");
  }
  if (!years) {
    fl_get_range(def, IV "months", lo, hi);
    return FL_OK;
  }
  fl_get_range(def, IV "years", lo, hi);
  *lo *= 12.0;
  *hi *= 12.0; /* .inf stays .inf */
  return FL_OK;
}

fl_status fl_intervention_compile(compiler *c, const char *arm_name, const fl_node *name,
                                  const fl_node *def, fl_intervention *iv) {
  fl_model *m = c->m;
  char prefix[256];
  double lo = 0, hi = HUGE_VAL;
  fl_status st;
  snprintf(prefix, sizeof prefix, "arms.%s.interventions.%s", arm_name, name->value);
  iv->kind = fl_effect_kind_find(fl_get_str(def, IV "kind"));
  if (!iv->kind) return fl_c_bad(c, def, prefix, "unknown kind"); /* (the schema checks it) */
  iv->name = fl_strdup(name->value);
  iv->state_on = calloc(m->S, 1);
  iv->loc_on = calloc(m->NLOC, 1);
  if (!iv->name || !iv->state_on || !iv->loc_on) return fl_c_oom(c);
  if ((st = compile_period(c, def, prefix, &lo, &hi)) != FL_OK) return st;
  iv->start = lo;
  iv->end = hi;
  const char *shape = fl_get_str(def, IV "ramp");
  iv->ramp = fl_get_num(def, IV "ramp_months");
  iv->decay = fl_get_num(def, IV "decay_months");
  iv->ramp_shape = !strcmp(shape, "logistic")      ? FL_SHAPE_LOGISTIC
                   : !strcmp(shape, "exponential") ? FL_SHAPE_EXPONENTIAL
                                                   : FL_SHAPE_LINEAR;
  if ((st = foreign_keys(c, def, prefix, iv->kind)) != FL_OK ||
      (st = compile_targeting(c, def, prefix, iv)) != FL_OK ||
      (st = iv->kind->compile(c, def, prefix, iv)) != FL_OK)
    return st;
  return compile_costs(c, def, prefix, iv);
}

void fl_intervention_free(fl_intervention *iv) {
  free(iv->name);
  free(iv->state_on);
  free(iv->loc_on);
  free(iv->table);
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

int fl_intervention_running(const fl_model *m, const fl_intervention *iv, size_t t) {
  const double t0 = (double)t * m->step_months;
  return t0 >= iv->start && t0 < iv->end;
}

int fl_arm_needs_state_reach(const fl_arm *arm) {
  for (size_t i = 0; i < arm->n_int; i++)
    if (arm->ints[i].kind->cost) return 1;
  return 0;
}

double fl_arm_spend(const fl_model *m, const fl_arm *arm, size_t i, size_t t,
                    const double *saving) {
  const fl_intervention *iv = &arm->ints[i];
  if (!fl_intervention_running(m, iv, t)) return 0;
  const fl_reinvest *rv = &arm->reinvest;
  if (!fl_arm_reinvests(arm) || i != rv->into) return iv->spend;
  double spend = iv->spend;
  if (t >= rv->delay && saving[t - rv->delay] > 0)
    spend += rv->fraction * saving[t - rv->delay] / m->step_months;
  return spend;
}

int fl_arm_step_open(const fl_model *m, const fl_arm *arm, size_t t, const double *occ,
                     const double *base_occ, const double *unit_cost, double *saving,
                     double *e) {
  const size_t ni = arm->n_int, S = m->S, B = m->B;
  for (size_t i = 0; i < ni; i++) e[i] = arm->strength[t * ni + i];
  if (!fl_arm_reinvests(arm)) return 0;
  const fl_reinvest *rv = &arm->reinvest;
  double sv = 0;
  for (size_t s = 0; s < S; s++)
    for (size_t b = 0; b < B; b++)
      if (rv->from[b]) {
        /* (the baseline's children at the scenario's costs, the arm's at its own) */
        const double cb = unit_cost[s * B + b], ca = fl_arm_cost(arm, unit_cost, s * B + b);
        sv += ca == cb ? (base_occ[s] - occ[s]) * cb : base_occ[s] * cb - occ[s] * ca;
      }
  saving[t] = sv;
  /* The funded intervention's strength at the spend the savings buy (also before it starts
   * and after it ends, where its profile decides). */
  const fl_intervention *iv = &arm->ints[rv->into];
  double spend = iv->spend;
  if (t >= rv->delay && saving[t - rv->delay] > 0)
    spend += rv->fraction * saving[t - rv->delay] / m->step_months;
  e[rv->into] = fl_intervention_profile(m, iv, t) * fl_intervention_dose(iv, spend);
  return 1;
}

void fl_arm_intervention_costs(const fl_model *m, const fl_arm *arm, size_t t,
                               const double *spend, const double *reached,
                               const double *reach_by_state, const double *unit_cost,
                               double *cost) {
  const size_t T = m->T, ni = arm->n_int;
  for (size_t i = 0; i < ni; i++) {
    const fl_intervention *iv = &arm->ints[i];
    cost[iv->holder] += spend[i] + iv->child_cost * m->step_months * reached[i];
    if (iv->setup_cost > 0 && iv->start < (double)T * m->step_months &&
        t == (size_t)(iv->start / m->step_months))
      cost[iv->holder] += iv->setup_cost;
    if (iv->kind->cost && reach_by_state)
      iv->kind->cost(m, iv, arm->strength[t * ni + i], reach_by_state + i * m->S, unit_cost,
                     cost);
  }
}

void fl_arm_reach_costs(const fl_model *m, const fl_arm *arm, size_t t, const double *reached,
                        const double *reach_by_state, const double *unit_cost, double *cost) {
  const size_t ni = arm->n_int;
  for (size_t i = 0; i < ni; i++) {
    const fl_intervention *iv = &arm->ints[i];
    cost[iv->holder] += iv->child_cost * m->step_months * reached[i];
    if (iv->kind->cost && reach_by_state)
      iv->kind->cost(m, iv, arm->strength[t * ni + i], reach_by_state + i * m->S, unit_cost, cost);
  }
}
