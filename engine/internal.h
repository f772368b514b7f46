/* Internal declarations shared by the engine's files. Nothing here is part of the public API. */
#ifndef FL_INTERNAL_H
#define FL_INTERNAL_H

#include "flourish.h"

#include <stdarg.h>
#include <stdint.h>
#include <stddef.h>

#define FL_MAX_STATES 250
#define FL_MAX_LEVELS 15 /* level bits share a 16-bit history word with one flag */
#define FL_MAX_LOCALITIES 250
#define FL_MAX_HOLDERS 64
#define FL_MAX_ARMS 16
#define FL_MAX_INTERVENTIONS 32 /* per arm */
#define FL_DEST_EXIT 255 /* move destination meaning "leaves the population" */
#define FL_AGE_NONE 0xFFFFu
/* Completed spells are binned by length in steps: bin k holds spells of k+1 steps, the last bin
 * holds every spell of FL_SPELL_BINS steps or more. */
#define FL_SPELL_BINS 240
/* Probabilities are sampled by comparing one 32-bit draw with integer thresholds, so each
 * outcome's probability is quantised to a multiple of 2^-32 (error below 2.4e-10). Expectation
 * mode uses the same quantised values, so it is the exact expectation of what is simulated. */
#define FL_P_ONE 4294967296.0 /* 2^32 */

