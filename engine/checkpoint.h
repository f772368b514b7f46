/* Checkpoints of finished replications, for resuming a run (see checkpoint.c). */
#ifndef FL_CHECKPOINT_H
#define FL_CHECKPOINT_H

#include "internal.h"

typedef struct fl_checkpoint fl_checkpoint;

/* Opens the checkpoint at path for the run whose tally arrays res holds (allocated, not yet
 * derived). resume: read it, refuse one made by a different run, load its stored replications
 * into res and set done[rep] = 1 for each. Otherwise create (a new, empty one) or, when create
 * is 0, open the one another MPI rank created. */
fl_status fl_checkpoint_open(const char *path, const fl_model *m, fl_results *res, int resume,
                             int create, unsigned char *done, fl_checkpoint **out, fl_error *err);
/* Stores replication rep (not thread-safe: the caller serialises). */
fl_status fl_checkpoint_save(fl_checkpoint *c, const fl_results *res, size_t rep);
/* Makes everything saved durable. */
fl_status fl_checkpoint_finish(fl_checkpoint *c);
void fl_checkpoint_close(fl_checkpoint *c);

#endif
