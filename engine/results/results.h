/* The results layer: the arrays a run or an expectation fills, per arm and per comparison, laid
 * out as the output registry says (registry.h), and the outputs derived from the simulation's
 * tallies. Results refer to the model they were made from: free them before it. */
#ifndef FL_RESULTS_H
#define FL_RESULTS_H

#include "results/registry.h"

/* One dataset's values. In Monte Carlo results an array per replication has the replication as
 * its first dimension; expectation results have none. */
typedef struct fl_array {
  fl_output id;
  const char *name; /* the registry's: path under the group, e.g. "spells/ever_in_level" */
  const char *doc;  /* stored as the dataset's "description" attribute */
  fl_dtype type;
  int rank;
  size_t dims[FL_MAX_RANK];
  void *data;
  int not_written;  /* kept for what derives from it only (flows under --no-flows) */
} fl_array;

/* The arrays of one group (an arm's, or an arm's comparison with the baseline), in the order
 * they were made. */
typedef struct fl_arm_results {
  char *name;
  size_t n_arrays, cap;
  fl_array *arrays;
  int index[FL_N_OUTPUTS]; /* 1 + position in arrays of each output, 0 when absent */
} fl_arm_results;

struct fl_results {
  fl_output_ctx ctx;  /* the model, mode and options that decide which outputs exist */
  int expectation;
  uint64_t seed;
  size_t R;
  int psa;            /* parameters drawn per block of psa_inner replications */
  size_t psa_inner;
  double psa_prior;
  int keep_flows;     /* write flows (run --no-flows: not) */
  size_t n_arms;
  fl_arm_results arms[FL_MAX_ARMS];
  fl_arm_results comps[FL_MAX_ARMS]; /* comps[a]: arm a against the baseline (a >= 1) */
  fl_arm_results decision;           /* across all arms: the frontier, the value of
                                        information (FL_GROUP_DECISION) */
  int threads;        /* threads for deriving and comparing (fl_run's; 0: OpenMP's default) */
};

/* New results for the model's arms (names copied), with no arrays yet; NULL on OOM. ctx says
 * the mode and options. */
fl_results *fl_results_create(const fl_output_ctx *ctx);
/* Adds every output of the stage that exists (fl_output_present) to its groups, zeroed
 * (those already there are kept). */
fl_status fl_results_alloc(fl_results *res, fl_stage stage, fl_error *err);
/* The same for a part of them: the outputs with a value per replication (a block of
 * replications holds those), or the others (made once from all replications). */
typedef enum fl_part { FL_PART_ALL, FL_PART_PER_REP, FL_PART_WHOLE } fl_part;
fl_status fl_results_alloc_part(fl_results *res, fl_stage stage, fl_part part, fl_error *err);
/* Zeroes row r (replication r of the block res holds) of every per-replication array. */
void fl_results_zero_row(fl_results *res, size_t r);
/* The threads a loop over the replications of res may use. */
int fl_results_threads(const fl_results *res);

size_t fl_array_count(const fl_array *a);
/* Element i of an array, whatever its type, as a double. */
static inline double fl_array_get(const fl_array *a, size_t i) {
  return a->type == FL_I32 ? (double)((const int32_t *)a->data)[i] : ((const double *)a->data)[i];
}
/* Whether the registry asks for summaries over replications of a. */
static inline int fl_array_summarised(const fl_array *a) {
  return (fl_outputs[a->id].flags & FL_OUT_SUMMARISED) != 0;
}
/* Output id of a group, or NULL when the group has none. */
static inline fl_array *fl_group_get(const fl_arm_results *g, fl_output id) {
  return g->index[id] ? &g->arrays[g->index[id] - 1] : NULL;
}
/* Output id of arm's group (arms, comparisons or, for arm 0, the decision group, as the
 * registry says), or NULL. */
fl_array *fl_results_get(const fl_results *res, size_t arm, fl_output id);
/* Replication rep's part of output id of arm (an array per replication), or NULL. */
void *fl_results_slice(const fl_results *res, size_t arm, fl_output id, size_t rep);
/* The array called name in one group, or NULL (by the registry's names). */
fl_array *fl_group_find(const fl_arm_results *g, const char *name);
fl_array *fl_results_find(fl_results *res, size_t arm, const char *name);
const fl_array *fl_results_find_const(const fl_results *res, size_t arm, const char *name);
/* Points t at replication rep's slice of every tally of arm (base: NULL). */
void fl_results_tally(const fl_results *res, size_t arm, size_t rep, fl_tally *t);

/* derive.c: outputs computed from the tallies after the simulation: costs, QoL (undiscounted
 * and discounted) from occupancy under the model's reward timing, and stocks by level. Works
 * for both Monte Carlo (R replications, int32 counts) and expectation (float64) results.
 * fl_results_derive allocates the derived outputs and derives every replication;
 * fl_results_derive_rep derives row r of arm alone (the outputs allocated, row r zeroed), with
 * scratch room for fl_results_scratch(res) doubles. */
fl_status fl_results_derive(fl_results *res, fl_error *err);
void fl_results_derive_rep(const fl_results *res, size_t arm, size_t r, double *scratch);
size_t fl_results_scratch(const fl_results *res);
/* compare.c: the paired comparisons of every arm with the baseline (after derive).
 * fl_results_compare_rep fills row r of every comparison's per-replication outputs (arm minus
 * baseline costs, cumulative net cost, break-even, totals, net monetary benefit);
 * fl_results_compare allocates and fills them all, and what comes from all replications
 * (fl_across). */
void fl_results_compare_rep(const fl_results *res, size_t r);
fl_status fl_results_compare(fl_results *res, fl_error *err);

/* across.c: what comes from all replications together, accumulated in replication order as
 * they are made (so that a run streaming blocks of replications to its file and one holding
 * them all give the same bits): the ICER, the probability of a saving by year, the
 * acceptability curve and, under --psa with blocks, the split of the variance of the main
 * results into parameter and chance parts. It holds a few numbers per comparison and a double
 * per block of psa_inner replications per series split, never the replications' arrays. */
typedef struct fl_across fl_across;
/* For results like ctx's (ctx->R: all the replications); NULL when out of memory. */
fl_across *fl_across_create(const fl_output_ctx *ctx);
/* Takes in row r of res (derived and compared): the next replication in order. */
void fl_across_add(fl_across *acc, const fl_results *res, size_t r);
/* Fills whole's outputs without a replication dimension (stages COMPARE and DECOMPOSE; they
 * are allocated here) from the replications taken in, which must be all of them. */
fl_status fl_across_finish(fl_across *acc, fl_results *whole, fl_error *err);
void fl_across_free(fl_across *acc);

#endif
