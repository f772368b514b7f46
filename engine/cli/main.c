/* The flourish command-line tool. The only place where errors become messages and exit codes:
 * 0 success, 1 runtime failure, 2 bad input or usage. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifdef FLOURISH_MPI
#include <mpi.h>
#endif

static const char *help_main =
    "Usage: flourish COMMAND [options]\n"
    "\n"
    "Monte Carlo microsimulation of children moving between levels of need (GIRFEC levels)\n"
    "or any discrete-time state-transition model described in a YAML scenario.\n"
    "\n"
    "Commands:\n"
    "  run SCENARIO -o OUT.h5      simulate every child, R replications, write HDF5\n"
    "  expect SCENARIO -o OUT.h5   exact expected values by matrix algebra, write HDF5\n"
    "  validate SCENARIO           check a scenario and describe it in plain words\n"
    "  summary OUT.h5 [--csv]      per-year table of a run, or a sweep's points and sensitivities\n"
    "  sweep SCENARIO -o SWEEP.h5 --param PATH=LO:HI[:N] ...\n"
    "                              the scenario over a grid or sample of parameter values\n"
    "  report OUT.h5 -o REPORT.html\n"
    "                              one self-contained HTML report with figures and tables\n"
    "  synth SCENARIO -o EPISODES.csv --population POP.csv\n"
    "                              synthetic episode records and population from a scenario\n"
    "  calibrate EPISODES.csv --population POP.csv --template SCENARIO -o OUT.yaml\n"
    "                              a scenario calibrated from episode records\n"
    "\n"
    "Options: --help (also after a command), --version.\n"
    "Exit status: 0 success, 1 runtime failure, 2 bad input or usage.\n";

static const char *help_run =
    "Usage: flourish run SCENARIO -o OUT.h5 [options]\n"
    "\n"
    "Simulates every child of the scenario's population step by step, R times, and writes\n"
    "stocks, flows, entries, exits, costs, QoL, spell and journey tallies per replication,\n"
    "with summaries (mean, sd, Monte Carlo standard error, quantiles), to OUT.h5.\n"
    "The file is written atomically: OUT.h5 appears only when complete.\n"
    "Under mpirun or srun the replications are shared between the ranks (same result).\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         output HDF5 file (required)\n"
    "  -r, --replications N      number of replications (default 100)\n"
    "  -s, --seed S              master seed, 0 to 2^64-1 (default 1)\n"
    "  -t, --threads T           OpenMP threads (default: OMP_NUM_THREADS or all cores),\n"
    "                            shared between replications; with fewer replications\n"
    "                            than threads, their children are also split between\n"
    "                            threads (5,000 or more a thread); results are identical\n"
    "                            for any T\n"
    "      --no-flows            do not store the [R, T, S, S] flow counts\n"
    "      --checkpoint          keep finished replications in OUT.h5.ckpt while running\n"
    "      --resume              continue an interrupted --checkpoint run: replications in\n"
    "                            OUT.h5.ckpt are loaded, the rest simulated; the result is\n"
    "                            the file an uninterrupted run writes\n"
    "      --psa                 parameter uncertainty: transition rows with counts (from\n"
    "                            flourish calibrate) are drawn from their Dirichlet\n"
    "                            posteriors, afresh for each block of replications\n"
    "      --psa-inner K         replications per parameter draw (default 1); with K >= 2\n"
    "                            the output splits the variance into parameter and chance\n"
    "      --psa-prior A         Dirichlet prior added to every listed count (default 0.5)\n"
    "      --set PATH=VALUE      change one scenario value without editing the file, e.g.\n"
    "                            --set arms.community_city.interventions.community.escalation=0.8\n"
    "                            (PATH as errors print it; repeatable; checked like the file;\n"
    "                            recorded in the output's scenario_overrides attribute)\n"
    "      --pass P              the inner loop: auto (default: AVX-512 where the processor\n"
    "                            has it, else AVX2, else portable), avx512, avx2 or scalar\n"
    "                            (portable); the results are identical, only the speed differs\n"
    "  -q, --quiet               no progress bar\n"
    "  -h, --help                this help\n";

static const char *help_expect =
    "Usage: flourish expect SCENARIO -o OUT.h5 [--set PATH=VALUE ...]\n"
    "\n"
    "Computes the exact expected stocks, flows, entries, exits, costs and QoL of the scenario\n"
    "by propagating probability mass over (locality x age x time-in-state x state) cells, and\n"
    "writes them to OUT.h5 (same layout as run, without the replication dimension).\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   output HDF5 file (required)\n"
    "      --set PATH=VALUE  change one scenario value, as for run (repeatable)\n"
    "  -h, --help          this help\n";

static const char *help_validate =
    "Usage: flourish validate SCENARIO [--set PATH=VALUE ...]\n"
    "       flourish validate --keys [--markdown]\n"
    "       flourish validate --outputs [--markdown]\n"
    "\n"
    "Checks a scenario file (syntax, keys, values, names, row sums) and prints what it means\n"
    "in plain words. Errors are printed as file:line:col: key: message, exit status 2.\n"
    "--set changes one value first, as for run. With --keys, prints the reference of every\n"
    "scenario key instead; with --outputs, that of every dataset an output file holds.\n";

static const char *help_summary =
    "Usage: flourish summary OUT.h5 [--csv]\n"
    "\n"
    "Prints, for each arm and year, the children at each level (mean and 90% interval over\n"
    "replications), the cost of the year and quality-adjusted child-years, and the total cost\n"
    "over the horizon by budget holder. Then each arm against the baseline, by year: the\n"
    "difference in cost by budget holder and net, the cumulative net cost, QALYs and the\n"
    "probability of a net saving so far; the break-even month, the ICER, and the net monetary\n"
    "benefit and probability of being cost-effective at each willingness to pay.\n"
    "With --csv, one row per arm, year and measure.\n"
    "\n"
    "For a sweep's output (flourish sweep): each point's parameter values with each\n"
    "comparison's net cost and QALYs gained (mean and Monte Carlo standard error), then the\n"
    "sensitivity of those results to each parameter with its Monte Carlo error (and, for\n"
    "sampled designs, the error from the finite points). With --csv, one long table\n"
    "(section, point, parameters, arm, result, value, mcse, se_points).\n";

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

static const char *help_report =
    "Usage: flourish report OUT.h5 -o REPORT.html   (OUT.h5 from run, expect or sweep)\n"
    "\n"
    "Writes one self-contained HTML file (figures embedded, no network needed to view it)\n"
    "from a run or expect output: children at each level over time per arm with 50% and 90%\n"
    "bands; flows into and out of each level per year; where the savings land by budget\n"
    "holder; the cumulative net cost and break-even; the cost-QALY plane and the\n"
    "acceptability curve. Each figure has a plain-English caption and the table behind it.\n"
    "For a sweep output: the sensitivity of each result to each parameter (tornado), a\n"
    "two-way table of a grid's first two parameters (heatmap) and every point's net cost.\n"
    "The file is written atomically.\n"
    "\n"
    "Needs Python 3 with numpy, h5py and matplotlib (Debian: python3-h5py\n"
    "python3-matplotlib). FLOURISH_PYTHON names another interpreter; FLOURISH_REPORT_SCRIPT\n"
    "another copy of report.py.\n";

static const char *help_synth =
    "Usage: flourish synth SCENARIO -o EPISODES.csv --population POP.csv [options]\n"
    "\n"
    "Simulates the scenario's baseline once, child by child, and writes what services would\n"
    "have recorded: an episode per spell in a state above the lowest level (child_id, state,\n"
    "start_date, end_date blank while open at the end of the horizon, date_of_birth,\n"
    "locality), and the population by age and locality at the start of each year. The data\n"
    "are synthetic (a known truth for testing calibration); identifiers are made up.\n"
    "The scenario needs monthly steps.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         episodes CSV (required)\n"
    "      --population FILE     population CSV (required)\n"
    "  -s, --seed S              seed (default 1)\n"
    "      --start YYYY-MM       calendar month of the first step (default 2015-04)\n"
    "  -h, --help                this help\n";

static const char *help_calibrate =
    "Usage: flourish calibrate EPISODES.csv --population POP.csv --template SCENARIO\n"
    "                          -o OUT.yaml [options]\n"
    "\n"
    "Turns episode records into a calibrated scenario: each child's state on the first day of\n"
    "every month (overlaps: the highest level wins; gaps: the template's first state of its\n"
    "lowest level), monthly transition counts by age band, maximum-likelihood probabilities\n"
    "(rows with too few observations pooled with all ages), and stocks at the extract date.\n"
    "OUT.yaml is the template with its population and transitions replaced (with the counts\n"
    "behind every row). No child identifier is ever written.\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE         calibrated scenario (required)\n"
    "      --population FILE     children by age and locality on dates (required)\n"
    "      --template SCENARIO   levels, states, costs and arms to keep (required)\n"
    "      --report FILE         calibration report CSV: probabilities with exact 95%\n"
    "                            intervals, monthly stocks, moves per child, skip-level\n"
    "                            escalations, re-entries, time in each level\n"
    "      --report-h5 FILE      the report's counts, stocks and journeys as HDF5 (small\n"
    "                            counts suppressed as NaN with --suppress)\n"
    "      --from YYYY-MM-DD     start of the observation window (default: the first whole\n"
    "                            month after the first record starts)\n"
    "      --to YYYY-MM-DD       extract date (default: the last date in the records)\n"
    "      --age-bands A,B,...   age band edges in years (default: none)\n"
    "      --duration-bands M,N  time-in-state band edges in months (default: none); the\n"
    "                            records before the window show how long spells have run\n"
    "      --min-row N           pool rows with fewer child-months in a band (default 30)\n"
    "      --period-months N     also report every row by calendar periods of N months\n"
    "                            (trends; the scenario uses the whole window)\n"
    "      --precedence level|file  overlapping episodes: the highest level wins (default),\n"
    "                            or the episode later in the file\n"
    "      --suppress N          report counts below N as <N (default 0: none)\n"
    "      --check               back-cast: run the calibrated model over the window from\n"
    "                            the stocks observed at its start (expectation mode) and\n"
    "                            report observed against expected children by state and\n"
    "                            month (needs --report)\n"
    "  -h, --help                this help\n";
/* Output is written with termination signals held back, so an interrupt during the write
 * cannot leave the temporary file behind; the target path only ever holds a complete file. */
