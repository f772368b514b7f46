/* What the commands share (cli.h): messages, numbers and options that several commands take,
 * output checks, the progress bar and loading a scenario. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <libgen.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const char cli_prog[] = "flourish";
int cli_mpi_rank = 0;

void cli_write_stdout(void *ctx, const char *text) {
  (void)ctx;
  fputs(text, stdout);
}

int cli_report(const fl_error *err) {
  char buf[2048];
  fl_error_format(err, buf, sizeof buf);
  if (cli_mpi_rank == 0) fprintf(stderr, "%s: %s\n", cli_prog, buf);
  return fl_err_exit_code(err->code);
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s %s: ", cli_prog, cmd);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nTry '%s %s --help'.\n", cli_prog, cmd);
  return 2;
}

int cli_parse_u64(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  char *end;
  unsigned long long v;
  if (!s || !*s || *s == '-' || *s == '+') return 0;
  errno = 0;
  v = strtoull(s, &end, 10);
  if (errno || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

int cli_replication_option(const char *cmd, int c, const char *arg, int allowed,
                           fl_run_options *opt) {
  uint64_t v;
  if (!allowed)
    return cli_usage_error(cmd, "--%s: %s computes exact expected values, without replications",
                           c == 'r' ? "replications" : c == 's' ? "seed" : "threads", cmd);
  if (c == 'r') {
    if (!cli_parse_u64(arg, 1, 100000000, &v))
      return cli_usage_error(cmd, "--replications: expected a whole number from 1 to 100000000, "
                                  "found '%s'", arg);
    opt->replications = (size_t)v;
  } else if (c == 's') {
    if (!cli_parse_u64(arg, 0, UINT64_MAX, &v))
      return cli_usage_error(cmd, "--seed: expected a whole number from 0 to 2^64-1, found '%s'",
                             arg);
    opt->seed = v;
  } else {
    if (!cli_parse_u64(arg, 1, 4096, &v))
      return cli_usage_error(cmd, "--threads: expected a whole number from 1 to 4096, found '%s'",
                             arg);
    opt->threads = (int)v;
#ifdef _OPENMP
    omp_set_num_threads(opt->threads); /* the output stage's teams too */
#endif
  }
  return 0;
}

int cli_pass_option(const char *cmd, const char *name, fl_path *path) {
  if (fl_path_parse(name, path) != 0)
    return cli_usage_error(cmd, "--pass: expected auto, scalar, avx2 or avx512, found '%s'", name);
  if (!fl_path_supported(*path))
    return cli_usage_error(cmd, "--pass: this processor does not support the %s pass", name);
  return 0;
}

int cli_wants_help(int argc, char **argv) {
  for (int i = 2; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) return 1;
  return 0;
}

char *cli_join_args(int argc, char **argv) {
  size_t len = 1;
  char *s;
  for (int i = 0; i < argc; i++) len += strlen(argv[i]) + 1;
  s = calloc(len, 1);
  if (!s) return NULL;
  for (int i = 0; i < argc; i++) {
    strcat(s, argv[i]);
    if (i + 1 < argc) strcat(s, " ");
  }
  return s;
}

int cli_check_paths(const fl_path_role *paths, size_t n) {
  fl_error err = {0};
  return fl_paths_check(paths, n, &err) == FL_OK ? 0 : cli_report(&err);
}

char *cli_checkpoint_path(const char *out) {
  char *path = malloc(strlen(out) + sizeof ".ckpt");
  if (path) sprintf(path, "%s.ckpt", out);
  return path;
}

void cli_show_progress(void *ctx, size_t done, size_t total) {
  cli_progress *p = ctx;
  int width = 40, fill = (int)(width * done / total);
  double el = difftime(time(NULL), p->start);
  fprintf(stderr, "\r[%.*s%*s] %zu/%zu %s, %.0fs", fill,
          "########################################", width - fill, "", done, total, p->what, el);
  if (done == total) fputc('\n', stderr);
  fflush(stderr);
  p->shown = 1;
}

int cli_sets_add(const char *cmd, cli_sets *s, const char *assignment) {
  if (s->n == CLI_MAX_SETS)
    return cli_usage_error(cmd, "--set: at most %d assignments", CLI_MAX_SETS);
  s->v[s->n++] = assignment;
  return 0;
}

fl_status cli_load_model(const char *path, const cli_sets *set, fl_model **m, fl_error *err) {
  fl_scenario *sc = NULL;
  fl_status st = fl_scenario_load_with(path, set ? set->v : NULL, set ? set->n : 0, &sc, err);
  if (st == FL_OK && (st = fl_model_compile(sc, m, err)) != FL_OK) fl_scenario_blame(sc, err);
  fl_scenario_free(sc);
  return st;
}

void cli_notice(void *ctx, const char *text) {
  if (cli_mpi_rank == 0) fprintf(stderr, "%s %s: %s\n", cli_prog, (const char *)ctx, text);
}
