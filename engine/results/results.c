/* Result arrays: made as the output registry says, found by output id or by name. */
#include "results/results.h"

#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

size_t fl_array_count(const fl_array *a) {
  size_t n = 1;
  for (int i = 0; i < a->rank; i++) n *= a->dims[i];
  return n;
}

fl_results *fl_results_create(const fl_output_ctx *ctx) {
  const fl_model *m = ctx->m;
  fl_results *res = calloc(1, sizeof *res);
  if (!res) return NULL;
  res->ctx = *ctx;
  res->expectation = ctx->expectation;
  res->R = ctx->expectation ? 1 : ctx->R;
  res->psa = ctx->psa;
  res->psa_inner = ctx->psa ? ctx->psa_inner : 0;
  res->keep_flows = 1;
  res->n_arms = m->n_arms;
  for (size_t a = 0; a < m->n_arms; a++) {
    if (!(res->arms[a].name = fl_strdup(m->arms[a].name)) ||
        (a > 0 && !(res->comps[a].name = fl_strdup(m->arms[a].name)))) {
      fl_results_free(res);
      return NULL;
    }
  }
  return res;
}

/* Adds output id of arm to group g, zeroed; returns nonzero on OOM. */
static int add(fl_results *res, fl_arm_results *g, size_t arm, fl_output id) {
  const fl_output_ctx *c = &res->ctx;
  fl_array a = {.id = id, .name = fl_outputs[id].name, .doc = fl_output_doc(c, id),
                .type = fl_output_type(c, id)};
  a.rank = fl_output_shape(c, id, arm, a.dims);
  a.not_written = (fl_outputs[id].flags & FL_OUT_OMITTABLE) && !res->keep_flows;
  size_t n = 1;
  for (int i = 0; i < a.rank; i++) {
    if (a.dims[i] && n > SIZE_MAX / 8 / a.dims[i]) return -1;
    n *= a.dims[i];
  }
  if (!(a.data = fl_calloc(n, fl_dtype_size(a.type)))) return -1;
  if (g->n_arrays == g->cap) {
    const size_t cap = g->cap ? 2 * g->cap : 16;
    fl_array *grown = realloc(g->arrays, cap * sizeof *grown);
    if (!grown) {
      free(a.data);
      return -1;
    }
    g->arrays = grown;
    g->cap = cap;
  }
  g->arrays[g->n_arrays++] = a;
  g->index[id] = (int)g->n_arrays;
  return 0;
}

fl_status fl_results_alloc(fl_results *res, fl_stage stage, fl_error *err) {
  return fl_results_alloc_part(res, stage, FL_PART_ALL, err);
}

fl_status fl_results_alloc_part(fl_results *res, fl_stage stage, fl_part part, fl_error *err) {
  for (size_t arm = 0; arm < res->n_arms; arm++)
    for (int id = 0; id < FL_N_OUTPUTS; id++) {
      const fl_output_def *d = &fl_outputs[id];
      if (d->stage != stage || !fl_output_present(&res->ctx, (fl_output)id, arm)) continue;
      if (part != FL_PART_ALL && fl_output_per_rep((fl_output)id) != (part == FL_PART_PER_REP))
        continue;
      fl_arm_results *g = d->group == FL_GROUP_ARM          ? &res->arms[arm]
                          : d->group == FL_GROUP_COMPARISON ? &res->comps[arm]
                                                            : &res->decision;
      if (fl_group_get(g, (fl_output)id)) continue; /* (allocated already) */
      if (add(res, g, arm, (fl_output)id) != 0) {
        fl_error_set(err, FL_ENOMEM, NULL, 0, 0, NULL,
                     "out of memory allocating %s for %zu replications; use fewer "
                     "replications or --no-flows",
                     d->name, res->R);
        return FL_ENOMEM;
      }
    }
  return FL_OK;
}

fl_array *fl_results_get(const fl_results *res, size_t arm, fl_output id) {
  const fl_group k = fl_outputs[id].group;
  const fl_arm_results *g = k == FL_GROUP_ARM          ? &res->arms[arm]
                            : k == FL_GROUP_COMPARISON ? &res->comps[arm]
                            : arm == 0                 ? &res->decision
                                                       : NULL;
  return g ? fl_group_get(g, id) : NULL;
}

void *fl_results_slice(const fl_results *res, size_t arm, fl_output id, size_t rep) {
  const fl_array *a = fl_results_get(res, arm, id);
  if (!a) return NULL;
  return (char *)a->data + rep * (fl_array_count(a) / a->dims[0]) * fl_dtype_size(a->type);
}

void fl_results_zero_row(fl_results *res, size_t r) {
  for (size_t a = 0; a < res->n_arms; a++)
    for (int comp = 0; comp < 2; comp++) {
      fl_arm_results *g = comp ? &res->comps[a] : &res->arms[a];
      for (size_t i = 0; i < g->n_arrays; i++) {
        fl_array *arr = &g->arrays[i];
        if (!fl_output_per_rep(arr->id) || res->expectation) continue;
        const size_t bytes = fl_array_count(arr) / arr->dims[0] * fl_dtype_size(arr->type);
        memset((char *)arr->data + r * bytes, 0, bytes);
      }
    }
}

void fl_results_tally(const fl_results *res, size_t arm, size_t rep, fl_tally *t) {
  for (int id = 0; id < FL_N_OUTPUTS; id++)
    t->at[id] = fl_outputs[id].stage == FL_STAGE_TALLY
                    ? fl_results_slice(res, arm, (fl_output)id, rep)
                    : NULL;
  t->base = NULL;
}

fl_array *fl_group_find(const fl_arm_results *g, const char *name) {
  for (size_t i = 0; i < g->n_arrays; i++)
    if (!strcmp(g->arrays[i].name, name)) return &g->arrays[i];
  return NULL;
}

fl_array *fl_results_find(fl_results *res, size_t arm, const char *name) {
  return fl_group_find(&res->arms[arm], name);
}

const fl_array *fl_results_find_const(const fl_results *res, size_t arm, const char *name) {
  return fl_group_find(&res->arms[arm], name);
}

static void free_group(fl_arm_results *g) {
  for (size_t i = 0; i < g->n_arrays; i++) free(g->arrays[i].data);
  free(g->arrays);
  free(g->name);
}

void fl_results_free(fl_results *res) {
  if (!res) return;
  for (size_t a = 0; a < FL_MAX_ARMS; a++) {
    free_group(&res->arms[a]);
    free_group(&res->comps[a]);
  }
  free_group(&res->decision);
  free(res);
}

int fl_results_threads(const fl_results *res) {
#ifdef _OPENMP
  return res->threads > 0 ? res->threads : omp_get_max_threads();
#else
  (void)res;
  return 1;
#endif
}
