/* The cost of one likelihood evaluation of `flourish fit` on the Dundee back-cast (2011-2025,
 * scenarios/dundee-observed.csv, four parameters), against a full expectation-mode run of the
 * scenario (fl_expect over its own horizon, every output): the median of several timed runs of
 * each. Usage: fit_eval [EVALUATIONS] (default 200), from the source tree. */
#define _POSIX_C_SOURCE 200809L
#include "data/fit.h"

#include <gsl/gsl_errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  gsl_set_error_handler_off(); /* fl_fit_loglik compiles with GSL's handler off */
  const size_t n = argc > 1 ? (size_t)atol(argv[1]) : 200;
  const char *params[] = {"transitions.tables[0].rows.intensive.la_*=0.3:3",
                          "transitions.tables[0].rows.la_*.universal|additional|intensive=0.3:3",
                          "transitions.tables[0].rows.additional.intensive=0.005:0.03",
                          "transitions.tables[0].rows.universal.additional=0.004:0.02"};
  fl_fit_options opt;
  fl_fit_options_init(&opt);
  opt.scenario = "scenarios/dundee.yaml";
  opt.observed = "scenarios/dundee-observed.csv";
  opt.params = params;
  opt.n_params = 4;
  opt.threads = 1;
  fl_fit_problem *p;
  fl_error err;
  if (fl_fit_problem_create(&opt, &p, &err) != FL_OK) {
    char buf[2048];
    fl_error_format(&err, buf, sizeof buf);
    fprintf(stderr, "fit_eval: %s\n", buf);
    return 1;
  }
  double *t = calloc(n, sizeof *t), theta[4], ll = 0;
  for (size_t i = 0; i < n; i++) {
    for (size_t k = 0; k < 4; k++) theta[k] = p->par[k].start * (1 + 0.01 * (double)(i % 7));
    const double t0 = now();
    if (fl_fit_loglik(p, 0, theta, &ll, NULL, &err) != FL_OK || !isfinite(ll)) {
      fprintf(stderr, "fit_eval: evaluation %zu failed\n", i);
      return 1;
    }
    t[i] = now() - t0;
  }
  qsort(t, n, sizeof *t, cmp);
  printf("fit likelihood, dundee 2011-2025 (%zu steps, %zu observations): median %.2f ms "
         "(min %.2f) over %zu evaluations\n",
         p->T, p->n_obs, 1e3 * t[n / 2], 1e3 * t[0], n);
  fl_fit_problem_free(p);
  fl_scenario *sc;
  fl_model *m;
  if (fl_scenario_load("scenarios/dundee.yaml", &sc, &err) != FL_OK ||
      fl_model_compile(sc, &m, &err) != FL_OK)
    return 1;
  double e[5];
  for (int i = 0; i < 5; i++) {
    fl_results *res;
    const double t0 = now();
    if (fl_expect(m, &res, &err) != FL_OK) return 1;
    e[i] = now() - t0;
    fl_results_free(res);
  }
  qsort(e, 5, sizeof *e, cmp);
  printf("full expect, dundee (%zu steps, %zu arms, every output, not written): median %.1f ms\n",
         m->T, m->n_arms, 1e3 * e[2]);
  fl_model_free(m);
  fl_scenario_free(sc);
  free(t);
  return 0;
}
