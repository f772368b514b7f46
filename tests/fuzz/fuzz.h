/* What the fuzz harnesses share: a private temporary directory for the files an input becomes
 * and the outputs it gives (removed at exit), a writer that reads and discards text, and the
 * checks every execution makes beyond the sanitizers': a failure carries a message, an
 * internal error is a bug, and a failed command leaves no file behind. A violated check
 * aborts, which libFuzzer reports as a crash with the input. */
#ifndef FL_FUZZ_H
#define FL_FUZZ_H

#include "flourish.h"

#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[4096];

/* Removes every file of the directory, then the directory itself. */
static void fz_dir_remove(void) {
  DIR *d = opendir(fz_dir);
  struct dirent *e;
  char path[sizeof fz_dir + 256];
  if (!d) return;
  while ((e = readdir(d)) != NULL) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    snprintf(path, sizeof path, "%s/%s", fz_dir, e->d_name);
    unlink(path);
  }
  closedir(d);
  rmdir(fz_dir);
}

/* The path of name in the private directory, made (under $TMPDIR or /tmp) on the first call.
 * The returned string is static: one path at a time. */
static inline const char *fz_path(const char *name) {
  static char path[sizeof fz_dir + 256];
  if (!fz_dir[0]) {
    const char *tmp = getenv("TMPDIR");
    snprintf(fz_dir, sizeof fz_dir, "%s/flourish-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(fz_dir)) {
      perror("mkdtemp");
      abort();
    }
    atexit(fz_dir_remove);
  }
  snprintf(path, sizeof path, "%s/%s", fz_dir, name);
  return path;
}

/* Writes the input to name in the private directory; returns its path (a copy: free it). */
static inline char *fz_write(const char *name, const uint8_t *data, size_t size) {
  char *path = strdup(fz_path(name));
  FILE *f = path ? fopen(path, "wb") : NULL;
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) {
    perror("fz_write");
    abort();
  }
  return path;
}

/* A writer for the library's text: every byte is read (so that the sanitizers see a string
 * that is not one), nothing is kept. */
static inline void fz_discard(void *ctx, const char *text) {
  volatile size_t n = strlen(text);
  (void)ctx;
  (void)n;
}

/* The contract of an error record: a failure says what failed, and an internal error is a
 * bug whatever the input. */
static inline void fz_check_error(fl_status st, const fl_error *err) {
  char buf[2048];
  if (st == FL_OK) return;
  fl_error_format(err, buf, sizeof buf);
  if (st != err->code || !err->message[0] || st == FL_EINTERNAL) {
    fprintf(stderr, "fuzz: status %s with the error record %s: %s\n", fl_err_name(st),
            fl_err_name(err->code), buf);
    abort();
  }
}

/* The private directory holds exactly the named files, which are then removed: what a
 * command leaves beside its outputs, or after a failure, is a bug. keep: files that stay. */
static inline void fz_expect_files(const char *const *names, size_t n, const char *const *keep,
                                   size_t n_keep) {
  DIR *d = opendir(fz_dir);
  struct dirent *e;
  size_t found = 0;
  if (!d) abort();
  while ((e = readdir(d)) != NULL) {
    int known = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    for (size_t i = 0; i < n_keep && !known; i++) known = !strcmp(e->d_name, keep[i]);
    for (size_t i = 0; i < n && !known; i++)
      if (!strcmp(e->d_name, names[i])) {
        known = 1;
        found++;
      }
    if (!known) {
      fprintf(stderr, "fuzz: an unexpected file was left behind: %s/%s\n", fz_dir, e->d_name);
      abort();
    }
  }
  closedir(d);
  if (found != n) {
    fprintf(stderr, "fuzz: %zu of the %zu expected outputs were written\n", found, n);
    abort();
  }
  for (size_t i = 0; i < n; i++) unlink(fz_path(names[i]));
}

/* Whether err is one of the known, not yet fixed, errors of a calibrated scenario
 * (crashes/README.md): a part of its key and of its message. */
static inline int fz_known_calibrate_error(const fl_error *err) {
  static const char *const known[][2] = {
      /* The template's escalation multipliers are kept and can make an estimated row invalid. */
      {".escalation_multiplier", "makes the row of state"},
      /* Counts written as whole child-months, estimates made from fractional ones. */
      {".counts.", "but the counts give"}};
  for (size_t i = 0; i < sizeof known / sizeof known[0]; i++)
    if (strstr(err->key, known[i][0]) && strstr(err->message, known[i][1])) return 1;
  return 0;
}

/* The calibration harnesses: fl_calibrate of the shipped semi-Markov template (monthly steps,
 * two localities, an absorbing state) from the given episodes and population table, with age
 * and duration bands, calendar periods, suppression and the CSV report, the outputs in the
 * private directory. Every execution checks what it leaves there, and that a calibrated
 * scenario loads and compiles. */
static inline void fz_calibrate(const char *episodes, const char *population,
                                const char *input_name) {
  static fl_scenario *sc;
  static fl_model *m;
  static const double age_bands[] = {3, 6}, dur_bands[] = {6, 12};
  fl_error err = {0};
  if (!m) {
    const char *path = FLOURISH_SOURCE_DIR "/scenarios/examples/semi_markov.yaml";
    if (fl_scenario_load(path, &sc, &err) != FL_OK || fl_model_compile(sc, &m, &err) != FL_OK) {
      fprintf(stderr, "fuzz: cannot load the template %s: %s\n", path, err.message);
      abort();
    }
  }
  char *output = strdup(fz_path("out.yaml")), *report = strdup(fz_path("report.csv"));
  if (!output || !report) abort();
  const fl_calibrate_options opt = {.episodes = episodes,
                                    .population = population,
                                    .output = output,
                                    .report = report,
                                    .age_bands = age_bands,
                                    .n_age_bands = 2,
                                    .dur_bands = dur_bands,
                                    .n_dur_bands = 2,
                                    .period_months = 12,
                                    .min_row = 5,
                                    .suppress = 3};
  const fl_status st = fl_calibrate(sc, m, &opt, &err);
  fz_check_error(st, &err);
  if (st == FL_OK) { /* what calibrate writes is a scenario that loads and compiles */
    fl_scenario *out_sc = NULL;
    fl_model *out_m = NULL;
    fl_status out_st = fl_scenario_load(output, &out_sc, &err);
    if (out_st == FL_OK) out_st = fl_model_compile(out_sc, &out_m, &err);
    if (out_st != FL_OK && !fz_known_calibrate_error(&err)) {
      char buf[2048];
      fl_error_format(&err, buf, sizeof buf);
      fprintf(stderr, "fuzz: the calibrated scenario does not load: %s\n", buf);
      abort();
    }
    fl_model_free(out_m);
    fl_scenario_free(out_sc);
  }
  static const char *const outputs[] = {"out.yaml", "report.csv"};
  fz_expect_files(outputs, st == FL_OK ? 2 : 0, &input_name, 1);
  free(output);
  free(report);
}

#endif
