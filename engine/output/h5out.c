/* Writing results to HDF5 in the layout of the design (DESIGN.md section 3), atomically: the file
 * is built under a temporary name beside the target and renamed over it only when complete. */
#include "output/output.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#include <errno.h>
#include <hdf5.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Quantile levels of the summaries, and their dataset names. */
static const double qlev[FL_N_QUANTILES] = {0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975};
static const char *const qname[] = {"q025", "q05", "q25", "q50", "q75", "q95", "q975"};
#define NQ (sizeof qlev / sizeof qlev[0])

typedef struct writer {
  hid_t file;
  hid_t lcpl; /* creates intermediate groups */
  fl_error *err;
  const char *path;
} writer;

static fl_status h5fail(writer *w, const char *what) {
  /* The system's reason when it is one a user can act on (HDF5 does not report it). */
  const int e = errno;
  if (e == ENOSPC || e == EDQUOT || e == EFBIG || e == EIO || e == ENOMEM)
    fl_error_set(w->err, FL_EHDF5, w->path, 0, 0, NULL, "HDF5 could not %s: %s", what,
                 strerror(e));
  else
    fl_error_set(w->err, FL_EHDF5, w->path, 0, 0, NULL, "HDF5 could not %s", what);
  return FL_EHDF5;
}

static hid_t str_type(size_t len) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, len ? len : 1);
  H5Tset_strpad(t, H5T_STR_NULLPAD);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

static fl_status attr_str(writer *w, hid_t obj, const char *name, const char *value) {
  hid_t t = str_type(strlen(value)), sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, t, value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  return rc < 0 ? h5fail(w, "write a text attribute") : FL_OK;
}

static fl_status attr_num(writer *w, hid_t obj, const char *name, hid_t type, const void *value) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, type, value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc < 0 ? h5fail(w, "write a numeric attribute") : FL_OK;
}

