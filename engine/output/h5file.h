/* Writing HDF5 files that describe themselves (h5file.c), private to output/: the file under a
 * temporary name until complete, text as variable-length UTF-8, and every dataset with a units
 * attribute and named dimension scales, so that h5py, R's hdf5r, h5dump and xarray (engine
 * h5netcdf) read it with no Flourish code. */
#ifndef FL_H5FILE_H
#define FL_H5FILE_H

#include "output/output.h"

#include <hdf5.h>

/* The version of the layout of output files, in their root attribute format_version. */
#define FL_FORMAT_VERSION "2.0"

typedef struct fl_h5w {
  hid_t file;
  hid_t lcpl; /* creates intermediate groups */
  fl_error *err;
  const char *path;
  fl_outfile out;
} fl_h5w;

/* Creates the file under a temporary name beside path (the output-path policy applies). */
fl_status fl_h5w_create(fl_h5w *w, const char *path, fl_error *err);
/* Closes the file and moves it over path (commit), or removes it (abort). */
fl_status fl_h5w_commit(fl_h5w *w);
void fl_h5w_abort(fl_h5w *w);

/* An FL_EHDF5 error saying HDF5 could not do `what` (with the system's reason when it is one a
 * user can act on: a full disk, a file-size limit). */
fl_status fl_h5w_fail(fl_h5w *w, const char *what);

/* Attributes: a variable-length UTF-8 string, and a scalar number of a native type. */
fl_status fl_h5w_attr_str(fl_h5w *w, hid_t obj, const char *name, const char *value);
fl_status fl_h5w_attr_num(fl_h5w *w, hid_t obj, const char *name, hid_t type, const void *value);
/* A 1-D dataset of n variable-length UTF-8 strings. */
fl_status fl_h5w_strings(fl_h5w *w, const char *path, char *const *names, size_t n,
                         const char *doc);
/* An n-dimensional dataset written whole (chunked and compressed when it is large), with its
 * description and units attributes (either may be NULL). */
fl_status fl_h5w_array(fl_h5w *w, const char *path, fl_dtype type, int rank, const size_t *dims,
                       const void *data, const char *doc, const char *units);

/* The dimension scales of a run's or an expectation's file: a coordinate dataset named after
 * each dimension (replication, time, step, state, level, budget holder, locality, ...; an
 * arm's interventions) in each group with datasets that use it, made on its first use. */
typedef struct fl_h5_scales fl_h5_scales;
fl_status fl_h5_scales_make(fl_h5w *w, const fl_output_ctx *ctx, fl_h5_scales **out);
/* Attaches to dataset d (open) the coordinates of dims[0, rank) in its group (arm: the arm
 * whose interventions an intervention dimension counts). */
fl_status fl_h5_scales_attach(fl_h5w *w, fl_h5_scales *s, hid_t d, const fl_dim *dims, int rank,
                              size_t arm);
void fl_h5_scales_free(fl_h5_scales *s);

/* Writes array arr of arm's group (comp: an fl_group, FL_GROUP_ARM or FL_GROUP_COMPARISON) as
 * /GROUP/ARM/NAME, or a decision dataset (FL_GROUP_DECISION) as /NAME, whole, with its
 * description, units and dimension scales. The ICER is written with what its sign means
 * (fl_h5_icer_note), from the mean net cost and QALYs gained given. */
fl_status fl_h5_write_result(fl_h5w *w, fl_h5_scales *sc, const fl_output_ctx *ctx, int comp,
                             size_t arm, const fl_array *arr, double mean_dcost,
                             double mean_dqaly);

/* The root attributes (provenance, mode, sizes, format version), the name lists and the state
 * levels of a run's or an expectation's file. */
fl_status fl_h5_write_header(fl_h5w *w, fl_h5_scales *sc, const fl_results *res,
                             const fl_model *m, const fl_provenance *prov, size_t R);

/* The unit of output id as the file states it: the registry's, with "currency" replaced by the
 * scenario's currency (into buf). */
const char *fl_h5_units(const fl_model *m, fl_output id, char *buf, size_t size);

/* The dimensions of output id's dataset in this mode (the registry's, without the replication
 * in expectation mode), and their number. */
int fl_h5_dims(const fl_output_ctx *c, fl_output id, fl_dim *dims);

#endif
