/* The model layer: a scenario compiled into immutable tables (states, levels, population,
 * transition rows of every arm, interventions, costs and QoL). A compiled model is shared
 * read-only by every thread; nothing here changes it after fl_model_compile. */
#ifndef FL_MODEL_H
#define FL_MODEL_H

#include "core/core.h"
#include "core/limits.h"


/* One compiled transition row. A child in this row draws r uniform on [0, 2^32): it stays when
 * r < stay, otherwise it takes the first move k (k in [first, first + n)) with r < move_cum[k]. */
typedef struct fl_row {
  uint64_t stay;
  uint32_t first;
  uint32_t n;
} fl_row;

/* A group of the initial population: count children in (state, locality), ages uniform on the
 * integer steps [age_lo, age_hi] and time in state uniform on [tis_lo, tis_hi]. */
typedef struct fl_init_group {
  uint32_t state, loc;
  uint32_t age_lo, age_hi;
  uint32_t tis_lo, tis_hi;
  uint64_t count;
} fl_init_group;

/* A stream of entrants (births, in-migration): a Poisson number per step with mean per_step, ages
 * uniform on [age_lo, age_hi] steps, state and locality drawn from quantised cumulative
 * thresholds (state_cum[S], loc_cum[NLOC], last entry 2^32). */
typedef struct fl_entry_stream {
  char *name;
  double per_step;
  uint32_t age_lo, age_hi;
  uint64_t *state_cum;
  uint64_t *loc_cum;
} fl_entry_stream;

/* A prevention intervention of an arm. Its strength at a step is the product of a time
 * profile (ramp up from the start, full until the end, decay after) and a dose factor
 * h(spend) / h(spend_ref) with h(x) = x / (x + half_sat) (1 without dose-response). What it
 * does at that strength is its kind's (model/intervention.h, model/kinds/). */
typedef enum fl_shape { FL_SHAPE_LINEAR, FL_SHAPE_LOGISTIC, FL_SHAPE_EXPONENTIAL } fl_shape;
#define FL_KIND_PARAMS 4
typedef struct fl_intervention {
  const struct fl_effect_kind *kind;
  char *name;
  double start, end;      /* months since the start of the run; end may be infinite */
  double ramp, decay;     /* months to full effect, and to no effect after the end */
  fl_shape ramp_shape;
  uint8_t *state_on;      /* [S] children in these states are reached */
  uint8_t *loc_on;        /* [NLOC] */
  uint32_t age_lo, age_hi; /* reached ages in steps, [lo, hi) */
  double spend;           /* spend per month (its monthly cost) */
  double ref_spend;       /* spend per month at which the effect is the one given */
  double half_sat;        /* half-saturation spend; 0: no dose-response */
  double setup_cost, child_cost; /* one-off at the start; per child reached per month */
  size_t holder;          /* budget holder charged */
  double param[FL_KIND_PARAMS]; /* the kind's parameters (its file names them) */
  double *table;          /* the kind's array, owned (its file says what it holds) */
} fl_intervention;

/* Reinvestment: from the step's realised savings against the baseline in the same
 * replication (on the budget holders in from[]), a fraction goes, delay steps later, into the
 * spend of intervention into. */
typedef struct fl_reinvest {
  int on;
  double fraction;
  uint8_t *from;          /* [B] */
  uint32_t delay;         /* steps */
  size_t into;
} fl_reinvest;

/* Transition tables of one arm: n_tables tables of rows_per_period rows each, a row indexed by
 * (((loc * NA + age_band) * ND + dur_band) * S + state); step t uses table step_table[t]. The
 * baseline has one table per calendar period; an arm with interventions one per distinct set
 * of intervention strengths. */
/* A parameter drawn under --psa: its distribution (moments in the key's own units) and where
 * it goes. */
typedef enum fl_dist { FL_DIST_FIXED, FL_DIST_GAMMA, FL_DIST_BETA, FL_DIST_LOGNORMAL } fl_dist;
typedef enum fl_target { FL_TGT_COST, FL_TGT_QOL, FL_TGT_INTERVENTION } fl_target;
typedef struct fl_uncertain {
  fl_dist dist;
  fl_target target;
  size_t i, j, k;   /* (state, holder), (state), or (arm, intervention, its kind's parameter) */
  double mean, sd;
  char *key;        /* the scenario's key, e.g. states.foster.qol (owned) */
} fl_uncertain;