static fl_status write_names(writer *w, const char *name, char *const *names, size_t n) {
  size_t len = 1;
  char *buf;
  hsize_t dims[1] = {n};
  hid_t t, sp, d;
  herr_t rc;
  for (size_t i = 0; i < n; i++)
    if (strlen(names[i]) > len) len = strlen(names[i]);
  buf = calloc(n ? n : 1, len);
  if (!buf) return h5fail(w, "allocate a name list");
  for (size_t i = 0; i < n; i++) memcpy(buf + i * len, names[i], strlen(names[i]));
  t = str_type(len);
  sp = H5Screate_simple(1, dims, NULL);
  d = H5Dcreate2(w->file, name, t, sp, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
  rc = d < 0 ? -1 : H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  if (d >= 0) H5Dclose(d);
  H5Sclose(sp);
  H5Tclose(t);
  free(buf);
  return rc < 0 ? h5fail(w, "write a name list") : FL_OK;
}

/* HDF5's shuffle filter (the j-th bytes of every element together, then the next) of a chunk of
 * n elements of size e whose first `have` come from in and the rest are zero (the padding of an
 * edge chunk). */
static void shuffle_chunk(const unsigned char *in, size_t have, size_t n, size_t e,
                          unsigned char *out) {
  for (size_t j = 0; j < e; j++) {
    for (size_t i = 0; i < have; i++) out[j * n + i] = in[i * e + j];
    memset(out + j * n + have, 0, n - have);
  }
}

#define DEFLATE_LEVEL 1

/* Writes the chunks of a dataset created with shuffle + deflate, compressing them in parallel
 * (the filter pipeline compresses one chunk at a time on one thread, which becomes the output's
 * bottleneck on many cores). Every chunk is chunk0 rows of the first dimension by the whole
 * trailing extent (inner bytes a row); the last is padded with zeros (the fill value) to a full
 * chunk, as HDF5 stores edge chunks. The bytes are those HDF5's pipeline writes, whatever the
 * thread count. Chunks go in batches of two per thread, which bounds the memory held. */
static int write_chunks(hid_t d, const void *data, size_t elem, size_t rows, size_t chunk0,
                        size_t inner) {
  const size_t n_chunks = (rows + chunk0 - 1) / chunk0, chunk_bytes = chunk0 * inner;
  const size_t bound = (size_t)compressBound((uLong)chunk_bytes), slot = chunk_bytes + bound;
#ifdef _OPENMP
  size_t batch = 2 * (size_t)omp_get_max_threads();
#else
  size_t batch = 1;
#endif
  /* Chunks are about 1 MiB unless one row of the first dimension is bigger: hold at most
   * 256 MiB of them at a time. */
  const size_t most = (size_t)256 << 20;
  if (batch * slot > most) batch = most / slot ? most / slot : 1;
  unsigned char *work = malloc(batch * slot);
  uLongf *sizes = malloc(batch * sizeof *sizes);
  int bad = !work || !sizes;
  for (size_t c0 = 0; !bad && c0 < n_chunks; c0 += batch) {
    const long long nb = (long long)(n_chunks - c0 < batch ? n_chunks - c0 : batch);
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
    for (long long k = 0; k < nb; k++) {
      unsigned char *shuf = work + (size_t)k * slot, *z = shuf + chunk_bytes;
      const size_t first = (c0 + (size_t)k) * chunk0;
      const size_t have = (rows - first < chunk0 ? rows - first : chunk0) * inner;
      shuffle_chunk((const unsigned char *)data + first * inner, have / elem, chunk_bytes / elem,
                    elem, shuf);
      sizes[k] = (uLongf)bound;
      bad |= compress2(z, &sizes[k], shuf, (uLong)chunk_bytes, DEFLATE_LEVEL) != Z_OK;
    }
    for (long long k = 0; !bad && k < nb; k++) {
      hsize_t off[FL_MAX_RANK] = {0};
      off[0] = (hsize_t)((c0 + (size_t)k) * chunk0);
      bad |= H5Dwrite_chunk(d, H5P_DEFAULT, 0, off, (size_t)sizes[k],
                            work + (size_t)k * slot + chunk_bytes) < 0;
    }
  }
  free(sizes);
  free(work);
  return bad ? -1 : 0;
}

/* Writes an n-dimensional array, chunked (about 1 MiB a chunk, whole trailing dimensions) and
 * compressed with shuffle + deflate. */
static fl_status write_array(writer *w, const char *path, fl_dtype type, int rank,
                             const size_t *dims, const void *data, const char *doc) {
  hsize_t hd[FL_MAX_RANK], chunk[FL_MAX_RANK];
  size_t elem = type == FL_I32 ? 4 : 8, inner = elem;
  hid_t sp, dcpl, d, mt = type == FL_I32 ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE;
  hid_t ft = type == FL_I32 ? H5T_STD_I32LE : H5T_IEEE_F64LE;
  herr_t rc;
  int empty = 0;
  fl_status st = FL_OK;
  for (int i = 0; i < rank; i++) {
    hd[i] = dims[i];
    chunk[i] = dims[i] ? dims[i] : 1;
    empty |= dims[i] == 0;
  }
  /* Limit a chunk to about 1 MiB by cutting the leading dimension. */
  for (int i = 1; i < rank; i++) inner *= chunk[i];
  if (rank > 0 && inner * chunk[0] > (1u << 20))
    chunk[0] = inner >= (1u << 20) ? 1 : (1u << 20) / inner;
  sp = H5Screate_simple(rank, hd, NULL);
  dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (rank > 0 && !empty) {
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, DEFLATE_LEVEL);
  }
  d = H5Dcreate2(w->file, path, ft, sp, w->lcpl, dcpl, H5P_DEFAULT);
  /* Chunks of little-endian native numbers are compressed here, in parallel, and written
   * directly; anything else goes through HDF5's own pipeline. */
  const int direct = rank > 0 && !empty && H5Tequal(mt, ft) > 0;
  rc = d < 0    ? -1
       : empty  ? 0
       : direct ? write_chunks(d, data, elem, dims[0], (size_t)chunk[0], inner)
                : H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data);
  if (rc >= 0 && doc) st = attr_str(w, d, "description", doc);
  if (d >= 0) H5Dclose(d);
  H5Pclose(dcpl);
  H5Sclose(sp);
  if (rc < 0) {
    char what[300];
    snprintf(what, sizeof what, "write the dataset %s", path);
    return h5fail(w, what);
  }
  return st;
}

