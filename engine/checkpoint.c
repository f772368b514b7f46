/* Checkpoints: a long run persists each finished replication's tallies, so that after a crash
 * or kill `flourish run ... --resume` simulates only the rest and writes the same file.
 *
 * The file (beside the output, OUT.h5.ckpt) is a header, one byte per replication (1: stored),
 * then one block per replication: every tally array's slice, arm by arm, in the order the run
 * allocates them. Replications are deterministic given (seed, replication), so any that is not
 * marked is simply simulated again. A block is written, then made durable (fdatasync) before
 * its mark is written: a mark that survives a crash always refers to a complete block. Syncs
 * are batched (at most one a second), so a crash loses at most the last second's work. Blocks
 * are addressed by replication, not by process, so MPI ranks share the file and a run can be
 * resumed with another number of ranks or threads. */
#include "checkpoint.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MAGIC "FLCKPT01"
#define SYNC_SECONDS 1.0

typedef struct header {
  char magic[8];
  uint64_t seed, reps, layout, scenario, rep_bytes;
} header;

struct fl_checkpoint {
  int fd;
  size_t R, rep_bytes;
  unsigned char *block;  /* one replication's block */
  uint32_t *pending;     /* replications written but not yet marked */
  size_t n_pending;
  double last_sync;
  long crash_after;      /* testing aid: see fl_checkpoint_save */
  long saved;
};

