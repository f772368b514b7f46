/* A Monte Carlo run streamed to its HDF5 file (fl_run_write): the per-replication datasets are
 * created before the first replication and written block by block as the run commits them, so
 * the run holds a few blocks of replications whatever their number; the summaries over
 * replications are computed at the end from the file.
 *
 * Layout. A dataset [R, d1, ..., dk] is stored in chunks of a block of replications (the run's,
 * fl_stream_block_reps) by a box of cells of the trailing dimensions: a column of chunks holds
 * every replication of its cells, so the summaries read each chunk once, a column at a time,
 * with memory for R values of a column's cells. Columns hold about 2^20 / R cells (64 to
 * 4,096): the summaries' memory stays near 8 MB a thread while chunks stay large enough to
 * compress well. Chunks are byte-shuffled and deflated (HDF5's shuffle and deflate filters,
 * which every HDF5 reader has) by libdeflate on the run's threads, and written directly.
 * Compressed bytes do not depend on the thread that made them, and chunks are written in one
 * order, so the file's datasets are the same bytes for any number of threads. */
#include "output/h5file.h"

#include "sim/sim.h"

#include <hdf5_hl.h>
#include <libdeflate.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#define DEFLATE_LEVEL 1 /* (libdeflate's level 1 compresses better than zlib's, and faster) */
#define TASK_BYTES ((size_t)1 << 19) /* uncompressed bytes a compression task takes at least */

/* A streamed dataset. */
typedef struct sds {
  char path[320];
  fl_output id;
  size_t arm;
  int comp;
  fl_dtype type;
  size_t elem;
  int rank;                   /* with the replication */
  fl_dim dim_names[FL_MAX_RANK];
  size_t dims[FL_MAX_RANK];   /* dims[0] = R */
  size_t chunk[FL_MAX_RANK];  /* chunk[0] = the block's replications */
  size_t grid[FL_MAX_RANK];   /* chunks along each trailing dimension */
  size_t cells;               /* a replication's */
  size_t chunk_cells;         /* a chunk's, along the trailing dimensions */
  size_t n_cols;              /* chunks in a block */
  size_t col0;                /* the first of its columns in the writer's numbering */
  hid_t d;
  double *stats;              /* [FL_N_STATS * cells] its summaries (summarised only) */
} sds;

/* A block on its way to the file. */
typedef struct pending {
  const fl_results *src;
  size_t row0, rep0, n;
  unsigned char *arena; /* the columns' compressed chunks, at col_off */
  size_t *size;         /* [n_cols] their sizes */
} pending;

struct fl_h5_stream {
  fl_h5w w;
  const fl_model *m;
  fl_output_ctx ctx;
  size_t R, Rb;
  sds *ds;
  size_t n_ds;
  size_t n_cols;        /* columns of all datasets */
  size_t *col_ds;       /* [n_cols] the dataset of each column */
  size_t *col_off;      /* [n_cols + 1] where each column's chunk goes in an arena */
  size_t n_tasks;
  size_t *task_col;     /* [n_tasks + 1] each compression task's first column */
  pending *slots;
  size_t n_slots;
  fl_results *const *run_slots; /* the run's blocks (fl_run_write), from begin */
  int threads;
  fl_h5_scales *scales;
  void (*progress)(void *ctx, size_t done, size_t total);
  void *progress_ctx;
};
typedef struct fl_h5_stream fl_h5_stream;

/* The cells a column holds for R replications: about 2^20 / R, 64 to COLUMN_MOST. */
#define COLUMN_MOST 4096
static size_t column_cells(size_t R) {
  const size_t c = ((size_t)1 << 20) / (R ? R : 1);
  return c < 64 ? 64 : c > COLUMN_MOST ? COLUMN_MOST : c;
}

/* The chunk of ds: the block's replications by a box of about `target` cells of the trailing
 * dimensions, cut from the first of them. */
