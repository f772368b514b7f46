/* Record files: a long job persists each finished piece of work (a run's replication, a sweep's
 * point), so that after a crash or kill `--resume` does only the rest and writes the same file.
 *
 * A record file is a header (magic, the job's key, the number and size of the records, and a
 * checksum of these), one byte per record (1: stored), then the fixed-size records, each
 * followed by the CRC-32 of the key, its index and its bytes. Pieces of work are deterministic,
 * so any record that is not marked is simply computed again. A record is written, then made
 * durable (fdatasync) before its mark is written: a mark that survives a crash always refers to
 * a complete record. Syncs are batched (at most one a second), so a crash loses at most the
 * last second's work. A damaged file (a flipped byte, a record of another job moved in) fails
 * its checksums: an error, never data. Records are addressed by piece, not by process, so MPI
 * ranks can share a file and a job can be resumed with another number of ranks or threads. */
#include "core/recfile.h"

#include <zlib.h>

#include <errno.h>
#include <stddef.h>
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
  uint32_t crc; /* of the fields above */
  uint32_t zero;
} header;

#define CRC_BYTES 4 /* after each record */

struct fl_recfile {
  int fd;
  const char *path;
  uint64_t key;
  size_t n, rec_bytes;
  unsigned char *buf; /* a record and its checksum */
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
  return (off_t)(sizeof(header) + f->n + i * (f->rec_bytes + CRC_BYTES));
}

static uint32_t header_crc(const header *h) {
  return (uint32_t)crc32(0, (const unsigned char *)h, (uInt)offsetof(header, crc));
}

/* The checksum of record i: of the job's key, the index and the bytes. */
static uint32_t record_crc(const fl_recfile *f, size_t i, const void *rec) {
  const uint64_t id[2] = {f->key, (uint64_t)i};
  uLong c = crc32(0, (const unsigned char *)id, sizeof id);
  for (size_t off = 0; off < f->rec_bytes;) { /* (crc32 takes at most 4 GiB at a time) */
    const size_t k = f->rec_bytes - off < ((size_t)1 << 30) ? f->rec_bytes - off : (size_t)1 << 30;
    c = crc32(c, (const unsigned char *)rec + off, (uInt)k);
    off += k;
  }
  return (uint32_t)c;
}

/* The existing file at path, checked against want: its marks into done. */
static fl_status resume_file(fl_recfile *f, const header *want, const char *mismatch,
                             unsigned char *done, fl_error *err) {
  header got;
  if (pread_all(f->fd, &got, sizeof got, 0) != 0 || got.crc != header_crc(&got)) {
    fl_error_set(err, FL_EINPUT, f->path, 0, 0, NULL,
                 "the checkpoint is damaged (its header fails its checksum); remove it to start "
                 "again");
    return FL_EINPUT;
  }
  if (memcmp(&got, want, sizeof got) != 0) {
    fl_error_set(err, FL_EUSAGE, f->path, 0, 0, NULL, "%s", mismatch);
    return FL_EUSAGE;
  }
  if (pread_all(f->fd, done, f->n, sizeof got) != 0) {
    errno = 0;
    return fail(err, FL_EINPUT, f->path, "the checkpoint is cut short; remove it to start again");
  }
  for (size_t i = 0; i < f->n; i++)
    if (done[i] > 1) {
      fl_error_set(err, FL_EINPUT, f->path, 0, 0, NULL,
                   "the checkpoint is damaged (the mark of record %zu is %d); remove it to "
                   "start again", i, done[i]);
      return FL_EINPUT;
    }
  return FL_OK;
}

/* A new file at path: header and marks (none stored). */
static fl_status create_file(fl_recfile *f, const header *want, fl_error *err) {
  unsigned char *zeros = calloc(f->n ? f->n : 1, 1);
  f->fd = open(f->path, O_RDWR | O_CREAT | O_TRUNC, 0666);
  const int bad = f->fd < 0 || !zeros || pwrite_all(f->fd, want, sizeof *want, 0) != 0 ||
                  pwrite_all(f->fd, zeros, f->n, sizeof *want) != 0 || fdatasync(f->fd) != 0;
  free(zeros);
  return bad ? fail(err, FL_EIO, f->path, "cannot create the checkpoint beside the output") : FL_OK;
}

