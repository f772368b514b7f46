/* flourish sweep: the scenario run at every point of a design over named parameters, each
 * point the run that --set PATH=VALUE would give (fl_sweep does the work; this file reads the
 * command line). */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help_sweep =
    "Usage: flourish sweep SCENARIO -o SWEEP.h5 --param PATH=LO:HI[:N] ... [options]\n"
    "\n"
    "Runs the scenario at every point of a design over named parameters, each point being\n"
    "the run that --set PATH=VALUE would give (the same seed at every point, so that\n"
    "differences between points are the parameters' effects, not chance). Writes, for each\n"
    "point, each arm's discounted cost and QALYs and children at each level at the end, and\n"
    "each comparison's net cost, QALYs gained, net monetary benefit and share of\n"
    "replications saving money (means with Monte Carlo standard errors); on a grid these\n"
    "have one dimension per parameter, labelled with its values. Then the sensitivity of\n"
    "each result to each parameter: on a grid, the range of its main effect (a tornado bar,\n"
    "exactly 0 for a parameter without effect) and two-way tables; on sampled designs,\n"
    "partial rank correlations; on Saltelli's design, first-order and total Sobol indices;\n"
    "each with its Monte Carlo standard error. The file is written atomically. Under\n"
    "mpirun or srun each point's replications are shared between the ranks (same result);\n"
    "several copies that do not form one MPI job are refused (status 2), as for run.\n"
    "SIGTERM or SIGINT stops the sweep before its next point (the point in progress is run\n"
    "again on resuming), keeps the finished points in the checkpoint (with --checkpoint) and\n"
    "exits with status 128 + the signal (143 for SIGTERM, 130 for SIGINT); --resume continues.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         output HDF5 file (required)\n"
    "      --param PATH=LO:HI[:N]  a parameter (a key path as --set takes it) from LO to HI;\n"
    "                            N values on a grid (default 5); repeatable, up to 40\n"
    "                            (6 on a grid)\n"
    "      --design D            grid (default), lhs (Latin hypercube), sobol (GSL's\n"
    "                            Sobol sequence) or saltelli (for Sobol indices: P base\n"
    "                            rows of K + 2 points each; up to 20 parameters)\n"
    "      --points P            points of an lhs or sobol design, base rows of a\n"
    "                            saltelli design (default 64)\n"
    "  -r, --replications N      replications at each point (default 100)\n"
    "  -s, --seed S              master seed (default 1), the same at every point\n"
    "  -t, --threads T           OpenMP threads; results are identical for any T\n"
    "      --expect              expected values at each point instead of replications\n"
    "      --set PATH=VALUE      a fixed change applied at every point (repeatable)\n"
    "      --checkpoint          keep finished points in SWEEP.h5.ckpt while running\n"
    "      --resume              continue an interrupted --checkpoint sweep: points in\n"
    "                            the checkpoint are read back, the rest are run; the result\n"
    "                            is the file an uninterrupted sweep writes\n"
    "      --pass P              the inner loop, as for run (identical results)\n"
    "  -q, --quiet               no progress (as for run: a bar on a terminal, else a line\n"
    "                            every 10 s or FLOURISH_PROGRESS_INTERVAL seconds)\n"
    "  -h, --help                this help\n";

enum { SWEEP_PATH_SIZE = 1024 }; /* a parameter's key path, with its terminating NUL */

/* What a sweep command line asks for. */
typedef struct sweep_args {
  fl_sweep_options opt;
  char paths[FL_SWEEP_MAX_PARAMS][SWEEP_PATH_SIZE]; /* the key paths that opt.params borrow */
  cli_sets set;
  const char *scenario, *out;
  int quiet, checkpoint;
} sweep_args;

/* --param PATH=LO:HI[:N] into *q, PATH copied into path (SWEEP_PATH_SIZE bytes), which q->path
 * then borrows. Returns 0, or 2 after the message. */
