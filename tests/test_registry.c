/* The output registry: every row is complete and in stage order, names are unique, the
 * results of a run and of an expectation hold exactly the datasets the registry says exist
 * (with the registry's shapes and types), and the tallies' layout matches the result slices. */
#include "testutil.h"

#include <string.h>

static void test_rows_complete(void) {
  int bad = 0;
  for (int id = 0; id < FL_N_OUTPUTS; id++) {
    const fl_output_def *d = &fl_outputs[id];
    if (!d->name || !d->doc || !d->unit || !*d->unit || d->dims[0] == FL_DIM_NONE) {
      fprintf(stderr, "registry row %d is incomplete\n", id);
      bad++;
      continue;
    }
    if (!(d->modes & FL_IN_MC)) bad++; /* every dataset exists in Monte Carlo runs */
    for (int j = 0; j < id; j++)
      if (fl_outputs[j].group == d->group && !strcmp(fl_outputs[j].name, d->name)) {
        fprintf(stderr, "registry: %s twice\n", d->name);
        bad++;
      }
    /* Within a group, rows come in stage order: the order in which they are made. */
    for (int j = 0; j < id; j++)
      if (fl_outputs[j].group == d->group && fl_outputs[j].stage > d->stage) {
        fprintf(stderr, "registry: %s (stage %d) after %s (stage %d)\n", d->name, d->stage,
                fl_outputs[j].name, fl_outputs[j].stage);
        bad++;
      }
    /* Only tallies are combined over the parts of a replication; sums are of counts, or of
     * the heterogeneity multipliers (multiples of 2^-16, whose sums are exact). */
    if (d->combine == FL_COMBINE_SUM && d->stage == FL_STAGE_TALLY && d->type != FL_I32 &&
        id != FL_OUT_HET_STOCKS && id != FL_OUT_HET_ENTRIES && id != FL_OUT_HET_RC_STOCKS &&
        id != FL_OUT_HET_RC_ENTRIES)
      bad++;
  }
  CHECK_INT_EQ(bad, 0);
  for (int k = 1; k < FL_N_DIMS; k++) CHECK(fl_dim_names[k] && *fl_dim_names[k]);
}

/* Every array of res is a present output of its group with the registry's shape and type, and
 * every present output has its array. */
static void check_matches_registry(const fl_results *res) {
  const fl_output_ctx *c = &res->ctx;
  int missing = 0, wrong = 0, extra = 0;
  for (size_t a = 0; a < res->n_arms; a++)
    for (int id = 0; id < FL_N_OUTPUTS; id++) {
      const fl_array *arr = fl_results_get(res, a, (fl_output)id);
      const int present = fl_output_present(c, (fl_output)id, a);
      if (present && !arr) {
        fprintf(stderr, "arm %zu: %s missing\n", a, fl_outputs[id].name);
        missing++;
      }
      if (!present && arr) extra++;
      if (!arr) continue;
      size_t dims[FL_MAX_RANK];
      const int rank = fl_output_shape(c, (fl_output)id, a, dims);
      wrong += rank != arr->rank || memcmp(dims, arr->dims, (size_t)rank * sizeof *dims) ||
               arr->type != fl_output_type(c, (fl_output)id) || strcmp(arr->name, fl_outputs[id].name);
    }
  for (size_t a = 0; a < res->n_arms; a++) {
    size_t n = res->arms[a].n_arrays + res->comps[a].n_arrays, want = 0;
    if (a == 0) n += res->decision.n_arrays; /* (the decision datasets go with arm 0) */
    for (int id = 0; id < FL_N_OUTPUTS; id++) want += fl_output_present(c, (fl_output)id, a);
    CHECK_INT_EQ(n, want);
  }
  CHECK_INT_EQ(missing, 0);
  CHECK_INT_EQ(extra, 0);
  CHECK_INT_EQ(wrong, 0);
}

static void test_results_follow_registry(void) {
  fl_model *m = load_source_model("scenarios/dundee.yaml");
  fl_results *mc = run_model(m, 3, 2, 1), *ex = expect_model(m);
  check_matches_registry(mc);
  check_matches_registry(ex);
  /* Dundee has localities and arms with interventions: those datasets are there. */
  CHECK(fl_results_get(mc, 0, FL_OUT_STOCKS_BY_LOCALITY) != NULL);
  CHECK(fl_results_get(mc, 1, FL_OUT_IV_SPEND) != NULL);
  CHECK(fl_results_get(mc, 0, FL_OUT_IV_SPEND) == NULL);
  CHECK(fl_results_get(ex, 0, FL_OUT_LENGTH_OF_STAY) == NULL); /* Monte Carlo only */
  /* The tally layout of one replication has the slices' sizes. */
  for (size_t a = 0; a < m->n_arms; a++) {
    fl_tally_layout lay;
    const fl_output_ctx oc = {.m = m, .R = 1};
    fl_tally_layout_init(&lay, &oc, a);
    for (size_t k = 0; k < lay.n; k++) {
      const fl_array *arr = fl_results_get(mc, a, lay.id[k]);
      CHECK(arr != NULL);
      if (arr) CHECK_INT_EQ(lay.count[k], fl_array_count(arr) / mc->R);
      CHECK_INT_EQ(lay.offset[k] % 64, 0);
    }
  }
  fl_results_free(mc);
  fl_results_free(ex);
  fl_model_free(m);
  /* A model with one locality and no arms has neither. */
  m = load_source_model("scenarios/examples/hiv_markov.yaml");
  mc = run_model(m, 3, 2, 1);
  check_matches_registry(mc);
  CHECK(fl_results_get(mc, 0, FL_OUT_STOCKS_BY_LOCALITY) == NULL);
  CHECK(fl_results_get(mc, 0, FL_OUT_IV_REACHED) == NULL);
  fl_results_free(mc);
  fl_model_free(m);
}

int main(void) {
  test_rows_complete();
  test_results_follow_registry();
  return check_finish("test_registry");
}
