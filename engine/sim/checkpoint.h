/* Checkpoints of finished work, for resuming a run or a sweep (see checkpoint.c). */
#ifndef FL_CHECKPOINT_H
#define FL_CHECKPOINT_H

#include "core/recfile.h"
#include "results/results.h"

/* A run's checkpoint: one record per replication. */
typedef struct fl_checkpoint fl_checkpoint;

/* Opens the checkpoint at path for a run of R replications whose tally and parameter arrays
 * block (a block of the run's results: fl_run_stream) holds, as fl_recfile_open's mode says:
 * RESUME reads the one there is (refusing one made by a different run or damaged) and sets
 * done[rep] = 1 for each replication it stores, or starts a new one when there is none; CREATE
 * starts a new one, replacing any; JOIN opens the one another MPI rank opened. found says which
 * happened. */
fl_status fl_checkpoint_open(const char *path, const fl_model *m, const fl_results *block,
                             size_t R, fl_recfile_mode mode, unsigned char *done,
                             fl_checkpoint **out, fl_recfile_found *found, fl_error *err);
/* Stores replication rep from row `row` of block, or loads it into that row (checked against
 * its checksum: a damaged record is an error, never data). Not thread-safe: the caller
 * serialises. */
fl_status fl_checkpoint_save(fl_checkpoint *c, const fl_results *block, size_t row, size_t rep);
fl_status fl_checkpoint_load(fl_checkpoint *c, fl_results *block, size_t row, size_t rep,
                             fl_error *err);
/* Makes everything saved durable. */
fl_status fl_checkpoint_finish(fl_checkpoint *c);
void fl_checkpoint_close(fl_checkpoint *c);

#endif