static void choose_chunk(sds *ds, size_t Rb, size_t target) {
  size_t prod = 1;
  int k = ds->rank - 1;
  ds->chunk[0] = Rb;
  for (int i = 1; i < ds->rank; i++) ds->chunk[i] = 1;
  for (; k >= 1 && prod * ds->dims[k] <= target; k--) {
    ds->chunk[k] = ds->dims[k];
    prod *= ds->dims[k];
  }
  if (k >= 1) ds->chunk[k] = target / prod ? target / prod : 1;
  ds->chunk_cells = 1;
  ds->n_cols = 1;
  for (int i = 1; i < ds->rank; i++) {
    ds->grid[i] = (ds->dims[i] + ds->chunk[i] - 1) / ds->chunk[i];
    ds->chunk_cells *= ds->chunk[i];
    ds->n_cols *= ds->grid[i];
  }
}

/* The corner (first cell along each trailing dimension) of column j of ds. */
static void column_corner(const sds *ds, size_t j, size_t *corner) {
  for (int i = ds->rank - 1; i >= 1; i--) {
    corner[i] = (j % ds->grid[i]) * ds->chunk[i];
    j /= ds->grid[i];
  }
}

/* Calls f for each run of cells of column `corner` of ds that is contiguous in a replication's
 * row: first: the run's first cell in the row (flat), at: its place in the chunk, len. */
typedef void (*run_fn)(void *ctx, size_t first, size_t at, size_t len);
static void column_runs(const sds *ds, const size_t *corner, run_fn f, void *ctx) {
  const int last = ds->rank - 1;
  if (last < 1) {
    f(ctx, 0, 0, 1);
    return;
  }
  size_t idx[FL_MAX_RANK] = {0}; /* within the chunk, along dimensions 1 .. last - 1 */
  const size_t len = ds->dims[last] - corner[last] < ds->chunk[last] ? ds->dims[last] - corner[last]
                                                                     : ds->chunk[last];
  for (;;) {
    size_t first = 0, at = 0, ok = 1;
    for (int i = 1; i <= last; i++) {
      const size_t c = corner[i] + (i < last ? idx[i] : 0);
      ok &= c < ds->dims[i];
      first = first * ds->dims[i] + c;
      at = at * ds->chunk[i] + (i < last ? idx[i] : 0);
    }
    if (ok) f(ctx, first, at, len);
    int i = last - 1;
    for (; i >= 1 && ++idx[i] == ds->chunk[i]; i--) idx[i] = 0;
    if (i < 1) return;
  }
}

/* Packing a block's rows of a column into a chunk (zero elsewhere). */
typedef struct pack_ctx {
  const sds *ds;
  const unsigned char *src; /* row 0 of the block */
  unsigned char *chunk;
  size_t n;
} pack_ctx;

static void pack_run(void *ctx, size_t first, size_t at, size_t len) {
  const pack_ctx *c = ctx;
  const size_t e = c->ds->elem, row = c->ds->cells * e, crow = c->ds->chunk_cells * e;
  for (size_t r = 0; r < c->n; r++)
    memcpy(c->chunk + r * crow + at * e, c->src + r * row + first * e, len * e);
}

/* HDF5's shuffle filter: the j-th bytes of every element together, then the next. */
static void shuffle(const unsigned char *in, size_t n, size_t e, unsigned char *out) {
  for (size_t j = 0; j < e; j++)
    for (size_t i = 0; i < n; i++) out[j * n + i] = in[i * e + j];
}

static void unshuffle(const unsigned char *in, size_t n, size_t e, unsigned char *out) {
  for (size_t j = 0; j < e; j++)
    for (size_t i = 0; i < n; i++) out[i * e + j] = in[j * n + i];
}

/* The data of ds in a block's results (its rows from row0), or NULL. */
static const unsigned char *block_data(const sds *ds, const fl_results *src, size_t row0) {
  const fl_arm_results *g = ds->comp ? &src->comps[ds->arm] : &src->arms[ds->arm];
  const fl_array *a = fl_group_get(g, ds->id);
  return a ? (const unsigned char *)a->data + row0 * ds->cells * ds->elem : NULL;
}

