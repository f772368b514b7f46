/* Helpers shared by the engine tests: loading scenarios by path relative to the source tree,
 * writing scenario text to a temporary file, and reading result arrays. */
#ifndef FL_TESTUTIL_H
#define FL_TESTUTIL_H

#include "check.h"
#include "results/results.h"
#include "scenario/scenario.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static inline const char *source_dir(void) {
  const char *d = getenv("FLOURISH_SOURCE_DIR");
  return d ? d : ".";
}

/* Loads and compiles a scenario; aborts the test with a message on failure. */
static inline fl_model *load_model(const char *path) {
  fl_scenario *sc = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  char buf[2048];
  if (fl_scenario_load(path, &sc, &err) != FL_OK || fl_model_compile(sc, &m, &err) != FL_OK) {
    fl_error_format(&err, buf, sizeof buf);
    fprintf(stderr, "cannot load %s: %s\n", path, buf);
    exit(1);
  }
  fl_scenario_free(sc);
  return m;
}

static inline fl_model *load_source_model(const char *rel) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", source_dir(), rel);
  return load_model(path);
}

/* Writes text to a fresh temporary file and loads it. */
static inline fl_model *load_text_model(const char *text) {
  char path[] = "/tmp/flourish-test-XXXXXX.yaml";
  int fd = mkstemps(path, 5);
  FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
  fl_model *m;
  if (!f) {
    perror("mkstemps");
    exit(1);
  }
  fputs(text, f);
  fclose(f);
  m = load_model(path);
  unlink(path);
  return m;
}

/* Runs with the given hot pass (FL_PATH_AUTO: the fastest the processor supports) and threads
 * inside each replication (0: automatic). */
static inline fl_results *run_model_full(const fl_model *m, uint64_t seed, size_t R, int threads,
                                         int inner, fl_path pass) {
  fl_run_options opt;
  fl_results *res = NULL;
  fl_error err = {0};
  fl_run_options_init(&opt);
  opt.seed = seed;
  opt.replications = R;
  opt.threads = threads;
  opt.threads_per_replication = inner;
  opt.pass = pass;
  if (fl_run(m, &opt, &res, &err) != FL_OK) {
    fprintf(stderr, "run failed: %s\n", err.message);
    exit(1);
  }
  return res;
}

static inline fl_results *run_model_path(const fl_model *m, uint64_t seed, size_t R, int threads,
                                         fl_path pass) {
  return run_model_full(m, seed, R, threads, 0, pass);
}

static inline fl_results *run_model(const fl_model *m, uint64_t seed, size_t R, int threads) {
  return run_model_path(m, seed, R, threads, FL_PATH_AUTO);
}

static inline fl_results *expect_model(const fl_model *m) {
  fl_results *res = NULL;
  fl_error err = {0};
  if (fl_expect(m, &res, &err) != FL_OK) {
    fprintf(stderr, "expect failed: %s\n", err.message);
    exit(1);
  }
  return res;
}

static inline const fl_array *array_of(const fl_results *res, const char *name) {
  const fl_array *a = fl_results_find_const(res, 0, name);
  if (!a) {
    fprintf(stderr, "no array %s\n", name);
    exit(1);
  }
  return a;
}

static inline double value_at(const fl_array *a, size_t i) {
  return a->type == FL_I32 ? (double)((const int32_t *)a->data)[i] : ((const double *)a->data)[i];
}

#endif
