/* Checkpoints: a long job persists each finished piece of work (a run's replication, a sweep's
 * point), so that after a crash or kill `--resume` does only the rest and writes the same file.
 *
 * A record file (fl_recfile) is a header (magic, the job's key, the number and size of the
 * records), one byte per record (1: stored), then the fixed-size records. Pieces of work are
 * deterministic, so any record that is not marked is simply computed again. A record is
 * written, then made durable (fdatasync) before its mark is written: a mark that survives a
 * crash always refers to a complete record. Syncs are batched (at most one a second), so a
 * crash loses at most the last second's work. Records are addressed by piece, not by process,
 * so MPI ranks can share a file and a job can be resumed with another number of ranks or
 * threads.
 *
 * A run's checkpoint (fl_checkpoint) holds one record per replication: every tally array's
 * slice, arm by arm, in the order the run allocates them. */
#include "sim/checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SYNC_SECONDS 1.0

typedef struct header {
  char magic[8];
  uint64_t key, n, rec_bytes;
} header;

struct fl_recfile {
  int fd;
  size_t n, rec_bytes;
  uint32_t *pending; /* records written but not yet marked */
  size_t n_pending;
  double last_sync;
  long crash_after;  /* testing aid: see fl_recfile_write */
  long saved;
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static fl_status fail(fl_error *err, fl_status code, const char *path, const char *what) {
  fl_error_set(err, code, path, 0, 0, NULL, "%s%s%s", what, errno ? ": " : "",
               errno ? strerror(errno) : "");
  return code;
}

/* All n bytes at off, written (writing nonzero) or read, through short transfers and
 * interruptions; -1 on an error or end of file. */
static int transfer_all(int fd, void *buf, size_t n, off_t off, int writing) {
  char *p = buf;
  while (n) {
    ssize_t k = writing ? pwrite(fd, p, n, off) : pread(fd, p, n, off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
    off += k;
  }
  return 0;
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off) {
  return transfer_all(fd, (void *)buf, n, off, 1);
}

static int pread_all(int fd, void *buf, size_t n, off_t off) {
  return transfer_all(fd, buf, n, off, 0);
}

static off_t record_offset(const fl_recfile *f, size_t i) {
  return (off_t)(sizeof(header) + f->n + i * f->rec_bytes);
}

fl_status fl_recfile_open(const char *path, const char magic[8], uint64_t key, size_t n,
                          size_t rec_bytes, fl_recfile_mode mode, const char *mismatch,
                          const char *crash_env, unsigned char *done, fl_recfile **out,
                          fl_error *err) {
  fl_recfile *f = calloc(1, sizeof *f);
  header want = {{0}, key, n, rec_bytes}, got;
  const char *crash = crash_env ? getenv(crash_env) : NULL;
  *out = NULL;
  errno = 0;
  if (!f || !(f->pending = malloc((n ? n : 1) * sizeof *f->pending))) {
    free(f);
    return fail(err, FL_ENOMEM, path, "out of memory");
  }
  memcpy(want.magic, magic, 8);
  f->fd = -1;
  f->n = n;
  f->rec_bytes = rec_bytes;
  f->crash_after = crash ? atol(crash) : 0;
  memset(done, 0, n);
  if (mode == FL_RECFILE_RESUME) {
    f->fd = open(path, O_RDWR);
    if (f->fd < 0) {
      fl_recfile_close(f);
      return fail(err, FL_EUSAGE, path, "--resume: cannot open the checkpoint of this output");
    }
    if (pread_all(f->fd, &got, sizeof got, 0) != 0 || memcmp(&got, &want, sizeof got) != 0) {
      fl_recfile_close(f);
      errno = 0;
      return fail(err, FL_EUSAGE, path, mismatch);
    }
    if (pread_all(f->fd, done, n, sizeof got) != 0) {
      fl_recfile_close(f);
      return fail(err, FL_EIO, path, "cannot read the checkpoint");
    }
    for (size_t i = 0; i < n; i++) done[i] = done[i] == 1;
  } else if (mode == FL_RECFILE_CREATE) {
    f->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0666);
    unsigned char *zeros = calloc(n ? n : 1, 1);
    if (f->fd < 0 || !zeros || pwrite_all(f->fd, &want, sizeof want, 0) != 0 ||
        pwrite_all(f->fd, zeros, n, sizeof want) != 0 || fdatasync(f->fd) != 0) {
      free(zeros);
      fl_recfile_close(f);
      return fail(err, FL_EIO, path, "cannot create the checkpoint beside the output");
    }
    free(zeros);
  } else { /* another MPI rank created it */
    f->fd = open(path, O_RDWR);
    if (f->fd < 0) {
      fl_recfile_close(f);
      return fail(err, FL_EIO, path, "cannot open the checkpoint");
    }
  }
  f->last_sync = now();
  *out = f;
  return FL_OK;
}

fl_status fl_recfile_read(fl_recfile *f, size_t i, void *rec) {
  return pread_all(f->fd, rec, f->rec_bytes, record_offset(f, i)) == 0 ? FL_OK : FL_EIO;
}

/* Makes the written records durable, then marks them. */
static int flush(fl_recfile *f) {
  static const unsigned char one = 1;
  if (!f->n_pending) return 0;
  if (fdatasync(f->fd) != 0) return -1;
  for (size_t k = 0; k < f->n_pending; k++)
    if (pwrite_all(f->fd, &one, 1, (off_t)(sizeof(header) + f->pending[k])) != 0) return -1;
  f->n_pending = 0;
  f->last_sync = now();
  return 0;
}

fl_status fl_recfile_write(fl_recfile *f, size_t i, const void *rec) {
  if (pwrite_all(f->fd, rec, f->rec_bytes, record_offset(f, i)) != 0) return FL_EIO;
  f->pending[f->n_pending++] = (uint32_t)i;
  if (now() - f->last_sync >= SYNC_SECONDS && flush(f) != 0) return FL_EIO;
  /* Testing aid: the crash_env variable set to N ends the process abruptly, as a kill -9
   * would, once N records are durable, so tests can check --resume. */
  if (f->crash_after > 0 && ++f->saved >= f->crash_after) {
    flush(f);
    _exit(137);
  }
  return FL_OK;
}

fl_status fl_recfile_finish(fl_recfile *f) { return f && flush(f) != 0 ? FL_EIO : FL_OK; }

void fl_recfile_close(fl_recfile *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  free(f->pending);
  free(f);
}

/* ---- A run's checkpoint ----------------------------------------------------------------- */

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

fl_status fl_checkpoint_open(const char *path, const fl_model *m, fl_results *res, int resume,
                             int create, unsigned char *done, fl_checkpoint **out, fl_error *err) {
  fl_checkpoint *c = calloc(1, sizeof *c);
  size_t rep_bytes = 0;
  *out = NULL;
  if (!c) {
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  c->R = res->R;
  /* The key: everything that decides what a replication's record holds. */
  const uint64_t ids[2] = {res->seed, res->R};
  const double psa[3] = {(double)res->psa, (double)res->psa_inner, res->psa_prior};
  uint64_t key = fl_fnv1a(FL_FNV_BASIS, ids, sizeof ids);
  key = fl_fnv1a(key, m->scenario_text, strlen(m->scenario_text));
  key = fl_fnv1a(key, m->scenario_overrides, strlen(m->scenario_overrides));
  key = fl_fnv1a(key, FL_VERSION_STRING, strlen(FL_VERSION_STRING));
  key = fl_fnv1a(key, psa, sizeof psa);
  FOR_TALLIES(res, arr) {
    uint64_t dims[FL_MAX_RANK + 2] = {(uint64_t)arr->type, (uint64_t)arr->rank};
    for (int d = 0; d < arr->rank; d++) dims[2 + d] = arr->dims[d];
    key = fl_fnv1a(key, arr->name, strlen(arr->name));
    key = fl_fnv1a(key, dims, sizeof dims);
    rep_bytes += fl_array_count(arr) / res->R * elem(arr);
  }
  if (!(c->block = malloc(rep_bytes ? rep_bytes : 1))) {
    free(c);
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  fl_status st = fl_recfile_open(
      path, "FLCKPT02", key, c->R, rep_bytes,
      resume ? FL_RECFILE_RESUME : create ? FL_RECFILE_CREATE : FL_RECFILE_JOIN,
      "--resume: the checkpoint was made by a different run (scenario, seed, replications, "
      "--no-flows, --psa options or Flourish version differ); run without --resume to start "
      "again",
      "FLOURISH_CRASH_AFTER_REPS", done, &c->file, err);
  /* Load the stored replications into the results. */
  for (size_t r = 0; st == FL_OK && resume && r < c->R; r++) {
    if (!done[r]) continue;
    size_t off = 0;
    if (fl_recfile_read(c->file, r, c->block) != FL_OK) {
      fl_error_set(err, FL_EIO, path, 0, 0, NULL, "cannot read the checkpoint");
      st = FL_EIO;
      break;
    }
    FOR_TALLIES(res, arr) {
      const size_t bytes = fl_array_count(arr) / c->R * elem(arr);
      memcpy((char *)arr->data + r * bytes, c->block + off, bytes);
      off += bytes;
    }
  }
  if (st != FL_OK) {
    fl_checkpoint_close(c);
    return st;
  }
  *out = c;
  return FL_OK;
}

fl_status fl_checkpoint_save(fl_checkpoint *c, const fl_results *res, size_t rep) {
  size_t off = 0;
  FOR_TALLIES(res, arr) {
    const size_t bytes = fl_array_count(arr) / c->R * elem(arr);
    memcpy(c->block + off, (const char *)arr->data + rep * bytes, bytes);
    off += bytes;
  }
  return fl_recfile_write(c->file, rep, c->block);
}

fl_status fl_checkpoint_finish(fl_checkpoint *c) { return c ? fl_recfile_finish(c->file) : FL_OK; }

void fl_checkpoint_close(fl_checkpoint *c) {
  if (!c) return;
  fl_recfile_close(c->file);
  free(c->block);
  free(c);
}
