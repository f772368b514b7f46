/* Compiling a checked scenario into an immutable model: names resolved to indices, ages and
 * durations converted to steps, transition rows converted to the step length, adjusted for
 * locality and out-migration, and quantised into integer thresholds for the hot loop. */
#include "model/compile.h"
#include "model/intervention.h"

#include <gsl/gsl_errno.h>
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

fl_status fl_c_unknown(compiler *c, const fl_node *n, const char *key, const char *name,
                       char *const *names, size_t count, const char *what) {
  const char *near = fl_closest(name, names, count);
  if (near)
    return fl_c_bad(c, n, key, "'%s' is not one of %s; did you mean '%s'?", name, what, near);
  return fl_c_bad(c, n, key, "'%s' is not one of %s", name, what);
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

/* Display labels keyed by names (level_labels, costs.budget_holder_labels) must name what
 * exists: a label for a misspelled name would silently fall back to the name. */
static fl_status check_labels(compiler *c, const fl_node *labels, const char *key,
                              char *const *names, size_t n, const char *what) {
  char k[256];
  for (size_t i = 0; labels && i < labels->n; i++) {
    const fl_node *kn = fl_map_key(labels, i);
    snprintf(k, sizeof k, "%s.%s", key, kn->value);
    if (fl_c_find(names, n, kn->value) < 0)
      return fl_c_unknown(c, kn, k, kn->value, names, n, what);
  }
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
  if (!(m->currency = fl_strdup(fl_get_str(costs, "costs.currency")))) return fl_c_oom(c);
  if ((st = check_labels(c, fl_map_get(root, "level_labels"), "level_labels", m->level_names, m->L,
                         "the levels")) != FL_OK ||
      (st = check_labels(c, fl_map_get(costs, "budget_holder_labels"), "costs.budget_holder_labels",
                         m->holder_names, m->B, "costs.budget_holders")) != FL_OK)
    return st;
  per = !strcmp(per_word, "year") ? 12.0 : !strcmp(per_word, "step") ? m->step_months : 1.0;
  m->cost_factor = m->step_months / per;
  c->cost_per = per;
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
    if (level < 0) return fl_c_unknown(c, lv, key, lv->value, m->level_names, m->L, "the levels");
    m->state_level[s] = (uint8_t)level;
    m->absorbing[s] = (uint8_t)fl_get_bool(def, "states.*.absorbing");
    m->qol[s] = fl_get_num(def, "states.*.qol");
    for (size_t i = 0; cost && i < cost->n; i++) {
      const fl_node *hn = fl_map_key(cost, i);
      long h = fl_c_find(m->holder_names, m->B, hn->value);
      snprintf(key, sizeof key, "states.%s.cost.%s", name->value, hn->value);
      if (h < 0 && !m->B)
        return fl_c_bad(c, hn, key,
                        "'%s' is not one of costs.budget_holders (the scenario has "
                        "no costs section)",
                        hn->value);
      if (h < 0)
        return fl_c_unknown(c, hn, key, hn->value, m->holder_names, m->B, "costs.budget_holders");
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

/* The calendar start (time.start), for outputs to describe themselves. */
static void compile_calendar(fl_model *m, const char *start) {
  int y = 0, mo = 0, n = 0;
  snprintf(m->start_label, sizeof m->start_label, "%s", start ? start : "");
  if (start && sscanf(start, "%4d-%2d%n", &y, &mo, &n) == 2 && n == 7 && y >= 1000 &&
      mo >= 1 && mo <= 12 && (start[7] == '\0' || start[7] == '-')) {
    m->start_year = y;
    m->start_month = mo;
  }
}

/* The horizon, given in steps or in years (a whole number of steps). */
static fl_status compile_horizon(compiler *c, const fl_node *time) {
  const fl_node *steps = fl_map_get(time, "horizon_steps"),
                *years = fl_map_get(time, "horizon_years");
  if (steps && years)
    return fl_c_bad(c, years, "time.horizon_years",
                    "give the horizon once: horizon_steps or horizon_years, not both");
  if (!steps && !years)
    return fl_c_bad(c, time, "time.horizon_steps",
                    "required key is missing (the number of steps simulated; or give "
                    "horizon_years)");
  if (steps) {
    c->m->T = (size_t)fl_get_num(time, "time.horizon_steps");
    return FL_OK;
  }
  const double y = fl_get_num(time, "time.horizon_years"), n = y * 12.0 / c->m->step_months;
  if (fabs(n - nearbyint(n)) > 1e-9 * fmax(1.0, n) || nearbyint(n) < 1 || n > 65000)
    return fl_c_bad(c, years, "time.horizon_years",
                    "%g years is not a whole number of steps of %g months between 1 and 65000", y,
                    c->m->step_months);
  c->m->T = (size_t)nearbyint(n);
  return FL_OK;
}

/* full: also the arms and posterior draws; quiet: the caller has turned GSL's error handler
 * off (it is one for the process, so threads compiling at once must not each swap it). */
static fl_status compile(const fl_scenario *sc, int full, int quiet, fl_model **out,
                         fl_error *err) {
  fl_model *m = calloc(1, sizeof *m);
  compiler c = {.sc = sc, .m = m, .err = err};
  const fl_node *root = sc->root, *time = fl_map_get(root, "time");
  const fl_node *disc = fl_map_get(root, "discount");
  fl_status st;
  gsl_error_handler_t *old_handler = quiet ? NULL : gsl_set_error_handler_off();
  *out = NULL;
  if (!m) {
    if (!quiet) gsl_set_error_handler(old_handler);
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
  compile_calendar(m, fl_get_str(time, "time.start"));
  if ((st = compile_horizon(&c, time)) != FL_OK) goto fail;
  m->tis_by_level = !strcmp(fl_get_str(time, "time.time_in_state"), "level");
  m->disc_cost = fl_get_num(disc, "discount.costs");
  m->disc_qol = fl_get_num(disc, "discount.qol");
  if ((st = compile_states(&c)) != FL_OK) goto fail;
  if ((st = compile_localities(&c)) != FL_OK) goto fail;
  if ((st = fl_compile_population(&c)) != FL_OK) goto fail;
  if ((st = fl_compile_transitions(&c)) != FL_OK) goto fail;
  if ((st = fl_compile_het(&c)) != FL_OK) goto fail;
  if ((st = fl_compile_rewards(&c)) != FL_OK) goto fail;
  if (full && ((st = fl_compile_arms(&c)) != FL_OK || (st = fl_check_het(&c)) != FL_OK ||
               (st = fl_check_rewards(&c)) != FL_OK || (st = fl_compile_posterior(&c)) != FL_OK))
    goto fail;
  free(c.loc_share);
  free(c.loc_esc);
  if (!quiet) gsl_set_error_handler(old_handler);
  *out = m;
  return FL_OK;
fail:
  free(c.loc_share);
  free(c.loc_esc);
  if (!quiet) gsl_set_error_handler(old_handler);
  fl_model_free(m);
  return st;
}

fl_status fl_model_compile(const fl_scenario *sc, fl_model **out, fl_error *err) {
  return compile(sc, 1, 0, out, err);
}

fl_status fl_model_compile_threaded(const fl_scenario *sc, fl_model **out, fl_error *err) {
  return compile(sc, 1, 1, out, err);
}

fl_status fl_model_compile_rows(const fl_scenario *sc, fl_model **out, fl_error *err) {
  return compile(sc, 0, 0, out, err);
}

void fl_model_free(fl_model *m) {
  if (!m) return;
  free(m->name);
  free(m->scenario_path);
  free(m->scenario_text);
  free(m->scenario_overrides);
  free(m->currency);
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
    free(arm->het_chosen);
    free(arm->move_cum);
    free(arm->move_dest);
    free(arm->step_table);
    free(arm->strength);
    for (size_t i = 0; arm->ints && i < arm->n_int; i++) {
      fl_intervention_free(&arm->ints[i]);
    }
    free(arm->ints);
    free(arm->reinvest.from);
    free(arm->cost);
    free(arm->qol);
    free(arm->trans_cost);
    free(arm->trans_qaly);
    free(arm->base_p);
  }
  free(m->base_p);
  free(m->post_base_p);
  free(m->row_spec);
  free(m->spec_counts);
  free(m->loc_esc);
  free(m->trans_cost);
  free(m->trans_qaly);
  free(m->wtp);
  free(m->point_w);
  for (size_t k = 0; m->unc && k < m->n_unc; k++) free(m->unc[k].key);
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
  fl_het_free(&m->het);
  free(m->rc_age);
  free(m->rc_tis);
  free(m->rc_cost);
  free(m->rc_qol);
  fl_names_free(m->rc_names, m->NRC);
  free(m->cost_vec);
  free(m->qol_vec);
  free(m);
}

double fl_discount(double rate, double years) { return pow(1.0 + rate, -years); }