static fl_status write_output(const fl_results *res, const fl_model *m, const fl_provenance *pv,
                              const char *out, fl_error *err) {
  sigset_t block, old;
  fl_status st;
  sigemptyset(&block);
  sigaddset(&block, SIGINT);
  sigaddset(&block, SIGTERM);
  sigaddset(&block, SIGHUP);
  sigprocmask(SIG_BLOCK, &block, &old);
  st = fl_results_write(res, m, pv, out, err);
  sigprocmask(SIG_SETMASK, &old, NULL);
  return st;
}

static int run_or_expect(int argc, char **argv, int expect, const char *cmdline) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},   {"replications", required_argument, NULL, 'r'},
      {"seed", required_argument, NULL, 's'},     {"threads", required_argument, NULL, 't'},
      {"no-flows", no_argument, NULL, 'F'},       {"quiet", no_argument, NULL, 'q'},
      {"checkpoint", no_argument, NULL, 'C'},     {"resume", no_argument, NULL, 'R'},
      {"psa", no_argument, NULL, 'P'},            {"psa-inner", required_argument, NULL, 'I'},
      {"psa-prior", required_argument, NULL, 'A'}, {"set", required_argument, NULL, 'S'},
      {"pass", required_argument, NULL, 'V'},     {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  cli_sets set = {.n = 0};
  const char *cmd = expect ? "expect" : "run", *out = NULL;
  fl_run_options opt;
  fl_model *m = NULL;
  fl_results *res = NULL;
  fl_error err = {0};
  cli_progress prog_state = {time(NULL), 0, "replications"};
  int quiet = 0, checkpoint = 0, c, rc;
  char *ckpt_path = NULL;
  uint64_t v;
  fl_run_options_init(&opt);
  if (cli_wants_help(argc, argv)) {
    fputs(expect ? help_expect : help_run, stdout);
    return 0;
  }
  optind = 2;
  while ((c = getopt_long(argc, argv, expect ? "o:" : "o:r:s:t:q", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'S':
      if ((rc = cli_sets_add(cmd, &set, optarg)) != 0) return rc;
      break;
    case 'r':
    case 's':
    case 't':
      if ((rc = cli_replication_option(cmd, c, optarg, !expect, &opt)) != 0) return rc;
      break;
    case 'F':
      if (expect) return cli_usage_error(cmd, "%s", "unknown option --no-flows");
      opt.keep_flows = 0;
      break;
    case 'q': quiet = 1; break;
    case 'P':
    case 'I':
    case 'A':
      if (expect) return cli_usage_error(cmd, "%s", "--psa options belong to run");
      opt.psa = 1;
      if (c == 'I') {
        if (!cli_parse_u64(optarg, 1, 1000000, &v))
          return cli_usage_error(cmd, "--psa-inner: expected a whole number from 1, found '%s'",
                                 optarg);
        opt.psa_inner = (size_t)v;
      } else if (c == 'A') {
        char *end;
        opt.psa_prior = strtod(optarg, &end);
        if (*end || !(opt.psa_prior >= 0) || opt.psa_prior > 1e6)
          return cli_usage_error(cmd, "--psa-prior: expected a number 0 or more, found '%s'",
                                 optarg);
      }
      break;
    case 'V':
      if (expect) return cli_usage_error(cmd, "%s", "--pass is an option of run");
      if ((rc = cli_pass_option(cmd, optarg, &opt.pass)) != 0) return rc;
      break;
    case 'C':
    case 'R':
      if (expect) return cli_usage_error(cmd, "%s", "--checkpoint and --resume are options of run");
      if (c == 'R') opt.resume = 1;
      checkpoint = 1;
      break;
    default: return cli_usage_error(cmd, "%s", "invalid option");
    }
  }
  if (optind != argc - 1)
    return cli_usage_error(cmd, "%s",
                           optind >= argc ? "missing the SCENARIO argument"
                                          : "expected exactly one SCENARIO argument");
  if (!out) return cli_usage_error(cmd, "%s", "missing -o OUT.h5");
  if ((rc = cli_check_output(cmd, out)) != 0) return rc;
  if (cli_load_model(argv[optind], &set, &m, &err) != FL_OK) return cli_report(&err);
  if (checkpoint) {
    /* Finished replications are kept beside the output until the output is written. */
    if (!(ckpt_path = cli_checkpoint_path(out))) {
      fl_model_free(m);
      return 1;
    }
    opt.checkpoint = ckpt_path;
  }
  if (!quiet && cli_mpi_rank == 0 && isatty(STDERR_FILENO)) {
    opt.progress = cli_show_progress;
    opt.progress_ctx = &prog_state;
  }
  fl_status st = expect ? fl_expect(m, &res, &err) : fl_run(m, &opt, &res, &err);
  if (st == FL_OK && cli_mpi_rank == 0) {
    fl_provenance pv = {cmdline, FL_GIT_COMMIT};
    st = write_output(res, m, &pv, out, &err);
    if (st == FL_OK && ckpt_path) unlink(ckpt_path); /* the output now holds everything */
  }
  free(ckpt_path);
  fl_results_free(res);
  fl_model_free(m);
  if (st != FL_OK) return cli_report(&err);
  return 0;
}

static int cmd_run(int argc, char **argv, int expect) {
  char *cmdline = cli_join_args(argc, argv); /* before getopt_long permutes argv */
  int rc = run_or_expect(argc, argv, expect, cmdline ? cmdline : "");
  free(cmdline);
  return rc;
}

static int cmd_synth(int argc, char **argv) {
  static const struct option opts[] = {{"output", required_argument, NULL, 'o'},
                                       {"population", required_argument, NULL, 'p'},
                                       {"seed", required_argument, NULL, 's'},
                                       {"start", required_argument, NULL, 'S'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
  const char *out = NULL, *pop = NULL;
  uint64_t seed = 1, v;
  int year = 2015, month = 4, c, rc;
  fl_model *m = NULL;
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_synth, stdout);
    return 0;
  }
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:s:", opts, NULL)) != -1) {
    switch (c) {
    case 'o': out = optarg; break;
    case 'p': pop = optarg; break;
    case 's':
      if (!cli_parse_u64(optarg, 0, UINT64_MAX, &v))
        return cli_usage_error("synth", "--seed: expected a whole number, found '%s'", optarg);
      seed = v;
      break;
    case 'S':
      if (sscanf(optarg, "%4d-%2d", &year, &month) != 2 || year < 1900 || year > 2200 ||
          month < 1 || month > 12)
        return cli_usage_error("synth", "--start: expected YYYY-MM, found '%s'", optarg);
      break;
    default: return cli_usage_error("synth", "%s", "invalid option");
    }
  }
  if (optind != argc - 1) return cli_usage_error("synth", "%s", "expected one SCENARIO argument");
  if (!out || !pop)
    return cli_usage_error("synth", "%s", "give -o EPISODES.csv and --population POP.csv");
  if ((rc = cli_check_output("synth", out)) || (rc = cli_check_output("synth", pop))) return rc;
  if (cli_load_model(argv[optind], NULL, &m, &err) != FL_OK) return cli_report(&err);
  fl_status st = fl_synth(m, seed, year, month, out, pop, &err);
  fl_model_free(m);
  return st == FL_OK ? 0 : cli_report(&err);
}