/* error.c */
void fl_error_set(fl_error *err, fl_status code, const char *file, int line, int col,
                  const char *key, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
void fl_error_clear(fl_error *err);

/* util.c: checked allocation and small string helpers. fl_xcalloc returns NULL on overflow. */
void *fl_calloc(size_t n, size_t size);
void *fl_malloc_array(size_t n, size_t size);
char *fl_strdup(const char *s);
/* A copy of n strings, or NULL (nothing left allocated) when memory runs out; freeing one. */
char **fl_names_dup(char *const *names, size_t n);
void fl_names_free(char **names, size_t n);
/* FNV-1a over n bytes, continuing from h (start from FL_FNV_BASIS): keys of checkpoints and
 * hash tables, not cryptography. */
#define FL_FNV_BASIS 0xcbf29ce484222325ULL
uint64_t fl_fnv1a(uint64_t h, const void *data, size_t n);
fl_status fl_read_file(const char *path, char **text, size_t *len, fl_error *err);
/* Output files are written under a temporary name beside their path and renamed into place when
 * complete. fl_tmp_name gives this process's n-th such name for path, PATH.tmp.HOST.PID.N, HOST
 * 8 hex digits of a hash of the host's name (NULL when out of memory; free it). fl_tmp_clean
 * removes the temporary files beside path that processes of this host left when they were
 * killed while writing (their PID no longer runs); other hosts' names, sharing the directory,
 * are left alone. Hosts that share a name but not their processes (containers on the host's
 * network) are taken for one host. */
char *fl_tmp_name(const char *path, unsigned n);
void fl_tmp_clean(const char *path);

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
 * h(spend) / h(spend_ref) with h(x) = x / (x + half_sat) (1 without dose-response). At strength
 * e a multiplier m acts as 1 + (m - 1) e on the probabilities of the targeted rows. */
typedef enum fl_shape { FL_SHAPE_LINEAR, FL_SHAPE_LOGISTIC, FL_SHAPE_EXPONENTIAL } fl_shape;
typedef struct fl_intervention {
  char *name;
  double start, end;      /* months since the start of the run; end may be infinite */
  double ramp, decay;     /* months to full effect, and to no effect after the end */
  fl_shape ramp_shape;
  uint8_t *state_on;      /* [S] rows of these from-states are targeted */
  uint8_t *loc_on;        /* [NLOC] */
  uint32_t age_lo, age_hi; /* targeted ages in steps, [lo, hi) */
  double esc, deesc;      /* multipliers on escalation and de-escalation probabilities */
  double *move;           /* [S * S] multipliers on named moves (1: none) */
  double spend;           /* spend per month (its monthly cost) */
  double ref_spend;       /* spend per month at which the multipliers apply in full */
  double half_sat;        /* half-saturation spend; 0: no dose-response */
  double setup_cost, child_cost; /* one-off at the start; per child reached per month */
  size_t holder;          /* budget holder charged */
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
typedef enum fl_target { FL_TGT_COST, FL_TGT_QOL, FL_TGT_ESC, FL_TGT_DEESC } fl_target;
typedef struct fl_uncertain {
  fl_dist dist;
  fl_target target;
  size_t i, j;      /* (state, holder), (state, -), or (arm, intervention) */
  double mean, sd;
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
} fl_arm;

struct fl_model {
  char *name;
  char *scenario_path;
  char *scenario_text;
  char *scenario_overrides; /* --set assignments applied to scenario_text, one per line */
  size_t S, L, B, NLOC;
  char **state_names, **level_names, **holder_names, **loc_names;
  uint8_t *state_level; /* [S] */
  uint8_t *absorbing;   /* [S] */
  double step_months;
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
  size_t n_unc;           /* parameter distributions (uncertainty section) */
  struct fl_uncertain *unc;
  double cost_factor;     /* state costs as given -> per step */
  double *trans_cost;    /* [S * S * B] one-off cost of a move from (first) to (second) */
  double *trans_qaly;    /* [S * S] one-off QALY change of a move */
  int reward_timing;     /* fl_timing */
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
};

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
} fl_arm_tables;

/* Time profile of an intervention at step t (0 to 1), and its dose factor at a spend. */
double fl_intervention_profile(const fl_model *m, const fl_intervention *iv, size_t t);
double fl_intervention_dose(const fl_intervention *iv, double spend);

typedef enum fl_timing {
  FL_TIMING_START, FL_TIMING_END, FL_TIMING_HALF_CYCLE, FL_TIMING_SIMPSON
} fl_timing;

/* Discount factor at annual rate r for an amount counted at `years` since the start. */
double fl_discount(double rate, double years);

/* Results are a list of named n-dimensional arrays per arm. In Monte Carlo results every array
 * has the replication as its first dimension; expectation results have none. */
typedef enum fl_dtype { FL_I32, FL_F64 } fl_dtype;
#define FL_MAX_RANK 8
typedef struct fl_array {
  const char *name; /* path under /arms/<arm>/, e.g. "stocks" or "spells/ever_in_level" */
  const char *doc;  /* one sentence stored as the dataset's "description" attribute */
  fl_dtype type;
  int rank;
  size_t dims[FL_MAX_RANK];
  void *data;
  int not_written;  /* kept for derived outputs only (flows under --no-flows) */
  int no_summary;   /* a statistic across replications, not per replication */
} fl_array;

#define FL_MAX_ARRAYS 24
typedef struct fl_arm_results {
  char *name;
  size_t n_arrays;
  fl_array arrays[FL_MAX_ARRAYS];
} fl_arm_results;

struct fl_results {
  int expectation;
  uint64_t seed;
  size_t R;
  int psa;            /* parameters drawn per block of psa_inner replications */
  size_t psa_inner;
  double psa_prior;
  size_t n_arms;
  fl_arm_results arms[FL_MAX_ARMS];
  fl_arm_results comps[FL_MAX_ARMS]; /* comps[a]: arm a against the baseline (a >= 1) */
  int threads;        /* threads for deriving and comparing (fl_run's; 0: OpenMP's default) */
};
/* The threads a loop over the replications of res may use. */
int fl_results_threads(const fl_results *res);

size_t fl_array_count(const fl_array *a);
/* The array called name in one group (an arm's or a comparison's results), or NULL. */
fl_array *fl_group_find(const fl_arm_results *g, const char *name);
/* Element i of an array, whatever its type, as a double. */
static inline double fl_array_get(const fl_array *a, size_t i) {
  return a->type == FL_I32 ? (double)((const int32_t *)a->data)[i] : ((const double *)a->data)[i];
}
fl_array *fl_results_find(fl_results *res, size_t arm, const char *name);
const fl_array *fl_results_find_const(const fl_results *res, size_t arm, const char *name);
/* Adds a zeroed array to an arm; returns its data or NULL on OOM. */
void *fl_results_add(fl_arm_results *arm, const char *name, const char *doc, fl_dtype type,
                     int rank, const size_t *dims);

/* Derived outputs computed from the integer tallies after the simulation: costs, QoL
 * (undiscounted and discounted) from occupancy (stocks at the start of a step plus that step's
 * entries), and stocks by level. Works for both Monte Carlo (R reps, int32) and expectation
 * (R = 0: no replication dimension, float64) results. */
fl_status fl_results_derive(fl_results *res, const fl_model *m, fl_error *err);
/* compare.c: the paired comparisons of every arm with the baseline (after derive); with
 * parameter uncertainty in blocks of two or more replications, the split of the variance of
 * the main results into parameter and chance parts. */
fl_status fl_results_compare(fl_results *res, const fl_model *m, fl_error *err);
fl_status fl_results_decompose(fl_results *res, const fl_model *m, fl_error *err);

/* h5out.c: a small HDF5 file of float64 datasets and name lists, written atomically (used by
 * the calibration report and sweeps). Dataset names are paths; groups are created as needed.
 * A dataset can be an HDF5 dimension scale (scale: its name) and can have scales attached to
 * its dimensions (attach[d]: 1 + the index of the scale in the same list, 0 for none), so
 * that readers such as xarray label each dimension. */
typedef struct fl_h5_dataset {
  const char *name, *doc;
  int rank;
  size_t dims[FL_MAX_RANK];
  const double *data;
  const char *scale;
  size_t attach[FL_MAX_RANK];
} fl_h5_dataset;
typedef struct fl_h5_names {
  const char *name;
  char *const *names;
  size_t n;
} fl_h5_names;
/* attrs: n_attrs (name, value) pairs of strings for the root group, after flourish_version. */
fl_status fl_h5_write_simple(const char *path, const fl_h5_dataset *ds, size_t n,
                             const fl_h5_names *names, size_t n_names,
                             const char *const (*attrs)[2], size_t n_attrs, fl_error *err);

/* Summary statistics of one cell's R values v (reordered): out[k * cells + c] for k = 0 mean,
 * 1 sd, 2 mcse, then the quantiles 0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975 (type 7). whole:
 * the values are whole numbers (counted when their range is below hist_len, else selected). */
#define FL_N_QUANTILES 7
void fl_summarise_cell(double *v, size_t R, int whole, uint32_t *hist, size_t hist_len,
                       double *out, size_t cells, size_t c);

#endif