static int parse_param(const char *arg, fl_sweep_param *q, char *path) {
  const char *eq = strchr(arg, '='), *h;
  char *end;
  uint64_t v;
  if (!eq || eq == arg)
    return cli_usage_error("sweep", "--param: expected PATH=LO:HI[:N], found '%s'", arg);
  if ((size_t)(eq - arg) >= SWEEP_PATH_SIZE)
    return cli_usage_error("sweep", "--param: the key path is longer than %d characters",
                           SWEEP_PATH_SIZE - 1);
  memcpy(path, arg, (size_t)(eq - arg));
  path[eq - arg] = '\0';
  q->path = path; /* the messages below name the path alone */
  q->lo = strtod(eq + 1, &end);
  if (end == eq + 1 || *end != ':' || !isfinite(q->lo))
    return cli_usage_error("sweep", "--param %s: expected LO:HI[:N] with numbers, found '%s'",
                           path, eq + 1);
  h = end + 1;
  q->hi = strtod(h, &end);
  if (end == h || (*end && *end != ':') || !isfinite(q->hi) || q->hi < q->lo)
    return cli_usage_error("sweep", "--param %s: expected LO:HI[:N] with LO <= HI, found '%s'",
                           path, eq + 1);
  q->levels = 5;
  if (*end == ':') {
    if (!cli_parse_u64(end + 1, 1, 100000, &v))
      return cli_usage_error("sweep", "--param %s: N: expected a whole number from 1, found '%s'",
                             path, end + 1);
    q->levels = (size_t)v;
  }
  return 0;
}

/* --design D into *design. Returns 0, or 2 after the message. */
static int parse_design(const char *arg, fl_design *design) {
  if (!strcmp(arg, "grid")) *design = FL_DESIGN_GRID;
  else if (!strcmp(arg, "lhs")) *design = FL_DESIGN_LHS;
  else if (!strcmp(arg, "sobol")) *design = FL_DESIGN_SOBOL;
  else if (!strcmp(arg, "saltelli")) *design = FL_DESIGN_SALTELLI;
  else
    return cli_usage_error("sweep", "--design: expected grid, lhs, sobol or saltelli, found '%s'",
                           arg);
  return 0;
}

/* One option as getopt_long returns it (c, with its argument arg) into a. Returns 0, or 2
 * after the message. */
static int sweep_option(sweep_args *a, int c, const char *arg) {
  fl_sweep_options *opt = &a->opt;
  uint64_t v;
  int rc;
  switch (c) {
  case 'o': a->out = arg; return 0;
  case 'p':
    if (opt->n_params == FL_SWEEP_MAX_PARAMS)
      return cli_usage_error("sweep", "--param: at most %d parameters", FL_SWEEP_MAX_PARAMS);
    if ((rc = parse_param(arg, &opt->params[opt->n_params], a->paths[opt->n_params])) != 0)
      return rc;
    opt->n_params++;
    return 0;
  case 'V': return cli_pass_option("sweep", arg, &opt->run.pass);
  case 'd': return parse_design(arg, &opt->design);
  case 'n':
    if (!cli_parse_u64(arg, 1, 1000000, &v))
      return cli_usage_error("sweep", "--points: expected a whole number from 1 to 1000000, "
                                      "found '%s'", arg);
    opt->points = (size_t)v;
    return 0;
  case 'r':
  case 's':
  case 't': return cli_replication_option("sweep", c, arg, 1, &opt->run);
  case 'e': opt->expect = 1; return 0;
  case 'S': return cli_sets_add("sweep", &a->set, arg);
  case 'q': a->quiet = 1; return 0;
  case 'C':
  case 'R':
    if (c == 'R') opt->resume = 1;
    a->checkpoint = 1;
    return 0;
  default: return cli_usage_error("sweep", "%s", "invalid option");
  }
}

/* Two assignments to one value (a parameter nested in another, or a parameter that a --set
 * also assigns): the later would silently win over the earlier. Returns 0, or 2 after the
 * message. */
static int check_overlaps(const sweep_args *a) {
  const fl_sweep_options *opt = &a->opt;
  for (size_t k = 0; k < opt->n_params; k++) {
    for (size_t j = 0; j < k; j++)
      if (fl_paths_nest(opt->params[j].path, opt->params[k].path))
        return cli_usage_error("sweep", "--param %s and --param %s set the same value",
                               opt->params[j].path, opt->params[k].path);
    for (size_t j = 0; j < a->set.n; j++) {
      size_t plen = strcspn(a->set.v[j], "=");
      char path[SWEEP_PATH_SIZE];
      snprintf(path, sizeof path, "%.*s", (int)(plen < sizeof path ? plen : sizeof path - 1),
               a->set.v[j]);
      if (fl_paths_nest(path, opt->params[k].path))
        return cli_usage_error("sweep", "--set %s and --param %s set the same value", a->set.v[j],
                               opt->params[k].path);
    }
  }
  return 0;
}