/* Parses "5,12,16" into ascending band edges. */
static int parse_bands(const char *s, double *edges, size_t *n) {
  char *end;
  *n = 0;
  while (*s) {
    double v = strtod(s, &end);
    if (end == s || !(v > 0) || v > 200 || (*n && v <= edges[*n - 1]) || *n == 64) return 0;
    edges[(*n)++] = v;
    s = *end == ',' ? end + 1 : end;
    if (*end && *end != ',') return 0;
  }
  return *n > 0;
}

static int cmd_calibrate(int argc, char **argv) {
  static const struct option opts[] = {
      {"output", required_argument, NULL, 'o'},    {"population", required_argument, NULL, 'p'},
      {"template", required_argument, NULL, 't'},  {"report", required_argument, NULL, 'r'},
      {"from", required_argument, NULL, 'f'},      {"to", required_argument, NULL, 'T'},
      {"age-bands", required_argument, NULL, 'a'}, {"min-row", required_argument, NULL, 'm'},
      {"suppress", required_argument, NULL, 'S'},  {"help", no_argument, NULL, 'h'},
      {"check", no_argument, NULL, 'c'},          {"duration-bands", required_argument, NULL, 'd'},
      {"precedence", required_argument, NULL, 'e'},  {"report-h5", required_argument, NULL, 'H'},
      {"period-months", required_argument, NULL, 'P'},
      {NULL, 0, NULL, 0}};
  fl_calibrate_options opt = {.min_row = 30};
  const char *tmpl = NULL;
  double bands[64], dbands[64];
  uint64_t v;
  int c, rc;
  fl_scenario *sc = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_calibrate, stdout);
    return 0;
  }
  optind = 2;
  while ((c = getopt_long(argc, argv, "o:", opts, NULL)) != -1) {
    switch (c) {
    case 'o': opt.output = optarg; break;
    case 'p': opt.population = optarg; break;
    case 't': tmpl = optarg; break;
    case 'r': opt.report = optarg; break;
    case 'H': opt.report_h5 = optarg; break;
    case 'P':
      if (!cli_parse_u64(optarg, 1, 1200, &v))
        return cli_usage_error("calibrate", "--period-months: expected a whole number of "
                                            "months from 1, found '%s'", optarg);
      opt.period_months = (long)v;
      break;
    case 'c': opt.check = 1; break;
    case 'e':
      if (strcmp(optarg, "level") && strcmp(optarg, "file"))
        return cli_usage_error("calibrate", "--precedence: expected level or file, found '%s'",
                               optarg);
      opt.precedence_file = !strcmp(optarg, "file");
      break;
    case 'd':
      if (!parse_bands(optarg, dbands, &opt.n_dur_bands) || dbands[opt.n_dur_bands - 1] > 600)
        return cli_usage_error("calibrate", "--duration-bands: expected ascending months in a "
                                            "state such as 6,12,24 (up to 600), found '%s'",
                               optarg);
      for (size_t i = 0; i < opt.n_dur_bands; i++)
        if (dbands[i] != floor(dbands[i]))
          return cli_usage_error("calibrate", "--duration-bands: whole months, found '%s'", optarg);
      opt.dur_bands = dbands;
      break;
    case 'f': opt.from = optarg; break;
    case 'T': opt.to = optarg; break;
    case 'a':
      if (!parse_bands(optarg, bands, &opt.n_age_bands))
        return cli_usage_error("calibrate", "--age-bands: expected ascending ages in years "
                                            "such as 5,12,16, found '%s'", optarg);
      opt.age_bands = bands;
      break;
    case 'm':
    case 'S':
      if (!cli_parse_u64(optarg, 0, 1000000000, &v))
        return cli_usage_error("calibrate", "%s: expected a whole number, found '%s'",
                               c == 'm' ? "--min-row" : "--suppress", optarg);
      if (c == 'm') opt.min_row = (double)v;
      else opt.suppress = (double)v;
      break;
    default: return cli_usage_error("calibrate", "%s", "invalid option");
    }
  }
  if (optind != argc - 1)
    return cli_usage_error("calibrate", "%s", "expected one EPISODES.csv argument");
  if (!opt.output || !opt.population || !tmpl)
    return cli_usage_error("calibrate", "%s",
                           "give -o OUT.yaml, --population POP.csv and --template SCENARIO");
  if (opt.check && !opt.report)
    return cli_usage_error("calibrate", "%s", "--check writes its comparison into --report FILE");
  opt.episodes = argv[optind];
  if ((rc = cli_check_output("calibrate", opt.output)) ||
      (opt.report && (rc = cli_check_output("calibrate", opt.report))) ||
      (opt.report_h5 && (rc = cli_check_output("calibrate", opt.report_h5))))
    return rc;
  fl_status st = fl_scenario_load(tmpl, &sc, &err);
  if (st == FL_OK) st = fl_model_compile(sc, &m, &err);
  if (st == FL_OK) st = fl_calibrate(sc, m, &opt, &err);
  fl_model_free(m);
  fl_scenario_free(sc);
  return st == FL_OK ? 0 : cli_report(&err);
}

