#define _DEFAULT_SOURCE /* timegm */
/* Self-describing HDF5 files (h5file.h): the temporary file and its commit, attributes and text
 * as variable-length UTF-8, whole datasets, the dimension scales of a run's file and its root
 * attributes. The dimension scales follow the netCDF-4 data model, whose readers (xarray's
 * h5netcdf engine, R's ncdf4) take a dataset's dimensions from the scales attached to it: a 1-D
 * dataset named after its dimension, at the root or, for an arm's interventions, in the arm's
 * group. A time coordinate gives the start of each step as a date (CF units "days since the
 * first day of time.start") when the scenario names its calendar start, else in months. */
#include "output/h5file.h"

#include <errno.h>
#include <hdf5_hl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

fl_status fl_h5w_fail(fl_h5w *w, const char *what) {
  /* The system's reason when it is one a user can act on (HDF5 does not report it). */
  const int e = errno;
  if (e == ENOSPC || e == EDQUOT || e == EFBIG || e == EIO || e == ENOMEM)
    fl_error_set(w->err, FL_EHDF5, w->path, 0, 0, NULL, "HDF5 could not %s: %s", what,
                 strerror(e));
  else
    fl_error_set(w->err, FL_EHDF5, w->path, 0, 0, NULL, "HDF5 could not %s", what);
  return FL_EHDF5;
}

