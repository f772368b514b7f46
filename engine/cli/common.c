/* What the commands share (cli.h): messages, numbers and options that several commands take,
 * output checks, progress, stopping on a signal, the check for copies that are not one MPI job,
 * and loading a scenario. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <libgen.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#ifdef _OPENMP
#include <omp.h>
#endif

const char cli_prog[] = "flourish";
int cli_mpi_rank = 0;
int cli_mpi_ranks = 1;

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

/* Monotonic seconds, for rates and intervals. */
static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A duration for people: "42 s", "3 min 05 s", "2 h 07 min". */
static void format_duration(double s, char *buf, size_t size) {
  const long t = s > 0 ? (long)(s + 0.5) : 0;
  if (t < 60) snprintf(buf, size, "%ld s", t);
  else if (t < 3600) snprintf(buf, size, "%ld min %02ld s", t / 60, t % 60);
  else snprintf(buf, size, "%ld h %02ld min", t / 3600, t % 3600 / 60);
}

/* The progress interval in seconds: FLOURISH_PROGRESS_INTERVAL when it is a number from 0 to a
 * day, else 10 (after a notice). */
static double progress_interval(const char *cmd) {
  const char *v = getenv("FLOURISH_PROGRESS_INTERVAL");
  char *end;
  if (!v || !*v) return 10;
  const double s = strtod(v, &end);
  if (*end || !(s >= 0 && s <= 86400)) {
    if (cli_mpi_rank == 0)
      fprintf(stderr, "%s %s: FLOURISH_PROGRESS_INTERVAL: expected seconds from 0 to 86400, "
              "found '%s': using 10\n", cli_prog, cmd, v);
    return 10;
  }
  return s;
}

void cli_progress_init(cli_progress *p, const char *cmd, const char *what, int quiet) {
  memset(p, 0, sizeof *p);
  p->cmd = cmd;
  p->what = what;
  p->start = p->last = now_seconds();
  if (quiet || cli_mpi_rank != 0) return;
  p->mode = isatty(STDERR_FILENO) ? CLI_PROGRESS_BAR : CLI_PROGRESS_LINES;
  if (p->mode == CLI_PROGRESS_LINES) p->interval = progress_interval(cmd);
}

/* Draws the bar, or prints a line when the interval has passed or the work is done. The rate
 * of a line is that since the line before (since the start for the first): it follows a
 * changing load, and on a resumed run the replications read back from the checkpoint, all
 * counted at the start, inflate only the first line's. */
static void progress_draw(cli_progress *p) {
  const double t = now_seconds(), el = t - p->start;
  const int finished = p->done == p->total;
  if (p->mode == CLI_PROGRESS_LINES && !finished && t - p->last < p->interval) return;
  /* The fraction done counts the unit in progress (a sweep point's replications) in part. */
  double units = (double)p->done;
  if (!finished && p->part_total) units += (double)p->part_done / (double)p->part_total;
  const int window = p->mode == CLI_PROGRESS_LINES && p->last_units > 0;
  const double span = window ? t - p->last : el, gained = window ? units - p->last_units : units;
  const double frac = p->total ? units / (double)p->total : 1;
  const double rate = span > 0 ? gained / span : 0;
  p->last = t;
  p->last_units = units;
  char rate_s[48], el_s[32], left_s[64];
  if (rate >= 1 || rate <= 0) snprintf(rate_s, sizeof rate_s, "%.3g/s", rate);
  else snprintf(rate_s, sizeof rate_s, "%.3g s each", 1 / rate);
  format_duration(el, el_s, sizeof el_s);
  if (rate > 0) {
    char d[32];
    format_duration(((double)p->total - units) / rate, d, sizeof d);
    snprintf(left_s, sizeof left_s, "about %s left", d);
  } else
    snprintf(left_s, sizeof left_s, "time left not yet known");
  if (p->mode == CLI_PROGRESS_BAR) {
    const int width = 30, fill = (int)(width * frac);
    fprintf(stderr, "\r[%.*s%*s] %zu/%zu %s, %s, %s%s%s\033[K", fill,
            "##############################", width - fill, "", p->done, p->total, p->what,
            rate_s, el_s, finished ? "" : ", ", finished ? "" : left_s);
    if (finished) fputc('\n', stderr);
  } else if (finished)
    fprintf(stderr, "%s %s: %zu/%zu %s in %s\n", cli_prog, p->cmd, p->done, p->total, p->what,
            el_s);
  else
    fprintf(stderr, "%s %s: %zu/%zu %s (%.0f%%), %s, %s elapsed, %s\n", cli_prog, p->cmd,
            p->done, p->total, p->what, 100 * frac, rate_s, el_s, left_s);
  fflush(stderr);
  p->bar_open = p->mode == CLI_PROGRESS_BAR && !finished;
}

