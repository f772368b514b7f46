/* The output layer: writing results to HDF5 and reading them back for summaries. */
#ifndef FL_OUTPUT_H
#define FL_OUTPUT_H

#include "results/results.h"

/* h5stream.c: a Monte Carlo run streamed to an HDF5 file atomically, replication blocks as they
 * finish (fl_run_write in flourish.h). h5out.c: results held in memory written whole
 * (fl_results_write), and a small HDF5 file of float64 datasets and name lists, written atomically (used by
 * the calibration report and sweeps). Dataset names are paths; groups are created as needed.
 * A dataset can be an HDF5 dimension scale (scale: its name) and can have scales attached to
 * its dimensions (attach[d]: 1 + the index of the scale in the same list, 0 for none), so
 * that readers such as xarray label each dimension. */
typedef struct fl_h5_dataset {
  const char *name, *doc;
  int rank;
  size_t dims[FL_MAX_RANK];
  const double *data;
  const char *scale;
  size_t attach[FL_MAX_RANK];
} fl_h5_dataset;
typedef struct fl_h5_names {
  const char *name;
  char *const *names;
  size_t n;
} fl_h5_names;
/* attrs: n_attrs (name, value) pairs of strings for the root group, after flourish_version. */
fl_status fl_h5_write_simple(const char *path, const fl_h5_dataset *ds, size_t n,
                             const fl_h5_names *names, size_t n_names,
                             const char *const (*attrs)[2], size_t n_attrs, fl_error *err);

/* A Monte Carlo run's results held in memory written as a streamed run's file (h5stream.c). */
fl_status fl_h5_write_run(const fl_results *res, const fl_model *m, const fl_provenance *prov,
                          const char *path, fl_error *err);

/* Prepares the HDF5 library for the engine, before its first HDF5 call: errors reported through
 * fl_error rather than printed, and no shutdown handler at exit. (HDF5 1.10 cannot close a
 * file whose closing failed, on a full disk say: its handler would then crash the process at
 * exit, after the error was reported. Every object the engine opens it closes itself.) */
void fl_h5_prepare(void);

/* Summary statistics of one cell's R values v (reordered): out[k * cells + c] for k = 0 mean,
 * 1 sd, 2 mcse, then the quantiles 0.025, 0.05, 0.25, 0.5, 0.75, 0.95, 0.975 (type 7). whole:
 * the values are whole numbers (counted when their range is below hist_len, else selected). */
#define FL_N_QUANTILES 7
#define FL_N_STATS (3 + FL_N_QUANTILES)
extern const double fl_quantile_levels[FL_N_QUANTILES];
extern const char *const fl_quantile_names[FL_N_QUANTILES]; /* q025 ... q975 */
void fl_summarise_cell(double *v, size_t R, int whole, uint32_t *hist, size_t hist_len,
                       double *out, size_t cells, size_t c);

#endif
