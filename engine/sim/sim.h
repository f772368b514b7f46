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

#endif
