/* flourish sweep: a scenario run at many points of a parameter space, each point's scenario
 * made by --set assignments, with the results summarised per point and sensitivity measures
 * across points. */
#ifndef FL_SWEEP_H
#define FL_SWEEP_H

#include "flourish.h"

/* Saltelli's design for variance-based (Sobol) indices: for each of `points` base rows, two
 * quasi-random rows A and B and the K rows A with column k from B, K + 2 points in all. */
typedef enum fl_design {
  FL_DESIGN_GRID,
  FL_DESIGN_LHS,
  FL_DESIGN_SOBOL,
  FL_DESIGN_SALTELLI
} fl_design;

#define FL_SWEEP_MAX_PARAMS 40 /* GSL's Sobol generator goes to 40 dimensions */

typedef struct fl_sweep_param {
  const char *path; /* a key path as --set takes it */
  double lo, hi;
  size_t levels;    /* grid points (grid design; 1 keeps lo) */
} fl_sweep_param;

typedef struct fl_sweep_options {
  fl_sweep_param params[FL_SWEEP_MAX_PARAMS];
  size_t n_params;
  fl_design design;
  size_t points;        /* LHS and Sobol designs; base rows of the Saltelli design */
  const char *const *sets; /* fixed assignments applied at every point */
  size_t n_sets;
  int expect;           /* expectation mode at each point instead of replications */
  fl_run_options run;   /* seed, replications, threads: the same at every point */
  /* Where to keep finished points (NULL: nowhere); with resume nonzero, the stored ones are
   * read back instead of run again. The output is the same bytes either way. */
  const char *checkpoint;
  int resume;
  const char *git_commit, *command_line; /* provenance written to the output */
  void (*progress)(void *ctx, size_t done, size_t total);
  void *progress_ctx;
} fl_sweep_options;

/* Builds the design, runs the scenario at every point (the same seed at each: common random
 * numbers, so differences between points are the parameters' effects, not chance), and writes
 * per-point summaries and sensitivity measures to out atomically. */
fl_status fl_sweep(const char *scenario, const fl_sweep_options *opt, const char *out,
                   fl_error *err);

/* The design's points, in [lo, hi] per parameter: values[p * K + k]. Returns the number of
 * points (0 on bad options or no memory: err says which). For the grid the last parameter
 * varies fastest; Saltelli's design is in blocks of K + 2 points per base row: A, B, then A
 * with column k from B for each k. */
size_t fl_sweep_design(const fl_sweep_options *opt, double **values, fl_error *err);

#endif