static uint64_t fnv1a(uint64_t h, const void *data, size_t n) {
  const unsigned char *p = data;
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* The tally arrays (replication first) of every arm, in allocation order. */
#define FOR_TALLIES(res, arr)                                                                      \
  for (size_t a_ = 0; a_ < (res)->n_arms; a_++)                                                  \
    for (size_t i_ = 0; i_ < (res)->arms[a_].n_arrays; i_++)                                     \
      for (const fl_array *arr = &(res)->arms[a_].arrays[i_]; arr; arr = NULL)

static size_t elem(const fl_array *a) { return a->type == FL_I32 ? 4 : 8; }

static fl_status fail(fl_error *err, fl_status code, const char *path, const char *what) {
  fl_error_set(err, code, path, 0, 0, NULL, "%s%s%s", what, errno ? ": " : "",
               errno ? strerror(errno) : "");
  return code;
}

static int pwrite_all(int fd, const void *buf, size_t n, off_t off) {
  const char *p = buf;
  while (n) {
    ssize_t k = pwrite(fd, p, n, off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
    off += k;
  }
  return 0;
}

static int pread_all(int fd, void *buf, size_t n, off_t off) {
  char *p = buf;
  while (n) {
    ssize_t k = pread(fd, p, n, off);
    if (k < 0 && errno == EINTR) continue;
    if (k <= 0) return -1;
    p += k;
    n -= (size_t)k;
    off += k;
  }
  return 0;
}

static off_t block_offset(const fl_checkpoint *c, size_t rep) {
  return (off_t)(sizeof(header) + c->R + rep * c->rep_bytes);
}

fl_status fl_checkpoint_open(const char *path, const fl_model *m, fl_results *res, int resume,
                             int create, unsigned char *done, fl_checkpoint **out, fl_error *err) {
  fl_checkpoint *c = calloc(1, sizeof *c);
  header want, got;
  const char *crash = getenv("FLOURISH_CRASH_AFTER_REPS");
  *out = NULL;
  if (!c) return fail(err, FL_ENOMEM, path, "out of memory");
  c->fd = -1;
  c->R = res->R;
  memset(&want, 0, sizeof want);
  memcpy(want.magic, MAGIC, 8);
  want.seed = res->seed;
  want.reps = res->R;
  want.scenario = fnv1a(0xcbf29ce484222325ULL, m->scenario_text, strlen(m->scenario_text));
  want.scenario = fnv1a(want.scenario, m->scenario_overrides, strlen(m->scenario_overrides));
  want.layout = fnv1a(0xcbf29ce484222325ULL, FL_VERSION_STRING, strlen(FL_VERSION_STRING));
  {
    const double psa[3] = {(double)res->psa, (double)res->psa_inner, res->psa_prior};
    want.layout = fnv1a(want.layout, psa, sizeof psa);
  }
  FOR_TALLIES(res, arr) {
    uint64_t dims[FL_MAX_RANK + 2] = {(uint64_t)arr->type, (uint64_t)arr->rank};
    for (int d = 0; d < arr->rank; d++) dims[2 + d] = arr->dims[d];
    want.layout = fnv1a(want.layout, arr->name, strlen(arr->name));
    want.layout = fnv1a(want.layout, dims, sizeof dims);
    c->rep_bytes += fl_array_count(arr) / res->R * elem(arr);
  }
  want.rep_bytes = c->rep_bytes;
  c->crash_after = crash ? atol(crash) : 0;
  c->block = malloc(c->rep_bytes ? c->rep_bytes : 1);
  c->pending = malloc(c->R * sizeof *c->pending);
  if (!c->block || !c->pending) {
    fl_checkpoint_close(c);
    return fail(err, FL_ENOMEM, path, "out of memory");
  }
  memset(done, 0, c->R);
  errno = 0;
  if (resume) {
    c->fd = open(path, O_RDWR);
    if (c->fd < 0) {
      fl_checkpoint_close(c);
      return fail(err, FL_EUSAGE, path, "--resume: cannot open the checkpoint of this output");
    }
    if (pread_all(c->fd, &got, sizeof got, 0) != 0 || memcmp(&got, &want, sizeof got) != 0) {
      fl_checkpoint_close(c);
      errno = 0;
      return fail(err, FL_EUSAGE, path,
                  "--resume: the checkpoint was made by a different run (scenario, seed, "
                  "replications, --no-flows, --psa options or Flourish version differ); run "
                  "without --resume to start again");
    }
    if (pread_all(c->fd, done, c->R, sizeof got) != 0) {
      fl_checkpoint_close(c);
      return fail(err, FL_EIO, path, "cannot read the checkpoint");
    }
    /* Load the stored replications into the results. */
    for (size_t r = 0; r < c->R; r++) {
      size_t off = 0;
      if (done[r] != 1) {
        done[r] = 0;
        continue;
      }
      if (pread_all(c->fd, c->block, c->rep_bytes, block_offset(c, r)) != 0) {
        fl_checkpoint_close(c);
        return fail(err, FL_EIO, path, "cannot read the checkpoint");
      }
      FOR_TALLIES(res, arr) {
        const size_t bytes = fl_array_count(arr) / c->R * elem(arr);
        memcpy((char *)arr->data + r * bytes, c->block + off, bytes);
        off += bytes;
      }
    }
  } else if (create) {
    c->fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0666);
    unsigned char *zeros = calloc(c->R, 1);
    if (c->fd < 0 || !zeros || pwrite_all(c->fd, &want, sizeof want, 0) != 0 ||
        pwrite_all(c->fd, zeros, c->R, sizeof want) != 0 || fdatasync(c->fd) != 0) {
      free(zeros);
      fl_checkpoint_close(c);
      return fail(err, FL_EIO, path, "cannot create the checkpoint beside the output");
    }
    free(zeros);
  } else { /* another MPI rank created it */
    c->fd = open(path, O_RDWR);
    if (c->fd < 0) {
      fl_checkpoint_close(c);
      return fail(err, FL_EIO, path, "cannot open the checkpoint");
    }
  }
  c->last_sync = now();
  *out = c;
  return FL_OK;
}

/* Makes the written blocks durable, then marks them. */
static int flush(fl_checkpoint *c) {
  static const unsigned char one = 1;
  if (!c->n_pending) return 0;
  if (fdatasync(c->fd) != 0) return -1;
  for (size_t k = 0; k < c->n_pending; k++)
    if (pwrite_all(c->fd, &one, 1, (off_t)(sizeof(header) + c->pending[k])) != 0) return -1;
  c->n_pending = 0;
  c->last_sync = now();
  return 0;
}

fl_status fl_checkpoint_save(fl_checkpoint *c, const fl_results *res, size_t rep) {
  size_t off = 0;
  FOR_TALLIES(res, arr) {
    const size_t bytes = fl_array_count(arr) / c->R * elem(arr);
    memcpy(c->block + off, (const char *)arr->data + rep * bytes, bytes);
    off += bytes;
  }
  if (pwrite_all(c->fd, c->block, c->rep_bytes, block_offset(c, rep)) != 0) return FL_EIO;
  c->pending[c->n_pending++] = (uint32_t)rep;
  if (now() - c->last_sync >= SYNC_SECONDS && flush(c) != 0) return FL_EIO;
  /* Testing aid: FLOURISH_CRASH_AFTER_REPS=N ends the process abruptly, as a kill -9 would,
   * once N replications are durable, so tests can check --resume. */
  if (c->crash_after > 0 && ++c->saved >= c->crash_after) {
    flush(c);
    _exit(137);
  }
  return FL_OK;
}

fl_status fl_checkpoint_finish(fl_checkpoint *c) {
  return c && flush(c) != 0 ? FL_EIO : FL_OK;
}

void fl_checkpoint_close(fl_checkpoint *c) {
  if (!c) return;
  if (c->fd >= 0) close(c->fd);
  free(c->block);
  free(c->pending);
  free(c);
}