/* Compresses column col of the pending block into its place in the arena. */
static int compress_column(fl_h5_stream *s, pending *p, size_t col, struct libdeflate_compressor *z,
                           unsigned char *raw, unsigned char *shuf) {
  const sds *ds = &s->ds[s->col_ds[col]];
  const size_t bytes = s->Rb * ds->chunk_cells * ds->elem;
  size_t corner[FL_MAX_RANK];
  memset(raw, 0, bytes);
  column_corner(ds, col - ds->col0, corner);
  pack_ctx pc = {ds, block_data(ds, p->src, p->row0), raw, p->n};
  if (!pc.src) return -1;
  column_runs(ds, corner, pack_run, &pc);
  shuffle(raw, bytes / ds->elem, ds->elem, shuf);
  const size_t cap = s->col_off[col + 1] - s->col_off[col];
  p->size[col] = libdeflate_zlib_compress(z, shuf, bytes, p->arena + s->col_off[col], cap);
  return p->size[col] ? 0 : -1;
}

static size_t max_chunk_bytes(const fl_h5_stream *s) {
  size_t most = 1;
  for (size_t i = 0; i < s->n_ds; i++) {
    const size_t b = s->Rb * s->ds[i].chunk_cells * s->ds[i].elem;
    if (b > most) most = b;
  }
  return most;
}

/* The sink's callbacks (sim.h): a block's tasks compress its columns; its commit writes them
 * in order. A block comes from the run's slot (row 0 on), or from results held in memory. */

/* Sets out block [rep0, rep0 + n) of src (from row0) in pending slot `slot`. */
static size_t stream_pending(fl_h5_stream *s, size_t slot, const fl_results *src, size_t row0,
                             size_t rep0, size_t n) {
  pending *p = &s->slots[slot];
  p->src = src;
  p->row0 = row0;
  p->rep0 = rep0;
  p->n = n;
  return s->n_tasks;
}


static fl_status stream_task(void *ctx, size_t slot, size_t i, fl_error *err) {
  fl_h5_stream *s = ctx;
  pending *p = &s->slots[slot];
  const size_t most = max_chunk_bytes(s);
  struct libdeflate_compressor *z = libdeflate_alloc_compressor(DEFLATE_LEVEL);
  unsigned char *raw = malloc(2 * most);
  int bad = !z || !raw;
  for (size_t col = s->task_col[i]; !bad && col < s->task_col[i + 1]; col++)
    bad = compress_column(s, p, col, z, raw, raw + most) != 0;
  free(raw);
  if (z) libdeflate_free_compressor(z);
  if (bad) {
    fl_error_set(err, FL_ENOMEM, s->w.path, 0, 0, NULL, "out of memory compressing the output");
    return FL_ENOMEM;
  }
  return FL_OK;
}