typedef struct fl_arm {
  char *name;
  fl_row *rows;
  uint32_t *stay32; /* [n_rows] min(rows[i].stay, 2^32 - 1), for the hot pass */
  uint64_t *move_cum;
  uint8_t *move_dest;
  size_t n_rows, n_moves, n_tables;
  uint32_t *step_table; /* [T] */
  size_t n_int;
  fl_intervention *ints;
  double *strength;     /* [T * n_int] strength of each intervention at each step at its
                           reference spend */
  fl_reinvest reinvest;
  /* What the arm changes in the scenario's rewards and moves (arms.*.states,
   * arms.*.transition_costs, arms.*.transitions); NULL where it changes nothing of the kind.
   * cost[S * B] (per step) and qol[S] hold NaN where the arm keeps the scenario's value (or,
   * under --psa, the drawn one); trans_cost[S * S * B] and trans_qaly[S * S] are complete. */
  double *cost, *qol;
  double *trans_cost, *trans_qaly;
  double *base_p;       /* [NP * rows_per_period * S] the arm's own step probabilities */
  uint64_t *het_chosen; /* [n_rows] the width of each row's moves that the heterogeneity
                           multiplier scales (NULL without heterogeneity) */
} fl_arm;

/* The cost per step of state s to holder b (i = s * B + b) in arm, where the scenario's (or the
 * replication's drawn) costs are unit_cost; the same for QoL weights. */
static inline double fl_arm_cost(const fl_arm *arm, const double *unit_cost, size_t i) {
  return arm->cost && arm->cost[i] == arm->cost[i] ? arm->cost[i] : unit_cost[i];
}
static inline double fl_arm_qol(const fl_arm *arm, const double *unit_qol, size_t s) {
  return arm->qol && arm->qol[s] == arm->qol[s] ? arm->qol[s] : unit_qol[s];
}

/* Per-child heterogeneity (the heterogeneity section): a multiplier z drawn once for each child
 * when it is created, from its own stream (seed, replication, child, purpose HETEROGENEITY), so
 * every arm of a replication gives a child the same z. It multiplies the probabilities of the
 * chosen moves (on[s * S + d]) of the child's row, staying taking up the difference, and, where
 * costs or qol is set, the child's state costs or QoL weight. z is a multiple of
 * 1 / FL_HET_QUANTUM in both modes, so the sums of multipliers by state are exact. */
typedef enum fl_het_dist {
  FL_HET_NONE, FL_HET_UNIFORM, FL_HET_GAMMA, FL_HET_LOGNORMAL, FL_HET_BETA, FL_HET_DISCRETE
} fl_het_dist;
#define FL_HET_QUANTUM 65536.0
#define FL_HET_MAX_CAPS 8 /* multipliers that fill rows at which expectation mode splits */
typedef struct fl_het {
  fl_het_dist dist;
  double p1, p2;      /* uniform: low, high; gamma: shape, scale; lognormal: mean and sd of
                         log z; beta: its two shape parameters */
  size_t n_values;    /* discrete: */
  double *values;     /* [n_values] rounded to the quantum */
  double *cum_p;      /* [n_values] cumulative probabilities, the last 1 */
  double mean, sd;    /* of z, as given (discrete: computed) */
  double hi;          /* the largest z (infinite for gamma and lognormal) */
  size_t n_caps;      /* multipliers that fill rows, at which the mixture is split (0: a
                         Gauss rule of the whole distribution, or the discrete values) */
  size_t n_nodes;     /* expectation mode's mixture of sub-cohorts: */
  double *node_z;     /* [n_nodes] multipliers (discrete: the values, rounded as drawn) */
  double *node_w;     /* [n_nodes] weights, summing to 1 */
  uint8_t *on;        /* [S * S] moves from s to d that z multiplies */
  uint8_t *row_on;    /* [S] states with such a move (their children are always events) */
  int costs, qol;     /* z multiplies state costs, QoL weights */
  double cap_z;       /* the smallest z that fills some row of the baseline (its staying
                         probability 0): larger z are capped there (infinite: none) */
} fl_het;

