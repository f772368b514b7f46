/* flourish fit: Bayesian calibration of a scenario's numbers to published stock and flow
 * series (fl_fit does the work; this file reads the command line). */
#include "cli.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *help_fit =
    "Usage: flourish fit SCENARIO --observed OBS.csv --param PATH=LO:HI|PATH~PRIOR ...\n"
    "                    -o FITTED.yaml [options]\n"
    "\n"
    "Fits numbers of the scenario (transition probabilities, locality multipliers, entry\n"
    "rates, initial counts: any numeric key, by the PATH --set takes) to aggregate series:\n"
    "the exact expected stocks and flows of the scenario's baseline (expectation mode) at\n"
    "the observed dates, under an observation model, sampled with an affine-invariant\n"
    "ensemble sampler (Goodman and Weare 2010) started at the posterior mode. OBS.csv has\n"
    "the columns date (YYYY-MM-DD or YYYY-MM), measure (a state or level: its children on\n"
    "the date; entries:NAME or exits:NAME: children entering or leaving it since the\n"
    "previous date of the same measure, or since the start of the fit; total: all\n"
    "children), value, and optionally locality and sd (a normal observation model for the\n"
    "row). The fit runs from the first date (or --from) with the scenario's initial\n"
    "population, each group observed on that date rescaled to the observation (which then\n"
    "is not fitted), so series may start before the scenario's time.start; dates after\n"
    "the scenario's horizon are refused. A PATH with * ? or | (alternatives) in its keys\n"
    "is a factor on every numeric value it matches (rest entries absorb the change).\n"
    "Proposals that break a row's sum or a key's bounds are rejected and counted.\n"
    "Prints each parameter's mean, sd, 5%, 50%, 95%, split R-hat and bulk ESS (Vehtari et\n"
    "al. 2021), the observed against the fitted series with 90% bands, every level's\n"
    "expected children at the fit's start, middle and end, and warnings: parameters the\n"
    "data do not identify, chains not converged, observations missed.\n"
    "FITTED.yaml is the scenario with the posterior means in place; its posterior draws\n"
    "go to FITTED.draws.csv beside it, which its posterior_draws names: run --psa takes\n"
    "one draw for each block of replications (transition probabilities and locality\n"
    "multipliers). Positive parameters are sampled on the log scale. The draws are the\n"
    "same for any thread count. See docs/fit.md.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         fitted scenario (required)\n"
    "      --observed FILE       observed series CSV (required)\n"
    "      --param PATH=LO:HI    a parameter with a uniform prior on [LO, HI]; or\n"
    "      --param PATH~lognormal(MU,SIGMA) | PATH~beta(A,B) | PATH~normal(M,S)\n"
    "      --noise MODEL         rows without an sd: poisson (default) or negbin:K\n"
    "                            (variance mu + mu^2/K)\n"
    "      --from DATE           start of the fit (default: the first date)\n"
    "      --initial as-written  keep the scenario's initial population as it is\n"
    "                            (default: rescaled to the first date's stocks)\n"
    "      --walkers N           ensemble walkers (default max(16, 4 x parameters))\n"
    "      --iterations N        kept iterations of each walker (default 1000)\n"
    "      --burn-in N           iterations discarded first (default 500)\n"
    "      --draws N             posterior draws written (default 1000)\n"
    "  -s, --seed S              seed (default 1)\n"
    "  -t, --threads N           threads (default: all; the draws do not depend on it)\n"
    "      --summary-csv FILE    parameter,mean,sd,q05,q50,q95,rhat,ess\n"
    "      --report FILE         HDF5: the draws, the observed and fitted series with 90%\n"
    "                            bands, the diagnostics\n"
    "  -q, --quiet               no progress\n"
    "  -h, --help                this help\n";

static int count_opt(const char *name, const char *arg, uint64_t lo, uint64_t hi, size_t *out) {
  uint64_t v;
  if (!cli_parse_u64(arg, lo, hi, &v))
    return cli_usage_error("fit", "--%s: expected a whole number from %llu to %llu, found '%s'",
                           name, (unsigned long long)lo, (unsigned long long)hi, arg);
  *out = (size_t)v;
  return 0;
}

