/* Record files: the checkpoints of long jobs (a run's replications, a sweep's points). See
 * recfile.c. */
#ifndef FL_RECFILE_H
#define FL_RECFILE_H

#include "core/core.h"

/* A file of n fixed-size records identified by a key (what decides the records' contents),
 * each marked once it is durable, each with a checksum of the key, its index and its bytes. */
typedef struct fl_recfile fl_recfile;
typedef enum fl_recfile_mode {
  FL_RECFILE_CREATE, /* a new, empty file, replacing any there was */
  FL_RECFILE_RESUME, /* the file there is, which must have this magic and key (else a usage
                        error saying mismatch); a new one when there is none */
  FL_RECFILE_JOIN    /* the file another MPI rank opened (done as it stands) */
} fl_recfile_mode;
/* What opening found. */
typedef enum fl_recfile_found {
  FL_RECFILE_NONE,     /* no file: a new one */
  FL_RECFILE_REPLACED, /* CREATE replaced a file that was there */
  FL_RECFILE_RESUMED   /* RESUME found its file; done says which records it holds */
} fl_recfile_found;
/* done[n]: 1 for each record stored. crash_env names the testing aid's environment variable
 * (NULL: none): set to N, the process ends abruptly once N records are durable. found (may be
 * NULL) says what was there. A damaged header or marks are an FL_EINPUT error. */
fl_status fl_recfile_open(const char *path, const char magic[8], uint64_t key, size_t n,
                          size_t rec_bytes, fl_recfile_mode mode, const char *mismatch,
                          const char *crash_env, unsigned char *done, fl_recfile **out,
                          fl_recfile_found *found, fl_error *err);
/* Reads record i and checks its checksum: a damaged record (or one of another job) is an
 * FL_EINPUT error naming it, never data. */
fl_status fl_recfile_read(fl_recfile *f, size_t i, void *rec, fl_error *err);
/* Stores record i (not thread-safe: the caller serialises). */
fl_status fl_recfile_write(fl_recfile *f, size_t i, const void *rec);
/* Makes everything written durable. */
fl_status fl_recfile_finish(fl_recfile *f);
void fl_recfile_close(fl_recfile *f);

#endif