/* The row of a child with multiplier z in state s (row, with the table's move_cum and
 * move_dest): the moves that z multiplies scaled (the widths of the quantised row times z,
 * rounded so that they add up to their total times z, rounded), staying taking up the
 * difference; where that would leave less than nothing to staying, z is capped so that it
 * leaves none. Fills cum[row->n] with the thresholds of the row's moves (the last 2^32) and
 * returns the staying threshold; *capped is set when z was capped. Both modes use it, so they
 * quantise alike. fl_het_move: the destination (s: stays) of draw u on that row, the
 * thresholds worked out only for a child who does not stay. */
uint64_t fl_het_row(const fl_model *m, size_t s, const fl_row *row, const uint64_t *move_cum,
                    const uint8_t *move_dest, double z, uint64_t *cum, int *capped);
/* The staying threshold of the row for the largest multiplier the distribution gives (0 for
 * gamma and lognormal: a large one fills the row), as the hot pass's 32-bit threshold. */
uint32_t fl_het_stay32(const fl_model *m, size_t s, const fl_row *row, const uint64_t *move_cum,
                       const uint8_t *move_dest);
/* chosen[r] = the width of the moves of rows[r] that the multiplier scales, for n rows (of a
 * table with move_cum and move_dest), so that fl_het_move finds most children staying at once. */
void fl_het_chosen(const fl_model *m, const fl_row *rows, size_t n, const uint64_t *move_cum,
                   const uint8_t *move_dest, uint64_t *chosen);
static inline uint32_t fl_het_move(const fl_model *m, size_t s, const fl_row *row,
                                   uint64_t chosen, const uint64_t *move_cum,
                                   const uint8_t *move_dest, double z, uint32_t u) {
  const uint64_t room = row->stay + chosen; /* 2^32 less the moves not chosen */
  const double scaled = z * (double)chosen;
  uint64_t sc = scaled > (double)room ? room : (uint64_t)(scaled + 0.5);
  if (sc > room) sc = room;
  if (u < room - sc) return (uint32_t)s; /* stays */
  uint64_t cum[FL_MAX_STATES + 1];
  int capped;
  fl_het_row(m, s, row, move_cum, move_dest, z, cum, &capped);
  uint32_t j = 0;
  while (u >= cum[j]) j++;
  return move_dest[row->first + j];
}