static int cmd_validate(int argc, char **argv) {
  int keys = 0, outputs = 0, markdown = 0;
  const char *path = NULL;
  fl_model *m = NULL;
  fl_error err = {0};
  cli_sets set = {.n = 0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_validate, stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--keys")) keys = 1;
    else if (!strcmp(argv[i], "--outputs")) outputs = 1;
    else if (!strcmp(argv[i], "--markdown")) markdown = 1;
    else if (!strcmp(argv[i], "--set") || !strncmp(argv[i], "--set=", 6)) {
      const char *a = argv[i][5] == '=' ? argv[i] + 6 : i + 1 < argc ? argv[++i] : NULL;
      int rc;
      if (!a) return cli_usage_error("validate", "%s", "--set needs PATH=VALUE");
      if ((rc = cli_sets_add("validate", &set, a)) != 0) return rc;
    } else if (argv[i][0] == '-' && argv[i][1])
      return cli_usage_error("validate", "unknown option %s", argv[i]);
    else if (path) return cli_usage_error("validate", "%s", "expected one SCENARIO argument");
    else path = argv[i];
  }
  if (outputs) {
    fl_outputs_print(markdown, cli_write_stdout, NULL);
    return 0;
  }
  if (keys) {
    fl_schema_print(markdown, cli_write_stdout, NULL);
    return 0;
  }
  if (!path) return cli_usage_error("validate", "%s", "missing the SCENARIO argument");
  if (cli_load_model(path, &set, &m, &err) != FL_OK) return cli_report(&err);
  fl_model_describe(m, cli_write_stdout, NULL);
  printf("%s: valid\n", path);
  fl_model_free(m);
  return 0;
}

