/* The output registry: one row per dataset a run or an expectation writes (its name, group,
 * element type, dimensions by name, unit, description, how the parts of a replication combine
 * it, whether it is summarised over replications and when it is present). Everything that
 * handles outputs follows from it: the simulation's tallies and their per-thread sums, the
 * result arrays, checkpoint records, the HDF5 writer and its summaries, MPI's gathering and the
 * reference in docs/output.md (`flourish validate --outputs --markdown`).
 *
 * Adding a dataset: an id in fl_output, its row in registry.c (in stage order), and the code
 * that fills it: a tally is counted in sim/sim.c (and expected in sim/expect.c, unless the row
 * says Monte Carlo only), a derived output in results/derive.c, a comparison in
 * results/compare.c. Nothing else lists datasets. */
#ifndef FL_REGISTRY_H
#define FL_REGISTRY_H

#include "model/model.h"

/* The most parameters in the group of --evppi (results/decision.h: FL_EVPPI_MAX). */
#define FL_EVPPI_GROUP_MAX 6

/* Element types and the most dimensions an array has. */
typedef enum fl_dtype { FL_I32, FL_F64 } fl_dtype;
#define FL_MAX_RANK 8

/* Every dataset, in the order of the table (and of the file). */
typedef enum fl_output {
  /* Tallies: counted while simulating (or expected), per arm. */
  FL_OUT_STOCKS,
  FL_OUT_STOCKS_BY_LOCALITY,
  FL_OUT_FLOWS,
  FL_OUT_ENTRIES,
  FL_OUT_EXITS,
  FL_OUT_LENGTH_OF_STAY,
  FL_OUT_EVER_IN_LEVEL,
  FL_OUT_REENTRIES,
  FL_OUT_SKIPS,
  FL_OUT_MOVES_PER_CHILD,
  FL_OUT_IV_SPEND,
  FL_OUT_IV_REACHED,
  FL_OUT_IV_REACHED_BY_STATE,
  FL_OUT_IV_REACHED_END,
  FL_OUT_IV_REACHED_END_BY_STATE,
  FL_OUT_HET_STOCKS,
  FL_OUT_HET_ENTRIES,
  FL_OUT_RC_STOCKS,
  FL_OUT_RC_ENTRIES,
  FL_OUT_HET_RC_STOCKS,
  FL_OUT_HET_RC_ENTRIES,
  /* Parameters drawn for each replication (--psa with an uncertainty section), baseline only. */
  FL_OUT_PARAM_COST,
  FL_OUT_PARAM_QOL,
  FL_OUT_PARAM_DRAWN,
  /* Derived from the tallies, per arm. */
  FL_OUT_STOCKS_BY_LEVEL,
  FL_OUT_INFLOW_BY_LEVEL,
  FL_OUT_OUTFLOW_BY_LEVEL,
  FL_OUT_COSTS,
  FL_OUT_COSTS_DISCOUNTED,
  FL_OUT_QOL,
  FL_OUT_QOL_DISCOUNTED,
  /* The split of the variance under --psa with blocks, per arm. */
  FL_OUT_VD_TOTAL_COST,
  FL_OUT_VD_TOTAL_QALYS,
  FL_OUT_VD_END_STOCK_BY_LEVEL,
  /* Comparisons of each arm with the baseline. */
  FL_OUT_DELTA_COSTS,
  FL_OUT_DELTA_COSTS_DISCOUNTED,
  FL_OUT_CUMULATIVE_NET_COST,
  FL_OUT_CUMULATIVE_NET_COST_DISCOUNTED,
  FL_OUT_DELTA_QALYS,
  FL_OUT_DELTA_COST_TOTAL,
  FL_OUT_DELTA_QALY_TOTAL,
  FL_OUT_NET_MONETARY_BENEFIT,
  FL_OUT_BREAKEVEN_STEP,
  FL_OUT_WILLINGNESS_TO_PAY,
  FL_OUT_ICER,
  FL_OUT_P_SAVING_BY_YEAR,
  FL_OUT_P_COST_EFFECTIVE,
  FL_OUT_VD_DELTA_COST_TOTAL,
  FL_OUT_VD_DELTA_QALY_TOTAL,
  /* Decisions across all arms, at the top of the file. */
  FL_OUT_FRONTIER_DELTA_COST,
  FL_OUT_FRONTIER_DELTA_QALYS,
  FL_OUT_FRONTIER_STATUS,
  FL_OUT_FRONTIER_DOMINATED_BY,
  FL_OUT_FRONTIER_ICER,
  FL_OUT_EVPI,
  FL_OUT_EVPPI,
  FL_N_OUTPUTS
} fl_output;