/* Quantile p of n sorted values by linear interpolation between order statistics (R's type 7),
 * given the two order statistics around h = (n - 1) p. */
static double type7(double lo_val, double hi_val, double h) {
  return lo_val + (h - floor(h)) * (hi_val - lo_val);
}

/* Rearranges v[lo, hi) so that v[p] holds what a full sort would put there for every p of
 * pos[0, np) (ascending, within [lo, hi)): quickselect for several ranks at once, splitting the
 * ranks between the sides of each three-way partition (ties in the middle, where they are
 * settled). Expected O(n log np) comparisons against a sort's O(n log n). */
static void multiselect(double *v, size_t lo, size_t hi, const size_t *pos, size_t np) {
  while (np > 0 && hi - lo > 16) {
    /* Median of three as the pivot. */
    const double a = v[lo], b = v[lo + (hi - lo) / 2], c = v[hi - 1];
    const double pivot = a < b ? (b < c ? b : a < c ? c : a) : (a < c ? a : b < c ? c : b);
    size_t lt = lo, i = lo, gt = hi; /* [lo,lt) < pivot, [lt,i) == pivot, [gt,hi) > pivot */
    while (i < gt) {
      const double x = v[i];
      if (x < pivot) {
        v[i++] = v[lt];
        v[lt++] = x;
      } else if (x > pivot) {
        v[i] = v[--gt];
        v[gt] = x;
      } else {
        i++;
      }
    }
    size_t nl = 0, nr = 0;
    while (nl < np && pos[nl] < lt) nl++;
    for (nr = nl; nr < np && pos[nr] < gt; nr++) {
    }
    /* The smaller side in a call, the larger in the loop: the stack stays O(log n) deep. */
    if (lt - lo < hi - gt) {
      multiselect(v, lo, lt, pos, nl);
      pos += nr;
      np -= nr;
      lo = gt;
    } else {
      multiselect(v, gt, hi, pos + nr, np - nr);
      np = nl;
      hi = lt;
    }
  }
  if (np > 0) { /* a few values: insertion sort */
    for (size_t i = lo + 1; i < hi; i++) {
      const double x = v[i];
      size_t j = i;
      for (; j > lo && v[j - 1] > x; j--) v[j] = v[j - 1];
      v[j] = x;
    }
  }
}

/* Summary of the R values v of one cell into out[k * cells + c]: mean, sd, mcse, quantiles.
 * Whole-number cells whose range is small (most counts) get their order statistics from a
 * histogram in O(R); the rest by selection (multiselect). hist has hist_len entries of scratch. */
void fl_summarise_cell(double *v, size_t R, int whole, uint32_t *hist, size_t hist_len,
                       double *out, size_t cells, size_t c) {
  double sum = 0, ss = 0, mn = v[0], mx = v[0];
  for (size_t r = 0; r < R; r++) sum += v[r];
  if (whole) /* the range decides between the histogram and selection (no NaN in counts) */
    for (size_t r = 0; r < R; r++) {
      mn = v[r] < mn ? v[r] : mn;
      mx = v[r] > mx ? v[r] : mx;
    }
  const double mean = sum / (double)R;
  for (size_t r = 0; r < R; r++) ss += (v[r] - mean) * (v[r] - mean);
  const double sd = R > 1 ? sqrt(ss / (double)(R - 1)) : 0.0;
  out[0 * cells + c] = mean;
  out[1 * cells + c] = sd;
  out[2 * cells + c] = sd / sqrt((double)R);
  if (whole && mx - mn < (double)hist_len) {
    const size_t range = (size_t)(mx - mn) + 1;
    memset(hist, 0, range * sizeof *hist);
    for (size_t r = 0; r < R; r++) hist[(size_t)(v[r] - mn)]++;
    /* Walk the cumulative counts once for the ascending quantiles: order statistic k (0-based)
     * is the first value whose cumulative count exceeds k. */
    size_t value = 0, below = hist[0];
    for (size_t q = 0; q < NQ; q++) {
      const double h = (double)(R - 1) * qlev[q];
      const size_t k = (size_t)floor(h), k1 = k + 1 < R ? k + 1 : k;
      while (below <= k) below += hist[++value];
      const double lo_val = mn + (double)value;
      size_t v1 = value, b1 = below;
      while (b1 <= k1) b1 += hist[++v1];
      out[(3 + q) * cells + c] = type7(lo_val, mn + (double)v1, h);
    }
    return;
  }
  /* The order statistics the quantiles need, by selection rather than a full sort. */
  size_t pos[2 * NQ], np = 0;
  for (size_t q = 0; q < NQ; q++) {
    const size_t k = (size_t)floor((double)(R - 1) * qlev[q]);
    for (size_t j = k; j <= k + 1 && j < R; j++)
      if (!np || pos[np - 1] < j) pos[np++] = j;
  }
  multiselect(v, 0, R, pos, np);
  for (size_t q = 0; q < NQ; q++) {
    const double h = (double)(R - 1) * qlev[q];
    const size_t k = (size_t)floor(h), k1 = k + 1 < R ? k + 1 : k;
    out[(3 + q) * cells + c] = type7(v[k], v[k1], h);
  }
}

