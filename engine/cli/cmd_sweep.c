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
#include <unistd.h>

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
    "mpirun or srun each point's replications are shared between the ranks (same result).\n"
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
    "  -q, --quiet               no progress bar\n"
    "  -h, --help                this help\n";

static int sweep(int argc, char **argv, const char *cmdline) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},  {"param", required_argument, NULL, 'p'},
      {"design", required_argument, NULL, 'd'},  {"points", required_argument, NULL, 'n'},
      {"replications", required_argument, NULL, 'r'}, {"seed", required_argument, NULL, 's'},
      {"threads", required_argument, NULL, 't'}, {"expect", no_argument, NULL, 'e'},
      {"set", required_argument, NULL, 'S'},     {"quiet", no_argument, NULL, 'q'},
      {"checkpoint", no_argument, NULL, 'C'},    {"resume", no_argument, NULL, 'R'},
      {"pass", required_argument, NULL, 'V'},    {NULL, 0, NULL, 0}};
  static fl_sweep_options opt; /* large; one sweep per process */
  static char paths[FL_SWEEP_MAX_PARAMS][1024]; /* the parameters' key paths */
  char *ckpt_path = NULL;
  int checkpoint = 0;
  cli_sets set = {.n = 0};
  const char *out = NULL;
  int quiet = 0, c, rc;
  uint64_t v;
  cli_progress prog_state = {time(NULL), 0, "points"};
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_sweep, stdout);
    return 0;
  }
  memset(&opt, 0, sizeof opt);
  fl_run_options_init(&opt.run);
  opt.run.keep_flows = 0;
  opt.points = 64;
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:r:s:t:q", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'p': {
      if (opt.n_params == FL_SWEEP_MAX_PARAMS)
        return cli_usage_error("sweep", "--param: at most %d parameters", FL_SWEEP_MAX_PARAMS);
      fl_sweep_param *q = &opt.params[opt.n_params];
      const char *eq = strchr(optarg, '=');
      char *end;
      if (!eq || eq == optarg)
        return cli_usage_error("sweep", "--param: expected PATH=LO:HI[:N], found '%s'", optarg);
      if ((size_t)(eq - optarg) >= sizeof paths[0])
        return cli_usage_error("sweep", "--param: the key path is longer than %zu characters",
                               sizeof paths[0] - 1);
      memcpy(paths[opt.n_params], optarg, (size_t)(eq - optarg));
      paths[opt.n_params][eq - optarg] = '\0';
      q->path = paths[opt.n_params];
      optarg = paths[opt.n_params]; /* the messages below name the path */
      q->lo = strtod(eq + 1, &end);
      if (end == eq + 1 || *end != ':' || !isfinite(q->lo))
        return cli_usage_error("sweep", "--param %s: expected LO:HI[:N] with numbers, found '%s'",
                               optarg, eq + 1);
      const char *h = end + 1;
      q->hi = strtod(h, &end);
      if (end == h || (*end && *end != ':') || !isfinite(q->hi) || q->hi < q->lo)
        return cli_usage_error("sweep", "--param %s: expected LO:HI[:N] with LO <= HI, found '%s'",
                               optarg, eq + 1);
      q->levels = 5;
      if (*end == ':') {
        if (!cli_parse_u64(end + 1, 1, 100000, &v))
          return cli_usage_error("sweep",
                                 "--param %s: N: expected a whole number from 1, found '%s'",
                                 optarg, end + 1);
        q->levels = (size_t)v;
      }
      opt.n_params++;
      break;
    }
    case 'V':
      if ((rc = cli_pass_option("sweep", optarg, &opt.run.pass)) != 0) return rc;
      break;
    case 'd':
      if (!strcmp(optarg, "grid")) opt.design = FL_DESIGN_GRID;
      else if (!strcmp(optarg, "lhs")) opt.design = FL_DESIGN_LHS;
      else if (!strcmp(optarg, "sobol")) opt.design = FL_DESIGN_SOBOL;
      else if (!strcmp(optarg, "saltelli")) opt.design = FL_DESIGN_SALTELLI;
      else
        return cli_usage_error(
            "sweep", "--design: expected grid, lhs, sobol or saltelli, found '%s'", optarg);
      break;
    case 'n':
      if (!cli_parse_u64(optarg, 1, 1000000, &v))
        return cli_usage_error("sweep", "--points: expected a whole number from 1 to 1000000, "
                                        "found '%s'", optarg);
      opt.points = (size_t)v;
      break;
    case 'r':
    case 's':
    case 't':
      if ((rc = cli_replication_option("sweep", c, optarg, 1, &opt.run)) != 0) return rc;
      break;
    case 'e': opt.expect = 1; break;
    case 'S':
      if ((rc = cli_sets_add("sweep", &set, optarg)) != 0) return rc;
      break;
    case 'q': quiet = 1; break;
    case 'C':
    case 'R':
      if (c == 'R') opt.resume = 1;
      checkpoint = 1;
      break;
    default: return cli_usage_error("sweep", "%s", "invalid option");
    }
  }
  if (optind != argc - 1)
    return cli_usage_error("sweep", "%s",
                           optind >= argc ? "missing the SCENARIO argument"
                                          : "expected exactly one SCENARIO argument");
  if (!out) return cli_usage_error("sweep", "%s", "missing -o SWEEP.h5");
  if (!opt.n_params) return cli_usage_error("sweep", "%s", "give at least one --param PATH=LO:HI");
  /* Two assignments to one value: the later would silently win over the earlier. */
  for (size_t k = 0; k < opt.n_params; k++) {
    for (size_t j = 0; j < k; j++)
      if (fl_paths_nest(opt.params[j].path, opt.params[k].path))
        return cli_usage_error("sweep", "--param %s and --param %s set the same value",
                               opt.params[j].path, opt.params[k].path);
    for (size_t j = 0; j < set.n; j++) {
      size_t plen = strcspn(set.v[j], "=");
      char path[1024];
      snprintf(path, sizeof path, "%.*s", (int)(plen < sizeof path ? plen : sizeof path - 1),
               set.v[j]);
      if (fl_paths_nest(path, opt.params[k].path))
        return cli_usage_error("sweep", "--set %s and --param %s set the same value", set.v[j],
                               opt.params[k].path);
    }
  }
  if ((rc = cli_check_output("sweep", out)) != 0) return rc;
  opt.sets = set.v;
  opt.n_sets = set.n;
  opt.git_commit = FL_GIT_COMMIT;
  opt.command_line = cmdline;
  if (!quiet && isatty(STDERR_FILENO)) {
    opt.progress = cli_show_progress;
    opt.progress_ctx = &prog_state;
  }
  if (checkpoint) {
    /* Finished points are kept beside the output until the output is written. */
    if (!(ckpt_path = cli_checkpoint_path(out))) return 1;
    opt.checkpoint = ckpt_path;
  }
  rc = fl_sweep(argv[optind], &opt, out, &err) != FL_OK ? cli_report(&err) : 0;
  free(ckpt_path);
  return rc;
}

int cmd_sweep(int argc, char **argv) {
  char *cmdline = cli_join_args(argc, argv); /* before getopt_long permutes argv */
  int rc = sweep(argc, argv, cmdline ? cmdline : "");
  free(cmdline);
  return rc;
}