struct fl_model {
  char *name;
  char *scenario_path;
  char *scenario_text;
  char *scenario_overrides; /* --set assignments applied to scenario_text, one per line */
  char *currency;           /* costs.currency, as reports label amounts (e.g. GBP) */
  size_t S, L, B, NLOC;
  char **state_names, **level_names, **holder_names, **loc_names;
  uint8_t *state_level; /* [S] */
  uint8_t *absorbing;   /* [S] */
  double step_months;
  /* The calendar month of the first step (time.start as YYYY-MM or YYYY-MM-DD), 0 and 0 when
   * the scenario gives none that reads as one; its label as written (may be empty). */
  int start_year, start_month;
  char start_label[32];
  size_t T;                /* horizon in steps */
  uint32_t max_age;        /* children leave on reaching this age in steps; 0: never */
  int tis_by_level;        /* time in state counts time in the level, not the state */
  size_t NA, ND, NP;       /* numbers of age, duration and period bands */
  uint32_t age_cap;        /* ages >= age_cap share the last band */
  uint32_t dur_cap;        /* times in state >= dur_cap share the last band */
  uint8_t *age_band;       /* [age_cap + 1] */
  uint8_t *dur_band;       /* [dur_cap + 1] */
  uint32_t *age_edges;     /* [NA + 1] in steps, last is UINT32_MAX */
  uint32_t *dur_edges;     /* [ND + 1] */
  uint32_t *period_edges;  /* [NP + 1] */
  uint8_t *period_of_step; /* [T] */
  /* Hot-loop lookup tables with the band strides premultiplied: the row of a child is
   * rows[period] + loc * loc_stride + state + age_off[age] + dur_off[tis]. age_top and tis_top
   * are the largest age and time in state a child can have at the start of a step, so the
   * tables need no clamping. */
  uint32_t *age_off;       /* [age_top + 1] */
  uint32_t *dur_off;       /* [tis_top + 1] */
  uint32_t age_top;
  uint32_t tis_top;
  size_t loc_stride;       /* NA * ND * S */
  size_t n_arms;
  fl_arm arms[FL_MAX_ARMS];
  double *base_p;        /* [NP * rows_per_period * S] step probabilities of each row, after
                            the locality multiplier, before out-migration and quantisation */
  size_t rows_per_period; /* NLOC * loc_stride */
  /* Parameter uncertainty: which table row (of the scenario) gave each compiled row, the
   * counts behind each table row (NaN where it has none), and the locality multipliers. */
  int32_t *row_spec;      /* [NP * rows_per_period]; -1: absorbing */
  size_t n_specs;
  double *spec_counts;    /* [n_specs * S] */
  double *loc_esc;        /* [NLOC] */
  int psa_ok;             /* rows are used as given, so they can be redrawn */
  /* Posterior draws (posterior_draws, from flourish fit): the step probabilities of each draw,
   * in base_p's layout, [n_post * NP * rows_per_period * S]; run --psa takes one a block. */
  size_t n_post;
  double *post_base_p;
  size_t n_unc;           /* parameter distributions (uncertainty section) */
  struct fl_uncertain *unc;
  double cost_factor;     /* state costs as given -> per step */
  double *trans_cost;    /* [S * S * B] one-off cost of a move from (first) to (second) */
  double *trans_qaly;    /* [S * S] one-off QALY change of a move */
  int reward_timing;     /* fl_timing */
  /* Under FL_TIMING_POINTS (rewards.points): the weight of each time point u = 0..T (0 where
   * not counted), and whether a point is reported in the step that ends there (1..T) rather
   * than the one that starts there. */
  double *point_w; /* [T + 1] */
  int points_end;
  size_t points_lo, points_hi; /* the first and last time point counted */
  double *wtp;           /* [n_wtp] willingness to pay per QALY */
  size_t n_wtp;
  double *cost;          /* [S, B] cost per child per step */
  double *qol;           /* [S] weight per child */
  double disc_cost;      /* annual discount rates */
  double disc_qol;
  double out_migration;  /* probability per step of leaving, non-absorbing states */
  size_t n_init;
  fl_init_group *init;
  size_t n_entries;
  fl_entry_stream *entries;
  fl_het het;            /* dist FL_HET_NONE: no heterogeneity */
  /* Rewards by age or time in state (states.*.cost_by_age and the like): NRC reward classes,
   * class k being of state k / (NRA * NRD), age class k / NRD % NRA and time-in-state class
   * k % NRD (fl_reward_class). NRC = 0: every reward is by state, and nothing is counted by
   * class. A class's age (time-in-state) class covers the whole years over which no reward
   * vector changes. */
  size_t NRC, NRA, NRD;
  uint16_t *rc_age;      /* [age_top + 1] age class of an age in steps */
  uint16_t *rc_tis;      /* [tis_top + 1] time-in-state class of a time in state in steps */
  uint32_t rc_age_cap;   /* the first age (steps) of the last age class */
  uint32_t rc_tis_cap;   /* the first time in state (steps) of the last time-in-state class */
  double *rc_cost;       /* [NRC * B] cost per child per step of each class */
  double *rc_qol;        /* [NRC] */
  char **rc_names;       /* [NRC] e.g. "foster, age 5-10" */
  /* [S * B], [S]: the state's cost to the holder (its QoL weight) varies by age or time in
   * state. Its entry in cost (qol) is then the mean of its uncertainty entry (cost per step),
   * by which a draw scales the vector, or 0 (cost) where it has none. */
  uint8_t *cost_vec;
  uint8_t *qol_vec;
};

/* The reward class of a child in state s of age age and time in state tis (steps). */
static inline size_t fl_reward_class(const fl_model *m, size_t s, uint32_t age, uint32_t tis) {
  const uint32_t a = age < m->age_top ? age : m->age_top, d = tis < m->tis_top ? tis : m->tis_top;
  return (s * m->NRA + m->rc_age[a]) * m->NRD + m->rc_tis[d];
}

