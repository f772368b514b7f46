/* One replication of the agent simulation. */
#ifndef FL_SIM_H
#define FL_SIM_H

#include "results/results.h"
#include "sim/pass.h"

/* The tallies a replication counts into are an fl_tally (results/registry.h): the
 * replication's slice of every tally dataset, zeroed by the caller. */

/* Per-thread scratch space, reused across replications so that the step loop allocates
 * nothing. Create once per thread, for one model (its buffers are sized for it); not shared. */
typedef struct fl_workspace fl_workspace;
fl_workspace *fl_workspace_create(const fl_model *m);
void fl_workspace_free(fl_workspace *ws);
/* The bytes a workspace holds per child (the total): the hot state the pass reads and writes,
 * the history only events touch and, with more than one arm, the copy of the children as the
 * first arm created them, which the others copy. Buffers are sized for every child a
 * replication ever holds. */
size_t fl_workspace_child_bytes(const fl_model *m, size_t *hot, size_t *history,
                                size_t *initial);
/* The bytes of the event list of each thread stepping children (fixed: one chunk's events). */
size_t fl_workspace_event_bytes(void);
/* Threads inside each replication (1 by default): the children are split into parts, one a
 * thread of a nested OpenMP team, each stepped on its own and their tallies added up at the
 * end (an arm that reinvests its savings meets once a step). Worth it when replications are
 * fewer than threads and populations large; the results are the same for any number. At most
 * FL_MAX_STEP_THREADS. Returns nonzero on OOM (the workspace then uses 1). */
#define FL_MAX_STEP_THREADS 256
int fl_workspace_set_threads(fl_workspace *ws, const fl_model *m, int threads);

/* Simulates replication rep of arm on the given tables (the model's, or the replication's own
 * under parameter uncertainty) with the given seed, using the given hot-pass path (the
 * results do not depend on it). Returns FL_ENOMEM if the population
 * buffer could not grow (before the step loop starts). */
fl_status fl_simulate(const fl_model *m, size_t arm, const fl_arm_tables *tables, uint64_t seed,
                      uint64_t rep, fl_path path, fl_workspace *ws, const fl_tally *tally);

/* Monte Carlo runs stream their replications, a block of them at a time and in replication
 * order, to a sink (the HDF5 writer, the in-memory results of fl_run, a sweep's point record),
 * so that what a run holds does not grow with the number of replications (pipeline.c). */

/* What a sink learns before the first block: the replications in all, the replications a
 * block holds (the last may hold fewer) and the blocks of results the run will hand over
 * (slots, each with rows for block_reps replications: every per-replication output of the
 * run's stages, tallies to comparisons). */
typedef struct fl_stream_info {
  size_t R, block_reps, n_blocks, n_slots;
  fl_results *const *slots;
} fl_stream_info;

/* A sink. Every callback may be NULL. tasks says how many independent pieces of work a complete
 * block needs (compressing its chunks, say); the run hands them to whichever threads are free,
 * several at a time, and then commits the block: blocks are committed one at a time, in
 * replication order (under MPI, on rank 0, which receives the other ranks' blocks). A task or
 * commit that fails returns an error; the run then stops and reports it. */
typedef struct fl_block_sink {
  void *ctx;
  fl_status (*begin)(void *ctx, const fl_stream_info *info, fl_error *err);
  size_t (*tasks)(void *ctx, size_t slot, size_t rep0, size_t n);
  fl_status (*task)(void *ctx, size_t slot, size_t i, fl_error *err);
  fl_status (*commit)(void *ctx, size_t slot, size_t rep0, size_t n, fl_error *err);
} fl_block_sink;

/* Runs the model's replications (fl_run's options) into the sink, and fills whole (when not
 * NULL: results made with the run's R, fl_run_results_create) with what comes from all
 * replications together (ICER, acceptability, the variance split: fl_across). Under MPI the
 * sink and whole are used on rank 0 only. */
fl_status fl_run_stream(const fl_model *m, const fl_run_options *opt, const fl_block_sink *sink,
                        fl_results *whole, fl_error *err);
/* Empty results (no arrays) for a run of the model with these options; NULL on OOM. */
fl_results *fl_run_results_create(const fl_model *m, const fl_run_options *opt, size_t R);
/* The replications of a block for a run of R: R when fewer than 64, else 64. */
size_t fl_stream_block_reps(size_t R);

/* The lean expectation pass of `flourish fit` (expect_series.c): the baseline's expected
 * stocks at the start of each step [(T + 1), NLOC, S], and within each step the flows
 * [T, NLOC, S (from), S (to)], the entrants [T, NLOC, S] and those who left (out-migration and
 * the maximum age) [T, NLOC, S], the same numbers as fl_expect's, without costs, QoL or
 * interventions. The workspace is sized for a model's grid and kept across evaluations of
 * models with the same grid (the same states, localities, ages, bands and horizon). */
typedef struct fl_series {
  size_t T, NLOC, S;
  double *stocks, *flows, *entries, *exits;
} fl_series;
typedef struct fl_series_ws fl_series_ws;
fl_series_ws *fl_series_ws_create(const fl_model *m);
void fl_series_ws_free(fl_series_ws *w);
/* *out points into the workspace, valid until its next use. */
fl_status fl_expect_series(const fl_model *m, fl_series_ws *w, const fl_series **out,
                           fl_error *err);

#endif
