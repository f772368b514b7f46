/* Reading Flourish output files back: the shared reader of `flourish summary` (and what checks
 * a file is one of ours), and the plain-text output helpers. Private to output/. */
#ifndef FL_READER_H
#define FL_READER_H

#include "output/output.h"

#include <hdf5.h>

typedef struct fl_reader {
  hid_t file;
  const char *path;
  fl_error *err;
} fl_reader;

/* An FL_EINPUT error: not a Flourish output file (or damaged), with what is wrong. */
fl_status fl_reader_bad(fl_reader *rd, const char *what);
/* A whole dataset as doubles (NULL when absent or unreadable; free it); dims receives its
 * shape, of *rank <= FL_MAX_RANK dimensions. */
double *fl_reader_doubles(fl_reader *rd, const char *name, int *rank, hsize_t *dims);
/* A 1-D dataset of strings, fixed or variable length (NULL when absent; free with
 * fl_names_free). */
char **fl_reader_names(fl_reader *rd, const char *name, size_t *n);
/* The text attribute name of obj (fixed or variable length) into text[size]; returns 0 when it
 * is absent, not text or longer than size - 1. */
int fl_reader_attr_text(hid_t obj, const char *name, char *text, size_t size);
/* The one-element text attribute name of obj, either string kind, as a new string (free it);
 * NULL when absent or not text. */
char *fl_reader_attr_string(hid_t obj, const char *name);
/* Reads the one-element numeric attribute name of obj into *v; returns 1, or 0 (v untouched)
 * when it is missing, not numeric or not one element. */
int fl_reader_attr_number(hid_t obj, const char *name, double *v);
/* Whether dataset name is stored as integers. */
int fl_reader_is_integer(fl_reader *rd, const char *name);
/* Whether all n values are finite. */
int fl_all_finite(const double *v, size_t n);
/* Element count of a shape read by fl_reader_doubles. */
size_t fl_reader_count(int rank, const hsize_t *dims);

/* Mean, 5% and 95% quantiles of v[R] (v is reordered). */
void fl_stats_90(double *v, size_t R, double *mean, double *lo, double *hi);

/* summary_sweep.c: a sweep's file. */
fl_status fl_summarise_sweep(fl_reader *rd, fl_out *o, int csv);

#endif