/* The multiplier of a child whose stream (purpose HETEROGENEITY) is r: one draw from the
 * distribution, rounded to a multiple of 1 / FL_HET_QUANTUM. */
struct fl_rng;
double fl_het_draw(const fl_het *h, struct fl_rng *r);
/* fl_model_compile for threads that compile at once: the same model, but GSL's error handler
 * (one for the process) is left as it is; the caller turns it off first
 * (gsl_set_error_handler_off) and restores it after. */
fl_status fl_model_compile_threaded(const fl_scenario *sc, fl_model **out,
                                    fl_error *err);

/* Index of the compiled row for a child. */
static inline size_t fl_row_index(const fl_model *m, size_t period, size_t loc, uint32_t age,
                                  uint32_t tis, size_t state) {
  size_t ab = m->age_band[age < m->age_cap ? age : m->age_cap];
  size_t db = m->dur_band[tis < m->dur_cap ? tis : m->dur_cap];
  return ((((period * m->NLOC + loc) * m->NA + ab) * m->ND + db) * m->S) + state;
}

/* Division of 32-bit numbers by a run-time constant d without a divide instruction: with
 * M = floor((2^64 - 1) / d) + 1, n / d = (M * n) >> 64 exactly for every 32-bit n (Lemire,
 * Kaser and Kurz, "Faster remainder by direct computation", 2019). d = 1 is handled apart,
 * where M would overflow. */
static inline uint64_t fl_fast_div_magic(uint32_t d) { return d == 1 ? 0 : UINT64_MAX / d + 1; }
static inline uint32_t fl_fast_div(uint32_t n, uint64_t magic) {
  return magic ? (uint32_t)(((unsigned __int128)magic * n) >> 64) : n;
}

/* rows.c: building quantised rows. fl_row_quantise turns the step probabilities p[S] of
 * from-state s (interventions applied) into a row: out-migration, then thresholds; moves are
 * appended at move_cum/move_dest + *n_moves. fl_row_effects applies an arm's interventions at
 * strengths e[n_int] to p for the row (period cell) of s; returns 0, or -1 when a row would
 * become invalid (staying probability below 0). */
void fl_row_quantise(const fl_model *m, size_t s, const double *p, fl_row *row,
                     uint64_t *move_cum, uint8_t *move_dest, size_t *n_moves);
int fl_row_effects(const fl_model *m, const fl_arm *arm, size_t cell, size_t s, const double *e,
                   double *p);
/* Builds a table of an arm (rows_per_period rows from the period's step probabilities base_p,
 * NULL for the model's own) at intervention strengths e; returns 0 or -1 as fl_row_effects
 * (then *bad_row is the row). */
int fl_table_build(const fl_model *m, const double *base_p, const fl_arm *arm, size_t period,
                   const double *e,
                   fl_row *rows, uint32_t *stay32, uint64_t *move_cum, uint8_t *move_dest,
                   size_t *n_moves, size_t *bad_row);
/* The tables an arm's replication runs on: the model's, or one replication's own under
 * parameter uncertainty. */
typedef struct fl_arm_tables {
  const struct fl_arm *arm; /* the arm with this block's drawn multipliers (NULL: the model's) */
  const fl_row *rows;
  const uint32_t *stay32;
  const uint64_t *move_cum;
  const uint8_t *move_dest;
  const double *base_p; /* step probabilities the tables were built from */
  const double *cost;   /* [S * B] the replication's state costs per step (the model's, or
                           drawn under parameter uncertainty) */
  const uint64_t *het_chosen; /* [rows] fl_het_chosen of the rows (NULL: no heterogeneity) */
} fl_arm_tables;

/* The model's own tables of arm a (the replication's costs: the model's). */
fl_arm_tables fl_model_tables(const fl_model *m, size_t a);

typedef enum fl_timing {
  FL_TIMING_START,
  FL_TIMING_END,
  FL_TIMING_HALF_CYCLE,
  FL_TIMING_SIMPSON,
  FL_TIMING_POINTS
} fl_timing;

/* Discount factor at annual rate r for an amount counted at `years` since the start. */
double fl_discount(double rate, double years);

#endif