static fl_status stream_commit(void *ctx, size_t slot, size_t rep0, size_t n, fl_error *err) {
  fl_h5_stream *s = ctx;
  pending *p = &s->slots[slot];
  (void)n;
  s->w.err = err; /* (commits come one at a time, on any thread) */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* (HDF5's error printing is per thread) */
  for (size_t col = 0; col < s->n_cols; col++) {
    const sds *ds = &s->ds[s->col_ds[col]];
    hsize_t off[FL_MAX_RANK] = {(hsize_t)rep0};
    size_t corner[FL_MAX_RANK];
    column_corner(ds, col - ds->col0, corner);
    for (int i = 1; i < ds->rank; i++) off[i] = corner[i];
    if (H5Dwrite_chunk(ds->d, H5P_DEFAULT, 0, off, p->size[col], p->arena + s->col_off[col]) < 0) {
      char what[400];
      snprintf(what, sizeof what, "write the dataset %s", ds->path);
      return fl_h5w_fail(&s->w, what);
    }
  }
  return FL_OK;
}


/* Creates dataset ds (chunked, shuffled and deflated, nothing written yet) with its
 * attributes and dimension scales. */
static fl_status create_dataset(fl_h5_stream *s, sds *ds, const char *doc) {
  fl_h5w *w = &s->w;
  hsize_t hd[FL_MAX_RANK] = {0}, hc[FL_MAX_RANK] = {0};
  char units[128];
  int empty = 0;
  for (int i = 0; i < ds->rank; i++) {
    hd[i] = ds->dims[i];
    hc[i] = ds->chunk[i];
    empty |= ds->dims[i] == 0;
  }
  hid_t sp = H5Screate_simple(ds->rank, hd, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (!empty) {
    H5Pset_chunk(dcpl, ds->rank, hc);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, DEFLATE_LEVEL);
    H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  }
  hid_t ft = ds->type == FL_I32 ? H5T_STD_I32LE : H5T_IEEE_F64LE;
  ds->d = H5Dcreate2(w->file, ds->path, ft, sp, w->lcpl, dcpl, H5P_DEFAULT);
  H5Pclose(dcpl);
  H5Sclose(sp);
  if (ds->d < 0) {
    char what[400];
    snprintf(what, sizeof what, "create the dataset %s", ds->path);
    return fl_h5w_fail(w, what);
  }
  fl_status st = fl_h5w_attr_str(w, ds->d, "description", doc);
  if (st == FL_OK)
    st = fl_h5w_attr_str(w, ds->d, "units", fl_h5_units(s->m, ds->id, units, sizeof units));
  if (st == FL_OK)
    st = fl_h5_scales_attach(w, s->scales, ds->d, ds->dim_names, ds->rank, ds->arm);
  return st;
}

/* The streamed datasets of results laid out like shape (any block of the run), in the file's
 * order: each arm's, then its comparison's. */
static fl_status plan_datasets(fl_h5_stream *s, const fl_results *shape) {
  const size_t target = column_cells(s->R);
  size_t cap = 0;
  for (size_t a = 0; a < shape->n_arms; a++) cap += shape->arms[a].n_arrays + shape->comps[a].n_arrays;
  if (!(s->ds = calloc(cap ? cap : 1, sizeof *s->ds))) return fl_h5w_fail(&s->w, "allocate");
  for (size_t a = 0; a < shape->n_arms; a++)
    for (int comp = 0; comp < 2; comp++) {
      const fl_arm_results *g = comp ? &shape->comps[a] : &shape->arms[a];
      for (size_t i = 0; i < g->n_arrays; i++) {
        const fl_array *arr = &g->arrays[i];
        if (!fl_output_per_rep(arr->id) || arr->not_written) continue;
        sds *ds = &s->ds[s->n_ds++];
        snprintf(ds->path, sizeof ds->path, "/%s/%s/%s", comp ? "comparisons" : "arms", g->name,
                 arr->name);
        ds->id = arr->id;
        ds->arm = a;
        ds->comp = comp;
        ds->type = arr->type;
        ds->elem = fl_dtype_size(arr->type);
        ds->rank = fl_h5_dims(&s->ctx, arr->id, ds->dim_names);
        ds->dims[0] = s->R;
        ds->cells = 1;
        for (int k = 1; k < ds->rank; k++) ds->cells *= ds->dims[k] = arr->dims[k];
        choose_chunk(ds, s->Rb, target);
        if (ds->cells == 0) ds->n_cols = 0;
        ds->col0 = s->n_cols;
        s->n_cols += ds->n_cols;
        fl_status st = create_dataset(s, ds, arr->doc);
        if (st != FL_OK) return st;
      }
    }
  return FL_OK;
}

/* The columns' places in a block's arena and the compression tasks (runs of columns of at
 * least TASK_BYTES, never across datasets), and each slot's arena. */
static fl_status plan_columns(fl_h5_stream *s) {
  s->col_ds = malloc((s->n_cols + 1) * sizeof *s->col_ds);
  s->col_off = malloc((s->n_cols + 1) * sizeof *s->col_off);
  s->task_col = malloc((s->n_cols + 1) * sizeof *s->task_col);
  if (!s->col_ds || !s->col_off || !s->task_col) return fl_h5w_fail(&s->w, "allocate");
  size_t off = 0, col = 0, since = 0;
  for (size_t i = 0; i < s->n_ds; i++) {
    const sds *ds = &s->ds[i];
    const size_t bytes = s->Rb * ds->chunk_cells * ds->elem;
    for (size_t j = 0; j < ds->n_cols; j++, col++) {
      s->col_ds[col] = i;
      s->col_off[col] = off;
      off += libdeflate_zlib_compress_bound(NULL, bytes);
      if (j == 0 || since >= TASK_BYTES) {
        s->task_col[s->n_tasks++] = col;
        since = 0;
      }
      since += bytes;
    }
    since = TASK_BYTES; /* the next dataset starts a task */
  }
  s->col_off[s->n_cols] = off;
  s->task_col[s->n_tasks] = s->n_cols;
  for (size_t k = 0; k < s->n_slots; k++) {
    pending *p = &s->slots[k];
    if (!(p->arena = malloc(off ? off : 1)) || !(p->size = calloc(s->n_cols + 1, sizeof *p->size)))
      return fl_h5w_fail(&s->w, "allocate the output's buffers");
  }
  return FL_OK;
}

/* Closes what the stream holds open in the file, and frees it (the file itself is committed
 * or aborted by the caller: stream_commit_file, stream_abort). */
static void stream_free(fl_h5_stream *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n_ds; i++) {
    if (s->ds[i].d >= 0) H5Dclose(s->ds[i].d);
    free(s->ds[i].stats);
  }
  for (size_t k = 0; s->slots && k < s->n_slots; k++) {
    free(s->slots[k].arena);
    free(s->slots[k].size);
  }
  fl_h5_scales_free(s->scales);
  s->scales = NULL;
  free(s->ds);
  free(s->col_ds);
  free(s->col_off);
  free(s->task_col);
  free(s->slots);
  free(s);
}

