/* Results in memory read through the public API (flourish.h, "Reading results"): a dataset by
 * its registry name with its dimensions, the labels of a dimension's items, and the summaries
 * over replications computed as the output file's are (fl_summarise_cell). */
#include "output/output.h"

#include <stdlib.h>
#include <string.h>

size_t fl_results_n_arms(const fl_results *res) { return res ? res->n_arms : 0; }

const char *fl_results_arm_name(const fl_results *res, size_t arm) {
  return res && arm < res->n_arms ? res->arms[arm].name : NULL;
}

size_t fl_results_replications(const fl_results *res) {
  return !res || res->expectation ? 0 : res->R;
}

int fl_results_dataset(const fl_results *res, size_t arm, int comparison, const char *name,
                       fl_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  if (!res || arm >= res->n_arms || !name || (comparison && arm == 0)) return 0;
  const fl_array *a = fl_group_find(comparison ? &res->comps[arm] : &res->arms[arm], name);
  if (!a) return 0;
  const fl_output_def *def = &fl_outputs[a->id];
  ds->name = a->name;
  ds->unit = def->unit;
  ds->rank = a->rank;
  ds->count = fl_array_count(a);
  int d = 0;
  for (int k = 0; k < FL_MAX_RANK && def->dims[k] != FL_DIM_NONE; k++) {
    if (res->expectation && def->dims[k] == FL_DIM_REPLICATION) continue;
    if (d < a->rank) ds->dim_names[d++] = fl_dim_names[def->dims[k]];
  }
  for (int k = 0; k < a->rank; k++) {
    ds->dims[k] = a->dims[k];
    if (!ds->dim_names[k]) ds->dim_names[k] = "";
  }
  ds->per_replication = !res->expectation && a->rank > 0 && def->dims[0] == FL_DIM_REPLICATION;
  ds->data_ = a;
  return 1;
}

double fl_dataset_value(const fl_dataset *ds, size_t i) {
  const fl_array *a = ds->data_;
  return a && i < ds->count ? fl_array_get(a, i) : 0.0;
}

const char *fl_summary_stat_name(size_t k) {
  static const char *const first[3] = {"mean", "sd", "mcse"};
  return k < 3 ? first[k] : k < FL_SUMMARY_STATS ? fl_quantile_names[k - 3] : NULL;
}

fl_status fl_dataset_summarise(const fl_dataset *ds, double *out, fl_error *err) {
  const fl_array *a = ds->data_;
  if (!a || !ds->per_replication || ds->dims[0] == 0) {
    fl_error_set(err, FL_EUSAGE, NULL, 0, 0, ds->name ? ds->name : "",
                 "summaries are made of a dataset with a value per replication");
    return FL_EUSAGE;
  }
  _Static_assert(FL_SUMMARY_STATS == FL_N_STATS, "the public count of summary statistics");
  const size_t R = ds->dims[0], cells = ds->count / R, hist_len = 2 * R + 64;
  double *v = malloc(R * sizeof *v);
  uint32_t *hist = malloc(hist_len * sizeof *hist);
  if (!v || !hist) {
    free(v);
    free(hist);
    fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL, "out of memory");
    return FL_ENOMEM;
  }
  for (size_t c = 0; c < cells; c++) {
    for (size_t r = 0; r < R; r++) v[r] = fl_array_get(a, r * cells + c);
    fl_summarise_cell(v, R, a->type == FL_I32, hist, hist_len, out, cells, c);
  }
  free(v);
  free(hist);
  return FL_OK;
}

const char *fl_results_label(const fl_results *res, size_t arm, const char *dim, size_t i) {
  if (!res || !dim || arm >= res->n_arms) return NULL;
  const fl_model *m = res->ctx.m;
  if (!strcmp(dim, "state") || !strcmp(dim, "to_state")) return i < m->S ? m->state_names[i] : NULL;
  if (!strcmp(dim, "level")) return i < m->L ? m->level_names[i] : NULL;
  if (!strcmp(dim, "budget_holder")) return i < m->B ? m->holder_names[i] : NULL;
  if (!strcmp(dim, "locality")) return i < m->NLOC ? m->loc_names[i] : NULL;
  if (!strcmp(dim, "intervention"))
    return i < m->arms[arm].n_int ? m->arms[arm].ints[i].name : NULL;
  if (!strcmp(dim, "arm")) return i < m->n_arms ? m->arms[i].name : NULL;
  return NULL;
}

int fl_results_state_level(const fl_results *res, size_t state) {
  return res && state < res->ctx.m->S ? (int)res->ctx.m->state_level[state] : -1;
}
