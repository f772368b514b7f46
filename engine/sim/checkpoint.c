/* A run's checkpoint: one record per replication (a record file, core/recfile.c), holding every
 * tally and parameter array's slice, arm by arm, in the order the run allocates them. */
#include "sim/checkpoint.h"

#include <stdlib.h>
#include <string.h>

struct fl_checkpoint {
  fl_recfile *file;
  size_t R;
  unsigned char *block; /* one replication's record */
};

/* Whether an array is part of a replication's record: what the simulation counted and the
 * parameters drawn for it (the rest derives from them). */
static int in_record(const fl_array *a) {
  return fl_outputs[a->id].stage == FL_STAGE_TALLY || fl_outputs[a->id].stage == FL_STAGE_PARAMS;
}

/* The arrays of a replication's record (replication first), arm by arm in allocation order. */
#define FOR_TALLIES(res, arr)                                                                      \
  for (size_t a_ = 0; a_ < (res)->n_arms; a_++)                                                  \
    for (size_t i_ = 0; i_ < (res)->arms[a_].n_arrays; i_++)                                     \
      for (const fl_array *arr = &(res)->arms[a_].arrays[i_]; arr && in_record(arr); arr = NULL)

static size_t elem(const fl_array *a) { return fl_dtype_size(a->type); }

/* The bytes of one replication of an array of block (rows of replications). */
static size_t rep_bytes_of(const fl_results *block, const fl_array *a) {
  return fl_array_count(a) / block->R * elem(a);
}

fl_status fl_checkpoint_open(const char *path, const fl_model *m, const fl_results *block,
                             size_t R, fl_recfile_mode mode, unsigned char *done,
                             fl_checkpoint **out, fl_recfile_found *found, fl_error *err) {
  fl_checkpoint *c = calloc(1, sizeof *c);
  size_t rep_bytes = 0;
  *out = NULL;
  if (!c) {
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  c->R = R;
  /* The key: everything that decides what a replication's record holds (the arrays' shapes
   * are those of the whole run). */
  const uint64_t ids[2] = {block->seed, R};
  const double psa[3] = {(double)block->psa, (double)block->psa_inner, block->psa_prior};
  uint64_t key = fl_fnv1a(FL_FNV_BASIS, ids, sizeof ids);
  key = fl_fnv1a(key, m->scenario_text, strlen(m->scenario_text));
  key = fl_fnv1a(key, m->scenario_overrides, strlen(m->scenario_overrides));
  key = fl_fnv1a(key, FL_VERSION_STRING, strlen(FL_VERSION_STRING));
  key = fl_fnv1a(key, psa, sizeof psa);
  FOR_TALLIES(block, arr) {
    uint64_t dims[FL_MAX_RANK + 2] = {(uint64_t)arr->type, (uint64_t)arr->rank};
    for (int d = 0; d < arr->rank; d++) dims[2 + d] = d ? arr->dims[d] : R;
    key = fl_fnv1a(key, arr->name, strlen(arr->name));
    key = fl_fnv1a(key, dims, sizeof dims);
    rep_bytes += rep_bytes_of(block, arr);
  }
  if (!(c->block = malloc(rep_bytes ? rep_bytes : 1))) {
    free(c);
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  fl_status st = fl_recfile_open(
      path, "FLCKPT03", key, c->R, rep_bytes, mode,
      "--resume: the checkpoint was made by a different run (scenario, seed, replications, "
      "--no-flows, --psa options or Flourish version differ); run without --resume to start "
      "again",
      "FLOURISH_CRASH_AFTER_REPS", done, &c->file, found, err);
  /* Every stored record is checked now, so that a damaged checkpoint is refused before the
   * run starts rather than when it reaches the record. */
  for (size_t r = 0; st == FL_OK && mode == FL_RECFILE_RESUME && r < R; r++)
    if (done[r]) st = fl_recfile_read(c->file, r, c->block, err);
  if (st != FL_OK) {
    fl_checkpoint_close(c);
    return st;
  }
  *out = c;
  return FL_OK;
}

fl_status fl_checkpoint_save(fl_checkpoint *c, const fl_results *block, size_t row, size_t rep) {
  size_t off = 0;
  FOR_TALLIES(block, arr) {
    const size_t bytes = rep_bytes_of(block, arr);
    memcpy(c->block + off, (const char *)arr->data + row * bytes, bytes);
    off += bytes;
  }
  return fl_recfile_write(c->file, rep, c->block);
}

fl_status fl_checkpoint_load(fl_checkpoint *c, fl_results *block, size_t row, size_t rep,
                             fl_error *err) {
  size_t off = 0;
  fl_status st = fl_recfile_read(c->file, rep, c->block, err);
  if (st != FL_OK) return st;
  FOR_TALLIES(block, arr) {
    const size_t bytes = rep_bytes_of(block, arr);
    memcpy((char *)arr->data + row * bytes, c->block + off, bytes);
    off += bytes;
  }
  return FL_OK;
}

fl_status fl_checkpoint_finish(fl_checkpoint *c) { return c ? fl_recfile_finish(c->file) : FL_OK; }

void fl_checkpoint_close(fl_checkpoint *c) {
  if (!c) return;
  fl_recfile_close(c->file);
  free(c->block);
  free(c);
}