/* Summaries over the replication (first) dimension of a: mean, sd, Monte Carlo standard error
 * and quantiles. Cells are handled in blocks of CELL_BLOCK, copied out replication by
 * replication, so the strided reads touch each cache line once. */
#define CELL_BLOCK 16
static fl_status write_summary(writer *w, const char *group, const char *arm,
                               const fl_array *a) {
  const size_t R = a->dims[0], cells = fl_array_count(a) / (R ? R : 1);
  const size_t nstat = 3 + NQ, hist_len = 2 * R + 64;
  const size_t blocks = (cells + CELL_BLOCK - 1) / CELL_BLOCK;
  double *out = fl_malloc_array(nstat * cells, sizeof *out);
  int fail = !out;
  char path[512];
  fl_status st = FL_OK;
  if (!fail) {
#pragma omp parallel
    {
      double *buf = fl_malloc_array(R * CELL_BLOCK, sizeof *buf);
      uint32_t *hist = fl_malloc_array(hist_len, sizeof *hist);
      if (!buf || !hist) {
#pragma omp atomic write
        fail = 1;
      }
#pragma omp for schedule(dynamic, 4)
      for (long long bi = 0; bi < (long long)blocks; bi++) {
        const size_t c0 = (size_t)bi * CELL_BLOCK;
        const size_t nc = cells - c0 < CELL_BLOCK ? cells - c0 : CELL_BLOCK;
        if (!buf || !hist) continue;
        if (a->type == FL_I32) {
          const int32_t *src = (const int32_t *)a->data + c0;
          for (size_t r = 0; r < R; r++, src += cells)
            for (size_t j = 0; j < nc; j++) buf[j * R + r] = (double)src[j];
        } else {
          const double *src = (const double *)a->data + c0;
          for (size_t r = 0; r < R; r++, src += cells)
            for (size_t j = 0; j < nc; j++) buf[j * R + r] = src[j];
        }
        for (size_t j = 0; j < nc; j++)
          fl_summarise_cell(buf + j * R, R, a->type == FL_I32, hist, hist_len, out, cells, c0 + j);
      }
      free(buf);
      free(hist);
    }
  }
  if (fail) {
    free(out);
    fl_error_set(w->err, FL_ENOMEM, w->path, 0, 0, NULL, "out of memory computing summaries");
    return FL_ENOMEM;
  }
  static const char *const names3[3] = {"mean", "sd", "mcse"};
  static const char *const docs3[3] = {"Mean over replications.",
                                       "Standard deviation over replications.",
                                       "Monte Carlo standard error of the mean (sd / sqrt(R))."};
  for (size_t k = 0; k < nstat && st == FL_OK; k++) {
    char doc[128];
    if (k >= 3)
      snprintf(doc, sizeof doc, "Quantile %g over replications (linear interpolation).",
               qlev[k - 3]);
    snprintf(path, sizeof path, "/%s/%s/summary/%s/%s", group, arm, a->name,
             k < 3 ? names3[k] : qname[k - 3]);
    st = write_array(w, path, FL_F64, a->rank - 1, a->dims + 1, out + k * cells,
                     k < 3 ? docs3[k] : doc);
  }
  free(out);
  return st;
}