/* Gives the file up: nothing is left of it. */
static void stream_abort(fl_h5_stream *s) {
  fl_h5w w = s->w;
  stream_free(s);
  fl_h5w_abort(&w);
}

/* Opens the file for a run of R replications in blocks of Rb, laid out like shape (results
 * with every per-replication array), with n_slots blocks in flight. */
static fl_status stream_open(fl_h5_stream **out, const char *path, const fl_model *m,
                             const fl_results *shape, size_t R, size_t Rb, size_t n_slots,
                             int threads, const fl_provenance *prov, fl_error *err) {
  fl_h5_stream *s = calloc(1, sizeof *s);
  *out = NULL;
  if (!s || !(s->slots = calloc(n_slots, sizeof *s->slots))) {
    free(s);
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  s->m = m;
  s->ctx = shape->ctx;
  s->ctx.R = R;
  s->R = R;
  s->Rb = Rb;
  s->n_slots = n_slots;
  s->threads = threads;
  fl_status st = fl_h5w_create(&s->w, path, err);
  if (st != FL_OK) {
    stream_free(s);
    return st;
  }
  if ((st = fl_h5_scales_make(&s->w, &s->ctx, &s->scales)) == FL_OK &&
      (st = fl_h5_write_header(&s->w, s->scales, shape, m, prov, R)) == FL_OK &&
      (st = plan_datasets(s, shape)) == FL_OK)
    st = plan_columns(s);
  if (st != FL_OK) {
    stream_abort(s);
    return st;
  }
  *out = s;
  return FL_OK;
}

/* The summaries: each column of each summarised dataset read back a chunk at a time (under a
 * lock: the HDF5 library is not thread-safe), all its replications gathered, each cell
 * summarised (fl_summarise_cell). */

/* The cells of a column: runs of them, each at a place in a replication's row and in the
 * chunk. */
typedef struct col_runs {
  size_t n, first[COLUMN_MOST], at[COLUMN_MOST], len[COLUMN_MOST];
} col_runs;

/* Scratch of a thread summarising columns. */
typedef struct sum_buf {
  double *col;      /* [chunk_cells * R] */
  unsigned char *z; /* a compressed chunk */
  unsigned char *shuf, *raw;
  uint32_t *hist;   /* [2 R + 64] */
  struct libdeflate_decompressor *dz;
  col_runs *runs;
} sum_buf;

static void add_run(void *ctx, size_t first, size_t at, size_t len) {
  col_runs *c = ctx;
  if (c->n < sizeof c->first / sizeof *c->first) {
    c->first[c->n] = first;
    c->at[c->n] = at;
    c->len[c->n++] = len;
  }
}

/* Reads chunk (block b, column corner) of ds into b->raw; returns 0 or -1. */
static int read_chunk(fl_h5_stream *s, const sds *ds, size_t blk, const size_t *corner,
                      sum_buf *b) {
  hsize_t off[FL_MAX_RANK] = {(hsize_t)(blk * s->Rb)};
  hsize_t stored = 0;
  uint32_t filters = 0;
  const size_t bytes = s->Rb * ds->chunk_cells * ds->elem;
  const size_t cap = libdeflate_zlib_compress_bound(NULL, bytes);
  int bad = 0;
  size_t got = 0;
  for (int i = 1; i < ds->rank; i++) off[i] = corner[i];
#pragma omp critical(fl_hdf5)
  bad = H5Dget_chunk_storage_size(ds->d, off, &stored) < 0 || stored > cap ||
        H5Dread_chunk(ds->d, H5P_DEFAULT, off, &filters, b->z) < 0;
  if (bad || libdeflate_zlib_decompress(b->dz, b->z, (size_t)stored, b->shuf, bytes, &got) !=
                 LIBDEFLATE_SUCCESS || got != bytes)
    return -1;
  unshuffle(b->shuf, bytes / ds->elem, ds->elem, b->raw);
  return 0;
}

/* Summarises column j of ds into ds->stats. */
static int summarise_column(fl_h5_stream *s, sds *ds, size_t j, sum_buf *b) {
  const size_t R = s->R, n_blocks = (R + s->Rb - 1) / s->Rb;
  size_t corner[FL_MAX_RANK];
  column_corner(ds, j, corner);
  b->runs->n = 0;
  column_runs(ds, corner, add_run, b->runs);
  const col_runs *c = b->runs;
  for (size_t blk = 0; blk < n_blocks; blk++) {
    if (read_chunk(s, ds, blk, corner, b) != 0) return -1;
    const size_t rows = R - blk * s->Rb < s->Rb ? R - blk * s->Rb : s->Rb;
    for (size_t k = 0; k < c->n; k++)
      for (size_t r = 0; r < rows; r++)
        for (size_t i = 0; i < c->len[k]; i++) {
          const size_t at = r * ds->chunk_cells + c->at[k] + i;
          double v;
          if (ds->type == FL_I32) {
            int32_t x;
            memcpy(&x, b->raw + at * 4, 4);
            v = x;
          } else {
            memcpy(&v, b->raw + at * 8, 8);
          }
          b->col[(c->at[k] + i) * R + blk * s->Rb + r] = v;
        }
  }
  for (size_t k = 0; k < c->n; k++)
    for (size_t i = 0; i < c->len[k]; i++)
      fl_summarise_cell(b->col + (c->at[k] + i) * R, R, ds->type == FL_I32, b->hist, 2 * R + 64,
                        ds->stats, ds->cells, c->first[k] + i);
  return 0;
}

static void sum_buf_free(sum_buf *b) {
  free(b->col);
  free(b->z);
  free(b->shuf);
  free(b->raw);
  free(b->hist);
  free(b->runs);
  if (b->dz) libdeflate_free_decompressor(b->dz);
}

static int sum_buf_init(const fl_h5_stream *s, sum_buf *b) {
  size_t most_cells = 1;
  for (size_t i = 0; i < s->n_ds; i++)
    if (s->ds[i].chunk_cells > most_cells) most_cells = s->ds[i].chunk_cells;
  const size_t bytes = max_chunk_bytes(s);
  memset(b, 0, sizeof *b);
  b->col = fl_malloc_array(most_cells * s->R, sizeof *b->col);
  b->z = malloc(libdeflate_zlib_compress_bound(NULL, bytes));
  b->shuf = malloc(bytes);
  b->raw = malloc(bytes);
  b->hist = fl_malloc_array(2 * s->R + 64, sizeof *b->hist);
  b->runs = malloc(sizeof *b->runs);
  b->dz = libdeflate_alloc_decompressor();
  return b->col && b->z && b->shuf && b->raw && b->hist && b->runs && b->dz ? 0 : -1;
}

/* Every summarised dataset's summaries into its stats, columns shared between threads. */
static fl_status summarise_all(fl_h5_stream *s, fl_error *err) {
  size_t n = 0, done = 0;
  for (size_t i = 0; i < s->n_ds; i++) {
    sds *ds = &s->ds[i];
    if (!(fl_outputs[ds->id].flags & FL_OUT_SUMMARISED)) continue;
    if (!(ds->stats = fl_calloc(FL_N_STATS * (ds->cells ? ds->cells : 1), sizeof *ds->stats))) {
      fl_error_set(err, FL_ENOMEM, s->w.path, 0, 0, NULL, "out of memory computing summaries");
      return FL_ENOMEM;
    }
    n += ds->n_cols;
  }
  int bad = 0;
#ifdef _OPENMP
  int threads = s->threads > 0 ? s->threads : omp_get_max_threads();
#endif
#pragma omp parallel num_threads(threads) reduction(| : bad)
  {
    sum_buf b;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    bad |= sum_buf_init(s, &b);
#pragma omp for schedule(dynamic, 1)
    for (size_t col = 0; col < s->n_cols; col++) {
      sds *ds = &s->ds[s->col_ds[col]];
      if (bad || !ds->stats) continue;
      bad |= summarise_column(s, ds, col - ds->col0, &b);
      if (s->progress) {
#pragma omp critical(fl_progress)
        s->progress(s->progress_ctx, ++done, n);
      }
    }
    sum_buf_free(&b);
  }
  if (bad) {
    fl_error_set(err, FL_EHDF5, s->w.path, 0, 0, NULL,
                 "could not read the output back to summarise it (out of memory, or the file "
                 "was changed while it was written)");
    return FL_EHDF5;
  }
  return FL_OK;
}

/* The summary datasets of ds: /GROUP/ARM/summary/NAME/STAT over the trailing dimensions. */
static fl_status write_summaries(fl_h5_stream *s, const sds *ds) {
  static const char *const names3[3] = {"mean", "sd", "mcse"};
  static const char *const docs3[3] = {"Mean over replications.",
                                       "Standard deviation over replications.",
                                       "Monte Carlo standard error of the mean (sd / sqrt(R))."};
  const fl_output_def *d = &fl_outputs[ds->id];
  const char *group = ds->comp ? "comparisons" : "arms";
  const char *arm = s->m->arms[ds->arm].name;
  char buf[128], path[512], doc[128];
  const char *units = fl_h5_units(s->m, ds->id, buf, sizeof buf);
  fl_status st = FL_OK;
  for (size_t k = 0; k < FL_N_STATS && st == FL_OK; k++) {
    if (k >= 3)
      snprintf(doc, sizeof doc, "Quantile %g over replications (linear interpolation).",
               fl_quantile_levels[k - 3]);
    snprintf(path, sizeof path, "/%s/%s/summary/%s/%s", group, arm, d->name,
             k < 3 ? names3[k] : fl_quantile_names[k - 3]);
    st = fl_h5w_array(&s->w, path, FL_F64, ds->rank - 1, ds->dims + 1, ds->stats + k * ds->cells,
                      k < 3 ? docs3[k] : doc, units);
    if (st == FL_OK && ds->rank > 1) {
      hid_t h = H5Dopen2(s->w.file, path, H5P_DEFAULT);
      st = h < 0 ? fl_h5w_fail(&s->w, "open a summary")
                 : fl_h5_scales_attach(&s->w, s->scales, h, ds->dim_names + 1, ds->rank - 1,
                                       ds->arm);
      if (h >= 0) H5Dclose(h);
    }
  }
  return st;
}

/* The mean of output id of a comparison from its summaries (0 when not summarised). */
static double summary_mean(const fl_h5_stream *s, size_t arm, fl_output id) {
  for (size_t i = 0; i < s->n_ds; i++)
    if (s->ds[i].comp && s->ds[i].arm == arm && s->ds[i].id == id && s->ds[i].stats)
      return s->ds[i].stats[0];
  return 0;
}

/* Finishes the file: the summaries, what whole holds that is not per replication (the ICER,
 * acceptability, the variance split), then the file is closed and moved into place. */
static fl_status stream_finish(fl_h5_stream *s, const fl_results *whole, fl_error *err) {
  s->w.err = err;
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL); /* (HDF5's error printing is per thread) */
  fl_status st = summarise_all(s, err);
  for (size_t i = 0; i < s->n_ds && st == FL_OK; i++)
    if (s->ds[i].stats) st = write_summaries(s, &s->ds[i]);
  for (size_t a = 0; a < whole->n_arms && st == FL_OK; a++)
    for (int comp = 0; comp < 2 && st == FL_OK; comp++) {
      const fl_arm_results *g = comp ? &whole->comps[a] : &whole->arms[a];
      for (size_t i = 0; i < g->n_arrays && st == FL_OK; i++)
        if (!fl_output_per_rep(g->arrays[i].id))
          st = fl_h5_write_result(&s->w, s->scales, &s->ctx, comp, a, &g->arrays[i],
                                  summary_mean(s, a, FL_OUT_DELTA_COST_TOTAL),
                                  summary_mean(s, a, FL_OUT_DELTA_QALY_TOTAL));
    }
  for (size_t i = 0; i < whole->decision.n_arrays && st == FL_OK; i++)
    st = fl_h5_write_result(&s->w, s->scales, &s->ctx, FL_GROUP_DECISION, 0,
                            &whole->decision.arrays[i], 0, 0);
  if (st != FL_OK) {
    stream_abort(s);
    return st;
  }
  fl_h5w w = s->w;
  stream_free(s);
  return fl_h5w_commit(&w);
}

