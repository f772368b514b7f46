/* The transition kind (the default): multipliers on the escalation and de-escalation
 * probabilities of the children reached, and on named moves; the probability taken from (or
 * given to) moves goes back to staying. At strength e a multiplier f acts as 1 + (f - 1) e. */
#include "model/compile.h"
#include "model/intervention.h"

#include <stdio.h>

#define IV "arms.*.interventions.*."
#define ESC param[0]
#define DEESC param[1]

/* A multiplier given as itself (escalation: 0.9) or as a percentage change
 * (escalation_change_percent: -10), not both. */
static fl_status multiplier(compiler *c, const fl_node *def, const char *prefix, const char *name,
                            double *out) {
  char leaf[64], pattern[128], key[384];
  snprintf(leaf, sizeof leaf, "%s_change_percent", name);
  const fl_node *pct = fl_map_get(def, leaf);
  snprintf(pattern, sizeof pattern, IV "%s", pct ? leaf : name);
  if (pct && fl_map_get(def, name)) {
    snprintf(key, sizeof key, "%s.%s", prefix, leaf);
    return fl_c_bad(c, pct, key, "give the effect once: %s (a multiplier) or %s, not both", name,
                    leaf);
  }
  *out = pct ? 1.0 + fl_get_num(def, pattern) / 100.0 : fl_get_num(def, pattern);
  return FL_OK;
}

static fl_status compile(compiler *c, const fl_node *def, const char *prefix,
                         fl_intervention *iv) {
  fl_model *m = c->m;
  const size_t S = m->S;
  const fl_node *moves = fl_map_get(def, "moves");
  char key[384];
  fl_status st;
  if ((st = multiplier(c, def, prefix, "escalation", &iv->ESC)) != FL_OK ||
      (st = multiplier(c, def, prefix, "deescalation", &iv->DEESC)) != FL_OK)
    return st;
  /* table: [S * S] multipliers on named moves, from (first) to (second); 1: none. */
  if (!(iv->table = fl_malloc_array(S * S, sizeof *iv->table))) return fl_c_oom(c);
  for (size_t k = 0; k < S * S; k++) iv->table[k] = 1;
  for (size_t k = 0; moves && k < moves->n; k++) {
    const fl_node *fn = fl_map_key(moves, k), *row = fl_map_val(moves, k);
    long s = fl_c_find(m->state_names, S, fn->value);
    snprintf(key, sizeof key, "%s.moves.%s", prefix, fn->value);
    if (s < 0) return fl_c_unknown(c, fn, key, fn->value, m->state_names, m->S, "the states");
    for (size_t j = 0; j < row->n; j++) {
      const fl_node *tn = fl_map_key(row, j);
      long d = fl_c_find(m->state_names, S, tn->value);
      snprintf(key, sizeof key, "%s.moves.%s.%s", prefix, fn->value, tn->value);
      if (d < 0) return fl_c_unknown(c, tn, key, tn->value, m->state_names, m->S, "the states");
      if (d == s) return fl_c_bad(c, tn, key, "staying is not a move");
      iv->table[(size_t)s * S + (size_t)d] = fl_scalar_num(fl_map_val(row, j));
    }
  }
  return FL_OK;
}

static void row(const fl_model *m, const fl_intervention *iv, size_t s, double e, double *p,
                double *moved) {
  for (size_t j = 0; j < m->S; j++) {
    double mult = 1 + (iv->table[s * m->S + j] - 1) * e;
    if (j == s || p[j] == 0) continue;
    if (m->state_level[j] > m->state_level[s]) mult *= 1 + (iv->ESC - 1) * e;
    else if (m->state_level[j] < m->state_level[s]) mult *= 1 + (iv->DEESC - 1) * e;
    *moved += p[j] * (mult - 1);
    p[j] *= mult;
  }
}

static void describe(const fl_model *m, const fl_intervention *iv, char *buf, size_t size) {
  size_t named = 0;
  for (size_t k = 0; k < m->S * m->S; k++) named += iv->table[k] != 1;
  if (iv->ESC == 1 && iv->DEESC == 1 && !named) snprintf(buf, size, "no effect on moves");
  else
    snprintf(buf, size, "escalation x%g, de-escalation x%g%s", iv->ESC, iv->DEESC,
             named ? ", with multipliers on named moves" : "");
}

static const char *const keys[] = {"escalation",
                                   "deescalation",
                                   "escalation_change_percent",
                                   "deescalation_change_percent",
                                   "moves",
                                   NULL};
static const char *const params[] = {"escalation", "deescalation", NULL};

const fl_effect_kind fl_kind_transition = {
    .name = "transition",
    .summary = "multiplies the escalation and de-escalation probabilities (and named moves) of "
               "the children it reaches",
    .keys = keys,
    .compile = compile,
    .row = row,
    .params = params,
    .describe = describe,
};