static fl_status write_all(writer *w, const fl_results *res, const fl_model *m,
                           const fl_provenance *prov) {
  hid_t root = w->file;
  char stamp[32], path[512];
  time_t now = time(NULL);
  struct tm tmv;
  fl_status st;
  uint64_t seed = res->seed, R = res->expectation ? 0 : res->R, T = m->T;
  double horizon_months = (double)m->T * m->step_months;
  int32_t *levels = NULL;
  gmtime_r(&now, &tmv);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
#define TRY(x)                                                                                     \
  do {                                                                                             \
    if ((st = (x)) != FL_OK) goto out;                                                            \
  } while (0)
  TRY(attr_str(w, root, "flourish_version", FL_VERSION_STRING));
  TRY(attr_str(w, root, "git_commit", prov && prov->git_commit ? prov->git_commit : "unknown"));
  TRY(attr_str(w, root, "created_utc", stamp));
  TRY(attr_str(w, root, "command_line", prov && prov->command_line ? prov->command_line : ""));
  TRY(attr_str(w, root, "mode", res->expectation ? "expectation" : "monte_carlo"));
  TRY(attr_str(w, root, "scenario_name", m->name));
  TRY(attr_str(w, root, "scenario_yaml", m->scenario_text));
  TRY(attr_str(w, root, "scenario_overrides", m->scenario_overrides));
  TRY(attr_num(w, root, "seed", H5T_NATIVE_UINT64, &seed));
  TRY(attr_num(w, root, "replications", H5T_NATIVE_UINT64, &R));
  TRY(attr_num(w, root, "horizon_steps", H5T_NATIVE_UINT64, &T));
  TRY(attr_num(w, root, "horizon_months", H5T_NATIVE_DOUBLE, &horizon_months));
  TRY(attr_num(w, root, "step_months", H5T_NATIVE_DOUBLE, &m->step_months));
  if (res->psa) {
    const uint64_t inner = res->psa_inner;
    TRY(attr_str(w, root, "parameter_uncertainty", "transition rows drawn from Dirichlet("
                 "counts + psa_prior) once per block of psa_inner replications"));
    TRY(attr_num(w, root, "psa_inner", H5T_NATIVE_UINT64, &inner));
    TRY(attr_num(w, root, "psa_prior", H5T_NATIVE_DOUBLE, &res->psa_prior));
  }
  TRY(write_names(w, "/states", m->state_names, m->S));
  TRY(write_names(w, "/levels", m->level_names, m->L));
  TRY(write_names(w, "/budget_holders", m->holder_names, m->B));
  TRY(write_names(w, "/localities", m->loc_names, m->NLOC));
  levels = malloc(m->S * sizeof *levels);
  if (!levels) return h5fail(w, "allocate");
  for (size_t s = 0; s < m->S; s++) levels[s] = m->state_level[s];
  TRY(write_array(w, "/state_level", FL_I32, 1, &m->S, levels,
                  "Index into /levels of each state's level."));
  for (size_t a = 0; a < res->n_arms; a++) {
    for (int comp = 0; comp < 2; comp++) {
      const fl_arm_results *g = comp ? &res->comps[a] : &res->arms[a];
      const char *group = comp ? "comparisons" : "arms";
      for (size_t i = 0; i < g->n_arrays; i++) {
        const fl_array *arr = &g->arrays[i];
        if (arr->not_written) continue;
        snprintf(path, sizeof path, "/%s/%s/%s", group, g->name, arr->name);
        TRY(write_array(w, path, arr->type, arr->rank, arr->dims, arr->data, arr->doc));
        if (!res->expectation && fl_array_summarised(arr)) TRY(write_summary(w, group, g->name, arr));
      }
    }
  }
out:
  free(levels);
  return st;
#undef TRY
}

/* Creates an HDF5 file under a temporary name beside path (fl_outfile), lets body fill it, and
 * moves it over path only when complete; on failure nothing is left behind. */
