/* The state_cost kind: multiplies what the children it reaches cost in their states, by budget
 * holder (a cheaper placement model, a service redesign), and leaves their transitions alone.
 * At strength e a factor f acts as 1 + (f - 1) e. The children are those reached, counted as
 * rewards.timing counts the children in each state (as for cost_per_child_month; derive.c), at
 * the replication's state costs (drawn ones under --psa). */
#include "model/compile.h"
#include "model/intervention.h"

#include <stdio.h>

static fl_status compile(compiler *c, const fl_node *def, const char *prefix,
                         fl_intervention *iv) {
  fl_model *m = c->m;
  const fl_node *mult = fl_map_get(def, "cost_multiplier");
  char key[384];
  if (!mult || mult->n == 0) {
    snprintf(key, sizeof key, "%s.cost_multiplier", prefix);
    return fl_c_bad(c, def, key,
                    "an intervention of kind state_cost needs cost_multiplier: budget holder -> "
                    "factor on the state costs of the children it reaches");
  }
  /* table: [B] factors on the state costs charged to each budget holder; 1: unchanged. */
  if (!(iv->table = fl_malloc_array(m->B ? m->B : 1, sizeof *iv->table))) return fl_c_oom(c);
  for (size_t b = 0; b < m->B; b++) iv->table[b] = 1;
  for (size_t k = 0; k < mult->n; k++) {
    const fl_node *hn = fl_map_key(mult, k);
    long b = fl_c_find(m->holder_names, m->B, hn->value);
    snprintf(key, sizeof key, "%s.cost_multiplier.%s", prefix, hn->value);
    if (b < 0)
      return fl_c_unknown(c, hn, key, hn->value, m->holder_names, m->B, "costs.budget_holders");
    iv->table[b] = fl_scalar_num(fl_map_val(mult, k));
  }
  return FL_OK;
}

static void cost(const fl_model *m, const fl_intervention *iv, double e, const double *reach,
                 const double *unit_cost, double *out) {
  const size_t S = m->S, B = m->B;
  for (size_t b = 0; b < B; b++) {
    const double change = (iv->table[b] - 1) * e;
    if (change == 0) continue;
    double base = 0;
    for (size_t s = 0; s < S; s++) base += reach[s] * unit_cost[s * B + b];
    out[b] += change * base;
  }
}

static void describe(const fl_model *m, const fl_intervention *iv, char *buf, size_t size) {
  size_t n = (size_t)snprintf(buf, size, "state costs");
  for (size_t b = 0; b < m->B && n < size; b++)
    if (iv->table[b] != 1)
      n += (size_t)snprintf(buf + n, size - n, " x%g (%s)", iv->table[b], m->holder_names[b]);
}

static const char *const keys[] = {"cost_multiplier", NULL};
static const char *const params[] = {NULL};

const fl_effect_kind fl_kind_state_cost = {
    .name = "state_cost",
    .summary = "multiplies the state costs of the children it reaches, by budget holder",
    .keys = keys,
    .compile = compile,
    .cost = cost,
    .params = params,
    .describe = describe,
};