/* fl_run_write's sink: the stream is opened when the run says how it will hand its blocks
 * over. */
typedef struct run_writer {
  const fl_model *m;
  const fl_run_options *opt;
  const fl_provenance *prov;
  const char *path;
  fl_h5_stream *s;
} run_writer;

static fl_status rw_begin(void *ctx, const fl_stream_info *info, fl_error *err) {
  run_writer *rw = ctx;
  fl_status st = stream_open(&rw->s, rw->path, rw->m, info->slots[0], info->R, info->block_reps,
                             info->n_slots, rw->opt->threads, rw->prov, err);
  if (st == FL_OK) {
    rw->s->run_slots = info->slots;
    rw->s->progress = rw->opt->summary_progress;
    rw->s->progress_ctx = rw->opt->progress_ctx;
  }
  return st;
}

static size_t rw_tasks(void *ctx, size_t slot, size_t rep0, size_t n) {
  run_writer *rw = ctx;
  return stream_pending(rw->s, slot, rw->s->run_slots[slot], 0, rep0, n);
}

static fl_status rw_task(void *ctx, size_t slot, size_t i, fl_error *err) {
  return stream_task(((run_writer *)ctx)->s, slot, i, err);
}

static fl_status rw_commit(void *ctx, size_t slot, size_t rep0, size_t n, fl_error *err) {
  return stream_commit(((run_writer *)ctx)->s, slot, rep0, n, err);
}