fl_status fl_recfile_open(const char *path, const char magic[8], uint64_t key, size_t n,
                          size_t rec_bytes, fl_recfile_mode mode, const char *mismatch,
                          const char *crash_env, unsigned char *done, fl_recfile **out,
                          fl_recfile_found *found, fl_error *err) {
  fl_recfile *f = calloc(1, sizeof *f);
  header want = {{0}, key, n, rec_bytes, 0, 0};
  const char *crash = crash_env ? getenv(crash_env) : NULL;
  fl_recfile_found what = FL_RECFILE_NONE;
  fl_status st = FL_OK;
  *out = NULL;
  errno = 0;
  if (!f || !(f->pending = malloc((n ? n : 1) * sizeof *f->pending)) ||
      !(f->buf = malloc(rec_bytes + CRC_BYTES))) {
    fl_recfile_close(f);
    return fail(err, FL_ENOMEM, path, "out of memory");
  }
  memcpy(want.magic, magic, 8);
  want.crc = header_crc(&want);
  f->fd = -1;
  f->path = path;
  f->key = key;
  f->n = n;
  f->rec_bytes = rec_bytes;
  f->crash_after = crash ? atol(crash) : 0;
  memset(done, 0, n);
  if (mode == FL_RECFILE_JOIN) {
    if ((f->fd = open(path, O_RDWR)) < 0) st = fail(err, FL_EIO, path, "cannot open the checkpoint");
  } else if ((f->fd = open(path, O_RDWR)) >= 0) {
    if (mode == FL_RECFILE_RESUME) {
      st = resume_file(f, &want, mismatch, done, err);
      what = FL_RECFILE_RESUMED;
    } else {
      close(f->fd);
      f->fd = -1;
      what = FL_RECFILE_REPLACED;
      st = create_file(f, &want, err);
    }
  } else if (errno == ENOENT) {
    st = create_file(f, &want, err);
  } else {
    st = fail(err, FL_EIO, path, "cannot open the checkpoint");
  }
  if (st != FL_OK) {
    fl_recfile_close(f);
    return st;
  }
  if (found) *found = what;
  f->last_sync = now();
  *out = f;
  return FL_OK;
}

fl_status fl_recfile_read(fl_recfile *f, size_t i, void *rec, fl_error *err) {
  uint32_t crc;
  if (pread_all(f->fd, f->buf, f->rec_bytes + CRC_BYTES, record_offset(f, i)) != 0) {
    fl_error_set(err, FL_EINPUT, f->path, 0, 0, NULL,
                 "the checkpoint is cut short at record %zu; remove it to start again", i);
    return FL_EINPUT;
  }
  memcpy(&crc, f->buf + f->rec_bytes, sizeof crc);
  if (crc != record_crc(f, i, f->buf)) {
    fl_error_set(err, FL_EINPUT, f->path, 0, 0, NULL,
                 "record %zu of the checkpoint is damaged (it fails its checksum); remove the "
                 "checkpoint to start again", i);
    return FL_EINPUT;
  }
  memcpy(rec, f->buf, f->rec_bytes);
  return FL_OK;
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
  const uint32_t crc = record_crc(f, i, rec);
  memcpy(f->buf, rec, f->rec_bytes);
  memcpy(f->buf + f->rec_bytes, &crc, sizeof crc);
  if (pwrite_all(f->fd, f->buf, f->rec_bytes + CRC_BYTES, record_offset(f, i)) != 0) return FL_EIO;
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

/* The marks are made durable too: a job stopped on a signal (or finished) and started again,
 * perhaps after its node went down, finds every record it kept. */
fl_status fl_recfile_finish(fl_recfile *f) {
  return f && (flush(f) != 0 || fdatasync(f->fd) != 0) ? FL_EIO : FL_OK;
}

void fl_recfile_close(fl_recfile *f) {
  if (!f) return;
  if (f->fd >= 0) close(f->fd);
  free(f->pending);
  free(f->buf);
  free(f);
}