void cli_show_progress(void *ctx, size_t done, size_t total) {
  cli_progress *p = ctx;
  if (!p->mode) return;
  p->done = done;
  p->total = total;
  p->part_done = p->part_total = 0;
  progress_draw(p);
}

void cli_show_part(void *ctx, size_t done, size_t total) {
  cli_progress *p = ctx;
  if (!p->mode || !p->total) return;
  p->part_done = done;
  p->part_total = total;
  progress_draw(p);
}

void cli_show_summary_progress(void *ctx, size_t done, size_t total) {
  cli_progress *p = ctx;
  if (!p->mode) return;
  if (strcmp(p->what, "summaries")) { /* the replications are done: a new phase */
    cli_progress_end(p);
    const int mode = p->mode;
    cli_progress_init(p, p->cmd, "summaries", 0);
    p->mode = mode;
  }
  cli_show_progress(p, done, total);
}

void cli_progress_end(cli_progress *p) {
  if (p->bar_open) fputc('\n', stderr);
  p->bar_open = 0;
}

void cli_wrote(const cli_progress *p, const char *path) {
  struct stat sb;
  if (!p->mode || stat(path, &sb) != 0) return;
  const double b = (double)sb.st_size;
  if (b >= 1e9) fprintf(stderr, "%s %s: wrote %s (%.1f GB)\n", cli_prog, p->cmd, path, b / 1e9);
  else if (b >= 1e6) fprintf(stderr, "%s %s: wrote %s (%.1f MB)\n", cli_prog, p->cmd, path, b / 1e6);
  else fprintf(stderr, "%s %s: wrote %s (%.0f kB)\n", cli_prog, p->cmd, path, b / 1e3);
}

int cli_sets_add(const char *cmd, cli_sets *s, const char *assignment) {
  if (s->n == CLI_MAX_SETS)
    return cli_usage_error(cmd, "--set: at most %d assignments", CLI_MAX_SETS);
  s->v[s->n++] = assignment;
  return 0;
}

/* A warning about the scenario at path: "flourish: warning: PATH: KEY: sentence". */
static void warn(void *ctx, const char *text) {
  if (cli_mpi_rank == 0) fprintf(stderr, "%s: warning: %s: %s", cli_prog, (const char *)ctx, text);
}

fl_status cli_load_model(const char *path, const cli_sets *set, fl_model **m, fl_error *err) {
  fl_scenario *sc = NULL;
  fl_status st = fl_scenario_load_with(path, set ? set->v : NULL, set ? set->n : 0, &sc, err);
  if (st == FL_OK && (st = fl_model_compile(sc, m, err)) != FL_OK) fl_scenario_blame(sc, err);
  fl_scenario_free(sc);
  if (st == FL_OK) fl_model_warnings(*m, warn, (void *)path);
  return st;
}

void cli_notice(void *ctx, const char *text) {
  if (cli_mpi_rank == 0) fprintf(stderr, "%s %s: %s\n", cli_prog, (const char *)ctx, text);
}