fl_status fl_run_write(const fl_model *m, const fl_run_options *opt, const fl_provenance *prov,
                       const char *path, fl_error *err) {
  run_writer rw = {m, opt, prov, path, NULL};
  const fl_block_sink sink = {&rw, rw_begin, rw_tasks, rw_task, rw_commit};
  fl_results *whole = fl_run_results_create(m, opt, opt->replications);
  if (!whole) {
    fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  fl_status st = fl_run_stream(m, opt, &sink, whole, err);
  if (rw.s) { /* (rank 0) */
    if (st == FL_OK) st = stream_finish(rw.s, whole, err);
    else stream_abort(rw.s);
  }
  fl_results_free(whole);
  return st;
}

fl_status fl_h5_write_run(const fl_results *res, const fl_model *m, const fl_provenance *prov,
                          const char *path, fl_error *err) {
  const size_t R = res->R, Rb = fl_stream_block_reps(R);
  fl_h5_stream *s = NULL;
  fl_status st = stream_open(&s, path, m, res, R, Rb, 1, fl_results_threads(res), prov, err);
  for (size_t rep0 = 0; st == FL_OK && rep0 < R; rep0 += Rb) {
    const size_t n = R - rep0 < Rb ? R - rep0 : Rb;
    const long long tasks = (long long)stream_pending(s, 0, res, rep0, rep0, n);
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(fl_results_threads(res)) \
    reduction(| : bad)
    for (long long i = 0; i < tasks; i++) {
      fl_error e = {0};
      bad |= stream_task(s, 0, (size_t)i, &e) != FL_OK;
    }
    if (bad) {
      fl_error_set(err, FL_ENOMEM, path, 0, 0, NULL, "out of memory compressing the output");
      st = FL_ENOMEM;
    } else {
      st = stream_commit(s, 0, rep0, n, err);
    }
  }
  if (st == FL_OK) return stream_finish(s, res, err);
  if (s) stream_abort(s);
  return st;
}
