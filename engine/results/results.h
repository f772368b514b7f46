/* The results layer: the named arrays a run or an expectation fills, per arm and per
 * comparison, and the outputs derived from the simulation's integer tallies. */
#ifndef FL_RESULTS_H
#define FL_RESULTS_H

#include "model/model.h"

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

#endif
