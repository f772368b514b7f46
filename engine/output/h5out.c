/* Writing results held in memory (fl_results_write): an expectation's file, or a Monte Carlo
 * run's through the streaming writer (h5stream.c) a block at a time; and the small files of the
 * calibration report and sweeps (fl_h5_write_simple). Every file is built under a temporary
 * name beside its target and moved over it only when complete. */
#include "output/h5file.h"

#include <hdf5_hl.h>
#include <stdio.h>
#include <string.h>

/* An expectation's file: the header, the dimension scales and every array, whole. */
static fl_status write_expectation(fl_h5w *w, const fl_results *res, const fl_model *m,
                                   const fl_provenance *prov) {
  fl_h5_scales *sc = NULL;
  fl_status st = fl_h5_scales_make(w, &res->ctx, &sc);
  if (st == FL_OK) st = fl_h5_write_header(w, sc, res, m, prov, 0);
  for (size_t a = 0; a < res->n_arms && st == FL_OK; a++) {
    const fl_array *dc = fl_results_get(res, a, FL_OUT_DELTA_COST_TOTAL);
    const fl_array *dq = fl_results_get(res, a, FL_OUT_DELTA_QALY_TOTAL);
    const double mdc = a && dc ? fl_array_get(dc, 0) : 0, mdq = a && dq ? fl_array_get(dq, 0) : 0;
    for (int comp = 0; comp < 2 && st == FL_OK; comp++) {
      const fl_arm_results *g = comp ? &res->comps[a] : &res->arms[a];
      for (size_t i = 0; i < g->n_arrays && st == FL_OK; i++)
        if (!g->arrays[i].not_written)
          st = fl_h5_write_result(w, sc, &res->ctx, comp, a, &g->arrays[i], mdc, mdq);
    }
  }
  for (size_t i = 0; i < res->decision.n_arrays && st == FL_OK; i++)
    st = fl_h5_write_result(w, sc, &res->ctx, FL_GROUP_DECISION, 0, &res->decision.arrays[i], 0,
                            0);
  fl_h5_scales_free(sc);
  return st;
}

fl_status fl_results_write(const fl_results *res, const fl_model *m, const fl_provenance *prov,
                           const char *path, fl_error *err) {
  if (!res->expectation) return fl_h5_write_run(res, m, prov, path, err);
  fl_h5w w;
  fl_status st = fl_h5w_create(&w, path, err);
  if (st != FL_OK) return st;
  st = write_expectation(&w, res, m, prov);
  if (st != FL_OK) {
    fl_h5w_abort(&w);
    return st;
  }
  return fl_h5w_commit(&w);
}

typedef struct simple_ctx {
  const fl_h5_dataset *ds;
  size_t n;
  const fl_h5_names *names;
  size_t n_names;
  const char *const (*attrs)[2];
  size_t n_attrs;
} simple_ctx;

static fl_status simple_body(fl_h5w *w, const simple_ctx *c) {
  fl_status st = fl_h5w_attr_str(w, w->file, "flourish_version", FL_VERSION_STRING);
  if (st == FL_OK) st = fl_h5w_attr_str(w, w->file, "format_version", FL_FORMAT_VERSION);
  for (size_t i = 0; i < c->n_attrs && st == FL_OK; i++)
    st = fl_h5w_attr_str(w, w->file, c->attrs[i][0], c->attrs[i][1]);
  for (size_t i = 0; i < c->n_names && st == FL_OK; i++)
    st = fl_h5w_strings(w, c->names[i].name, c->names[i].names, c->names[i].n, NULL);
  for (size_t i = 0; i < c->n && st == FL_OK; i++)
    st = fl_h5w_array(w, c->ds[i].name, FL_F64, c->ds[i].rank, c->ds[i].dims, c->ds[i].data,
                      c->ds[i].doc, NULL);
  /* Dimension scales, once every dataset exists. */
  for (size_t i = 0; i < c->n && st == FL_OK; i++) {
    if (!c->ds[i].scale) continue;
    hid_t d = H5Dopen2(w->file, c->ds[i].name, H5P_DEFAULT);
    if (d < 0 || H5DSset_scale(d, c->ds[i].scale) < 0)
      st = fl_h5w_fail(w, "make a dimension scale");
    if (d >= 0) H5Dclose(d);
  }
  for (size_t i = 0; i < c->n && st == FL_OK; i++) {
    for (int k = 0; k < c->ds[i].rank && st == FL_OK; k++) {
      const size_t s = c->ds[i].attach[k];
      if (!s) continue;
      hid_t d = H5Dopen2(w->file, c->ds[i].name, H5P_DEFAULT);
      hid_t sd = H5Dopen2(w->file, c->ds[s - 1].name, H5P_DEFAULT);
      if (d < 0 || sd < 0 || H5DSattach_scale(d, sd, (unsigned)k) < 0)
        st = fl_h5w_fail(w, "attach a dimension scale");
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
  fl_h5w w;
  fl_status st = fl_h5w_create(&w, path, err);
  if (st != FL_OK) return st;
  if ((st = simple_body(&w, &ctx)) != FL_OK) {
    fl_h5w_abort(&w);
    return st;
  }
  return fl_h5w_commit(&w);
}