/* The options and the one SCENARIO argument into a, checked together, and the output checked
 * writable. Returns 0, or 2 after the message. */
static int parse_sweep_args(int argc, char **argv, sweep_args *a) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},  {"param", required_argument, NULL, 'p'},
      {"design", required_argument, NULL, 'd'},  {"points", required_argument, NULL, 'n'},
      {"replications", required_argument, NULL, 'r'}, {"seed", required_argument, NULL, 's'},
      {"threads", required_argument, NULL, 't'}, {"expect", no_argument, NULL, 'e'},
      {"set", required_argument, NULL, 'S'},     {"quiet", no_argument, NULL, 'q'},
      {"checkpoint", no_argument, NULL, 'C'},    {"resume", no_argument, NULL, 'R'},
      {"pass", required_argument, NULL, 'V'},    {NULL, 0, NULL, 0}};
  int c, rc;
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:r:s:t:q", opts, NULL)) != -1)
    if ((rc = sweep_option(a, c, optarg)) != 0) return rc;
  if (optind != argc - 1)
    return cli_usage_error("sweep", "%s",
                           optind >= argc ? "missing the SCENARIO argument"
                                          : "expected exactly one SCENARIO argument");
  if (!a->out) return cli_usage_error("sweep", "%s", "missing -o SWEEP.h5");
  if (!a->opt.n_params)
    return cli_usage_error("sweep", "%s", "give at least one --param PATH=LO:HI");
  if ((rc = check_overlaps(a)) != 0) return rc;
  a->scenario = argv[optind];
  return 0;
}

/* Runs the sweep that a asks for, recording cmdline in the output. Returns the exit code. */
static int run_sweep(sweep_args *a, const char *cmdline) {
  fl_sweep_options *opt = &a->opt;
  cli_progress progress;
  char *ckpt_path = NULL;
  fl_error err = {0};
  int rc;
  opt->sets = a->set.v;
  opt->n_sets = a->set.n;
  opt->git_commit = FL_GIT_COMMIT;
  opt->command_line = cmdline;
  cli_progress_init(&progress, "sweep", "points", a->quiet);
  opt->progress = cli_show_progress;
  opt->progress_ctx = &progress;
  opt->run.progress = cli_show_part;
  opt->run.progress_ctx = &progress;
  opt->run.stop = cli_stop_asked;
  /* Finished points are kept beside the output until the output is written. */
  if (a->checkpoint && !(ckpt_path = cli_checkpoint_path(a->out))) return 1;
  const fl_path_role paths[] = {{a->scenario, "SCENARIO", FL_PATH_INPUT},
                                {a->out, "-o", FL_PATH_OUTPUT},
                                {ckpt_path, "--checkpoint", FL_PATH_OUTPUT}};
  if ((rc = cli_check_paths(paths, ckpt_path ? 3 : 2)) != 0) {
    free(ckpt_path);
    return rc;
  }
  opt->checkpoint = ckpt_path;
  opt->notice = cli_notice;
  opt->notice_ctx = (void *)"sweep";
  const fl_status st = fl_sweep(a->scenario, opt, a->out, &err);
  cli_progress_end(&progress);
  if (st == FL_ESTOPPED) rc = cli_stopped("sweep", ckpt_path, "points");
  else rc = st == FL_OK ? 0 : cli_report(&err);
  free(ckpt_path);
  return rc;
}

int cmd_sweep(int argc, char **argv) {
  static sweep_args a; /* large (every parameter's path); one sweep per process */
  if (cli_wants_help(argc, argv)) {
    fputs(help_sweep, stdout);
    return 0;
  }
  memset(&a, 0, sizeof a);
  fl_run_options_init(&a.opt.run);
  a.opt.run.keep_flows = 0;
  a.opt.points = 64;
  char *cmdline = cli_join_args(argc, argv); /* before getopt_long permutes argv */
  int rc = parse_sweep_args(argc, argv, &a);
  if (rc == 0 && (rc = cli_check_copies("sweep")) == 0)
    cli_catch_stop_signals("sweep", "stopping now; the point in progress runs again on resuming");
  if (rc == 0) rc = run_sweep(&a, cmdline ? cmdline : "");
  free(cmdline);
  return rc;
}