int cmd_fit(int argc, char **argv) {
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"observed", required_argument, NULL, 'O'},
                                       {"param", required_argument, NULL, 'p'},
                                       {"noise", required_argument, NULL, 'n'},
                                       {"from", required_argument, NULL, 'f'},
                                       {"initial", required_argument, NULL, 'i'},
                                       {"walkers", required_argument, NULL, 'w'},
                                       {"iterations", required_argument, NULL, 'I'},
                                       {"burn-in", required_argument, NULL, 'b'},
                                       {"draws", required_argument, NULL, 'd'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"threads", required_argument, NULL, 't'},
                                       {"summary-csv", required_argument, NULL, 'S'},
                                       {"report", required_argument, NULL, 'r'},
                                       {"quiet", no_argument, NULL, 'q'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  fl_fit_options opt;
  const char **params = NULL;
  size_t n_params = 0, n = 0;
  uint64_t v;
  int c, rc, quiet = 0;
  fl_error err = {0};
  fl_fit_options_init(&opt);
  if (cli_wants_help(argc, argv)) {
    fputs(help_fit, stdout);
    return 0;
  }
  if (!(params = calloc((size_t)argc, sizeof *params))) return cli_usage_error("fit", "%s", "out of memory");
  char *cmdline = cli_join_args(argc, argv); /* before getopt_long permutes argv */
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:s:t:q", opts, NULL)) != -1) {
    rc = 0;
    switch (c) {
    case 'o': opt.output = optarg; break;
    case 'O': opt.observed = optarg; break;
    case 'p': params[n_params++] = optarg; break;
    case 'n': opt.noise = optarg; break;
    case 'f': opt.from = optarg; break;
    case 'i':
      if (strcmp(optarg, "as-written") && strcmp(optarg, "rescaled"))
        rc = cli_usage_error("fit", "--initial: expected as-written or rescaled, found '%s'", optarg);
      opt.initial_as_written = !strcmp(optarg, "as-written");
      break;
    case 'w': rc = count_opt("walkers", optarg, 4, 100000, &opt.walkers); break;
    case 'I': rc = count_opt("iterations", optarg, 10, 10000000, &opt.iterations); break;
    case 'b': rc = count_opt("burn-in", optarg, 1, 10000000, &opt.burn_in); break;
    case 'd': rc = count_opt("draws", optarg, 1, 10000000, &opt.draws); break;
    case 's':
      if (!cli_parse_u64(optarg, 0, UINT64_MAX, &v))
        rc = cli_usage_error("fit", "--seed: expected a whole number, found '%s'", optarg);
      opt.seed = v;
      break;
    case 't':
      rc = count_opt("threads", optarg, 1, 4096, &n);
      opt.threads = (int)n;
      break;
    case 'S': opt.summary_csv = optarg; break;
    case 'r': opt.report_h5 = optarg; break;
    case 'q': quiet = 1; break;
    default: rc = cli_usage_error("fit", "%s", "invalid option");
    }
    if (rc) {
      free(cmdline);
      free(params);
      return rc;
    }
  }
  if (optind != argc - 1) rc = cli_usage_error("fit", "%s", "expected one SCENARIO argument");
  else if (!opt.output || !opt.observed)
    rc = cli_usage_error("fit", "%s", "give -o FITTED.yaml and --observed OBS.csv");
  else if (!n_params)
    rc = cli_usage_error("fit", "%s", "give at least one --param PATH=LO:HI or PATH~PRIOR");
  if (rc) {
    free(cmdline);
    free(params);
    return rc;
  }
  opt.scenario = argv[optind];
  opt.params = params;
  opt.n_params = n_params;
  const fl_path_role paths[] = {{opt.scenario, "SCENARIO", FL_PATH_INPUT},
                                {opt.observed, "--observed", FL_PATH_INPUT},
                                {opt.output, "-o", FL_PATH_OUTPUT},
                                {opt.summary_csv, "--summary-csv", FL_PATH_OUTPUT},
                                {opt.report_h5, "--report", FL_PATH_OUTPUT}};
  size_t np = 3;
  fl_path_role use[5] = {paths[0], paths[1], paths[2]};
  if (opt.summary_csv) use[np++] = paths[3];
  if (opt.report_h5) use[np++] = paths[4];
  if ((rc = cli_check_paths(use, np)) != 0) {
    free(cmdline);
    free(params);
    return rc;
  }
  cli_progress prog;
  cli_progress_init(&prog, "fit", "iterations", quiet);
  opt.command_line = cmdline;
  opt.git_commit = FL_GIT_COMMIT;
  opt.write = cli_write_stdout;
  opt.notice = cli_notice;
  opt.progress = cli_show_progress;
  opt.ctx = &prog;
  opt.notice_ctx = (void *)"fit";
  fl_status st = fl_fit(&opt, &err);
  cli_progress_end(&prog);
  free(cmdline);
  free(params);
  if (st != FL_OK) return cli_report(&err);
  cli_wrote(&prog, opt.output);
  return 0;
}
