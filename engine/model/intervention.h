/* Interventions: what every kind shares (when it runs and how its effect builds up, whom it
 * reaches, its dose-response on spend, what it costs to run) and the effect kinds behind one
 * interface (fl_effect_kind), each in a file of its own under model/kinds/.
 *
 * Adding a kind: a file in model/kinds/ defining a const fl_effect_kind, its keys' rows in
 * scenario/schema.c (under arms.*.interventions.*, and its name among the choices of the kind
 * key), its line in fl_effect_kinds (interventions.c) and in CMakeLists.txt. The simulation,
 * expectation mode, parameter uncertainty, the derived costs and `validate` reach it through
 * the interface. */
#ifndef FL_INTERVENTION_H
#define FL_INTERVENTION_H

#include "model/model.h"

struct compiler;
struct fl_node;

/* A kind's own numbers of an intervention are iv->param[FL_KIND_PARAMS] (those --psa may draw
 * are named by the kind's params) and iv->table, an array whose meaning the kind gives. */

typedef struct fl_effect_kind {
  const char *name;       /* the value of the intervention's kind key */
  const char *summary;    /* one sentence for `validate` and the docs */
  /* The kind's own keys under arms.*.interventions.* (NULL-terminated); another kind's keys on
   * an intervention of this kind are an error. */
  const char *const *keys;
  /* Reads the kind's keys of def (the intervention's mapping, key path prefix) into iv->param
   * and iv->table. */
  fl_status (*compile)(struct compiler *c, const struct fl_node *def, const char *prefix,
                       fl_intervention *iv);
  /* How it changes the step probabilities p[S] of a reached child in from-state s at strength e
   * (0 to 1 of the full effect), adding to *moved the probability it took from staying (the
   * caller takes it off p[s]). NULL: it leaves transitions alone. */
  void (*row)(const fl_model *m, const fl_intervention *iv, size_t s, double e, double *p,
              double *moved);
  /* What it changes in the cost of a step, added to cost[B]: reach[S] children it reaches in
   * each state, at strength e, with the replication's state costs per step unit_cost[S * B].
   * NULL: nothing beyond its own spend, set-up and per-child costs. */
  void (*cost)(const fl_model *m, const fl_intervention *iv, double e, const double *reach,
               const double *unit_cost, double *cost);
  /* The parameters --psa may draw (key names, NULL-terminated, may be empty): parameter k is
   * iv->param[k]. */
  const char *const *params;
  /* Writes the effect in plain words into buf (`validate`). */
  void (*describe)(const fl_model *m, const fl_intervention *iv, char *buf, size_t size);
} fl_effect_kind;

/* Every kind, the default (transition) first. */
extern const fl_effect_kind *const fl_effect_kinds[];
extern const size_t fl_n_effect_kinds;

/* The kind named name, or NULL. */
const fl_effect_kind *fl_effect_kind_find(const char *name);

/* Compiles intervention name (def: its mapping) of arm arm_name into iv: the shared keys, then
 * its kind's. */
fl_status fl_intervention_compile(struct compiler *c, const char *arm_name,
                                  const struct fl_node *name, const struct fl_node *def,
                                  fl_intervention *iv);
void fl_intervention_free(fl_intervention *iv);

/* Time profile of an intervention at step t (0 to 1), and its dose factor at a spend per
 * month. */
double fl_intervention_profile(const fl_model *m, const fl_intervention *iv, size_t t);
double fl_intervention_dose(const fl_intervention *iv, double spend);
/* Whether iv's targeting reaches a child in (loc, state) of age `age` steps. */
static inline int fl_intervention_reaches(const fl_intervention *iv, size_t loc, size_t state,
                                          uint32_t age) {
  return iv->state_on[state] && iv->loc_on[loc] && age >= iv->age_lo && age < iv->age_hi;
}
/* Whether iv runs (and is paid for) during step t. */
int fl_intervention_running(const fl_model *m, const fl_intervention *iv, size_t t);
/* Whether an arm has an intervention whose kind changes costs (its derived costs then need the
 * children each intervention reaches by state). */
int fl_arm_needs_state_reach(const fl_arm *arm);

/* The per-step bookkeeping of an arm, which the simulation and expectation mode both call at
 * the start of step t, after the entries (so the two cannot drift):
 *
 * fl_arm_step_open: the step's intervention strengths e[n_int] (the compiled ones, but for the
 * intervention that reinvested savings fund). An arm that reinvests first records the realised
 * saving of step t against the baseline of the same replication in saving[t]: over states,
 * base_occ times the replication's state costs unit_cost[S * B] less occ times the arm's own
 * (fl_arm_cost) on the funding budget holders, where occ and base_occ are the arm's and the
 * baseline's children by state now (all of the replication's). Returns nonzero when the
 * strengths differ from the compiled table's, so the step needs a table of its own. occ and
 * base_occ are read only by an arm that reinvests.
 *
 * fl_arm_spend: the spend per month of intervention i at step t (its own, plus the reinvested
 * fraction of the saving `delay` steps before for the one funded), 0 when it does not run. */
int fl_arm_step_open(const fl_model *m, const fl_arm *arm, size_t t, const double *occ,
                     const double *base_occ, const double *unit_cost, double *saving, double *e);
double fl_arm_spend(const fl_model *m, const fl_arm *arm, size_t i, size_t t,
                    const double *saving);
/* Whether an arm's spend depends on its savings (it reinvests a fraction above 0). */
static inline int fl_arm_reinvests(const fl_arm *arm) {
  return arm->reinvest.on && arm->reinvest.fraction > 0;
}

/* What an arm's interventions cost in step t, added to cost[B]: each one's spend in the step
 * (spend[n_int], its tally), its cost per child reached (reached[n_int]) and its set-up cost
 * in the step it starts, and what its kind changes in the cost of the children it reaches
 * (reach_by_state[n_int * S], NULL when no kind needs it) at the replication's state costs
 * unit_cost[S * B]. The children reached are those the step's reward timing counts (the
 * caller combines the tallies at the start and the end of steps as for state costs). */
void fl_arm_intervention_costs(const fl_model *m, const fl_arm *arm, size_t t,
                               const double *spend, const double *reached,
                               const double *reach_by_state, const double *unit_cost,
                               double *cost);
/* The part of fl_arm_intervention_costs that follows the children reached (cost per child,
 * and what the kinds change), without spend and set-up costs: for rewards counted at time
 * points that are discounted apart. */
void fl_arm_reach_costs(const fl_model *m, const fl_arm *arm, size_t t, const double *reached,
                        const double *reach_by_state, const double *unit_cost, double *cost);

#endif
