/* Compiling a scenario into a model: the state shared by model.c (states, population,
 * transitions) and arms.c (arms, interventions, transition costs). Errors point at the
 * scenario's nodes. */
#ifndef FL_COMPILE_H
#define FL_COMPILE_H

#include "model/model.h"
#include "scenario/scenario.h"

#define ROW_TOL 1e-9
#define MAX_ROWS (1u << 24)

typedef struct compiler {
  const fl_scenario *sc;
  fl_model *m;
  fl_error *err;
  double per_months;  /* transitions.per_months */
  int rates;          /* transitions.given_as == rate */
  double *loc_share;  /* [NLOC] */
  double *loc_esc;    /* [NLOC] */
  double cost_per;    /* months that state costs refer to (costs.per) */
} compiler;

/* An FL_ESCHEMA error at node n (may be NULL) with the key path key. */
fl_status fl_c_bad(compiler *c, const fl_node *n, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
fl_status fl_c_oom(compiler *c);
/* An FL_ESCHEMA error at node n for a name that is not one of names[count]: "'NAME' is not one
 * of WHAT", with "did you mean ...?" when one of them is close to it. */
fl_status fl_c_unknown(compiler *c, const fl_node *n, const char *key, const char *name,
                       char *const *names, size_t count, const char *what);
/* Index of name in names[n], or -1. */
long fl_c_find(char *const *names, size_t n, const char *name);
/* months as whole steps (UINT32_MAX for infinity); an error if not whole. */
fl_status fl_c_steps(compiler *c, const fl_node *n, const char *key, double months,
                     uint32_t *out);
/* The range under schema pattern in map (or its default) in whole steps; prefix is the key path
 * of map, for messages. scale converts the range's unit to months. */
fl_status fl_c_range(compiler *c, const fl_node *map, const char *pattern, const char *prefix,
                     double scale, uint32_t *lo, uint32_t *hi);

/* population.c: the population section (after the states and localities). */
fl_status fl_compile_population(compiler *c);
/* transitions.c: the transitions section (after the population: band edges include its ages),
 * into the model's step probabilities base_p. */
fl_status fl_compile_transitions(compiler *c);
/* The step probabilities of an arm with transitions of its own (arm_tr: arms.NAME.transitions):
 * the scenario's tables followed by the arm's, resolved as the scenario's are, into a new
 * *base_p (the caller owns it). */
fl_status fl_compile_arm_transitions(compiler *c, const char *arm_name, const fl_node *arm_tr,
                                     double **base_p);

/* posterior.c: the posterior draws named by posterior_draws (after the transitions), each
 * draw's key paths set on the scenario and its rows compiled (fl_model_compile_rows). */
fl_status fl_compile_posterior(compiler *c);
/* The model up to its step probabilities (states, localities, population, transitions; no arms
 * or posterior draws). */
fl_status fl_model_compile_rows(const fl_scenario *sc, fl_model **out, fl_error *err);

/* arms.c: the arms section (after the transitions are compiled), and the tables of every arm
 * including the baseline. */
fl_status fl_compile_arms(compiler *c);
/* Age edges (in steps) of every intervention, for the band boundaries; *n edges are added to
 * edges (room for 2 per intervention). */
fl_status fl_arms_age_edges(compiler *c, void (*add)(uint32_t *edges, size_t *n, uint32_t v),
                            uint32_t *edges, size_t *n);
size_t fl_arms_count_interventions(const fl_scenario *sc);

/* vary.c: entries of transition rows that vary (transitions.tables[].vary). An entry from ->
 * to by single year of age (values[n] for ages from_years, from_years + 1, ...), or by a
 * parametric form on a clock: cumulative hazard b t^a (Weibull), (b / a)(e^(a t) - 1)
 * (Gompertz) or log(1 + (t / b)^a) (log-logistic), t in years, times hr. */
typedef enum fl_vary_kind {
  FL_VARY_AGE,
  FL_VARY_WEIBULL,
  FL_VARY_GOMPERTZ,
  FL_VARY_LOGLOGISTIC
} fl_vary_kind;
typedef enum fl_clock { FL_CLOCK_TIS, FL_CLOCK_RUN, FL_CLOCK_AGE } fl_clock;
typedef struct fl_vary {
  size_t from, to;
  fl_vary_kind kind;
  fl_clock clock;
  double a, b, hr;
  double from_years;
  double *values;
  size_t n;
} fl_vary;
/* The entries of table's vary list (at: the table's key path), checked against its rows, into
 * *out[*n] (NULL, 0 when none; free with fl_vary_free). */
fl_status fl_vary_parse(compiler *c, const fl_node *table, const char *at, fl_vary **out,
                        size_t *n);
void fl_vary_free(fl_vary *v, size_t n);
/* Adds with add the band edges (in steps) the entries need to edges[k] (k: age, time in state,
 * period; count[k] of them), up to top[k], within the table's ranges. */
fl_status fl_vary_edges(compiler *c, const fl_node *table, const char *at, const fl_vary *v,
                        size_t n, void (*add)(uint32_t *, size_t *, uint32_t), uint32_t *edges[3],
                        size_t count[3], const uint32_t top[3]);
/* The entry's value in the cell whose lower edges are age, tis and period (steps): the vector's
 * value for the age's year, or the probability of the event within per_months from the clock's
 * time t, 1 - (S(t + per_months) / S(t))^hr. */
double fl_vary_value(const fl_model *m, const fl_vary *v, uint32_t age, uint32_t tis,
                     uint32_t period, double per_months);
/* A vector by single year (of age, or of time in state): values from from_years, inline or a
 * column of a CSV file (vec, the map at key path key, whose schema path is pattern; year_column
 * the key naming the file's column of years), a file's values within [lo, hi] (what: their
 * description in messages; inline values the schema checks) into *values[*n] (the caller
 * frees). */
fl_status fl_vector_parse(compiler *c, const fl_node *vec, const char *key, const char *pattern,
                          const char *year_column, double lo, double hi, const char *what,
                          double **values, size_t *n, double *from_years);
/* rewards.c: state costs and QoL weights by age or time in state (states.*.cost_by_age and
 * the like), into the model's reward classes (after the transitions and the heterogeneity
 * section: the classes need the ages children can have). */
fl_status fl_compile_rewards(compiler *c);
/* After the arms: no intervention or reinvestment counts by state a cost that varies. */
fl_status fl_check_rewards(compiler *c);
/* het.c: the heterogeneity section (after the states, before the tables are built: they leave
 * its rows to the events), and its check against every arm's tables (after the arms). */
fl_status fl_compile_het(compiler *c);
fl_status fl_check_het(compiler *c);
void fl_het_free(fl_het *h);

#endif