static int cmd_summary(int argc, char **argv) {
  int csv = 0;
  const char *path = NULL;
  fl_error err = {0};
  if (cli_wants_help(argc, argv)) {
    fputs(help_summary, stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--csv")) csv = 1;
    else if (argv[i][0] == '-' && argv[i][1])
      return cli_usage_error("summary", "unknown option %s", argv[i]);
    else if (path) return cli_usage_error("summary", "%s", "expected one OUT.h5 argument");
    else path = argv[i];
  }
  if (!path) return cli_usage_error("summary", "%s", "missing the OUT.h5 argument");
  if (fl_summary_print(path, csv, cli_write_stdout, NULL, &err) != FL_OK) return cli_report(&err);
  return 0;
}

static int cmd_sweep(int argc, char **argv, const char *cmdline) {
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

/* The report is drawn by scripts/report.py (matplotlib has no C counterpart worth the
 * dependency): this command finds the interpreter and the script and hands over. The
 * installed copy (PREFIX/share/flourish/report.py) wins over the source tree's. */
static int cmd_report(int argc, char **argv) {
  const char *in = NULL, *out = NULL;
  if (cli_wants_help(argc, argv)) {
    fputs(help_report, stdout);
    return 0;
  }
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) {
      if (++i == argc) return cli_usage_error("report", "%s", "-o needs a file name");
      out = argv[i];
    } else if (!strncmp(argv[i], "--output=", 9)) {
      out = argv[i] + 9;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      return cli_usage_error("report", "unknown option %s", argv[i]);
    } else if (in) {
      return cli_usage_error("report", "%s", "expected one OUT.h5 argument");
    } else {
      in = argv[i];
    }
  }
  if (!in) return cli_usage_error("report", "%s", "missing the OUT.h5 argument");
  if (!out) return cli_usage_error("report", "%s", "missing -o REPORT.html");
  int rc = cli_check_output("report", out);
  if (rc) return rc;

  const char *python = getenv("FLOURISH_PYTHON");
  if (!python || !*python) python = FL_PYTHON;
  const char *script = getenv("FLOURISH_REPORT_SCRIPT");
  char installed[4096];
  if (!script || !*script) {
    script = FL_REPORT_SCRIPT;
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
      exe[n] = '\0';
      int w = snprintf(installed, sizeof installed, "%s/../share/flourish/report.py", dirname(exe));
      if (w > 0 && (size_t)w < sizeof installed && access(installed, R_OK) == 0) script = installed;
    }
  }
  if (access(script, R_OK) != 0) {
    fprintf(stderr, "%s report: cannot read the report script %s: %s\n", cli_prog, script,
            strerror(errno));
    return 1;
  }
  /* --output=FILE and -- keep names that begin with '-' from reading as options. */
  char *output_arg = malloc(strlen(out) + 10);
  if (!output_arg) return 1;
  sprintf(output_arg, "--output=%s", out);
  char *args[] = {(char *)python, (char *)script, output_arg, (char *)"--", (char *)in, NULL};
  fflush(NULL);
  execvp(python, args);
  free(output_arg);
  fprintf(stderr, "%s report: cannot start %s: %s; install Debian's python3-h5py and "
          "python3-matplotlib or set FLOURISH_PYTHON\n", cli_prog, python, strerror(errno));
  return 1;
}

