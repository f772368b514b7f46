/* Checkpoints of finished work, for resuming a run or a sweep (see checkpoint.c). */
#ifndef FL_CHECKPOINT_H
#define FL_CHECKPOINT_H

#include "results/results.h"

/* A file of n fixed-size records identified by a key, each marked once it is durable. */
typedef struct fl_recfile fl_recfile;
typedef enum fl_recfile_mode {
  FL_RECFILE_CREATE, /* a new, empty file (truncates an old one) */
  FL_RECFILE_RESUME, /* an existing file with this magic and key, else a usage error saying
                        mismatch; done[i] = 1 for each stored record */
  FL_RECFILE_JOIN    /* the file another MPI rank created */
} fl_recfile_mode;
/* crash_env names the testing aid's environment variable (NULL: none): set to N, the
 * process ends abruptly once N records are durable. */
fl_status fl_recfile_open(const char *path, const char magic[8], uint64_t key, size_t n,
                          size_t rec_bytes, fl_recfile_mode mode, const char *mismatch,
                          const char *crash_env, unsigned char *done, fl_recfile **out,
                          fl_error *err);
fl_status fl_recfile_read(fl_recfile *f, size_t i, void *rec);
/* Stores record i (not thread-safe: the caller serialises). */
fl_status fl_recfile_write(fl_recfile *f, size_t i, const void *rec);
/* Makes everything written durable. */
fl_status fl_recfile_finish(fl_recfile *f);
void fl_recfile_close(fl_recfile *f);

/* A run's checkpoint: one record per replication. */
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
