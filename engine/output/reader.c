/* Reading output files back (see reader.h). */
#include "output/reader.h"

#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

fl_status fl_reader_bad(fl_reader *rd, const char *what) {
  fl_error_set(rd->err, FL_EINPUT, rd->path, 0, 0, NULL,
               "not a Flourish output file (or damaged): %s", what);
  return FL_EINPUT;
}

/* Whether the file stores enough of dataset d for its shape, `elements` elements of elem_size
 * bytes. The readers allocate a whole dataset before reading it, and a damaged file may claim
 * any shape: one that needs more bytes than the dataset's storage in the file could expand to
 * (deflate expands at most 1032 times, zlib's bound) is refused as damage, not allocated. */
static int shape_is_stored(fl_reader *rd, hid_t d, double elements, size_t elem_size) {
  hsize_t stored = H5Dget_storage_size(d), file_size = 0;
  if (H5Fget_filesize(rd->file, &file_size) < 0 || stored > file_size) stored = file_size;
  return elements * (double)(elem_size ? elem_size : 1) <= 1032.0 * (double)stored + 1024;
}

double *fl_reader_doubles(fl_reader *rd, const char *name, int *rank, hsize_t *dims) {
  hid_t d = H5Dopen2(rd->file, name, H5P_DEFAULT), sp, t;
  double *buf = NULL, elements = 1;
  size_t n = 1;
  if (d < 0) return NULL;
  sp = H5Dget_space(d);
  t = H5Dget_type(d);
  *rank = H5Sget_simple_extent_ndims(sp);
  if (*rank >= 0 && *rank <= FL_MAX_RANK) {
    H5Sget_simple_extent_dims(sp, dims, NULL);
    for (int i = 0; i < *rank; i++) elements *= (double)dims[i];
    for (int i = 0; i < *rank; i++) n *= dims[i];
    if (shape_is_stored(rd, d, elements, H5Tget_size(t))) buf = fl_malloc_array(n, sizeof *buf);
    if (buf && H5Dread(d, H5T_NATIVE_DOUBLE, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
      free(buf);
      buf = NULL;
    }
  }
  H5Tclose(t);
  H5Sclose(sp);
  H5Dclose(d);
  return buf;
}

char **fl_reader_names(fl_reader *rd, const char *name, size_t *n) {
  hid_t d = H5Dopen2(rd->file, name, H5P_DEFAULT), t, sp;
  char **out = NULL, *buf = NULL;
  hsize_t dims[1] = {0};
  if (d < 0) return NULL;
  t = H5Dget_type(d);
  sp = H5Dget_space(d);
  const size_t len = H5Tget_size(t);
  int ok = H5Tget_class(t) == H5T_STRING && H5Sget_simple_extent_ndims(sp) == 1 &&
           H5Sget_simple_extent_dims(sp, dims, NULL) == 1;
  const int vlen = ok && H5Tis_variable_str(t) > 0;
  /* (A variable-length string is stored as a 16-byte reference to the heap.) */
  ok = ok && shape_is_stored(rd, d, (double)dims[0], vlen ? 16 : len);
  /* Fixed-length strings in one buffer, variable-length ones as pointers (in the file's
   * character set: HDF5 converts none between them). */
  buf = ok ? fl_calloc(vlen ? dims[0] + 1 : dims[0] * len + 1, vlen ? sizeof(char *) : 1) : NULL;
  out = ok ? fl_calloc(dims[0] + 1, sizeof *out) : NULL;
  if (buf && out && H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) >= 0) {
    for (size_t i = 0; i < dims[0]; i++) {
      const char *v = vlen ? ((char **)(void *)buf)[i] : buf + i * len;
      const size_t k = vlen ? (v ? strlen(v) : 0) : strnlen(v, len);
      if ((out[i] = fl_calloc(k + 1, 1)) && k) memcpy(out[i], v, k);
    }
    if (vlen) H5Dvlen_reclaim(t, sp, H5P_DEFAULT, buf);
    *n = dims[0];
  } else {
    free(out);
    out = NULL;
  }
  free(buf);
  H5Sclose(sp);
  H5Tclose(t);
  H5Dclose(d);
  return out;
}

char *fl_reader_attr_string(hid_t obj, const char *name) {
  if (H5Aexists(obj, name) <= 0) return NULL;
  hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  if (a < 0) return NULL;
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  char *out = NULL;
  /* One element only: a damaged file may hold an array, which would overrun the buffer. */
  if (H5Sget_simple_extent_npoints(sp) == 1 && H5Tget_class(t) == H5T_STRING) {
    if (H5Tis_variable_str(t) > 0) {
      char *v = NULL;
      if (H5Aread(a, t, &v) >= 0 && v) out = fl_strdup(v);
      H5free_memory(v);
    } else {
      const size_t len = H5Tget_size(t); /* may fill its size with no NUL */
      if ((out = fl_calloc(len + 1, 1)) && H5Aread(a, t, out) < 0) {
        free(out);
        out = NULL;
      }
    }
  }
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
  return out;
}

int fl_reader_attr_text(hid_t obj, const char *name, char *text, size_t size) {
  char *v = size ? fl_reader_attr_string(obj, name) : NULL;
  const int ok = v && strlen(v) < size;
  if (v) snprintf(text, size, "%s", v);
  free(v);
  return ok;
}

int fl_reader_attr_number(hid_t obj, const char *name, double *v) {
  const hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
  int ok = 0;
  if (a < 0) return 0;
  const hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  const H5T_class_t c = H5Tget_class(t);
  if (H5Sget_simple_extent_npoints(sp) == 1 && (c == H5T_FLOAT || c == H5T_INTEGER))
    ok = H5Aread(a, H5T_NATIVE_DOUBLE, v) >= 0;
  H5Sclose(sp);
  H5Tclose(t);
  H5Aclose(a);
  return ok;
}

void fl_stats_90(double *v, size_t R, double *mean, double *lo, double *hi) {
  *mean = gsl_stats_mean(v, 1, R);
  gsl_sort(v, 1, R);
  *lo = gsl_stats_quantile_from_sorted_data(v, 1, R, 0.05);
  *hi = gsl_stats_quantile_from_sorted_data(v, 1, R, 0.95);
}

/* One arm's datasets read back, and their shape. */
size_t fl_reader_count(int rank, const hsize_t *dims) {
  size_t n = 1;
  for (int i = 0; i < rank; i++) n *= (size_t)dims[i];
  return n;
}

int fl_reader_is_integer(fl_reader *rd, const char *name) {
  hid_t d = H5Dopen2(rd->file, name, H5P_DEFAULT);
  if (d < 0) return 0;
  hid_t t = H5Dget_type(d);
  const int integer = H5Tget_class(t) == H5T_INTEGER;
  H5Tclose(t);
  H5Dclose(d);
  return integer;
}

int fl_all_finite(const double *v, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i])) return 0;
  return 1;
}