static int dispatch(int argc, char **argv);

/* Under an MPI launcher (mpirun, srun) the run is shared between ranks; started alone, the
 * program does not initialise MPI at all. */
int main(int argc, char **argv) {
#ifdef FLOURISH_MPI
  const int launched = getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMI_SIZE") ||
                       getenv("PMIX_RANK") || getenv("MPI_LOCALNRANKS");
  if (launched) {
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &cli_mpi_rank);
  }
  int rc = dispatch(argc, argv);
  if (launched) MPI_Finalize();
  return rc;
#else
  return dispatch(argc, argv);
#endif
}

static int dispatch(int argc, char **argv) {
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd) {
    fputs(help_main, stderr);
    return 2;
  }
  if (!strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help")) {
    fputs(help_main, stdout);
    return 0;
  }
  if (!strcmp(cmd, "--version") || !strcmp(cmd, "version")) {
    printf("flourish %s (git %s)\n", FL_VERSION_STRING, FL_GIT_COMMIT);
    return 0;
  }
  if (!strcmp(cmd, "run")) return cmd_run(argc, argv, 0);
  if (!strcmp(cmd, "expect")) return cmd_run(argc, argv, 1);
  if (!strcmp(cmd, "validate")) return cmd_validate(argc, argv);
  if (!strcmp(cmd, "summary")) return cmd_summary(argc, argv);
  if (!strcmp(cmd, "report")) return cmd_report(argc, argv);
  if (!strcmp(cmd, "sweep")) {
    char *cmdline = cli_join_args(argc, argv); /* before getopt_long permutes argv */
    int rc = cmd_sweep(argc, argv, cmdline ? cmdline : "");
    free(cmdline);
    return rc;
  }
  if (!strcmp(cmd, "synth")) return cmd_synth(argc, argv);
  if (!strcmp(cmd, "calibrate")) return cmd_calibrate(argc, argv);
  fprintf(stderr, "%s: unknown command '%s'\n\n%s", cli_prog, cmd, help_main);
  return 2;
}