/* The groups of the file: /arms/<arm>/..., /comparisons/<arm>/... and, for what looks at all
 * arms at once, the decision datasets /<name> (one set per file, kept with arm 0). */
typedef enum fl_group { FL_GROUP_ARM, FL_GROUP_COMPARISON, FL_GROUP_DECISION } fl_group;

/* When an output is made, and by whom. */
typedef enum fl_stage {
  FL_STAGE_TALLY,     /* counted by the simulation or expectation mode */
  FL_STAGE_PARAMS,    /* drawn for each replication by the run */
  FL_STAGE_DERIVED,   /* fl_results_derive */
  FL_STAGE_COMPARE,   /* fl_results_compare */
  FL_STAGE_DECOMPOSE, /* fl_results_decompose */
  FL_STAGE_DECISION   /* fl_across_finish, from all arms' means (results/decision.h) */
} fl_stage;

/* Named dimensions and their sizes (fl_dim_size). A Monte Carlo dataset per replication has
 * FL_DIM_REPLICATION first; expectation mode leaves it out. */
typedef enum fl_dim {
  FL_DIM_NONE,        /* (ends the list of a dataset's dimensions) */
  FL_DIM_REPLICATION, /* R */
  FL_DIM_TIME,        /* T + 1 time points: the start of each step, then the end of the run */
  FL_DIM_STEP,        /* T */
  FL_DIM_STATE,       /* S (from-state of flows) */
  FL_DIM_TO_STATE,    /* S */
  FL_DIM_LEVEL,       /* L */
  FL_DIM_HOLDER,      /* B */
  FL_DIM_LOCALITY,    /* NLOC */
  FL_DIM_SPELL_LENGTH, /* FL_SPELL_BINS */
  FL_DIM_MOVES,       /* FL_MOVE_BINS */
  FL_DIM_INTERVENTION, /* the arm's interventions */
  FL_DIM_WTP,         /* willingness-to-pay values */
  FL_DIM_YEAR,        /* years of the horizon (the last may be partial) */
  FL_DIM_COMPONENT,   /* 3: parameter variance, chance variance, parameter share */
  FL_DIM_ONE,         /* 1 */
  FL_DIM_ARM,         /* every arm, the baseline first */
  FL_DIM_PARAMETER,   /* the uncertainty section's entries */
  FL_DIM_REWARD_CLASS, /* the model's reward classes (NRC) */
  FL_N_DIMS
} fl_dim;

/* How the parts of one replication (threads inside it) combine a tally. */
typedef enum fl_combine {
  FL_COMBINE_SUM,   /* each part counts its own children: the parts' counts add up */
  FL_COMBINE_FIRST  /* every part computes the same value: the first part's is kept */
} fl_combine;

/* When a dataset is present. */
typedef enum fl_when {
  FL_WHEN_ALWAYS,
  FL_WHEN_LOCALITIES,     /* the model has more than one locality */
  FL_WHEN_INTERVENTIONS,  /* the arm has interventions */
  FL_WHEN_STATE_REACH,    /* the arm has an intervention whose kind changes costs */
  FL_WHEN_REACH_END,      /* the arm has interventions and rewards.timing counts the children
                             present at the end of steps (every timing but start) */
  FL_WHEN_STATE_REACH_END, /* both of the above */
  FL_WHEN_HET_REWARDS,    /* the heterogeneity multiplier applies to state costs or QoL */
  FL_WHEN_REWARD_CLASSES, /* some state cost or QoL weight varies by age or time in state */
  FL_WHEN_HET_REWARD_CLASSES, /* both of the two above */
  FL_WHEN_PSA_DRAWS,      /* the baseline, under --psa with an uncertainty section */
  FL_WHEN_PSA_BLOCKS,     /* under --psa with blocks of two or more replications */
  FL_WHEN_PSA,            /* under --psa */
  FL_WHEN_EVPPI           /* under --psa with --evppi */
} fl_when;

/* Modes a dataset exists in. */
#define FL_IN_MC 1u
#define FL_IN_EXPECT 2u

/* Flags. */
#define FL_OUT_SUMMARISED 1u /* summaries over replications are written beside it */
#define FL_OUT_OMITTABLE 2u  /* computed always, written unless the run leaves it out
                                (--no-flows) */

