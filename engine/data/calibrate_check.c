/* The back-casting check of `flourish calibrate` (--check): the calibrated model, started from
 * the stocks observed at the start of the window, is run over the window in expectation mode
 * (no sampling noise); the report sets its expected stocks against the observed ones month by
 * month and state by state. The model is the template's text (without its time, arms and
 * uncertainty) with the population at the window's first month and the calibrated
 * transitions, written to a temporary file and loaded as any scenario. */
#include "data/calibrate_internal.h"

#include <stdlib.h>
#include <unistd.h>

/* Writes the back-casting scenario to f. Returns c->st. */
static fl_status write_check_scenario(FILE *f, cal *c, const fl_scenario *sc,
                                      const cal_records *rec, const cal_population *pop,
                                      const char *transitions) {
  fl_cal_copy_template(f, sc, 1);
  fprintf(f, "time: {step_months: 1, horizon_steps: %ld}\n", c->W - 1);
  if (fl_cal_write_population(f, c, rec, pop, 0) != FL_OK) return c->st;
  fputs(transitions, f);
  return FL_OK;
}

fl_status fl_cal_back_cast(cal *c, const fl_scenario *sc, const cal_records *rec,
                           const cal_population *pop, const char *transitions, double **expected) {
  const size_t S = c->m->S, W = (size_t)c->W;
  char path[] = "/tmp/flourish-check-XXXXXX.yaml";
  fl_scenario *cs = NULL;
  fl_model *cm = NULL;
  fl_results *ex = NULL;
  fl_error e = {0};
  if (!(*expected = fl_calloc(W * S, sizeof **expected))) {
    fl_cal_fail(c, FL_ENOMEM, 0, "out of memory");
    return c->st;
  }
  const int fd = mkstemps(path, 5);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!f) {
    fl_cal_fail(c, FL_EIO, 0, "cannot create a temporary file for the back-casting check");
    return c->st;
  }
  if (write_check_scenario(f, c, sc, rec, pop, transitions) != FL_OK) {
    fclose(f);
    unlink(path);
    return c->st;
  }
  fclose(f);
  fl_status st = fl_scenario_load(path, &cs, &e);
  if (st == FL_OK) st = fl_model_compile(cs, &cm, &e);
  if (st == FL_OK) st = fl_expect(cm, &ex, &e);
  unlink(path);
  if (st != FL_OK) {
    fl_error_set(c->err, FL_EINTERNAL, NULL, 0, 0, "--check",
                 "the back-casting model could not be evaluated: %s", e.message);
    c->st = FL_EINTERNAL;
  } else {
    const fl_array *es = fl_results_get(ex, 0, FL_OUT_STOCKS);
    for (size_t i = 0; i < W * S; i++) (*expected)[i] = ((const double *)es->data)[i];
  }
  fl_results_free(ex);
  fl_model_free(cm);
  fl_scenario_free(cs);
  return c->st;
}