void fl_h5_prepare(void) {
  static int done;
  int first;
#pragma omp atomic capture
  first = done++;
  if (first == 0) H5dont_atexit(); /* (only the first call, before the library starts, counts) */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

static fl_status write_atomically(const char *path, fl_error *err,
                                  fl_status (*body)(writer *w, const void *ctx), const void *ctx) {
  writer w = {.file = -1, .lcpl = -1, .err = err, .path = path};
  fl_outfile of;
  fl_status st = fl_outfile_begin(&of, path, NULL, NULL, err);
  hid_t fcpl = -1, fapl = -1;
  if (st != FL_OK) return st;
  fl_h5_prepare();
  /* Dense attribute storage lets the scenario text exceed the 64 KiB compact attribute limit. */
  fcpl = H5Pcreate(H5P_FILE_CREATE);
  fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
  H5Pset_attr_phase_change(fcpl, 0, 0);
  w.file = H5Fcreate(of.tmp, H5F_ACC_TRUNC, fcpl, fapl);
  w.lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(w.lcpl, 1);
  if (w.file < 0) st = h5fail(&w, "create the output file");
  else st = body(&w, ctx);
  if (w.file >= 0 && H5Fclose(w.file) < 0 && st == FL_OK) st = h5fail(&w, "close the file");
  H5Pclose(w.lcpl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  if (st == FL_OK) return fl_outfile_commit(&of, err);
  fl_outfile_abort(&of);
  return st;
}

typedef struct results_ctx {
  const fl_results *res;
  const fl_model *m;
  const fl_provenance *prov;
} results_ctx;

static fl_status results_body(writer *w, const void *ctx) {
  const results_ctx *c = ctx;
  return write_all(w, c->res, c->m, c->prov);
}

fl_status fl_results_write(const fl_results *res, const fl_model *m, const fl_provenance *prov,
                           const char *path, fl_error *err) {
  const results_ctx ctx = {res, m, prov};
  return write_atomically(path, err, results_body, &ctx);
}

typedef struct simple_ctx {
  const fl_h5_dataset *ds;
  size_t n;
  const fl_h5_names *names;
  size_t n_names;
  const char *const (*attrs)[2];
  size_t n_attrs;
} simple_ctx;

static fl_status simple_body(writer *w, const void *ctx) {
  const simple_ctx *c = ctx;
  fl_status st = attr_str(w, w->file, "flourish_version", FL_VERSION_STRING);
  for (size_t i = 0; i < c->n_attrs && st == FL_OK; i++)
    st = attr_str(w, w->file, c->attrs[i][0], c->attrs[i][1]);
  for (size_t i = 0; i < c->n_names && st == FL_OK; i++)
    st = write_names(w, c->names[i].name, c->names[i].names, c->names[i].n);
  for (size_t i = 0; i < c->n && st == FL_OK; i++)
    st = write_array(w, c->ds[i].name, FL_F64, c->ds[i].rank, c->ds[i].dims, c->ds[i].data,
                     c->ds[i].doc);
  /* Dimension scales, once every dataset exists. */
  for (size_t i = 0; i < c->n && st == FL_OK; i++) {
    if (!c->ds[i].scale) continue;
    hid_t d = H5Dopen2(w->file, c->ds[i].name, H5P_DEFAULT);
    if (d < 0 || H5DSset_scale(d, c->ds[i].scale) < 0) st = h5fail(w, "make a dimension scale");
    if (d >= 0) H5Dclose(d);
  }
  for (size_t i = 0; i < c->n && st == FL_OK; i++) {
    for (int k = 0; k < c->ds[i].rank && st == FL_OK; k++) {
      const size_t s = c->ds[i].attach[k];
      if (!s) continue;
      hid_t d = H5Dopen2(w->file, c->ds[i].name, H5P_DEFAULT);
      hid_t sd = H5Dopen2(w->file, c->ds[s - 1].name, H5P_DEFAULT);
      if (d < 0 || sd < 0 || H5DSattach_scale(d, sd, (unsigned)k) < 0)
        st = h5fail(w, "attach a dimension scale");
      if (sd >= 0) H5Dclose(sd);
      if (d >= 0) H5Dclose(d);
    }
  }
  return st;
}

fl_status fl_h5_write_simple(const char *path, const fl_h5_dataset *ds, size_t n,
                             const fl_h5_names *names, size_t n_names,
                             const char *const (*attrs)[2], size_t n_attrs, fl_error *err) {
  const simple_ctx ctx = {ds, n, names, n_names, attrs, n_attrs};
  return write_atomically(path, err, simple_body, &ctx);
}
