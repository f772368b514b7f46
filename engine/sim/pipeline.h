/* The pipeline of a Monte Carlo run's replications (pipeline.c), private to sim/: run.c sets
 * it up (slots, checkpoint, threads) and reads its outcome. */
#ifndef FL_PIPELINE_H
#define FL_PIPELINE_H

#include "sim/checkpoint.h"
#include "sim/sim.h"

typedef struct fl_pipe fl_pipe;

typedef struct fl_pipe_config {
  const fl_model *m;
  const fl_run_options *opt;
  const fl_block_sink *sink; /* rank 0's (NULL: none) */
  fl_path path;
  fl_checkpoint *ck;         /* NULL: none */
  const unsigned char *done_rep; /* [R] replications the checkpoint holds (NULL: none) */
  fl_across *across;         /* rank 0: the sums across replications */
  int rank, ranks;
  int inner;                 /* threads inside each replication */
  size_t R, block_reps;
  fl_results *const *slots;  /* n_slots blocks of results, rows for block_reps each */
  size_t n_slots;
} fl_pipe_config;

fl_pipe *fl_pipe_create(const fl_pipe_config *cfg);
void fl_pipe_free(fl_pipe *p);
/* Runs every replication of this rank through the pipeline, on `threads` threads. */
void fl_pipe_run(fl_pipe *p, int threads);
/* The first failure (lowest replication), or -1; its code and, where one was made, its error
 * (err->code FL_OK otherwise). */
long long fl_pipe_failure(const fl_pipe *p, fl_status *code, fl_error *err);

#endif