void fl_h5_prepare(void) {
  static int done;
  int first;
#pragma omp atomic capture
  first = done++;
  if (first == 0) H5dont_atexit(); /* (only the first call, before the library starts, counts) */
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

fl_status fl_h5w_create(fl_h5w *w, const char *path, fl_error *err) {
  memset(w, 0, sizeof *w);
  w->file = w->lcpl = -1;
  w->err = err;
  w->path = path;
  fl_status st = fl_outfile_begin(&w->out, path, NULL, NULL, err);
  if (st != FL_OK) return st;
  fl_h5_prepare();
  /* Dense attribute storage lets the scenario text exceed the 64 KiB compact attribute limit;
   * the 1.10 format indexes a dataset's chunks by a fixed array (many chunks, fast lookups). */
  hid_t fcpl = H5Pcreate(H5P_FILE_CREATE), fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_libver_bounds(fapl, H5F_LIBVER_V110, H5F_LIBVER_LATEST);
  H5Pset_attr_phase_change(fcpl, 0, 0);
  w->file = H5Fcreate(w->out.tmp, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  H5Pclose(fapl);
  w->lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(w->lcpl, 1);
  if (w->file < 0) {
    st = fl_h5w_fail(w, "create the output file");
    fl_h5w_abort(w);
  }
  return st;
}

fl_status fl_h5w_commit(fl_h5w *w) {
  fl_status st = FL_OK;
  if (w->file >= 0 && H5Fclose(w->file) < 0) st = fl_h5w_fail(w, "close the file");
  w->file = -1;
  if (w->lcpl >= 0) H5Pclose(w->lcpl);
  w->lcpl = -1;
  if (st == FL_OK) return fl_outfile_commit(&w->out, w->err);
  fl_outfile_abort(&w->out);
  return st;
}

void fl_h5w_abort(fl_h5w *w) {
  if (w->file >= 0) H5Fclose(w->file);
  if (w->lcpl >= 0) H5Pclose(w->lcpl);
  w->file = w->lcpl = -1;
  fl_outfile_abort(&w->out);
}

static hid_t vlen_str(void) {
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, H5T_VARIABLE);
  H5Tset_cset(t, H5T_CSET_UTF8);
  return t;
}

fl_status fl_h5w_attr_str(fl_h5w *w, hid_t obj, const char *name, const char *value) {
  hid_t t = vlen_str(), sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, t, &value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  return rc < 0 ? fl_h5w_fail(w, "write a text attribute") : FL_OK;
}

fl_status fl_h5w_attr_num(fl_h5w *w, hid_t obj, const char *name, hid_t type, const void *value) {
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(obj, name, type, sp, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a < 0 ? -1 : H5Awrite(a, type, value);
  if (a >= 0) H5Aclose(a);
  H5Sclose(sp);
  return rc < 0 ? fl_h5w_fail(w, "write a numeric attribute") : FL_OK;
}

/* Creates dataset path of n strings (open: close it), written. */
static hid_t strings_dataset(fl_h5w *w, hid_t loc, const char *path, char *const *names,
                             size_t n) {
  hsize_t dims[1] = {n};
  hid_t t = vlen_str(), sp = H5Screate_simple(1, dims, NULL);
  hid_t d = H5Dcreate2(loc, path, t, sp, w->lcpl, H5P_DEFAULT, H5P_DEFAULT);
  if (d >= 0 && n && H5Dwrite(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, names) < 0) {
    H5Dclose(d);
    d = -1;
  }
  H5Sclose(sp);
  H5Tclose(t);
  return d;
}

fl_status fl_h5w_strings(fl_h5w *w, const char *path, char *const *names, size_t n,
                         const char *doc) {
  hid_t d = strings_dataset(w, w->file, path, names, n);
  fl_status st = d < 0 ? fl_h5w_fail(w, "write a name list") : FL_OK;
  if (st == FL_OK && doc) st = fl_h5w_attr_str(w, d, "description", doc);
  if (d >= 0) H5Dclose(d);
  return st;
}

/* Creates and writes a numeric dataset (open: close it), chunked (about 1 MiB a chunk, cut along
 * the first dimension) and compressed by HDF5's filters (shuffle, deflate) unless it is tiny. */
static hid_t numeric_dataset(fl_h5w *w, hid_t loc, const char *path, fl_dtype type, int rank,
                             const size_t *dims, const void *data) {
  hsize_t hd[FL_MAX_RANK] = {0}, chunk[FL_MAX_RANK] = {0};
  const size_t elem = fl_dtype_size(type);
  size_t n = 1, inner = elem;
  for (int i = 0; i < rank; i++) {
    hd[i] = dims[i];
    chunk[i] = dims[i] ? dims[i] : 1;
    n *= dims[i];
    if (i) inner *= chunk[i];
  }
  hid_t sp = H5Screate_simple(rank, hd, NULL), dcpl = H5Pcreate(H5P_DATASET_CREATE);
  if (rank > 0 && n * elem > 4096) {
    if (n * elem > ((size_t)1 << 20))
      chunk[0] = inner >= ((size_t)1 << 20) ? 1 : ((size_t)1 << 20) / inner;
    H5Pset_chunk(dcpl, rank, chunk);
    H5Pset_shuffle(dcpl);
    H5Pset_deflate(dcpl, 1);
  }
  hid_t ft = type == FL_I32 ? H5T_STD_I32LE : H5T_IEEE_F64LE;
  hid_t mt = type == FL_I32 ? H5T_NATIVE_INT32 : H5T_NATIVE_DOUBLE;
  hid_t d = H5Dcreate2(loc, path, ft, sp, w->lcpl, dcpl, H5P_DEFAULT);
  if (d >= 0 && n && H5Dwrite(d, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, data) < 0) {
    H5Dclose(d);
    d = -1;
  }
  H5Pclose(dcpl);
  H5Sclose(sp);
  return d;
}

fl_status fl_h5w_array(fl_h5w *w, const char *path, fl_dtype type, int rank, const size_t *dims,
                       const void *data, const char *doc, const char *units) {
  hid_t d = numeric_dataset(w, w->file, path, type, rank, dims, data);
  fl_status st = FL_OK;
  if (d < 0) {
    char what[300];
    snprintf(what, sizeof what, "write the dataset %s", path);
    return fl_h5w_fail(w, what);
  }
  if (doc) st = fl_h5w_attr_str(w, d, "description", doc);
  if (st == FL_OK && units) st = fl_h5w_attr_str(w, d, "units", units);
  H5Dclose(d);
  return st;
}

const char *fl_h5_units(const fl_model *m, fl_output id, char *buf, size_t size) {
  const char *u = fl_outputs[id].unit, *cur = strstr(u, "currency");
  if (!cur) return u;
  snprintf(buf, size, "%.*s%s%s", (int)(cur - u), u, m->currency, cur + strlen("currency"));
  return buf;
}

int fl_h5_dims(const fl_output_ctx *c, fl_output id, fl_dim *dims) {
  int rank = 0;
  for (int k = 0; k < FL_MAX_RANK && fl_outputs[id].dims[k] != FL_DIM_NONE; k++)
    if (!(c->expectation && fl_outputs[id].dims[k] == FL_DIM_REPLICATION))
      dims[rank++] = fl_outputs[id].dims[k];
  return rank;
}

/* Days from the first day of month (y, mo) to the first day of the month k months later. */
static double days_after(int y, int mo, long k) {
  struct tm a = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = 1, .tm_hour = 12};
  struct tm b = a;
  b.tm_mon += (int)k;
  const time_t ta = timegm(&a), tb = timegm(&b);
  return round(difftime(tb, ta) / 86400.0);
}

/* The time coordinate of n time points (the start of each step, then the end of the run for
 * the time dimension) into d, with its units. */
static fl_status time_attrs(fl_h5w *w, const fl_model *m, hid_t d, const char *what) {
  char units[64];
  const int dated = m->start_year && m->step_months == floor(m->step_months);
  if (dated) snprintf(units, sizeof units, "days since %04d-%02d-01", m->start_year, m->start_month);
  fl_status st = fl_h5w_attr_str(w, d, "units", dated ? units : "months");
  if (st == FL_OK && dated) st = fl_h5w_attr_str(w, d, "calendar", "standard");
  if (st == FL_OK) st = fl_h5w_attr_str(w, d, "long_name", what);
  if (st == FL_OK) st = fl_h5w_attr_num(w, d, "step_months", H5T_NATIVE_DOUBLE, &m->step_months);
  return st;
}

static hid_t time_scale(fl_h5w *w, hid_t loc, const fl_model *m, const char *name, size_t n) {
  double *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return -1;
  const int dated = m->start_year && m->step_months == floor(m->step_months);
  for (size_t t = 0; t < n; t++)
    v[t] = dated ? days_after(m->start_year, m->start_month, (long)(t * m->step_months))
                 : (double)t * m->step_months;
  const size_t dims[1] = {n};
  hid_t d = numeric_dataset(w, loc, name, FL_F64, 1, dims, v);
  free(v);
  if (d >= 0 && time_attrs(w, m, d, strcmp(name, "time") ? "start of the step"
                                                          : "start of the step (the last: the end of the run)") != FL_OK) {
    H5Dclose(d);
    d = -1;
  }
  return d;
}

/* A scale of whole numbers first, first + 1, ... */
static hid_t count_scale(fl_h5w *w, hid_t loc, const char *name, size_t n, int first,
                         const char *units) {
  int32_t *v = malloc((n ? n : 1) * sizeof *v);
  if (!v) return -1;
  for (size_t i = 0; i < n; i++) v[i] = (int32_t)i + first;
  const size_t dims[1] = {n};
  hid_t d = numeric_dataset(w, loc, name, FL_I32, 1, dims, v);
  free(v);
  if (d >= 0 && units && fl_h5w_attr_str(w, d, "units", units) != FL_OK) {
    H5Dclose(d);
    d = -1;
  }
  return d;
}

/* The coordinate of dimension dim (arm's, for its interventions) made in group loc (-1 after a
 * failure). */
static hid_t make_scale(fl_h5w *w, hid_t loc, const fl_output_ctx *c, fl_dim dim, size_t arm) {
  const fl_model *m = c->m;
  static char *const components[3] = {"parameter_variance", "chance_variance",
                                      "parameter_share"};
  const char *name = fl_dim_names[dim];
  const size_t n = fl_dim_size(c, dim, arm);
  switch (dim) {
  case FL_DIM_TIME:
  case FL_DIM_STEP: return time_scale(w, loc, m, name, n);
  case FL_DIM_STATE:
  case FL_DIM_TO_STATE: return strings_dataset(w, loc, name, m->state_names, n);
  case FL_DIM_LEVEL: return strings_dataset(w, loc, name, m->level_names, n);
  case FL_DIM_HOLDER: return strings_dataset(w, loc, name, m->holder_names, n);
  case FL_DIM_LOCALITY: return strings_dataset(w, loc, name, m->loc_names, n);
  case FL_DIM_REWARD_CLASS: return strings_dataset(w, loc, name, m->rc_names, n);
  case FL_DIM_COMPONENT: return strings_dataset(w, loc, name, components, 3);
  case FL_DIM_SPELL_LENGTH:
  case FL_DIM_YEAR: return count_scale(w, loc, name, n, 1, fl_dim_units[dim]);
  case FL_DIM_INTERVENTION: {
    const size_t ni = m->arms[arm].n_int;
    char **names = malloc((ni ? ni : 1) * sizeof *names);
    if (!names) return -1;
    for (size_t i = 0; i < ni; i++) names[i] = m->arms[arm].ints[i].name;
    hid_t d = strings_dataset(w, loc, name, names, ni);
    free(names);
    return d;
  }
  case FL_DIM_ARM: {
    char *names[FL_MAX_ARMS];
    for (size_t a = 0; a < m->n_arms; a++) names[a] = m->arms[a].name;
    return strings_dataset(w, loc, name, names, m->n_arms);
  }
  case FL_DIM_PARAMETER: {
    char **names = malloc((m->n_unc ? m->n_unc : 1) * sizeof *names);
    if (!names) return -1;
    for (size_t k = 0; k < m->n_unc; k++) names[k] = m->unc[k].key;
    hid_t d = strings_dataset(w, loc, name, names, m->n_unc);
    free(names);
    return d;
  }
  case FL_DIM_WTP: { /* (the comparisons' dataset willingness_to_pay is this coordinate) */
    const size_t dims[1] = {n};
    char units[64];
    hid_t d = numeric_dataset(w, loc, name, FL_F64, 1, dims, m->wtp);
    snprintf(units, sizeof units, "%s per QALY", m->currency);
    if (d >= 0 && fl_h5w_attr_str(w, d, "units", units) != FL_OK) {
      H5Dclose(d);
      d = -1;
    }
    return d;
  }
  default: return count_scale(w, loc, name, n, 0, fl_dim_units[dim]); /* replication, moves, value */
  }
}

/* The coordinates made so far: one a dimension in each group that has datasets using it
 * (netCDF readers such as xarray take a group's coordinates from its own datasets). */
typedef struct scale_entry {
  char group[256];
  fl_dim dim;
  hid_t id;
} scale_entry;

struct fl_h5_scales {
  const fl_output_ctx *ctx;
  scale_entry *e;
  size_t n, cap;
};

fl_status fl_h5_scales_make(fl_h5w *w, const fl_output_ctx *c, fl_h5_scales **out) {
  *out = calloc(1, sizeof **out);
  if (!*out) return fl_h5w_fail(w, "allocate the dimension scales");
  (*out)->ctx = c;
  return FL_OK;
}

void fl_h5_scales_free(fl_h5_scales *s) {
  if (!s) return;
  for (size_t i = 0; i < s->n; i++) H5Dclose(s->e[i].id);
  free(s->e);
  free(s);
}

/* The coordinate of dim in the group of dataset path, made when it is the group's first use. */
static hid_t scale_for(fl_h5w *w, fl_h5_scales *s, const char *path, fl_dim dim, size_t arm) {
  char group[256];
  const char *slash = strrchr(path, '/');
  const size_t len = slash && slash > path ? (size_t)(slash - path) : 0;
  if (len >= sizeof group) return -1;
  memcpy(group, path, len);
  group[len] = '\0';
  for (size_t i = 0; i < s->n; i++)
    if (s->e[i].dim == dim && !strcmp(s->e[i].group, group)) return s->e[i].id;
  if (s->n == s->cap) {
    const size_t cap = s->cap ? 2 * s->cap : 64;
    scale_entry *e = realloc(s->e, cap * sizeof *e);
    if (!e) return -1;
    s->e = e;
    s->cap = cap;
  }
  hid_t loc = len ? H5Gopen2(w->file, group, H5P_DEFAULT) : H5Gopen2(w->file, "/", H5P_DEFAULT);
  if (loc < 0) return -1;
  hid_t d = make_scale(w, loc, s->ctx, dim, arm);
  H5Gclose(loc);
  const char *doc = dim == FL_DIM_WTP ? fl_outputs[FL_OUT_WILLINGNESS_TO_PAY].doc : fl_dim_docs[dim];
  if (d < 0 || H5DSset_scale(d, fl_dim_names[dim]) < 0 ||
      fl_h5w_attr_str(w, d, "description", doc) != FL_OK) {
    if (d >= 0) H5Dclose(d);
    return -1;
  }
  scale_entry *e = &s->e[s->n++];
  snprintf(e->group, sizeof e->group, "%s", group);
  e->dim = dim;
  e->id = d;
  return d;
}

fl_status fl_h5_scales_attach(fl_h5w *w, fl_h5_scales *s, hid_t d, const fl_dim *dims, int rank,
                              size_t arm) {
  char path[512];
  if (H5Iget_name(d, path, sizeof path) <= 0) return fl_h5w_fail(w, "name a dataset");
  for (int k = 0; k < rank; k++) {
    const hid_t scale = scale_for(w, s, path, dims[k], arm);
    if (scale < 0 || H5DSattach_scale(d, scale, (unsigned)k) < 0)
      return fl_h5w_fail(w, "attach a dimension scale");
  }
  return FL_OK;
}

fl_status fl_h5_write_header(fl_h5w *w, fl_h5_scales *sc, const fl_results *res,
                             const fl_model *m, const fl_provenance *prov, size_t R) {
  hid_t root = w->file;
  char stamp[32];
  time_t now = time(NULL);
  struct tm tmv;
  uint64_t seed = res->seed, R64 = R, T = m->T;
  double horizon_months = (double)m->T * m->step_months;
  gmtime_r(&now, &tmv);
  strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%SZ", &tmv);
  fl_status st = FL_OK;
#define TRY(x)                                                                                     \
  do {                                                                                             \
    if ((st = (x)) != FL_OK) return st;                                                            \
  } while (0)
  TRY(fl_h5w_attr_str(w, root, "flourish_version", FL_VERSION_STRING));
  TRY(fl_h5w_attr_str(w, root, "format_version", FL_FORMAT_VERSION));
  TRY(fl_h5w_attr_str(w, root, "git_commit", prov && prov->git_commit ? prov->git_commit : "unknown"));
  TRY(fl_h5w_attr_str(w, root, "created_utc", stamp));
  TRY(fl_h5w_attr_str(w, root, "command_line", prov && prov->command_line ? prov->command_line : ""));
  TRY(fl_h5w_attr_str(w, root, "mode", res->expectation ? "expectation" : "monte_carlo"));
  TRY(fl_h5w_attr_str(w, root, "scenario_name", m->name));
  TRY(fl_h5w_attr_str(w, root, "scenario_yaml", m->scenario_text));
  TRY(fl_h5w_attr_str(w, root, "scenario_overrides", m->scenario_overrides));
  TRY(fl_h5w_attr_str(w, root, "currency", m->currency));
  TRY(fl_h5w_attr_str(w, root, "time_start", m->start_label));
  TRY(fl_h5w_attr_num(w, root, "seed", H5T_NATIVE_UINT64, &seed));
  TRY(fl_h5w_attr_num(w, root, "replications", H5T_NATIVE_UINT64, &R64));
  TRY(fl_h5w_attr_num(w, root, "horizon_steps", H5T_NATIVE_UINT64, &T));
  TRY(fl_h5w_attr_num(w, root, "horizon_months", H5T_NATIVE_DOUBLE, &horizon_months));
  TRY(fl_h5w_attr_num(w, root, "step_months", H5T_NATIVE_DOUBLE, &m->step_months));
  if (res->psa) {
    const uint64_t inner = res->psa_inner;
    TRY(fl_h5w_attr_str(w, root, "parameter_uncertainty", "transition rows drawn from Dirichlet("
                        "counts + psa_prior) once per block of psa_inner replications"));
    TRY(fl_h5w_attr_num(w, root, "psa_inner", H5T_NATIVE_UINT64, &inner));
    TRY(fl_h5w_attr_num(w, root, "psa_prior", H5T_NATIVE_DOUBLE, &res->psa_prior));
    if (res->ctx.n_evppi) {
      char keys[FL_EVPPI_GROUP_MAX * 256] = "";
      size_t len = 0;
      for (size_t k = 0; k < res->ctx.n_evppi && len < sizeof keys; k++)
        len += (size_t)snprintf(keys + len, sizeof keys - len, "%s%s", k ? "," : "",
                                m->unc[res->ctx.evppi[k]].key);
      TRY(fl_h5w_attr_str(w, root, "evppi_parameters", keys));
    }
  }
  TRY(fl_h5w_strings(w, "/states", m->state_names, m->S, "Names of the states, in index order."));
  TRY(fl_h5w_strings(w, "/levels", m->level_names, m->L, "Names of the levels, lowest first."));
  TRY(fl_h5w_strings(w, "/budget_holders", m->holder_names, m->B, "Names of the budget holders."));
  TRY(fl_h5w_strings(w, "/localities", m->loc_names, m->NLOC, "Names of the localities."));
  int32_t levels[FL_MAX_STATES];
  for (size_t s = 0; s < m->S; s++) levels[s] = m->state_level[s];
  TRY(fl_h5w_array(w, "/state_level", FL_I32, 1, &m->S, levels,
                   "Index into /levels of each state's level.", "1"));
  hid_t d = H5Dopen2(w->file, "/state_level", H5P_DEFAULT);
  const fl_dim state = FL_DIM_STATE;
  st = d < 0 ? fl_h5w_fail(w, "open a dataset") : fl_h5_scales_attach(w, sc, d, &state, 1, 0);
  if (d >= 0) H5Dclose(d);
#undef TRY
  return st;
}

/* What an ICER means, from the signs of the mean net cost and QALYs gained. */
static const char *icer_meaning(double dc, double dq) {
  if (dc <= 0 && dq > 0) return "dominant: saves money and gains QALYs";
  if (dc >= 0 && dq < 0) return "dominated: costs more and loses QALYs";
  if (dc > 0 && dq > 0) return "cost per QALY gained";
  if (dc < 0 && dq < 0) return "saving per QALY lost";
  if (dq == 0) return "no QALYs gained or lost: the ratio is not defined";
  return "cost per QALY gained";
}

fl_status fl_h5_write_result(fl_h5w *w, fl_h5_scales *sc, const fl_output_ctx *ctx, int comp,
                             size_t arm, const fl_array *arr, double mean_dcost,
                             double mean_dqaly) {
  const fl_model *m = ctx->m;
  char path[400], units[128];
  fl_dim dims[FL_MAX_RANK];
  if (arr->id == FL_OUT_WILLINGNESS_TO_PAY) return FL_OK; /* the group's coordinate holds it */
  if (comp == FL_GROUP_DECISION)
    snprintf(path, sizeof path, "/%s", arr->name);
  else
    snprintf(path, sizeof path, "/%s/%s/%s", comp ? "comparisons" : "arms", m->arms[arm].name,
             arr->name);
  fl_status st = fl_h5w_array(w, path, arr->type, arr->rank, arr->dims, arr->data, arr->doc,
                              fl_h5_units(m, arr->id, units, sizeof units));
  if (st != FL_OK) return st;
  hid_t d = H5Dopen2(w->file, path, H5P_DEFAULT);
  if (d < 0) return fl_h5w_fail(w, "open a dataset");
  const int rank = fl_h5_dims(ctx, arr->id, dims);
  st = fl_h5_scales_attach(w, sc, d, dims, rank, arm);
  if (st == FL_OK && arr->id == FL_OUT_ICER) {
    st = fl_h5w_attr_str(w, d, "interpretation", icer_meaning(mean_dcost, mean_dqaly));
    if (st == FL_OK) st = fl_h5w_attr_num(w, d, "mean_delta_cost", H5T_NATIVE_DOUBLE, &mean_dcost);
    if (st == FL_OK) st = fl_h5w_attr_num(w, d, "mean_delta_qalys", H5T_NATIVE_DOUBLE, &mean_dqaly);
  }
  H5Dclose(d);
  return st;
}