typedef struct fl_output_def {
  const char *name;       /* path under the group, e.g. "stocks" or "spells/ever_in_level" */
  fl_group group;
  fl_stage stage;
  fl_dtype type;          /* in Monte Carlo results; expectation mode stores float64 */
  fl_dim dims[FL_MAX_RANK]; /* in Monte Carlo results, up to the first FL_DIM_NONE */
  const char *unit;
  const char *doc;        /* the dataset's "description" attribute */
  const char *doc_expect; /* the same in expectation mode (NULL: doc) */
  fl_combine combine;     /* tallies only */
  fl_when when;
  unsigned modes;         /* FL_IN_MC | FL_IN_EXPECT */
  unsigned flags;
} fl_output_def;

extern const fl_output_def fl_outputs[FL_N_OUTPUTS];
/* Names of the dimensions (fl_dim), as the reference and the file's dimension labels give
 * them. */
extern const char *const fl_dim_names[FL_N_DIMS];
/* Each dimension's coordinate: its description, and the units of a numeric one (NULL for
 * names; time and step carry calendar units of their own). */
extern const char *const fl_dim_docs[FL_N_DIMS];
extern const char *const fl_dim_units[FL_N_DIMS];

/* Bins of moves_per_child: bin k counts children with k moves, the last those with
 * FL_MOVE_BINS - 1 or more. */
#define FL_MOVE_BINS 64

/* What decides which datasets exist: the model, and the run's options. */
typedef struct fl_output_ctx {
  const fl_model *m;
  size_t R;        /* replications (Monte Carlo) */
  int expectation; /* expectation mode */
  int psa;         /* parameters drawn per block */
  size_t psa_inner;
  size_t n_evppi;  /* the parameter group of --evppi: indices into m->unc */
  size_t evppi[FL_EVPPI_GROUP_MAX];
} fl_output_ctx;

/* Whether output id exists for arm (its group's arm; comparisons exist for arms >= 1, the
 * decision datasets for arm 0 only). */
int fl_output_present(const fl_output_ctx *c, fl_output id, size_t arm);
/* The size of dimension d for arm. */
size_t fl_dim_size(const fl_output_ctx *c, fl_dim d, size_t arm);
/* The shape of output id for arm in this mode (the replication dimension left out in
 * expectation mode); returns the rank and fills dims. */
int fl_output_shape(const fl_output_ctx *c, fl_output id, size_t arm, size_t *dims);
/* The element type of output id in this mode. */
fl_dtype fl_output_type(const fl_output_ctx *c, fl_output id);
/* The description of output id in this mode. */
const char *fl_output_doc(const fl_output_ctx *c, fl_output id);
/* Whether output id has a value per replication (its first dimension is the replication) in
 * Monte Carlo results: those are streamed to the file block by block; the rest are made once,
 * from all replications (fl_across). */
static inline int fl_output_per_rep(fl_output id) {
  return fl_outputs[id].dims[0] == FL_DIM_REPLICATION;
}
static inline size_t fl_dtype_size(fl_dtype t) { return t == FL_I32 ? 4 : 8; }

/* The tallies of one replication of one arm: the replication's slice of every tally dataset
 * (NULL where the arm has none), and the baseline's tallies of the same replication (for arms
 * that reinvest their savings; NULL for the baseline). */
typedef struct fl_tally {
  void *at[FL_N_OUTPUTS];
  const struct fl_tally *base;
} fl_tally;
static inline int32_t *fl_tally_i32(const fl_tally *t, fl_output id) {
  return (int32_t *)t->at[id];
}
static inline double *fl_tally_f64(const fl_tally *t, fl_output id) { return (double *)t->at[id]; }

/* The tallies of one replication of one arm laid out in one block of memory (threads inside a
 * replication give each part one): every dataset at an offset that starts a cache line. */
typedef struct fl_tally_layout {
  size_t n;
  fl_output id[FL_N_OUTPUTS];
  size_t offset[FL_N_OUTPUTS]; /* bytes */
  size_t count[FL_N_OUTPUTS];  /* elements */
  size_t bytes;                /* the block, a whole number of cache lines */
} fl_tally_layout;
/* The layout of arm's tallies (FL_STAGE_TALLY datasets present, one replication's). */
void fl_tally_layout_init(fl_tally_layout *l, const fl_output_ctx *c, size_t arm);
/* Points t at the datasets of a block laid out by l (base left alone). */
void fl_tally_bind(fl_tally *t, const fl_tally_layout *l, void *block);

/* fl_outputs_print, the reference of every dataset (docs/output.md), is public
 * (flourish.h). */

#endif
